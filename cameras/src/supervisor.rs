use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError, TrySendError,
};
use serde::{Deserialize, Serialize};
use walkout_core::{CameraId, Frame};

use crate::{
    Backoff, CameraError, CameraStream, OutputFormat, Pacing, PtsRebaser, Pull, Source,
    SourceOptions, StreamConfig,
};

/// One camera as the store's configuration describes it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// The camera's id, unique among the supervisor's cameras (`"entrance"`, `"aisle-3"`).
    pub id: CameraId,
    /// Where the video comes from, in any form [`Source::parse`] takes. May carry credentials, which are
    /// never logged or shown.
    pub source: String,
    /// RTSP transport and latency, and whether a file loops.
    #[serde(default)]
    pub options: SourceOptions,
    /// Size and rate of the frames handed on; the source's own when unset.
    #[serde(default)]
    pub output: OutputFormat,
    /// Live (real time, a slow consumer loses the oldest frames) or offline (lossless, as fast as consumed).
    #[serde(default)]
    pub pacing: Pacing,
    /// Seconds without a frame after which a camera counts as stalled and is reconnected.
    #[serde(default = "default_stall_secs")]
    pub stall_secs: f64,
}

fn default_stall_secs() -> f64 {
    5.0
}

impl CameraConfig {
    /// A live camera with default options.
    pub fn new(id: impl AsRef<str>, source: impl Into<String>) -> Self {
        Self {
            id: CameraId::new(id),
            source: source.into(),
            options: SourceOptions::default(),
            output: OutputFormat::default(),
            pacing: Pacing::Live,
            stall_secs: default_stall_secs(),
        }
    }

    fn stall_after(&self) -> Duration {
        Duration::try_from_secs_f64(self.stall_secs)
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_millis(100))
    }

    /// The source as it may be shown: credentials replaced by `***`, also when it does not parse.
    pub fn redacted_source(&self) -> String {
        match Source::parse(&self.source) {
            Ok(source) => source.redacted(),
            Err(_) => crate::stream::redact_urls(&self.source),
        }
    }
}

/// One problem with a [`CameraConfig`], with the path of the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigProblem {
    /// Where: `cameras[2].source`, or `source` for a single camera.
    pub field: String,
    /// What is wrong, without credentials.
    pub message: String,
}

impl CameraConfig {
    /// Checks what can be checked without opening the source, and reports every problem at once.
    /// A file that does not exist yet is not a problem here (it may appear); a source that can never
    /// work is.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(ConfigProblem {
                field: field.to_string(),
                message,
            })
        };
        if self.id.as_str().trim().is_empty() {
            problem("id", "the camera id is empty".into());
        }
        if let Err(err) = Source::parse(&self.source) {
            problem("source", err.to_string());
        }
        if !(self.stall_secs.is_finite() && self.stall_secs >= 0.1) {
            problem(
                "stall_secs",
                format!("must be at least 0.1 s, got {}", self.stall_secs),
            );
        }
        for (field, value) in [
            ("output.width", self.output.width),
            ("output.height", self.output.height),
            ("output.fps", self.output.fps),
        ] {
            if value == Some(0) {
                problem(field, "must be positive when set".into());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Validates a whole store's cameras: each one, and that no id repeats.
    pub fn validate_all(cameras: &[CameraConfig]) -> Result<(), Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, camera) in cameras.iter().enumerate() {
            if let Err(found) = camera.validate() {
                problems.extend(found.into_iter().map(|p| ConfigProblem {
                    field: format!("cameras[{i}].{}", p.field),
                    message: p.message,
                }));
            }
            if !seen.insert(camera.id.clone()) {
                problems.push(ConfigProblem {
                    field: format!("cameras[{i}].id"),
                    message: format!("camera id `{}` appears more than once", camera.id),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

impl std::fmt::Debug for CameraConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraConfig")
            .field("id", &self.id)
            .field("source", &self.redacted_source())
            .field("options", &self.options)
            .field("output", &self.output)
            .field("pacing", &self.pacing)
            .field("stall_secs", &self.stall_secs)
            .finish()
    }
}

/// Where a camera is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Opening the source for the first time.
    Connecting,
    /// Frames are arriving.
    Streaming,
    /// Frames stopped (no frame for `stall_secs`, or the stream failed); the pipeline is being torn down.
    Stalled,
    /// Waiting out the back-off, or opening the source again.
    Reconnecting,
    /// A finite source (a file without loop, a test pattern with a buffer count) reached its end.
    Ended,
    /// The configuration can never work (see [`CameraError::is_permanent`]); not retried.
    Failed,
}

/// The last error of a camera, as health output shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraFault {
    /// The cause as a stable name ([`CameraError::kind`]): `unreachable`, `unauthorized`, `stalled`, ...
    pub kind: String,
    /// The full message, naming the camera; credentials redacted.
    pub message: String,
}

impl From<&CameraError> for CameraFault {
    fn from(error: &CameraError) -> Self {
        Self {
            kind: error.kind().to_string(),
            message: error.to_string(),
        }
    }
}

/// One camera's health: what `GET /api/cameras` serves. Counters are totals since the camera was added
/// (monotonic, suitable for metrics); rates are over roughly the last second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraHealth {
    /// The camera's id.
    pub id: CameraId,
    /// The source with credentials redacted.
    pub source: String,
    /// Where the camera is in its life now.
    pub state: CameraState,
    /// Frames per second decoded by GStreamer.
    pub fps_in: f64,
    /// Frames per second handed to the output channel.
    pub fps_out: f64,
    /// Frames GStreamer decoded, over every connection.
    pub frames_decoded: u64,
    /// Frames handed to the output channel.
    pub frames_delivered: u64,
    /// Frames lost to live pacing: stale frames evicted at the camera and at the shared output channel.
    pub frames_dropped: u64,
    /// Attempts to open the source again after it failed or stalled.
    pub reconnects: u64,
    /// Times a stream that was delivering frames stopped doing so.
    pub stalls: u64,
    /// Timestamps that went backwards or jumped (also across reconnects) and were re-based.
    pub timestamps_rebased: u64,
    /// The most recent failure, kept after the camera recovers so that an operator can see what happened.
    pub last_error: Option<CameraFault>,
    /// Milliseconds since the last frame was delivered; `None` before the first one.
    pub last_frame_age_ms: Option<u64>,
}

impl CameraHealth {
    /// The monotonic counters as Prometheus-style metric names (`_total`), each to be labelled with the
    /// camera id.
    pub fn counters(&self) -> [(&'static str, u64); 7] {
        [
            ("walkout_camera_frames_decoded_total", self.frames_decoded),
            (
                "walkout_camera_frames_delivered_total",
                self.frames_delivered,
            ),
            ("walkout_camera_frames_dropped_total", self.frames_dropped),
            ("walkout_camera_reconnects_total", self.reconnects),
            ("walkout_camera_stalls_total", self.stalls),
            (
                "walkout_camera_timestamps_rebased_total",
                self.timestamps_rebased,
            ),
            (
                "walkout_camera_streaming",
                u64::from(self.state == CameraState::Streaming),
            ),
        ]
    }

    /// The rates, as gauges.
    pub fn gauges(&self) -> [(&'static str, f64); 2] {
        [
            ("walkout_camera_fps_in", self.fps_in),
            ("walkout_camera_fps_out", self.fps_out),
        ]
    }
}

/// Why [`CameraSupervisor::add`] or [`CameraSupervisor::remove`] refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SupervisorError {
    #[error("camera `{0}` is already supervised")]
    DuplicateCamera(CameraId),
    #[error("camera `{0}` is not supervised")]
    UnknownCamera(CameraId),
    #[error("could not start the thread for camera `{0}`: {1}")]
    Thread(CameraId, String),
}

/// Runs any number of cameras, each on its own supervision thread, into one bounded output channel.
///
/// Each camera connects, streams, and on any failure (at start or mid-stream, an error or a stall) tears
/// its pipeline down and reconnects with [`Backoff`], forever, unless its configuration can never work.
/// Cameras are added and removed while the others run; one bad camera never stops the others.
///
/// Back-pressure on the output channel follows each camera's pacing: a live camera that finds the channel
/// full drops the oldest frame in it (counted against that frame's camera); an offline camera blocks until
/// there is room. Put offline cameras on a supervisor of their own: a live camera sharing their channel
/// could evict their frames.
///
/// Frames are numbered per camera from 0 when it is added, across reconnects. A frame evicted from the
/// output channel has already been numbered, so a live camera's numbers can show gaps at the consumer; each
/// gap is a counted drop (`frames_dropped`). Frames dropped inside a camera's stream take no number.
pub struct CameraSupervisor {
    output: Sender<Frame>,
    evict: Receiver<Frame>,
    cameras: Mutex<BTreeMap<CameraId, CameraHandle>>,
    registry: Registry,
    next_seed: Mutex<u64>,
}

type Registry = Arc<Mutex<HashMap<CameraId, Arc<CameraShared>>>>;

impl std::fmt::Debug for CameraSupervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSupervisor")
            .field("cameras", &lock(&self.cameras).keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

struct CameraHandle {
    shared: Arc<CameraShared>,
    /// Dropping it tells the camera's thread to stop.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct CameraShared {
    id: CameraId,
    source: String,
    status: Mutex<Status>,
}

#[derive(Debug)]
struct Status {
    state: CameraState,
    fps_in: f64,
    fps_out: f64,
    frames_decoded: u64,
    frames_delivered: u64,
    dropped_at_camera: u64,
    dropped_at_output: u64,
    reconnects: u64,
    stalls: u64,
    timestamps_rebased: u64,
    last_error: Option<CameraFault>,
    last_frame_at: Option<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A camera thread that panicked must not take health output down with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CameraSupervisor {
    /// `output` is where frames go; `evict` is a receiver of the same channel, used only to drop its oldest
    /// frame when a live camera finds it full.
    pub fn new(output: Sender<Frame>, evict: Receiver<Frame>) -> Self {
        Self {
            output,
            evict,
            cameras: Mutex::new(BTreeMap::new()),
            registry: Arc::new(Mutex::new(HashMap::new())),
            next_seed: Mutex::new(0x5eed),
        }
    }

    /// A supervisor with a fresh output channel of `capacity` frames, and the receiving end of it.
    pub fn with_capacity(capacity: usize) -> (Self, Receiver<Frame>) {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        (Self::new(tx, rx.clone()), rx)
    }

    /// Starts supervising a camera. Problems with the camera itself (a bad source, a host that is down)
    /// are not errors here: they show in [`CameraSupervisor::health`] while it retries.
    pub fn add(&self, config: CameraConfig) -> Result<(), SupervisorError> {
        let mut cameras = lock(&self.cameras);
        if cameras.contains_key(&config.id) {
            return Err(SupervisorError::DuplicateCamera(config.id));
        }
        let shared = Arc::new(CameraShared {
            id: config.id.clone(),
            source: config.redacted_source(),
            status: Mutex::new(Status {
                state: CameraState::Connecting,
                fps_in: 0.0,
                fps_out: 0.0,
                frames_decoded: 0,
                frames_delivered: 0,
                dropped_at_camera: 0,
                dropped_at_output: 0,
                reconnects: 0,
                stalls: 0,
                timestamps_rebased: 0,
                last_error: None,
                last_frame_at: None,
            }),
        });
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let seed = {
            let mut seed = lock(&self.next_seed);
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *seed
        };
        let worker = CameraWorker {
            backoff: Backoff::for_cameras(seed),
            rebaser: PtsRebaser::new(Duration::from_secs(1), Duration::from_millis(40)),
            next_seq: 0,
            config: config.clone(),
            shared: Arc::clone(&shared),
            stop: stop_rx,
            output: self.output.clone(),
            evict: self.evict.clone(),
            registry: Arc::clone(&self.registry),
        };
        lock(&self.registry).insert(config.id.clone(), Arc::clone(&shared));
        let thread = std::thread::Builder::new()
            .name(format!("camera-{}", config.id))
            .spawn(move || worker.run())
            .map_err(|err| {
                lock(&self.registry).remove(&config.id);
                SupervisorError::Thread(config.id.clone(), err.to_string())
            })?;
        tracing::info!(camera = %config.id, source = %shared.source, "camera added");
        cameras.insert(
            config.id,
            CameraHandle {
                shared,
                stop: Some(stop_tx),
                thread: Some(thread),
            },
        );
        Ok(())
    }

    /// Stops a camera, sets its pipeline to `Null` and forgets it; the others keep running.
    pub fn remove(&self, id: &CameraId) -> Result<(), SupervisorError> {
        let handle = lock(&self.cameras)
            .remove(id)
            .ok_or_else(|| SupervisorError::UnknownCamera(id.clone()))?;
        stop_and_join(handle);
        lock(&self.registry).remove(id);
        tracing::info!(camera = %id, "camera removed");
        Ok(())
    }

    /// The ids of the supervised cameras, sorted.
    pub fn camera_ids(&self) -> Vec<CameraId> {
        lock(&self.cameras).keys().cloned().collect()
    }

    /// Every camera's health, sorted by id.
    pub fn health(&self) -> Vec<CameraHealth> {
        lock(&self.cameras)
            .values()
            .map(|handle| handle.shared.health())
            .collect()
    }

    /// One camera's health.
    pub fn camera_health(&self, id: &CameraId) -> Option<CameraHealth> {
        lock(&self.cameras)
            .get(id)
            .map(|handle| handle.shared.health())
    }

    /// Stops every camera and waits until all their pipelines are `Null`.
    pub fn shutdown(&self) {
        let handles = std::mem::take(&mut *lock(&self.cameras));
        // Signal all first so that the cameras wind down in parallel, then wait for each.
        let handles: Vec<CameraHandle> = handles
            .into_values()
            .map(|mut handle| {
                handle.stop.take();
                handle
            })
            .collect();
        for handle in handles {
            stop_and_join(handle);
        }
        lock(&self.registry).clear();
    }
}

impl Drop for CameraSupervisor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn stop_and_join(mut handle: CameraHandle) {
    drop(handle.stop.take());
    if let Some(thread) = handle.thread.take()
        && thread.join().is_err()
    {
        tracing::error!(camera = %handle.shared.id, "camera thread panicked");
    }
}

impl CameraShared {
    fn health(&self) -> CameraHealth {
        let status = lock(&self.status);
        CameraHealth {
            id: self.id.clone(),
            source: self.source.clone(),
            state: status.state,
            fps_in: status.fps_in,
            fps_out: status.fps_out,
            frames_decoded: status.frames_decoded,
            frames_delivered: status.frames_delivered,
            frames_dropped: status.dropped_at_camera + status.dropped_at_output,
            reconnects: status.reconnects,
            stalls: status.stalls,
            timestamps_rebased: status.timestamps_rebased,
            last_error: status.last_error.clone(),
            last_frame_age_ms: status
                .last_frame_at
                .map(|at| u64::try_from(at.elapsed().as_millis()).unwrap_or(u64::MAX)),
        }
    }

    fn set_state(&self, state: CameraState) {
        let mut status = lock(&self.status);
        if status.state != state {
            tracing::debug!(camera = %self.id, from = ?status.state, to = ?state, "camera state");
        }
        status.state = state;
        if state != CameraState::Streaming {
            status.fps_in = 0.0;
            status.fps_out = 0.0;
        }
    }
}

/// How one stream ended.
enum Outcome {
    Stopped,
    Ended,
    Lost {
        error: CameraError,
        was_streaming: bool,
    },
}

/// Counters of the stream being read, folded into the camera's totals as they change.
#[derive(Default, Clone, Copy)]
struct StreamCounts {
    decoded: u64,
    dropped: u64,
    rebased: u64,
}

/// The state a camera's supervision thread owns.
struct CameraWorker {
    config: CameraConfig,
    shared: Arc<CameraShared>,
    stop: Receiver<()>,
    output: Sender<Frame>,
    evict: Receiver<Frame>,
    registry: Registry,
    backoff: Backoff,
    /// Keeps timestamps monotonic across reconnects, where each new stream starts its own clock.
    rebaser: PtsRebaser,
    /// Numbers frames per camera since it was added, across reconnects.
    next_seq: u64,
}

const PULL_WAIT: Duration = Duration::from_millis(100);
const RATE_WINDOW: Duration = Duration::from_secs(1);

impl CameraWorker {
    fn run(mut self) {
        let source = match Source::parse(&self.config.source) {
            Ok(source) => source,
            Err(error) => return self.fail(&error),
        };
        let mut first_attempt = true;
        loop {
            if self.stop_requested() {
                return;
            }
            if first_attempt {
                self.shared.set_state(CameraState::Connecting);
            } else {
                self.shared.set_state(CameraState::Reconnecting);
                lock(&self.shared.status).reconnects += 1;
            }
            first_attempt = false;
            let stream_config = StreamConfig {
                camera: self.config.id.clone(),
                source: source.clone(),
                options: self.config.options.clone(),
                output: self.config.output,
                pacing: self.config.pacing,
            };
            let outcome = match CameraStream::open(stream_config) {
                Ok(mut stream) => {
                    let outcome = self.pump(&mut stream, &source);
                    if let Outcome::Lost {
                        error,
                        was_streaming: true,
                    } = &outcome
                    {
                        // Visible while the pipeline goes down, which can take a moment for a network source.
                        let mut status = lock(&self.shared.status);
                        status.last_error = Some(CameraFault::from(error));
                        status.stalls += 1;
                        status.state = CameraState::Stalled;
                        status.fps_in = 0.0;
                        status.fps_out = 0.0;
                    }
                    drop(stream);
                    outcome
                }
                Err(error) => Outcome::Lost {
                    error,
                    was_streaming: false,
                },
            };
            match outcome {
                Outcome::Stopped => return,
                Outcome::Ended => {
                    tracing::info!(camera = %self.config.id, "camera source ended");
                    self.shared.set_state(CameraState::Ended);
                    return;
                }
                Outcome::Lost { error, .. } if error.is_permanent() => return self.fail(&error),
                Outcome::Lost { error, .. } => {
                    let delay = self.backoff.next_delay();
                    tracing::warn!(
                        camera = %self.config.id,
                        kind = error.kind(),
                        retry_in_ms = delay.as_millis() as u64,
                        "{error}"
                    );
                    {
                        let mut status = lock(&self.shared.status);
                        status.last_error = Some(CameraFault::from(&error));
                    }
                    self.shared.set_state(CameraState::Reconnecting);
                    if self.wait_or_stop(delay) {
                        return;
                    }
                }
            }
        }
    }

    fn fail(&self, error: &CameraError) {
        tracing::error!(camera = %self.config.id, kind = error.kind(), "{error}; not retrying");
        let mut status = lock(&self.shared.status);
        status.last_error = Some(CameraFault::from(error));
        status.state = CameraState::Failed;
    }

    fn stop_requested(&self) -> bool {
        matches!(self.stop.try_recv(), Err(TryRecvError::Disconnected))
    }

    /// Sleeps for `delay` unless told to stop first; returns whether to stop.
    fn wait_or_stop(&self, delay: Duration) -> bool {
        matches!(
            self.stop.recv_timeout(delay),
            Err(RecvTimeoutError::Disconnected) | Ok(())
        )
    }

    /// Reads one stream until it ends, fails, stalls or the camera is stopped.
    fn pump(&mut self, stream: &mut CameraStream, source: &Source) -> Outcome {
        let stall_after = self.config.stall_after();
        let opened = Instant::now();
        let mut last_frame: Option<Instant> = None;
        let mut counted = StreamCounts::default();
        let mut window_start = Instant::now();
        let mut window_counts = (0u64, 0u64);
        let outcome = loop {
            if self.stop_requested() {
                break Outcome::Stopped;
            }
            let pulled = stream.pull(PULL_WAIT);
            counted = self.fold_counts(stream, counted);
            match pulled {
                Ok(Pull::Frame(frame)) => {
                    if last_frame.is_none() {
                        self.shared.set_state(CameraState::Streaming);
                        self.backoff.reset();
                    }
                    last_frame = Some(Instant::now());
                    if !self.deliver(frame) {
                        break Outcome::Stopped;
                    }
                }
                Ok(Pull::Timeout) => {
                    let quiet_since = last_frame.unwrap_or(opened);
                    if quiet_since.elapsed() >= stall_after {
                        break Outcome::Lost {
                            error: CameraError::Stalled {
                                camera: self.config.id.to_string(),
                                waited_secs: quiet_since.elapsed().as_secs_f64(),
                            },
                            was_streaming: last_frame.is_some(),
                        };
                    }
                }
                // A network camera that ends its stream is a camera that went away.
                Ok(Pull::EndOfStream)
                    if matches!(source, Source::Rtsp { .. } | Source::V4l2 { .. }) =>
                {
                    break Outcome::Lost {
                        error: CameraError::Stream {
                            camera: self.config.id.to_string(),
                            element: "source".into(),
                            message: "the stream ended".into(),
                            debug: None,
                        },
                        was_streaming: last_frame.is_some(),
                    };
                }
                Ok(Pull::EndOfStream) => break Outcome::Ended,
                Err(error) => {
                    break Outcome::Lost {
                        error,
                        was_streaming: last_frame.is_some(),
                    };
                }
            }
            if window_start.elapsed() >= RATE_WINDOW {
                let decoded = stream.frames_decoded();
                let delivered = stream.frames_delivered();
                let seconds = window_start.elapsed().as_secs_f64();
                let mut status = lock(&self.shared.status);
                status.fps_in = (decoded - window_counts.0) as f64 / seconds;
                status.fps_out = (delivered - window_counts.1) as f64 / seconds;
                window_counts = (decoded, delivered);
                window_start = Instant::now();
            }
        };
        self.fold_counts(stream, counted);
        outcome
    }

    /// Adds what the stream counted since `before` to the camera's totals.
    fn fold_counts(&self, stream: &CameraStream, before: StreamCounts) -> StreamCounts {
        let now = StreamCounts {
            decoded: stream.frames_decoded(),
            dropped: stream.frames_dropped(),
            rebased: stream.timestamps_flagged(),
        };
        let mut status = lock(&self.shared.status);
        status.frames_decoded += now.decoded - before.decoded;
        status.dropped_at_camera += now.dropped - before.dropped;
        status.timestamps_rebased += now.rebased - before.rebased;
        now
    }

    /// Numbers, re-times and sends one frame; returns false when the camera was stopped meanwhile.
    fn deliver(&mut self, mut frame: Frame) -> bool {
        frame.seq = self.next_seq;
        if let Some(pts) = frame.pts {
            let (rebased, verdict) = self.rebaser.rebase(Some(pts));
            if verdict.is_flagged() {
                tracing::info!(camera = %self.config.id, ?pts, ?rebased, ?verdict, "timestamp re-based across a reconnect");
                lock(&self.shared.status).timestamps_rebased += 1;
            }
            frame.pts = Some(rebased);
        }
        let sent = match self.config.pacing {
            Pacing::Live => self.send_dropping_oldest(frame),
            Pacing::Offline => self.send_blocking(frame),
        };
        if sent {
            self.next_seq += 1;
            let mut status = lock(&self.shared.status);
            status.frames_delivered += 1;
            status.last_frame_at = Some(Instant::now());
        }
        sent
    }

    fn send_dropping_oldest(&self, mut frame: Frame) -> bool {
        loop {
            match self.output.try_send(frame) {
                Ok(()) => return true,
                Err(TrySendError::Full(back)) => {
                    if let Ok(stale) = self.evict.try_recv() {
                        self.count_output_drop(&stale.camera);
                    }
                    frame = back;
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }

    fn send_blocking(&self, mut frame: Frame) -> bool {
        loop {
            match self.output.send_timeout(frame, PULL_WAIT) {
                Ok(()) => return true,
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.stop_requested() {
                        return false;
                    }
                    frame = back;
                }
                Err(SendTimeoutError::Disconnected(_)) => return false,
            }
        }
    }

    fn count_output_drop(&self, camera: &CameraId) {
        let owner = lock(&self.registry).get(camera).cloned();
        if let Some(owner) = owner {
            lock(&owner.status).dropped_at_output += 1;
        }
    }
}
