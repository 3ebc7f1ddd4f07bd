//! Advocacy: the Net Promoter Score of survey answers.
//!
//! Every SURVEY_RESPONSE carries a whole score from 0 to 10 and the survey it
//! answers. A person who answers one survey twice has changed their mind, not doubled
//! their voice: only their latest answer to it counts.

use std::collections::HashMap;

use crate::stats::Z_95;

/// One SURVEY_RESPONSE as the NPS reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyAnswer {
    /// Who answered: the contact id, else the anonymous visitor id. An answer by
    /// nobody known counts on its own.
    pub person: Option<String>,
    /// `properties.survey`.
    pub survey: String,
    /// When, in ms since 1970.
    pub at: i64,
    /// The stored event's row id: of two answers at the same instant, the one stored
    /// later counts.
    pub id: i64,
    /// 0 to 10.
    pub score: f64,
}

/// Answers by category: promoters score 9–10, passives 7–8, detractors 0–6.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NpsTally {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
}

impl NpsTally {
    /// The latest answer of each person to each survey, by category.
    pub fn of_latest(answers: impl IntoIterator<Item = SurveyAnswer>) -> Self {
        let mut latest: HashMap<(String, String), (i64, i64, f64)> = HashMap::new();
        let mut tally = Self::default();
        for answer in answers {
            let Some(person) = answer.person else {
                tally.add(answer.score);
                continue;
            };
            let seen = (answer.at, answer.id, answer.score);
            latest
                .entry((person, answer.survey))
                .and_modify(|kept| {
                    if (seen.0, seen.1) > (kept.0, kept.1) {
                        *kept = seen;
                    }
                })
                .or_insert(seen);
        }
        for (_, _, score) in latest.into_values() {
            tally.add(score);
        }
        tally
    }

    fn add(&mut self, score: f64) {
        if score >= 9.0 {
            self.promoters += 1;
        } else if score >= 7.0 {
            self.passives += 1;
        } else {
            self.detractors += 1;
        }
    }

    /// How many answers count.
    pub fn responses(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }
}

/// The Net Promoter Score of a tally, on its −100…100 scale, with its 95 % interval
/// and whether the answers reach the workspace's minimum sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nps {
    /// % promoters − % detractors; `None` without answers.
    pub score: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub tally: NpsTally,
    pub sufficient: bool,
}

impl Nps {
    pub fn new(tally: NpsTally, min_sample: u64) -> Self {
        let n = tally.responses();
        let score =
            (n > 0).then(|| (tally.promoters as f64 - tally.detractors as f64) / n as f64 * 100.0);
        let interval = nps_interval(tally);
        Self {
            score,
            lower: interval.map(|(lower, _)| lower),
            upper: interval.map(|(_, upper)| upper),
            tally,
            sufficient: n > 0 && n >= min_sample,
        }
    }
}

/// The 95 % adjusted-Wald interval of an NPS, on the −100…100 scale; `None` without
/// answers. Rocks (2016, "Interval Estimation for the 'Net Promoter Score'", The
/// American Statistician 70(4)) found it among the best in coverage: add 3 answers
/// — ¾ promoter, ¾ detractor, 1½ passive — and take the adjusted score ± z times
/// the standard error of a difference of two proportions of one sample,
/// √((p + d − (p − d)²) / n), clamped to the scale. Unlike the plain Wald interval
/// it does not collapse to a point when every answer agrees.
pub fn nps_interval(tally: NpsTally) -> Option<(f64, f64)> {
    if tally.responses() == 0 {
        return None;
    }
    let n = tally.responses() as f64 + 3.0;
    let promoters = (tally.promoters as f64 + 0.75) / n;
    let detractors = (tally.detractors as f64 + 0.75) / n;
    let centre = promoters - detractors;
    let margin = Z_95 * ((promoters + detractors - centre * centre) / n).sqrt();
    Some((
        (centre - margin).max(-1.0) * 100.0,
        (centre + margin).min(1.0) * 100.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(person: Option<&str>, survey: &str, at: i64, id: i64, score: f64) -> SurveyAnswer {
        SurveyAnswer {
            person: person.map(Into::into),
            survey: survey.into(),
            at,
            id,
            score,
        }
    }

    fn tally(promoters: u64, passives: u64, detractors: u64) -> NpsTally {
        NpsTally {
            promoters,
            passives,
            detractors,
        }
    }

    #[test]
    fn the_latest_answer_per_person_and_survey_counts() {
        let answers = vec![
            // Ann changes her mind on q1 (the later answer counts) and also answers q2.
            answer(Some("ann"), "q1", 200, 5, 10.0),
            answer(Some("ann"), "q1", 100, 9, 8.0),
            answer(Some("ann"), "q2", 50, 1, 8.0),
            // Bob answers twice at one instant: the one stored later counts.
            answer(Some("bob"), "q1", 300, 7, 9.0),
            answer(Some("bob"), "q1", 300, 8, 6.0),
            // Nobody known: each answer is its own.
            answer(None, "q1", 10, 2, 0.0),
            answer(None, "q1", 10, 3, 0.0),
            // The boundaries of the categories.
            answer(Some("cy"), "q1", 1, 4, 7.0),
            answer(Some("dee"), "q1", 1, 6, 9.0),
        ];
        assert_eq!(NpsTally::of_latest(answers), tally(2, 2, 3));
    }

    /// Reference values computed apart from this code, in Python from the formula as
    /// Rocks (2016) and MeasuringU ("Confidence Intervals for Net Promoter Scores")
    /// state it: n' = n + 3, p = (promoters + ¾) / n', d = (detractors + ¾) / n',
    /// (p − d) ± 1.959964 · √((p + d − (p − d)²) / n'), clamped to ±1, times 100.
    #[test]
    fn the_interval_matches_independently_computed_values() {
        let cases = [
            (
                tally(30, 10, 10),
                40.0,
                16.187_688_039_862_977,
                59.284_010_073_344_575,
            ),
            (
                tally(1, 0, 0),
                100.0,
                -48.498_649_420_252_03,
                98.498_649_420_252_02,
            ),
            (
                tally(0, 0, 1),
                -100.0,
                -98.498_649_420_252_02,
                48.498_649_420_252_03,
            ),
            (
                tally(5, 3, 2),
                30.0,
                -19.050_615_376_363_67,
                65.204_461_530_209_83,
            ),
            (
                tally(120, 50, 30),
                45.0,
                34.135_419_179_026_63,
                54.534_531_559_889_63,
            ),
            (tally(4, 0, 0), 100.0, 6.944_177_980_272_038, 100.0),
        ];
        for (t, score, lower, upper) in cases {
            let nps = Nps::new(t, 30);
            assert_eq!(nps.score, Some(score), "{t:?}");
            let (l, u) = (nps.lower.unwrap(), nps.upper.unwrap());
            assert!(
                (l - lower).abs() < 1e-9 && (u - upper).abs() < 1e-9,
                "{t:?}: {l} {u}"
            );
        }
    }

    #[test]
    fn without_answers_there_is_no_score_and_a_small_sample_is_not_sufficient() {
        let none = Nps::new(NpsTally::default(), 0);
        assert_eq!((none.score, none.lower, none.upper), (None, None, None));
        assert!(!none.sufficient, "no answers are never enough");
        assert!(!Nps::new(tally(20, 5, 4), 30).sufficient);
        assert!(Nps::new(tally(20, 6, 4), 30).sufficient);
    }
}
