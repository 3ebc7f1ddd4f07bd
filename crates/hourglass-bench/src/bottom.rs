//! The bottom of the hourglass (depth per organization) and custom KPIs, over HTTP.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::api::{Api, WORKSPACE, percentile_ms};
use crate::report::{Goal, Row};

/// The p50 a depth query should stay under, in ms.
const GOAL_P50_MS: f64 = 50.0;
/// A slow query is repeated only while this much time is left.
const BUDGET: Duration = Duration::from_secs(15);

const HOT_ACCOUNT: &str = include_str!("../../../scripts/kpis/hot_account.rhai");

/// Times `query` up to `repeat` times (at least once, then while within `BUDGET`);
/// returns p50 ms, runs and the last answer.
async fn p50(
    api: &Api,
    query: &str,
    variables: &Value,
    repeat: usize,
) -> anyhow::Result<(f64, usize, Value)> {
    let started = Instant::now();
    let mut times = Vec::new();
    let mut last = Value::Null;
    while times.len() < repeat.max(1) && (times.is_empty() || started.elapsed() < BUDGET) {
        let (took, data) = api.timed(query, variables.clone()).await?;
        times.push(took);
        last = data;
    }
    times.sort();
    Ok((percentile_ms(&times, 0.5), times.len(), last))
}

fn row(what: &str, (ms, runs, _): &(f64, usize, Value)) -> Row {
    Row::new(format!("{what}: p50 of {runs}"), *ms, "ms").goal(Goal::FigureAtMost(GOAL_P50_MS))
}

/// `hourglass(campaign)`, three pages of the DEPTH short list, and
/// `Organization.depth` on a page of 50 organizations; `setting` names the server's.
pub async fn depth(
    api: &Api,
    campaign: &str,
    repeat: usize,
    setting: &str,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let hourglass = format!(
        "query($c: ID) {{ hourglass(workspace: \"{WORKSPACE}\", campaign: $c) {{ top {{ impressions uniqueVisitors }} \
         bottom {{ organizationCount totals {{ score }} shortList {{ id depth {{ score }} }} }} }} }}"
    );
    let measured = p50(api, &hourglass, &json!({ "c": campaign }), repeat).await?;
    rows.push(row(
        &format!("hourglass(campaign {campaign}), {setting}"),
        &measured,
    ));

    let page = format!(
        "query($after: String) {{ organizations(workspace: \"{WORKSPACE}\", orderBy: DEPTH, first: 50, after: $after) {{ \
         edges {{ cursor node {{ id rank depth {{ score }} }} }} pageInfo {{ endCursor hasNextPage }} }} }}"
    );
    let mut after = Value::Null;
    for n in 1..=3 {
        let measured = p50(api, &page, &json!({ "after": after }), repeat).await?;
        let info = &measured.2["organizations"]["pageInfo"];
        rows.push(row(
            &format!("organizations(orderBy: DEPTH, first: 50), page {n}, {setting}"),
            &measured,
        ));
        if info["hasNextPage"] != json!(true) {
            break;
        }
        after = info["endCursor"].clone();
    }

    let depth_page = format!(
        "{{ organizations(workspace: \"{WORKSPACE}\", first: 50) {{ nodes {{ id depth {{ score breadth attendees }} }} }} }}"
    );
    let measured = p50(api, &depth_page, &json!({}), repeat).await?;
    rows.push(row(
        &format!("Organization.depth on a page of 50, {setting}"),
        &measured,
    ));
    Ok(rows)
}

/// Saves the hot-account script and times `customKpi` on the loaded workspace.
pub async fn custom_kpi(api: &Api, campaign: &str, repeat: usize) -> anyhow::Result<Row> {
    api.graphql(
        &format!(
            "mutation($source: String!) {{ createKpiScript(workspace: \"{WORKSPACE}\", input: {{ \
             key: \"hot_account\", name: \"Hot account\", goal: FIND, unit: \"points\", source: $source, \
             params: [{{name: \"min_attendees\", default: 3}}, {{name: \"threshold\", default: 0.9}}] }}) {{ version }} }}"
        ),
        json!({ "source": HOT_ACCOUNT }),
    )
    .await
    .context("saving the hot_account script")?;
    let query = format!(
        "query($c: ID) {{ customKpi(workspace: \"{WORKSPACE}\", key: \"hot_account\", filter: {{campaign: $c}}) {{ \
         elapsedMs errors {{ message }} perOrganization(first: 10) {{ nodes {{ value }} }} }} }}"
    );
    let (ms, runs, last) = p50(api, &query, &json!({ "c": campaign }), repeat).await?;
    let errors = last["customKpi"]["errors"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        errors == 0,
        "the saved script failed on {errors} organizations: {last}"
    );
    Ok(Row::new(
        format!("customKpi(hot_account, campaign {campaign}): p50 of {runs}"),
        ms,
        "ms",
    ))
}
