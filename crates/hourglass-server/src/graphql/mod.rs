//! The GraphQL schema: one query and one mutation object per area, merged.

mod admission;
pub use admission::{BatchSeat, ConnectionKey};
mod advice;
mod catalog;
mod compare;
mod cost;
mod depth;
mod errors;
mod events;
mod filter;
mod hourglass;
mod ingest;
mod keys;
mod kpis;
mod leads;
mod limits;
mod links;
pub mod live;
mod money;
mod observe;
mod page;
mod parsed;
pub use parsed::ParsedDocuments;
mod scripts;
mod series;
mod track_names;
pub mod types;
mod workspaces;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{ID, MergedObject, Schema};
use hourglass_core::ExternalId;
use hourglass_storage::Store;

use crate::access::{Caller, RateLimits};
use crate::error::{ApiError, ApiResult};
use crate::scripts::ScriptRunner;
use crate::settings::Settings;

pub use errors::ErrorCodes;

/// What every resolver can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub scripts: ScriptRunner,
    /// Committed ingest batches, for subscriptions.
    pub ingest_feed: live::IngestFeed,
    /// The KPI reports live subscribers watch, one computation per filter.
    pub kpi_watches: live::KpiWatches,
    /// Per-key request rates and failed authentications per address: every
    /// transport counts against the same limits.
    pub rate_limits: RateLimits,
}

impl AppState {
    /// The state of one process (the server, or a CLI command that ingests) on
    /// `store`: fresh rate limits, script slots, feeds and live reports.
    pub fn new(store: Store, settings: Arc<Settings>) -> Self {
        Self {
            scripts: ScriptRunner::new(&settings.scripts),
            rate_limits: RateLimits::new(&settings.rate_limit),
            ingest_feed: Default::default(),
            kpi_watches: Default::default(),
            store,
            settings,
        }
    }
}

/// Reads the application state from a resolver's context; it is always registered.
pub(crate) fn state<'a>(ctx: &async_graphql::Context<'a>) -> &'a AppState {
    ctx.data_unchecked::<AppState>()
}

/// The request's authenticated caller: the only way resolvers reach a workspace.
/// The transport refuses requests without a valid key before they get here.
pub(crate) fn caller<'a>(ctx: &async_graphql::Context<'a>) -> ApiResult<&'a Caller> {
    ctx.data_opt::<Caller>()
        .ok_or_else(|| ApiError::Unauthenticated("send an API key".into()))
}

/// A client id argument as an [`ExternalId`], or `BAD_USER_INPUT` naming the field.
pub(crate) fn external_id(id: &ID, field: &'static str) -> ApiResult<ExternalId> {
    ExternalId::parse(id.as_str(), field).map_err(|e| ApiError::BadUserInput {
        message: e.to_string(),
        field: Some(field.to_owned()),
    })
}

#[derive(MergedObject, Debug, Default)]
pub struct Query(
    keys::KeyQuery,
    workspaces::WorkspaceQuery,
    catalog::CatalogQuery,
    kpis::KpiQuery,
    series::SeriesQuery,
    compare::CompareQuery,
    advice::AdviceQuery,
    hourglass::HourglassQuery,
    scripts::ScriptQuery,
    events::EventQuery,
    links::LinkQuery,
    track_names::TrackNameQuery,
);

#[derive(MergedObject, Debug, Default)]
pub struct Mutation(
    keys::KeyMutation,
    workspaces::WorkspaceMutation,
    ingest::IngestMutation,
    catalog::CatalogMutation,
    scripts::ScriptMutation,
    links::LinkMutation,
    track_names::TrackNameMutation,
);

pub type HourglassSchema = Schema<Query, Mutation, live::LiveSubscription>;

/// Builds the schema with its limits; `state` is `None` only to print the SDL.
/// `documents` is the schema's own cache of parsed documents (a kept document has
/// passed this schema's limits), shared with the transports that run it.
pub fn build_schema(
    settings: &Settings,
    state: Option<AppState>,
    documents: &ParsedDocuments,
) -> HourglassSchema {
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        live::LiveSubscription,
    )
    // Outermost: it times everything below and sees the codes ErrorCodes gives.
    .extension(observe::Observe)
    .extension(ErrorCodes)
    .extension(admission::Admission::new(&settings.graphql))
    .extension(limits::DocumentLimits {
        max_aliases: settings.graphql.max_aliases,
        introspection: settings.graphql.introspection,
    })
    // Innermost: the rules above run on every document, cached or not.
    .extension(documents.clone())
    .limit_depth(settings.graphql.max_depth)
    .limit_recursive_depth(32)
    .limit_directives(16);
    if !settings.graphql.introspection {
        builder = builder.disable_introspection();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    // One loader for the schema: keys carry their workspace handle, and nothing is
    // cached between requests, so it only batches what runs at the same time.
    builder = builder.data(DataLoader::new(depth::DepthLoader, tokio::spawn));
    builder = builder.data(DataLoader::new(leads::LeadLoader, tokio::spawn));
    builder.finish()
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(&Settings::default(), None, &ParsedDocuments::default()).sdl()
}
