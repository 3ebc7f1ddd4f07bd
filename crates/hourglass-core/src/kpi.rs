//! Top-of-hourglass KPIs: volume counts and the rates built from them.
//!
//! Storage counts; this module turns counts into the KPIs of domain.md, so the
//! definitions live in one place and are tested without a database.

use std::collections::BTreeMap;

use crate::kinds::Goal::{Find, Grow, Keep};
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

/// What a KPI's value is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of events.
    Events,
    /// A number of distinct people.
    People,
    /// A proportion with its sample and interval (a `Rate`).
    Rate,
    /// A score on its own scale (NPS: −100…100).
    Score,
    /// An amount of money, per currency.
    Money,
    /// Money per person who reached an outcome.
    MoneyPerOutcome,
    /// A ratio of money to money (ROI: 1.5 means 150 % back on top of the spend).
    Ratio,
}

/// Which half of the hourglass a KPI measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// Volume: reaching and engaging people, up to the lead.
    Top,
    /// Depth and its returns: leads, customers, advocacy, revenue.
    Bottom,
}

/// One entry of the KPI catalog: what a KPI means and which goals it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KpiDefinition {
    /// The `KpiReport` field that holds it.
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub unit: Unit,
    pub half: Half,
    pub goals: &'static [Goal],
}

/// A catalog entry, shorter to write.
const fn kpi(
    key: &'static str,
    name: &'static str,
    unit: Unit,
    half: Half,
    goals: &'static [Goal],
    description: &'static str,
) -> KpiDefinition {
    KpiDefinition {
        key,
        name,
        description,
        unit,
        half,
        goals,
    }
}

/// Every built-in KPI, in the order a dashboard shows them: the top of the hourglass,
/// then the bottom, then money. A table, so laid out as one.
#[rustfmt::skip]
pub const CATALOG: &[KpiDefinition] = &[
    kpi("impressions", "Impressions", Unit::Events, Half::Top, &[Find, Grow],
        "Events of kind IMPRESSION in the filter."),
    kpi("pageViews", "Page views", Unit::Events, Half::Top, &[Find, Grow],
        "Events of kind PAGE_VIEW in the filter."),
    kpi("uniqueVisitors", "Unique visitors", Unit::People, Half::Top, &[Find, Grow],
        "Distinct people (contact id, else anonymous id) with an impression or page view."),
    kpi("engagements", "Engagements", Unit::Events, Half::Top, &[Find],
        "Likes, shares, reposts, comments, clicks and downloads."),
    kpi("clickThroughRate", "Click-through rate", Unit::Rate, Half::Top, &[Find],
        "Clicks / impressions."),
    kpi("registrants", "Registrants", Unit::People, Half::Top, &[Find],
        "Distinct people who registered."),
    kpi("registrationRate", "Registration rate", Unit::Rate, Half::Top, &[Find],
        "Distinct landing-page viewers who registered / distinct landing-page viewers."),
    kpi("attendees", "Attendees", Unit::People, Half::Top, &[Find, Keep],
        "Distinct people who attended."),
    kpi("attendanceRate", "Attendance rate", Unit::Rate, Half::Top, &[Find, Keep],
        "Distinct registrants who attended / distinct registrants."),
    kpi("stages", "Lifecycle stages", Unit::People, Half::Bottom, &[Find, Grow],
        "People whom a STAGE_CHANGE moved to each of the workspace's stages or a later one, \
         with the conversion from the stage before."),
    kpi("nps", "Net Promoter Score", Unit::Score, Half::Bottom, &[Keep, Grow],
        "% promoters (9-10) - % detractors (0-6) over the latest answer of each person to \
         each survey, from -100 to 100, with a 95 % adjusted-Wald interval."),
    kpi("referrals", "Referrals", Unit::Events, Half::Bottom, &[Find, Grow],
        "Events of kind REFERRAL: customers bringing in others."),
    kpi("testimonials", "Testimonials", Unit::Events, Half::Bottom, &[Keep, Grow],
        "Events of kind TESTIMONIAL."),
    kpi("mentions", "Mentions", Unit::Events, Half::Bottom, &[Find, Grow],
        "Events of kind MENTION: people naming the brand on their own."),
    kpi("spend", "Spend", Unit::Money, Half::Bottom, &[Find, Keep, Grow],
        "Money spent on the filter's campaigns and channels over its days."),
    kpi("revenue", "Revenue", Unit::Money, Half::Bottom, &[Grow, Keep],
        "Sum of REVENUE amounts in the filter, per currency."),
    kpi("costPerLead", "Cost per lead", Unit::MoneyPerOutcome, Half::Bottom, &[Find],
        "Spend / people who reached LEAD (or a later stage) in the filter."),
    kpi("costPerRegistrant", "Cost per registrant", Unit::MoneyPerOutcome, Half::Top, &[Find],
        "Spend / distinct registrants."),
    kpi("costPerAttendee", "Cost per attendee", Unit::MoneyPerOutcome, Half::Top, &[Find, Keep],
        "Spend / distinct attendees."),
    kpi("costPerCustomer", "Cost per customer", Unit::MoneyPerOutcome, Half::Bottom, &[Find, Grow],
        "Spend / people who reached CUSTOMER in the filter."),
    kpi("roi", "Return on investment", Unit::Ratio, Half::Bottom, &[Grow, Keep],
        "(Attributed revenue - spend) / spend, revenue credited to the touches of its contact \
         or organization within a lookback window (default 90 days) by a chosen model."),
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
        assert_eq!(&keep[..3], &["attendees", "attendanceRate", "nps"]);
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
