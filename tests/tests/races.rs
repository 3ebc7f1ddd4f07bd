//! Concurrent writes of the same thing: one creation wins and the others are told
//! ALREADY_EXISTS (never INTERNAL), and concurrent new versions of a KPI script each
//! get their own number — on both backends.

#![allow(clippy::unwrap_used)]

use futures_util::future::join_all;
use hourglass_tests::{Backend, TestApp, error_code, on_both_backends};
use serde_json::{Value, json};

const RACERS: usize = 8;

async fn race(app: &TestApp, query: &str) -> Vec<Value> {
    join_all((0..RACERS).map(|_| app.graphql(query, json!({})))).await
}

async fn one_creation_wins_and_the_others_already_exist(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.create_workspace("race").await;
    for (what, query) in [
        (
            "campaign",
            "mutation { createCampaign(workspace: \"race\", input: {id: \"c\", name: \"C\", goal: FIND}) { id } }",
        ),
        (
            "asset",
            "mutation { createAsset(workspace: \"race\", input: {id: \"a\", kind: WEBINAR}) { id } }",
        ),
        (
            "organization",
            "mutation { createOrganization(workspace: \"race\", input: {id: \"o\"}) { id } }",
        ),
        (
            "KPI script",
            "mutation { createKpiScript(workspace: \"race\", input: {key: \"race_kpi\", name: \"K\", goal: FIND, source: \"1\"}) { key } }",
        ),
    ] {
        let answers = race(&app, query).await;
        let won = answers.iter().filter(|a| a.get("errors").is_none()).count();
        assert_eq!(won, 1, "{what}: {answers:#?}");
        for answer in answers.iter().filter(|a| a.get("errors").is_some()) {
            assert_eq!(error_code(answer), "ALREADY_EXISTS", "{what}: {answer}");
        }
    }

    // New versions of one script at once: each is saved under its own number.
    let answers = race(
        &app,
        "mutation { updateKpiScript(workspace: \"race\", key: \"race_kpi\", input: {source: \"2\"}) { version } }",
    )
    .await;
    let mut versions: Vec<u64> = answers
        .iter()
        .map(|a| {
            a["data"]["updateKpiScript"]["version"]
                .as_u64()
                .unwrap_or_else(|| panic!("{a}"))
        })
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (2..=1 + RACERS as u64).collect::<Vec<_>>());
}

on_both_backends!(one_creation_wins_and_the_others_already_exist);
