//! One filter's engagement per organization: as facts from the aggregate layer for
//! depth and the short list, as raw events for custom KPI scripts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hourglass_core::depth::{
    DepthScore, DepthWeights, Lead, People, PersonDepth, Ranked, assets_by_id, people, rank,
    rank_leads, score,
};
use hourglass_core::engagement::{
    AssetInfo, ContactInfo, EngagementEvent, EngagementFact, OrgFacts, OrgInfo, OrgRecords, tally,
};
use hourglass_core::{ExternalId, Stage, TimeRange};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::task::JoinHandle;

use crate::LOOKUP_CHUNK;
use crate::answer_cache::Asked;
use crate::entities::{asset, contact, organization};
use crate::error::{Result, StorageError};
use crate::events::{EventRecord, joined_events};
use crate::kpis::{AssetScope, KpiFilter, Resolved};
use crate::rollups::Plan;
use crate::rollups::facts::{self, NONE};
use crate::time::{from_millis, to_millis};
use crate::workspaces::WorkspaceStore;

/// Which organizations a read of facts or events covers.
#[derive(Debug, Clone)]
enum Organizations {
    /// Every one (events that name none are no organization's).
    All,
    /// These row ids.
    Ids(Vec<i64>),
    /// Row ids from the first to the second, both included.
    Span(i64, i64),
    /// None: the events of contacts that name no organization.
    Unaffiliated,
}

impl Organizations {
    /// The condition on the `organization_id` and `contact_id` columns of `table`
    /// (raw events, where none is NULL, or facts, where it is 0).
    fn condition(&self, table: &Alias) -> SimpleExpr {
        let column = |name: &str| Expr::col((table.clone(), Alias::new(name)));
        let organization = column("organization_id");
        match self {
            // NULL > 0 is not true either.
            Self::All => organization.gt(NONE),
            Self::Ids(ids) => organization.is_in(ids.iter().copied()),
            Self::Span(first, last) => organization.between(*first, *last),
            Self::Unaffiliated => organization
                .clone()
                .is_null()
                .or(organization.eq(NONE))
                .and(column("contact_id").gt(NONE)),
        }
    }
}

/// Facts read for a filter, grouped as depth needs them.
#[derive(Debug, Default)]
struct FactGroups {
    /// Each organization's, ordered by its id.
    organizations: Vec<OrgFacts>,
    /// Those of contacts whose events name no organization.
    unaffiliated: Vec<EngagementFact>,
}

/// The workspace's side of scoring depth: its assets, weights and threshold.
struct Scoring {
    assets: HashMap<String, AssetInfo>,
    weights: DepthWeights,
    threshold: f64,
}

impl Scoring {
    /// Scores `orgs` on the blocking pool.
    fn spawn(self: &Arc<Self>, orgs: Vec<OrgFacts>) -> JoinHandle<Vec<(OrgInfo, DepthScore)>> {
        let scoring = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            score(orgs, &scoring.assets, &scoring.weights, scoring.threshold)
        })
    }
}

/// The result of work on the blocking pool.
async fn joined<T>(work: JoinHandle<T>) -> Result<T> {
    work.await
        .map_err(|e| StorageError::Background(e.to_string()))
}

impl WorkspaceStore {
    /// Every organization with events in the filter, scored with the workspace's
    /// depth weights and ranked (core's `short_list`, on the blocking pool), from the
    /// engagement facts of the aggregate layer. Kept in the answer cache under the
    /// data version, so paging through the list, or the next dashboard asking the
    /// same, does not recompute it.
    pub async fn short_list(&self, filter: &KpiFilter) -> Result<Arc<Vec<Ranked>>> {
        self.remembered(
            Asked::ShortList(filter.clone()),
            self.short_list_computed(filter),
        )
        .await
    }

    /// Reads and scores the filter's organizations a part at a time, scoring one part
    /// on the blocking pool while the next is read, so that memory holds one part's
    /// facts rather than the whole workspace's, then ranks them once.
    async fn short_list_computed(&self, filter: &KpiFilter) -> Result<Arc<Vec<Ranked>>> {
        let resolved = self.resolve(filter).await?;
        let scoring = self.scoring().await?;
        let mut scored = Vec::new();
        let mut scoring_part: Option<JoinHandle<Vec<(OrgInfo, DepthScore)>>> = None;
        for part in self.organization_parts(&resolved).await? {
            let facts = self.facts_where(&resolved, &part).await?.organizations;
            if let Some(previous) = scoring_part.take() {
                scored.extend(joined(previous).await?);
            }
            scoring_part = Some(scoring.spawn(facts));
        }
        if let Some(last) = scoring_part {
            scored.extend(joined(last).await?);
        }
        Ok(Arc::new(rank(scored)))
    }

    /// The short list computed from raw events, never cached: the reference the
    /// aggregate layer is held to.
    pub async fn short_list_raw(&self, filter: &KpiFilter) -> Result<Vec<Ranked>> {
        let records = self.engagement(filter).await?;
        let scoring = self.scoring().await?;
        let facts = records.iter().map(OrgFacts::from).collect();
        Ok(rank(joined(scoring.spawn(facts)).await?))
    }

    /// The depth of each of `organizations` that has events in the filter (whose own
    /// `organization` is ignored), by external id: the batched form for a page of
    /// organizations. With the answer cache on, every page of a data version is looked
    /// up in the filter's one cached short list (the first page computes it); without,
    /// only the page's organizations are read.
    pub async fn depths_of(
        &self,
        filter: &KpiFilter,
        organizations: &[ExternalId],
    ) -> Result<HashMap<String, DepthScore>> {
        if self.store.answers.keeps_short_lists() {
            let every = KpiFilter {
                organization: None,
                ..filter.clone()
            };
            let wanted: std::collections::HashSet<&str> =
                organizations.iter().map(ExternalId::as_str).collect();
            return Ok(self
                .short_list(&every)
                .await?
                .iter()
                .filter(|r| wanted.contains(r.organization.id.as_str()))
                .map(|r| (r.organization.id.clone(), r.depth.clone()))
                .collect());
        }
        let facts = self.engagement_facts_of(filter, organizations).await?;
        let scoring = self.scoring().await?;
        Ok(joined(scoring.spawn(facts))
            .await?
            .into_iter()
            .map(|(organization, depth)| (organization.id, depth))
            .collect())
    }

    /// The people of `organization` with engagement in the filter (whose own
    /// `organization` is ignored), most engaged first: who stayed, who asked. Read
    /// from the organization's engagement facts.
    pub async fn people_of(
        &self,
        filter: &KpiFilter,
        organization: &ExternalId,
    ) -> Result<Vec<PersonDepth>> {
        let facts = self
            .engagement_facts_of(filter, std::slice::from_ref(organization))
            .await?;
        let scoring = self.scoring().await?;
        Ok(facts
            .first()
            .map(|org| people(org, &scoring.assets, scoring.threshold))
            .unwrap_or_default())
    }

    /// Every contact with engagement in the filter, scored as a lead with the
    /// workspace's depth weights (core's `rank_leads`) and ranked deepest first, with
    /// their stage. Read from the engagement facts a part of organizations at a time,
    /// then the facts of contacts whose events name no organization; kept in the
    /// answer cache beside the short lists. A filter with an asset gives that asset's
    /// audience, each person's engagement with it alone.
    pub async fn leads(&self, filter: &KpiFilter) -> Result<Arc<Vec<Lead>>> {
        self.remembered(Asked::Leads(filter.clone()), self.leads_computed(filter))
            .await
    }

    async fn leads_computed(&self, filter: &KpiFilter) -> Result<Arc<Vec<Lead>>> {
        let resolved = self.resolve(filter).await?;
        let scoring = self.scoring().await?;
        let mut parts = self.organization_parts(&resolved).await?;
        if resolved.organization.is_none() {
            parts.push(Organizations::Unaffiliated);
        }
        let mut gathered = People::default();
        let mut stages: HashMap<String, String> = HashMap::new();
        for part in parts {
            let groups = self.facts_where(&resolved, &part).await?;
            for org in &groups.organizations {
                let contacts = org.contacts.iter();
                stages.extend(contacts.map(|c| (c.id.clone(), c.stage.clone())));
            }
            gathered = joined(tokio::task::spawn_blocking(move || {
                for org in &groups.organizations {
                    gathered.add_organization(org);
                }
                gathered.add_unaffiliated(&groups.unaffiliated);
                gathered
            }))
            .await?;
        }
        let people = joined(tokio::task::spawn_blocking({
            let scoring = Arc::clone(&scoring);
            move || gathered.finish(&scoring.assets, scoring.threshold)
        }))
        .await?;
        // Contacts of no organization, or of another than the one their events name.
        let unstaged: Vec<String> = people
            .iter()
            .filter(|p| !stages.contains_key(&p.contact))
            .map(|p| p.contact.clone())
            .collect();
        let named = self.contacts_named(&unstaged).await?;
        stages.extend(named.into_iter().map(|(id, c)| (id, c.stage)));
        let staged = people
            .into_iter()
            .filter_map(|p| Some((stages.remove(&p.contact)?, p)))
            .map(|(stage, p)| (p, stage))
            .collect();
        Ok(Arc::new(rank_leads(staged, &scoring.weights)))
    }

    /// What scoring an organization's depth takes from the workspace.
    async fn scoring(&self) -> Result<Arc<Scoring>> {
        Ok(Arc::new(Scoring {
            assets: assets_by_id(&self.asset_infos().await?),
            weights: self.depth_weights(),
            threshold: self.full_stay_threshold(),
        }))
    }

    /// The organizations a read of the filter's facts covers, in parts of at most
    /// `short_list_part` by row id; one part when the filter names an organization.
    async fn organization_parts(&self, resolved: &Resolved) -> Result<Vec<Organizations>> {
        if resolved.organization.is_some() {
            return Ok(vec![Organizations::All]);
        }
        let ids: Vec<i64> = organization::Entity::find()
            .select_only()
            .column(organization::Column::Id)
            .filter(organization::Column::WorkspaceId.eq(self.id()))
            .order_by_asc(organization::Column::Id)
            .into_tuple()
            .all(&self.store.db)
            .await?;
        Ok(ids
            .chunks(self.store.short_list_part)
            .filter_map(|part| Some(Organizations::Span(*part.first()?, *part.last()?)))
            .collect())
    }

    /// Every organization with at least one event in the filter, with its engagement
    /// facts and all its contacts, ordered by organization id.
    pub async fn engagement_facts(&self, filter: &KpiFilter) -> Result<Vec<OrgFacts>> {
        let resolved = self.resolve(filter).await?;
        Ok(self
            .facts_where(&resolved, &Organizations::All)
            .await?
            .organizations)
    }

    /// The facts of `organizations` that have events in the filter (whose own
    /// `organization` is ignored), read together: the batched form of
    /// [`engagement_facts`](Self::engagement_facts) for a page of organizations.
    /// Unknown ids have no facts.
    pub async fn engagement_facts_of(
        &self,
        filter: &KpiFilter,
        organizations: &[ExternalId],
    ) -> Result<Vec<OrgFacts>> {
        let filter = KpiFilter {
            organization: None,
            ..filter.clone()
        };
        let resolved = self.resolve(&filter).await?;
        let mut facts = Vec::new();
        for chunk in organizations.chunks(LOOKUP_CHUNK) {
            let ids = self.organization_row_ids(chunk).await?;
            if !ids.is_empty() {
                facts.extend(
                    self.facts_where(&resolved, &Organizations::Ids(ids))
                        .await?
                        .organizations,
                );
            }
        }
        Ok(facts)
    }

    /// The facts of `organizations` with events in the filter: whole UTC days (or
    /// all time) from `engagement_facts`, the partial days at the range's edges from
    /// raw events — the same split as the rollups. A workspace whose aggregate layer
    /// is behind this code's is answered from raw events alone.
    async fn facts_where(
        &self,
        resolved: &Resolved,
        organizations: &Organizations,
    ) -> Result<FactGroups> {
        let mut by_org: BTreeMap<String, Vec<EngagementFact>> = BTreeMap::new();
        let mut unaffiliated: Vec<EngagementFact> = Vec::new();
        let mut add_events = |grouped: Vec<(Option<String>, Vec<EngagementEvent>)>| {
            for (organization, events) in grouped {
                let facts = events.iter().map(EngagementFact::of_event);
                match organization {
                    Some(organization) => by_org.entry(organization).or_default().extend(facts),
                    None => unaffiliated.extend(facts),
                }
            }
        };
        if !self.rollups_current() {
            add_events(self.raw_events_where(resolved, organizations).await?);
            return self.grouped(by_org, unaffiliated).await;
        }

        let plan = Plan::new(
            resolved.range.from.map(to_millis),
            resolved.range.to.map(to_millis),
        );
        let mut stored_groups = Vec::new();
        if let Some(days) = plan.days {
            // The filter's conditions on the facts' columns, which bear the events'
            // names; the range is the days'.
            let unbounded = Resolved {
                range: TimeRange::default(),
                ..resolved.clone()
            };
            let dimensions = self
                .condition_on(&facts::table(), &unbounded, AssetScope::Exact)
                .add(organizations.condition(&facts::table()));
            let days = (days != (None, None)).then_some(days);
            for packed in facts::read(&self.store.db, dimensions, days).await? {
                stored_groups.push((packed.organization_id, packed.unpack()?));
            }
        }
        for (from, to) in plan.raw {
            let edge = Resolved {
                range: TimeRange {
                    from: from.map(from_millis),
                    to: to.map(from_millis),
                },
                ..resolved.clone()
            };
            add_events(self.raw_events_where(&edge, organizations).await?);
        }
        for (organization, facts) in self.named_facts(stored_groups).await? {
            match organization {
                Some(organization) => by_org.entry(organization).or_default().extend(facts),
                None => unaffiliated.extend(facts),
            }
        }
        self.grouped(by_org, unaffiliated).await
    }

    /// Stored facts by row ids, named by external ids: each organization's (`None`
    /// for the group of no organization). Facts of an organization no longer stored
    /// drop out.
    async fn named_facts(
        &self,
        stored: Vec<(i64, Vec<facts::StoredFact>)>,
    ) -> Result<Vec<(Option<String>, Vec<EngagementFact>)>> {
        let ids = |pick: fn(&facts::StoredFact) -> Option<i64>| -> Vec<i64> {
            stored
                .iter()
                .flat_map(|(_, facts)| facts.iter().filter_map(pick))
                .collect()
        };
        let (contact_ids, asset_ids) = (ids(|f| f.contact()), ids(|f| f.asset()));
        let organization_ids: Vec<i64> = stored.iter().map(|(o, _)| *o).collect();
        let organizations = self
            .external_ids::<organization::Entity>(organization_ids.into_iter())
            .await?;
        // Each name shared by every fact that bears it.
        let shared = |names: HashMap<i64, String>| -> HashMap<i64, Arc<str>> {
            names.into_iter().map(|(id, n)| (id, n.into())).collect()
        };
        let contacts = shared(
            self.external_ids::<contact::Entity>(contact_ids.into_iter())
                .await?,
        );
        let assets = shared(
            self.external_ids::<asset::Entity>(asset_ids.into_iter())
                .await?,
        );
        let name = |names: &HashMap<i64, Arc<str>>, id: Option<i64>| {
            id.and_then(|id| names.get(&id).cloned())
        };
        Ok(stored
            .into_iter()
            .filter_map(|(organization, facts)| {
                let organization = if organization == NONE {
                    None
                } else {
                    Some(organizations.get(&organization)?.clone())
                };
                let facts = facts
                    .into_iter()
                    .map(|f| EngagementFact {
                        kind: f.kind,
                        contact: name(&contacts, f.contact()),
                        asset: name(&assets, f.asset()),
                        recipient: (!f.recipient.is_empty()).then(|| f.recipient.into()),
                        events: f.events,
                        value_sum: f.value_sum,
                        first_at: f.first_at,
                    })
                    .collect();
                Some((organization, facts))
            })
            .collect())
    }

    /// Facts grouped by organization (with its details and contacts) and tallied.
    async fn grouped(
        &self,
        by_org: BTreeMap<String, Vec<EngagementFact>>,
        unaffiliated: Vec<EngagementFact>,
    ) -> Result<FactGroups> {
        let records = self
            .with_organizations(by_org.into_iter().collect())
            .await?;
        Ok(FactGroups {
            organizations: records
                .into_iter()
                .map(|(organization, facts, contacts)| OrgFacts {
                    organization,
                    facts: tally(facts),
                    contacts,
                })
                .collect(),
            unaffiliated: tally(unaffiliated),
        })
    }

    /// Row ids of the organizations with these external ids (unknown ones left out).
    async fn organization_row_ids(&self, external: &[ExternalId]) -> Result<Vec<i64>> {
        Ok(organization::Entity::find()
            .select_only()
            .column(organization::Column::Id)
            .filter(organization::Column::WorkspaceId.eq(self.id()))
            .filter(organization::Column::ExternalId.is_in(external.iter().map(|o| o.as_str())))
            .into_tuple()
            .all(&self.store.db)
            .await?)
    }

    /// Every organization with at least one event in the filter, with those events
    /// (oldest first) and all its contacts, ordered by organization id: what custom
    /// KPI scripts read, and the raw reference for depth.
    pub async fn engagement(&self, filter: &KpiFilter) -> Result<Vec<OrgRecords>> {
        let resolved = self.resolve(filter).await?;
        let grouped = self
            .raw_events_where(&resolved, &Organizations::All)
            .await?
            .into_iter()
            .filter_map(|(organization, events)| Some((organization?, events)))
            .collect();
        Ok(self
            .with_organizations(grouped)
            .await?
            .into_iter()
            .map(|(organization, events, contacts)| OrgRecords {
                organization,
                events,
                facts: Vec::new(),
                contacts,
            })
            .collect())
    }

    /// The raw events in `resolved` of `organizations`, oldest first, grouped by the
    /// organization's external id in its order (`None`: events that name none).
    async fn raw_events_where(
        &self,
        resolved: &Resolved,
        organizations: &Organizations,
    ) -> Result<Vec<(Option<String>, Vec<EngagementEvent>)>> {
        let e = Alias::new("e");
        let mut query = joined_events(&e);
        query
            .cond_where(
                self.condition_on(&e, resolved, AssetScope::Exact)
                    .add(organizations.condition(&e)),
            )
            .order_by((Alias::new("o"), Alias::new("external_id")), Order::Asc)
            .order_by((e.clone(), Alias::new("occurred_at")), Order::Asc)
            .order_by((e.clone(), Alias::new("id")), Order::Asc);
        let rows: Vec<EventRecord> = self.select(&query).await?;

        let mut grouped: Vec<(Option<String>, Vec<EngagementEvent>)> = Vec::new();
        for row in rows {
            let Ok(kind) = row.kind.parse() else {
                continue;
            };
            let org = row.organization.clone();
            let event = EngagementEvent {
                kind,
                at: from_millis(row.occurred_at),
                contact: row.contact,
                asset: row.asset,
                campaign: row.campaign,
                channel: row.channel,
                value: row.value,
                properties: match row.properties {
                    serde_json::Value::Object(map) => map,
                    _ => serde_json::Map::new(),
                },
            };
            match grouped.last_mut() {
                Some((current, events)) if *current == org => events.push(event),
                _ => grouped.push((org, vec![event])),
            }
        }
        Ok(grouped)
    }

    /// Attaches organization details and contacts to what was grouped by
    /// organization (events or facts); ids of no stored organization drop out.
    async fn with_organizations<T>(
        &self,
        grouped: Vec<(String, T)>,
    ) -> Result<Vec<(OrgInfo, T, Vec<ContactInfo>)>> {
        let db = &self.store.db;
        let external: Vec<&str> = grouped.iter().map(|(id, _)| id.as_str()).collect();
        let mut organizations: HashMap<String, organization::Model> = HashMap::new();
        for chunk in external.chunks(LOOKUP_CHUNK) {
            let found = organization::Entity::find()
                .filter(organization::Column::WorkspaceId.eq(self.id()))
                .filter(organization::Column::ExternalId.is_in(chunk.iter().copied()))
                .all(db)
                .await?;
            organizations.extend(found.into_iter().map(|o| (o.external_id.clone(), o)));
        }
        let row_ids: Vec<i64> = organizations.values().map(|o| o.id).collect();
        let mut contacts: HashMap<i64, Vec<ContactInfo>> = HashMap::new();
        for chunk in row_ids.chunks(LOOKUP_CHUNK) {
            let found = contact::Entity::find()
                .filter(contact::Column::WorkspaceId.eq(self.id()))
                .filter(contact::Column::OrganizationId.is_in(chunk.iter().copied()))
                .order_by_asc(contact::Column::Id)
                .all(db)
                .await?;
            for c in found {
                if let Some(org) = c.organization_id {
                    contacts.entry(org).or_default().push(ContactInfo {
                        id: c.external_id,
                        stage: c.stage,
                        email: c.email,
                    });
                }
            }
        }
        let stages = self.lifecycle_stages();
        Ok(grouped
            .into_iter()
            .filter_map(|(external_id, payload)| {
                let org = organizations.remove(&external_id)?;
                let contacts = contacts.remove(&org.id).unwrap_or_default();
                let stage = contacts
                    .iter()
                    .max_by_key(|c| Stage::rank(&stages, &c.stage))
                    .map(|c| c.stage.clone());
                let info = OrgInfo {
                    id: org.external_id,
                    name: org.name,
                    domain: org.domain,
                    stage,
                    contact_count: contacts.len() as u64,
                };
                Some((info, payload, contacts))
            })
            .collect())
    }

    /// Every asset of the workspace, for full-stay KPIs and scripts.
    pub async fn asset_infos(&self) -> Result<Vec<AssetInfo>> {
        let assets = asset::Entity::find()
            .filter(asset::Column::WorkspaceId.eq(self.id()))
            .order_by_asc(asset::Column::Id)
            .all(&self.store.db)
            .await?;
        Ok(assets
            .into_iter()
            .map(|a| AssetInfo {
                id: a.external_id,
                kind: a.kind.as_deref().and_then(|k| k.parse().ok()),
                title: a.title,
                duration_seconds: a.duration_seconds,
            })
            .collect())
    }
}
