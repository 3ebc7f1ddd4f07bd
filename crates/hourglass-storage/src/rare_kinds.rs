//! KPIs read from the rows of rare kinds: the Net Promoter Score of survey answers,
//! and how far people got through the lifecycle stages.

use hourglass_core::EventKind;
use hourglass_core::advocacy::{NpsTally, SurveyAnswer};
use hourglass_core::stages::StageReach;

use crate::answer_cache::Asked;
use crate::error::Result;
use crate::kpis::KpiFilter;
use crate::workspaces::WorkspaceStore;

impl WorkspaceStore {
    /// The filter's survey answers by NPS category, the latest of each person per
    /// survey. Read from the raw SURVEY_RESPONSE events, which are few next to the
    /// rest (a person's latest answer is no sum the aggregate layer could keep per
    /// day), and kept in the answer cache under the data version.
    pub async fn nps_tally(&self, filter: &KpiFilter) -> Result<NpsTally> {
        self.remembered(Asked::Nps(filter.clone()), self.nps_tally_computed(filter))
            .await
    }

    async fn nps_tally_computed(&self, filter: &KpiFilter) -> Result<NpsTally> {
        let rows = self
            .events_of_kind(filter, EventKind::SurveyResponse)
            .await?;
        Ok(NpsTally::of_latest(rows.into_iter().filter_map(|row| {
            Some(SurveyAnswer {
                survey: row
                    .properties
                    .get("survey")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                person: person(row.contact, row.anonymous_id),
                at: row.occurred_at,
                id: row.id,
                // Validation requires a score; a row without one is no answer.
                score: row.value?,
            })
        })))
    }

    /// How many people reached each of the workspace's lifecycle stages (or a later
    /// one) by STAGE_CHANGE events in the filter; kept in the answer cache.
    pub async fn stage_reach(&self, filter: &KpiFilter) -> Result<StageReach> {
        self.remembered(
            Asked::Stages(filter.clone()),
            self.stage_reach_computed(filter),
        )
        .await
    }

    async fn stage_reach_computed(&self, filter: &KpiFilter) -> Result<StageReach> {
        let rows = self.events_of_kind(filter, EventKind::StageChange).await?;
        let moves = rows.into_iter().filter_map(|row| {
            let stage = row.properties.get("to")?.as_str()?.to_owned();
            Some((person(row.contact, row.anonymous_id)?, stage))
        });
        Ok(StageReach::count(&self.lifecycle_stages(), moves))
    }
}

/// A person's key: their contact id, else their anonymous id, marked apart so that a
/// contact and an anonymous visitor who happen to share an id stay two people, as in
/// every distinct count.
fn person(contact: Option<String>, anonymous: Option<String>) -> Option<String> {
    match (contact, anonymous) {
        (Some(contact), _) => Some(format!("c:{contact}")),
        (None, Some(anonymous)) => Some(format!("a:{anonymous}")),
        (None, None) => None,
    }
}
