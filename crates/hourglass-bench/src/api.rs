//! The bench's client of the public interfaces: GraphQL and NDJSON ingest over HTTP.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

/// The workspace every bench run loads into.
pub const WORKSPACE: &str = "bench";

/// An authenticated client of one server.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    pub fn new(address: &str, key: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                // A hung request fails the run instead of hanging it; the slowest
                // query measured (uncached depth at 10M events) takes seconds.
                .timeout(Duration::from_secs(300))
                .build()
                .unwrap_or_default(),
            base: format!("http://{address}"),
            key: key.to_owned(),
        }
    }

    /// Runs a GraphQL document; any `errors` in the answer is a failure.
    pub async fn graphql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let answer: Value = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(&self.key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?
            .json()
            .await?;
        if let Some(errors) = answer.get("errors") {
            anyhow::bail!("GraphQL errors: {errors}\nquery: {query}");
        }
        answer.get("data").cloned().context("no data in the answer")
    }

    /// A batched (JSON array) GraphQL request; every operation must succeed.
    pub async fn graphql_batch(&self, queries: &[String]) -> anyhow::Result<()> {
        let body: Vec<Value> = queries.iter().map(|q| json!({ "query": q })).collect();
        let answers: Vec<Value> = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        for answer in answers {
            if let Some(errors) = answer.get("errors") {
                anyhow::bail!("GraphQL errors: {errors}");
            }
        }
        Ok(())
    }

    /// Times one GraphQL document and returns its data.
    pub async fn timed(&self, query: &str, variables: Value) -> anyhow::Result<(Duration, Value)> {
        let started = Instant::now();
        let data = self.graphql(query, variables).await?;
        Ok((started.elapsed(), data))
    }

    /// `POST /v1/events?workspace=…` with an NDJSON body; returns events accepted.
    pub async fn ingest_ndjson(&self, body: Vec<u8>) -> anyhow::Result<u64> {
        let response = self
            .client
            .post(format!("{}/v1/events?workspace={WORKSPACE}", self.base))
            .bearer_auth(&self.key)
            .header("Content-Type", "application/x-ndjson")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let report: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "ingest answered {status}: {report}");
        let rejected = report["rejected"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(rejected == 0, "ingest rejected events: {report}");
        report["accepted"]
            .as_u64()
            .context("no `accepted` in the ingest report")
    }
}

/// The `p` quantile (0–1) of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1e3
}
