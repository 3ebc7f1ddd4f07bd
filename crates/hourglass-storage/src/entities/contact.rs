use sea_orm::entity::prelude::*;

/// A person; belongs to at most one organization.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub external_id: String,
    pub organization_id: Option<i64>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    pub stage: String,
    /// When the latest stage change happened (ms since epoch), so late events
    /// never overwrite a newer stage.
    pub stage_changed_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
