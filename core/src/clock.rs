use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A capture time: nanoseconds since the Unix epoch, read from [`CaptureClock`].
///
/// Monotonic within a process (it never steps back when the wall clock is adjusted), and comparable across
/// cameras because every camera reads the same clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaptureTime {
    pub unix_nanos: u64,
}

impl CaptureTime {
    pub fn from_unix_millis(millis: u64) -> Self {
        Self {
            unix_nanos: millis.saturating_mul(1_000_000),
        }
    }

    pub fn unix_millis(self) -> u64 {
        self.unix_nanos / 1_000_000
    }

    /// Time elapsed from `earlier` to `self`, zero when `earlier` is later.
    pub fn saturating_since(self, earlier: CaptureTime) -> Duration {
        Duration::from_nanos(self.unix_nanos.saturating_sub(earlier.unix_nanos))
    }

    /// `duration` later, or the latest representable time.
    pub fn saturating_add(self, duration: Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self {
            unix_nanos: self.unix_nanos.saturating_add(nanos),
        }
    }

    /// `duration` earlier, or the epoch.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self {
            unix_nanos: self.unix_nanos.saturating_sub(nanos),
        }
    }

    pub fn checked_add(self, duration: Duration) -> Option<Self> {
        let nanos = u64::try_from(duration.as_nanos()).ok()?;
        Some(Self {
            unix_nanos: self.unix_nanos.checked_add(nanos)?,
        })
    }
}

/// The store's one capture clock: a monotonic [`Instant`] anchored once to wall time.
///
/// Anchoring once means a wall-clock step (NTP, an operator changing the time) cannot reorder frames that
/// were captured in order, while the values still read as real dates in logs and receipts.
#[derive(Debug, Clone, Copy)]
pub struct CaptureClock {
    anchor_instant: Instant,
    anchor_unix_nanos: u64,
}

impl CaptureClock {
    /// The process-wide clock, anchored the first time it is used.
    pub fn global() -> &'static CaptureClock {
        static CLOCK: OnceLock<CaptureClock> = OnceLock::new();
        CLOCK.get_or_init(CaptureClock::anchored_now)
    }

    /// A clock anchored at this moment; tests use their own to control the anchor.
    pub fn anchored_now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self {
            anchor_instant: Instant::now(),
            anchor_unix_nanos: u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    pub fn now(&self) -> CaptureTime {
        self.at(Instant::now())
    }

    /// The capture time of a given instant (instants before the anchor map to the anchor).
    pub fn at(&self, instant: Instant) -> CaptureTime {
        let elapsed = instant.saturating_duration_since(self.anchor_instant);
        let elapsed_nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        CaptureTime {
            unix_nanos: self.anchor_unix_nanos.saturating_add(elapsed_nanos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_time_is_monotonic_and_near_wall_time() {
        let clock = CaptureClock::anchored_now();
        let first = clock.now();
        let second = clock.now();
        assert!(second >= first);
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("wall clock after 1970")
            .as_millis() as u64;
        assert!(wall_ms.abs_diff(second.unix_millis()) < 1_000);
    }

    #[test]
    fn instants_before_the_anchor_clamp_to_it() {
        let early = Instant::now();
        let clock = CaptureClock::anchored_now();
        assert_eq!(clock.at(early), clock.at(clock.anchor_instant));
    }

    #[test]
    fn elapsed_between_capture_times() {
        let a = CaptureTime::from_unix_millis(1_000);
        let b = a
            .checked_add(Duration::from_millis(250))
            .expect("no overflow");
        assert_eq!(b.saturating_since(a), Duration::from_millis(250));
        assert_eq!(a.saturating_since(b), Duration::ZERO);
    }
}
