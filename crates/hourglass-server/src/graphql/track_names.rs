//! How a workspace reads the names of Segment `track` calls: the built-in names and
//! its own mapping over them (see `hourglass_core::segment`).

use async_graphql::{Context, ID, Object, SimpleObject};
use hourglass_core::Permission;
use hourglass_core::segment::BUILT_IN_TRACK_NAMES;

use super::caller;
use super::types::EventKind;
use crate::error::ApiResult;

/// A tracked event name and the kind a `track` call of that name becomes. Names
/// compare without case, spaces or punctuation: `Webinar Attended` is
/// `webinar_attended`. A name nobody mapped becomes CUSTOM, with the name kept in
/// `properties.event`.
#[derive(SimpleObject, Debug, Clone)]
pub struct TrackName {
    pub name: String,
    pub kind: EventKind,
    /// Whether hourglass knows the name itself (not the workspace's own mapping).
    pub built_in: bool,
}

#[derive(Debug, Default)]
pub struct TrackNameQuery;

#[Object]
impl TrackNameQuery {
    /// The workspace's own track names first, then the built-in ones (an own name
    /// wins over a built-in one of the same spelling).
    async fn track_names(&self, ctx: &Context<'_>, workspace: ID) -> ApiResult<Vec<TrackName>> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let own = ws.own_track_names().await?;
        let built_in = BUILT_IN_TRACK_NAMES
            .iter()
            .flat_map(|(kind, names)| names.iter().map(move |name| (*name, *kind)));
        Ok(own
            .into_iter()
            .map(|(name, kind)| TrackName {
                name,
                kind: kind.into(),
                built_in: false,
            })
            .chain(built_in.map(|(name, kind)| TrackName {
                name: name.to_owned(),
                kind: kind.into(),
                built_in: true,
            }))
            .collect())
    }
}

#[derive(Debug, Default)]
pub struct TrackNameMutation;

#[Object]
impl TrackNameMutation {
    /// Maps a track name to a kind for the events that arrive from now on (stored
    /// events keep their kind). Needs an ADMIN key.
    async fn map_track_name(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        name: String,
        kind: EventKind,
    ) -> ApiResult<TrackName> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        let name = ws.map_track_name(&name, kind.into()).await?;
        Ok(TrackName {
            name,
            kind,
            built_in: false,
        })
    }

    /// Removes the workspace's own mapping of a name (built-in names stay); `false`
    /// when there was none.
    async fn unmap_track_name(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        name: String,
    ) -> ApiResult<bool> {
        let ws = caller(ctx)?
            .workspace(&workspace, Permission::Administer)
            .await?;
        Ok(ws.unmap_track_name(&name).await?)
    }
}
