use sea_orm::entity::prelude::*;

/// One engagement event. Times are milliseconds since the Unix epoch, UTC.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub workspace_id: i64,
    pub message_id: String,
    pub kind: String,
    pub occurred_at: i64,
    pub received_at: i64,
    pub contact_id: Option<i64>,
    pub anonymous_id: Option<String>,
    pub organization_id: Option<i64>,
    pub campaign_id: Option<i64>,
    pub asset_id: Option<i64>,
    pub channel: Option<String>,
    pub value: Option<f64>,
    #[sea_orm(column_type = "JsonBinary")]
    pub properties: Json,
    /// The workspace's dense number for the event's person (contact, else anonymous
    /// visitor); `None` when the event names neither.
    pub person: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
