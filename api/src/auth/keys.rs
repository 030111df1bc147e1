//! Machine credentials: API keys, each with one scope, kept only as SHA-256 digests.

use subtle::ConstantTimeEq;

use super::Scope;

/// The API keys the server accepts. The keys come from the configuration (environment variables named
/// there), never from code; only their digests are kept.
#[derive(Clone, Default)]
pub struct ApiKeys {
    /// (digest of the key, its scope)
    digests: Vec<([u8; 32], Scope)>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scopes: Vec<Scope> = self.digests.iter().map(|(_, scope)| *scope).collect();
        f.debug_struct("ApiKeys").field("scopes", &scopes).finish()
    }
}

/// Shortest key accepted: a key must not be guessable.
pub const MIN_KEY_LEN: usize = 16;

impl ApiKeys {
    pub fn new() -> ApiKeys {
        ApiKeys::default()
    }

    /// Adds a key with its scope. Several keys may share a scope (one per gate, a key being rotated).
    /// A key shorter than `MIN_KEY_LEN` is not added (an error is logged); validate the configuration with
    /// [`ApiKeys::try_with_key`] to report it instead.
    pub fn with_key(self, scope: Scope, key: &str) -> ApiKeys {
        match self.clone().try_with_key(scope, key) {
            Ok(keys) => keys,
            Err(problem) => {
                // A configuration error the binary validates before this; refuse the key rather than
                // accept a guessable one.
                tracing::error!("{problem}; the key is not accepted");
                self
            }
        }
    }

    /// Adds a key with its scope, or says why the key is unfit.
    pub fn try_with_key(mut self, scope: Scope, key: &str) -> Result<ApiKeys, String> {
        if key.len() < MIN_KEY_LEN {
            return Err(format!(
                "the {scope} API key must be at least {MIN_KEY_LEN} characters"
            ));
        }
        self.digests.push((digest(key), scope));
        Ok(self)
    }

    /// The scope of a presented key, if it is one of ours. Every stored digest is compared, in constant
    /// time, so the answer's timing says nothing about which key came close.
    pub fn scope_of(&self, presented: &str) -> Option<Scope> {
        let presented = digest(presented);
        let mut found = None;
        for (stored, scope) in &self.digests {
            if bool::from(stored.ct_eq(&presented)) {
                found = Some(*scope);
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

fn digest(key: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(key.as_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_matched_to_their_scope() {
        let keys = ApiKeys::new()
            .with_key(Scope::Ingest, "gate-key-0123456789")
            .with_key(Scope::App, "app-key-0123456789abc");
        assert_eq!(keys.scope_of("gate-key-0123456789"), Some(Scope::Ingest));
        assert_eq!(keys.scope_of("app-key-0123456789abc"), Some(Scope::App));
        assert_eq!(keys.scope_of("app-key-0123456789abd"), None);
        assert!(ApiKeys::new().try_with_key(Scope::App, "short").is_err());
        assert!(!format!("{keys:?}").contains("gate-key"));
    }
}
