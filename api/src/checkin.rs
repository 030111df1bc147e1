//! Check-in tokens: the QR code the app shows at the entry gate. Short-lived, signed with a key of the
//! store's, and single-use: the gate's check-in spends the token's nonce.
//!
//! Format: `v1.<account id>.<expires at, unix seconds>.<nonce>.<hex HMAC-SHA256 of everything before>`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::Database;
use crate::billing::{BillingError, relay::splitmix64, unix_now_ms, validate_id};
use crate::db::on_pool;
use crate::signing::{self, Secret};

const VERSION: &str = "v1";

/// Issues and checks check-in tokens.
#[derive(Debug)]
pub struct CheckInTokens {
    secret: Secret,
    ttl_secs: i64,
    nonces: AtomicU64,
}

/// A token for the app to show as a QR code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at_secs: i64,
}

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub account_id: String,
    pub nonce: String,
    pub expires_at_secs: i64,
}

/// A check-in the gate recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckInRecord {
    pub account_id: String,
    pub gate: String,
    pub checked_in_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the check-in token is malformed")]
    Malformed,
    #[error("the check-in token's signature is not valid")]
    BadSignature,
    #[error("the check-in token expired {0} s ago")]
    Expired(i64),
    #[error("the check-in token was already used")]
    Replayed,
}

impl CheckInTokens {
    /// Tokens valid for `ttl_secs` (a minute or two: long enough to walk to the gate).
    pub fn new(secret: Secret, ttl_secs: i64) -> CheckInTokens {
        let seed =
            u64::try_from(unix_now_ms()).unwrap_or(0) ^ (u64::from(std::process::id()) << 32);
        CheckInTokens {
            secret,
            ttl_secs,
            nonces: AtomicU64::new(seed),
        }
    }

    pub fn issue(&self, account_id: &str, now_secs: i64) -> Result<IssuedToken, BillingError> {
        validate_id("account_id", account_id)?;
        let expires_at_secs = now_secs.saturating_add(self.ttl_secs);
        // The nonce only has to be unique (the signature is what makes a token unforgeable).
        let counter = self.nonces.fetch_add(1, Ordering::Relaxed);
        let nonce = format!("{:016x}", splitmix64(counter));
        let unsigned = format!("{VERSION}.{account_id}.{expires_at_secs}.{nonce}");
        // Signed like a payments request stamped at time 0, so that the HMAC format is defined once.
        let signature = signing::sign(&self.secret, 0, unsigned.as_bytes());
        let signature = signature.trim_start_matches("v1=");
        Ok(IssuedToken {
            token: format!("{unsigned}.{signature}"),
            expires_at_secs,
        })
    }

    /// Checks the signature and the expiry (not the replay: that is the database's, at check-in).
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<VerifiedToken, TokenError> {
        if token.len() > 512 {
            return Err(TokenError::Malformed);
        }
        let (unsigned, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let mut parts = unsigned.rsplitn(3, '.');
        let (Some(nonce), Some(expires), Some(versioned_account)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let account_id = versioned_account
            .strip_prefix("v1.")
            .ok_or(TokenError::Malformed)?;
        let expires_at_secs: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
        signing::verify(
            &self.secret,
            Some("0"),
            Some(&format!("v1={signature}")),
            unsigned.as_bytes(),
            0,
            0,
        )
        .map_err(|err| match err {
            signing::SignatureError::Malformed => TokenError::Malformed,
            _ => TokenError::BadSignature,
        })?;
        if now_secs > expires_at_secs {
            return Err(TokenError::Expired(now_secs - expires_at_secs));
        }
        if validate_id("account_id", account_id).is_err() {
            return Err(TokenError::Malformed);
        }
        Ok(VerifiedToken {
            account_id: account_id.to_string(),
            nonce: nonce.to_string(),
            expires_at_secs,
        })
    }
}

impl Database {
    /// Records a check-in, spending the token's nonce. A nonce already spent is a replay.
    pub async fn record_check_in(
        &self,
        token: &VerifiedToken,
        gate: &str,
        now_ms: i64,
    ) -> Result<CheckInRecord, CheckInError> {
        validate_id("gate", gate).map_err(CheckInError::Billing)?;
        let sql = "INSERT INTO check_ins (nonce, account_id, gate, checked_in_at_ms) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (nonce) DO NOTHING";
        let inserted = on_pool!(self, pool => sqlx::query(sql)
            .bind(&token.nonce)
            .bind(&token.account_id)
            .bind(gate)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| CheckInError::Billing(e.into()))?;
        if inserted == 0 {
            return Err(CheckInError::Token(TokenError::Replayed));
        }
        Ok(CheckInRecord {
            account_id: token.account_id.clone(),
            gate: gate.to_string(),
            checked_in_at_ms: now_ms,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckInError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Billing(BillingError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> CheckInTokens {
        CheckInTokens::new(
            Secret::new(b"check-in-secret-0123".to_vec()).unwrap_or_else(|e| panic!("{e}")),
            120,
        )
    }

    #[test]
    fn tokens_verify_until_they_expire_and_cannot_be_forged() {
        let tokens = tokens();
        let issued = tokens
            .issue("acct.with.dots", 1_000)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(issued.expires_at_secs, 1_120);
        let verified = tokens
            .verify(&issued.token, 1_100)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verified.account_id, "acct.with.dots");
        assert_eq!(
            tokens.verify(&issued.token, 1_121),
            Err(TokenError::Expired(1))
        );
        let forged = issued.token.replace("acct.with.dots", "acct.other");
        assert_eq!(tokens.verify(&forged, 1_100), Err(TokenError::BadSignature));
        let extended = issued.token.replace(".1120.", ".9999.");
        assert_eq!(
            tokens.verify(&extended, 1_100),
            Err(TokenError::BadSignature)
        );
        assert_eq!(tokens.verify("garbage", 1_100), Err(TokenError::Malformed));
        let second = tokens
            .issue("acct.with.dots", 1_000)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(second.token, issued.token, "every token has its own nonce");
    }
}
