use sea_orm::entity::prelude::*;

/// A piece of content. `kind` is unknown until described for assets first seen in
/// an event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub external_id: String,
    pub kind: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub duration_seconds: Option<i32>,
    /// The landing page that promotes this asset (a webinar's registration page).
    pub landing_page_id: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
