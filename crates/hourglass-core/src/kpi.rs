//! Top-of-hourglass KPIs: volume counts and the rates built from them.
//!
//! Storage counts; this module turns counts into the KPIs of domain.md, so the
//! definitions live in one place and are tested without a database.

use std::collections::BTreeMap;

use crate::kinds::{EventKind, Goal};
use crate::stats::Rate;

/// What storage counts for one filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopCounts {
    /// Events of each kind. Kinds with no events may be absent.
    pub events: BTreeMap<EventKind, u64>,
    /// Distinct people (contact, else anonymous id) with an impression or page view.
    pub unique_visitors: u64,
    /// The people of the funnel: of the filtered asset's family, or of every asset.
    pub funnel: FunnelCounts,
}

impl TopCounts {
    pub fn count(&self, kind: EventKind) -> u64 {
        self.events.get(&kind).copied().unwrap_or(0)
    }
}

/// The top of the hourglass for one filter: counts and honest rates.
#[derive(Debug, Clone, PartialEq)]
pub struct TopReport {
    pub counts: TopCounts,
    /// clicks / impressions.
    pub click_through_rate: Rate,
    /// landing-page viewers who registered / landing-page viewers.
    pub registration_rate: Rate,
    /// registrants who attended / registrants.
    pub attendance_rate: Rate,
}

impl TopReport {
    pub fn from_counts(counts: TopCounts, min_sample: u64) -> Self {
        Self {
            click_through_rate: Rate::new(
                counts.count(EventKind::Click),
                counts.count(EventKind::Impression),
                min_sample,
            ),
            registration_rate: counts.funnel.registration_rate(min_sample),
            attendance_rate: counts.funnel.attendance_rate(min_sample),
            counts,
        }
    }
}

/// Distinct people at each step of a webinar's funnel, and of each step's people
/// those who also took the step before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunnelCounts {
    /// Distinct people who viewed a landing page of the asset (or any, unfiltered).
    pub landing_viewers: u64,
    /// Distinct people who registered.
    pub registrants: u64,
    /// Distinct people who attended.
    pub attendees: u64,
    /// Registrants who also viewed a landing page: the registration rate's numerator,
    /// so that the rate is a proportion of the viewers.
    pub registered_viewers: u64,
    /// Attendees who also registered: the attendance rate's numerator.
    pub registered_attendees: u64,
}

/// One step of a funnel: how many people reached it, and the rate from the step before.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelStep {
    pub name: &'static str,
    pub count: u64,
    /// Of the previous step's people, the share who took this step too (a proportion:
    /// someone who registered without viewing the landing page counts in `count`, not
    /// in the rate); `None` for the first step.
    pub rate: Option<Rate>,
}

impl FunnelCounts {
    /// Of the landing-page viewers, the share who registered.
    pub fn registration_rate(&self, min_sample: u64) -> Rate {
        Rate::new(self.registered_viewers, self.landing_viewers, min_sample)
    }

    /// Of the registrants, the share who attended.
    pub fn attendance_rate(&self, min_sample: u64) -> Rate {
        Rate::new(self.registered_attendees, self.registrants, min_sample)
    }

    /// Landing views → registrations → attendance.
    pub fn steps(&self, min_sample: u64) -> Vec<FunnelStep> {
        vec![
            FunnelStep {
                name: "LANDING_VIEWS",
                count: self.landing_viewers,
                rate: None,
            },
            FunnelStep {
                name: "REGISTRATIONS",
                count: self.registrants,
                rate: Some(self.registration_rate(min_sample)),
            },
            FunnelStep {
                name: "ATTENDANCE",
                count: self.attendees,
                rate: Some(self.attendance_rate(min_sample)),
            },
        ]
    }
}

/// One entry of the KPI catalog: what a KPI means and which goals it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KpiDefinition {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub goals: &'static [Goal],
    pub is_rate: bool,
}

/// Every built-in top-of-hourglass KPI, in the order a dashboard shows them.
pub const CATALOG: &[KpiDefinition] = &[
    KpiDefinition {
        key: "impressions",
        name: "Impressions",
        description: "Events of kind IMPRESSION in the filter.",
        goals: &[Goal::Find, Goal::Grow],
        is_rate: false,
    },
    KpiDefinition {
        key: "pageViews",
        name: "Page views",
        description: "Events of kind PAGE_VIEW in the filter.",
        goals: &[Goal::Find, Goal::Grow],
        is_rate: false,
    },
    KpiDefinition {
        key: "uniqueVisitors",
        name: "Unique visitors",
        description: "Distinct people (contact id, else anonymous id) with an impression or page view.",
        goals: &[Goal::Find, Goal::Grow],
        is_rate: false,
    },
    KpiDefinition {
        key: "engagements",
        name: "Engagements",
        description: "Likes, shares, reposts, comments, clicks and downloads.",
        goals: &[Goal::Find],
        is_rate: false,
    },
    KpiDefinition {
        key: "clickThroughRate",
        name: "Click-through rate",
        description: "Clicks / impressions.",
        goals: &[Goal::Find],
        is_rate: true,
    },
    KpiDefinition {
        key: "registrationRate",
        name: "Registration rate",
        description: "Distinct landing-page viewers who registered / distinct landing-page viewers.",
        goals: &[Goal::Find],
        is_rate: true,
    },
    KpiDefinition {
        key: "attendanceRate",
        name: "Attendance rate",
        description: "Distinct registrants who attended / distinct registrants.",
        goals: &[Goal::Find, Goal::Keep],
        is_rate: true,
    },
    KpiDefinition {
        key: "stages",
        name: "Lifecycle stages",
        description: "People whom a STAGE_CHANGE moved to each of the workspace's stages or a \
                      later one, with the conversion from the stage before.",
        goals: &[Goal::Find, Goal::Grow],
        is_rate: false,
    },
    KpiDefinition {
        key: "nps",
        name: "Net Promoter Score",
        description: "% promoters (9-10) - % detractors (0-6) over the latest answer of each \
                      person to each survey, from -100 to 100, with a 95 % adjusted-Wald interval.",
        goals: &[Goal::Keep, Goal::Grow],
        is_rate: false,
    },
];

/// The catalog with the KPIs that serve `goal` first, each part in catalog order: what
/// a campaign's dashboard shows first, since a campaign has one goal.
pub fn catalog_for(goal: Goal) -> Vec<&'static KpiDefinition> {
    let (serving, others): (Vec<_>, Vec<_>) = CATALOG.iter().partition(|k| k.goals.contains(&goal));
    serving.into_iter().chain(others).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_goals_catalog_leads_with_what_serves_it() {
        for goal in Goal::ALL {
            let ordered = catalog_for(*goal);
            assert_eq!(ordered.len(), CATALOG.len());
            let first_other = ordered
                .iter()
                .position(|k| !k.goals.contains(goal))
                .unwrap_or(ordered.len());
            assert!(
                ordered[..first_other]
                    .iter()
                    .all(|k| k.goals.contains(goal))
            );
            assert!(
                ordered[first_other..]
                    .iter()
                    .all(|k| !k.goals.contains(goal))
            );
            assert!(first_other > 0, "{goal:?} is served by some KPI");
        }
        let keep: Vec<&str> = catalog_for(Goal::Keep).iter().map(|k| k.key).collect();
        assert_eq!(&keep[..2], &["attendanceRate", "nps"]);
    }

    #[test]
    fn rates_follow_the_definitions_of_domain_md() {
        let counts = TopCounts {
            events: BTreeMap::from([(EventKind::Impression, 200), (EventKind::Click, 9)]),
            unique_visitors: 150,
            funnel: FunnelCounts {
                landing_viewers: 40,
                registrants: 12,
                attendees: 7,
                registered_viewers: 10,
                registered_attendees: 6,
            },
        };
        let report = TopReport::from_counts(counts, 30);
        assert_eq!(report.click_through_rate.value, Some(9.0 / 200.0));
        assert_eq!(report.click_through_rate.n, 200);
        // Two registrants came without viewing a landing page, one attendee without
        // registering: counted as people, not in the rates.
        assert_eq!(report.registration_rate.value, Some(10.0 / 40.0));
        assert!(report.registration_rate.sufficient);
        assert_eq!(report.attendance_rate.value, Some(0.5));
        assert_eq!(report.attendance_rate.n, 12);
        assert!(!report.attendance_rate.sufficient, "10 registrants < 30");
    }

    #[test]
    fn funnel_steps_rate_against_the_step_before() {
        let steps = FunnelCounts {
            landing_viewers: 100,
            registrants: 27,
            attendees: 21,
            registered_viewers: 25,
            registered_attendees: 20,
        }
        .steps(30);
        assert_eq!(steps[1].count, 27, "every registrant is counted");
        assert_eq!(steps[0].rate, None);
        assert_eq!(steps[1].rate.unwrap().value, Some(0.25));
        assert_eq!(steps[2].rate.unwrap().value, Some(20.0 / 27.0));
        assert_eq!(steps[2].rate.unwrap().n, 27);
    }

    #[test]
    fn every_catalog_key_is_unique_and_serves_a_goal() {
        let mut keys: Vec<_> = CATALOG.iter().map(|k| k.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), CATALOG.len());
        assert!(CATALOG.iter().all(|k| !k.goals.is_empty()));
    }
}
