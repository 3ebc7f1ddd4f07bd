//! Loading one filter's engagement records per organization, for depth KPIs and
//! custom KPI scripts.

use std::collections::HashMap;
use std::sync::Arc;

use hourglass_core::ExternalId;
use hourglass_core::Stage;
use hourglass_core::depth::{DepthScore, Ranked, short_list};
use hourglass_core::engagement::{AssetInfo, ContactInfo, EngagementEvent, OrgInfo, OrgRecords};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};

use crate::LOOKUP_CHUNK;
use crate::answer_cache::Asked;
use crate::entities::{asset, contact, organization};
use crate::error::{Result, StorageError};
use crate::events::{EventRecord, joined_events};
use crate::kpis::{AssetScope, KpiFilter, Resolved};
use crate::time::from_millis;
use crate::workspaces::WorkspaceStore;

impl WorkspaceStore {
    /// Every organization with events in the filter, scored with the workspace's
    /// depth weights and ranked (core's `short_list`, on the blocking pool). Kept in
    /// the answer cache under the data version, so paging through the list, or the
    /// next dashboard asking the same, does not recompute it.
    pub async fn short_list(&self, filter: &KpiFilter) -> Result<Arc<Vec<Ranked>>> {
        self.remembered(
            Asked::ShortList(filter.clone()),
            self.short_list_computed(filter),
        )
        .await
    }

    async fn short_list_computed(&self, filter: &KpiFilter) -> Result<Arc<Vec<Ranked>>> {
        let records = self.engagement(filter).await?;
        Ok(Arc::new(self.rank(records).await?))
    }

    /// The depth of each of `organizations` that has events in the filter, by
    /// external id: the batched form for a page of organizations (not cached).
    pub async fn depths_of(
        &self,
        filter: &KpiFilter,
        organizations: &[ExternalId],
    ) -> Result<HashMap<String, DepthScore>> {
        let records = self.engagement_of(filter, organizations).await?;
        Ok(self
            .rank(records)
            .await?
            .into_iter()
            .map(|r| (r.organization.id, r.depth))
            .collect())
    }

    /// Scores and ranks `records` with the workspace's weights, on the blocking pool:
    /// it walks every event of them.
    async fn rank(&self, records: Vec<OrgRecords>) -> Result<Vec<Ranked>> {
        let assets = self.asset_infos().await?;
        let weights = self.depth_weights();
        let threshold = self.full_stay_threshold();
        tokio::task::spawn_blocking(move || short_list(&records, &assets, &weights, threshold))
            .await
            .map_err(|e| StorageError::Background(e.to_string()))
    }

    /// Every organization with at least one event in the filter, with those events
    /// (oldest first) and all its contacts, ordered by organization id.
    pub async fn engagement(&self, filter: &KpiFilter) -> Result<Vec<OrgRecords>> {
        let resolved = self.resolve(filter).await?;
        self.engagement_where(&resolved, |organization| organization.is_not_null())
            .await
    }

    /// The records of `organizations` that have events in the filter (whose own
    /// `organization` is ignored), read together: the batched form of
    /// [`engagement`](Self::engagement) for a page of organizations. Unknown ids
    /// have no records.
    pub async fn engagement_of(
        &self,
        filter: &KpiFilter,
        organizations: &[ExternalId],
    ) -> Result<Vec<OrgRecords>> {
        let filter = KpiFilter {
            organization: None,
            ..filter.clone()
        };
        let resolved = self.resolve(&filter).await?;
        let mut records = Vec::new();
        for chunk in organizations.chunks(LOOKUP_CHUNK) {
            let ids: Vec<i64> = organization::Entity::find()
                .select_only()
                .column(organization::Column::Id)
                .filter(organization::Column::WorkspaceId.eq(self.id()))
                .filter(organization::Column::ExternalId.is_in(chunk.iter().map(|o| o.as_str())))
                .into_tuple()
                .all(&self.store.db)
                .await?;
            if ids.is_empty() {
                continue;
            }
            records.extend(
                self.engagement_where(&resolved, |organization| organization.is_in(ids))
                    .await?,
            );
        }
        Ok(records)
    }

    /// The records of the organizations whose events in `resolved` also meet
    /// `which` (a condition on the event's organization id).
    async fn engagement_where(
        &self,
        resolved: &Resolved,
        which: impl FnOnce(Expr) -> SimpleExpr,
    ) -> Result<Vec<OrgRecords>> {
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
        let db = &self.store.db;
        let rows = EventRecord::find_by_statement(db.get_database_backend().build(&query))
            .all(db)
            .await?;

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
        self.with_organizations(grouped).await
    }

    /// Attaches organization details and contacts to grouped events.
    async fn with_organizations(
        &self,
        grouped: Vec<(String, Vec<EngagementEvent>)>,
    ) -> Result<Vec<OrgRecords>> {
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
            .filter_map(|(external_id, events)| {
                let org = organizations.remove(&external_id)?;
                let contacts = contacts.remove(&org.id).unwrap_or_default();
                let stage = contacts
                    .iter()
                    .max_by_key(|c| Stage::rank(&stages, &c.stage))
                    .map(|c| c.stage.clone());
                Some(OrgRecords {
                    organization: OrgInfo {
                        id: org.external_id,
                        name: org.name,
                        domain: org.domain,
                        stage,
                        contact_count: contacts.len() as u64,
                    },
                    events,
                    contacts,
                })
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
