use sea_orm::entity::prelude::*;

/// A tracker link: a public code that records a click and redirects.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tracker_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub code: String,
    pub campaign: Option<String>,
    pub asset: Option<String>,
    pub channel: Option<String>,
    pub contact: Option<String>,
    pub destination: String,
    pub utm: Json,
    pub clicks: i64,
    pub archived_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
