//! One filter's engagement per organization: as facts from the aggregate layer for
//! depth and the short list, as raw events for custom KPI scripts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hourglass_core::depth::{
    DepthScore, DepthWeights, PersonDepth, Ranked, assets_by_id, people, rank, score,
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
use crate::rollups::facts;
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
}

impl Organizations {
    /// The condition on an `organization_id` column.
    fn condition(&self, organization: Expr) -> SimpleExpr {
        match self {
            Self::All => organization.is_not_null(),
            Self::Ids(ids) => organization.is_in(ids.iter().copied()),
            Self::Span(first, last) => organization.between(*first, *last),
        }
    }
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
            let facts = self.facts_where(&resolved, &part).await?;
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
        self.facts_where(&resolved, &Organizations::All).await
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
                        .await?,
                );
            }
        }
        Ok(facts)
    }

    /// The facts of the filter's organizations (and of `organizations` only, when
    /// given): whole UTC days
    /// (or all time) from `engagement_facts`, the partial days at the range's edges
    /// from raw events — the same split as the rollups. A workspace whose aggregate
    /// layer is behind this code's is answered from raw events alone.
    async fn facts_where(
        &self,
        resolved: &Resolved,
        organizations: &Organizations,
    ) -> Result<Vec<OrgFacts>> {
        let which = |organization: Expr| organizations.condition(organization);
        if !self.rollups_current() {
            let grouped = self.raw_events_where(resolved, which).await?;
            let records = self.with_organizations(grouped).await?;
            return Ok(records
                .into_iter()
                .map(|(organization, events, contacts)| OrgFacts {
                    organization,
                    facts: tally(events.iter().map(EngagementFact::of_event)),
                    contacts,
                })
                .collect());
        }

        let plan = Plan::new(
            resolved.range.from.map(to_millis),
            resolved.range.to.map(to_millis),
        );
        let mut by_org: BTreeMap<String, Vec<EngagementFact>> = BTreeMap::new();
        if let Some(days) = plan.days {
            // The filter's conditions on the facts' columns, which bear the events'
            // names; the range is the days'.
            let unbounded = Resolved {
                range: TimeRange::default(),
                ..resolved.clone()
            };
            let dimensions = self
                .condition_on(&facts::table(), &unbounded, AssetScope::Exact)
                .add(which(Expr::col((
                    facts::table(),
                    Alias::new("organization_id"),
                ))));
            let days = (days != (None, None)).then_some(days);
            let mut stored = Vec::new();
            for packed in facts::read(&self.store.db, dimensions, days).await? {
                stored.push((packed.organization_id, packed.unpack()?));
            }
            // Ids collected first: an iterator borrowing `stored` across an await
            // would keep the future from being `Send`.
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
            for (organization, facts) in stored {
                let Some(organization) = organizations.get(&organization) else {
                    continue;
                };
                by_org
                    .entry(organization.clone())
                    .or_default()
                    .extend(facts.into_iter().map(|f| EngagementFact {
                        kind: f.kind,
                        contact: name(&contacts, f.contact()),
                        asset: name(&assets, f.asset()),
                        recipient: (!f.recipient.is_empty()).then(|| f.recipient.into()),
                        events: f.events,
                        value_sum: f.value_sum,
                        first_at: f.first_at,
                    }));
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
            for (organization, events) in self.raw_events_where(&edge, which).await? {
                by_org
                    .entry(organization)
                    .or_default()
                    .extend(events.iter().map(EngagementFact::of_event));
            }
        }
        let records = self
            .with_organizations(by_org.into_iter().collect())
            .await?;
        Ok(records
            .into_iter()
            .map(|(organization, facts, contacts)| OrgFacts {
                organization,
                facts: tally(facts),
                contacts,
            })
            .collect())
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
            .raw_events_where(&resolved, |organization| organization.is_not_null())
            .await?;
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

    /// The raw events in `resolved` whose organization also meets `which` (a
    /// condition on the event's organization id), oldest first, grouped by the
    /// organization's external id in its order.
    async fn raw_events_where(
        &self,
        resolved: &Resolved,
        which: impl FnOnce(Expr) -> SimpleExpr,
    ) -> Result<Vec<(String, Vec<EngagementEvent>)>> {
        let e = Alias::new("e");
        let mut query = joined_events(&e);
        query
            .cond_where(
                self.condition_on(&e, resolved, AssetScope::Exact)
                    .add(which(Expr::col((e.clone(), Alias::new("organization_id"))))),
            )
            .order_by((Alias::new("o"), Alias::new("external_id")), Order::Asc)
            .order_by((e.clone(), Alias::new("occurred_at")), Order::Asc)
            .order_by((e.clone(), Alias::new("id")), Order::Asc);
        let rows: Vec<EventRecord> = self.select(&query).await?;

        let mut grouped: Vec<(String, Vec<EngagementEvent>)> = Vec::new();
        for row in rows {
            let (Some(org), Ok(kind)) = (row.organization.clone(), row.kind.parse()) else {
                continue;
            };
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
