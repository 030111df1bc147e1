use std::time::Duration;

/// Reconnect delays: exponential back-off with jitter, retried forever.
///
/// The base delay starts at `initial` and doubles after every failed attempt up to `max`; each delay is then
/// shortened by a random fraction of at most `jitter`, so that a store's cameras that dropped together (a
/// switch rebooting) do not all knock on the NVR in the same second. Jitter only ever shortens a delay, so
/// `max` is a true cap. The random source is seedable so tests can pin the sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: f64,
    next_base: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    /// 1 s doubling up to 30 s, up to 20% jitter: what every camera uses.
    pub fn for_cameras(seed: u64) -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30), 0.2, seed)
    }

    /// `jitter` is the largest fraction of a delay taken off at random, clamped to `0.0..=1.0`.
    pub fn new(initial: Duration, max: Duration, jitter: f64, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            jitter: jitter.clamp(0.0, 1.0),
            next_base: initial,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The delay before the next attempt, jitter applied; advances the sequence.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next_base;
        self.next_base = (base * 2).min(self.max);
        base.mul_f64(1.0 - self.jitter * self.rng.f64())
    }

    /// The un-jittered delay the next call will start from.
    pub fn peek_base(&self) -> Duration {
        self.next_base
    }

    /// Back to the initial delay, after a connection that worked.
    pub fn reset(&mut self) {
        self.next_base = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_and_caps_at_thirty() {
        let mut backoff = Backoff::for_cameras(7);
        let expected_bases = [1, 2, 4, 8, 16, 30, 30, 30];
        for (attempt, base) in expected_bases.into_iter().enumerate() {
            let base = Duration::from_secs(base);
            let delay = backoff.next_delay();
            assert!(
                delay <= base && delay >= base.mul_f64(0.8),
                "attempt {attempt}: {delay:?} outside [{:?}, {base:?}]",
                base.mul_f64(0.8)
            );
        }
    }

    #[test]
    fn jitter_varies_the_delays_and_a_seed_repeats_them() {
        let delays = |seed| {
            let mut backoff = Backoff::for_cameras(seed);
            (0..8).map(|_| backoff.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(delays(1), delays(1));
        assert_ne!(delays(1), delays(2));
        let mut no_jitter = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 0.0, 3);
        let exact: Vec<u64> = (0..7).map(|_| no_jitter.next_delay().as_secs()).collect();
        assert_eq!(exact, vec![1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn reset_starts_again_at_one_second() {
        let mut backoff = Backoff::for_cameras(0);
        for _ in 0..10 {
            backoff.next_delay();
        }
        assert_eq!(backoff.peek_base(), Duration::from_secs(30));
        backoff.reset();
        assert_eq!(backoff.peek_base(), Duration::from_secs(1));
    }
}
