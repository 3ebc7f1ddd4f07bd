//! Storing a batch of validated events: idempotent per `messageId`, one
//! transaction per batch, catalog rows created on first sight.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use hourglass_core::event::ContactTraits;
use hourglass_core::identity::Identification;
use hourglass_core::{ExternalId, NewEvent};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    QueryFilter, QuerySelect, QueryTrait, Set,
};
use serde_json::Value;

use crate::LOOKUP_CHUNK;
use crate::catalog::ExternalIdColumns;
use crate::entities::{asset, campaign, contact, event, organization};
use crate::error::Result;
use crate::identity::Links;
use crate::rollups::{AggregatedEvent, Delta, FactDelta, MonthBook, PersonNumbers};
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// How many rows one INSERT carries: well under both backends' bind-parameter caps.
const INSERT_CHUNK: usize = 500;

/// What happened to a batch of valid events and identifications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Newly stored events.
    pub accepted: u64,
    /// Events whose `messageId` was already stored, or repeated in the batch.
    pub duplicates: u64,
    /// Identifications applied.
    pub identified: u64,
    /// Anonymous ids the batch linked to a contact for the first time.
    pub linked: u64,
    /// Events stored earlier that those links gave to their contacts.
    pub stitched: u64,
}

impl IngestOutcome {
    /// Whether the batch changed anything (else it is rolled back).
    fn changed_anything(&self) -> bool {
        self.accepted > 0 || self.identified > 0 || self.linked > 0
    }
}

impl WorkspaceStore {
    /// Stores `events` in one transaction and returns once it has committed.
    pub async fn ingest(
        &self,
        events: Vec<NewEvent>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome> {
        self.ingest_batch(events, Vec::new(), received_at).await
    }

    /// Applies `identifications` (see `identity`) and stores `events`, in one
    /// transaction, and returns once it has committed.
    pub async fn ingest_batch(
        &self,
        events: Vec<NewEvent>,
        identifications: Vec<Identification>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome> {
        let write = self.begin_write().await?;
        let outcome = self
            .ingest_in(&write, events, &identifications, received_at)
            .await?;
        // A batch of nothing but duplicates changed nothing: rolling back keeps the
        // data version, so retries do not retire cached KPI answers.
        if outcome.changed_anything() {
            write.commit().await?;
        } else {
            write.rollback().await?;
        }
        Ok(outcome)
    }

    async fn ingest_in(
        &self,
        txn: &DatabaseTransaction,
        events: Vec<NewEvent>,
        identifications: &[Identification],
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome> {
        let total = events.len() as u64;
        let mut laps = Laps::start();
        // `txn` is a workspace write: no other batch writes this workspace until it
        // ends, so what we find stored stays true and the rollups' read-modify-write
        // is safe.

        // The first occurrence of a message id in the batch wins. Ids already stored
        // are found by the insert itself (it skips them and returns the rest), so
        // the aggregates add exactly what was stored, with no estimate of a separate
        // look-up to go wrong as the table grows.
        let mut seen = HashSet::new();
        let fresh: Vec<NewEvent> = events
            .into_iter()
            .filter(|e| seen.insert(e.message_id.clone()))
            .collect();
        laps.mark("dedup");
        if fresh.is_empty() && identifications.is_empty() {
            return Ok(IngestOutcome {
                duplicates: total,
                ..IngestOutcome::default()
            });
        }

        let ids = CatalogIds::resolve(self, txn, &fresh, identifications).await?;
        laps.mark("catalog");
        let received_ms = to_millis(received_at);
        let links = Links::settle(
            txn,
            self.id(),
            &fresh,
            identifications,
            |c| ids.contacts.get(c).copied(),
            received_ms,
        )
        .await?;
        let stitched = links.stitch(txn, self.id()).await?;
        laps.mark("identities");
        // An event's contact: the one it names, else the one its anonymous id is.
        let contact_of = |e: &NewEvent| match &e.contact_id {
            Some(c) => ids.contacts.get(c).copied(),
            None => links.contact_of(e.anonymous_id.as_ref()?.as_str()),
        };
        let mut numbers = {
            let contacts: BTreeSet<i64> = fresh
                .iter()
                .filter_map(|e| contact_of(e).map(|(id, _)| id))
                .collect();
            let anonymous: BTreeSet<&str> = fresh
                .iter()
                .filter(|e| contact_of(e).is_none())
                .filter_map(|e| e.anonymous_id.as_ref().map(ExternalId::as_str))
                .collect();
            PersonNumbers::load(txn, self.id(), &contacts, &anonymous).await?
        };
        laps.mark("people");
        // What each event adds to the aggregates, in batch order, kept until the
        // insert says which events were new.
        let mut described: Vec<Described> = Vec::with_capacity(fresh.len());
        let mut rows: Vec<event::ActiveModel> = Vec::with_capacity(fresh.len());
        for e in fresh {
            let contact = contact_of(&e);
            let contact_id = contact.map(|(id, _)| id);
            let organization_id = e
                .organization_id
                .as_ref()
                .and_then(|o| ids.organizations.get(o).copied())
                .or_else(|| contact.and_then(|(_, org)| org));
            let occurred_at = to_millis(e.occurred_at);
            let stage = e.stage_to().map(|stage| stage.as_str().to_owned());
            let person =
                numbers.person(contact_id, e.anonymous_id.as_ref().map(ExternalId::as_str))?;
            let campaign_id = e.campaign_id.and_then(|c| ids.campaigns.get(&c).copied());
            let asset_id = e.asset_id.and_then(|a| ids.assets.get(&a).copied());
            described.push(Described {
                message_id: e.message_id.to_string(),
                kind: e.kind,
                occurred_at,
                campaign: campaign_id,
                channel: e.channel.clone(),
                asset: asset_id,
                value: e.value,
                person,
                organization: organization_id,
                contact: contact_id,
                recipient: e
                    .properties
                    .get("recipient")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                stage,
                traits: e.contact_traits.clone(),
            });
            rows.push(event::ActiveModel {
                workspace_id: Set(self.id()),
                message_id: Set(e.message_id.to_string()),
                kind: Set(e.kind.as_str().to_owned()),
                occurred_at: Set(occurred_at),
                received_at: Set(received_ms),
                contact_id: Set(contact_id),
                anonymous_id: Set(e.anonymous_id.map(String::from)),
                organization_id: Set(organization_id),
                campaign_id: Set(campaign_id),
                asset_id: Set(asset_id),
                channel: Set(e.channel),
                value: Set(e.value),
                properties: Set(Value::Object(e.properties)),
                person: Set(person.map(|p| i32::try_from(p).unwrap_or(i32::MAX))),
                ..Default::default()
            });
        }
        laps.mark("build");
        numbers.store_new(txn, self.id()).await?;
        laps.mark("people");

        let backend = txn.get_database_backend();
        let mut stored: HashSet<String> = HashSet::with_capacity(rows.len());
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
            let mut insert = event::Entity::insert_many(chunk)
                .on_conflict_do_nothing_on([event::Column::WorkspaceId, event::Column::MessageId])
                .into_query();
            insert.returning_col(event::Column::MessageId);
            for row in txn.query_all_raw(backend.build(&insert)).await? {
                stored.insert(row.try_get("", "message_id")?);
            }
        }
        let accepted = stored.len() as u64;
        laps.mark("events");

        let mut stages = StageChanges::default();
        let mut traits = TraitsGiven::default();
        for identification in identifications {
            if let (Some((contact_id, _)), Some(newer)) = (
                ids.contacts.get(&identification.contact_id),
                &identification.traits,
            ) {
                traits.give(*contact_id, newer);
            }
        }
        let mut delta = Delta::default();
        let mut facts = FactDelta::default();
        // In batch order, so that of two stage changes at one instant the later one
        // in the batch wins, whatever order the insert returned them in.
        for d in described.iter().filter(|d| stored.contains(&d.message_id)) {
            if let (Some(contact_id), Some(stage)) = (d.contact, &d.stage) {
                stages.record(contact_id, stage, d.occurred_at);
            }
            if let (Some(contact_id), Some(newer)) = (d.contact, &d.traits) {
                traits.give(contact_id, newer);
            }
            let aggregated = d.aggregated();
            delta.add(&aggregated);
            facts.add(&aggregated);
        }
        let rollup_rows = delta.len();
        let mut months = MonthBook::load(txn, self.id()).await?;
        let touched = delta.months();
        delta.add_to_sealed_months(&months.sealed());
        delta.apply(txn, self.id()).await?;
        months.record_and_seal(txn, self.id(), &touched).await?;
        laps.mark("rollups");
        let fact_rows = facts.len();
        facts.apply(txn, self.id()).await?;
        laps.mark("facts");
        stages.apply(txn).await?;
        laps.mark("stages");
        describe_contacts(txn, self.id(), &traits.0).await?;
        laps.mark("traits");
        crate::meters::kept_aggregates(laps.spent_on(&["rollups", "facts"]));
        tracing::debug!(
            events = total,
            accepted,
            rollup_rows,
            fact_rows,
            time = %laps,
            "ingest batch"
        );

        Ok(IngestOutcome {
            accepted,
            duplicates: total - accepted,
            identified: identifications.len() as u64,
            linked: links.made() as u64,
            stitched,
        })
    }
}

/// The traits a batch gives each contact, in batch order: a later value of a trait
/// replaces an earlier one, a trait left out keeps the earlier value.
#[derive(Debug, Default)]
struct TraitsGiven(BTreeMap<i64, ContactTraits>);

impl TraitsGiven {
    fn give(&mut self, contact: i64, newer: &ContactTraits) {
        let known = self.0.remove(&contact).unwrap_or_default();
        self.0.insert(contact, known.updated_by(newer));
    }
}

/// Writes the contact traits the batch's stored events carried: of each contact, the
/// last given value of each trait in batch order (the latest ingested wins); a trait
/// no event gave stays as it was. One UPDATE per trait per chunk of contacts.
async fn describe_contacts(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    traits: &BTreeMap<i64, ContactTraits>,
) -> Result<()> {
    type Trait = fn(&ContactTraits) -> Option<&String>;
    let columns: [(contact::Column, Trait); 3] = [
        (contact::Column::Email, |t| t.email.as_ref()),
        (contact::Column::Name, |t| t.name.as_ref()),
        (contact::Column::Title, |t| t.title.as_ref()),
    ];
    for (column, value) in columns {
        let given: Vec<(i64, String)> = traits
            .iter()
            .filter_map(|(contact, t)| Some((*contact, value(t)?.clone())))
            .collect();
        for chunk in given.chunks(LOOKUP_CHUNK) {
            contact::Entity::update_many()
                .col_expr(
                    column,
                    by_contact(chunk.iter().map(|(c, v)| (*c, Expr::val(v.clone())))),
                )
                .filter(contact::Column::WorkspaceId.eq(workspace_id))
                .filter(contact::Column::Id.is_in(chunk.iter().map(|(c, _)| *c)))
                .exec(txn)
                .await?;
        }
    }
    Ok(())
}

/// One event of a batch as the aggregates need it, in row ids.
struct Described {
    /// Traits of its contact the event carried.
    traits: Option<ContactTraits>,
    message_id: String,
    kind: hourglass_core::EventKind,
    occurred_at: i64,
    campaign: Option<i64>,
    channel: Option<String>,
    asset: Option<i64>,
    value: Option<f64>,
    person: Option<u32>,
    organization: Option<i64>,
    contact: Option<i64>,
    recipient: Option<String>,
    /// The stage a `STAGE_CHANGE` moves its contact to.
    stage: Option<String>,
}

impl Described {
    fn aggregated(&self) -> AggregatedEvent<'_> {
        AggregatedEvent {
            kind: self.kind,
            occurred_at: self.occurred_at,
            campaign: self.campaign,
            channel: self.channel.as_deref(),
            asset: self.asset,
            value: self.value,
            person: self.person,
            organization: self.organization,
            contact: self.contact,
            recipient: self.recipient.as_deref(),
        }
    }
}

/// Internal ids of every catalog row a batch names, created where missing.
struct CatalogIds {
    organizations: HashMap<ExternalId, i64>,
    /// Contact id and the contact's organization.
    contacts: HashMap<ExternalId, (i64, Option<i64>)>,
    campaigns: HashMap<ExternalId, i64>,
    assets: HashMap<ExternalId, i64>,
}

impl CatalogIds {
    async fn resolve(
        ws: &WorkspaceStore,
        txn: &DatabaseTransaction,
        events: &[NewEvent],
        identifications: &[Identification],
    ) -> Result<Self> {
        let now = to_millis(Utc::now());
        let workspace_id = ws.id();
        let named = |pick: fn(&NewEvent) -> Option<&ExternalId>| -> BTreeSet<ExternalId> {
            events.iter().filter_map(pick).cloned().collect()
        };
        let mut named_organizations = named(|e| e.organization_id.as_ref());
        named_organizations.extend(
            identifications
                .iter()
                .filter_map(|i| i.organization_id.clone()),
        );
        let mut named_contacts = named(|e| e.contact_id.as_ref());
        named_contacts.extend(identifications.iter().map(|i| i.contact_id.clone()));

        let organizations = ensure_rows::<organization::Entity>(
            txn,
            workspace_id,
            &named_organizations,
            |external_id| organization::ActiveModel {
                workspace_id: Set(workspace_id),
                external_id: Set(external_id.to_owned()),
                created_at: Set(now),
                ..Default::default()
            },
        )
        .await?;

        let campaigns = ensure_rows::<campaign::Entity>(
            txn,
            workspace_id,
            &named(|e| e.campaign_id.as_ref()),
            // A campaign first seen in an event is named after its id and serves
            // the default goal until someone describes it.
            |external_id| campaign::ActiveModel {
                workspace_id: Set(workspace_id),
                external_id: Set(external_id.to_owned()),
                name: Set(external_id.to_owned()),
                goal: Set(hourglass_core::Goal::Find.as_str().to_owned()),
                created_at: Set(now),
                ..Default::default()
            },
        )
        .await?;

        let assets = ensure_rows::<asset::Entity>(
            txn,
            workspace_id,
            &named(|e| e.asset_id.as_ref()),
            |external_id| asset::ActiveModel {
                workspace_id: Set(workspace_id),
                external_id: Set(external_id.to_owned()),
                created_at: Set(now),
                ..Default::default()
            },
        )
        .await?;

        let contact_ids =
            ensure_rows::<contact::Entity>(txn, workspace_id, &named_contacts, |external_id| {
                contact::ActiveModel {
                    workspace_id: Set(workspace_id),
                    external_id: Set(external_id.to_owned()),
                    stage: Set(hourglass_core::Stage::DEFAULTS[0].to_owned()),
                    created_at: Set(now),
                    ..Default::default()
                }
            })
            .await?;

        // A contact seen with an organization joins it, unless it already has one;
        // the first of the batch counts, identifications (Segment's `group`,
        // `identify` with a company) before events. An identification also names an
        // organization that has no name. Neither ever replaces what is there: write
        // keys may be public (in a web page), so moving a contact or renaming an
        // organization is left to ADMIN keys (`describeContact`,
        // `updateOrganization`), and a library's late retry cannot undo a newer call.
        let mut joins: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut joined = HashSet::new();
        let mut organization_names: BTreeMap<i64, &str> = BTreeMap::new();
        let claims =
            identifications
                .iter()
                .map(|i| {
                    (
                        &i.contact_id,
                        i.organization_id.as_ref(),
                        i.organization_name.as_deref(),
                    )
                })
                .chain(events.iter().filter_map(|e| {
                    Some((e.contact_id.as_ref()?, e.organization_id.as_ref(), None))
                }));
        for (c, o, name) in claims {
            let Some((&contact_id, &org_id)) =
                contact_ids.get(c).zip(o.and_then(|o| organizations.get(o)))
            else {
                continue;
            };
            if let Some(name) = name {
                organization_names.entry(org_id).or_insert(name);
            }
            if joined.insert(contact_id) {
                joins.entry(org_id).or_default().push(contact_id);
            }
        }
        let joins: Vec<(i64, i64)> = joins
            .into_iter()
            .flat_map(|(org, contacts)| contacts.into_iter().map(move |c| (c, org)))
            .collect();
        for chunk in joins.chunks(LOOKUP_CHUNK) {
            contact::Entity::update_many()
                .col_expr(
                    contact::Column::OrganizationId,
                    by_contact(chunk.iter().map(|(c, org)| (*c, Expr::val(*org)))),
                )
                .filter(contact::Column::Id.is_in(chunk.iter().map(|(c, _)| *c)))
                .filter(contact::Column::OrganizationId.is_null())
                .exec(txn)
                .await?;
        }
        for (org_id, name) in organization_names {
            organization::Entity::update_many()
                .col_expr(organization::Column::Name, Expr::val(name))
                .filter(organization::Column::Id.eq(org_id))
                .filter(organization::Column::Name.is_null())
                .exec(txn)
                .await?;
        }

        let mut contacts = HashMap::with_capacity(contact_ids.len());
        let by_id: HashMap<i64, ExternalId> =
            contact_ids.into_iter().map(|(ext, id)| (id, ext)).collect();
        let ids: Vec<i64> = by_id.keys().copied().collect();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(i64, Option<i64>)> = contact::Entity::find()
                .select_only()
                .column(contact::Column::Id)
                .column(contact::Column::OrganizationId)
                .filter(contact::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(txn)
                .await?;
            for (id, org) in rows {
                if let Some(ext) = by_id.get(&id) {
                    contacts.insert(ext.clone(), (id, org));
                }
            }
        }

        Ok(Self {
            organizations,
            contacts,
            campaigns,
            assets,
        })
    }
}

/// Returns the internal id of every external id in `wanted`, inserting rows made
/// by `new_row` for those not stored yet. Safe against concurrent inserters: the
/// unique `(workspace_id, external_id)` index decides, and we read back.
async fn ensure_rows<E>(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    wanted: &BTreeSet<ExternalId>,
    new_row: impl Fn(&str) -> E::ActiveModel,
) -> Result<HashMap<ExternalId, i64>>
where
    E: EntityTrait,
    E::Column: ExternalIdColumns,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let mut found = lookup_ids::<E>(txn, workspace_id, wanted.iter()).await?;
    let missing: Vec<&ExternalId> = wanted
        .iter()
        .filter(|id| !found.contains_key(*id))
        .collect();
    if missing.is_empty() {
        return Ok(found);
    }
    for chunk in missing.chunks(INSERT_CHUNK) {
        E::insert_many(chunk.iter().map(|id| new_row(id.as_str())))
            .on_conflict_do_nothing_on([E::Column::WORKSPACE_ID, E::Column::EXTERNAL_ID])
            .exec_without_returning(txn)
            .await?;
    }
    found.extend(lookup_ids::<E>(txn, workspace_id, missing.into_iter()).await?);
    Ok(found)
}

async fn lookup_ids<'a, E>(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    ids: impl Iterator<Item = &'a ExternalId>,
) -> Result<HashMap<ExternalId, i64>>
where
    E: EntityTrait,
    E::Column: ExternalIdColumns,
{
    let ids: Vec<&ExternalId> = ids.collect();
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let rows: Vec<(i64, String)> = E::find()
            .select_only()
            .column(E::Column::ID)
            .column(E::Column::EXTERNAL_ID)
            .filter(E::Column::WORKSPACE_ID.eq(workspace_id))
            .filter(E::Column::EXTERNAL_ID.is_in(chunk.iter().map(|id| id.as_str())))
            .into_tuple()
            .all(txn)
            .await?;
        for (id, external) in rows {
            if let Ok(external) = ExternalId::parse(&external, "id") {
                found.insert(external, id);
            }
        }
    }
    Ok(found)
}

/// The latest stage change per contact in a batch, applied in one statement per chunk.
#[derive(Debug, Default)]
struct StageChanges {
    /// Contact → (stage, when). Among changes at the same instant the later one in
    /// the batch wins, as if they were applied one by one in time order.
    latest: BTreeMap<i64, (String, i64)>,
}

impl StageChanges {
    fn record(&mut self, contact: i64, stage: &str, at: i64) {
        match self.latest.get(&contact) {
            Some((_, newest)) if *newest > at => {}
            _ => {
                self.latest.insert(contact, (stage.to_owned(), at));
            }
        }
    }

    /// Sets each contact's stage unless it already holds a newer one, so a late
    /// event never overwrites a newer stage.
    async fn apply(self, txn: &DatabaseTransaction) -> Result<()> {
        let changes: Vec<(i64, (String, i64))> = self.latest.into_iter().collect();
        for chunk in changes.chunks(LOOKUP_CHUNK) {
            let stage = || {
                by_contact(
                    chunk
                        .iter()
                        .map(|(c, (stage, _))| (*c, Expr::val(stage.as_str()))),
                )
            };
            let at = || by_contact(chunk.iter().map(|(c, (_, at))| (*c, Expr::val(*at))));
            contact::Entity::update_many()
                .col_expr(contact::Column::Stage, stage())
                .col_expr(contact::Column::StageChangedAt, at())
                .filter(contact::Column::Id.is_in(chunk.iter().map(|(c, _)| *c)))
                .filter(
                    Condition::any()
                        .add(contact::Column::StageChangedAt.is_null())
                        .add(Expr::col(contact::Column::StageChangedAt).lte(at())),
                )
                .exec(txn)
                .await?;
        }
        Ok(())
    }
}

/// `CASE id WHEN … THEN … END` over contacts: one value per contact in one statement.
fn by_contact(values: impl Iterator<Item = (i64, SimpleExpr)>) -> SimpleExpr {
    let mut case = CaseStatement::new();
    for (contact, value) in values {
        case = case.case(Expr::col(contact::Column::Id).eq(contact), value);
    }
    case.into()
}

/// Where a batch's time went, by phase, for the debug log.
#[derive(Debug)]
struct Laps {
    last: Instant,
    spent: Vec<(&'static str, Duration)>,
}

impl Laps {
    fn start() -> Self {
        Self {
            last: Instant::now(),
            spent: Vec::new(),
        }
    }

    /// Adds the time since the last mark to `phase`.
    fn mark(&mut self, phase: &'static str) {
        let now = Instant::now();
        let took = now - self.last;
        self.last = now;
        match self.spent.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, total)) => *total += took,
            None => self.spent.push((phase, took)),
        }
    }
}

impl Laps {
    /// The time marked to these phases together.
    fn spent_on(&self, phases: &[&str]) -> Duration {
        self.spent
            .iter()
            .filter(|(phase, _)| phases.contains(phase))
            .map(|(_, took)| *took)
            .sum()
    }
}

impl std::fmt::Display for Laps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (phase, took)) in self.spent.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{phase} {:.1} ms", took.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
}
