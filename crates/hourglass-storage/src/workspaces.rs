//! Workspaces, and the scoped handle every per-workspace query goes through.

use chrono::Utc;
use hourglass_core::Slug;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};

use crate::entities::workspace;
use crate::error::{Result, StorageError};
use crate::store::Store;
use crate::time::to_millis;

/// Changes to a workspace's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceUpdate {
    pub name: Option<String>,
    pub min_sample: Option<u32>,
}

/// Most a workspace's minimum sample may be set to.
const MAX_MIN_SAMPLE: u32 = 1_000_000;

/// Everything of one workspace. It can only be had for a workspace that exists, and
/// every query it makes is bound to that workspace.
#[derive(Debug, Clone)]
pub struct WorkspaceStore {
    pub(crate) store: Store,
    pub(crate) workspace: workspace::Model,
}

impl WorkspaceStore {
    pub fn workspace(&self) -> &workspace::Model {
        &self.workspace
    }

    pub(crate) fn id(&self) -> i64 {
        self.workspace.id
    }

    /// The minimum sample size below which rates are insufficient.
    pub fn min_sample(&self) -> u64 {
        u64::try_from(self.workspace.min_sample).unwrap_or(0)
    }

    /// Changes settings and returns the workspace as it now is.
    pub async fn update(&mut self, update: WorkspaceUpdate) -> Result<workspace::Model> {
        let mut active = self.workspace.clone().into_active_model();
        if let Some(name) = update.name {
            active.name = Set(hourglass_core::catalog::name("name", &name)?);
        }
        if let Some(min_sample) = update.min_sample {
            if min_sample > MAX_MIN_SAMPLE {
                return Err(hourglass_core::FieldError::new(
                    "minSample",
                    format!("must be at most {MAX_MIN_SAMPLE}"),
                )
                .into());
            }
            active.min_sample = Set(i32::try_from(min_sample).unwrap_or(i32::MAX));
        }
        let _guard = self.store.write_guard().await;
        self.workspace = active.update(&self.store.db).await?;
        Ok(self.workspace.clone())
    }
}

impl Store {
    /// Creates a workspace; a taken slug is `AlreadyExists`.
    pub async fn create_workspace(&self, slug: &Slug, name: &str) -> Result<workspace::Model> {
        let name = hourglass_core::catalog::name("name", name)?;
        let _guard = self.write_guard().await;
        if self.find_workspace(slug.as_str()).await?.is_some() {
            return Err(StorageError::AlreadyExists {
                what: "workspace",
                id: slug.to_string(),
            });
        }
        let model = workspace::ActiveModel {
            slug: Set(slug.to_string()),
            name: Set(name),
            min_sample: Set(30),
            created_at: Set(to_millis(Utc::now())),
            ..Default::default()
        };
        match model.insert(&self.db).await {
            Ok(created) => Ok(created),
            // Lost a race with another creator of the same slug.
            Err(_) if self.find_workspace(slug.as_str()).await?.is_some() => {
                Err(StorageError::AlreadyExists {
                    what: "workspace",
                    id: slug.to_string(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The scoped handle of an existing workspace, or `NotFound`.
    pub async fn workspace(&self, slug: &str) -> Result<WorkspaceStore> {
        let workspace = self
            .find_workspace(slug)
            .await?
            .ok_or_else(|| StorageError::not_found("workspace", slug))?;
        Ok(WorkspaceStore {
            store: self.clone(),
            workspace,
        })
    }

    /// Every workspace, by slug.
    pub async fn list_workspaces(&self) -> Result<Vec<workspace::Model>> {
        Ok(workspace::Entity::find()
            .order_by_asc(workspace::Column::Slug)
            .all(&self.db)
            .await?)
    }

    async fn find_workspace(&self, slug: &str) -> Result<Option<workspace::Model>> {
        Ok(workspace::Entity::find()
            .filter(workspace::Column::Slug.eq(slug))
            .one(&self.db)
            .await?)
    }
}
