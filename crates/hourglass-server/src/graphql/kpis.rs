//! Top-of-hourglass KPIs and the webinar funnel.

use async_graphql::{ComplexObject, Context, Enum, ID, Json, Object, SimpleObject};
use hourglass_core::Permission;
use hourglass_core::advocacy::Nps as CoreNps;
use hourglass_core::attribution::Attribution;
use hourglass_core::money::{CostPerOutcome as CoreCost, Roi as CoreRoi, Spend, Unavailable};
use hourglass_core::{EventKind as CoreKind, TopReport};

use super::filter::KpiFilterInput;
use super::money::{AttributionModel, CostPerOutcome, Money, Roi, per_currency};
use super::scripts::{CustomKpiResult, run_saved};
use super::types::{EventKind, Goal, Rate};
use hourglass_storage::WorkspaceStore;

use super::{caller, cost, external_id, state};
use crate::error::{ApiError, ApiResult};

/// How many events of one kind.
#[derive(SimpleObject, Debug, Clone)]
pub struct KindCount {
    pub kind: EventKind,
    pub count: u64,
}

/// The top of the hourglass for a filter: volume counts and honest rates.
///
/// Event counts cover the filter exactly. When the filter names an asset, the
/// funnel people (landing-page viewers, registrants, attendees) and the rates built
/// on them also see the asset's landing page and what it promotes.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct KpiReport {
    pub impressions: u64,
    pub page_views: u64,
    pub likes: u64,
    pub shares: u64,
    /// Reposts and retweets.
    pub reposts: u64,
    pub comments: u64,
    pub clicks: u64,
    pub downloads: u64,
    pub registrations: u64,
    /// ATTENDANCE events (a contact may send several for one webinar).
    pub attendances: u64,
    pub questions: u64,
    pub info_requests: u64,
    pub mentions: u64,
    pub testimonials: u64,
    pub survey_responses: u64,
    pub referrals: u64,
    pub stage_changes: u64,
    pub revenue_events: u64,
    /// Likes, shares, reposts, comments, clicks and downloads: the engagement of
    /// the top of the hourglass in one number.
    pub engagements: u64,
    /// Every kind with at least one event.
    pub event_counts: Vec<KindCount>,
    /// Distinct people (contact id, else anonymous id) with an impression or page view.
    pub unique_visitors: u64,
    /// Distinct people who viewed a landing page.
    pub landing_page_viewers: u64,
    /// Distinct people who registered.
    pub registrants: u64,
    /// Distinct people who attended.
    pub attendees: u64,
    /// clicks / impressions.
    pub click_through_rate: Rate,
    /// Of the distinct landing-page viewers, the share who registered. A registrant who
    /// never viewed the landing page is in `registrants`, not in this rate, so it is a
    /// proportion.
    pub registration_rate: Rate,
    /// Of the distinct registrants, the share who attended (attendees who never
    /// registered are in `attendees` only).
    pub attendance_rate: Rate,
    /// Money spent within the filter (campaign, channel, days); null when the filter
    /// names an asset or organization, which spend is not recorded against, or when
    /// its campaigns spend in more than one currency (see `spendByCurrency`). Spend is
    /// recorded per calendar day: `days` select their dates in any time zone;
    /// `from`/`to` select the days whose UTC midnight falls inside.
    pub spend: Option<f64>,
    /// The same spend per currency (a campaign's, else the workspace's); empty when
    /// nothing was spent or spend is not recorded for the filter.
    pub spend_by_currency: Vec<Money>,
    /// The workspace's minimum sample that `sufficient` is judged against.
    pub min_sample: u64,
    #[graphql(skip)]
    pub workspace: ID,
    #[graphql(skip)]
    pub filter: KpiFilterInput,
    #[graphql(skip)]
    pub spent: Spend,
}

/// The Net Promoter Score of the filter's survey answers: % promoters (9–10) − %
/// detractors (0–6), from the latest answer of each person to each survey.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct Nps {
    /// −100 to 100; null without answers.
    pub score: Option<f64>,
    /// Lower bound of the 95 % adjusted-Wald interval (Rocks 2016): add 3 answers,
    /// ¾ promoter and ¾ detractor; null without answers.
    pub lower: Option<f64>,
    /// Upper bound of the same interval.
    pub upper: Option<f64>,
    /// The answers that count: one per person per survey.
    pub responses: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    /// False while `responses` is below the workspace's minimum sample.
    pub sufficient: bool,
}

impl From<CoreNps> for Nps {
    fn from(nps: CoreNps) -> Self {
        Self {
            score: nps.score,
            lower: nps.lower,
            upper: nps.upper,
            responses: nps.tally.responses(),
            promoters: nps.tally.promoters,
            passives: nps.tally.passives,
            detractors: nps.tally.detractors,
            sufficient: nps.sufficient,
        }
    }
}

/// One lifecycle stage of the workspace, in its order.
#[derive(SimpleObject, Debug, Clone)]
pub struct StageKpi {
    pub stage: String,
    /// People whom a STAGE_CHANGE in the filter moved to this stage or a later one
    /// (someone who skipped a stage has passed it).
    pub reached: u64,
    /// Of the people who reached the stage before, the share who reached this one;
    /// null for the first stage.
    pub conversion: Option<Rate>,
}

#[ComplexObject]
impl KpiReport {
    /// The workspace's lifecycle stages in order, with how many people reached each
    /// within the filter and the conversion from the stage before. Stages the
    /// workspace does not list are left out.
    #[graphql(complexity = "cost::with_children(cost::REPORT_PART, child_complexity)")]
    async fn stages(&self, ctx: &Context<'_>) -> ApiResult<Vec<StageKpi>> {
        let ws = caller(ctx)?
            .workspace(&self.workspace, Permission::Read)
            .await?;
        let reach = ws.stage_reach(&self.filter.clone().into_filter()?).await?;
        Ok(reach
            .steps(self.min_sample)
            .into_iter()
            .map(|step| StageKpi {
                stage: step.stage,
                reached: step.reached,
                conversion: step.conversion.map(Into::into),
            })
            .collect())
    }

    /// The Net Promoter Score over the same filter, from SURVEY_RESPONSE events
    /// (`value` the score, `properties.survey` the survey).
    #[graphql(complexity = "cost::with_children(cost::REPORT_PART, child_complexity)")]
    async fn nps(&self, ctx: &Context<'_>) -> ApiResult<Nps> {
        let ws = caller(ctx)?
            .workspace(&self.workspace, Permission::Read)
            .await?;
        let tally = ws.nps_tally(&self.filter.clone().into_filter()?).await?;
        Ok(CoreNps::new(tally, self.min_sample).into())
    }

    /// Sum of the filter's REVENUE amounts per currency (`properties.currency`, else
    /// the workspace's): currencies are never added together.
    #[graphql(complexity = "cost::with_children(cost::REPORT_PART, child_complexity)")]
    async fn revenue(&self, ctx: &Context<'_>) -> ApiResult<Vec<Money>> {
        let ws = caller(ctx)?
            .workspace(&self.workspace, Permission::Read)
            .await?;
        Ok(per_currency(
            &ws.revenue(&self.filter.clone().into_filter()?).await?,
        ))
    }

    /// Spend / people who reached LEAD or a later stage within the filter (the LEAD
    /// row of `stages`).
    #[graphql(complexity = "cost::with_children(cost::REPORT_PART, child_complexity)")]
    async fn cost_per_lead(&self, ctx: &Context<'_>) -> ApiResult<CostPerOutcome> {
        let leads = self.reached(ctx, "LEAD").await?;
        Ok(CoreCost::new(&self.spent, leads).into())
    }

    /// Spend / distinct registrants.
    async fn cost_per_registrant(&self) -> CostPerOutcome {
        CoreCost::new(&self.spent, Some(self.registrants)).into()
    }

    /// Spend / distinct attendees.
    async fn cost_per_attendee(&self) -> CostPerOutcome {
        CoreCost::new(&self.spent, Some(self.attendees)).into()
    }

    /// Spend / people who reached CUSTOMER within the filter; unavailable with
    /// STAGE_NOT_LISTED when the workspace's stages leave CUSTOMER out.
    #[graphql(complexity = "cost::with_children(cost::REPORT_PART, child_complexity)")]
    async fn cost_per_customer(&self, ctx: &Context<'_>) -> ApiResult<CostPerOutcome> {
        let customers = self.reached(ctx, "CUSTOMER").await?;
        Ok(CoreCost::new(&self.spent, customers).into())
    }

    /// Return on investment: (attributed revenue − spend) / spend. Each REVENUE event
    /// in the filter's range (and organization) is a sale, credited by `model` to the
    /// events of its contact and its organization that carry a campaign or channel
    /// within `lookbackDays` before it (any kind but REVENUE and STAGE_CHANGE); the
    /// filter's campaign, channel and asset select whose credit counts. Revenue in
    /// other currencies than the spend's is listed, not added.
    #[graphql(complexity = "cost::with_children(cost::ROI, child_complexity)")]
    async fn roi(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "AttributionModel::Linear")] model: AttributionModel,
        #[graphql(default = 90)] lookback_days: u32,
    ) -> ApiResult<Roi> {
        if !(1..=Attribution::MAX_LOOKBACK_DAYS).contains(&lookback_days) {
            return Err(ApiError::BadUserInput {
                message: format!(
                    "lookbackDays is 1 to {}; got {lookback_days}",
                    Attribution::MAX_LOOKBACK_DAYS
                ),
                field: Some("lookbackDays".into()),
            });
        }
        let attribution = Attribution {
            model: model.into(),
            lookback_days,
        };
        let ws = caller(ctx)?
            .workspace(&self.workspace, Permission::Read)
            .await?;
        let revenue = ws
            .attributed_revenue(&self.filter.clone().into_filter()?, attribution)
            .await?;
        let roi = CoreRoi::new(&self.spent, &revenue.credited, self.min_sample);
        Ok(Roi::new(roi, attribution, &revenue))
    }

    /// A custom KPI of the workspace by key, over the same filter.
    #[graphql(complexity = "cost::with_children(cost::SCRIPT_RUN, child_complexity)")]
    async fn custom(
        &self,
        ctx: &Context<'_>,
        key: String,
        params: Option<Json<serde_json::Value>>,
        version: Option<i32>,
    ) -> ApiResult<CustomKpiResult> {
        let state = state(ctx);
        let ws = caller(ctx)?
            .workspace(&self.workspace, Permission::Read)
            .await?;
        run_saved(state, &ws, &key, version, self.filter.clone(), params).await
    }
}

impl KpiReport {
    /// People who reached `stage` (or a later one) within the filter; `None` when the
    /// workspace does not list it.
    async fn reached(&self, ctx: &Context<'_>, stage: &str) -> ApiResult<Option<u64>> {
        let ws = caller(ctx)?
            .workspace(&self.workspace, Permission::Read)
            .await?;
        let reach = ws.stage_reach(&self.filter.clone().into_filter()?).await?;
        Ok(reach
            .stages
            .iter()
            .find(|(name, _)| name == stage)
            .map(|(_, reached)| *reached))
    }

    /// The report of one filter: counts and rates, spend, and the filter its other
    /// fields are answered over.
    pub(crate) fn new(
        report: TopReport,
        spent: Spend,
        min_sample: u64,
        workspace: ID,
        filter: KpiFilterInput,
    ) -> Self {
        let c = &report.counts;
        Self {
            impressions: c.count(CoreKind::Impression),
            page_views: c.count(CoreKind::PageView),
            likes: c.count(CoreKind::Like),
            shares: c.count(CoreKind::Share),
            reposts: c.count(CoreKind::Repost),
            comments: c.count(CoreKind::Comment),
            clicks: c.count(CoreKind::Click),
            downloads: c.count(CoreKind::Download),
            registrations: c.count(CoreKind::Registration),
            attendances: c.count(CoreKind::Attendance),
            questions: c.count(CoreKind::Question),
            info_requests: c.count(CoreKind::InfoRequest),
            mentions: c.count(CoreKind::Mention),
            testimonials: c.count(CoreKind::Testimonial),
            survey_responses: c.count(CoreKind::SurveyResponse),
            referrals: c.count(CoreKind::Referral),
            stage_changes: c.count(CoreKind::StageChange),
            revenue_events: c.count(CoreKind::Revenue),
            engagements: CoreKind::ENGAGEMENT_KINDS
                .iter()
                .map(|kind| c.count(*kind))
                .sum(),
            event_counts: c
                .events
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(kind, count)| KindCount {
                    kind: (*kind).into(),
                    count: *count,
                })
                .collect(),
            unique_visitors: c.unique_visitors,
            landing_page_viewers: c.funnel.landing_viewers,
            registrants: c.funnel.registrants,
            attendees: c.funnel.attendees,
            click_through_rate: report.click_through_rate.into(),
            registration_rate: report.registration_rate.into(),
            attendance_rate: report.attendance_rate.into(),
            // The one amount spent, as costs divide by; nothing spent is 0.
            spend: match spent.single() {
                Ok(money) => Some(money.amount),
                Err(Unavailable::NoSpend) => Some(0.0),
                Err(_) => None,
            },
            spend_by_currency: match &spent {
                Spend::NotRecorded => Vec::new(),
                Spend::Recorded(amounts) => per_currency(amounts),
            },
            min_sample,
            workspace,
            filter,
            spent,
        }
    }
}

/// Computes the report for `workspace` and `filter`.
pub(crate) async fn kpi_report(
    ws: &WorkspaceStore,
    filter: KpiFilterInput,
) -> ApiResult<KpiReport> {
    let input = filter.clone();
    let filter = filter.into_filter()?;
    let counts = ws.top_counts(&filter).await?;
    let spend = ws.spend_total(&filter).await?;
    let min_sample = ws.min_sample();
    Ok(KpiReport::new(
        TopReport::from_counts(counts, min_sample),
        spend,
        min_sample,
        ID(ws.workspace().slug.clone()),
        input,
    ))
}

/// One step of a funnel.
#[derive(SimpleObject, Debug, Clone)]
pub struct FunnelStep {
    /// LANDING_VIEWS, REGISTRATIONS or ATTENDANCE.
    pub name: String,
    /// Distinct people who reached the step.
    pub count: u64,
    /// Of the previous step's people, the share who took this step too (someone who
    /// registered without viewing the landing page is in `count`, not in the rate);
    /// null for the first step.
    pub rate: Option<Rate>,
}

/// A webinar's (or landing page's) funnel: landing views → registrations → attendance.
#[derive(SimpleObject, Debug, Clone)]
pub struct Funnel {
    pub asset: ID,
    pub steps: Vec<FunnelStep>,
}

/// A built-in KPI: what it means and which goals it serves.
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiDefinition {
    /// The KpiReport field that holds it.
    pub key: String,
    pub name: String,
    pub description: String,
    pub goals: Vec<Goal>,
    pub unit: KpiUnit,
    pub half: HourglassHalf,
    /// Whether it is a Rate (with n, interval and sufficiency): `unit` is RATE.
    pub is_rate: bool,
}

/// What a KPI's value is measured in.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::Unit")]
pub enum KpiUnit {
    /// A number of events.
    Events,
    /// A number of distinct people.
    People,
    /// A Rate: a proportion with its sample, interval and sufficiency.
    Rate,
    /// A score on its own scale (NPS: −100 to 100).
    Score,
    /// An amount of money, per currency.
    Money,
    /// Money per person who reached an outcome (a CostPerOutcome).
    MoneyPerOutcome,
    /// Money back per money spent (ROI).
    Ratio,
}

/// Which half of the hourglass a KPI measures.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "hourglass_core::Half")]
pub enum HourglassHalf {
    /// Volume: reaching and engaging people, up to the lead.
    Top,
    /// Depth and its returns: leads, customers, advocacy, revenue.
    Bottom,
}

impl From<&hourglass_core::KpiDefinition> for KpiDefinition {
    fn from(k: &hourglass_core::KpiDefinition) -> Self {
        Self {
            key: k.key.to_owned(),
            name: k.name.to_owned(),
            description: k.description.to_owned(),
            goals: k.goals.iter().map(|g| (*g).into()).collect(),
            unit: k.unit.into(),
            half: k.half.into(),
            is_rate: k.unit == hourglass_core::Unit::Rate,
        }
    }
}

#[derive(Debug, Default)]
pub struct KpiQuery;

#[Object]
impl KpiQuery {
    /// Top-of-hourglass KPIs for a workspace, narrowed by the filter.
    #[graphql(complexity = "cost::with_children(cost::KPI_REPORT, child_complexity)")]
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        filter: Option<KpiFilterInput>,
    ) -> ApiResult<KpiReport> {
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        kpi_report(&ws, filter.unwrap_or_default()).await
    }

    /// The funnel of a webinar or landing page: distinct people who viewed the
    /// landing page, registered, and attended, each step rated against the one before.
    #[graphql(complexity = "cost::with_children(cost::FUNNEL, child_complexity)")]
    async fn funnel(
        &self,
        ctx: &Context<'_>,
        workspace: ID,
        asset: ID,
        filter: Option<KpiFilterInput>,
    ) -> ApiResult<Funnel> {
        let filter = filter.unwrap_or_default().into_filter()?;
        let ws = caller(ctx)?.workspace(&workspace, Permission::Read).await?;
        let counts = ws.funnel(&external_id(&asset, "asset")?, &filter).await?;
        let steps = counts
            .steps(ws.min_sample())
            .into_iter()
            .map(|s| FunnelStep {
                name: s.name.to_owned(),
                count: s.count,
                rate: s.rate.map(Into::into),
            })
            .collect();
        Ok(Funnel { asset, steps })
    }

    /// The built-in KPIs with the goals they serve, for dashboards to order by a
    /// campaign's goal.
    async fn kpi_catalog(&self) -> Vec<KpiDefinition> {
        hourglass_core::kpi::CATALOG
            .iter()
            .map(KpiDefinition::from)
            .collect()
    }
}
