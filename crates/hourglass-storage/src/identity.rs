//! Identity stitching: an anonymous visitor who turns out to be a contact is one
//! person from then on, the events from before included.
//!
//! The first event or identification of a batch that names an anonymous id with a
//! contact links them in `identities` (the first link stands). Linking then rewrites
//! what was stored, inside the ingest transaction:
//!
//! - the visitor's events get the contact (and its organization where they named
//!   none), so raw reads, depth and custom KPIs see one person;
//! - the visitor's person number becomes the contact's: when the contact had none
//!   yet, the contact simply takes the visitor's number and no rollup changes; when
//!   both had one, every rollup row holding the visitor's number trades it for the
//!   contact's (exact, because all of the visitor's events move);
//! - the moved events join the contact's engagement facts.
//!
//! Later events that name only the anonymous id are the contact's as they are stored.

use std::collections::{BTreeMap, HashMap, HashSet};

use hourglass_core::identity::Identification;
use hourglass_core::{EventKind, NewEvent};
use sea_orm::sea_query::{
    CaseStatement, Expr, ExprTrait, Func, JoinType, OnConflict, Query, SimpleExpr,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult};

use crate::LOOKUP_CHUNK;
use crate::error::Result;
use crate::rollups::{AggregatedEvent, Delta, FactDelta, MonthBook, PersonNumbers, col};

/// A contact as identities need it: its row id and its organization.
pub(crate) type KnownContact = (i64, Option<i64>);

/// The contacts a batch's anonymous ids are linked to, and the links it made.
#[derive(Debug, Default)]
pub(crate) struct Links {
    by_anonymous: HashMap<String, KnownContact>,
    new: Vec<(String, KnownContact)>,
}

#[derive(Debug, FromQueryResult)]
struct StoredLink {
    anonymous_id: String,
    contact_id: i64,
    organization_id: Option<i64>,
}

impl Links {
    /// Loads the links of the anonymous ids the batch names and records those it
    /// makes: identifications first, then events naming both ids, in batch order.
    /// `contact` resolves an external contact id to its row, as the batch's catalog
    /// step left it (after any change of organization).
    pub async fn settle(
        txn: &DatabaseTransaction,
        workspace_id: i64,
        events: &[NewEvent],
        identifications: &[Identification],
        contact: impl Fn(&hourglass_core::ExternalId) -> Option<KnownContact>,
        now_ms: i64,
    ) -> Result<Self> {
        let claims: Vec<(&str, KnownContact)> = identifications
            .iter()
            .filter_map(|i| Some((i.anonymous_id.as_ref()?, &i.contact_id)))
            .chain(
                events
                    .iter()
                    .filter_map(|e| Some((e.anonymous_id.as_ref()?, e.contact_id.as_ref()?))),
            )
            .filter_map(|(anonymous, c)| Some((anonymous.as_str(), contact(c)?)))
            .collect();
        let named: Vec<&str> = {
            let mut seen = HashSet::new();
            events
                .iter()
                .filter_map(|e| e.anonymous_id.as_ref().map(|a| a.as_str()))
                .chain(claims.iter().map(|(a, _)| *a))
                .filter(|a| seen.insert(*a))
                .collect()
        };
        let mut links = Self::default();
        if named.is_empty() {
            return Ok(links);
        }
        let backend = txn.get_database_backend();
        for chunk in named.chunks(LOOKUP_CHUNK) {
            let query = Query::select()
                .expr_as(
                    Expr::col((col("i"), col("anonymous_id"))),
                    col("anonymous_id"),
                )
                .expr_as(Expr::col((col("i"), col("contact_id"))), col("contact_id"))
                .expr_as(
                    Expr::col((col("c"), col("organization_id"))),
                    col("organization_id"),
                )
                .from_as(col("identities"), col("i"))
                .join_as(
                    JoinType::InnerJoin,
                    col("contacts"),
                    col("c"),
                    Expr::col((col("c"), col("id"))).equals((col("i"), col("contact_id"))),
                )
                .and_where(Expr::col((col("i"), col("workspace_id"))).eq(workspace_id))
                .and_where(Expr::col((col("i"), col("anonymous_id"))).is_in(chunk.iter().copied()))
                .to_owned();
            let sql = backend.build(&query);
            for link in StoredLink::find_by_statement(sql).all(txn).await? {
                links
                    .by_anonymous
                    .insert(link.anonymous_id, (link.contact_id, link.organization_id));
            }
        }
        for (anonymous, known) in claims {
            if !links.by_anonymous.contains_key(anonymous) {
                links.by_anonymous.insert(anonymous.to_owned(), known);
                links.new.push((anonymous.to_owned(), known));
            }
        }
        for chunk in links.new.chunks(LOOKUP_CHUNK) {
            let mut insert = Query::insert();
            insert
                .into_table(col("identities"))
                .columns(["workspace_id", "anonymous_id", "contact_id", "linked_at"].map(col));
            for (anonymous, (contact, _)) in chunk {
                insert.values_panic([
                    workspace_id.into(),
                    anonymous.clone().into(),
                    (*contact).into(),
                    now_ms.into(),
                ]);
            }
            insert.on_conflict(
                OnConflict::columns(["workspace_id", "anonymous_id"].map(col))
                    .do_nothing()
                    .to_owned(),
            );
            txn.execute_raw(backend.build(&insert)).await?;
        }
        Ok(links)
    }

    /// The contact an anonymous id is linked to.
    pub fn contact_of(&self, anonymous: &str) -> Option<KnownContact> {
        self.by_anonymous.get(anonymous).copied()
    }

    /// How many links the batch made.
    pub fn made(&self) -> usize {
        self.new.len()
    }

    /// Gives the events stored under the batch's newly linked anonymous ids to their
    /// contacts; see the module documentation. Returns how many events moved.
    pub async fn stitch(&self, txn: &DatabaseTransaction, workspace_id: i64) -> Result<u64> {
        let mut moved = 0;
        for chunk in self.new.chunks(LOOKUP_CHUNK) {
            moved += stitch(txn, workspace_id, chunk).await?;
        }
        Ok(moved)
    }
}

#[derive(Debug, FromQueryResult)]
struct VisitorEvent {
    anonymous_id: String,
    kind: String,
    occurred_at: i64,
    campaign_id: Option<i64>,
    asset_id: Option<i64>,
    channel: Option<String>,
    value: Option<f64>,
    organization_id: Option<i64>,
    recipient: Option<String>,
}

impl VisitorEvent {
    fn aggregated(
        &self,
        kind: EventKind,
        contact: Option<i64>,
        organization: Option<i64>,
    ) -> AggregatedEvent<'_> {
        AggregatedEvent {
            kind,
            occurred_at: self.occurred_at,
            campaign: self.campaign_id,
            channel: self.channel.as_deref(),
            asset: self.asset_id,
            value: self.value,
            person: None,
            organization,
            contact,
            recipient: self.recipient.as_deref(),
        }
    }
}

async fn stitch(
    txn: &DatabaseTransaction,
    workspace_id: i64,
    links: &[(String, KnownContact)],
) -> Result<u64> {
    let backend = txn.get_database_backend();
    let anonymous: Vec<&str> = links.iter().map(|(a, _)| a.as_str()).collect();
    let unknown_visitors = || {
        Expr::col(col("workspace_id"))
            .eq(workspace_id)
            .and(Expr::col(col("contact_id")).is_null())
            .and(Expr::col(col("anonymous_id")).is_in(anonymous.iter().copied()))
    };

    let events_query = Query::select()
        .columns(
            [
                "anonymous_id",
                "kind",
                "occurred_at",
                "campaign_id",
                "asset_id",
                "channel",
                "value",
                "organization_id",
            ]
            .map(col),
        )
        .expr_as(
            crate::rollups::recipient_of_shares(backend),
            col("recipient"),
        )
        .from(col("events"))
        .cond_where(unknown_visitors())
        .to_owned();
    let events = VisitorEvent::find_by_statement(backend.build(&events_query))
        .all(txn)
        .await?;
    if events.is_empty() {
        return Ok(0);
    }

    // Person numbers: the visitors' own, and their contacts'.
    let numbers = PersonNumbers::load(
        txn,
        workspace_id,
        &links.iter().map(|(_, (contact, _))| *contact).collect(),
        &anonymous.iter().copied().collect(),
    )
    .await?;
    // In link order, so that two visitors who are one contact share a number.
    let mut taken_over: HashMap<i64, u32> = HashMap::new();
    let mut adopted: Vec<(u32, i64)> = Vec::new();
    let mut moves: BTreeMap<u32, u32> = BTreeMap::new();
    let mut person_of: HashMap<&str, u32> = HashMap::new();
    for (visitor, (contact, _)) in links {
        let Some(own) = numbers.of_visitor(visitor) else {
            continue;
        };
        let theirs = numbers
            .of_contact(*contact)
            .or_else(|| taken_over.get(contact).copied());
        let number = match theirs {
            None => {
                taken_over.insert(*contact, own);
                adopted.push((own, *contact));
                own
            }
            Some(theirs) => {
                moves.insert(own, theirs);
                theirs
            }
        };
        person_of.insert(visitor, number);
    }
    // Person numbers are stored as INTEGER; `PersonNumbers` keeps them within i32.
    let stored = |number: u32| i32::try_from(number).unwrap_or(i32::MAX);

    if !adopted.is_empty() {
        let mut case = CaseStatement::new();
        for (number, contact) in &adopted {
            case = case.case(
                Expr::col(col("number")).eq(stored(*number)),
                Expr::val(*contact),
            );
        }
        let update = Query::update()
            .table(col("people"))
            .value(col("contact_id"), case)
            .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
            .and_where(Expr::col(col("number")).is_in(adopted.iter().map(|(n, _)| stored(*n))))
            .to_owned();
        txn.execute_raw(backend.build(&update)).await?;
    }
    if !moves.is_empty() {
        let delete = Query::delete()
            .from_table(col("people"))
            .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
            .and_where(Expr::col(col("number")).is_in(moves.keys().map(|n| stored(*n))))
            .to_owned();
        txn.execute_raw(backend.build(&delete)).await?;
    }

    // The rollup rows the merged visitors' events are in; the facts they move between.
    let contact_of: HashMap<&str, KnownContact> = links
        .iter()
        .map(|(a, known)| (a.as_str(), *known))
        .collect();
    let mut rows = Delta::default();
    let mut facts = FactDelta::default();
    for event in &events {
        let Ok(kind) = event.kind.parse::<EventKind>() else {
            continue;
        };
        let Some(&(contact, organization)) = contact_of.get(event.anonymous_id.as_str()) else {
            continue;
        };
        if numbers
            .of_visitor(&event.anonymous_id)
            .is_some_and(|own| moves.contains_key(&own))
        {
            rows.add(&event.aggregated(kind, None, None));
        }
        if event.organization_id.is_some() {
            facts.remove(&event.aggregated(kind, None, event.organization_id));
        }
        facts.add(&event.aggregated(kind, Some(contact), event.organization_id.or(organization)));
    }
    if !moves.is_empty() {
        rows.add_to_sealed_months(&MonthBook::load(txn, workspace_id).await?.sealed());
        rows.renumber(txn, workspace_id, &moves).await?;
    }
    facts.apply(txn, workspace_id).await?;

    // Last, the events themselves, which the reads above picked out.
    let by_visitor = |value: &dyn Fn(&str, KnownContact) -> Option<Expr>| {
        let mut case = CaseStatement::new();
        for (visitor, known) in links {
            if let Some(v) = value(visitor, *known) {
                case = case.case(Expr::col(col("anonymous_id")).eq(visitor.as_str()), v);
            }
        }
        case
    };
    let contact = by_visitor(&|_, (contact, _)| Some(Expr::val(contact)));
    let organization = by_visitor(&|_, (_, organization)| Some(Expr::val(organization)));
    let person = by_visitor(&|visitor, _| person_of.get(visitor).map(|n| Expr::val(stored(*n))))
        .finally(Expr::col(col("person")));
    let update = Query::update()
        .table(col("events"))
        .value(col("contact_id"), contact)
        .value(
            col("organization_id"),
            Func::coalesce([
                SimpleExpr::from(Expr::col(col("organization_id"))),
                organization.into(),
            ]),
        )
        .value(col("person"), person)
        .cond_where(unknown_visitors())
        .to_owned();
    txn.execute_raw(backend.build(&update)).await?;
    Ok(events.len() as u64)
}

/// Gives every event of a linked anonymous id that has no contact yet to its
/// contact, in one set-based statement: what a rebuild does first, so that links
/// made before stitching existed (migration 14 derives them) take effect.
pub(crate) async fn stitch_all(txn: &DatabaseTransaction, workspace_id: i64) -> Result<()> {
    const LINK: &str = "FROM identities i JOIN contacts c ON c.id = i.contact_id \
         WHERE i.workspace_id = events.workspace_id AND i.anonymous_id = events.anonymous_id";
    let update = Query::update()
        .table(col("events"))
        // Both right-hand sides read the row as it was, so the organization comes
        // through the link, not through the new contact_id.
        .value(
            col("contact_id"),
            Expr::cust(format!("(SELECT i.contact_id {LINK})")),
        )
        .value(
            col("organization_id"),
            Expr::cust(format!(
                "COALESCE(organization_id, (SELECT c.organization_id {LINK}))"
            )),
        )
        .and_where(Expr::col(col("workspace_id")).eq(workspace_id))
        .and_where(Expr::col(col("contact_id")).is_null())
        .and_where(Expr::cust(format!("EXISTS (SELECT 1 {LINK})")))
        .to_owned();
    txn.execute_raw(txn.get_database_backend().build(&update))
        .await?;
    Ok(())
}
