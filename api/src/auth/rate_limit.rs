//! The login rate limit: a token bucket per client address and one per username, in memory.
//!
//! Two buckets because each stops a different attack: the address bucket slows one machine trying many
//! usernames, the username bucket slows many machines trying one operator's password. A refused attempt
//! is answered 429 with `Retry-After`. The state is per process, which is what one store's server needs.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many attempts a bucket holds and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Attempts allowed in a burst.
    pub capacity: f64,
    /// Seconds for one attempt to come back.
    pub refill_secs: f64,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    tokens: f64,
    at: Instant,
}

/// Most keys remembered; beyond it, full buckets are forgotten first.
const MAX_KEYS: usize = 10_000;

#[derive(Debug)]
pub struct LoginLimiter {
    per_address: Bucket,
    per_username: Bucket,
    levels: Mutex<HashMap<String, Level>>,
}

impl Default for LoginLimiter {
    /// 10 attempts per address, refilling one every 6 s; 5 per username, one every 12 s.
    fn default() -> Self {
        LoginLimiter::new(
            Bucket {
                capacity: 10.0,
                refill_secs: 6.0,
            },
            Bucket {
                capacity: 5.0,
                refill_secs: 12.0,
            },
        )
    }
}

impl LoginLimiter {
    pub fn new(per_address: Bucket, per_username: Bucket) -> LoginLimiter {
        LoginLimiter {
            per_address,
            per_username,
            levels: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt from both buckets, or says how long to wait. Nothing is taken when either is
    /// empty, so a refused attempt does not push the wait further out.
    pub fn check(&self, address: &str, username: &str) -> Result<(), Duration> {
        self.check_at(address, username, Instant::now())
    }

    fn check_at(&self, address: &str, username: &str, now: Instant) -> Result<(), Duration> {
        let mut levels = self.levels.lock().unwrap_or_else(PoisonError::into_inner);
        if levels.len() > MAX_KEYS {
            let (a, u) = (self.per_address, self.per_username);
            levels.retain(|key, level| {
                let bucket = if key.starts_with("addr:") { a } else { u };
                refilled(bucket, *level, now) < bucket.capacity
            });
        }
        let keys = [
            (format!("addr:{address}"), self.per_address),
            (
                format!("user:{}", username.to_lowercase()),
                self.per_username,
            ),
        ];
        let mut wait = Duration::ZERO;
        let mut after = Vec::with_capacity(2);
        for (key, bucket) in &keys {
            let level = levels.get(key).copied().unwrap_or(Level {
                tokens: bucket.capacity,
                at: now,
            });
            let tokens = refilled(*bucket, level, now);
            if tokens < 1.0 {
                let secs = (1.0 - tokens) * bucket.refill_secs;
                wait = wait.max(Duration::from_secs_f64(secs.max(0.0)));
            }
            after.push(tokens - 1.0);
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for ((key, _), tokens) in keys.into_iter().zip(after) {
            levels.insert(key, Level { tokens, at: now });
        }
        Ok(())
    }
}

fn refilled(bucket: Bucket, level: Level, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(level.at).as_secs_f64();
    (level.tokens + elapsed / bucket.refill_secs).min(bucket.capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_until_refilled() {
        let limiter = LoginLimiter::new(
            Bucket {
                capacity: 3.0,
                refill_secs: 10.0,
            },
            Bucket {
                capacity: 2.0,
                refill_secs: 10.0,
            },
        );
        let t0 = Instant::now();
        assert!(limiter.check_at("1.2.3.4", "ann", t0).is_ok());
        assert!(limiter.check_at("1.2.3.4", "ann", t0).is_ok());
        // The username's bucket is empty, whatever the address.
        let wait = limiter.check_at("5.6.7.8", "ANN", t0).unwrap_err();
        assert!(wait > Duration::from_secs(9) && wait <= Duration::from_secs(10));
        // The address has one attempt left, for another user.
        assert!(limiter.check_at("1.2.3.4", "bob", t0).is_ok());
        assert!(limiter.check_at("1.2.3.4", "carl", t0).is_err());
        assert!(
            limiter
                .check_at("1.2.3.4", "carl", t0 + Duration::from_secs(10))
                .is_ok()
        );
    }
}
