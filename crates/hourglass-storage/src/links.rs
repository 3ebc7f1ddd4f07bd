//! Tracker links of a workspace, and following one by its public code.
//!
//! A public click carries no key: the link itself is what lets it in, and only to
//! record a click in the link's own workspace ([`FollowedLink`]).

use chrono::{DateTime, Utc};
use hourglass_core::ExternalId;
use hourglass_core::link::{Destination, Utm};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::entities::{tracker_link, workspace};
use crate::error::{Result, StorageError};
use crate::page::{Page, PageRequest};
use crate::store::Store;
use crate::time::{from_millis, to_millis};
use crate::workspaces::WorkspaceStore;

/// A tracker link to make. The code is the caller's to draw (at random); one that
/// is taken already is `ALREADY_EXISTS`, and the caller draws again.
#[derive(Debug, Clone)]
pub struct NewTrackerLink {
    pub code: String,
    pub campaign: Option<ExternalId>,
    pub asset: Option<ExternalId>,
    /// Normalised (lower case) by the caller.
    pub channel: Option<String>,
    /// The contact it was made for, when it was personalised for one.
    pub contact: Option<ExternalId>,
    pub destination: Destination,
    pub utm: Utm,
}

/// A stored tracker link.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerLink {
    pub code: String,
    pub campaign: Option<String>,
    pub asset: Option<String>,
    pub channel: Option<String>,
    pub contact: Option<String>,
    pub destination: String,
    pub utm: Utm,
    /// Clicks recorded so far (robots' and refused ones are not).
    pub clicks: u64,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl TrackerLink {
    fn from_model(model: tracker_link::Model) -> Result<Self> {
        let utm = serde_json::from_value(model.utm)
            .map_err(|e| StorageError::Corrupt(format!("tracker link {}: {e}", model.code)))?;
        Ok(Self {
            code: model.code,
            campaign: model.campaign,
            asset: model.asset,
            channel: model.channel,
            contact: model.contact,
            destination: model.destination,
            utm,
            clicks: u64::try_from(model.clicks).unwrap_or(0),
            archived_at: model.archived_at.map(from_millis),
            created_at: from_millis(model.created_at),
        })
    }

    /// Where a click on it is sent: the destination with its UTM parameters.
    pub fn redirect_to(&self) -> Result<String> {
        let destination = Destination::parse(&self.destination)
            .map_err(|e| StorageError::Corrupt(format!("tracker link {}: {e}", self.code)))?;
        Ok(destination.with_utm(&self.utm))
    }
}

impl WorkspaceStore {
    pub async fn create_tracker_link(&self, new: NewTrackerLink) -> Result<TrackerLink> {
        let utm = serde_json::to_value(&new.utm)
            .map_err(|e| StorageError::Corrupt(format!("UTM parameters: {e}")))?;
        let model = tracker_link::ActiveModel {
            workspace_id: Set(self.id()),
            code: Set(new.code.clone()),
            campaign: Set(new.campaign.map(|c| c.to_string())),
            asset: Set(new.asset.map(|a| a.to_string())),
            channel: Set(new.channel),
            contact: Set(new.contact.map(|c| c.to_string())),
            destination: Set(new.destination.as_str().to_owned()),
            utm: Set(utm),
            clicks: Set(0),
            archived_at: Set(None),
            created_at: Set(to_millis(Utc::now())),
            ..Default::default()
        };
        // Links are not KPI data: no data version to bump, so no workspace write.
        let model = model
            .insert(&self.store.db)
            .await
            .map_err(StorageError::exists_on_conflict("tracker link", &new.code))?;
        TrackerLink::from_model(model)
    }

    /// The workspace's links, newest last; archived ones only when asked for.
    pub async fn tracker_links(
        &self,
        include_archived: bool,
        page: PageRequest<i64>,
    ) -> Result<Page<i64, TrackerLink>> {
        let mut query =
            tracker_link::Entity::find().filter(tracker_link::Column::WorkspaceId.eq(self.id()));
        if !include_archived {
            query = query.filter(tracker_link::Column::ArchivedAt.is_null());
        }
        if let Some(after) = page.after {
            query = query.filter(tracker_link::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(tracker_link::Column::Id)
            .limit(page.first + 1)
            .all(&self.store.db)
            .await?;
        let items = rows
            .into_iter()
            .map(|m| Ok((m.id, TrackerLink::from_model(m)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.first))
    }

    async fn find_tracker_link(&self, code: &str) -> Result<tracker_link::Model> {
        tracker_link::Entity::find()
            .filter(tracker_link::Column::WorkspaceId.eq(self.id()))
            .filter(tracker_link::Column::Code.eq(code))
            .one(&self.store.db)
            .await?
            .ok_or_else(|| StorageError::not_found("tracker link", code))
    }

    pub async fn tracker_link(&self, code: &str) -> Result<TrackerLink> {
        TrackerLink::from_model(self.find_tracker_link(code).await?)
    }

    /// Archives a link: from now on its code answers 404 and records nothing.
    /// Archiving an archived link changes nothing.
    pub async fn archive_tracker_link(&self, code: &str) -> Result<TrackerLink> {
        let model = self.find_tracker_link(code).await?;
        if model.archived_at.is_some() {
            return TrackerLink::from_model(model);
        }
        let mut active: tracker_link::ActiveModel = model.into();
        active.archived_at = Set(Some(to_millis(Utc::now())));
        TrackerLink::from_model(active.update(&self.store.db).await?)
    }
}

/// A live link found by its public code, with the one workspace a click on it may
/// be recorded in.
#[derive(Debug, Clone)]
pub struct FollowedLink {
    id: i64,
    pub link: TrackerLink,
    pub workspace: WorkspaceStore,
}

impl FollowedLink {
    /// Counts one recorded click.
    pub async fn count_click(&self) -> Result<()> {
        tracker_link::Entity::update_many()
            .col_expr(
                tracker_link::Column::Clicks,
                Expr::col(tracker_link::Column::Clicks).add(1),
            )
            .filter(tracker_link::Column::Id.eq(self.id))
            .exec(&self.workspace.store.db)
            .await?;
        Ok(())
    }
}

impl Store {
    /// The live (not archived) link behind `code`, or `None`.
    pub async fn follow_link(&self, code: &str) -> Result<Option<FollowedLink>> {
        let Some(model) = tracker_link::Entity::find()
            .filter(tracker_link::Column::Code.eq(code))
            .filter(tracker_link::Column::ArchivedAt.is_null())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(workspace) = workspace::Entity::find_by_id(model.workspace_id)
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(FollowedLink {
            id: model.id,
            link: TrackerLink::from_model(model)?,
            workspace: WorkspaceStore::new(self.clone(), workspace),
        }))
    }
}
