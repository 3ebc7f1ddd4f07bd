//! Storing a batch of validated events: idempotent per `messageId`, one
//! transaction per batch, catalog rows created on first sight.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use hourglass_core::{ExternalId, NewEvent};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, Set,
    TryInsertResult,
};
use serde_json::Value;

use crate::LOOKUP_CHUNK;
use crate::catalog::ExternalIdColumns;
use crate::entities::{asset, campaign, contact, event, organization};
use crate::error::Result;
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// How many rows one INSERT carries: well under both backends' bind-parameter caps.
const INSERT_CHUNK: usize = 500;

/// What happened to a batch of valid events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Newly stored events.
    pub accepted: u64,
    /// Events whose `messageId` was already stored, or repeated in the batch.
    pub duplicates: u64,
}

impl WorkspaceStore {
    /// Stores `events` in one transaction and returns once it has committed.
    pub async fn ingest(
        &self,
        events: Vec<NewEvent>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome> {
        let _guard = self.store.write_guard().await;
        let txn = self.store.begin_write().await?;
        let outcome = self.ingest_in(&txn, events, received_at).await?;
        txn.commit().await?;
        Ok(outcome)
    }

    async fn ingest_in(
        &self,
        txn: &DatabaseTransaction,
        events: Vec<NewEvent>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome> {
        let total = events.len() as u64;

        // The first occurrence of a message id in the batch wins.
        let mut seen = HashSet::new();
        let mut fresh: Vec<NewEvent> = events
            .into_iter()
            .filter(|e| seen.insert(e.message_id.clone()))
            .collect();
        let stored = self
            .stored_message_ids(txn, fresh.iter().map(|e| e.message_id.as_str()))
            .await?;
        fresh.retain(|e| !stored.contains(e.message_id.as_str()));
        if fresh.is_empty() {
            return Ok(IngestOutcome {
                accepted: 0,
                duplicates: total,
            });
        }

        let ids = CatalogIds::resolve(self, txn, &fresh).await?;
        let received_ms = to_millis(received_at);
        let mut stage_changes = Vec::new();
        let rows: Vec<event::ActiveModel> = fresh
            .into_iter()
            .map(|e| {
                let contact = e.contact_id.as_ref().and_then(|c| ids.contacts.get(c));
                let contact_id = contact.map(|(id, _)| *id);
                let organization_id = e
                    .organization_id
                    .as_ref()
                    .and_then(|o| ids.organizations.get(o).copied())
                    .or_else(|| contact.and_then(|(_, org)| *org));
                if let (Some(contact_id), Some(stage)) = (contact_id, e.stage_to()) {
                    stage_changes.push((contact_id, stage, to_millis(e.occurred_at)));
                }
                event::ActiveModel {
                    workspace_id: Set(self.id()),
                    message_id: Set(e.message_id.to_string()),
                    kind: Set(e.kind.as_str().to_owned()),
                    occurred_at: Set(to_millis(e.occurred_at)),
                    received_at: Set(received_ms),
                    contact_id: Set(contact_id),
                    anonymous_id: Set(e.anonymous_id.map(String::from)),
                    organization_id: Set(organization_id),
                    campaign_id: Set(e.campaign_id.and_then(|c| ids.campaigns.get(&c).copied())),
                    asset_id: Set(e.asset_id.and_then(|a| ids.assets.get(&a).copied())),
                    channel: Set(e.channel),
                    value: Set(e.value),
                    properties: Set(Value::Object(e.properties)),
                    ..Default::default()
                }
            })
            .collect();

        let mut accepted = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
            let result = event::Entity::insert_many(chunk)
                .on_conflict_do_nothing_on([event::Column::WorkspaceId, event::Column::MessageId])
                .exec_without_returning(txn)
                .await?;
            if let TryInsertResult::Inserted(n) = result {
                accepted += n;
            }
        }

        // Apply stage changes in time order; a late event never overwrites a newer stage.
        stage_changes.sort_by_key(|(_, _, at)| *at);
        for (contact_id, stage, at) in stage_changes {
            contact::Entity::update_many()
                .col_expr(contact::Column::Stage, Expr::value(stage.as_str()))
                .col_expr(contact::Column::StageChangedAt, Expr::value(at))
                .filter(contact::Column::Id.eq(contact_id))
                .filter(
                    contact::Column::StageChangedAt
                        .is_null()
                        .or(contact::Column::StageChangedAt.lte(at)),
                )
                .exec(txn)
                .await?;
        }

        Ok(IngestOutcome {
            accepted,
            // Anything not inserted was a duplicate, including one that a
            // concurrent batch stored between our check and our insert.
            duplicates: total - accepted,
        })
    }

    async fn stored_message_ids<'a>(
        &self,
        txn: &DatabaseTransaction,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<HashSet<String>> {
        let ids: Vec<&str> = ids.collect();
        let mut stored = HashSet::new();
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let found: Vec<String> = event::Entity::find()
                .select_only()
                .column(event::Column::MessageId)
                .filter(event::Column::WorkspaceId.eq(self.id()))
                .filter(event::Column::MessageId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(txn)
                .await?;
            stored.extend(found);
        }
        Ok(stored)
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
    ) -> Result<Self> {
        let now = to_millis(Utc::now());
        let workspace_id = ws.id();
        let named = |pick: fn(&NewEvent) -> Option<&ExternalId>| -> BTreeSet<ExternalId> {
            events.iter().filter_map(pick).cloned().collect()
        };

        let organizations = ensure_rows::<organization::Entity>(
            txn,
            workspace_id,
            &named(|e| e.organization_id.as_ref()),
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

        let contact_ids = ensure_rows::<contact::Entity>(
            txn,
            workspace_id,
            &named(|e| e.contact_id.as_ref()),
            |external_id| contact::ActiveModel {
                workspace_id: Set(workspace_id),
                external_id: Set(external_id.to_owned()),
                stage: Set(hourglass_core::Stage::DEFAULTS[0].to_owned()),
                created_at: Set(now),
                ..Default::default()
            },
        )
        .await?;

        // A contact seen with an organization joins it, unless it already has one.
        let mut joins: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut joined = HashSet::new();
        for e in events {
            if let (Some(c), Some(o)) = (&e.contact_id, &e.organization_id)
                && let (Some(&contact_id), Some(&org_id)) =
                    (contact_ids.get(c), organizations.get(o))
                && joined.insert(contact_id)
            {
                joins.entry(org_id).or_default().push(contact_id);
            }
        }
        for (org_id, contacts) in joins {
            for chunk in contacts.chunks(LOOKUP_CHUNK) {
                contact::Entity::update_many()
                    .col_expr(contact::Column::OrganizationId, Expr::value(org_id))
                    .filter(contact::Column::Id.is_in(chunk.iter().copied()))
                    .filter(contact::Column::OrganizationId.is_null())
                    .exec(txn)
                    .await?;
            }
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
