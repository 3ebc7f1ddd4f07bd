use sea_orm::entity::prelude::*;

/// An API key: its public id, its role and scope, and the hash of its secret.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub public_id: String,
    pub agency_id: i64,
    /// `None` for a key acting on every workspace of its agency.
    pub workspace_id: Option<i64>,
    pub role: String,
    pub name: String,
    /// SHA-256 of the secret, hex. Never leaves storage.
    pub secret_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
