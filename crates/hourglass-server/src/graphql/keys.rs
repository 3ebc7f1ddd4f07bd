//! The caller itself and its agency's API keys.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use hourglass_core::Permission;
use hourglass_storage::{ApiKeyRecord, from_millis};

use super::caller;
use super::types::Role;
use crate::admin::issue_key;
use crate::error::ApiResult;

/// An API key as listings show it. Its secret is shown once, when it is created.
#[derive(SimpleObject, Clone, Debug)]
pub struct ApiKey {
    /// The public part of the key (`hg_<id>_…`): what names it in listings and logs.
    pub id: ID,
    pub name: String,
    pub role: Role,
    /// The one workspace the key acts on; null for a key acting on all of the agency's.
    pub workspace: Option<ID>,
    pub created_at: DateTime<Utc>,
    /// When the key was last used, to the minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the key was revoked; a revoked key authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKey {
    fn from(key: ApiKeyRecord) -> Self {
        Self {
            id: ID(key.public_id),
            name: key.name,
            role: key.role.into(),
            workspace: key.workspace.map(ID),
            created_at: from_millis(key.created_at),
            last_used_at: key.last_used_at.map(from_millis),
            revoked_at: key.revoked_at.map(from_millis),
        }
    }
}

/// A new key and its secret.
#[derive(SimpleObject, Debug)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// The whole key, to send as `Authorization: Bearer <secret>`. Shown this once:
    /// only a hash of it is stored.
    pub secret: String,
}

/// The agency a key belongs to.
#[derive(SimpleObject, Debug)]
pub struct Agency {
    pub slug: ID,
    pub name: String,
}

/// Who is calling: the key's agency, scope and role.
#[derive(SimpleObject, Debug)]
pub struct Viewer {
    pub agency: Agency,
    pub role: Role,
    /// The workspace the key is limited to; null when it acts on the whole agency.
    pub workspace: Option<ID>,
    pub api_key: ApiKey,
}

#[derive(InputObject, Debug)]
pub struct CreateApiKeyInput {
    /// Limit the key to this workspace; leave out for a key on the whole agency
    /// (only an agency-wide key can make one).
    pub workspace: Option<ID>,
    pub role: Role,
    /// What the key is for ("Looker dashboard", "website tracker").
    pub name: String,
}

#[derive(Debug, Default)]
pub struct KeyQuery;

#[Object]
impl KeyQuery {
    /// The key making this request: its agency, scope and role. Any key may ask.
    async fn viewer(&self, ctx: &Context<'_>) -> ApiResult<Viewer> {
        let principal = caller(ctx)?.principal();
        let agency = principal.tenant.agency();
        Ok(Viewer {
            agency: Agency {
                slug: ID(agency.slug.clone()),
                name: agency.name.clone(),
            },
            role: principal.role.into(),
            workspace: principal.key.workspace.clone().map(ID),
            api_key: principal.key.clone().into(),
        })
    }

    /// The keys this key can manage: the agency's, or its one workspace's (ADMIN).
    async fn api_keys(&self, ctx: &Context<'_>) -> ApiResult<Vec<ApiKey>> {
        let keys = caller(ctx)?
            .tenant(Permission::Administer)?
            .api_keys()
            .await?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }
}

#[derive(Debug, Default)]
pub struct KeyMutation;

#[Object]
impl KeyMutation {
    /// Issues a key (ADMIN). The answer carries its secret, which is never shown again.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> ApiResult<CreatedApiKey> {
        let tenant = caller(ctx)?.tenant(Permission::Administer)?;
        let issued = issue_key(
            tenant,
            input.workspace.as_ref().map(|w| w.as_str()),
            input.role.into(),
            &input.name,
        )
        .await?;
        Ok(CreatedApiKey {
            secret: issued.secret.reveal(),
            api_key: issued.record.into(),
        })
    }

    /// Revokes a key by id (ADMIN); it stops working at once. A key may revoke itself.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> ApiResult<ApiKey> {
        let key = caller(ctx)?
            .tenant(Permission::Administer)?
            .revoke_api_key(&id)
            .await?;
        Ok(key.into())
    }
}
