use sea_orm::entity::prelude::*;

/// A marketing effort with exactly one goal.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "campaigns")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub external_id: String,
    pub name: String,
    pub goal: String,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub budget: Option<f64>,
    pub currency: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
