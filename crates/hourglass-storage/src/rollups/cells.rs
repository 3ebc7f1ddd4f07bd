//! Rollup rows and raw edges folded into one shape, and the top-of-hourglass counts
//! computed from it. Whatever a range was read from, the KPIs come out of here.

use std::collections::{BTreeMap, HashMap, HashSet};

use hourglass_core::{EventKind, FunnelCounts, TopCounts};
use roaring::RoaringBitmap;

/// Events, value sum and people of one kind on one asset (or all assets).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tally {
    pub events: u64,
    pub value_sum: f64,
    pub people: RoaringBitmap,
}

impl Tally {
    pub fn absorb(&mut self, other: &Tally) {
        self.events += other.events;
        self.value_sum += other.value_sum;
        self.people |= &other.people;
    }
}

/// Where a filter's funnel looks: the whole filter, or the asset's family.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    /// The filtered asset; `None` when the filter names none.
    pub asset: Option<i64>,
    /// The asset, its landing page and what it promotes.
    pub family: Vec<i64>,
    /// Every asset of kind LANDING_PAGE (of the family, when there is an asset).
    pub landing: HashSet<i64>,
}

/// Tallies by kind, for all assets (`None`) and per asset.
#[derive(Debug, Default)]
pub(crate) struct Cells {
    tallies: HashMap<(EventKind, Option<i64>), Tally>,
}

impl Cells {
    /// Adds a rollup row or raw group to the cell of its kind and asset.
    pub fn add(&mut self, kind: EventKind, asset: Option<i64>, tally: &Tally) {
        self.tallies.entry((kind, asset)).or_default().absorb(tally);
    }

    /// Adds raw events of one kind, asset and person to both the all-assets cell and
    /// the asset's own.
    pub fn add_raw(
        &mut self,
        kind: EventKind,
        asset: Option<i64>,
        person: Option<u32>,
        events: u64,
        value_sum: f64,
    ) {
        let mut tally = Tally {
            events,
            value_sum,
            people: RoaringBitmap::new(),
        };
        if let Some(person) = person {
            tally.people.insert(person);
        }
        self.add(kind, None, &tally);
        if asset.is_some() {
            self.add(kind, asset, &tally);
        }
    }

    fn tallies<'a>(
        &'a self,
        kinds: &'a [EventKind],
        assets: AssetPick<'a>,
    ) -> impl Iterator<Item = &'a Tally> + 'a {
        self.tallies
            .iter()
            .filter(move |((kind, asset), _)| kinds.contains(kind) && assets.admits(*asset))
            .map(|(_, tally)| tally)
    }

    fn people(&self, kinds: &[EventKind], assets: AssetPick<'_>) -> RoaringBitmap {
        let mut union = RoaringBitmap::new();
        for tally in self.tallies(kinds, assets) {
            union |= &tally.people;
        }
        union
    }

    /// The counts of `TopCounts`, with the same meaning as the raw queries: event
    /// counts and visitors on the filter's asset exactly, funnel people on its family.
    pub fn top_counts(&self, scope: &Scope) -> TopCounts {
        let exact = match &scope.asset {
            None => AssetPick::All,
            Some(id) => AssetPick::Only(std::slice::from_ref(id)),
        };
        let mut events = BTreeMap::new();
        for ((kind, asset), tally) in &self.tallies {
            if exact.admits(*asset) && tally.events > 0 {
                *events.entry(*kind).or_insert(0) += tally.events;
            }
        }
        TopCounts {
            events,
            unique_visitors: self.people(EventKind::VISIT_KINDS, exact).len(),
            funnel: self.funnel(scope),
        }
    }

    /// Distinct people at each step of the funnel within the scope.
    pub fn funnel(&self, scope: &Scope) -> FunnelCounts {
        let family = match scope.asset {
            None => AssetPick::All,
            Some(_) => AssetPick::Only(&scope.family),
        };
        let viewers = self.people(&[EventKind::PageView], AssetPick::In(&scope.landing));
        let registrants = self.people(&[EventKind::Registration], family);
        let attendees = self.people(&[EventKind::Attendance], family);
        FunnelCounts {
            landing_viewers: viewers.len(),
            registrants: registrants.len(),
            attendees: attendees.len(),
            registered_viewers: registrants.intersection_len(&viewers),
            registered_attendees: attendees.intersection_len(&registrants),
        }
    }
}

/// Which cells a count reads.
#[derive(Debug, Clone, Copy)]
enum AssetPick<'a> {
    /// The all-assets cells.
    All,
    /// The cells of these assets.
    Only(&'a [i64]),
    In(&'a HashSet<i64>),
}

impl AssetPick<'_> {
    fn admits(&self, asset: Option<i64>) -> bool {
        match (self, asset) {
            (AssetPick::All, None) => true,
            (AssetPick::Only(ids), Some(id)) => ids.contains(&id),
            (AssetPick::In(ids), Some(id)) => ids.contains(&id),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(rows: &[(EventKind, Option<i64>, u32)]) -> Cells {
        let mut cells = Cells::default();
        for (kind, asset, person) in rows {
            cells.add_raw(*kind, *asset, Some(*person), 1, 0.0);
        }
        cells
    }

    #[test]
    fn people_are_unioned_across_kinds_not_added() {
        use EventKind::*;
        let cells = cells(&[
            (Impression, None, 1),
            (PageView, Some(7), 1),
            (PageView, Some(7), 2),
            (Click, None, 3),
        ]);
        let top = cells.top_counts(&Scope::default());
        assert_eq!(top.unique_visitors, 2);
        assert_eq!(top.count(Impression), 1);
        assert_eq!(top.count(PageView), 2);
        assert_eq!(top.count(Click), 1);
    }

    #[test]
    fn an_asset_filter_counts_its_events_and_its_family_funnel() {
        use EventKind::*;
        let cells = cells(&[
            (PageView, Some(1), 10), // the landing page of webinar 2
            (Registration, Some(1), 10),
            (Attendance, Some(2), 10),
            (Attendance, Some(2), 11),
            (Attendance, Some(3), 12), // another webinar
        ]);
        let scope = Scope {
            asset: Some(2),
            family: vec![2, 1],
            landing: HashSet::from([1]),
        };
        let top = cells.top_counts(&scope);
        assert_eq!(top.count(Attendance), 2);
        assert_eq!(top.count(PageView), 0);
        assert_eq!(
            (
                top.funnel.landing_viewers,
                top.funnel.registrants,
                top.funnel.attendees
            ),
            (1, 1, 2)
        );
    }
}
