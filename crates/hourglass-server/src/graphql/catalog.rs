//! What a workspace describes: campaigns, assets, organizations, contacts, spend.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use hourglass_core::Permission;
use hourglass_core::depth::Ranked;
use hourglass_storage::{
    AssetChanges, AssetRecord, CampaignChanges, ContactDescription, ContactRecord, NewAsset,
    NewCampaign, NewOrganization, OrganizationChanges, WorkspaceStore, from_millis,
};

use super::depth::{DepthLoader, InFilter, OrganizationDepth, OrganizationOrder};
use super::filter::KpiFilterInput;
use super::kpis::{KpiDefinition, KpiReport, kpi_report};
use super::leads::{AudienceMember, AudienceStep, ContactOrder, LeadLoader, PersonDepth, audience};
use super::types::{AssetKind, Goal};
use super::{caller, cost, external_id, page, state};
use crate::error::{ApiError, ApiResult};

/// A marketing effort with exactly one goal.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Campaign {
    pub id: ID,
    pub name: String,
    pub goal: Goal,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub budget: Option<f64>,
    /// ISO 4217 currency of budget and spend.
    pub currency: Option<String>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub workspace: ID,
}

#[ComplexObject]
impl Campaign {
    /// This campaign's top-of-hourglass KPIs; the filter narrows further.
    #[graphql(complexity = "cost::with_children(cost::KPI_REPORT, child_complexity)")]
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        filter: Option<KpiFilterInput>,
    ) -> ApiResult<KpiReport> {
        let mut filter = filter.unwrap_or_default();
        filter.campaign = Some(self.id.clone());
        let ws = caller(ctx)?
            .workspace(&self.workspace, Permission::Read)
            .await?;
        kpi_report(&ws, filter).await
    }

    /// The KPI catalog with the KPIs that serve this campaign's goal first: what its
    /// dashboard shows first.
    async fn kpi_catalog(&self) -> Vec<KpiDefinition> {
        hourglass_core::kpi::catalog_for(self.goal.into())
            .into_iter()
            .map(KpiDefinition::from)
            .collect()
    }
}

impl Campaign {
    fn new(workspace: &ID, c: hourglass_storage::Campaign) -> Self {
        Self {
            id: ID(c.external_id),
            name: c.name,
            goal: c
                .goal
                .parse::<hourglass_core::Goal>()
                .unwrap_or(hourglass_core::Goal::Find)
                .into(),
            starts_at: c.starts_at.map(from_millis),
            ends_at: c.ends_at.map(from_millis),
            budget: c.budget,
            currency: c.currency,
            created_at: from_millis(c.created_at),
            workspace: workspace.clone(),
        }
    }
}

/// A campaign to create.
#[derive(InputObject, Debug)]
pub struct CampaignInput {
    /// Your id for the campaign (the one tracker links carry).
    pub id: ID,
    pub name: String,
    pub goal: Goal,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub budget: Option<f64>,
    pub currency: Option<String>,
}

/// Changes to a campaign; absent fields stay as they are.
#[derive(InputObject, Debug, Default)]
pub struct CampaignUpdateInput {
    pub name: Option<String>,
    pub goal: Option<Goal>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub budget: Option<f64>,
    pub currency: Option<String>,
}

/// A piece of content.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Asset {
    pub id: ID,
    /// Null for an asset first seen in an event and not described yet.
    pub kind: Option<AssetKind>,
    pub title: Option<String>,
    pub url: Option<String>,
    /// Running time of a webinar or video.
    pub duration_seconds: Option<i32>,
    /// The landing page that promotes this asset (a webinar's registration page).
    pub landing_page: Option<ID>,
    pub created_at: DateTime<Utc>,
    /// The workspace handle the asset was read through, its permission checked.
    #[graphql(skip)]
    pub handle: WorkspaceStore,
}

impl Asset {
    fn new(ws: &WorkspaceStore, r: AssetRecord) -> Self {
        Self {
            id: ID(r.asset.external_id),
            kind: r
                .asset
                .kind
                .as_deref()
                .and_then(|k| k.parse::<hourglass_core::AssetKind>().ok())
                .map(Into::into),
            title: r.asset.title,
            url: r.asset.url,
            duration_seconds: r.asset.duration_seconds,
            landing_page: r.landing_page.map(ID),
            created_at: from_millis(r.asset.created_at),
            handle: ws.clone(),
        }
    }
}

#[ComplexObject]
impl Asset {
    /// The named people behind the asset's counts within the filter (whose own asset
    /// must be left out): everyone who engaged with it, or only those who attended,
    /// stayed to the end or asked a question, each with their engagement with this
    /// asset and their colleagues on the same list. Highest lead score on this asset
    /// first. Contacts whose events name no organization are listed too.
    #[graphql(
        complexity = "cost::with_children(cost::DEPTH_RANKING, cost::page(first, child_complexity))"
    )]
    async fn people(
        &self,
        ctx: &Context<'_>,
        filter: Option<KpiFilterInput>,
        #[graphql(default)] who: AudienceStep,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, AudienceMember>> {
        let has_previous = after.is_some();
        let request = page::request(&state(ctx).settings, first, after)?;
        let mut filter = filter.unwrap_or_default().into_filter()?;
        if filter.asset.is_some() {
            return Err(ApiError::BadUserInput {
                message: "the asset is this one: leave filter.asset out".into(),
                field: Some("filter.asset".into()),
            });
        }
        filter.asset = Some(external_id(&self.id, "id")?);
        let leads = self.handle.leads(&filter).await?;
        let listed = page::ranked(&audience(&leads, who), &request);
        let people = listed
            .items
            .iter()
            .map(|(_, (_, (lead, _)))| (lead.person.clone(), lead.score.clone()))
            .collect();
        let people = PersonDepth::described(&self.handle, people).await?;
        let members = listed
            .items
            .into_iter()
            .zip(people)
            .map(|((cursor, (rank, (_, colleagues))), person)| {
                let member = AudienceMember {
                    rank,
                    person,
                    colleagues,
                };
                (cursor, member)
            })
            .collect();
        Ok(page::connection(
            hourglass_storage::Page {
                items: members,
                has_next_page: listed.has_next_page,
            },
            has_previous,
            |m| m,
        ))
    }
}

/// An asset to create.
#[derive(InputObject, Debug)]
pub struct AssetInput {
    pub id: ID,
    pub kind: AssetKind,
    pub title: Option<String>,
    pub url: Option<String>,
    /// Webinars and videos only.
    pub duration_seconds: Option<i32>,
    /// Id of the LANDING_PAGE asset that promotes this one.
    pub landing_page: Option<ID>,
}

/// Changes to an asset; absent fields stay as they are.
#[derive(InputObject, Debug, Default)]
pub struct AssetUpdateInput {
    pub kind: Option<AssetKind>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub duration_seconds: Option<i32>,
    pub landing_page: Option<ID>,
}

/// A prospect or customer account.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Organization {
    pub id: ID,
    pub name: Option<String>,
    /// Web domain, lower case, such as example.com.
    pub domain: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Place on the short list, when listed by DEPTH (1 = deepest).
    pub rank: Option<u64>,
    /// The workspace handle the organization was read through, with the caller's
    /// permission already checked: its fields read through it.
    #[graphql(skip)]
    pub handle: WorkspaceStore,
    #[graphql(skip)]
    pub ranked_depth: Option<OrganizationDepth>,
}

#[ComplexObject]
impl Organization {
    /// How deeply the organization engages. Without a filter, the depth it was ranked
    /// by (when listed by DEPTH) or over all its events; with one, within the filter.
    #[graphql(complexity = "cost::with_children(cost::DEPTH_NODE, child_complexity)")]
    async fn depth(
        &self,
        ctx: &Context<'_>,
        filter: Option<KpiFilterInput>,
    ) -> ApiResult<OrganizationDepth> {
        InFilter::answer::<DepthLoader>(
            ctx,
            &self.handle,
            &self.id,
            filter,
            self.ranked_depth.as_ref(),
        )
        .await
    }

    /// Its people with engagement in the filter, most engaged first: who attended and
    /// for how long, who stayed to the end, who asked. Read per organization (not
    /// batched over a page like `depth`).
    #[graphql(complexity = "cost::with_children(cost::DEPTH_NODE, child_complexity)")]
    async fn people(&self, filter: Option<KpiFilterInput>) -> ApiResult<Vec<PersonDepth>> {
        let filter = filter.unwrap_or_default().into_filter()?;
        let people = self
            .handle
            .people_of(&filter, &external_id(&self.id, "id")?)
            .await?;
        PersonDepth::scored(&self.handle, people).await
    }
}

impl Organization {
    fn new(ws: &WorkspaceStore, o: hourglass_storage::Organization) -> Self {
        Self {
            id: ID(o.external_id),
            name: o.name,
            domain: o.domain,
            created_at: from_millis(o.created_at),
            rank: None,
            handle: ws.clone(),
            ranked_depth: None,
        }
    }

    /// Organizations in short-list order, with their rank and depth.
    pub(crate) async fn ranked(
        ws: &WorkspaceStore,
        ranked: impl Iterator<Item = Ranked>,
    ) -> ApiResult<Vec<Self>> {
        let ranked: Vec<Ranked> = ranked.collect();
        let ids: Vec<String> = ranked.iter().map(|r| r.organization.id.clone()).collect();
        let mut models = ws.organizations_named(&ids).await?;
        Ok(ranked
            .into_iter()
            .filter_map(|r| {
                let model = models.remove(&r.organization.id)?;
                let mut organization = Organization::new(ws, model);
                organization.rank = Some(r.rank);
                organization.ranked_depth = Some(r.depth.into());
                Some(organization)
            })
            .collect())
    }
}

/// An organization to create.
#[derive(InputObject, Debug)]
pub struct OrganizationInput {
    pub id: ID,
    pub name: Option<String>,
    pub domain: Option<String>,
}

/// What is known about a contact; absent fields stay as they are.
#[derive(InputObject, Debug, Default)]
pub struct ContactInput {
    /// An e-mail address, stored in lower case.
    pub email: Option<String>,
    pub name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// The organization the contact belongs to; it must exist.
    pub organization: Option<ID>,
}

/// Changes to an organization; absent fields stay as they are.
#[derive(InputObject, Debug, Default)]
pub struct OrganizationUpdateInput {
    pub name: Option<String>,
    pub domain: Option<String>,
}

/// Most stages one `contacts` query may name: a workspace has a handful.
const MAX_STAGES: usize = 50;

/// A person. Contacts are created by the events that name them.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Contact {
    pub id: ID,
    pub organization: Option<ID>,
    /// Lower case. A share to this address from a colleague is an internal share.
    pub email: Option<String>,
    pub name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Lifecycle stage: VISITOR, LEAD, MQL, SQL, OPPORTUNITY, CUSTOMER or an agency's own,
    /// following the contact's latest STAGE_CHANGE event.
    pub stage: String,
    pub created_at: DateTime<Utc>,
    /// Place on the ranked list of leads, when listed by DEPTH (1 = highest score).
    pub rank: Option<u64>,
    /// The workspace handle the contact was read through, its permission checked.
    #[graphql(skip)]
    pub handle: WorkspaceStore,
    #[graphql(skip)]
    pub ranked_depth: Option<PersonDepth>,
}

impl Contact {
    fn new(ws: &WorkspaceStore, r: ContactRecord) -> Self {
        Self {
            id: ID(r.contact.external_id),
            organization: r.organization.map(ID),
            email: r.contact.email,
            name: r.contact.name,
            title: r.contact.title,
            stage: r.contact.stage,
            created_at: from_millis(r.contact.created_at),
            rank: None,
            handle: ws.clone(),
            ranked_depth: None,
        }
    }
}

#[ComplexObject]
impl Contact {
    /// How deeply the person engages, scored as a lead (`leadScore`, explained part by
    /// part). Without a filter, the depth they were ranked by (when listed by DEPTH)
    /// or over all their events; with one, within the filter.
    #[graphql(complexity = "cost::with_children(cost::DEPTH_NODE, child_complexity)")]
    async fn depth(
        &self,
        ctx: &Context<'_>,
        filter: Option<KpiFilterInput>,
    ) -> ApiResult<PersonDepth> {
        InFilter::answer::<LeadLoader>(
            ctx,
            &self.handle,
            &self.id,
            filter,
            self.ranked_depth.as_ref(),
        )
        .await
    }
}

/// What a campaign spent in one channel on one day.
#[derive(SimpleObject, Clone, Debug)]
pub struct SpendRecord {
    pub campaign: ID,
    pub channel: String,
    pub day: NaiveDate,
    pub amount: f64,
}

#[derive(Debug, Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// One campaign, with its goal and KPIs.
    async fn campaign(&self, ctx: &Context<'_>, workspace: ID, id: ID) -> ApiResult<Campaign> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let campaign = ws.campaign(&external_id(&id, "id")?).await?;
        Ok(Campaign::new(&workspace, campaign))
    }

    /// Campaigns in creation order, optionally of one goal.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        goal: Option<Goal>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, Campaign>> {
        let state = state(ctx);
        let has_previous = after.is_some();
        let request = page::request(&state.settings, first, after)?;
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let found = ws.campaigns(goal.map(Into::into), request).await?;
        Ok(page::connection(found, has_previous, |c| {
            Campaign::new(&workspace, c)
        }))
    }

    async fn asset(&self, ctx: &Context<'_>, workspace: ID, id: ID) -> ApiResult<Asset> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        Ok(Asset::new(&ws, ws.asset(&external_id(&id, "id")?).await?))
    }

    /// Assets in creation order.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn assets(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, Asset>> {
        let state = state(ctx);
        let has_previous = after.is_some();
        let request = page::request(&state.settings, first, after)?;
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        Ok(page::connection(
            ws.assets(request).await?,
            has_previous,
            |a| Asset::new(&ws, a),
        ))
    }

    async fn organization(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        id: ID,
    ) -> ApiResult<Organization> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let found = ws.organization(&external_id(&id, "id")?).await?;
        Ok(Organization::new(&ws, found))
    }

    /// Organizations in creation order, or by DEPTH: the short list, deepest
    /// engagement within the filter first (only organizations with events in it).
    #[graphql(
        complexity = "cost::ranked_page(order_by == OrganizationOrder::Depth, first, child_complexity)"
    )]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        filter: Option<KpiFilterInput>,
        #[graphql(default)] order_by: OrganizationOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, Organization>> {
        let state = state(ctx);
        let has_previous = after.is_some();
        let request = page::request(&state.settings, first, after)?;
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        match order_by {
            OrganizationOrder::Created => {
                if filter.is_some() {
                    return Err(ApiError::BadUserInput {
                        message: "a filter ranks organizations: use it with orderBy: DEPTH".into(),
                        field: Some("filter".into()),
                    });
                }
                Ok(page::connection(
                    ws.organizations(request).await?,
                    has_previous,
                    |o| Organization::new(&ws, o),
                ))
            }
            OrganizationOrder::Depth => {
                let filter = filter.unwrap_or_default().into_filter()?;
                let ranked = ws.short_list(&filter).await?;
                let page = page::ranked(&ranked, &request);
                let organizations =
                    Organization::ranked(&ws, page.items.into_iter().map(|(_, (_, r))| r)).await?;
                // The short list's rank is the item's place in it: its cursor.
                let items = organizations
                    .into_iter()
                    .map(|o| (o.rank.map_or(0, |r| r as i64), o))
                    .collect();
                Ok(page::connection(
                    hourglass_storage::Page {
                        items,
                        has_next_page: page.has_next_page,
                    },
                    has_previous,
                    |o| o,
                ))
            }
        }
    }

    async fn contact(&self, ctx: &Context<'_>, workspace: ID, id: ID) -> ApiResult<Contact> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        Ok(Contact::new(
            &ws,
            ws.contact(&external_id(&id, "id")?).await?,
        ))
    }

    /// Contacts in creation order, or by DEPTH: the ranked list of leads, highest
    /// lead score within the filter first (only contacts with events in it).
    /// Optionally of one organization (with DEPTH: their events naming it) and of
    /// some lifecycle stages only, e.g. `stages: ["MQL", "SQL"]`.
    #[graphql(
        complexity = "cost::ranked_page(order_by == ContactOrder::Depth, first, child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        organization: Option<ID>,
        stages: Option<Vec<String>>,
        filter: Option<KpiFilterInput>,
        #[graphql(default)] order_by: ContactOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, Contact>> {
        let state = state(ctx);
        let has_previous = after.is_some();
        let request = page::request(&state.settings, first, after)?;
        let organization = organization
            .map(|o| external_id(&o, "organization"))
            .transpose()?;
        if stages.as_ref().is_some_and(|s| s.len() > MAX_STAGES) {
            return Err(ApiError::BadUserInput {
                message: format!("stages lists at most {MAX_STAGES} stages"),
                field: Some("stages".into()),
            });
        }
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        match order_by {
            ContactOrder::Created => {
                if filter.is_some() {
                    return Err(ApiError::BadUserInput {
                        message: "a filter ranks contacts: use it with orderBy: DEPTH".into(),
                        field: Some("filter".into()),
                    });
                }
                let found = ws
                    .contacts(organization.as_ref(), stages.as_deref(), request)
                    .await?;
                Ok(page::connection(found, has_previous, |c| {
                    Contact::new(&ws, c)
                }))
            }
            ContactOrder::Depth => {
                let mut filter = filter.unwrap_or_default().into_filter()?;
                if organization.is_some() {
                    filter.organization = organization;
                }
                let leads = ws.leads(&filter).await?;
                let listed: Vec<_> = leads
                    .iter()
                    .filter(|l| stages.as_ref().is_none_or(|s| s.contains(&l.stage)))
                    .cloned()
                    .collect();
                let page = page::ranked(&listed, &request);
                let ids: Vec<String> = page
                    .items
                    .iter()
                    .map(|(_, (_, l))| l.person.contact.clone())
                    .collect();
                let mut records = ws.contact_records(&ids).await?;
                let items = page
                    .items
                    .into_iter()
                    .filter_map(|(cursor, (rank, lead))| {
                        let record = records.remove(&lead.person.contact)?;
                        let person =
                            PersonDepth::new(lead.person, lead.score, Some(&record.contact));
                        let mut contact = Contact::new(&ws, record);
                        contact.rank = Some(rank);
                        contact.ranked_depth = Some(person);
                        Some((cursor, contact))
                    })
                    .collect();
                Ok(page::connection(
                    hourglass_storage::Page {
                        items,
                        has_next_page: page.has_next_page,
                    },
                    has_previous,
                    |c| c,
                ))
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Creates a campaign. A campaign first seen in an event already exists (named
    /// after its id, goal FIND): describe it with updateCampaign.
    async fn create_campaign(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        input: CampaignInput,
    ) -> ApiResult<Campaign> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let created = ws
            .create_campaign(NewCampaign {
                id: external_id(&input.id, "id")?,
                name: input.name,
                goal: input.goal.into(),
                starts_at: input.starts_at,
                ends_at: input.ends_at,
                budget: input.budget,
                currency: input.currency,
            })
            .await?;
        Ok(Campaign::new(&workspace, created))
    }

    async fn update_campaign(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        id: ID,
        input: CampaignUpdateInput,
    ) -> ApiResult<Campaign> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let updated = ws
            .update_campaign(
                &external_id(&id, "id")?,
                CampaignChanges {
                    name: input.name,
                    goal: input.goal.map(Into::into),
                    starts_at: input.starts_at,
                    ends_at: input.ends_at,
                    budget: input.budget,
                    currency: input.currency,
                },
            )
            .await?;
        Ok(Campaign::new(&workspace, updated))
    }

    async fn create_asset(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        input: AssetInput,
    ) -> ApiResult<Asset> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let created = ws
            .create_asset(NewAsset {
                id: external_id(&input.id, "id")?,
                kind: input.kind.into(),
                title: input.title,
                url: input.url,
                duration_seconds: input.duration_seconds,
                landing_page: input
                    .landing_page
                    .map(|lp| external_id(&lp, "landingPage"))
                    .transpose()?,
            })
            .await?;
        Ok(Asset::new(&ws, created))
    }

    /// Describes or changes an asset, including one first seen in an event.
    async fn update_asset(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        id: ID,
        input: AssetUpdateInput,
    ) -> ApiResult<Asset> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let updated = ws
            .update_asset(
                &external_id(&id, "id")?,
                AssetChanges {
                    kind: input.kind.map(Into::into),
                    title: input.title,
                    url: input.url,
                    duration_seconds: input.duration_seconds,
                    landing_page: input
                        .landing_page
                        .map(|lp| external_id(&lp, "landingPage"))
                        .transpose()?,
                },
            )
            .await?;
        Ok(Asset::new(&ws, updated))
    }

    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        input: OrganizationInput,
    ) -> ApiResult<Organization> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let created = ws
            .create_organization(NewOrganization {
                id: external_id(&input.id, "id")?,
                name: input.name,
                domain: input.domain,
            })
            .await?;
        Ok(Organization::new(&ws, created))
    }

    /// Describes a contact (ADMIN): e-mail, name, title, organization. A contact no
    /// event has named yet is created as a VISITOR. Internal shares compare share
    /// recipients with colleagues' e-mail addresses given here.
    async fn describe_contact(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        id: ID,
        input: ContactInput,
    ) -> ApiResult<Contact> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let described = ws
            .describe_contact(
                &external_id(&id, "id")?,
                ContactDescription {
                    email: input.email,
                    name: input.name,
                    title: input.title,
                    organization: input
                        .organization
                        .map(|o| external_id(&o, "organization"))
                        .transpose()?,
                },
            )
            .await?;
        Ok(Contact::new(&ws, described))
    }

    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        id: ID,
        input: OrganizationUpdateInput,
    ) -> ApiResult<Organization> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let updated = ws
            .update_organization(
                &external_id(&id, "id")?,
                OrganizationChanges {
                    name: input.name,
                    domain: input.domain,
                },
            )
            .await?;
        Ok(Organization::new(&ws, updated))
    }

    /// Records what a campaign spent in one channel on one day (UTC), replacing an
    /// earlier figure for that day.
    async fn record_spend(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        campaign: ID,
        channel: String,
        day: NaiveDate,
        amount: f64,
    ) -> ApiResult<SpendRecord> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let recorded = ws
            .record_spend(&external_id(&campaign, "campaign")?, &channel, day, amount)
            .await?;
        Ok(SpendRecord {
            campaign,
            channel: recorded.channel,
            day: recorded.day,
            amount: recorded.amount,
        })
    }
}
