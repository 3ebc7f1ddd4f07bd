use sea_orm::entity::prelude::*;

/// One immutable version of a KPI script: what it computes and how.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "kpi_script_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub script_id: i64,
    pub version: i32,
    pub name: String,
    pub description: Option<String>,
    pub goal: String,
    pub unit: Option<String>,
    pub source: String,
    /// Declared parameters: a JSON array of `{ name, default, description }`.
    #[sea_orm(column_type = "JsonBinary")]
    pub params: Json,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
