//! What a workspace describes: campaigns, assets, organizations, contacts, spend.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use hourglass_core::catalog as rules;
use hourglass_core::{AssetKind, ExternalId, Goal};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set, TryIntoModel,
};

use crate::entities::{asset, campaign, contact, organization, spend};
use crate::error::{Result, StorageError};
use crate::page::{Page, PageRequest};
use crate::time::to_millis;
use crate::workspaces::WorkspaceStore;

/// A campaign to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    pub id: ExternalId,
    pub name: String,
    pub goal: Goal,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub budget: Option<f64>,
    pub currency: Option<String>,
}

/// Changes to a campaign; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignChanges {
    pub name: Option<String>,
    pub goal: Option<Goal>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub budget: Option<f64>,
    pub currency: Option<String>,
}

/// An asset to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAsset {
    pub id: ExternalId,
    pub kind: AssetKind,
    pub title: Option<String>,
    pub url: Option<String>,
    pub duration_seconds: Option<i32>,
    /// The landing page that promotes this asset.
    pub landing_page: Option<ExternalId>,
}

/// Changes to an asset; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetChanges {
    pub kind: Option<AssetKind>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub duration_seconds: Option<i32>,
    pub landing_page: Option<ExternalId>,
}

/// An organization to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganization {
    pub id: ExternalId,
    pub name: Option<String>,
    pub domain: Option<String>,
}

/// Changes to an organization; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub domain: Option<String>,
}

/// What is known about a contact; `None` keeps a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactDescription {
    /// Compared with share recipients: a share to a colleague's address is internal.
    pub email: Option<String>,
    pub name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// The organization the contact belongs to (it must exist).
    pub organization: Option<ExternalId>,
}

/// A contact with its organization's external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    pub contact: contact::Model,
    pub organization: Option<String>,
}

/// An asset with its landing page's external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRecord {
    pub asset: asset::Model,
    pub landing_page: Option<String>,
}

fn validate_campaign_fields(
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    budget: Option<f64>,
    currency: Option<&str>,
) -> Result<Option<String>> {
    rules::period(starts_at, ends_at)?;
    if let Some(budget) = budget {
        rules::amount("budget", budget)?;
    }
    Ok(currency.map(rules::currency).transpose()?)
}

impl WorkspaceStore {
    pub async fn create_campaign(&self, new: NewCampaign) -> Result<campaign::Model> {
        let name = rules::name("name", &new.name)?;
        let currency = validate_campaign_fields(
            new.starts_at,
            new.ends_at,
            new.budget,
            new.currency.as_deref(),
        )?;
        if self.find_campaign(&new.id).await?.is_some() {
            return Err(already_exists("campaign", &new.id));
        }
        let model = campaign::ActiveModel {
            workspace_id: Set(self.id()),
            external_id: Set(new.id.to_string()),
            name: Set(name),
            goal: Set(new.goal.as_str().to_owned()),
            starts_at: Set(new.starts_at.map(to_millis)),
            ends_at: Set(new.ends_at.map(to_millis)),
            budget: Set(new.budget),
            currency: Set(currency),
            created_at: Set(to_millis(Utc::now())),
            ..Default::default()
        };
        let write = self.begin_write().await?;
        let model = model
            .insert(&*write)
            .await
            .map_err(StorageError::exists_on_conflict(
                "campaign",
                new.id.as_str(),
            ))?;
        write.commit().await?;
        Ok(model)
    }

    pub async fn update_campaign(
        &self,
        id: &ExternalId,
        changes: CampaignChanges,
    ) -> Result<campaign::Model> {
        let current = self.campaign(id).await?;
        let starts_at = changes
            .starts_at
            .or(current.starts_at.map(crate::time::from_millis));
        let ends_at = changes
            .ends_at
            .or(current.ends_at.map(crate::time::from_millis));
        let currency = validate_campaign_fields(
            starts_at,
            ends_at,
            changes.budget,
            changes.currency.as_deref(),
        )?;
        let mut active = current.into_active_model();
        if let Some(name) = changes.name {
            active.name = Set(rules::name("name", &name)?);
        }
        if let Some(goal) = changes.goal {
            active.goal = Set(goal.as_str().to_owned());
        }
        if changes.starts_at.is_some() {
            active.starts_at = Set(starts_at.map(to_millis));
        }
        if changes.ends_at.is_some() {
            active.ends_at = Set(ends_at.map(to_millis));
        }
        if changes.budget.is_some() {
            active.budget = Set(changes.budget);
        }
        if currency.is_some() {
            active.currency = Set(currency);
        }
        let write = self.begin_write().await?;
        let campaign = active.update(&*write).await?;
        write.commit().await?;
        Ok(campaign)
    }

    pub async fn campaign(&self, id: &ExternalId) -> Result<campaign::Model> {
        self.find_campaign(id)
            .await?
            .ok_or_else(|| StorageError::not_found("campaign", id.as_str()))
    }

    async fn find_campaign(&self, id: &ExternalId) -> Result<Option<campaign::Model>> {
        Ok(campaign::Entity::find()
            .filter(campaign::Column::WorkspaceId.eq(self.id()))
            .filter(campaign::Column::ExternalId.eq(id.as_str()))
            .one(&self.store.db)
            .await?)
    }

    /// Campaigns in creation order, optionally of one goal.
    pub async fn campaigns(
        &self,
        goal: Option<Goal>,
        page: PageRequest<i64>,
    ) -> Result<Page<i64, campaign::Model>> {
        let mut query =
            campaign::Entity::find().filter(campaign::Column::WorkspaceId.eq(self.id()));
        if let Some(goal) = goal {
            query = query.filter(campaign::Column::Goal.eq(goal.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(campaign::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(campaign::Column::Id)
            .limit(page.first + 1)
            .all(&self.store.db)
            .await?;
        Ok(Page::from_overfetch(
            rows.into_iter().map(|c| (c.id, c)).collect(),
            page.first,
        ))
    }

    pub async fn create_asset(&self, new: NewAsset) -> Result<AssetRecord> {
        rules::duration(Some(new.kind), new.duration_seconds)?;
        let title = new.title.map(|t| rules::name("title", &t)).transpose()?;
        let url = new.url.map(|u| rules::url(&u)).transpose()?;
        if self.find_asset(&new.id).await?.is_some() {
            return Err(already_exists("asset", &new.id));
        }
        let landing_page_id = match &new.landing_page {
            Some(lp) => Some(self.landing_page_id(lp, None).await?),
            None => None,
        };
        let model = asset::ActiveModel {
            workspace_id: Set(self.id()),
            external_id: Set(new.id.to_string()),
            kind: Set(Some(new.kind.as_str().to_owned())),
            title: Set(title),
            url: Set(url),
            duration_seconds: Set(new.duration_seconds),
            landing_page_id: Set(landing_page_id),
            created_at: Set(to_millis(Utc::now())),
            ..Default::default()
        };
        let write = self.begin_write().await?;
        let asset = model
            .insert(&*write)
            .await
            .map_err(StorageError::exists_on_conflict("asset", new.id.as_str()))?;
        write.commit().await?;
        Ok(AssetRecord {
            asset,
            landing_page: new.landing_page.map(String::from),
        })
    }

    pub async fn update_asset(
        &self,
        id: &ExternalId,
        changes: AssetChanges,
    ) -> Result<AssetRecord> {
        let current = self
            .find_asset(id)
            .await?
            .ok_or_else(|| StorageError::not_found("asset", id.as_str()))?;
        let kind = match changes.kind {
            Some(kind) => Some(kind),
            None => current.kind.as_deref().and_then(|k| k.parse().ok()),
        };
        let duration = changes.duration_seconds.or(current.duration_seconds);
        rules::duration(kind, duration)?;
        let mut active = current.clone().into_active_model();
        active.kind = Set(kind.map(|k| k.as_str().to_owned()));
        if let Some(title) = changes.title {
            active.title = Set(Some(rules::name("title", &title)?));
        }
        if let Some(url) = changes.url {
            active.url = Set(Some(rules::url(&url)?));
        }
        if changes.duration_seconds.is_some() {
            active.duration_seconds = Set(changes.duration_seconds);
        }
        if let Some(lp) = &changes.landing_page {
            active.landing_page_id = Set(Some(self.landing_page_id(lp, Some(current.id)).await?));
        }
        let write = self.begin_write().await?;
        let asset = active.update(&*write).await?;
        write.commit().await?;
        self.asset_record(asset).await
    }

    pub async fn asset(&self, id: &ExternalId) -> Result<AssetRecord> {
        let asset = self
            .find_asset(id)
            .await?
            .ok_or_else(|| StorageError::not_found("asset", id.as_str()))?;
        self.asset_record(asset).await
    }

    /// Assets in creation order.
    pub async fn assets(&self, page: PageRequest<i64>) -> Result<Page<i64, AssetRecord>> {
        let mut query = asset::Entity::find().filter(asset::Column::WorkspaceId.eq(self.id()));
        if let Some(after) = page.after {
            query = query.filter(asset::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(asset::Column::Id)
            .limit(page.first + 1)
            .all(&self.store.db)
            .await?;
        let names = self
            .external_ids::<asset::Entity>(rows.iter().filter_map(|a| a.landing_page_id))
            .await?;
        let rows = rows
            .into_iter()
            .map(|asset| {
                let landing_page = asset.landing_page_id.and_then(|id| names.get(&id).cloned());
                (
                    asset.id,
                    AssetRecord {
                        asset,
                        landing_page,
                    },
                )
            })
            .collect();
        Ok(Page::from_overfetch(rows, page.first))
    }

    async fn asset_record(&self, asset: asset::Model) -> Result<AssetRecord> {
        let landing_page = match asset.landing_page_id {
            None => None,
            Some(id) => self
                .external_ids::<asset::Entity>(std::iter::once(id))
                .await?
                .remove(&id),
        };
        Ok(AssetRecord {
            asset,
            landing_page,
        })
    }

    pub(crate) async fn find_asset(&self, id: &ExternalId) -> Result<Option<asset::Model>> {
        Ok(asset::Entity::find()
            .filter(asset::Column::WorkspaceId.eq(self.id()))
            .filter(asset::Column::ExternalId.eq(id.as_str()))
            .one(&self.store.db)
            .await?)
    }

    /// The row id of a landing page, refusing anything that is not one.
    async fn landing_page_id(&self, id: &ExternalId, for_asset: Option<i64>) -> Result<i64> {
        let page = self
            .find_asset(id)
            .await?
            .ok_or_else(|| StorageError::not_found("asset", id.as_str()))?;
        if page.kind.as_deref() != Some(AssetKind::LandingPage.as_str())
            || Some(page.id) == for_asset
        {
            return Err(rules::FieldError::new(
                "landingPage",
                format!("asset '{id}' is not a landing page (kind LANDING_PAGE) of another asset"),
            )
            .into());
        }
        Ok(page.id)
    }

    pub async fn create_organization(&self, new: NewOrganization) -> Result<organization::Model> {
        let name = new.name.map(|n| rules::name("name", &n)).transpose()?;
        let domain = new.domain.map(|d| rules::domain(&d)).transpose()?;
        if self.find_organization(&new.id).await?.is_some() {
            return Err(already_exists("organization", &new.id));
        }
        let model = organization::ActiveModel {
            workspace_id: Set(self.id()),
            external_id: Set(new.id.to_string()),
            name: Set(name),
            domain: Set(domain),
            created_at: Set(to_millis(Utc::now())),
            ..Default::default()
        };
        let write = self.begin_write().await?;
        let organization =
            model
                .insert(&*write)
                .await
                .map_err(StorageError::exists_on_conflict(
                    "organization",
                    new.id.as_str(),
                ))?;
        write.commit().await?;
        Ok(organization)
    }

    pub async fn update_organization(
        &self,
        id: &ExternalId,
        changes: OrganizationChanges,
    ) -> Result<organization::Model> {
        let mut active = self.organization(id).await?.into_active_model();
        if let Some(name) = changes.name {
            active.name = Set(Some(rules::name("name", &name)?));
        }
        if let Some(domain) = changes.domain {
            active.domain = Set(Some(rules::domain(&domain)?));
        }
        let write = self.begin_write().await?;
        let organization = active.update(&*write).await?;
        write.commit().await?;
        Ok(organization)
    }

    pub async fn organization(&self, id: &ExternalId) -> Result<organization::Model> {
        self.find_organization(id)
            .await?
            .ok_or_else(|| StorageError::not_found("organization", id.as_str()))
    }

    async fn find_organization(&self, id: &ExternalId) -> Result<Option<organization::Model>> {
        Ok(organization::Entity::find()
            .filter(organization::Column::WorkspaceId.eq(self.id()))
            .filter(organization::Column::ExternalId.eq(id.as_str()))
            .one(&self.store.db)
            .await?)
    }

    /// Contacts by external id; ids not found are left out.
    pub async fn contacts_named(&self, ids: &[String]) -> Result<HashMap<String, contact::Model>> {
        self.rows_named::<contact::Entity>(ids, |c| &c.external_id)
            .await
    }

    /// Organizations by external id; ids not found are left out.
    pub async fn organizations_named(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, organization::Model>> {
        self.rows_named::<organization::Entity>(ids, |o| &o.external_id)
            .await
    }

    /// Rows of a catalog table by external id (`external_id` reads it back from a
    /// row), in chunks; ids not found are left out.
    async fn rows_named<E>(
        &self,
        ids: &[String],
        external_id: fn(&E::Model) -> &str,
    ) -> Result<HashMap<String, E::Model>>
    where
        E: EntityTrait,
        E::Column: ExternalIdColumns,
    {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(crate::LOOKUP_CHUNK) {
            let rows = E::find()
                .filter(E::Column::WORKSPACE_ID.eq(self.id()))
                .filter(E::Column::EXTERNAL_ID.is_in(chunk.iter().map(String::as_str)))
                .all(&self.store.db)
                .await?;
            found.extend(rows.into_iter().map(|r| (external_id(&r).to_owned(), r)));
        }
        Ok(found)
    }

    /// Organizations in creation order.
    pub async fn organizations(
        &self,
        page: PageRequest<i64>,
    ) -> Result<Page<i64, organization::Model>> {
        let mut query =
            organization::Entity::find().filter(organization::Column::WorkspaceId.eq(self.id()));
        if let Some(after) = page.after {
            query = query.filter(organization::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(organization::Column::Id)
            .limit(page.first + 1)
            .all(&self.store.db)
            .await?;
        Ok(Page::from_overfetch(
            rows.into_iter().map(|o| (o.id, o)).collect(),
            page.first,
        ))
    }

    /// Contacts in creation order, optionally of one organization.
    pub async fn contacts(
        &self,
        organization: Option<&ExternalId>,
        stages: Option<&[String]>,
        page: PageRequest<i64>,
    ) -> Result<Page<i64, ContactRecord>> {
        let mut condition = Condition::all().add(contact::Column::WorkspaceId.eq(self.id()));
        if let Some(org) = organization {
            let org = self.organization(org).await?;
            condition = condition.add(contact::Column::OrganizationId.eq(org.id));
        }
        if let Some(stages) = stages {
            condition =
                condition.add(contact::Column::Stage.is_in(stages.iter().map(String::as_str)));
        }
        if let Some(after) = page.after {
            condition = condition.add(contact::Column::Id.gt(after));
        }
        let rows = contact::Entity::find()
            .filter(condition)
            .order_by_asc(contact::Column::Id)
            .limit(page.first + 1)
            .all(&self.store.db)
            .await?;
        let rows = self
            .with_organization_ids(rows)
            .await?
            .into_iter()
            .map(|record| (record.contact.id, record))
            .collect();
        Ok(Page::from_overfetch(rows, page.first))
    }

    /// Contacts by external id with their organization's; ids not found are left out.
    pub async fn contact_records(&self, ids: &[String]) -> Result<HashMap<String, ContactRecord>> {
        let rows = self.contacts_named(ids).await?.into_values().collect();
        Ok(self
            .with_organization_ids(rows)
            .await?
            .into_iter()
            .map(|record| (record.contact.external_id.clone(), record))
            .collect())
    }

    /// Contacts with the external id of their organization, in their order.
    async fn with_organization_ids(&self, rows: Vec<contact::Model>) -> Result<Vec<ContactRecord>> {
        let names = self
            .external_ids::<organization::Entity>(rows.iter().filter_map(|c| c.organization_id))
            .await?;
        Ok(rows
            .into_iter()
            .map(|contact| {
                let organization = contact
                    .organization_id
                    .and_then(|id| names.get(&id).cloned());
                ContactRecord {
                    contact,
                    organization,
                }
            })
            .collect())
    }

    pub async fn contact(&self, id: &ExternalId) -> Result<ContactRecord> {
        let contact = contact::Entity::find()
            .filter(contact::Column::WorkspaceId.eq(self.id()))
            .filter(contact::Column::ExternalId.eq(id.as_str()))
            .one(&self.store.db)
            .await?
            .ok_or_else(|| StorageError::not_found("contact", id.as_str()))?;
        self.with_organization(contact).await
    }

    /// A contact with its organization's external id.
    async fn with_organization(&self, contact: contact::Model) -> Result<ContactRecord> {
        let organization = match contact.organization_id {
            None => None,
            Some(org) => self
                .external_ids::<organization::Entity>(std::iter::once(org))
                .await?
                .remove(&org),
        };
        Ok(ContactRecord {
            contact,
            organization,
        })
    }

    /// Describes a contact, creating it (as a VISITOR) when no event named it yet.
    /// Fields left out keep what they held.
    pub async fn describe_contact(
        &self,
        id: &ExternalId,
        description: ContactDescription,
    ) -> Result<ContactRecord> {
        let email = description.email.map(|e| rules::email(&e)).transpose()?;
        let name = description
            .name
            .map(|n| rules::name("name", &n))
            .transpose()?;
        let title = description
            .title
            .map(|t| rules::name("title", &t))
            .transpose()?;
        let organization = match &description.organization {
            Some(org) => Some(self.organization(org).await?),
            None => None,
        };
        let write = self.begin_write().await?;
        let existing = contact::Entity::find()
            .filter(contact::Column::WorkspaceId.eq(self.id()))
            .filter(contact::Column::ExternalId.eq(id.as_str()))
            .one(&*write)
            .await?;
        let mut active = match existing {
            Some(found) => found.into_active_model(),
            None => contact::ActiveModel {
                workspace_id: Set(self.id()),
                external_id: Set(id.to_string()),
                stage: Set(hourglass_core::Stage::DEFAULTS[0].to_owned()),
                created_at: Set(to_millis(Utc::now())),
                ..Default::default()
            },
        };
        if let Some(email) = email {
            active.email = Set(Some(email));
        }
        if let Some(name) = name {
            active.name = Set(Some(name));
        }
        if let Some(title) = title {
            active.title = Set(Some(title));
        }
        if let Some(organization) = &organization {
            active.organization_id = Set(Some(organization.id));
        }
        let contact = active.save(&*write).await?.try_into_model()?;
        write.commit().await?;
        self.with_organization(contact).await
    }

    /// Records what a campaign spent in one channel on one day, replacing an earlier
    /// figure for the same day.
    pub async fn record_spend(
        &self,
        campaign: &ExternalId,
        channel: &str,
        day: NaiveDate,
        amount: f64,
    ) -> Result<spend::Model> {
        let amount = rules::amount("amount", amount)?;
        let channel = hourglass_core::event::channel(channel)?;
        let campaign = self.campaign(campaign).await?;
        let row = spend::ActiveModel {
            workspace_id: Set(self.id()),
            campaign_id: Set(campaign.id),
            channel: Set(channel.clone()),
            day: Set(day),
            amount: Set(amount),
            ..Default::default()
        };
        let write = self.begin_write().await?;
        spend::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    spend::Column::CampaignId,
                    spend::Column::Channel,
                    spend::Column::Day,
                ])
                .update_column(spend::Column::Amount)
                .to_owned(),
            )
            .exec_without_returning(&*write)
            .await?;
        let row = spend::Entity::find()
            .filter(spend::Column::CampaignId.eq(campaign.id))
            .filter(spend::Column::Channel.eq(channel))
            .filter(spend::Column::Day.eq(day))
            .one(&*write)
            .await?
            .ok_or_else(|| StorageError::not_found("spend", day.to_string()))?;
        write.commit().await?;
        Ok(row)
    }

    /// External ids of rows of `E` by row id, all within this workspace (each id asked
    /// once, in chunks; unknown ones left out).
    pub(crate) async fn external_ids<E>(
        &self,
        ids: impl Iterator<Item = i64>,
    ) -> Result<HashMap<i64, String>>
    where
        E: EntityTrait,
        E::Column: ExternalIdColumns,
    {
        let ids: Vec<i64> = ids
            .collect::<std::collections::BTreeSet<i64>>()
            .into_iter()
            .collect();
        let mut names = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(crate::LOOKUP_CHUNK) {
            let rows: Vec<(i64, String)> = E::find()
                .select_only()
                .column(E::Column::ID)
                .column(E::Column::EXTERNAL_ID)
                .filter(E::Column::WORKSPACE_ID.eq(self.id()))
                .filter(E::Column::ID.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(&self.store.db)
                .await?;
            names.extend(rows);
        }
        Ok(names)
    }
}

/// The columns every catalog table has, named once per entity.
pub(crate) trait ExternalIdColumns: ColumnTrait {
    const ID: Self;
    const EXTERNAL_ID: Self;
    const WORKSPACE_ID: Self;
}

macro_rules! external_id_columns {
    ($($module:ident),+) => {$(
        impl ExternalIdColumns for $module::Column {
            const ID: Self = $module::Column::Id;
            const EXTERNAL_ID: Self = $module::Column::ExternalId;
            const WORKSPACE_ID: Self = $module::Column::WorkspaceId;
        }
    )+};
}
external_id_columns!(asset, campaign, contact, organization);

fn already_exists(what: &'static str, id: &ExternalId) -> StorageError {
    StorageError::AlreadyExists {
        what,
        id: id.to_string(),
    }
}
