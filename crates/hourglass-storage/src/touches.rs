//! Marketing touches: the earlier events of a person or an account that an outcome
//! (a sale, a new lead, a registration) is credited to.

use std::collections::{BTreeSet, HashMap};

use hourglass_core::EventKind;
use hourglass_core::attribution::Attribution;
use sea_orm::FromQueryResult;
use sea_orm::sea_query::{Alias, Condition, Expr, ExprTrait, Query};

use crate::entities::event;
use crate::error::Result;
use crate::workspaces::WorkspaceStore;

/// Kinds that are outcomes rather than marketing touches: they never earn credit.
const NOT_TOUCHES: [EventKind; 2] = [EventKind::Revenue, EventKind::StageChange];

/// Whether an event of `kind` is a marketing touch that can earn credit.
pub(crate) fn is_touch_kind(kind: EventKind) -> bool {
    !NOT_TOUCHES.contains(&kind)
}

/// Contacts or organizations per touch query: keeps every `IN` list small.
const IDS_PER_QUERY: usize = 500;

/// When an outcome happened, and to whom: what its touches are looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Moment {
    pub at: i64,
    pub contact_id: Option<i64>,
    pub organization_id: Option<i64>,
}

/// An event that can earn credit, by row ids.
#[derive(Debug, Clone, FromQueryResult)]
pub(crate) struct TouchRow {
    pub id: i64,
    pub occurred_at: i64,
    pub contact_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub channel: Option<String>,
    pub asset_id: Option<i64>,
}

/// Touches in time order, indexed by contact and by organization, so that an
/// outcome's window is two binary searches rather than a walk of every touch.
#[derive(Debug, Default)]
pub(crate) struct TouchIndex {
    touches: Vec<TouchRow>,
    by_contact: HashMap<i64, Vec<usize>>,
    by_organization: HashMap<i64, Vec<usize>>,
}

impl TouchIndex {
    pub fn new(mut touches: Vec<TouchRow>) -> Self {
        touches.sort_by_key(|t| (t.occurred_at, t.id));
        let mut index = Self::default();
        for (at, touch) in touches.iter().enumerate() {
            if let Some(contact) = touch.contact_id {
                index.by_contact.entry(contact).or_default().push(at);
            }
            if let Some(organization) = touch.organization_id {
                index
                    .by_organization
                    .entry(organization)
                    .or_default()
                    .push(at);
            }
        }
        index.touches = touches;
        index
    }

    /// The touches of the moment's contact and of its organization in `[at −
    /// lookback, at)`, oldest first; a touch of the contact that also names the
    /// organization is one touch.
    pub fn before(
        &self,
        moment: &Moment,
        attribution: Attribution,
    ) -> impl Iterator<Item = &TouchRow> {
        let from = moment.at.saturating_sub(attribution.lookback_ms());
        let window = |map: &HashMap<i64, Vec<usize>>, id: Option<i64>| -> Vec<usize> {
            let Some(list) = id.and_then(|id| map.get(&id)) else {
                return Vec::new();
            };
            let start = list.partition_point(|i| self.touches[*i].occurred_at < from);
            let end = list.partition_point(|i| self.touches[*i].occurred_at < moment.at);
            list[start..end.max(start)].to_vec()
        };
        let mut mine: BTreeSet<usize> = BTreeSet::new();
        mine.extend(window(&self.by_contact, moment.contact_id));
        mine.extend(window(&self.by_organization, moment.organization_id));
        mine.into_iter().map(|at| &self.touches[at])
    }
}

impl WorkspaceStore {
    /// Every touch that could earn credit at `moments`: events with a campaign or a
    /// channel of their contacts and organizations that also meet `only`, from the
    /// first moment's window to the last moment.
    pub(crate) async fn touches_of(
        &self,
        moments: &[Moment],
        attribution: Attribution,
        only: Condition,
    ) -> Result<Vec<TouchRow>> {
        let (Some(first), Some(last)) = (
            moments.iter().map(|m| m.at).min(),
            moments.iter().map(|m| m.at).max(),
        ) else {
            return Ok(Vec::new());
        };
        let contacts: BTreeSet<i64> = moments.iter().filter_map(|m| m.contact_id).collect();
        let organizations: BTreeSet<i64> =
            moments.iter().filter_map(|m| m.organization_id).collect();
        let contacts: Vec<i64> = contacts.into_iter().collect();
        let organizations: Vec<i64> = organizations.into_iter().collect();

        let e = Alias::new("e");
        let col = |name: &str| Expr::col((e.clone(), Alias::new(name)));
        let window = Condition::all()
            .add(col("workspace_id").eq(self.id()))
            .add(col("occurred_at").gte(first.saturating_sub(attribution.lookback_ms())))
            .add(col("occurred_at").lt(last))
            .add(col("kind").is_not_in(NOT_TOUCHES.map(EventKind::as_str)))
            .add(
                Condition::any()
                    .add(col("campaign_id").is_not_null())
                    .add(col("channel").is_not_null()),
            )
            .add(only);
        let mut found: HashMap<i64, TouchRow> = HashMap::new();
        for (column, ids) in [
            ("contact_id", &contacts),
            ("organization_id", &organizations),
        ] {
            for chunk in ids.chunks(IDS_PER_QUERY) {
                let mut query = Query::select();
                query
                    .columns(
                        [
                            "id",
                            "occurred_at",
                            "contact_id",
                            "organization_id",
                            "campaign_id",
                            "channel",
                            "asset_id",
                        ]
                        .map(|c| (e.clone(), Alias::new(c))),
                    )
                    .from_as(event::Entity, e.clone())
                    .cond_where(window.clone().add(col(column).is_in(chunk.iter().copied())));
                for row in self.select::<TouchRow>(&query).await? {
                    found.insert(row.id, row);
                }
            }
        }
        Ok(found.into_values().collect())
    }
}
