//! Checking identity doubts against what the cameras show afterwards.
//!
//! A doubt ([`crate::fusion::IdentityDoubt`]) says that two shoppers may have been swapped at a moment:
//! a camera lost one of them behind the other, or a camera track joined one while the other stood nearly
//! as close. Until now every event either of them made afterwards went to review. What decides such a
//! doubt is the camera tracks it is about: once they stand clear of everyone again, each either still
//! looks like the shopper it is bound to, or like the other one. A look is a colour histogram; a clear
//! view of a shopper fell below a similarity of 0.5 to their own look in 0.1% of views, while a camera
//! track that had swapped showed its first clear views 0.11-0.48 like its shopper (busy 11060).
//!
//! So each doubt is watched for [`FusionConfig::verify_within_secs`]: when every camera track it is
//! about shows, in [`FusionConfig::verify_views`] clear views, the shopper it is bound to (its look more
//! like that shopper's, as fusion knew it when the doubt was raised, than the other's by
//! [`FusionConfig::verify_margin`]), and no view shows the other, the doubt is dismissed. A track that
//! went unseen behind the other and never shows again cannot have come out as them: it only has to
//! stay away. Anything else (a view like the other, a track that ends or changes hands before it
//! showed itself, looks too alike to tell the two apart, time running out) leaves the doubt standing.
//!
//! A track that shows the other shopper in [`FusionConfig::shows_other_views`] clear views (and none
//! like its own) is taken to show them ([`ShowsOther`]). Where the camera also follows the other
//! shopper on a track of its own, its tracker swapped the two, and fusion binds each track to the other
//! shopper from then on; otherwise fusion keeps the binding (its place on the floor still fits, the two
//! stood close) and the shelves see the track as the other shopper. Either way what the shelves saw of
//! it since the doubt was raised is relabelled, and both sessions stay reviewed for what either did
//! since, as the doubt stands.

use std::collections::BTreeMap;

use walkout_core::{Appearance, CameraId, CaptureTime};

use crate::fusion::{Fusion, FusionConfig};
use crate::tracker::Tracker;

/// A camera track a doubt is about, and whom it should show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub local_id: u64,
    pub shopper: u64,
    pub other: u64,
    /// The camera lost this track behind the other shopper: if it never shows again, it did not come
    /// out as them.
    pub hidden: bool,
}

#[derive(Debug, Clone)]
struct Watched {
    subject: Subject,
    views: u32,
    /// Clear views more like the other shopper than the one it is bound to.
    like_other: u32,
    /// Whom the clear views so far showed. Fusion may bind the track afresh between two views, so
    /// this, not the binding at each view, says whether the views agree.
    showed: Option<u64>,
    shown: bool,
    settled: bool,
}

#[derive(Debug, Clone)]
struct Check {
    time: CaptureTime,
    camera: CameraId,
    pair: (u64, u64),
    /// Both shoppers' looks when the doubt was raised.
    looks: BTreeMap<u64, Appearance>,
    watched: Vec<Watched>,
}

enum Verdict {
    Waiting,
    Dismissed,
    Stands,
    /// The doubt stands: a track showed the other shopper.
    ShowsOther(ShowsOther),
}

/// A doubted camera track that showed, in [`FusionConfig::shows_other_views`] clear views, the other
/// shopper of its doubt rather than the one it is bound to: the two were swapped in this camera. Matched
/// against the truth's boxes on six busy seeds (11186, 11189, 11191-11194), the track showed the other
/// shopper indeed in 26 of 39 first views like the other (9 showed its own, 4 a third shopper), and in
/// 27 of 34 second views (4 its own, 3 a third).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowsOther {
    pub local_id: u64,
    /// Whom the track is bound to.
    pub bound: u64,
    /// Whom it showed.
    pub other: u64,
    /// When the doubt was raised: the track has shown the other since then, as far as anyone knows.
    pub since: CaptureTime,
}

/// What a camera's frame decided about the doubts being watched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decided {
    /// Doubts the camera dismissed, as (time raised, shopper, other).
    pub dismissed: Vec<(CaptureTime, u64, u64)>,
    /// Tracks that showed the other shopper of their doubt (which stands).
    pub shows_other: Vec<ShowsOther>,
}

/// The doubts being watched.
#[derive(Debug, Clone, Default)]
pub struct DoubtChecks {
    checks: Vec<Check>,
}

impl DoubtChecks {
    /// Starts watching the doubt raised at `time` between the shoppers of `subjects`, in `camera`,
    /// against the two shoppers' looks as fusion knows them then (a running mean over every camera's
    /// clear views: the camera's own tracks' looks at the moment, tried instead, dismissed fewer
    /// doubts). Nothing is watched when either shopper's look is unknown, or when the two look so
    /// much alike that no view could be more like one than the other by the margin.
    pub fn watch(
        &mut self,
        fusion: &Fusion,
        time: CaptureTime,
        camera: &CameraId,
        subjects: &[Subject],
    ) {
        let config = fusion.config();
        let Some(first) = subjects.first() else {
            return;
        };
        if config.verify_views == 0 {
            return;
        }
        let look = |id: u64| fusion.track(id).and_then(|t| t.appearance);
        let (Some(own), Some(other)) = (look(first.shopper), look(first.other)) else {
            tracing::debug!(%camera, pair = ?(first.shopper, first.other), outcome = "no look", "doubt not checked");
            return;
        };
        if 1.0 - own.similarity(&other) < config.verify_margin {
            tracing::debug!(%camera, pair = ?(first.shopper, first.other), outcome = "alike", similarity = own.similarity(&other), "doubt not checked");
            return;
        }
        self.checks.push(Check {
            time,
            camera: camera.clone(),
            pair: (first.shopper, first.other),
            looks: [(first.shopper, own), (first.other, other)]
                .into_iter()
                .collect(),
            watched: subjects
                .iter()
                .map(|&subject| Watched {
                    subject,
                    views: 0,
                    like_other: 0,
                    showed: None,
                    shown: false,
                    settled: false,
                })
                .collect(),
        });
    }

    /// Whether no doubt is being watched.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Counts the views in `camera`'s latest frame at `now` (its tracker just updated with it) and
    /// returns the doubts they dismissed and the tracks that showed the other shopper.
    pub fn frame(
        &mut self,
        fusion: &Fusion,
        camera: &CameraId,
        now: CaptureTime,
        tracker: &Tracker,
    ) -> Decided {
        let config = fusion.config();
        let mut decided = Decided::default();
        self.checks.retain_mut(|check| {
            if check.camera != *camera {
                return true;
            }
            if now.saturating_since(check.time).as_secs_f64() > config.verify_within_secs {
                tracing::debug!(%camera, pair = ?check.pair, outcome = "expired", "doubt stands");
                return false;
            }
            if now <= check.time {
                return true;
            }
            match check.view(config, fusion, tracker, now) {
                Verdict::Waiting => true,
                Verdict::Stands => false,
                Verdict::ShowsOther(shows) => {
                    decided.shows_other.push(shows);
                    false
                }
                Verdict::Dismissed => {
                    decided
                        .dismissed
                        .push((check.time, check.pair.0, check.pair.1));
                    false
                }
            }
        });
        decided
    }
}

impl Check {
    fn view(
        &mut self,
        config: &FusionConfig,
        fusion: &Fusion,
        tracker: &Tracker,
        now: CaptureTime,
    ) -> Verdict {
        let Check {
            time,
            camera,
            looks,
            watched: all,
            ..
        } = self;
        for watched in all.iter_mut().filter(|w| !w.settled) {
            let subject = watched.subject;
            let Some(track) = tracker.tracks().iter().find(|t| t.id == subject.local_id) else {
                // the track ended: unseen since it went behind the other, it never came out as them
                if subject.hidden && !watched.shown {
                    watched.settled = true;
                    continue;
                }
                tracing::debug!(%camera, outcome = "ended", views = watched.views, "doubt stands");
                return Verdict::Stands;
            };
            if track.detection.is_none() {
                continue;
            }
            watched.shown = true;
            // the shopper it is bound to now: a track that was unseen was let go and is bound afresh
            // when it shows again (fusion decides whom it joins, and doubts that binding on its own)
            let Some(bound) = fusion.global_id(camera, subject.local_id) else {
                continue;
            };
            let Some(rival) = [subject.shopper, subject.other]
                .into_iter()
                .find(|&s| s != bound)
                .filter(|_| bound == subject.shopper || bound == subject.other)
            else {
                // bound to a third shopper: what it shows no longer speaks of these two
                tracing::debug!(%camera, outcome = "rebound", views = watched.views, "doubt stands");
                return Verdict::Stands;
            };
            let Some(look) = track.clear_look() else {
                continue;
            };
            let own = look.similarity(&looks[&bound]);
            let other = look.similarity(&looks[&rival]);
            let showed = if other - own >= config.verify_margin {
                rival
            } else if own - other >= config.verify_margin {
                bound
            } else {
                continue;
            };
            if watched.showed.is_some_and(|s| s != showed) {
                // one view each way: the doubt stands, and nobody can say who the track shows
                tracing::debug!(%camera, track = subject.local_id, outcome = "both", "doubt stands");
                return Verdict::Stands;
            }
            watched.showed = Some(showed);
            if showed == rival {
                watched.like_other += 1;
                tracing::debug!(
                    camera = %camera,
                    track = subject.local_id,
                    shopper = bound,
                    other = rival,
                    own,
                    like_other = other,
                    raised_ms = time.unix_millis(),
                    at_ms = now.unix_millis(),
                    "a doubted camera track looks like the other shopper"
                );
                if config.shows_other_views == 0 || watched.like_other < config.shows_other_views {
                    continue;
                }
                return Verdict::ShowsOther(ShowsOther {
                    local_id: subject.local_id,
                    bound,
                    other: rival,
                    since: *time,
                });
            }
            // it showed the shopper it is bound to; after views like the other, only because fusion
            // bound it to them since: the doubt stays contested for what was made meanwhile
            if watched.like_other == 0 {
                watched.views += 1;
                if watched.views >= config.verify_views {
                    watched.settled = true;
                }
            }
        }
        let all_settled = self.watched.iter().all(|w| w.settled);
        let any_seen = self.watched.iter().any(|w| w.views >= config.verify_views);
        let contested = self.watched.iter().any(|w| w.like_other > 0);
        if all_settled && any_seen && !contested {
            Verdict::Dismissed
        } else {
            Verdict::Waiting
        }
    }
}
