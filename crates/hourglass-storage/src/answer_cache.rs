//! Recent KPI answers, each kept under the workspace's data version it was
//! computed at.
//!
//! Exact by construction: every write of a workspace bumps `data_version` in its
//! own transaction (`workspace_write`), and a request reads the version with the
//! workspace row it starts from. A request that starts after a commit therefore
//! looks under the new version and never finds an answer from before it. Entries of
//! an old version are never asked for again, so the first answer stored under a
//! newer version of a workspace drops them: a workspace taking live ingest (a new
//! version per batch) would otherwise fill the LRU with dead answers and push out
//! every other workspace's live ones. A request racing a commit may compute with
//! the commit's data and store it under the version before: only requests that also
//! started before the commit can find it, and for them the newer answer is as right
//! as the older one; once a newer version has been stored, it is not kept at all.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use hourglass_core::advocacy::NpsTally;
use hourglass_core::attribution::{AttributedRevenue, Attribution};
use hourglass_core::depth::{Lead, Ranked};
use hourglass_core::money::{Amounts, Spend};
use hourglass_core::spend_advice::{ChannelCredit, Outcome};
use hourglass_core::stages::StageReach;
use hourglass_core::{ExternalId, FunnelCounts, TopCounts};
use lru::LruCache;

use crate::kpis::KpiFilter;
use crate::series::Period;

/// What was asked of one workspace at one data version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Question {
    pub workspace: i64,
    pub data_version: i64,
    pub asked: Asked,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Asked {
    Top(KpiFilter),
    Series(KpiFilter, Vec<Period>),
    Funnel(ExternalId, KpiFilter),
    Spend(KpiFilter),
    Revenue(KpiFilter),
    Attributed(KpiFilter, Attribution),
    Nps(KpiFilter),
    Stages(KpiFilter),
    ShortList(KpiFilter),
    Leads(KpiFilter),
    ChannelCredit(KpiFilter, Outcome, Attribution),
}

#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Top(TopCounts),
    Series(Vec<TopCounts>),
    Funnel(FunnelCounts),
    Spend(Spend),
    Revenue(Amounts),
    Attributed(AttributedRevenue),
    Nps(NpsTally),
    Stages(StageReach),
    /// Every organization of a filter, ranked: large, so kept in a smaller LRU.
    ShortList(Arc<Vec<Ranked>>),
    /// Every person of a filter, ranked: kept with the short lists.
    Leads(Arc<Vec<Lead>>),
    ChannelCredit(ChannelCredit),
}

/// An answer type the cache can hold.
pub(crate) trait Cacheable: Clone {
    fn into_answer(self) -> Answer;
    fn from_answer(answer: Answer) -> Option<Self>;
}

/// `Cacheable` for a type held by one `Answer` variant.
macro_rules! cacheable {
    ($type:ty => $variant:ident) => {
        impl Cacheable for $type {
            fn into_answer(self) -> Answer {
                Answer::$variant(self)
            }
            fn from_answer(answer: Answer) -> Option<Self> {
                match answer {
                    Answer::$variant(value) => Some(value),
                    _ => None,
                }
            }
        }
    };
}

cacheable!(TopCounts => Top);
cacheable!(Vec<TopCounts> => Series);
cacheable!(FunnelCounts => Funnel);
cacheable!(Spend => Spend);
cacheable!(Amounts => Revenue);
cacheable!(AttributedRevenue => Attributed);
cacheable!(NpsTally => Nps);
cacheable!(StageReach => Stages);
cacheable!(Arc<Vec<Ranked>> => ShortList);
cacheable!(Arc<Vec<Lead>> => Leads);
cacheable!(ChannelCredit => ChannelCredit);

/// Short lists kept per 1,000 answers: one is a few hundred bytes per organization
/// of its filter, a megabyte or more for a large workspace.
const ANSWERS_PER_SHORT_LIST: usize = 1_000;
/// Short lists kept at most, whatever the number of answers.
const MAX_SHORT_LISTS: usize = 64;

/// One bounded LRU of answers, and the newest data version stored per workspace.
#[derive(Debug)]
struct Answers {
    entries: LruCache<Question, Answer>,
    newest: HashMap<i64, i64>,
}

impl Answers {
    fn new(capacity: NonZeroUsize) -> Self {
        Self {
            entries: LruCache::new(capacity),
            newest: HashMap::new(),
        }
    }

    fn get(&mut self, question: &Question) -> Option<&Answer> {
        self.entries.get(question)
    }

    fn put(&mut self, question: Question, answer: Answer) {
        let newest = self.newest.entry(question.workspace).or_insert(i64::MIN);
        if question.data_version < *newest {
            return;
        }
        if question.data_version > *newest {
            *newest = question.data_version;
            let dead: Vec<Question> = self
                .entries
                .iter()
                .map(|(q, _)| q)
                .filter(|q| q.workspace == question.workspace)
                .filter(|q| q.data_version < question.data_version)
                .cloned()
                .collect();
            for q in &dead {
                self.entries.pop(q);
            }
        }
        self.entries.put(question, answer);
    }
}

/// Bounded LRUs of answers shared by every clone of a store: counts in one, the
/// large short lists (of organizations and of leads) in a smaller one. Off when the capacity is zero.
#[derive(Debug)]
pub(crate) struct AnswerCache {
    counts: Option<Mutex<Answers>>,
    short_lists: Option<Mutex<Answers>>,
}

impl AnswerCache {
    pub fn new(capacity: usize) -> Self {
        let lru = |n: usize| NonZeroUsize::new(n).map(|c| Mutex::new(Answers::new(c)));
        let short_lists = if capacity == 0 {
            0
        } else {
            (capacity / ANSWERS_PER_SHORT_LIST).clamp(1, MAX_SHORT_LISTS)
        };
        Self {
            counts: lru(capacity),
            short_lists: lru(short_lists),
        }
    }

    /// Whether short lists are kept: then a page of depths is cheapest looked up in
    /// the one short list of its filter.
    pub fn keeps_short_lists(&self) -> bool {
        self.short_lists.is_some()
    }

    fn lru_for(&self, question: &Question) -> Option<&Mutex<Answers>> {
        match question.asked {
            Asked::ShortList(_) | Asked::Leads(_) => self.short_lists.as_ref(),
            _ => self.counts.as_ref(),
        }
    }

    /// Whether an answer to `question` would be kept (the cache is on for its kind).
    pub fn keeps(&self, question: &Question) -> bool {
        self.lru_for(question).is_some()
    }

    pub fn get<T: Cacheable>(&self, question: &Question) -> Option<T> {
        let mut entries = self.lru_for(question)?.lock().ok()?;
        T::from_answer(entries.get(question)?.clone())
    }

    pub fn put<T: Cacheable>(&self, question: Question, answer: &T) {
        if let Some(Ok(mut entries)) = self.lru_for(&question).map(Mutex::lock) {
            entries.put(question, answer.clone().into_answer());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(amount: f64) -> Spend {
        let mut amounts = Amounts::default();
        amounts.add(Some("EUR"), amount);
        Spend::Recorded(amounts)
    }

    fn question(data_version: i64) -> Question {
        asked_of(1, data_version)
    }

    fn asked_of(workspace: i64, data_version: i64) -> Question {
        Question {
            workspace,
            data_version,
            asked: Asked::Spend(KpiFilter::default()),
        }
    }

    #[test]
    fn a_newer_version_drops_the_workspaces_older_answers_not_anothers() {
        // Room for two: workspace 2's answer, then workspace 1's at version 1.
        let cache = AnswerCache::new(2);
        cache.put(asked_of(2, 1), &spend(20.0));
        cache.put(asked_of(1, 1), &spend(10.0));
        // Workspace 1 moves on (a batch was ingested): its dead answer makes room,
        // where the LRU alone would have evicted workspace 2's live one.
        cache.put(asked_of(1, 2), &spend(11.0));
        assert_eq!(cache.get::<Spend>(&asked_of(2, 1)), Some(spend(20.0)));
        assert_eq!(cache.get::<Spend>(&asked_of(1, 2)), Some(spend(11.0)));
        assert_eq!(cache.get::<Spend>(&asked_of(1, 1)), None);
    }

    #[test]
    fn an_answer_older_than_one_stored_is_not_kept() {
        let cache = AnswerCache::new(4);
        cache.put(question(3), &spend(3.0));
        cache.put(question(2), &spend(2.0));
        assert_eq!(cache.get::<Spend>(&question(2)), None);
        assert_eq!(cache.get::<Spend>(&question(3)), Some(spend(3.0)));
    }

    #[test]
    fn an_answer_is_found_only_under_its_own_data_version() {
        let cache = AnswerCache::new(4);
        cache.put(question(7), &spend(12.5));
        assert_eq!(cache.get::<Spend>(&question(7)), Some(spend(12.5)));
        assert_eq!(cache.get::<Spend>(&question(8)), None);
    }

    #[test]
    fn the_least_recently_used_answer_leaves_first_and_zero_turns_it_off() {
        // Three workspaces at one version each: only the LRU decides.
        let cache = AnswerCache::new(2);
        cache.put(asked_of(1, 1), &spend(1.0));
        cache.put(asked_of(2, 1), &spend(2.0));
        assert!(cache.get::<Spend>(&asked_of(1, 1)).is_some());
        cache.put(asked_of(3, 1), &spend(3.0));
        assert_eq!(cache.get::<Spend>(&asked_of(2, 1)), None);
        assert!(cache.get::<Spend>(&asked_of(1, 1)).is_some());

        let off = AnswerCache::new(0);
        off.put(question(1), &spend(1.0));
        assert_eq!(off.get::<Spend>(&question(1)), None);
    }
}
