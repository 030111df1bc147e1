//! Sessions: an app check-in at the entry gate binds an account to the shopper crossing the gate, the
//! session collects the events attributed to its shoppers, and closes when they have all left.
//!
//! Anything the system cannot be sure of goes to review instead of silently into a charge: a check-in
//! that matched no shopper or several, a shopper lost inside the store, a low-confidence event, a put-back
//! of something the cart never held.

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::Point2;
use serde::{Deserialize, Serialize};
use walkout_core::CaptureTime;

use crate::assignment::assign;
use crate::cart::{Cart, Correction, ShelfEvent};
use crate::fusion::{Fusion, FusionEvents, GlobalState, GlobalTrack, Zone, fit_line};

/// The app's check-in, as the gate posts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    pub account: String,
    pub gate: String,
    pub time: CaptureTime,
}

/// Session settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// Entry gates by id: the floor zone where a checking-in shopper stands.
    pub entry_gates: BTreeMap<String, Zone>,
    /// A shopper in the gate zone this long before or after the scan can be the one who scanned.
    pub match_window_secs: f64,
    /// Events attributed with less confidence than this send the session to review.
    pub min_event_confidence: f32,
    /// Of the shoppers at the gate when the app scanned, the one nearest the scanner is bound; another
    /// within this many metres of as near makes the check-in ambiguous.
    #[serde(default = "default_check_in_margin_m")]
    pub check_in_margin_m: f64,
    /// A check-in binds at once, before its window is over, when one shopper stood this near the
    /// scanner at the scan and no other waiting check-in at the gate wants them as much; otherwise the
    /// gate's waiting check-ins are assigned together when the window is over.
    #[serde(default = "default_check_in_sure_m")]
    pub check_in_sure_m: f64,
    /// A session whose shoppers have all left is final (charged, or held for review) once every shelf
    /// interaction going on when they left has settled, so that a pick they made just before leaving
    /// is on the cart; after this many seconds it is final anyway, and reviewed.
    #[serde(default = "default_settle_wait_secs")]
    pub settle_wait_secs: f64,
    /// A session final this long, seconds, is dropped, with its shoppers' bindings: the store has
    /// reported it (charged, or with an operator), and a store open for days would otherwise keep and
    /// walk every session it ever had. An event that comes for its shopper after that goes to an
    /// operator, as one that came after the cart was final did. 0: kept for good.
    #[serde(default = "default_drop_final_after_secs")]
    pub drop_final_after_secs: f64,
    /// A shopper fusion had to bear outside every entry (or one who came in by a gate and whom no
    /// check-in took within `match_window_secs`, with none waiting), once seen this many seconds with no
    /// other shopper within `claim_clear_m`, is given to the one open session that is missing its shopper
    /// (its check-in found nobody at the gate, or its shopper was lost), if exactly one is (see
    /// [`Sessions::on_fusion`]). Negative: never.
    #[serde(default = "default_claim_after_secs")]
    pub claim_after_secs: f64,
    /// See `claim_after_secs`: a newcomer this near another shopper may be that shopper seen twice,
    /// unless one camera follows the two as two people (busy 11182: a shopper walking a metre from
    /// another all the way round, whose own session's shopper fusion had lost at the gate).
    #[serde(default = "default_claim_clear_m")]
    pub claim_clear_m: f64,
    /// A session's lost shopper can be a newcomer only if they could have walked there: the newcomer
    /// was born within `claim_clear_m` plus this speed times the time since the lost one was last seen
    /// of where they were lost. A shopper lost by the exit is not the one the entry sees a second later.
    /// A newcomer seen while the lost one still was can only be whom the session's check-in meant, when
    /// the two came in within `match_window_secs` of each other (the check-in bound a ghost).
    #[serde(default = "default_claim_speed_m_per_s")]
    pub claim_speed_m_per_s: f64,
    /// A session whose check-ins found nobody, and that no shopper found inside has been given to,
    /// closes this many seconds after it opened and goes to an operator: in a live store it would
    /// otherwise stay open, uncharged and unseen, until the store shuts down. Long enough for a whole
    /// visit, in which a shopper the entry missed can still be found inside. Negative: never.
    #[serde(default = "default_unfound_close_after_secs")]
    pub unfound_close_after_secs: f64,
}

fn default_unfound_close_after_secs() -> f64 {
    // a long visit to a small store
    1_800.0
}

fn default_claim_after_secs() -> f64 {
    // as long as fusion waits before it merges one person seen twice (`FusionConfig::twin_secs`)
    2.0
}

fn default_claim_clear_m() -> f64 {
    // twice the association gate: a far camera's foot point can be off by more than the gate
    2.0
}

fn default_claim_speed_m_per_s() -> f64 {
    // a brisk walk is 1.5 m/s; a shopper hurrying, with a track lost a moment late
    2.5
}

fn default_settle_wait_secs() -> f64 {
    10.0
}

fn default_drop_final_after_secs() -> f64 {
    300.0
}

fn default_check_in_sure_m() -> f64 {
    0.5
}

fn default_check_in_margin_m() -> f64 {
    0.3
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            entry_gates: BTreeMap::new(),
            match_window_secs: 3.0,
            min_event_confidence: 0.6,
            check_in_margin_m: default_check_in_margin_m(),
            check_in_sure_m: default_check_in_sure_m(),
            settle_wait_secs: default_settle_wait_secs(),
            drop_final_after_secs: default_drop_final_after_secs(),
            claim_after_secs: default_claim_after_secs(),
            claim_clear_m: default_claim_clear_m(),
            claim_speed_m_per_s: default_claim_speed_m_per_s(),
            unfound_close_after_secs: default_unfound_close_after_secs(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ReviewReason {
    NoShopperAtCheckIn {
        gate: String,
    },
    AmbiguousCheckIn {
        candidates: Vec<u64>,
    },
    /// Another account's check-in at the same gate, within the match window of this one, found
    /// nobody: the shopper this session was given may be the one who made that scan.
    NearAnEmptyCheckIn {
        account: String,
    },
    /// The check-in went to the only shopper who could have made it, but they passed the scanner
    /// `fit` seconds (or metres: a second counts as a metre) off the scan, more than half the match
    /// window: the one who scanned may have gone unseen (lost behind the queue) and this be another.
    LooseCheckIn {
        shopper: u64,
        fit: f64,
    },
    ShopperVanished {
        track: u64,
    },
    LowConfidenceEvent {
        event: u64,
        confidence: f32,
    },
    /// An event was attributed to a shopper who may have been swapped with the listed others.
    UncertainIdentity {
        event: u64,
        tracks: Vec<u64>,
    },
    /// Nobody's hand was seen at an event (its camera was out, or no shopper was near in its view),
    /// and this session's shopper came near the slot while it happened: the item may be this cart's.
    UnseenEventNearby {
        event: u64,
        slot: String,
    },
    /// An event went to another shopper, but this session's shopper had a hand near the slot too:
    /// the item may be this cart's.
    ContestedEvent {
        event: u64,
        attributed_to: u64,
    },
    /// A put-back of `sku` went by the camera's view to shopper `seen_with`, who held none to put back
    /// (nor did anyone else whose hand was near); this session's shopper held it and came near the slot
    /// while it happened: the put-back may be theirs.
    HeldItemPutBack {
        event: u64,
        sku: String,
        seen_with: u64,
    },
    /// The session's shoppers had left, but these slots were still being handled and had not settled
    /// within `SessionConfig::settle_wait_secs`: an item of this cart may be missing or extra.
    ShelfUnsettled {
        slots: Vec<String>,
    },
    UnmatchedPut {
        sku: String,
    },
    Disputed {
        line: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Open,
    Closed,
}

/// One account's visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: u64,
    pub account: String,
    /// Global shopper ids paying on this account (a family is several).
    pub tracks: BTreeSet<u64>,
    pub opened_at: CaptureTime,
    pub closed_at: Option<CaptureTime>,
    /// When the cart became final: the shelves its shoppers touched had settled after they left.
    #[serde(default)]
    pub final_at: Option<CaptureTime>,
    pub state: SessionState,
    pub review: Vec<ReviewReason>,
    pub events: Vec<ShelfEvent>,
    pub corrections: Vec<Correction>,
}

impl Session {
    pub fn cart(&self) -> Cart {
        Cart::fold(&self.events, &self.corrections)
    }

    pub fn needs_review(&self) -> bool {
        !self.review.is_empty() || self.cart().has_unmatched_puts()
    }
}

/// Everything that happened to sessions in one call, for the API and the billing outbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionEvents {
    pub opened: Vec<u64>,
    pub closed: Vec<u64>,
}

#[derive(Debug, Clone)]
struct PendingCheckIn {
    session: u64,
    check_in: CheckIn,
}

/// A check-in at an entry gate that has been decided: the shopper it bound, or none found.
#[derive(Debug, Clone)]
struct ResolvedCheckIn {
    gate: String,
    time: CaptureTime,
    session: u64,
    shopper: Option<u64>,
}

/// All sessions of the store.
#[derive(Debug, Clone)]
pub struct Sessions {
    config: SessionConfig,
    sessions: BTreeMap<u64, Session>,
    by_track: BTreeMap<u64, u64>,
    pending: Vec<PendingCheckIn>,
    /// Per session, its check-ins at an entry gate that found nobody there and that no shopper found
    /// inside the store has made up for since (see `claim_newcomers`).
    unfound: BTreeMap<u64, u32>,
    /// Recently decided check-ins at entry gates. A scan that found nobody casts doubt on every
    /// other account's scan at that gate within the match window, whichever was decided first: the
    /// shopper one bound may be the one who made the other scan.
    resolved: Vec<ResolvedCheckIn>,
    next_id: u64,
}

impl Sessions {
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            sessions: BTreeMap::new(),
            by_track: BTreeMap::new(),
            pending: Vec::new(),
            unfound: BTreeMap::new(),
            resolved: Vec::new(),
            next_id: 1,
        }
    }

    pub fn get(&self, id: u64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Fusion merged shopper `gone` into `kept` (one person seen twice): `gone`'s session, if any, is
    /// `kept`'s now.
    pub fn merge_tracks(&mut self, gone: u64, kept: u64) {
        let Some(session) = self.by_track.remove(&gone) else {
            return;
        };
        self.by_track.entry(kept).or_insert(session);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.tracks.remove(&gone);
            s.tracks.insert(kept);
        }
    }

    /// The session a global shopper pays on.
    pub fn session_of_track(&self, track: u64) -> Option<u64> {
        self.by_track.get(&track).copied()
    }

    /// Opens a session (or joins the account's open one: a family scanning one account) and tries to bind
    /// the shopper at the gate; if nobody is there yet, the check-in waits out the match window.
    pub fn check_in(&mut self, check_in: CheckIn, fusion: &Fusion) -> SessionEvents {
        let mut events = SessionEvents::default();
        let existing = self
            .sessions
            .values()
            .find(|s| s.state == SessionState::Open && s.account == check_in.account)
            .map(|s| s.id);
        let session = match existing {
            Some(id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                self.sessions.insert(
                    id,
                    Session {
                        id,
                        account: check_in.account.clone(),
                        tracks: BTreeSet::new(),
                        opened_at: check_in.time,
                        closed_at: None,
                        final_at: None,
                        state: SessionState::Open,
                        review: Vec::new(),
                        events: Vec::new(),
                        corrections: Vec::new(),
                    },
                );
                events.opened.push(id);
                id
            }
        };
        self.pending.push(PendingCheckIn { session, check_in });
        self.resolve_pending(fusion, None);
        events
    }

    /// Follows the floor: binds waiting check-ins, gives a shopper found inside the store to the
    /// session missing them, flags vanished shoppers, closes sessions whose shoppers have all left.
    pub fn on_fusion(
        &mut self,
        now: CaptureTime,
        changes: &FusionEvents,
        fusion: &Fusion,
    ) -> SessionEvents {
        let mut events = SessionEvents::default();
        self.drop_final(now);
        self.resolve_pending(fusion, Some(now));
        self.claim_newcomers(now, fusion);
        for track in &changes.vanished {
            if let Some(session) = self
                .by_track
                .get(track)
                .and_then(|id| self.sessions.get_mut(id))
            {
                session
                    .review
                    .push(ReviewReason::ShopperVanished { track: *track });
            }
        }
        let waiting: BTreeSet<u64> = self.pending.iter().map(|p| p.session).collect();
        events.closed.extend(self.close_unfound(now, &waiting));
        let gone: BTreeSet<u64> = changes
            .exited
            .iter()
            .chain(&changes.vanished)
            .copied()
            .collect();
        if gone.is_empty() {
            return events;
        }
        for session in self.sessions.values_mut() {
            if session.state != SessionState::Open
                || session.tracks.is_empty()
                || waiting.contains(&session.id)
            {
                continue;
            }
            // a shopper fusion no longer knows left long ago (see `drop_gone_after_secs`)
            let all_gone = session.tracks.iter().all(|t| {
                gone.contains(t)
                    || fusion.track(*t).is_none_or(|g| {
                        matches!(g.state, GlobalState::Exited | GlobalState::Vanished)
                    })
            });
            if all_gone && session.tracks.iter().any(|t| gone.contains(t)) {
                session.state = SessionState::Closed;
                session.closed_at = Some(now);
                events.closed.push(session.id);
            }
        }
        events
    }

    /// Closes the open sessions that never found a shopper, `unfound_close_after_secs` after they
    /// opened (each is reviewed for its check-in that found nobody already).
    fn close_unfound(&mut self, now: CaptureTime, waiting: &BTreeSet<u64>) -> Vec<u64> {
        let after = self.config.unfound_close_after_secs;
        if after < 0.0 {
            return Vec::new();
        }
        let mut closed = Vec::new();
        for session in self.sessions.values_mut() {
            if session.state == SessionState::Open
                && session.tracks.is_empty()
                && !waiting.contains(&session.id)
                && secs(now) - secs(session.opened_at) >= after
            {
                tracing::info!(
                    account = %session.account,
                    session = session.id,
                    "a session that never found its shopper closes for review"
                );
                session.state = SessionState::Closed;
                session.closed_at = Some(now);
                closed.push(session.id);
            }
        }
        closed
    }

    /// The input ended: every open session none of whose shoppers is still seen (each lost, exited or
    /// vanished, or none found at all; none bound to a check-in still waiting) closes now, reviewed for
    /// the ones not seen leaving, but for one lost walking into an exit (see [`Fusion::heads_out`]; a
    /// session whose check-in found nobody is reviewed for that already).
    /// Without it, a shopper the cameras lost on the way out, or never found, would keep their session
    /// open for good, and it would never reach an operator. Returns the sessions closed.
    pub fn close_unseen_at_end(&mut self, now: CaptureTime, fusion: &Fusion) -> Vec<u64> {
        let waiting: BTreeSet<u64> = self.pending.iter().map(|p| p.session).collect();
        let mut closed = Vec::new();
        for session in self.sessions.values_mut() {
            if session.state != SessionState::Open || waiting.contains(&session.id) {
                continue;
            }
            let states: Vec<(u64, Option<GlobalState>)> = session
                .tracks
                .iter()
                .map(|t| (*t, fusion.track(*t).map(|g| g.state)))
                .collect();
            if states.iter().any(|(_, s)| *s == Some(GlobalState::Active)) {
                continue;
            }
            for (track, state) in states {
                let walked_out = fusion.track(track).is_some_and(|g| fusion.heads_out(g));
                // one fusion no longer knows left long ago, its session's concern then
                let Some(state) = state else {
                    continue;
                };
                if state != GlobalState::Exited && !walked_out {
                    session.review.push(ReviewReason::ShopperVanished { track });
                }
            }
            session.state = SessionState::Closed;
            session.closed_at = Some(now);
            closed.push(session.id);
        }
        closed
    }

    /// Adds an event to the session of the shopper it is attributed to (by global track id).
    pub fn add_event(&mut self, track: u64, mut event: ShelfEvent) -> Option<u64> {
        let id = *self.by_track.get(&track)?;
        let session = self.sessions.get_mut(&id)?;
        event.session = Some(id);
        if event.confidence < self.config.min_event_confidence {
            session.review.push(ReviewReason::LowConfidenceEvent {
                event: event.id,
                confidence: event.confidence,
            });
        }
        session.events.push(event);
        Some(id)
    }

    /// An event attributed to `track` (which may have been swapped with `others`) cannot be trusted to
    /// the right session: the sessions of all of them go to review, since the event may belong to any
    /// one, and the ones it was not given to may be missing it.
    /// Flags the session of `rival` (when it has one other than `shopper`'s) for an event that went to
    /// `shopper` though `rival`'s hand was near the slot too.
    pub fn flag_contested(&mut self, event: u64, shopper: u64, rival: u64) {
        let Some(&session) = self.by_track.get(&rival) else {
            return;
        };
        if self.by_track.get(&shopper) == Some(&session) {
            return; // one cart either way
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.review.push(ReviewReason::ContestedEvent {
                event,
                attributed_to: shopper,
            });
        }
    }

    /// Flags the session of `track` (when it has one other than the event's own `owner`) for an event at
    /// `slot` that nobody was seen doing while this shopper was near.
    pub fn flag_unseen_nearby(&mut self, event: u64, slot: &str, track: u64, owner: Option<u64>) {
        let Some(&session) = self.by_track.get(&track) else {
            return;
        };
        if owner.and_then(|o| self.by_track.get(&o)) == Some(&session) {
            return;
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.review.push(ReviewReason::UnseenEventNearby {
                event,
                slot: slot.to_owned(),
            });
        }
    }

    /// Flags the session of `track`, who holds `sku`, for a put-back of it the camera gave to
    /// `seen_with`, who does not (see [`ReviewReason::HeldItemPutBack`]).
    pub fn flag_held_put_back(&mut self, event: u64, sku: &str, track: u64, seen_with: u64) {
        if let Some(&session) = self.by_track.get(&track) {
            let sku = sku.to_owned();
            self.flag(
                session,
                ReviewReason::HeldItemPutBack {
                    event,
                    sku,
                    seen_with,
                },
            );
        }
    }

    /// Drops the sessions final for longer than `drop_final_after_secs`, and their bindings.
    fn drop_final(&mut self, now: CaptureTime) {
        let after = self.config.drop_final_after_secs;
        if after <= 0.0 {
            return;
        }
        let dropped: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| s.final_at.is_some_and(|at| secs(now) - secs(at) > after))
            .map(|s| s.id)
            .collect();
        if dropped.is_empty() {
            return;
        }
        for id in &dropped {
            self.sessions.remove(id);
            self.unfound.remove(id);
        }
        let sessions = &self.sessions;
        self.by_track.retain(|_, s| sessions.contains_key(s));
        tracing::debug!(?dropped, "sessions final long ago dropped");
    }

    /// Marks a closed session's cart final at `time` and returns the session.
    pub fn finalise(&mut self, session: u64, time: CaptureTime) -> Option<&Session> {
        let s = self.sessions.get_mut(&session)?;
        s.final_at = Some(time);
        Some(s)
    }

    /// Reviews a closed session whose shoppers left while `slots` were still being handled and did not
    /// settle in time.
    pub fn flag_unsettled(&mut self, session: u64, slots: Vec<String>) {
        if let Some(s) = self.sessions.get_mut(&session) {
            s.review.push(ReviewReason::ShelfUnsettled { slots });
        }
    }

    pub fn flag_uncertain_identity(&mut self, event: u64, track: u64, others: &[u64]) {
        let tracks: Vec<u64> = std::iter::once(track)
            .chain(others.iter().copied())
            .collect();
        let Some(sessions) = self.doubted_sessions(&tracks) else {
            return;
        };
        for id in sessions {
            if let Some(session) = self.sessions.get_mut(&id) {
                session.review.push(ReviewReason::UncertainIdentity {
                    event,
                    tracks: tracks.clone(),
                });
            }
        }
    }

    /// The sessions an identity doubt among `tracks` concerns; `None` when it concerns none: a family
    /// swapped among themselves shares one cart, the same either way.
    fn doubted_sessions(&self, tracks: &[u64]) -> Option<BTreeSet<u64>> {
        let sessions: BTreeSet<u64> = tracks
            .iter()
            .filter_map(|t| self.by_track.get(t).copied())
            .collect();
        let all_bound = tracks.iter().all(|t| self.by_track.contains_key(t));
        (!(all_bound && sessions.len() == 1)).then_some(sessions)
    }

    /// Brings the identity doubts of sessions not yet final up to date with fusion's, after some were
    /// dismissed (the cameras showed both shoppers to be who they were bound to: [`crate::verify`]).
    /// An event's doubt stands with the shoppers its shopper is still in doubt with at the event's
    /// time, for the sessions they concern; with none left, it goes. A final session keeps the reasons
    /// it was charged or held with.
    pub fn reconsider_identity(&mut self, fusion: &Fusion) {
        let times: BTreeMap<u64, CaptureTime> = self
            .sessions
            .values()
            .flat_map(|s| s.events.iter().map(|e| (e.id, e.time)))
            .collect();
        let mut updates: Vec<(u64, usize, Option<Vec<u64>>)> = Vec::new();
        for s in self.sessions.values().filter(|s| s.final_at.is_none()) {
            for (index, reason) in s.review.iter().enumerate() {
                let ReviewReason::UncertainIdentity { event, tracks } = reason else {
                    continue;
                };
                let (Some(&shopper), Some(&time)) = (tracks.first(), times.get(event)) else {
                    continue;
                };
                let Some(track) = fusion.track(shopper) else {
                    continue;
                };
                let doubted: BTreeSet<u64> = track.doubted_with(time).collect();
                let still: Vec<u64> = std::iter::once(shopper)
                    .chain(tracks[1..].iter().copied().filter(|t| doubted.contains(t)))
                    .collect();
                if still.len() == tracks.len() {
                    continue;
                }
                let concerns_this = still.len() > 1
                    && self
                        .doubted_sessions(&still)
                        .is_some_and(|sessions| sessions.contains(&s.id));
                updates.push((s.id, index, concerns_this.then_some(still)));
            }
        }
        // back to front, so that the indices of a session's earlier reasons stay as they were
        for (session, index, still) in updates.into_iter().rev() {
            let Some(s) = self.sessions.get_mut(&session) else {
                continue;
            };
            match still {
                Some(tracks) => {
                    if let ReviewReason::UncertainIdentity { tracks: t, .. } = &mut s.review[index]
                    {
                        *t = tracks;
                    }
                }
                None => {
                    s.review.remove(index);
                }
            }
        }
    }

    /// A shopper nobody saw come in (fusion bore them outside every entry: the entry cameras missed
    /// them, or their track was lost for longer than fusion keeps it) is someone already in the store.
    /// When exactly one open session is missing a shopper, and exactly one such newcomer stands clear of
    /// everyone else who may be the same person seen twice (within `claim_clear_m`, unless a camera follows
    /// the two as two people), the newcomer is that session's shopper: one with a check-in that found nobody
    /// at the gate (a family member the entry cameras missed while the others were found; the session is
    /// still reviewed for it), or one whose shopper is lost or vanished (the newcomer takes the lost track's
    /// place, so it vanishing is no longer the session's concern) and who could be them: found where
    /// the lost one could have walked since, or, seen while the lost one still was, came in with them or
    /// stood where they were lost when they were. Two of either and nothing is guessed.
    ///
    /// A shopper who came in through a gate is such a newcomer too once no check-in is waiting and no
    /// check-in took them within `match_window_secs` of their coming: the check-in made for them bound
    /// someone else at the gate. Seen on pairs 11119: a far aisle camera placed the shopper ahead 1.2 m
    /// from where they were, as a second shopper at the gate, the scan behind them bound that ghost, the
    /// ghost was lost a second later, and the real shopper, whom the entrance camera found only after
    /// the scan, walked the store with no session, their picks going to nobody.
    fn claim_newcomers(&mut self, now: CaptureTime, fusion: &Fusion) {
        if self.config.claim_after_secs < 0.0 {
            return;
        }
        let active: Vec<&GlobalTrack> = fusion
            .tracks()
            .filter(|t| t.state == GlobalState::Active)
            .collect();
        let unclaimed_since = self
            .config
            .match_window_secs
            .max(self.config.claim_after_secs);
        let newcomers: Vec<&GlobalTrack> = active
            .iter()
            .copied()
            .filter(|t| {
                !self.by_track.contains_key(&t.id)
                    && (t.born_outside_entry
                        || (self.pending.is_empty()
                            && secs(now) - secs(t.born_at) >= unclaimed_since))
            })
            .collect();
        let [newcomer] = newcomers.as_slice() else {
            return;
        };
        // a shopper near the newcomer may be the same person seen twice, unless a camera follows the
        // two as two people
        let alone = active.iter().all(|other| {
            other.id == newcomer.id
                || (other.position_m - newcomer.position_m).norm() > self.config.claim_clear_m
                || fusion.shown_apart(other.id, newcomer.id)
        });
        if secs(now) - secs(newcomer.born_at) < self.config.claim_after_secs || !alone {
            return;
        }
        let waiting: BTreeSet<u64> = self.pending.iter().map(|p| p.session).collect();
        let missing: Vec<(u64, Option<u64>)> = self
            .sessions
            .values()
            .filter(|s| s.state == SessionState::Open && !waiting.contains(&s.id))
            .filter_map(|s| {
                if s.tracks.is_empty() || self.unfound.get(&s.id).is_some_and(|&n| n > 0) {
                    return Some((s.id, None));
                }
                // the one of its shoppers seen last, of those lost
                let lost = s
                    .tracks
                    .iter()
                    .filter_map(|t| fusion.track(*t))
                    .filter(|t| matches!(t.state, GlobalState::Lost | GlobalState::Vanished))
                    .max_by_key(|t| t.last_seen)?;
                // A newcomer born after the lost one was last seen is them found again only if born
                // where they could have walked since. One seen while the lost one still was is not
                // them, but may be whom the session's check-in meant when the two came in together
                // (the check-in bound a ghost), or may have taken their place: standing, when the lost
                // one was last seen, where they were lost (fusion gave the person's tracks to a ghost
                // that walked beside them: busy 11195)
                let gap = secs(newcomer.born_at) - secs(lost.last_seen);
                let born_m = newcomer.path.first().map_or(newcomer.position_m, |p| p.1);
                let reach = self.config.claim_clear_m + self.config.claim_speed_m_per_s * gap;
                let found_again = gap >= 0.0 && (born_m - lost.position_m).norm() <= reach;
                let came_together = gap < 0.0
                    && (secs(newcomer.born_at) - secs(lost.born_at)).abs()
                        <= self.config.match_window_secs;
                let took_over = gap < 0.0
                    && (position_at(newcomer, lost.last_seen) - lost.position_m).norm()
                        <= self.config.claim_clear_m;
                (found_again || came_together || took_over).then_some((s.id, Some(lost.id)))
            })
            .collect();
        let [(session, lost)] = missing.as_slice() else {
            return;
        };
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        tracing::debug!(
            account = %s.account,
            shopper = newcomer.id,
            ?lost,
            "a shopper found inside the store is the one this session was missing"
        );
        match lost {
            Some(lost) => {
                s.tracks.remove(lost);
                self.by_track.remove(lost);
            }
            None => {
                if let Some(n) = self.unfound.get_mut(session) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        s.tracks.insert(newcomer.id);
        self.by_track.insert(newcomer.id, *session);
    }

    /// Binds waiting check-ins to shoppers. All of a gate's waiting check-ins are assigned together
    /// (least total distance from the scanner at each scan), so a shopper who scanned first is not taken
    /// by a later scan that happened to find them first. A check-in binds at once when one shopper
    /// clearly stood at the scanner, and otherwise when its window is over.
    fn resolve_pending(&mut self, fusion: &Fusion, now: Option<CaptureTime>) {
        if let Some(now) = now {
            // a check-in posted late is still compared with the scans made near it
            let keep = self.config.match_window_secs.max(RESOLVED_KEEP_SECS);
            self.resolved.retain(|r| secs(r.time) >= secs(now) - keep);
        }
        let mut by_gate: BTreeMap<String, Vec<PendingCheckIn>> = BTreeMap::new();
        for p in std::mem::take(&mut self.pending) {
            if self.config.entry_gates.contains_key(&p.check_in.gate) {
                by_gate.entry(p.check_in.gate.clone()).or_default().push(p);
            } else if let Some(session) = self.sessions.get_mut(&p.session) {
                session.review.push(ReviewReason::NoShopperAtCheckIn {
                    gate: p.check_in.gate.clone(),
                });
            }
        }
        for (gate, waiting) in by_gate {
            let zone = self.config.entry_gates[&gate];
            self.resolve_gate(fusion, now, zone, waiting);
        }
    }

    /// How well `track` fits the scan at `time`, in metres (a second counts as a metre: about a walking
    /// shopper's way), if it was in the gate zone within the window. A shopper walking through the gate
    /// fits by when and how near they passed the scanner: a straight line through their first second
    /// in the zone, so that a track the cameras picked up late is placed back at the door (shoppers in
    /// a queue come in the order they scanned). A shopper standing, or just seen, fits by how near they
    /// stood at the moment nearest the scan.
    fn scan_cost(&self, zone: &Zone, track: &GlobalTrack, time: CaptureTime) -> Option<f64> {
        let window = self.config.match_window_secs;
        let t = secs(time);
        let scanner = zone.center();
        let near: Vec<(f64, Point2<f64>)> = track
            .path
            .iter()
            .filter(|(at, pos)| zone.contains(pos) && (secs(*at) - t).abs() <= window)
            .map(|(at, pos)| (secs(*at), *pos))
            .collect();
        let first = near.first()?.0;
        let early: Vec<(f64, Point2<f64>)> = near
            .iter()
            .copied()
            .take_while(|(at, _)| *at <= first + PASSAGE_FIT_SECS)
            .collect();
        if let Some((mean_t, mean_p, velocity)) = fit_line(&early) {
            let speed = velocity.norm();
            if speed >= WALKING_SPEED_M_PER_S {
                let passed = mean_t + (scanner - mean_p).dot(&velocity) / (speed * speed);
                let miss = (mean_p + velocity * (passed - mean_t) - scanner).norm();
                return Some((passed - t).abs() + miss);
            }
        }
        near.iter()
            .map(|(at, pos)| {
                let dt = (at - t).abs();
                (dt, dt + (pos - scanner).norm())
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, cost)| cost)
    }

    /// Holds `session` for review for `reason`, once.
    fn flag(&mut self, session: u64, reason: ReviewReason) {
        if let Some(s) = self.sessions.get_mut(&session)
            && !s.review.contains(&reason)
        {
            s.review.push(reason);
        }
    }

    fn resolve_gate(
        &mut self,
        fusion: &Fusion,
        now: Option<CaptureTime>,
        zone: Zone,
        waiting: Vec<PendingCheckIn>,
    ) {
        let margin = self.config.check_in_margin_m;
        let window = self.config.match_window_secs;
        let free: Vec<&GlobalTrack> = fusion
            .tracks()
            .filter(|g| !self.by_track.contains_key(&g.id))
            .collect();
        // costs[i][j]: check-in i, free track j
        let costs: Vec<Vec<Option<f64>>> = waiting
            .iter()
            .map(|p| {
                free.iter()
                    .map(|g| self.scan_cost(&zone, g, p.check_in.time))
                    .collect()
            })
            .collect();
        let cap = costs
            .iter()
            .flatten()
            .flatten()
            .fold(0.0f64, |a, &c| a.max(c))
            + 1.0;
        // maximising the sum of (cap - cost) over pairs: as many pairs as possible, then the nearest
        let pairs = assign(waiting.len(), free.len(), 0.0, |i, j| {
            costs[i][j].map_or(0.0, |c| (cap - c) as f32)
        });
        let mut assigned: Vec<Option<usize>> = vec![None; waiting.len()];
        for (i, j) in pairs {
            assigned[i] = Some(j);
        }
        let owner_of = |j: usize| assigned.iter().position(|a| *a == Some(j));
        let best: Vec<Option<f64>> = costs
            .iter()
            .map(|row| row.iter().flatten().copied().reduce(f64::min))
            .collect();
        let mut decisions = Vec::new();
        for (i, p) in waiting.iter().enumerate() {
            let window_over = now.is_some_and(|now| secs(now) > secs(p.check_in.time) + window);
            let Some(j) = assigned[i] else {
                decisions.push((i, window_over.then_some(None)));
                continue;
            };
            let cost = costs[i][j].unwrap_or(f64::INFINITY);
            // another shopper is a rival when giving them this check-in costs less than the margin
            // more, counting what the swap does to the check-in they went to (not within one account)
            let mut rivals: Vec<(f64, u64)> = (0..free.len())
                .filter(|&k| k != j)
                .filter_map(|k| {
                    let alternative = costs[i][k]?;
                    let extra = match owner_of(k) {
                        None => alternative - cost,
                        Some(o) if waiting[o].session == p.session => return None,
                        Some(o) => alternative + costs[o][j]? - cost - costs[o][k].unwrap_or(0.0),
                    };
                    (extra < margin).then_some((alternative, free[k].id))
                })
                .collect();
            rivals.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            // sure at once: one shopper at the scanner, whom no other waiting check-in wants as much
            let wanted_elsewhere = waiting.iter().enumerate().any(|(o, other)| {
                o != i
                    && other.session != p.session
                    && costs[o][j]
                        .zip(best[o])
                        .is_some_and(|(c, b)| c - b < margin)
            });
            let sure =
                rivals.is_empty() && cost <= self.config.check_in_sure_m && !wanted_elsewhere;
            let candidates = std::iter::once((cost, free[j].id))
                .chain(rivals)
                .collect::<Vec<_>>();
            decisions.push((i, (window_over || sure).then_some(Some(candidates))));
        }
        for ((_, decision), p) in decisions.into_iter().zip(waiting) {
            match decision {
                None => self.pending.push(p),
                Some(None) => {
                    // nobody left for this scan; a shopper already bound to another account may be the
                    // one who scanned: one who stood at the gate then, or one bound by a scan made
                    // close to this one (they may have been seen only after this scan's window)
                    let mut taken: BTreeSet<(u64, u64)> = fusion
                        .tracks()
                        .filter(|g| self.by_track.get(&g.id).is_some_and(|s| *s != p.session))
                        .filter(|g| {
                            self.scan_cost(&zone, g, p.check_in.time)
                                .is_some_and(|c| c < window)
                        })
                        .map(|g| (self.by_track[&g.id], g.id))
                        .collect();
                    taken.extend(
                        self.resolved
                            .iter()
                            .filter(|r| {
                                r.gate == p.check_in.gate
                                    && r.session != p.session
                                    && (secs(r.time) - secs(p.check_in.time)).abs() <= window
                            })
                            .filter_map(|r| Some((r.session, r.shopper?))),
                    );
                    for (other, track) in taken {
                        tracing::debug!(
                            account = %p.check_in.account,
                            other_session = other,
                            shopper = track,
                            "a check-in found nobody: a shopper bound near it may be its own"
                        );
                        self.flag(
                            other,
                            ReviewReason::NearAnEmptyCheckIn {
                                account: p.check_in.account.clone(),
                            },
                        );
                    }
                    self.resolved.push(ResolvedCheckIn {
                        gate: p.check_in.gate.clone(),
                        time: p.check_in.time,
                        session: p.session,
                        shopper: None,
                    });
                    if let Some(session) = self.sessions.get_mut(&p.session) {
                        session.review.push(ReviewReason::NoShopperAtCheckIn {
                            gate: p.check_in.gate.clone(),
                        });
                        *self.unfound.entry(p.session).or_insert(0) += 1;
                    }
                }
                Some(Some(candidates)) => {
                    let chosen = candidates[0].1;
                    tracing::debug!(
                        account = %p.check_in.account,
                        gate = %p.check_in.gate,
                        shopper = chosen,
                        ?candidates,
                        "check-in bound"
                    );
                    self.by_track.insert(chosen, p.session);
                    let near_an_empty_scan: Option<String> = self
                        .resolved
                        .iter()
                        .find(|r| {
                            r.gate == p.check_in.gate
                                && r.session != p.session
                                && r.shopper.is_none()
                                && (secs(r.time) - secs(p.check_in.time)).abs() <= window
                        })
                        .and_then(|r| self.sessions.get(&r.session))
                        .map(|s| s.account.clone());
                    self.resolved.push(ResolvedCheckIn {
                        gate: p.check_in.gate.clone(),
                        time: p.check_in.time,
                        session: p.session,
                        shopper: Some(chosen),
                    });
                    if let Some(session) = self.sessions.get_mut(&p.session) {
                        session.tracks.insert(chosen);
                    }
                    let fit = candidates[0].0;
                    if fit > LOOSE_CHECK_IN_SHARE * window {
                        self.flag(
                            p.session,
                            ReviewReason::LooseCheckIn {
                                shopper: chosen,
                                fit,
                            },
                        );
                    }
                    if candidates.len() > 1 {
                        let mut ids: Vec<u64> = candidates.iter().map(|c| c.1).collect();
                        ids.sort_unstable();
                        self.flag(
                            p.session,
                            ReviewReason::AmbiguousCheckIn { candidates: ids },
                        );
                    } else if let Some(account) = near_an_empty_scan {
                        // another account's scan close to this one found nobody: this shopper may
                        // be the one who made it
                        self.flag(p.session, ReviewReason::NearAnEmptyCheckIn { account });
                    }
                }
            }
        }
    }
}

/// Where `track` was at `time`, as near as its path (in time order) says: the nearer of the samples
/// either side, the earlier on a tie.
fn position_at(track: &GlobalTrack, time: CaptureTime) -> Point2<f64> {
    let path = &track.path;
    let after = path.partition_point(|(at, _)| *at < time);
    let off = |i: usize| (secs(path[i].0) - secs(time)).abs();
    let nearest = match (after.checked_sub(1), (after < path.len()).then_some(after)) {
        (Some(before), Some(after)) if off(after) < off(before) => Some(after),
        (Some(before), _) => Some(before),
        (None, after) => after,
    };
    nearest.map_or(track.position_m, |i| path[i].1)
}

fn secs(time: CaptureTime) -> f64 {
    time.unix_nanos as f64 / 1e9
}

/// A check-in bound to a shopper who passed the scanner more than this share of the match window off
/// the scan is reviewed ([`ReviewReason::LooseCheckIn`]).
const LOOSE_CHECK_IN_SHARE: f64 = 0.5;

/// Decided check-ins are kept this long (of capture time) to compare later ones with.
const RESOLVED_KEEP_SECS: f64 = 60.0;

/// A track's first this many seconds in the gate zone give its way through the gate.
const PASSAGE_FIT_SECS: f64 = 1.0;
/// Slower than this, a track is standing: its line through the gate means nothing.
const WALKING_SPEED_M_PER_S: f64 = 0.3;

#[cfg(test)]
mod tests {
    use walkout_core::CameraId;

    use super::*;
    use crate::cart::EventKind;
    use crate::fusion::{FloorObservation, FusionConfig};

    fn at(ms: u64) -> CaptureTime {
        CaptureTime::from_unix_millis(ms)
    }

    fn store() -> (Fusion, Sessions) {
        let entry = Zone::around([0.0, 0.0], [1.0, 1.0]);
        let fusion = Fusion::new(FusionConfig {
            birth_zones: vec![entry],
            exit_zones: vec![Zone::around([10.0, 0.0], [1.0, 1.0])],
            ..FusionConfig::default()
        });
        let sessions = Sessions::new(SessionConfig {
            entry_gates: [("entry".to_string(), entry)].into_iter().collect(),
            ..SessionConfig::default()
        });
        (fusion, sessions)
    }

    fn check_in(account: &str, ms: u64) -> CheckIn {
        CheckIn {
            account: account.into(),
            gate: "entry".into(),
            time: at(ms),
        }
    }

    fn event(id: u64, ms: u64, confidence: f32) -> ShelfEvent {
        ShelfEvent {
            id,
            time: at(ms),
            slot: "A1".into(),
            sku: "cola".into(),
            kind: EventKind::Pick,
            quantity: 1,
            session: None,
            confidence,
            evidence: vec![],
        }
    }

    /// Steps the store: each walker is (local id, start ms, y); they walk +x at 1 m/s from the entry.
    fn run(
        fusion: &mut Fusion,
        sessions: &mut Sessions,
        walkers: &[(u64, u64, f64)],
        from_ms: u64,
        to_ms: u64,
    ) -> Vec<u64> {
        let place = |ms: u64| {
            walkers
                .iter()
                .filter(|(_, start, _)| ms >= *start)
                .map(|&(id, start, y)| (id, (ms - start) as f64 / 1000.0, y))
                .filter(|(_, x, _)| *x <= 10.0)
                .collect()
        };
        steps(fusion, sessions, from_ms, to_ms, place).0
    }

    #[test]
    fn a_check_in_binds_the_shopper_at_the_gate_and_the_session_closes_at_exit() {
        let (mut fusion, mut sessions) = store();
        run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 0, 300);
        let opened = sessions.check_in(check_in("acct-1", 200), &fusion).opened;
        assert_eq!(opened, vec![1]);
        assert_eq!(sessions.session_of_track(1), Some(1));
        assert_eq!(sessions.add_event(1, event(10, 3_000, 0.95)), Some(1));
        let closed = run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 400, 11_000);
        assert_eq!(closed, vec![1]);
        let session = sessions.get(1).unwrap();
        assert_eq!(session.state, SessionState::Closed);
        assert_eq!(session.cart().quantity("cola"), 1);
        assert!(!session.needs_review());
    }

    #[test]
    fn a_session_final_long_ago_is_dropped_with_its_bindings() {
        for drop_final_after_secs in [2.0, 0.0] {
            let (mut fusion, default) = store();
            let mut sessions = Sessions::new(SessionConfig {
                drop_final_after_secs,
                ..default.config.clone()
            });
            run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 0, 300);
            sessions.check_in(check_in("acct-1", 200), &fusion);
            let closed = run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 400, 11_000);
            assert_eq!(closed, vec![1]);
            sessions.finalise(1, at(11_000));
            run(&mut fusion, &mut sessions, &[], 11_100, 12_900);
            assert!(
                sessions.get(1).is_some(),
                "kept while final for 2 s or less"
            );
            run(&mut fusion, &mut sessions, &[], 13_000, 13_200);
            if drop_final_after_secs > 0.0 {
                assert!(sessions.get(1).is_none());
                assert_eq!(sessions.session_of_track(1), None);
                assert_eq!(sessions.all().count(), 0);
            } else {
                assert_eq!(sessions.session_of_track(1), Some(1));
            }
        }
    }

    #[test]
    fn a_check_in_before_the_shopper_is_seen_waits_for_them() {
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        run(&mut fusion, &mut sessions, &[(1, 500, 0.0)], 0, 1_000);
        assert_eq!(sessions.session_of_track(1), Some(1));
    }

    #[test]
    fn a_check_in_with_nobody_at_the_gate_goes_to_review() {
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        run(&mut fusion, &mut sessions, &[], 0, 5_000);
        assert_eq!(
            sessions.get(1).unwrap().review,
            vec![ReviewReason::NoShopperAtCheckIn {
                gate: "entry".into()
            }]
        );
    }

    #[test]
    fn a_check_in_given_to_a_shopper_who_passed_the_scanner_long_before_goes_to_review() {
        let (mut fusion, mut sessions) = store();
        // through the gate zone in its first half second; the scan comes 2 s after the passage
        run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 0, 2_000);
        sessions.check_in(check_in("acct-1", 2_000), &fusion);
        run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 2_100, 6_000);
        assert_eq!(
            sessions.session_of_track(1),
            Some(1),
            "nobody else to give it"
        );
        let review = &sessions.get(1).unwrap().review;
        assert!(
            matches!(&review[..], [ReviewReason::LooseCheckIn { shopper: 1, fit }] if *fit > 1.5),
            "{review:?}"
        );
    }

    #[test]
    fn two_shoppers_at_the_gate_make_an_ambiguous_check_in() {
        let (mut fusion, mut sessions) = store();
        run(
            &mut fusion,
            &mut sessions,
            &[(1, 0, -0.3), (2, 0, 0.3)],
            0,
            200,
        );
        sessions.check_in(check_in("acct-1", 100), &fusion);
        run(
            &mut fusion,
            &mut sessions,
            &[(1, 0, -0.3), (2, 0, 0.3)],
            300,
            4_000,
        );
        let session = sessions.get(1).unwrap();
        assert_eq!(session.tracks.len(), 1);
        assert!(
            matches!(&session.review[..], [ReviewReason::AmbiguousCheckIn { candidates }] if candidates == &vec![1, 2])
        );
    }

    #[test]
    fn the_shopper_at_the_scanner_binds_although_another_is_in_the_gate_zone() {
        let (mut fusion, mut sessions) = store();
        // the one who scans stands at the gate; the other is still 0.8 m off to the side
        let walkers = [(1, 0, 0.0), (2, 0, 0.8)];
        run(&mut fusion, &mut sessions, &walkers, 0, 200);
        sessions.check_in(check_in("acct-1", 100), &fusion);
        run(&mut fusion, &mut sessions, &walkers, 300, 4_000);
        let session = sessions.get(1).unwrap();
        assert_eq!(session.tracks, [1].into_iter().collect());
        assert!(session.review.is_empty(), "{:?}", session.review);
    }

    #[test]
    fn shoppers_picked_up_late_are_given_to_the_scans_in_the_order_they_passed_the_scanner() {
        let (mut fusion, mut sessions) = store();
        // two shoppers scan 0.4 s apart and walk in at 1 m/s; the cameras pick both up only once they
        // are 0.6 m and 0.2 m inside, when the second one stands nearer the scanner
        sessions.check_in(check_in("first", 0), &fusion);
        for ms in (0..=4_000).step_by(100) {
            if ms == 400 {
                sessions.check_in(check_in("second", 400), &fusion);
            }
            let seen: Vec<FloorObservation> = [(1, 0), (2, 400)]
                .into_iter()
                .filter(|_| ms >= 600)
                .map(|(id, start)| FloorObservation {
                    camera: CameraId::new("a"),
                    local_id: id,
                    position_m: Point2::new((ms - start) as f64 / 1000.0, 0.0),
                    appearance: None,
                    range_m: f64::INFINITY,
                })
                .collect();
            let changes = fusion.update(at(ms), &seen);
            sessions.on_fusion(at(ms), &changes, &fusion);
        }
        // the tracks were born in the order the cameras saw them: 1 for the first walker
        assert_eq!(fusion.global_id(&CameraId::new("a"), 1), Some(1));
        for (track, session) in [(1, 1), (2, 2)] {
            assert_eq!(sessions.session_of_track(track), Some(session));
            let review = &sessions.get(session).unwrap().review;
            assert!(review.is_empty(), "session {session}: {review:?}");
        }
    }

    /// Steps the store from `from_ms` to `to_ms` with camera `a` seeing each (local id, x, y) as given
    /// by `place` at each millisecond.
    fn steps(
        fusion: &mut Fusion,
        sessions: &mut Sessions,
        from_ms: u64,
        to_ms: u64,
        place: impl Fn(u64) -> Vec<(u64, f64, f64)>,
    ) -> (Vec<u64>, FusionEvents) {
        steps_seen(fusion, sessions, from_ms, to_ms, |ms| {
            place(ms)
                .into_iter()
                .map(|(id, x, y)| ("a", id, x, y))
                .collect()
        })
    }

    /// As `steps`, each track seen by the camera named with it.
    fn steps_seen(
        fusion: &mut Fusion,
        sessions: &mut Sessions,
        from_ms: u64,
        to_ms: u64,
        place: impl Fn(u64) -> Vec<(&'static str, u64, f64, f64)>,
    ) -> (Vec<u64>, FusionEvents) {
        let mut closed = Vec::new();
        let mut all = FusionEvents::default();
        for ms in (from_ms..=to_ms).step_by(100) {
            let seen: Vec<FloorObservation> = place(ms)
                .into_iter()
                .map(|(camera, id, x, y)| FloorObservation {
                    camera: CameraId::new(camera),
                    local_id: id,
                    position_m: Point2::new(x, y),
                    appearance: None,
                    range_m: f64::INFINITY,
                })
                .collect();
            let changes = fusion.update(at(ms), &seen);
            closed.extend(sessions.on_fusion(at(ms), &changes, fusion).closed);
            all.born.extend(changes.born);
            all.vanished.extend(changes.vanished);
        }
        (closed, all)
    }

    /// Two accounts scan 0.13 s apart and the cameras see one shopper: whichever scan the shopper is
    /// given to, and whichever is decided first, neither account is charged unreviewed.
    #[test]
    fn when_one_of_two_close_scans_finds_nobody_the_other_is_held_too() {
        for passes_at in [3_020, 3_150] {
            let (mut fusion, mut sessions) = store();
            let walkers = [(1, passes_at, 0.0)];
            run(&mut fusion, &mut sessions, &walkers, 0, 2_900);
            sessions.check_in(check_in("acct-1", 3_020), &fusion);
            sessions.check_in(check_in("acct-2", 3_150), &fusion);
            run(&mut fusion, &mut sessions, &walkers, 3_000, 9_000);
            let bound: Vec<&Session> = sessions.all().filter(|s| !s.tracks.is_empty()).collect();
            assert_eq!(bound.len(), 1, "passing at {passes_at} ms");
            for session in sessions.all() {
                assert!(
                    session.needs_review(),
                    "passing at {passes_at} ms: {} is not held ({:?})",
                    session.account,
                    session.review
                );
            }
            let other = if bound[0].account == "acct-1" {
                "acct-2"
            } else {
                "acct-1"
            };
            assert!(
                bound[0].review.contains(&ReviewReason::NearAnEmptyCheckIn {
                    account: other.into()
                }),
                "{:?}",
                bound[0].review
            );
        }
    }

    /// In a live store, a session whose shopper was never found goes to an operator after a while,
    /// instead of staying open until the store shuts down; one that found its shopper stays open.
    #[test]
    fn a_session_that_never_found_its_shopper_closes_for_review_after_the_timeout() {
        let (mut fusion, mut sessions) = store();
        sessions.config.unfound_close_after_secs = 20.0;
        // acct-2's shopper stands in the store for good, never reaching the exit
        let standing = |ms: u64| {
            if ms >= 5_000 {
                vec![(1, 3.0, 0.0)]
            } else {
                vec![(1, (ms as f64 / 5_000.0) * 3.0, 0.0)]
            }
        };
        sessions.check_in(check_in("acct-1", 10_000), &fusion);
        sessions.check_in(check_in("acct-2", 0), &fusion);
        let (closed, _) = steps(&mut fusion, &mut sessions, 0, 29_000, standing);
        assert!(closed.is_empty(), "{closed:?}");
        let (closed, _) = steps(&mut fusion, &mut sessions, 29_100, 31_000, standing);
        assert_eq!(closed, vec![1]);
        let session = sessions.get(1).unwrap();
        assert_eq!(session.state, SessionState::Closed);
        assert!(session.needs_review());
        assert_eq!(sessions.get(2).unwrap().state, SessionState::Open);
        // closed once: later steps do not close it again
        let (closed, _) = steps(&mut fusion, &mut sessions, 31_100, 32_000, standing);
        assert!(closed.is_empty(), "{closed:?}");
    }

    /// A scan that found nobody says nothing of a scan made well outside the match window.
    #[test]
    fn a_scan_that_found_nobody_leaves_a_scan_long_before_it_alone() {
        let (mut fusion, mut sessions) = store();
        let walkers = [(1, 1_000, 0.0)];
        sessions.check_in(check_in("acct-1", 1_000), &fusion);
        sessions.check_in(check_in("acct-2", 6_000), &fusion);
        run(&mut fusion, &mut sessions, &walkers, 0, 12_000);
        assert_eq!(sessions.session_of_track(1), Some(1));
        assert!(
            !sessions.get(1).unwrap().needs_review(),
            "{:?}",
            sessions.get(1).unwrap().review
        );
        assert!(sessions.get(2).unwrap().needs_review());
    }

    #[test]
    fn a_shopper_the_entry_missed_is_given_to_the_check_in_that_found_nobody() {
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        steps(&mut fusion, &mut sessions, 0, 4_000, |_| vec![]);
        // first seen in an aisle: born an orphan after 1.5 s, claimed 2 s later
        let (_, changes) = steps(&mut fusion, &mut sessions, 4_100, 9_000, |_| {
            vec![(1, 5.0, 3.0)]
        });
        let newcomer = changes.born[0];
        assert!(fusion.track(newcomer).unwrap().born_outside_entry);
        assert_eq!(sessions.session_of_track(newcomer), Some(1));
        // the check-in itself still found nobody: an operator confirms
        assert_eq!(
            sessions.get(1).unwrap().review,
            vec![ReviewReason::NoShopperAtCheckIn {
                gate: "entry".into()
            }]
        );
    }

    #[test]
    fn a_family_member_the_entry_missed_joins_the_family_once() {
        let (mut fusion, mut sessions) = store();
        let walk = |ms: u64| ms as f64 / 1000.0;
        steps(&mut fusion, &mut sessions, 0, 300, |ms| {
            vec![(1, walk(ms), 0.0)]
        });
        // the parent is found at the gate; the child's scan a second later finds nobody
        sessions.check_in(check_in("family", 200), &fusion);
        sessions.check_in(check_in("family", 1_200), &fusion);
        steps(&mut fusion, &mut sessions, 400, 6_000, |ms| {
            vec![(1, walk(ms), 0.0)]
        });
        assert_eq!(sessions.get(1).unwrap().tracks, BTreeSet::from([1]));
        // the child is first seen in an aisle, far from the parent
        let (_, changes) = steps(&mut fusion, &mut sessions, 6_100, 10_000, |ms| {
            vec![(1, walk(ms), 0.0), (2, 3.0, 6.0)]
        });
        let child = changes.born[0];
        assert!(fusion.track(child).unwrap().born_outside_entry);
        assert_eq!(sessions.session_of_track(child), Some(1));
        assert_eq!(sessions.get(1).unwrap().tracks, BTreeSet::from([1, child]));
        // the check-in that found nobody is still reviewed
        assert!(
            sessions
                .get(1)
                .unwrap()
                .review
                .contains(&ReviewReason::NoShopperAtCheckIn {
                    gate: "entry".into()
                }),
            "{:?}",
            sessions.get(1).unwrap().review
        );
        // one scan found nobody, one shopper made up for it: a later stranger is nobody's
        let (_, later) = steps(&mut fusion, &mut sessions, 10_100, 14_000, |ms| {
            vec![(1, 8.0, 0.0), (2, 3.0, 6.0), (3, walk(ms) - 7.0, 9.0)]
        });
        let stranger = later.born[0];
        assert_eq!(sessions.session_of_track(stranger), None);
    }

    /// The input ends soon after the cameras lost a shopper in the last metres to the exit: the
    /// session closes without review; one lost in the middle of the store is reviewed.
    #[test]
    fn at_the_end_a_shopper_lost_walking_into_the_exit_has_left() {
        for (lost_at_x, reviewed) in [(7.5, false), (4.0, true)] {
            let (mut fusion, mut sessions) = store();
            let walker = move |ms: u64| {
                let x = ms as f64 / 1000.0;
                if x <= lost_at_x {
                    vec![(1, x, 0.0)]
                } else {
                    vec![]
                }
            };
            steps(&mut fusion, &mut sessions, 0, 200, walker);
            sessions.check_in(check_in("acct-1", 100), &fusion);
            steps(&mut fusion, &mut sessions, 300, 9_000, walker);
            assert_eq!(sessions.get(1).unwrap().state, SessionState::Open);
            assert_eq!(sessions.close_unseen_at_end(at(9_000), &fusion), vec![1]);
            let session = sessions.get(1).unwrap();
            assert_eq!(
                session.needs_review(),
                reviewed,
                "lost at x = {lost_at_x}: {:?}",
                session.review
            );
        }
    }

    #[test]
    fn a_check_in_that_found_nobody_closes_for_review_when_the_input_ends() {
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        steps(&mut fusion, &mut sessions, 0, 4_000, |_| vec![]);
        assert_eq!(sessions.get(1).unwrap().state, SessionState::Open);
        assert_eq!(sessions.close_unseen_at_end(at(4_000), &fusion), vec![1]);
        let session = sessions.get(1).unwrap();
        assert_eq!(session.state, SessionState::Closed);
        assert!(session.needs_review(), "{:?}", session.review);
    }

    #[test]
    fn a_shopper_lost_and_found_far_away_keeps_their_session_and_is_charged_without_review() {
        let (mut fusion, mut sessions) = store();
        let walk = |ms: u64| ms as f64 / 1000.0;
        steps(&mut fusion, &mut sessions, 0, 300, |ms| {
            vec![(1, walk(ms), 0.0)]
        });
        sessions.check_in(check_in("acct-1", 200), &fusion);
        assert_eq!(sessions.session_of_track(1), Some(1));
        // seen to x = 3, then unseen for 3 s, then found 5 m further by another track of the camera
        steps(&mut fusion, &mut sessions, 400, 3_000, |ms| {
            vec![(1, walk(ms), 0.0)]
        });
        steps(&mut fusion, &mut sessions, 3_100, 6_000, |_| vec![]);
        let (closed, changes) = steps(&mut fusion, &mut sessions, 6_100, 30_000, |ms| {
            // walks from (8, 5) to the exit at (10, 0), then out of view
            let t = (ms - 6_100) as f64 / 1000.0;
            let x = (8.0 + t * 0.5).min(10.0);
            let y = (5.0 - t).max(0.0);
            if t < 12.0 { vec![(2, x, y)] } else { vec![] }
        });
        let newcomer = changes.born[0];
        assert_ne!(newcomer, 1);
        assert_eq!(sessions.session_of_track(newcomer), Some(1));
        assert_eq!(changes.vanished, vec![1], "the lost track is given up");
        assert_eq!(
            closed,
            vec![1],
            "the session closes when the found shopper leaves"
        );
        let session = sessions.get(1).unwrap();
        assert_eq!(session.tracks, BTreeSet::from([newcomer]));
        assert!(session.review.is_empty(), "{:?}", session.review);
    }

    #[test]
    fn a_shopper_found_inside_is_given_to_nobody_when_two_sessions_miss_theirs() {
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        sessions.check_in(check_in("acct-2", 100), &fusion);
        steps(&mut fusion, &mut sessions, 0, 4_000, |_| vec![]);
        let (_, changes) = steps(&mut fusion, &mut sessions, 4_100, 9_000, |_| {
            vec![(1, 5.0, 3.0)]
        });
        assert_eq!(sessions.session_of_track(changes.born[0]), None);
    }

    /// Camera `a` sees a ghost (local 1) at the gate for the first second, then the shopper who scanned
    /// (local 2) walking in from 1.1 s, 1.5 m from where the ghost was.
    fn ghost_then_walker(ms: u64) -> Vec<(u64, f64, f64)> {
        let mut seen = Vec::new();
        if ms <= 1_000 {
            seen.push((1, 0.3, 0.0));
        }
        if ms >= 1_100 {
            seen.push((2, -0.9, -0.9 + (ms - 1_100) as f64 / 1000.0));
        }
        seen
    }

    /// Pairs 11119: a far camera put a ghost of the shopper ahead at the gate, the scan bound it, and
    /// the shopper who scanned was found only after the scan, 1.5 m from the ghost.
    #[test]
    fn a_shopper_who_came_in_while_their_scan_bound_a_ghost_is_given_to_that_scan() {
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        let (_, changes) = steps(&mut fusion, &mut sessions, 0, 2_000, ghost_then_walker);
        assert_eq!(changes.born, vec![1, 2]);
        assert!(!fusion.track(2).unwrap().born_outside_entry);
        assert_eq!(sessions.session_of_track(1), Some(1));
        assert_eq!(sessions.session_of_track(2), None);
        // no other check-in can want them once the match window is over: the ghost's scan takes them
        steps(&mut fusion, &mut sessions, 2_100, 15_000, ghost_then_walker);
        assert_eq!(sessions.session_of_track(2), Some(1));
        assert_eq!(sessions.session_of_track(1), None);
        // and the ghost vanishing (10 s after it was lost) is no longer the session's concern
        let review = &sessions.get(1).unwrap().review;
        assert!(review.is_empty(), "{review:?}");
    }

    /// Busy 11145: the first shopper was lost 10 m into the store, by the exit, while another came in
    /// at the gate whose scan had bound a ghost; the first session, missing its shopper, took the
    /// newcomer, and the newcomer's picks. Nobody walks 10 m in a tenth of a second, and a shopper seen
    /// at the gate while the lost one was still seen inside is someone else.
    #[test]
    fn a_shopper_lost_far_away_a_moment_ago_is_not_the_newcomer_at_the_gate() {
        // the shopper walks from the gate into the store at 1.2 m/s (away from the exit) and is lost
        // there after `lost_ms`; from `new_ms` on, a newcomer stands at the gate
        let scene = |lost_ms: u64, new_ms: u64| {
            move |ms: u64| {
                let mut seen = Vec::new();
                if ms <= lost_ms {
                    seen.push((1, 0.3, 1.2 * ms as f64 / 1000.0));
                }
                if ms >= new_ms {
                    seen.push((2, 0.3, 0.0));
                }
                seen
            }
        };
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        // lost 9.6 m in, a tenth of a second before the newcomer came
        let (_, changes) = steps(&mut fusion, &mut sessions, 0, 15_000, scene(8_000, 8_100));
        assert_eq!(changes.born, vec![1, 2]);
        assert_eq!(sessions.session_of_track(1), Some(1));
        assert_eq!(sessions.session_of_track(2), None);
        // lost 2.4 m in, a second before: they could have walked back, and are the newcomer
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        let (_, changes) = steps(&mut fusion, &mut sessions, 0, 15_000, scene(2_000, 3_000));
        assert_eq!(changes.born, vec![1, 2]);
        assert_eq!(sessions.session_of_track(2), Some(1));
        // seen at the gate while the shopper was still seen inside, 7 s after they came in: someone
        // else (only a shopper who came in with them can be whom their scan meant)
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        let (_, changes) = steps(&mut fusion, &mut sessions, 0, 15_000, scene(8_000, 7_000));
        assert_eq!(changes.born, vec![1, 2]);
        assert_eq!(sessions.session_of_track(1), Some(1));
        assert_eq!(sessions.session_of_track(2), None);
    }

    /// Busy 11195: a ghost fusion bore at the gate walked the store with no session, and took the
    /// tracks of a shopper walking beside it; the shopper's own id was lost there and vanished, and
    /// their picks went to nobody.
    #[test]
    fn a_shopper_lost_where_a_newcomer_stood_has_been_taken_over_by_them() {
        // the shopper walks in from the gate at 1.2 m/s and is lost after 7 s, 8.4 m in (gone 10 s
        // later); a shopper nobody checked in for comes in at 4 s and walks on past where they were
        // lost at `speed`
        let scene = |speed: f64| {
            move |ms: u64| {
                let t = ms as f64 / 1000.0;
                let mut seen = Vec::new();
                if ms <= 7_000 {
                    seen.push((1, 0.3, 1.2 * t));
                }
                if ms >= 4_000 {
                    seen.push((2, 0.3, speed * (t - 4.0)));
                }
                seen
            }
        };
        let run = |speed: f64| {
            let (mut fusion, mut sessions) = store();
            sessions.check_in(check_in("acct-1", 0), &fusion);
            let (_, changes) = steps(&mut fusion, &mut sessions, 0, 20_000, scene(speed));
            assert_eq!(changes.born, vec![1, 2]);
            assert_eq!(changes.vanished, vec![1]);
            (sessions.session_of_track(1), sessions.session_of_track(2))
        };
        // 0.9 m behind them when they were lost: the newcomer took their place
        assert_eq!(run(2.5), (None, Some(1)));
        // 5 m behind: someone else, seen while they still were
        assert_eq!(run(1.0), (Some(1), None));
    }

    /// A shopper who came in while a check-in at the gate is still waiting is left to that check-in.
    #[test]
    fn a_shopper_at_the_gate_is_not_claimed_while_a_check_in_waits() {
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        steps(&mut fusion, &mut sessions, 0, 3_900, ghost_then_walker);
        // a second scan, its window open until 7.9 s
        sessions.check_in(check_in("acct-2", 4_000), &fusion);
        steps(&mut fusion, &mut sessions, 4_000, 7_000, ghost_then_walker);
        assert_eq!(sessions.session_of_track(2), None);
    }

    #[test]
    fn a_shopper_found_beside_another_is_not_claimed_they_may_be_that_shopper_seen_twice() {
        let (mut fusion, mut sessions) = store();
        sessions.check_in(check_in("acct-1", 0), &fusion);
        steps(&mut fusion, &mut sessions, 0, 4_000, |_| vec![]);
        // a shopper without session walking in, and an orphan 1.5 m beside them all along that only
        // another camera sees: it may be a far camera's view of the same person
        let (_, changes) = steps_seen(&mut fusion, &mut sessions, 4_100, 9_000, |ms| {
            let x = (ms - 4_100) as f64 / 1000.0;
            vec![("a", 1, x, 0.0), ("b", 2, x.max(1.5), 1.5)]
        });
        assert_eq!(changes.born.len(), 2, "{changes:?}");
        for shopper in changes.born {
            assert_eq!(sessions.session_of_track(shopper), None);
        }
    }

    /// Busy 11182: a shopper walking a metre from another whose session is theirs is not that shopper
    /// seen twice when one camera follows the two as two people, and is claimed.
    #[test]
    fn a_shopper_found_beside_another_whom_a_camera_shows_apart_is_claimed() {
        for apart in [true, false] {
            let (mut fusion, mut sessions) = store();
            // acct-1's scan finds nobody at the gate; acct-2's binds the shopper walking in at 4 s
            sessions.check_in(check_in("acct-1", 0), &fusion);
            steps(&mut fusion, &mut sessions, 0, 4_000, |_| vec![]);
            let walk = |ms: u64| (ms - 4_100) as f64 / 1000.0;
            steps_seen(&mut fusion, &mut sessions, 4_100, 4_400, |ms| {
                vec![("a", 1, walk(ms), 0.0)]
            });
            sessions.check_in(check_in("acct-2", 4_200), &fusion);
            // a second shopper walks in beside them, 1.2 m away, seen by camera a as a track of its
            // own (two people) or only by camera b (perhaps the first one seen twice)
            let beside = if apart { "a" } else { "b" };
            let (_, changes) = steps_seen(&mut fusion, &mut sessions, 4_500, 12_000, |ms| {
                vec![("a", 1, walk(ms), 0.0), (beside, 2, walk(ms), 1.2)]
            });
            let first = sessions.session_of_track(1);
            let second = changes.born.iter().copied().find(|&b| b != 1).unwrap();
            assert!(first.is_some());
            if apart {
                let claimed = sessions.session_of_track(second);
                assert!(
                    claimed.is_some() && claimed != first,
                    "{claimed:?} {first:?}"
                );
            } else {
                assert_eq!(sessions.session_of_track(second), None);
            }
        }
    }

    #[test]
    fn a_family_pays_on_one_account_and_closes_when_the_last_one_leaves() {
        // also when fusion has dropped the first to leave by then (long gone: `drop_gone_after_secs`)
        for drop_gone_after_secs in [FusionConfig::default().drop_gone_after_secs, 2.0] {
            family_leaving_one_by_one(drop_gone_after_secs);
        }
    }

    fn family_leaving_one_by_one(drop_gone_after_secs: f64) {
        let (fusion, mut sessions) = store();
        let mut fusion = Fusion::new(FusionConfig {
            drop_gone_after_secs,
            ..fusion.config().clone()
        });
        run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 0, 100);
        sessions.check_in(check_in("family", 50), &fusion);
        run(
            &mut fusion,
            &mut sessions,
            &[(1, 0, 0.0), (2, 4_000, 0.0)],
            200,
            4_100,
        );
        let second = sessions.check_in(check_in("family", 4_050), &fusion);
        assert!(
            second.opened.is_empty(),
            "the family shares the open session"
        );
        let closed = run(
            &mut fusion,
            &mut sessions,
            &[(1, 0, 0.0), (2, 4_000, 0.0)],
            4_200,
            15_500,
        );
        assert_eq!(closed, vec![1]);
        let session = sessions.get(1).unwrap();
        assert_eq!(
            session.tracks.iter().copied().collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(
            session.closed_at.unwrap() > at(14_000),
            "closed only after the second shopper left"
        );
        assert_eq!(
            fusion.track(1).is_none(),
            drop_gone_after_secs < 4.0,
            "the first left 4 s before the second"
        );
    }

    #[test]
    fn low_confidence_events_send_the_session_to_review() {
        let (mut fusion, mut sessions) = store();
        run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 0, 100);
        sessions.check_in(check_in("acct-1", 50), &fusion);
        sessions.add_event(1, event(7, 2_000, 0.4));
        assert!(sessions.get(1).unwrap().needs_review());
        assert_eq!(
            sessions.add_event(99, event(8, 2_000, 0.9)),
            None,
            "no session for an unknown shopper"
        );
    }

    /// Two shoppers enter two seconds apart, each checking in on their own account: tracks 1 and 2 in
    /// sessions 1 and 2.
    fn two_shoppers_two_accounts() -> Sessions {
        two_shoppers_two_accounts_in(store()).1
    }

    /// [`two_shoppers_two_accounts`], with the fusion that saw them.
    fn two_shoppers_two_accounts_in(
        (mut fusion, mut sessions): (Fusion, Sessions),
    ) -> (Fusion, Sessions) {
        // two shoppers enter two seconds apart, each checking in on their own account
        run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 0, 100);
        sessions.check_in(check_in("acct-1", 50), &fusion);
        run(
            &mut fusion,
            &mut sessions,
            &[(1, 0, 0.0), (2, 2_000, 0.0)],
            200,
            2_100,
        );
        sessions.check_in(check_in("acct-2", 2_050), &fusion);
        run(
            &mut fusion,
            &mut sessions,
            &[(1, 0, 0.0), (2, 2_000, 0.0)],
            2_200,
            3_000,
        );
        assert_eq!(
            (sessions.session_of_track(1), sessions.session_of_track(2)),
            (Some(1), Some(2))
        );
        (fusion, sessions)
    }

    #[test]
    fn a_doubt_dismissed_before_the_cart_is_final_takes_back_the_reviews_it_raised() {
        let (mut fusion, mut sessions) = two_shoppers_two_accounts_in(store());
        assert!(fusion.doubt(at(2_200), 1, 2));
        assert!(fusion.doubt(at(2_400), 2, 1));
        sessions.add_event(1, event(7, 2_500, 0.95));
        let others: Vec<u64> = fusion.track(1).unwrap().doubted_with(at(2_500)).collect();
        sessions.flag_uncertain_identity(7, 1, &others);
        let doubted = |sessions: &Sessions, id: u64| {
            sessions
                .get(id)
                .unwrap()
                .review
                .iter()
                .any(|r| matches!(r, ReviewReason::UncertainIdentity { event: 7, .. }))
        };
        assert!(doubted(&sessions, 1) && doubted(&sessions, 2));
        // one of the two doubts is dismissed: the other still covers the event
        assert!(fusion.dismiss_doubt(at(2_200), 1, 2));
        sessions.reconsider_identity(&fusion);
        assert!(doubted(&sessions, 1) && doubted(&sessions, 2));
        // the second one too; acct-2's cart was final already and keeps what it was held with
        sessions.finalise(2, at(2_600));
        assert!(fusion.dismiss_doubt(at(2_400), 1, 2));
        sessions.reconsider_identity(&fusion);
        assert!(
            !doubted(&sessions, 1),
            "{:?}",
            sessions.get(1).unwrap().review
        );
        assert!(!sessions.get(1).unwrap().needs_review());
        assert!(doubted(&sessions, 2));
    }

    #[test]
    fn an_event_by_a_shopper_who_may_have_been_swapped_sends_both_sessions_to_review() {
        let mut sessions = two_shoppers_two_accounts();
        sessions.add_event(1, event(7, 2_500, 0.95));
        sessions.flag_uncertain_identity(7, 1, &[2]);
        for id in [1, 2] {
            let session = sessions.get(id).unwrap();
            assert!(session.needs_review(), "session {id}");
            assert_eq!(
                session.review,
                vec![ReviewReason::UncertainIdentity {
                    event: 7,
                    tracks: vec![1, 2]
                }]
            );
        }
    }

    #[test]
    fn a_rival_at_the_slot_has_their_session_reviewed_not_the_chosen_one() {
        let mut sessions = two_shoppers_two_accounts();
        sessions.add_event(1, event(7, 2_500, 0.95));
        sessions.flag_contested(7, 1, 2);
        assert!(!sessions.get(1).unwrap().needs_review());
        assert_eq!(
            sessions.get(2).unwrap().review,
            vec![ReviewReason::ContestedEvent {
                event: 7,
                attributed_to: 1
            }]
        );
        // a rival without a session (no check-in) is nobody to review
        sessions.flag_contested(7, 1, 99);
        assert!(!sessions.get(1).unwrap().needs_review());
    }

    #[test]
    fn a_family_swapped_among_themselves_needs_no_review() {
        let (mut fusion, mut sessions) = store();
        run(&mut fusion, &mut sessions, &[(1, 0, 0.0)], 0, 100);
        sessions.check_in(check_in("family", 50), &fusion);
        run(
            &mut fusion,
            &mut sessions,
            &[(1, 0, 0.0), (2, 2_000, 0.0)],
            200,
            2_100,
        );
        sessions.check_in(check_in("family", 2_050), &fusion);
        run(
            &mut fusion,
            &mut sessions,
            &[(1, 0, 0.0), (2, 2_000, 0.0)],
            2_200,
            3_000,
        );
        sessions.add_event(1, event(7, 2_500, 0.95));
        sessions.flag_uncertain_identity(7, 1, &[2]);
        assert!(!sessions.get(1).unwrap().needs_review());
        // with someone outside the family the event may be theirs
        sessions.flag_uncertain_identity(7, 1, &[2, 99]);
        assert!(sessions.get(1).unwrap().needs_review());
    }
}
