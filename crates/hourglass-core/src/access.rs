//! Who may do what: API key roles, the permissions they grant, and the key format.
//!
//! A key is `hg_<public id>_<secret>`. The public id finds the key's row; only the
//! SHA-256 of the secret is stored, and it is compared in constant time. A slow
//! password hash would buy nothing here: the secret is 256 random bits, not
//! something a person chose.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::kinds::vocabulary;

vocabulary! {
    /// What a key may do, from most to least.
    Role, "role" {
        /// Keys, workspaces, settings, the catalog — and everything below.
        Admin = "ADMIN",
        /// Reads everything and writes custom KPI scripts.
        Analyst = "ANALYST",
        /// Writes events and nothing else: what a tracker or a pipeline gets.
        Ingest = "INGEST",
        /// Reads: what a dashboard gets.
        Read = "READ",
    }
}

/// One kind of action a request needs to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read KPIs, the catalog, events, scripts.
    Read,
    /// Send events.
    Ingest,
    /// Create, change, archive and preview KPI scripts.
    WriteScripts,
    /// Workspaces, their settings, the catalog (campaigns, assets, organizations,
    /// spend) and API keys.
    Administer,
}

impl Role {
    pub const fn allows(self, permission: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Analyst => matches!(permission, Permission::Read | Permission::WriteScripts),
            Role::Ingest => matches!(permission, Permission::Ingest),
            Role::Read => matches!(permission, Permission::Read),
        }
    }
}

const PREFIX: &str = "hg_";
/// Bytes of randomness in the public id and the secret.
const PUBLIC_ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// Random bytes a new key is made from.
pub const KEY_RANDOM_BYTES: usize = PUBLIC_ID_BYTES + SECRET_BYTES;

/// An API key in full, as shown once to whoever creates it. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret {
    public_id: String,
    secret: String,
}

impl ApiKeySecret {
    /// A key from fresh random bytes; the caller draws them from a CSPRNG.
    pub fn from_random(bytes: [u8; KEY_RANDOM_BYTES]) -> Self {
        let (public_id, secret) = bytes.split_at(PUBLIC_ID_BYTES);
        Self {
            public_id: hex::encode(public_id),
            secret: hex::encode(secret),
        }
    }

    /// Reads a presented key; `None` when it cannot be one of ours.
    pub fn parse(presented: &str) -> Option<Self> {
        let rest = presented.strip_prefix(PREFIX)?;
        let (public_id, secret) = rest.split_once('_')?;
        let is_hex = |s: &str, bytes: usize| {
            s.len() == bytes * 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        (is_hex(public_id, PUBLIC_ID_BYTES) && is_hex(secret, SECRET_BYTES)).then(|| Self {
            public_id: public_id.to_owned(),
            secret: secret.to_owned(),
        })
    }

    /// The part that names the key in listings and logs; not a secret.
    pub fn public_id(&self) -> &str {
        &self.public_id
    }

    /// What is stored: the secret's SHA-256, hex.
    pub fn secret_hash(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// Whether this key's secret hashes to `stored_hash`, in constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        let computed = self.secret_hash();
        computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
    }

    /// The whole key, to hand to its owner exactly once.
    pub fn reveal(&self) -> String {
        format!("{PREFIX}{}_{}", self.public_id, self.secret)
    }
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({PREFIX}{}_…)", self.public_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> ApiKeySecret {
        ApiKeySecret::from_random([seed; KEY_RANDOM_BYTES])
    }

    #[test]
    fn a_key_reads_back_and_matches_only_its_own_hash() {
        let a = key(1);
        let shown = a.reveal();
        assert!(shown.starts_with("hg_0101010101010101_"), "{shown}");
        assert_eq!(shown.len(), 3 + 16 + 1 + 64);
        let parsed = ApiKeySecret::parse(&shown).expect("parses");
        assert_eq!(parsed, a);
        assert!(parsed.matches(&a.secret_hash()));
        assert!(!parsed.matches(&key(2).secret_hash()));
        assert!(!parsed.matches(""), "an empty stored hash never matches");
    }

    #[test]
    fn anything_else_is_not_a_key() {
        let shown = key(3).reveal();
        for bad in [
            "",
            "hg_",
            "Bearer x",
            &shown[..shown.len() - 1],
            &format!("{shown}0"),
            &shown.replace("hg_", "hx_"),
            &shown.to_uppercase(),
            &shown.replacen('_', "-", 2),
        ] {
            assert_eq!(ApiKeySecret::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let a = key(4);
        let debug = format!("{a:?}");
        assert!(!debug.contains(&a.secret), "{debug}");
        assert!(debug.contains(a.public_id()));
    }

    #[test]
    fn roles_grant_what_the_readme_says() {
        use Permission::*;
        let grants = |role: Role| {
            [Read, Ingest, WriteScripts, Administer]
                .into_iter()
                .filter(|p| role.allows(*p))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            grants(Role::Admin),
            [Read, Ingest, WriteScripts, Administer]
        );
        assert_eq!(grants(Role::Analyst), [Read, WriteScripts]);
        assert_eq!(grants(Role::Ingest), [Ingest]);
        assert_eq!(grants(Role::Read), [Read]);
    }
}
