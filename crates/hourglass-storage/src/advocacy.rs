//! Advocacy KPIs of a filter: the Net Promoter Score.

use hourglass_core::EventKind;
use hourglass_core::advocacy::{NpsTally, SurveyAnswer};
use sea_orm::FromQueryResult;
use sea_orm::sea_query::{Alias, Expr, ExprTrait};

use crate::answer_cache::Asked;
use crate::error::Result;
use crate::events::{EventRecord, joined_events};
use crate::kpis::{AssetScope, KpiFilter};
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
        let resolved = self.resolve(filter).await?;
        let e = Alias::new("e");
        let mut query = joined_events(&e);
        query.cond_where(self.condition_on(&e, &resolved, AssetScope::Exact).add(
            Expr::col((e.clone(), Alias::new("kind"))).eq(EventKind::SurveyResponse.as_str()),
        ));
        let db = &self.store.db;
        let rows = EventRecord::find_by_statement(db.get_database_backend().build(&query))
            .all(db)
            .await?;
        Ok(NpsTally::of_latest(rows.into_iter().filter_map(|row| {
            Some(SurveyAnswer {
                survey: row
                    .properties
                    .get("survey")
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_owned(),
                person: row.contact.or(row.anonymous_id),
                at: row.occurred_at,
                id: row.id,
                // Validation requires a score; a row without one is no answer.
                score: row.value?,
            })
        })))
    }
}
