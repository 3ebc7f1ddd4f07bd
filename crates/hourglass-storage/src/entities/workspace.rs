use sea_orm::entity::prelude::*;

/// A client company's data space: the unit of tenancy.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The agency that owns the workspace; slugs are unique within it.
    pub agency_id: i64,
    pub slug: String,
    pub name: String,
    /// Rates with a smaller sample are marked insufficient.
    pub min_sample: i32,
    pub created_at: i64,
    /// Depth-score weights as JSON; `None` means the defaults.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub depth_weights: Option<Json>,
    /// Share of a webinar's duration that counts as staying to the end.
    pub full_stay_threshold: f64,
    /// Lifecycle stages in order as a JSON array; `None` means the defaults.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub lifecycle_stages: Option<Json>,
    /// The generation of rollups the workspace holds; behind the current one, its KPIs
    /// are answered from raw events until `rollups rebuild`.
    pub rollup_version: i32,
    /// Bumped by every write transaction of the workspace: the key cached KPI
    /// answers are stored under.
    pub data_version: i64,
    /// ISO 4217 reporting currency: what revenue and spend that name none are in.
    pub currency: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
