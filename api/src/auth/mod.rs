//! Who is asking: operators signed in with a session cookie, and machines with an API key.
//!
//! Operators have a [`Role`] on a ladder (viewer < reviewer < admin); their passwords are argon2id hashes
//! in the `users` table, and a sign-in creates a server-side session (the `operator_sessions` table holds
//! the SHA-256 of the cookie's value and a CSRF token). Machines (the entry gates and sensors, the mobile
//! app's backend) send `Authorization: Bearer <key>`; each key has one [`Scope`] and is kept only as its
//! SHA-256 digest, compared in constant time.
//!
//! Every route declares its [`Access`] in [`crate::routes::route_table`]; one middleware enforces it and
//! puts the caller's [`Principal`] into the request for the handler.

mod keys;
pub(crate) mod middleware;
mod password;
pub mod rate_limit;
mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use keys::ApiKeys;
pub use middleware::{Principal, SESSION_COOKIE};
pub use password::{hash_password, verify_password};
pub use rate_limit::LoginLimiter;
pub use store::{OperatorSession, User};

/// An operator's role. Each role may do everything the roles below it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything the dashboard shows.
    Viewer,
    /// Also approves and corrects sessions in review, and resolves disputes.
    Reviewer,
    /// Also retries declined charges and manages operators.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Reviewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "reviewer" => Ok(Role::Reviewer),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "`{other}` is not a role (viewer, reviewer or admin)"
            )),
        }
    }
}

/// What a machine's API key may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The entry gates' check-ins, camera and sensor ingest, the pipeline's writes over HTTP.
    Ingest,
    /// The mobile app's backend: check-in tokens, live cart, receipt, disputes.
    App,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Ingest, Scope::App];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::App => "app",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Scope, String> {
        match s {
            "ingest" => Ok(Scope::Ingest),
            "app" => Ok(Scope::App),
            other => Err(format!("`{other}` is not a key scope (ingest or app)")),
        }
    }
}

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Access {
    /// Anyone: health, metrics, the OpenAPI document, login, the dashboard's static pages.
    Public,
    /// A signed-in operator with at least this role.
    Operator(Role),
    /// A machine with an API key of this scope.
    Key(Scope),
    /// Either an operator with at least this role or a key of this scope.
    OperatorOrKey(Role, Scope),
}

impl Access {
    /// Whether this caller may use the route.
    pub fn allows(self, principal: &Principal) -> bool {
        match (self, principal) {
            (Access::Public, _) => true,
            (Access::Operator(need), Principal::Operator(op))
            | (Access::OperatorOrKey(need, _), Principal::Operator(op)) => op.role >= need,
            (Access::Key(need), Principal::Key(scope))
            | (Access::OperatorOrKey(_, need), Principal::Key(scope)) => *scope == need,
            _ => false,
        }
    }

    /// For the OpenAPI document and error messages.
    pub fn describe(self) -> String {
        match self {
            Access::Public => "public".into(),
            Access::Operator(role) => format!("operator, role {role} or above"),
            Access::Key(scope) => format!("API key, scope {scope}"),
            Access::OperatorOrKey(role, scope) => {
                format!("operator, role {role} or above; or API key, scope {scope}")
            }
        }
    }
}

/// Random bytes from the operating system, hex-encoded: session cookies, CSRF tokens, salts.
pub(crate) fn random_token(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)?;
    Ok(hex::encode(buf))
}

/// SHA-256 of a secret, hex-encoded: what the database and the key table keep instead of the secret.
pub(crate) fn sha256_hex(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_ladder_is_ordered() {
        assert!(Role::Viewer < Role::Reviewer && Role::Reviewer < Role::Admin);
        let reviewer = Principal::Operator(middleware::OperatorPrincipal {
            username: "rita".into(),
            role: Role::Reviewer,
            csrf_token: String::new(),
        });
        assert!(Access::Operator(Role::Viewer).allows(&reviewer));
        assert!(Access::Operator(Role::Reviewer).allows(&reviewer));
        assert!(!Access::Operator(Role::Admin).allows(&reviewer));
        assert!(!Access::Key(Scope::App).allows(&reviewer));
        assert!(Access::Key(Scope::App).allows(&Principal::Key(Scope::App)));
        assert!(!Access::Key(Scope::App).allows(&Principal::Key(Scope::Ingest)));
        assert!(!Access::Operator(Role::Viewer).allows(&Principal::Key(Scope::App)));
        assert!(
            Access::OperatorOrKey(Role::Viewer, Scope::App).allows(&Principal::Key(Scope::App))
        );
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }
}
