//! Agencies, API keys, and the [`Tenant`] every workspace is reached through.
//!
//! A tenant is an agency, possibly narrowed to one of its workspaces. It is the only
//! way to a [`WorkspaceStore`] outside operator tooling, and it looks workspaces up
//! inside its agency (and its one workspace, when narrowed): another tenant's
//! workspace is not found, exactly like one that does not exist.

use std::time::Instant;

use chrono::Utc;
use hourglass_core::access::KEY_RANDOM_BYTES;
use hourglass_core::{ApiKeySecret, Role, Slug};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};

use crate::entities::{agency, api_key, workspace};
use crate::error::{Result, StorageError};
use crate::key_cache::{Lookup, VerifiedKey};
use crate::store::Store;
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// A key's last-used time is written at most this often, so that a busy key does not
/// turn every read into a write.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// Whether a key last used at `last_used_at` should have `now_ms` written as its
/// last-used time.
pub(crate) fn last_used_is_stale(last_used_at: Option<i64>, now_ms: i64) -> bool {
    last_used_at.is_none_or(|at| now_ms - at >= LAST_USED_RESOLUTION_MS)
}

/// An API key as listings show it: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub public_id: String,
    pub name: String,
    pub role: Role,
    /// The workspace the key is limited to; `None` for agency-wide keys.
    pub workspace: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A new key, and the key itself, which is shown now and never again.
#[derive(Debug)]
pub struct IssuedKey {
    pub record: ApiKeyRecord,
    pub secret: ApiKeySecret,
}

/// An agency, or one workspace of it: what a caller can see.
#[derive(Debug, Clone)]
pub struct Tenant {
    store: Store,
    agency: agency::Model,
    only: Option<workspace::Model>,
}

/// An authenticated caller: the key's tenant and role.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: Tenant,
    pub role: Role,
    pub key: ApiKeyRecord,
}

impl Tenant {
    pub fn agency(&self) -> &agency::Model {
        &self.agency
    }

    /// A workspace this tenant can see, by slug; any other is `NotFound`.
    pub async fn workspace(&self, slug: &str) -> Result<WorkspaceStore> {
        let not_found = || StorageError::not_found("workspace", slug);
        // A string that cannot be a slug names nothing; the database is not asked.
        if Slug::parse(slug).is_err() {
            return Err(not_found());
        }
        if let Some(only) = &self.only {
            // The slug must match; the row is still read again below, as settings
            // may have changed since the key was checked.
            if only.slug != slug {
                return Err(not_found());
            }
        }
        // Concurrent requests for the same workspace share one read sent after they
        // all arrived (see `shared_reads`): as fresh as a read of their own.
        let (db, agency, slug) = (self.store.db.clone(), self.agency.id, slug.to_owned());
        let key = (agency, slug.clone());
        let read = move || {
            let (db, slug) = (db.clone(), slug.clone());
            async move {
                Ok(workspace::Entity::find()
                    .filter(workspace::Column::AgencyId.eq(agency))
                    .filter(workspace::Column::Slug.eq(slug))
                    .one(&db)
                    .await?)
            }
        };
        let workspace = self
            .store
            .workspace_rows
            .get(key, read)
            .await?
            .ok_or_else(not_found)?;
        Ok(WorkspaceStore::new(self.store.clone(), workspace))
    }

    /// Every workspace this tenant can see, by slug.
    pub async fn workspaces(&self) -> Result<Vec<WorkspaceStore>> {
        let mut query =
            workspace::Entity::find().filter(workspace::Column::AgencyId.eq(self.agency.id));
        if let Some(only) = &self.only {
            query = query.filter(workspace::Column::Id.eq(only.id));
        }
        Ok(query
            .order_by_asc(workspace::Column::Slug)
            .all(&self.store.db)
            .await?
            .into_iter()
            .map(|workspace| WorkspaceStore::new(self.store.clone(), workspace))
            .collect())
    }

    /// Creates a workspace in the agency; a tenant narrowed to one workspace cannot.
    pub async fn create_workspace(&self, slug: &Slug, name: &str) -> Result<WorkspaceStore> {
        self.require_agency_wide("create workspaces")?;
        let name = hourglass_core::catalog::name("name", name)?;
        let already = || StorageError::AlreadyExists {
            what: "workspace",
            id: slug.to_string(),
        };
        let _guard = self.store.write_guard().await;
        if self.workspace(slug.as_str()).await.is_ok() {
            return Err(already());
        }
        let model = workspace::ActiveModel {
            agency_id: Set(self.agency.id),
            slug: Set(slug.to_string()),
            name: Set(name),
            min_sample: Set(30),
            created_at: Set(to_millis(Utc::now())),
            // No events yet: its (empty) rollups are current.
            rollup_version: Set(crate::rollups::VERSION),
            // Set, not left to the column's default: on SQLite, `RETURNING` gave
            // NULL now and then for this column that `ALTER TABLE … ADD COLUMN` added
            // with a default (seen as "Missing value for column 'data_version'").
            data_version: Set(0),
            ..Default::default()
        };
        match model.insert(&self.store.db).await {
            Ok(workspace) => Ok(WorkspaceStore::new(self.store.clone(), workspace)),
            // Lost a race with another creator of the same slug.
            Err(_) if self.workspace(slug.as_str()).await.is_ok() => Err(already()),
            Err(e) => Err(e.into()),
        }
    }

    /// The keys this tenant can see: all of the agency's, or its one workspace's.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let mut query =
            api_key::Entity::find().filter(api_key::Column::AgencyId.eq(self.agency.id));
        if let Some(only) = &self.only {
            query = query.filter(api_key::Column::WorkspaceId.eq(only.id));
        }
        let keys = query
            .order_by_asc(api_key::Column::CreatedAt)
            .order_by_asc(api_key::Column::Id)
            .all(&self.store.db)
            .await?;
        let workspaces = self.workspaces().await?;
        Ok(keys
            .into_iter()
            .map(|key| {
                let slug = key.workspace_id.and_then(|id| {
                    workspaces
                        .iter()
                        .find(|w| w.id() == id)
                        .map(|w| w.workspace().slug.clone())
                });
                record(key, slug)
            })
            .collect())
    }

    /// Issues a key for the whole agency (`workspace: None`) or one of its
    /// workspaces. A tenant narrowed to one workspace can only issue keys for it.
    /// `random` must come from a cryptographically secure generator.
    pub async fn create_api_key(
        &self,
        workspace: Option<&str>,
        role: Role,
        name: &str,
        random: [u8; KEY_RANDOM_BYTES],
    ) -> Result<IssuedKey> {
        let name = hourglass_core::catalog::name("name", name)?;
        let workspace = match workspace {
            Some(slug) => Some(self.workspace(slug).await?),
            None => {
                self.require_agency_wide("issue agency-wide keys")?;
                None
            }
        };
        let secret = ApiKeySecret::from_random(random);
        let model = api_key::ActiveModel {
            public_id: Set(secret.public_id().to_owned()),
            agency_id: Set(self.agency.id),
            workspace_id: Set(workspace.as_ref().map(WorkspaceStore::id)),
            role: Set(role.as_str().to_owned()),
            name: Set(name),
            secret_hash: Set(secret.secret_hash()),
            created_at: Set(to_millis(Utc::now())),
            ..Default::default()
        };
        let _guard = self.store.write_guard().await;
        let key = model.insert(&self.store.db).await?;
        let slug = workspace.map(|w| w.workspace().slug.clone());
        Ok(IssuedKey {
            record: record(key, slug),
            secret,
        })
    }

    /// Revokes a key this tenant can see; from now on it authenticates nothing.
    /// Revoking a revoked key changes nothing.
    pub async fn revoke_api_key(&self, public_id: &str) -> Result<ApiKeyRecord> {
        let visible = self
            .api_keys()
            .await?
            .into_iter()
            .find(|key| key.public_id == public_id)
            .ok_or_else(|| StorageError::not_found("API key", public_id))?;
        if visible.revoked_at.is_some() {
            // Revoked already, perhaps by another process while this one still
            // trusts it from its cache: from now on it does not.
            self.store.keys.evict(public_id);
            return Ok(visible);
        }
        let now = to_millis(Utc::now());
        {
            let _guard = self.store.write_guard().await;
            api_key::Entity::update_many()
                .col_expr(api_key::Column::RevokedAt, Expr::value(now))
                .filter(api_key::Column::PublicId.eq(public_id))
                .filter(api_key::Column::AgencyId.eq(self.agency.id))
                .exec(&self.store.db)
                .await?;
        }
        // After the write: a check that read the key before it is not cached after
        // this (see `KeyCache::insert`), and one that reads it after sees it revoked.
        self.store.keys.evict(public_id);
        Ok(ApiKeyRecord {
            revoked_at: Some(now),
            ..visible
        })
    }

    fn require_agency_wide(&self, action: &str) -> Result<()> {
        match &self.only {
            Some(only) => Err(StorageError::OutOfScope(format!(
                "a key for workspace '{}' cannot {action}; use an agency-wide key",
                only.slug
            ))),
            None => Ok(()),
        }
    }
}

fn record(key: api_key::Model, workspace: Option<String>) -> ApiKeyRecord {
    ApiKeyRecord {
        public_id: key.public_id,
        name: key.name,
        // Roles are written from `Role` only; an unknown word would be a corrupt row,
        // and the least privilege is the safe reading of one.
        role: key.role.parse().unwrap_or(Role::Read),
        workspace,
        created_at: key.created_at,
        last_used_at: key.last_used_at,
        revoked_at: key.revoked_at,
    }
}

impl Store {
    /// Creates an agency; a taken slug is `AlreadyExists`. Operator tooling only.
    pub async fn create_agency(&self, slug: &Slug, name: &str) -> Result<agency::Model> {
        let name = hourglass_core::catalog::name("name", name)?;
        let _guard = self.write_guard().await;
        if self.find_agency(slug.as_str()).await?.is_some() {
            return Err(StorageError::AlreadyExists {
                what: "agency",
                id: slug.to_string(),
            });
        }
        let model = agency::ActiveModel {
            slug: Set(slug.to_string()),
            name: Set(name),
            created_at: Set(to_millis(Utc::now())),
            ..Default::default()
        };
        Ok(model.insert(&self.db).await?)
    }

    /// Whether any agency exists yet (without one, no key can authenticate).
    pub async fn has_agencies(&self) -> Result<bool> {
        Ok(agency::Entity::find().one(&self.db).await?.is_some())
    }

    /// An agency's whole tenant, for operator tooling (the CLI), which has the
    /// database in hand anyway. Requests never reach this: they authenticate.
    pub async fn agency_tenant(&self, slug: &str) -> Result<Tenant> {
        let agency = self
            .find_agency(slug)
            .await?
            .ok_or_else(|| StorageError::not_found("agency", slug))?;
        Ok(Tenant {
            store: self.clone(),
            agency,
            only: None,
        })
    }

    /// The caller a presented key stands for, or `None` when it is not a live key:
    /// malformed, unknown, revoked or with the wrong secret are all just `None`.
    ///
    /// A key verified less than the cache's time-to-live ago is answered from memory
    /// (its secret still compared with the stored hash); otherwise the key, its agency
    /// and its workspace are read and the result is cached. Either way the key's
    /// last-used time is written at most once a minute.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<Principal>> {
        let Some(secret) = ApiKeySecret::parse(presented) else {
            return Ok(None);
        };
        let now = Instant::now();
        let now_ms = to_millis(Utc::now());
        match self.keys.lookup(&secret, now, now_ms) {
            Lookup::WrongSecret => return Ok(None),
            Lookup::Hit { key, touch } => {
                if touch {
                    let _guard = self.write_guard().await;
                    api_key::Entity::update_many()
                        .col_expr(api_key::Column::LastUsedAt, Expr::value(now_ms))
                        .filter(api_key::Column::Id.eq(key.row_id))
                        .exec(&self.db)
                        .await?;
                }
                return Ok(Some(self.principal(*key)));
            }
            Lookup::Miss => {}
        }
        let seen = self.keys.generation();
        let Some(key) = self.verify(&secret, now_ms).await? else {
            return Ok(None);
        };
        self.keys.insert(secret.public_id(), key.clone(), seen, now);
        Ok(Some(self.principal(key)))
    }

    /// Checks a key against the database: the key, its agency and its workspace.
    async fn verify(&self, secret: &ApiKeySecret, now_ms: i64) -> Result<Option<VerifiedKey>> {
        let Some(key) = api_key::Entity::find()
            .filter(api_key::Column::PublicId.eq(secret.public_id()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        if !secret.matches(&key.secret_hash) || key.revoked_at.is_some() {
            return Ok(None);
        }
        let Some(agency) = agency::Entity::find_by_id(key.agency_id)
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let only = match key.workspace_id {
            Some(id) => match workspace::Entity::find_by_id(id).one(&self.db).await? {
                Some(workspace) => Some(workspace),
                None => return Ok(None),
            },
            None => None,
        };
        let key = if last_used_is_stale(key.last_used_at, now_ms) {
            let mut active = key.clone().into_active_model();
            active.last_used_at = Set(Some(now_ms));
            let _guard = self.write_guard().await;
            active.update(&self.db).await?
        } else {
            key
        };
        Ok(Some(VerifiedKey {
            secret_hash: key.secret_hash.clone(),
            row_id: key.id,
            record: record(key, only.as_ref().map(|w| w.slug.clone())),
            agency,
            only,
        }))
    }

    fn principal(&self, key: VerifiedKey) -> Principal {
        Principal {
            role: key.record.role,
            key: key.record,
            tenant: Tenant {
                store: self.clone(),
                agency: key.agency,
                only: key.only,
            },
        }
    }

    async fn find_agency(&self, slug: &str) -> Result<Option<agency::Model>> {
        Ok(agency::Entity::find()
            .filter(agency::Column::Slug.eq(slug))
            .one(&self.db)
            .await?)
    }
}
