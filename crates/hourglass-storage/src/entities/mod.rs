//! sea-orm entities: one per table. These are storage types; the server never
//! exposes them as they are.

pub mod agency;
pub mod api_key;
pub mod asset;
pub mod campaign;
pub mod contact;
pub mod event;
pub mod kpi_script;
pub mod kpi_script_version;
pub mod organization;
pub mod spend;
pub mod tracker_link;
pub mod workspace;
