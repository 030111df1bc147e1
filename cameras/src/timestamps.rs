use std::time::Duration;

/// What the rebaser made of one incoming timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtsVerdict {
    /// In order and continuous: passed through (plus any earlier offset).
    Continuous,
    /// Went backwards: re-based to continue after the previous frame.
    Backwards,
    /// Jumped forward by more than the allowed gap: re-based.
    Jump,
    /// The buffer had no PTS: one frame interval after the previous frame.
    Missing,
}

impl PtsVerdict {
    pub fn is_flagged(self) -> bool {
        self != PtsVerdict::Continuous
    }
}

/// Keeps a camera's timestamps monotonic and continuous.
///
/// Cameras restart their clocks on reconnect, wrap around, or send garbage; a tracker fed a timestamp that
/// goes backwards or leaps a minute mispredicts every target. Such a timestamp is flagged and re-based to
/// follow the previous frame by one frame interval (estimated from the stream itself), and every later
/// timestamp is shifted by the same offset, so the stream's own spacing is kept.
#[derive(Debug, Clone)]
pub struct PtsRebaser {
    max_jump: Duration,
    offset_nanos: i128,
    last_raw_nanos: Option<i128>,
    last_out_nanos: Option<i128>,
    interval_nanos: i128,
}

impl PtsRebaser {
    /// `nominal_interval` is used until the stream shows its own spacing.
    pub fn new(max_jump: Duration, nominal_interval: Duration) -> Self {
        Self {
            max_jump,
            offset_nanos: 0,
            last_raw_nanos: None,
            last_out_nanos: None,
            interval_nanos: nominal_interval.as_nanos().max(1) as i128,
        }
    }

    pub fn rebase(&mut self, raw: Option<Duration>) -> (Duration, PtsVerdict) {
        let (out, verdict) = match (
            raw.map(|d| d.as_nanos() as i128),
            self.last_raw_nanos,
            self.last_out_nanos,
        ) {
            (None, _, last_out) => (
                last_out.map_or(0, |t| t + self.interval_nanos),
                PtsVerdict::Missing,
            ),
            (Some(raw), None, _) => (raw, PtsVerdict::Continuous),
            (Some(raw), Some(last_raw), Some(last_out)) => {
                let delta = raw - last_raw;
                if delta <= 0 || delta > self.max_jump.as_nanos() as i128 {
                    let target = last_out + self.interval_nanos;
                    self.offset_nanos = target - raw;
                    let verdict = if delta <= 0 {
                        PtsVerdict::Backwards
                    } else {
                        PtsVerdict::Jump
                    };
                    (target, verdict)
                } else {
                    // A slow moving average: one odd gap must not redefine the frame rate.
                    self.interval_nanos = (self.interval_nanos * 7 + delta) / 8;
                    (raw + self.offset_nanos, PtsVerdict::Continuous)
                }
            }
            (Some(raw), Some(_), None) => (raw, PtsVerdict::Continuous),
        };
        if let Some(raw) = raw {
            self.last_raw_nanos = Some(raw.as_nanos() as i128);
        } else if let Some(last_raw) = self.last_raw_nanos {
            self.last_raw_nanos = Some(last_raw + self.interval_nanos);
        }
        let out = out.max(0);
        self.last_out_nanos = Some(out);
        (
            Duration::from_nanos(u64::try_from(out).unwrap_or(u64::MAX)),
            verdict,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Option<Duration> {
        Some(Duration::from_millis(v))
    }

    fn run(rebaser: &mut PtsRebaser, input: &[Option<Duration>]) -> Vec<(u64, PtsVerdict)> {
        input
            .iter()
            .map(|&raw| {
                let (out, verdict) = rebaser.rebase(raw);
                (out.as_millis() as u64, verdict)
            })
            .collect()
    }

    #[test]
    fn continuous_stream_passes_through() {
        let mut r = PtsRebaser::new(Duration::from_secs(1), Duration::from_millis(100));
        let out = run(&mut r, &[ms(0), ms(100), ms(200), ms(300)]);
        assert_eq!(
            out.iter().map(|o| o.0).collect::<Vec<_>>(),
            vec![0, 100, 200, 300]
        );
        assert!(out.iter().all(|o| o.1 == PtsVerdict::Continuous));
    }

    #[test]
    fn backwards_timestamp_is_flagged_and_stream_continues() {
        let mut r = PtsRebaser::new(Duration::from_secs(1), Duration::from_millis(100));
        // the camera restarts its clock after 300 ms
        let out = run(&mut r, &[ms(0), ms(100), ms(200), ms(300), ms(0), ms(100)]);
        assert_eq!(
            out,
            vec![
                (0, PtsVerdict::Continuous),
                (100, PtsVerdict::Continuous),
                (200, PtsVerdict::Continuous),
                (300, PtsVerdict::Continuous),
                (400, PtsVerdict::Backwards),
                (500, PtsVerdict::Continuous),
            ]
        );
    }

    #[test]
    fn jump_over_a_second_is_rebased_and_small_gaps_are_kept() {
        let mut r = PtsRebaser::new(Duration::from_secs(1), Duration::from_millis(100));
        let out = run(&mut r, &[ms(0), ms(100), ms(600), ms(60_600), ms(60_700)]);
        assert_eq!(
            out,
            vec![
                (0, PtsVerdict::Continuous),
                (100, PtsVerdict::Continuous),
                // a 500 ms gap (dropped frames) is real time passing: kept
                (600, PtsVerdict::Continuous),
                // a minute's leap is not
                (out[3].0, PtsVerdict::Jump),
                (out[3].0 + 100, PtsVerdict::Continuous),
            ]
        );
        assert!(out[3].0 > 600 && out[3].0 < 1_000, "{:?}", out[3]);
    }

    #[test]
    fn missing_timestamps_are_filled_in() {
        let mut r = PtsRebaser::new(Duration::from_secs(1), Duration::from_millis(40));
        let out = run(&mut r, &[None, None, ms(80), ms(120)]);
        assert_eq!(
            out,
            vec![
                (0, PtsVerdict::Missing),
                (40, PtsVerdict::Missing),
                (80, PtsVerdict::Continuous),
                (120, PtsVerdict::Continuous)
            ]
        );
    }

    #[test]
    fn output_never_goes_backwards_whatever_the_input() {
        let mut r = PtsRebaser::new(Duration::from_secs(1), Duration::from_millis(33));
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut last = Duration::ZERO;
        for i in 0..2_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let raw = if seed.is_multiple_of(17) {
                None
            } else {
                Some(Duration::from_millis(seed % 5_000))
            };
            let (out, _) = r.rebase(raw);
            assert!(i == 0 || out > last, "step {i}: {out:?} after {last:?}");
            last = out;
        }
    }
}
