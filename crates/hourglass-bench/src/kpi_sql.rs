//! The bench's own answers to the dashboard questions, in plain SQL over the
//! events table, written from domain.md and the semantics of storage's `kpis.rs`:
//! counts per kind; distinct people = distinct contact ids plus distinct anonymous
//! ids of events without a contact; landing viewers = page views on LANDING_PAGE
//! assets; registrants and attendees distinct people, and the rates' numerators
//! those of them who also took the step before; when the filter names an
//! asset, funnel people look at the asset, its landing page and the assets it is
//! the landing page of; spend per campaign, channel and calendar day.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

/// Whole days in a time zone, as the API's `days` filter.
#[derive(Debug, Clone, Copy)]
pub struct Days {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub zone: Tz,
}

/// One dashboard filter, given to the API and to the SQL alike.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub campaign: Option<String>,
    pub channel: Option<String>,
    pub asset: Option<String>,
    pub days: Option<Days>,
}

impl Filter {
    /// The `KpiFilterInput` for GraphQL variables.
    pub fn to_graphql(&self) -> Value {
        let mut input = serde_json::Map::new();
        if let Some(c) = &self.campaign {
            input.insert("campaign".into(), json!(c));
        }
        if let Some(c) = &self.channel {
            input.insert("channel".into(), json!(c));
        }
        if let Some(a) = &self.asset {
            input.insert("asset".into(), json!(a));
        }
        if let Some(d) = &self.days {
            input.insert(
                "days".into(),
                json!({ "from": d.from, "to": d.to, "timeZone": d.zone.name() }),
            );
        }
        Value::Object(input)
    }

    /// `[from, to)` in UTC milliseconds: each day starts at local midnight (or the
    /// first local time after a daylight-saving gap).
    fn range(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let d = self.days?;
        let start = |date: NaiveDate| -> Option<DateTime<Utc>> {
            let local = date.and_time(NaiveTime::MIN);
            (0..=2)
                .find_map(|h| {
                    d.zone
                        .from_local_datetime(&(local + chrono::Duration::hours(h)))
                        .earliest()
                })
                .map(|t| t.with_timezone(&Utc))
        };
        Some((start(d.from)?, start(d.to)?))
    }
}

/// What a KPI report must say, by the bench's SQL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expected {
    /// Event kind (API spelling) → count; kinds without events are absent.
    pub counts: BTreeMap<String, u64>,
    pub unique_visitors: u64,
    pub landing_viewers: u64,
    pub registrants: u64,
    pub attendees: u64,
    /// Registrants who also viewed a landing page (the registration rate's numerator).
    pub registered_viewers: u64,
    /// Attendees who also registered (the attendance rate's numerator).
    pub registered_attendees: u64,
    pub spend: Option<f64>,
}

/// SQL text for a string the bench itself chose (ids of the demo, channel names).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Runs the baseline's queries over its own connection.
#[derive(Debug, Clone)]
pub struct KpiSql {
    db: DatabaseConnection,
    workspace: i64,
}

impl KpiSql {
    pub async fn new(db: DatabaseConnection, slug: &str) -> anyhow::Result<Self> {
        let mut sql = Self { db, workspace: 0 };
        sql.workspace = sql
            .single(&format!(
                "SELECT id FROM workspaces WHERE slug = {}",
                literal(slug)
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("workspace {slug} not found"))?;
        Ok(sql)
    }

    async fn rows(&self, sql: &str) -> anyhow::Result<Vec<sea_orm::QueryResult>> {
        let backend = self.db.get_database_backend();
        Ok(self
            .db
            .query_all_raw(Statement::from_string(backend, sql.to_owned()))
            .await?)
    }

    /// The first column of the first row, if any.
    async fn single(&self, sql: &str) -> anyhow::Result<Option<i64>> {
        let rows = self.rows(sql).await?;
        Ok(match rows.first() {
            Some(row) => row.try_get_by_index::<Option<i64>>(0)?,
            None => None,
        })
    }

    async fn id_of(&self, table: &str, external: &str) -> anyhow::Result<i64> {
        self.single(&format!(
            "SELECT id FROM {table} WHERE workspace_id = {} AND external_id = {}",
            self.workspace,
            literal(external)
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("{table} {external} not found"))
    }

    /// The filter as SQL conditions on `events`, with the asset exactly or its family.
    async fn conditions(&self, filter: &Filter) -> anyhow::Result<(String, String)> {
        let mut common = format!("workspace_id = {}", self.workspace);
        if let Some(c) = &filter.campaign {
            let id = self.id_of("campaigns", c).await?;
            common.push_str(&format!(" AND campaign_id = {id}"));
        }
        if let Some(channel) = &filter.channel {
            common.push_str(&format!(
                " AND channel = {}",
                literal(&channel.to_lowercase())
            ));
        }
        if let Some((from, to)) = filter.range() {
            common.push_str(&format!(
                " AND occurred_at >= {} AND occurred_at < {}",
                from.timestamp_millis(),
                to.timestamp_millis()
            ));
        }
        let Some(asset) = &filter.asset else {
            return Ok((common.clone(), common));
        };
        let id = self.id_of("assets", asset).await?;
        let mut family = vec![id];
        let landing = self
            .single(&format!(
                "SELECT landing_page_id FROM assets WHERE id = {id}"
            ))
            .await?;
        family.extend(landing);
        for row in self
            .rows(&format!(
                "SELECT id FROM assets WHERE workspace_id = {} AND landing_page_id = {id}",
                self.workspace
            ))
            .await?
        {
            family.push(row.try_get_by_index::<i64>(0)?);
        }
        let family: Vec<String> = family.iter().map(i64::to_string).collect();
        Ok((
            format!("{common} AND asset_id = {id}"),
            format!("{common} AND asset_id IN ({})", family.join(",")),
        ))
    }

    async fn people(&self, condition: &str, kinds: &str) -> anyhow::Result<u64> {
        let n = self
            .single(&format!(
                "SELECT COUNT(DISTINCT contact_id) \
                 + COUNT(DISTINCT CASE WHEN contact_id IS NULL THEN anonymous_id END) \
                 FROM events WHERE {condition} AND kind IN ({kinds})"
            ))
            .await?;
        Ok(u64::try_from(n.unwrap_or(0))?)
    }

    /// People with an event of `kinds` in `condition` who also have one of `before` in
    /// `before_condition`: the two sets of person keys intersected.
    async fn people_also(
        &self,
        (condition, kinds): (&str, &str),
        (before_condition, before): (&str, &str),
    ) -> anyhow::Result<u64> {
        let keys = |condition: &str, kinds: &str| {
            format!(
                "SELECT CASE WHEN contact_id IS NOT NULL THEN 'c' || contact_id \
                 ELSE 'a' || anonymous_id END FROM events WHERE {condition} \
                 AND kind IN ({kinds}) AND (contact_id IS NOT NULL OR anonymous_id IS NOT NULL)"
            )
        };
        let n = self
            .single(&format!(
                "SELECT COUNT(*) FROM ({} INTERSECT {}) AS both_steps",
                keys(condition, kinds),
                keys(before_condition, before)
            ))
            .await?;
        Ok(u64::try_from(n.unwrap_or(0))?)
    }

    async fn spend(&self, filter: &Filter) -> anyhow::Result<Option<f64>> {
        if filter.asset.is_some() {
            return Ok(None);
        }
        let mut sql = format!(
            "SELECT SUM(amount) FROM spend WHERE workspace_id = {}",
            self.workspace
        );
        if let Some(c) = &filter.campaign {
            let id = self.id_of("campaigns", c).await?;
            sql.push_str(&format!(" AND campaign_id = {id}"));
        }
        if let Some(channel) = &filter.channel {
            sql.push_str(&format!(
                " AND channel = {}",
                literal(&channel.to_lowercase())
            ));
        }
        // Spend is recorded per calendar day: the days asked select their dates,
        // whatever the zone they were asked in.
        if let Some(days) = filter.days {
            sql.push_str(&format!(
                " AND day >= '{}' AND day < '{}'",
                days.from, days.to
            ));
        }
        let rows = self.rows(&sql).await?;
        let total = match rows.first() {
            Some(row) => row.try_get_by_index::<Option<f64>>(0)?,
            None => None,
        };
        Ok(Some(total.unwrap_or(0.0)))
    }

    /// Every number of the report for `filter`.
    pub async fn expected(&self, filter: &Filter) -> anyhow::Result<Expected> {
        let (exact, family) = self.conditions(filter).await?;
        let mut counts = BTreeMap::new();
        for row in self
            .rows(&format!(
                "SELECT kind, COUNT(*) FROM events WHERE {exact} GROUP BY kind"
            ))
            .await?
        {
            let kind: String = row.try_get_by_index(0)?;
            let n: i64 = row.try_get_by_index(1)?;
            counts.insert(kind, u64::try_from(n)?);
        }
        let landing = format!(
            "{family} AND asset_id IN (SELECT id FROM assets WHERE workspace_id = {} \
             AND kind = 'LANDING_PAGE')",
            self.workspace
        );
        Ok(Expected {
            counts,
            unique_visitors: self.people(&exact, "'IMPRESSION','PAGE_VIEW'").await?,
            landing_viewers: self.people(&landing, "'PAGE_VIEW'").await?,
            registrants: self.people(&family, "'REGISTRATION'").await?,
            attendees: self.people(&family, "'ATTENDANCE'").await?,
            registered_viewers: self
                .people_also((&family, "'REGISTRATION'"), (&landing, "'PAGE_VIEW'"))
                .await?,
            registered_attendees: self
                .people_also((&family, "'ATTENDANCE'"), (&family, "'REGISTRATION'"))
                .await?,
            spend: self.spend(filter).await?,
        })
    }
}
