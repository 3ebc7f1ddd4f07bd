//! Workspaces: the unit of tenancy.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use hourglass_core::Slug;
use hourglass_storage::{WorkspaceUpdate, from_millis};

use super::state;
use crate::error::ApiResult;

/// One client company's data. Nothing ever crosses workspaces.
#[derive(SimpleObject, Clone, Debug)]
pub struct Workspace {
    /// The slug every other call names the workspace by.
    pub slug: ID,
    pub name: String,
    /// Rates with a smaller sample are marked insufficient.
    pub min_sample: i32,
    pub created_at: DateTime<Utc>,
}

impl From<hourglass_storage::Workspace> for Workspace {
    fn from(w: hourglass_storage::Workspace) -> Self {
        Self {
            slug: ID(w.slug),
            name: w.name,
            min_sample: w.min_sample,
            created_at: from_millis(w.created_at),
        }
    }
}

/// Settings of a workspace to change; absent fields stay as they are.
#[derive(InputObject, Debug)]
pub struct WorkspaceSettingsInput {
    pub name: Option<String>,
    /// Minimum sample size for a rate to count as sufficient (default 30).
    pub min_sample: Option<u32>,
}

#[derive(Debug, Default)]
pub struct WorkspaceQuery;

#[Object]
impl WorkspaceQuery {
    /// Every workspace, by slug.
    async fn workspaces(&self, ctx: &Context<'_>) -> ApiResult<Vec<Workspace>> {
        let all = state(ctx).store.list_workspaces().await?;
        Ok(all.into_iter().map(Workspace::from).collect())
    }

    /// One workspace by slug.
    async fn workspace(&self, ctx: &Context<'_>, slug: ID) -> ApiResult<Workspace> {
        Ok(state(ctx)
            .workspace(&slug)
            .await?
            .workspace()
            .clone()
            .into())
    }
}

#[derive(Debug, Default)]
pub struct WorkspaceMutation;

#[Object]
impl WorkspaceMutation {
    /// Creates a workspace. The slug (lower-case letters, digits and '-') is permanent.
    async fn create_workspace(
        &self,
        ctx: &Context<'_>,
        slug: String,
        name: String,
    ) -> ApiResult<Workspace> {
        let slug = Slug::parse(&slug)?;
        Ok(state(ctx)
            .store
            .create_workspace(&slug, &name)
            .await?
            .into())
    }

    /// Changes a workspace's name or minimum sample.
    async fn update_workspace(
        &self,
        ctx: &Context<'_>,
        slug: ID,
        input: WorkspaceSettingsInput,
    ) -> ApiResult<Workspace> {
        let mut ws = state(ctx).workspace(&slug).await?;
        let updated = ws
            .update(WorkspaceUpdate {
                name: input.name,
                min_sample: input.min_sample,
            })
            .await?;
        Ok(updated.into())
    }
}
