//! The signature on every call to the payments service, defined once for the relay that signs and the
//! sandbox that verifies.
//!
//! `Walkout-Timestamp: <unix seconds>` and `Walkout-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`.
//! The timestamp is inside the signed bytes, so a captured request cannot be replayed outside the
//! receiver's window with a fresh timestamp.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Header with the signing time, in whole seconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "walkout-timestamp";
/// Header with the versioned signature.
pub const SIGNATURE_HEADER: &str = "walkout-signature";
/// Header whose value stays the same for every attempt at one charge.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

const VERSION_PREFIX: &str = "v1=";

/// A shared HMAC key. It never appears in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, SignatureError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(SignatureError::WeakSecret {
                len: bytes.len(),
                min: Self::MIN_LEN,
            });
        }
        Ok(Secret(bytes))
    }

    /// Reads the secret from an environment variable (secrets never come from code or files).
    pub fn from_env(var: &str) -> Result<Secret, SignatureError> {
        let value =
            std::env::var(var).map_err(|_| SignatureError::MissingSecret(var.to_string()))?;
        Secret::new(value.into_bytes())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; the length was checked when the secret was made.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signing secret is {len} bytes long; at least {min} are needed")]
    WeakSecret { len: usize, min: usize },
    #[error("the environment variable `{0}` holding the signing secret is not set")]
    MissingSecret(String),
    #[error("the `{0}` header is missing or not valid text")]
    MissingHeader(&'static str),
    #[error("the timestamp `{0}` is not a whole number of seconds")]
    BadTimestamp(String),
    #[error("the timestamp is {skew_secs} s away from now, outside the {tolerance_secs} s window")]
    Stale { skew_secs: i64, tolerance_secs: i64 },
    #[error("the signature is not in the form v1=<hex>")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The `Walkout-Signature` value for `body` sent at `timestamp_secs`.
pub fn sign(secret: &Secret, timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac = secret.mac();
    feed(&mut mac, timestamp_secs, body);
    format!("{VERSION_PREFIX}{}", to_hex(&mac.finalize().into_bytes()))
}

/// Checks a request's timestamp and signature headers against its body, at `now_secs`.
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::MissingHeader(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(SignatureError::MissingHeader(SIGNATURE_HEADER))?;
    let timestamp_secs: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(timestamp.chars().take(32).collect()))?;
    let skew_secs = now_secs.saturating_sub(timestamp_secs);
    if skew_secs.abs() > tolerance_secs {
        return Err(SignatureError::Stale {
            skew_secs,
            tolerance_secs,
        });
    }
    let hex = signature
        .trim()
        .strip_prefix(VERSION_PREFIX)
        .ok_or(SignatureError::Malformed)?;
    let expected = from_hex(hex).ok_or(SignatureError::Malformed)?;
    let mut mac = secret.mac();
    feed(&mut mac, timestamp_secs, body);
    // Constant-time comparison.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

fn feed(mac: &mut Hmac<Sha256>, timestamp_secs: i64, body: &[u8]) {
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Seconds since the Unix epoch, for signing timestamps.
pub fn unix_now_secs() -> i64 {
    crate::billing::unix_now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new(b"0123456789abcdef-test".to_vec()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let s = secret();
        let body = br#"{"amount_minor":129}"#;
        let sig = sign(&s, 1_700_000_000, body);
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64, "{sig}");
        let ok = verify(&s, Some("1700000000"), Some(&sig), body, 1_700_000_010, 300);
        assert_eq!(ok, Ok(()));
        let tampered = verify(
            &s,
            Some("1700000000"),
            Some(&sig),
            br#"{"amount_minor":128}"#,
            1_700_000_010,
            300,
        );
        assert_eq!(tampered, Err(SignatureError::Mismatch));
        let other_time = verify(&s, Some("1700000001"), Some(&sig), body, 1_700_000_010, 300);
        assert_eq!(other_time, Err(SignatureError::Mismatch));
        let stale = verify(&s, Some("1700000000"), Some(&sig), body, 1_700_001_000, 300);
        assert!(
            matches!(stale, Err(SignatureError::Stale { .. })),
            "{stale:?}"
        );
        let other_key =
            Secret::new(b"another-secret-of-16+".to_vec()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            verify(
                &other_key,
                Some("1700000000"),
                Some(&sig),
                body,
                1_700_000_010,
                300
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &s,
                Some("1700000000"),
                Some("v1=zz"),
                body,
                1_700_000_010,
                300
            ),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&s, None, Some(&sig), body, 1_700_000_010, 300),
            Err(SignatureError::MissingHeader(TIMESTAMP_HEADER))
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!(matches!(
            Secret::new(b"short".to_vec()),
            Err(SignatureError::WeakSecret { len: 5, .. })
        ));
        assert_eq!(format!("{:?}", secret()), "Secret(***)");
    }
}
