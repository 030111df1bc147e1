//! The `users` and `operator_sessions` tables.

use serde::Serialize;
use utoipa::ToSchema;

use super::password::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN, dummy_hash};
use super::{Role, hash_password, random_token, sha256_hex, verify_password};
use crate::db::on_pool;
use crate::{Database, DbError};

/// An operator, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub username: String,
    pub role: Role,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A signed-in operator's server-side session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct UserRow {
    username: String,
    role: String,
    created_at_ms: i64,
    updated_at_ms: i64,
}

#[derive(Debug, sqlx::FromRow)]
struct CredentialRow {
    password_hash: String,
    role: String,
}

#[derive(Debug, sqlx::FromRow)]
struct SessionRow {
    username: String,
    role: String,
    csrf_token: String,
    expires_at_ms: i64,
}

fn role_of(stored: &str) -> Result<Role, DbError> {
    stored.parse().map_err(|reason| DbError::Invalid {
        field: "users.role",
        reason,
    })
}

/// Usernames: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
fn validate_username(username: &str) -> Result<(), DbError> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DbError::Invalid {
            field: "username",
            reason: "must be 1 to 64 letters, digits, `.`, `_`, `-` or `@`".into(),
        })
    }
}

fn validate_password(password: &str) -> Result<(), DbError> {
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&password.chars().count()) {
        return Err(DbError::Invalid {
            field: "password",
            reason: format!("must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"),
        });
    }
    Ok(())
}

/// Runs argon2 off the async threads: it takes tens of milliseconds on purpose.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DbError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DbError::Invalid {
            field: "password",
            reason: format!("hashing was interrupted: {e}"),
        })
}

impl Database {
    /// Creates an operator, or sets an existing one's password and role. Changing a password signs the
    /// operator out everywhere.
    pub async fn upsert_user(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<(), DbError> {
        validate_username(username)?;
        validate_password(password)?;
        let password = password.to_string();
        let hash = blocking(move || hash_password(&password))
            .await?
            .map_err(|reason| DbError::Invalid {
                field: "password",
                reason,
            })?;
        let now_ms = crate::billing::unix_now_ms();
        on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO users (username, password_hash, role, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (username) DO UPDATE SET \
                 password_hash = excluded.password_hash, role = excluded.role, updated_at_ms = excluded.updated_at_ms",
            )
            .bind(username)
            .bind(&hash)
            .bind(role.as_str())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM operator_sessions WHERE username = $1")
                .bind(username)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        }.await)?;
        Ok(())
    }

    /// Every operator, by username.
    pub async fn users(&self) -> Result<Vec<User>, DbError> {
        let sql =
            "SELECT username, role, created_at_ms, updated_at_ms FROM users ORDER BY username";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, UserRow>(sql).fetch_all(pool).await)?;
        rows.into_iter()
            .map(|r| {
                Ok(User {
                    role: role_of(&r.role)?,
                    username: r.username,
                    created_at_ms: r.created_at_ms,
                    updated_at_ms: r.updated_at_ms,
                })
            })
            .collect()
    }

    /// The operator's role when the password is theirs. An unknown username costs the same argon2 work
    /// as a wrong password, so timing does not tell which usernames exist.
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Role>, DbError> {
        if validate_username(username).is_err() || password.len() > MAX_PASSWORD_LEN * 4 {
            return Ok(None);
        }
        let sql = "SELECT password_hash, role FROM users WHERE username = $1";
        let row = on_pool!(self, pool => sqlx::query_as::<_, CredentialRow>(sql)
            .bind(username)
            .fetch_optional(pool)
            .await)?;
        let (hash, role) = match row {
            Some(row) => (row.password_hash, Some(role_of(&row.role)?)),
            None => (dummy_hash().to_string(), None),
        };
        let password = password.to_string();
        let matches = blocking(move || verify_password(&password, &hash)).await?;
        Ok(role.filter(|_| matches))
    }

    /// Starts a session for a signed-in operator; returns the cookie's value (kept only as its digest)
    /// and the session's CSRF token.
    pub async fn create_operator_session(
        &self,
        username: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<(String, String), DbError> {
        let random = |what: &'static str| {
            random_token(32).map_err(|e| DbError::Invalid {
                field: what,
                reason: format!("no randomness: {e}"),
            })
        };
        let token = random("session")?;
        let csrf = random("csrf_token")?;
        let sql = "INSERT INTO operator_sessions (token_sha256, username, csrf_token, created_at_ms, expires_at_ms) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self, pool => async {
            // Expired sessions go as new ones come, so the table stays small without a sweeper task.
            sqlx::query("DELETE FROM operator_sessions WHERE expires_at_ms <= $1")
                .bind(now_ms)
                .execute(pool)
                .await?;
            sqlx::query(sql)
                .bind(sha256_hex(&token))
                .bind(username)
                .bind(&csrf)
                .bind(now_ms)
                .bind(now_ms.saturating_add(ttl_ms))
                .execute(pool)
                .await
                .map(|_| ())
        }.await)?;
        Ok((token, csrf))
    }

    /// The live session a cookie's value names, if any.
    pub async fn operator_session(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Option<OperatorSession>, DbError> {
        let sql = "SELECT s.username, u.role, s.csrf_token, s.expires_at_ms FROM operator_sessions s \
                   JOIN users u ON u.username = s.username \
                   WHERE s.token_sha256 = $1 AND s.expires_at_ms > $2";
        let row = on_pool!(self, pool => sqlx::query_as::<_, SessionRow>(sql)
            .bind(sha256_hex(token))
            .bind(now_ms)
            .fetch_optional(pool)
            .await)?;
        row.map(|r| {
            Ok(OperatorSession {
                role: role_of(&r.role)?,
                username: r.username,
                csrf_token: r.csrf_token,
                expires_at_ms: r.expires_at_ms,
            })
        })
        .transpose()
    }

    /// Ends a session (sign-out).
    pub async fn delete_operator_session(&self, token: &str) -> Result<(), DbError> {
        let sql = "DELETE FROM operator_sessions WHERE token_sha256 = $1";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(sha256_hex(token))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
