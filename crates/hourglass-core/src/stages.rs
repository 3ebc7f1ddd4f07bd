//! Lifecycle stages as KPIs: how many people reached each stage of a workspace's
//! order within a filter, and the share of each stage's people who went on to the
//! next.

use std::collections::HashMap;

use crate::stats::Rate;

/// How many people reached each stage of a workspace's order, in that order. A
/// person reached a stage when a STAGE_CHANGE in the filter moved them to it or to
/// a later stage: someone who went from LEAD straight to SQL has passed MQL, so the
/// counts never grow along the order and each conversion is a proportion. Stages
/// the order does not list are left out, as they are for the bottom of the
/// hourglass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageReach {
    pub stages: Vec<(String, u64)>,
}

/// One stage: how many reached it, and of those who reached the stage before, the
/// share who reached this one too (`None` for the first stage).
#[derive(Debug, Clone, PartialEq)]
pub struct StageStep {
    pub stage: String,
    pub reached: u64,
    pub conversion: Option<Rate>,
}

impl StageReach {
    /// Counts the `moves` — (person, stage moved to) — against the workspace's `order`.
    pub fn count(order: &[String], moves: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut furthest: HashMap<String, usize> = HashMap::new();
        for (person, stage) in moves {
            let Some(at) = order.iter().position(|s| *s == stage) else {
                continue;
            };
            let reached = furthest.entry(person).or_insert(at);
            *reached = (*reached).max(at);
        }
        let mut stages: Vec<(String, u64)> = order.iter().map(|s| (s.clone(), 0)).collect();
        for at in furthest.into_values() {
            for (_, reached) in &mut stages[..=at] {
                *reached += 1;
            }
        }
        Self { stages }
    }

    /// Each stage with its conversion from the stage before.
    pub fn steps(&self, min_sample: u64) -> Vec<StageStep> {
        let mut before: Option<u64> = None;
        self.stages
            .iter()
            .map(|(stage, reached)| {
                let conversion = before.map(|n| Rate::new(*reached, n, min_sample));
                before = Some(*reached);
                StageStep {
                    stage: stage.clone(),
                    reached: *reached,
                    conversion,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(stages: &[&str]) -> Vec<String> {
        stages.iter().map(|s| (*s).to_owned()).collect()
    }

    fn moves(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, s)| ((*p).to_owned(), (*s).to_owned()))
            .collect()
    }

    #[test]
    fn a_person_reaches_every_stage_up_to_their_furthest_once() {
        let order = order(&["LEAD", "MQL", "SQL", "CUSTOMER"]);
        let reach = StageReach::count(
            &order,
            moves(&[
                ("a", "LEAD"),
                ("b", "LEAD"),
                ("b", "MQL"),
                ("b", "LEAD"), // moved back: still reached MQL
                ("c", "SQL"),  // skipped MQL: passed it
                ("d", "OQL"),  // not in the order
            ]),
        );
        assert_eq!(
            reach.stages,
            vec![
                ("LEAD".to_owned(), 3),
                ("MQL".to_owned(), 2),
                ("SQL".to_owned(), 1),
                ("CUSTOMER".to_owned(), 0),
            ]
        );
        let steps = reach.steps(30);
        assert_eq!(steps[0].conversion, None);
        let mql = steps[1].conversion.unwrap();
        assert_eq!((mql.numerator, mql.n), (2, 3));
        let customer = steps[3].conversion.unwrap();
        assert_eq!((customer.value, customer.n), (Some(0.0), 1));
    }
}
