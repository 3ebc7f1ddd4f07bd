//! Custom KPI scripts: one row per key, one immutable row per version.

use chrono::Utc;
use hourglass_core::Goal;
use hourglass_core::catalog as rules;
use hourglass_core::definition::{self, ParamDecl};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use crate::entities::{kpi_script, kpi_script_version};
use crate::error::{Result, StorageError};
use crate::page::{Page, PageRequest};
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// Everything a version of a script says.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiScriptContent {
    pub name: String,
    pub description: Option<String>,
    pub goal: Goal,
    pub unit: Option<String>,
    pub source: String,
    pub params: Vec<ParamDecl>,
}

/// Changes to a script; `None` keeps a field. Any change makes a new version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KpiScriptChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub goal: Option<Goal>,
    pub unit: Option<String>,
    pub source: Option<String>,
    pub params: Option<Vec<ParamDecl>>,
}

/// A script at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiScriptRecord {
    pub key: String,
    /// The version shown.
    pub version: i32,
    /// The newest version.
    pub current_version: i32,
    pub content: KpiScriptContent,
    pub archived_at: Option<i64>,
    pub created_at: i64,
    /// When this version was made.
    pub version_created_at: i64,
}

impl KpiScriptContent {
    /// Checks every declared field; the sandbox checks the source compiles.
    fn validate(mut self) -> Result<Self> {
        self.name = rules::name("name", &self.name)?;
        if let Some(description) = &self.description {
            rules::text("description", description)?;
        }
        self.description = self
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty());
        self.unit = self.unit.map(|u| definition::unit(&u)).transpose()?;
        definition::source(&self.source)?;
        definition::params(&self.params)?;
        Ok(self)
    }
}

impl WorkspaceStore {
    /// Creates a script at version 1. Keys are unique per workspace, archived ones included.
    pub async fn create_kpi_script(
        &self,
        key: &str,
        content: KpiScriptContent,
    ) -> Result<KpiScriptRecord> {
        let key = definition::key(key)?;
        let content = content.validate()?;
        if self.find_script(&key).await?.is_some() {
            return Err(StorageError::AlreadyExists {
                what: "KPI script",
                id: key,
            });
        }
        let write = self.begin_write().await?;
        let now = to_millis(Utc::now());
        let script = kpi_script::ActiveModel {
            workspace_id: Set(self.id()),
            key: Set(key.clone()),
            current_version: Set(1),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&*write)
        .await
        .map_err(StorageError::exists_on_conflict("KPI script", key))?;
        let version = version_row(script.id, 1, &content, now)
            .insert(&*write)
            .await?;
        write.commit().await?;
        Ok(record(script, version))
    }

    /// Saves a new version with `changes` applied to the current one.
    pub async fn update_kpi_script(
        &self,
        key: &str,
        changes: KpiScriptChanges,
    ) -> Result<KpiScriptRecord> {
        let current = self.kpi_script(key, None).await?;
        if current.archived_at.is_some() {
            return Err(
                rules::FieldError::new("key", format!("KPI script '{key}' is archived")).into(),
            );
        }
        let old = current.content;
        let content = KpiScriptContent {
            name: changes.name.unwrap_or(old.name),
            description: changes.description.or(old.description),
            goal: changes.goal.unwrap_or(old.goal),
            unit: changes.unit.or(old.unit),
            source: changes.source.unwrap_or(old.source),
            params: changes.params.unwrap_or(old.params),
        }
        .validate()?;
        let write = self.begin_write().await?;
        // The current version read under the workspace's write lock: concurrent
        // updates queue there, and each numbers its version after the one before.
        let script = kpi_script::Entity::find()
            .filter(kpi_script::Column::WorkspaceId.eq(self.id()))
            .filter(kpi_script::Column::Key.eq(key))
            .one(&*write)
            .await?
            .ok_or_else(|| StorageError::not_found("KPI script", key))?;
        let next = script.current_version + 1;
        let version = version_row(script.id, next, &content, to_millis(Utc::now()))
            .insert(&*write)
            .await?;
        let mut active = script.into_active_model();
        active.current_version = Set(next);
        let script = active.update(&*write).await?;
        write.commit().await?;
        Ok(record(script, version))
    }

    /// Archives a script: it keeps its versions and results but leaves listings and
    /// can no longer be run by key.
    pub async fn archive_kpi_script(&self, key: &str) -> Result<KpiScriptRecord> {
        let script = self
            .find_script(key)
            .await?
            .ok_or_else(|| StorageError::not_found("KPI script", key))?;
        let mut active = script.clone().into_active_model();
        if script.archived_at.is_none() {
            active.archived_at = Set(Some(to_millis(Utc::now())));
        }
        let write = self.begin_write().await?;
        let script = active.update(&*write).await?;
        write.commit().await?;
        let version = self.version(script.id, script.current_version, key).await?;
        Ok(record(script, version))
    }

    /// A script at `version`, or at its newest.
    pub async fn kpi_script(&self, key: &str, version: Option<i32>) -> Result<KpiScriptRecord> {
        let script = self
            .find_script(key)
            .await?
            .ok_or_else(|| StorageError::not_found("KPI script", key))?;
        let version = self
            .version(script.id, version.unwrap_or(script.current_version), key)
            .await?;
        Ok(record(script, version))
    }

    /// Every version of a script, newest first.
    pub async fn kpi_script_history(&self, key: &str) -> Result<Vec<KpiScriptRecord>> {
        let script = self
            .find_script(key)
            .await?
            .ok_or_else(|| StorageError::not_found("KPI script", key))?;
        let versions = kpi_script_version::Entity::find()
            .filter(kpi_script_version::Column::ScriptId.eq(script.id))
            .order_by_desc(kpi_script_version::Column::Version)
            .all(&self.store.db)
            .await?;
        Ok(versions
            .into_iter()
            .map(|v| record(script.clone(), v))
            .collect())
    }

    /// Scripts by key at their newest version; archived ones only when asked for.
    pub async fn kpi_scripts(
        &self,
        include_archived: bool,
        page: PageRequest<i64>,
    ) -> Result<Page<i64, KpiScriptRecord>> {
        let mut condition = Condition::all().add(kpi_script::Column::WorkspaceId.eq(self.id()));
        if !include_archived {
            condition = condition.add(kpi_script::Column::ArchivedAt.is_null());
        }
        if let Some(after) = page.after {
            condition = condition.add(kpi_script::Column::Id.gt(after));
        }
        let scripts = kpi_script::Entity::find()
            .filter(condition)
            .order_by_asc(kpi_script::Column::Id)
            .limit(page.first + 1)
            .all(&self.store.db)
            .await?;
        let mut rows = Vec::with_capacity(scripts.len());
        for script in scripts {
            let version = self
                .version(script.id, script.current_version, &script.key)
                .await?;
            rows.push((script.id, record(script, version)));
        }
        Ok(Page::from_overfetch(rows, page.first))
    }

    async fn find_script(&self, key: &str) -> Result<Option<kpi_script::Model>> {
        // A string that cannot be a key names nothing; the database is not asked.
        if definition::key(key).is_err() {
            return Ok(None);
        }
        Ok(kpi_script::Entity::find()
            .filter(kpi_script::Column::WorkspaceId.eq(self.id()))
            .filter(kpi_script::Column::Key.eq(key))
            .one(&self.store.db)
            .await?)
    }

    async fn version(
        &self,
        script_id: i64,
        version: i32,
        key: &str,
    ) -> Result<kpi_script_version::Model> {
        kpi_script_version::Entity::find()
            .filter(kpi_script_version::Column::ScriptId.eq(script_id))
            .filter(kpi_script_version::Column::Version.eq(version))
            .one(&self.store.db)
            .await?
            .ok_or_else(|| {
                StorageError::not_found("KPI script version", format!("{key}@{version}"))
            })
    }
}

fn version_row(
    script_id: i64,
    version: i32,
    content: &KpiScriptContent,
    now: i64,
) -> kpi_script_version::ActiveModel {
    kpi_script_version::ActiveModel {
        script_id: Set(script_id),
        version: Set(version),
        name: Set(content.name.clone()),
        description: Set(content.description.clone()),
        goal: Set(content.goal.as_str().to_owned()),
        unit: Set(content.unit.clone()),
        source: Set(content.source.clone()),
        params: Set(serde_json::to_value(&content.params).unwrap_or_default()),
        created_at: Set(now),
        ..Default::default()
    }
}

fn record(script: kpi_script::Model, version: kpi_script_version::Model) -> KpiScriptRecord {
    KpiScriptRecord {
        key: script.key,
        version: version.version,
        current_version: script.current_version,
        content: KpiScriptContent {
            name: version.name,
            description: version.description,
            goal: version.goal.parse().unwrap_or(Goal::Find),
            unit: version.unit,
            source: version.source,
            params: serde_json::from_value(version.params).unwrap_or_default(),
        },
        archived_at: script.archived_at,
        created_at: script.created_at,
        version_created_at: version.created_at,
    }
}
