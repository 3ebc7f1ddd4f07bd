//! Tracker links: made, listed and archived here; followed at `GET /l/{code}`
//! (`crate::links`), where each click is recorded as a CLICK event.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use hourglass_core::Permission;
use hourglass_core::link::{CODE_ALPHABET, CODE_LEN, Destination, Utm};
use hourglass_storage::{NewTrackerLink, StorageError, TrackerLink as StoredLink, WorkspaceStore};
use rand::Rng as _;

use super::{caller, cost, external_id, page, state};
use crate::error::ApiResult;

/// The UTM parameters a link adds to its destination (replacing any of the same
/// name the destination has).
#[derive(InputObject, SimpleObject, Debug, Clone, Default)]
#[graphql(input_name = "UtmInput")]
pub struct UtmParams {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

impl From<UtmParams> for Utm {
    fn from(u: UtmParams) -> Self {
        Utm {
            source: u.source,
            medium: u.medium,
            campaign: u.campaign,
            term: u.term,
            content: u.content,
        }
    }
}

impl From<Utm> for UtmParams {
    fn from(u: Utm) -> Self {
        UtmParams {
            source: u.source,
            medium: u.medium,
            campaign: u.campaign,
            term: u.term,
            content: u.content,
        }
    }
}

/// A tracker link to make.
#[derive(InputObject, Debug, Clone)]
pub struct TrackerLinkInput {
    /// The campaign a click counts for.
    pub campaign: Option<ID>,
    /// The asset it leads to (a landing page, a webinar).
    pub asset: Option<ID>,
    /// Where the link is posted: email, social, paid_search, …
    pub channel: Option<String>,
    /// The contact it was made for (a personalised link in an e-mail): their clicks
    /// count as theirs.
    pub contact: Option<ID>,
    /// Where a click sends the visitor: an absolute http(s) URL, fixed for good.
    pub destination: String,
    #[graphql(default)]
    pub utm: UtmParams,
}

/// A short link that records a click and sends the visitor on.
#[derive(SimpleObject, Debug, Clone)]
pub struct TrackerLink {
    /// The code in its URL.
    pub code: String,
    /// The link to hand out: `<links.public_url>/l/<code>`.
    pub url: String,
    pub destination: String,
    /// Where a click is sent: the destination with the UTM parameters.
    pub redirects_to: String,
    pub campaign: Option<ID>,
    pub asset: Option<ID>,
    pub channel: Option<String>,
    pub contact: Option<ID>,
    pub utm: UtmParams,
    /// Clicks recorded (link-preview robots and HEAD requests are not clicks).
    pub clicks: u64,
    pub archived: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl TrackerLink {
    fn new(public_url: &str, link: StoredLink) -> ApiResult<Self> {
        Ok(Self {
            url: format!("{}/l/{}", public_url.trim_end_matches('/'), link.code),
            redirects_to: link.redirect_to()?,
            code: link.code,
            destination: link.destination,
            campaign: link.campaign.map(ID),
            asset: link.asset.map(ID),
            channel: link.channel,
            contact: link.contact.map(ID),
            utm: link.utm.into(),
            clicks: link.clicks,
            archived: link.archived_at.is_some(),
            archived_at: link.archived_at,
            created_at: link.created_at,
        })
    }
}

/// A fresh code: [`CODE_LEN`] characters of [`CODE_ALPHABET`], about 58 bits.
fn draw_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// Codes drawn before giving up (each clash is a one in 2^58 event).
const DRAWS: usize = 4;

async fn create(ws: &WorkspaceStore, input: TrackerLinkInput) -> ApiResult<StoredLink> {
    let destination = Destination::parse(&input.destination)?;
    let utm = Utm::from(input.utm).validated()?;
    let channel = input
        .channel
        .as_deref()
        .map(hourglass_core::event::channel)
        .transpose()?;
    let id = |value: Option<ID>, field| value.map(|v| external_id(&v, field)).transpose();
    let new = NewTrackerLink {
        code: String::new(),
        campaign: id(input.campaign, "campaign")?,
        asset: id(input.asset, "asset")?,
        channel,
        contact: id(input.contact, "contact")?,
        destination,
        utm,
    };
    let mut draws = 0;
    loop {
        draws += 1;
        let code = draw_code();
        match ws
            .create_tracker_link(NewTrackerLink {
                code,
                ..new.clone()
            })
            .await
        {
            Err(StorageError::AlreadyExists { .. }) if draws < DRAWS => {}
            result => return Ok(result?),
        }
    }
}

#[derive(Debug, Default)]
pub struct LinkQuery;

#[Object]
impl LinkQuery {
    /// The workspace's tracker links in creation order; archived ones when asked.
    #[graphql(complexity = "cost::page(first, child_complexity)")]
    async fn tracker_links(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        #[graphql(default)] include_archived: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<OpaqueCursor<i64>, TrackerLink>> {
        let state = state(ctx);
        let has_previous = after.is_some();
        let request = page::request(&state.settings, first, after)?;
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let found = ws.tracker_links(include_archived, request).await?;
        let public_url = state.settings.links.public_url();
        let mut items = Vec::with_capacity(found.items.len());
        for (cursor, link) in found.items {
            items.push((cursor, TrackerLink::new(&public_url, link)?));
        }
        Ok(page::connection(
            hourglass_storage::Page {
                items,
                has_next_page: found.has_next_page,
            },
            has_previous,
            |l| l,
        ))
    }

    async fn tracker_link(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        code: String,
    ) -> ApiResult<TrackerLink> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let link = ws.tracker_link(&code).await?;
        TrackerLink::new(&state(ctx).settings.links.public_url(), link)
    }
}

#[derive(Debug, Default)]
pub struct LinkMutation;

#[Object]
impl LinkMutation {
    /// Makes a tracker link. Needs an ADMIN key, like the rest of the catalog.
    async fn create_tracker_link(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        input: TrackerLinkInput,
    ) -> ApiResult<TrackerLink> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let link = create(&ws, input).await?;
        TrackerLink::new(&state(ctx).settings.links.public_url(), link)
    }

    /// Archives a link: its URL then answers 404 and records nothing. Its clicks
    /// stay in the KPIs.
    async fn archive_tracker_link(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        code: String,
    ) -> ApiResult<TrackerLink> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let link = ws.archive_tracker_link(&code).await?;
        TrackerLink::new(&state(ctx).settings.links.public_url(), link)
    }
}
