//! `hourglass admin …`: bootstrapping tenancy from the command line. The operator
//! creates an agency and its first key here; everything after that goes through
//! GraphQL with that key.

use std::process::ExitCode;

use anyhow::Context as _;
use hourglass_core::access::KEY_RANDOM_BYTES;
use hourglass_core::{Role, Slug};
use hourglass_storage::{ApiKeyRecord, IssuedKey, StorageError, Store, Tenant, from_millis};
use rand::Rng as _;

use crate::cli::AdminCommand;
use crate::invocation::Invocation;

/// Random bytes for a new key, from the thread's CSPRNG (ChaCha, seeded by the OS).
fn new_key_bytes() -> [u8; KEY_RANDOM_BYTES] {
    let mut bytes = [0; KEY_RANDOM_BYTES];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

/// The agency's tenant, creating the agency first when there is none by that slug.
pub async fn agency_or_create(store: &Store, slug: &str, name: &str) -> anyhow::Result<Tenant> {
    let slug = Slug::parse(slug).context("an agency slug")?;
    match store.create_agency(&slug, name).await {
        Ok(_) | Err(StorageError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(store.agency_tenant(slug.as_str()).await?)
}

/// Issues a key with fresh randomness: the one way keys are made, from the CLI, the
/// demo and `createApiKey` alike. Its secret is in the answer and nowhere else.
pub async fn issue_key(
    tenant: &Tenant,
    workspace: Option<&str>,
    role: Role,
    name: &str,
) -> Result<IssuedKey, StorageError> {
    tenant
        .create_api_key(workspace, role, name, new_key_bytes())
        .await
}

/// Runs an admin command; `again` is how the operator ran this one, for the next
/// command it suggests.
pub async fn run(
    store: &Store,
    command: AdminCommand,
    again: &Invocation,
) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateAgency { slug, name } => {
            let slug = Slug::parse(&slug).context("an agency slug")?;
            let agency = store
                .create_agency(&slug, name.as_deref().unwrap_or(slug.as_str()))
                .await?;
            println!("agency '{}' created ({})", agency.slug, agency.name);
            println!(
                "next: {}{}",
                again.command(&[
                    "admin",
                    "create-key",
                    "--agency",
                    agency.slug.as_str(),
                    "--role",
                    "ADMIN"
                ]),
                again.note()
            );
        }
        AdminCommand::CreateKey {
            agency,
            workspace,
            role,
            name,
        } => {
            let role: Role = role.to_ascii_uppercase().parse()?;
            let tenant = store.agency_tenant(&agency).await?;
            let name = name.unwrap_or_else(|| format!("{role} key (CLI)"));
            let issued = issue_key(&tenant, workspace.as_deref(), role, &name).await?;
            let scope = match &issued.record.workspace {
                Some(w) => format!("workspace '{w}' of agency '{agency}'"),
                None => format!("every workspace of agency '{agency}'"),
            };
            eprintln!("{role} key '{}' for {scope}.", issued.record.public_id);
            eprintln!("It is shown once; store it now. Send it as: Authorization: Bearer <key>");
            println!("{}", issued.secret.reveal());
        }
        AdminCommand::ListKeys { agency } => {
            let tenant = store.agency_tenant(&agency).await?;
            for key in tenant.api_keys().await? {
                println!("{}", describe(&key));
            }
        }
        AdminCommand::RevokeKey { agency, id } => {
            let tenant = store.agency_tenant(&agency).await?;
            let key = tenant.revoke_api_key(&id).await?;
            println!("revoked: {}", describe(&key));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(key: &ApiKeyRecord) -> String {
    let time =
        |ms: Option<i64>| ms.map_or_else(|| "-".to_owned(), |ms| from_millis(ms).to_rfc3339());
    format!(
        "{}\t{}\t{}\t{}\tcreated {}\tlast used {}\t{}",
        key.public_id,
        key.role,
        key.workspace.as_deref().unwrap_or("*"),
        key.name,
        time(Some(key.created_at)),
        time(key.last_used_at),
        if key.revoked_at.is_some() {
            "REVOKED"
        } else {
            "active"
        },
    )
}
