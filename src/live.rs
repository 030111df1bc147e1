//! The live store: supervised cameras, the detector and the store logic on threads of their own, turning
//! camera streams into [`LiveUpdate`]s (sessions, events with evidence, closed carts, positions, camera
//! previews) for whoever publishes them (`walkout serve`: the database and the dashboard).
//!
//! Threads: the camera supervisor (one thread per camera, live pacing: a slow detector loses the oldest
//! frames, counted), the detection stage, and one store thread that owns [`StoreLogic`]. Check-ins reach
//! the store thread on a channel of their own and are stamped with the capture clock when they arrive, the
//! same clock the frames carry. Everything after detection is lossless: the updates channel blocks.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{Receiver, Sender, bounded, select};
use walkout_cameras::{CameraConfig, CameraHealth, CameraSupervisor};
use walkout_core::{BBox, CameraId, CaptureTime, Frame, ObjectKind};
use walkout_datasets::Scenario;
use walkout_models::{DetectedFrame, DetectionConfig, DetectionStage};
use walkout_pipeline::cart::ShelfEvent;
use walkout_pipeline::sessions::{CheckIn, Session};
use walkout_pipeline::shelf::WeightReading;
use walkout_pipeline::store::{
    FrameDetections, StoreInput, StoreLogic, StoreOutput, TrackedPerson,
};

/// How often each camera's preview (JPEG and boxes) is refreshed for the dashboard.
const PREVIEW_INTERVAL: Duration = Duration::from_millis(500);
/// Frames waiting between the cameras and the detector; a live camera evicts the oldest when it is full.
const FRAME_QUEUE: usize = 8;

/// A box on a camera preview, in the frame's pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewBox {
    pub bbox: BBox,
    pub label: String,
    /// The shopper's global id, for tracked people.
    pub track_id: Option<u64>,
}

/// What the live pipeline reports, in the order it happened.
#[derive(Debug, Clone)]
pub enum LiveUpdate {
    /// A check-in was bound to a shopper.
    SessionOpened {
        session_id: String,
        account: String,
        gate: String,
        at_ms: i64,
    },
    /// A pick-up or put-back; `session_id` is `None` when nobody could be held responsible.
    Event {
        session_id: Option<String>,
        /// The event's id, unique across runs (the pipeline's own ids start again at every start).
        event_id: String,
        event: ShelfEvent,
        /// The camera that saw it, and a JPEG crop around the slot at the moment it was confirmed.
        camera: Option<String>,
        evidence_jpeg: Option<Vec<u8>>,
        /// The session's cart after the event (SKU, quantity), for the app's live cart.
        cart: Vec<(String, u32)>,
    },
    /// The shopper left: the final cart, to be charged or reviewed.
    SessionClosed {
        session_id: String,
        session: Box<Session>,
    },
    /// Every shopper's floor position (metres).
    Shoppers {
        at_ms: i64,
        shoppers: Vec<(u64, Option<String>, [f64; 2])>,
    },
    /// A camera's latest picture and what was seen in it.
    Preview {
        camera: String,
        jpeg: Vec<u8>,
        width: u32,
        height: u32,
        pts_ms: i64,
        boxes: Vec<PreviewBox>,
    },
}

/// What the live pipeline needs.
#[derive(Debug, Clone)]
pub struct LiveSetup {
    /// The store and its calibrated cameras.
    pub scenario: Scenario,
    /// Where each camera of the scenario is read from, by camera id.
    pub sources: BTreeMap<String, String>,
    pub detection: DetectionConfig,
    /// Prefix of this run's session ids, so that ids never repeat across restarts.
    pub run_id: String,
}

/// The running pipeline.
pub struct LivePipeline {
    supervisor: Option<CameraSupervisor>,
    /// Check-ins and scale readings, which reach the store logic between frames.
    sensors: Option<Sender<StoreInput>>,
    threads: Vec<JoinHandle<()>>,
    stage: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LivePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePipeline")
            .field(
                "cameras",
                &self.supervisor.as_ref().map(CameraSupervisor::camera_ids),
            )
            .finish_non_exhaustive()
    }
}

impl LivePipeline {
    /// Starts every camera, the detector and the store logic. Updates go to `updates`, which must be
    /// drained: the store thread waits for room rather than lose a session or an event.
    pub fn start(setup: LiveSetup, updates: Sender<LiveUpdate>) -> anyhow::Result<LivePipeline> {
        let config = crate::wiring::store_config(&setup.scenario)?;
        let slot_regions: BTreeMap<(String, String), BBox> = config
            .cameras
            .iter()
            .flat_map(|c| {
                c.slots
                    .iter()
                    .map(|s| ((c.id.to_string(), s.slot.clone()), s.region))
            })
            .collect();
        let logic = StoreLogic::new(config).context("calibrating the store's cameras")?;
        let (supervisor, frames) = CameraSupervisor::with_capacity(FRAME_QUEUE);
        for camera in &setup.scenario.cameras {
            let url = setup
                .sources
                .get(&camera.id)
                .with_context(|| format!("camera `{}` has no source", camera.id))?;
            let mut config = CameraConfig::new(&camera.id, url.clone());
            config.output.width = Some(camera.resolution_px[0]);
            config.output.height = Some(camera.resolution_px[1]);
            supervisor
                .add(config)
                .with_context(|| format!("camera `{}`", camera.id))?;
        }
        let (detected_tx, detected_rx) = bounded::<DetectedFrame>(FRAME_QUEUE);
        let stage = DetectionStage::spawn(&setup.detection, frames, detected_tx)
            .context("starting the detector")?;
        let stage = thread::Builder::new()
            .name("detect-join".into())
            .spawn(move || {
                let stats = stage.join();
                if stats.failed_frames > 0 {
                    tracing::warn!(
                        frames = stats.failed_frames,
                        "detection failed on some frames"
                    );
                }
            })?;
        let (sensor_tx, sensor_rx) = bounded::<StoreInput>(256);
        let mut store = StoreThread {
            logic,
            run_id: setup.run_id,
            updates,
            gates: BTreeMap::new(),
            latest: BTreeMap::new(),
            slot_regions,
        };
        let store_thread = thread::Builder::new()
            .name("store".into())
            .spawn(move || store.run(detected_rx, sensor_rx))?;
        Ok(LivePipeline {
            supervisor: Some(supervisor),
            sensors: Some(sensor_tx),
            threads: vec![store_thread],
            stage: Some(stage),
        })
    }

    /// Where app check-ins go (the HTTP service's check-in hook); stamp them with the capture clock.
    pub fn check_in_sender(&self) -> Option<CheckInSender> {
        self.sensors.clone().map(CheckInSender)
    }

    /// Where the lane scales' readings go (the HTTP service's scale hook); stamp them with the capture
    /// clock.
    pub fn scale_sender(&self) -> Option<ScaleSender> {
        self.sensors.clone().map(ScaleSender)
    }

    /// Every camera's health.
    pub fn health(&self) -> Vec<CameraHealth> {
        self.supervisor
            .as_ref()
            .map(CameraSupervisor::health)
            .unwrap_or_default()
    }

    /// Stops the cameras, lets the detector and the store logic drain (sessions still open are flushed as
    /// the store logic's `flush` decides), and waits for every thread.
    pub fn stop(mut self) {
        // the supervisor holds the frames channel open: it must go for the detector to drain and end
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.shutdown();
        }
        self.sensors = None;
        if let Some(stage) = self.stage.take() {
            let _ = stage.join();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Sends app check-ins to the live store logic.
#[derive(Debug, Clone)]
pub struct CheckInSender(Sender<StoreInput>);

impl CheckInSender {
    /// Hands the check-in over without waiting; false when the pipeline's queue is full or closed.
    pub fn try_send(&self, check_in: CheckIn) -> bool {
        self.0.try_send(StoreInput::CheckIn(check_in)).is_ok()
    }

    /// Hands the check-in over, waiting for room; false when the pipeline stopped.
    #[cfg(test)]
    pub fn send(&self, check_in: CheckIn) -> bool {
        self.0.send(StoreInput::CheckIn(check_in)).is_ok()
    }
}

/// Sends lane scale readings to the live store logic.
#[derive(Debug, Clone)]
pub struct ScaleSender(Sender<StoreInput>);

impl ScaleSender {
    /// Hands the reading over without waiting; false when the pipeline's queue is full or closed.
    pub fn try_send(&self, reading: WeightReading) -> bool {
        self.0.try_send(StoreInput::Weight(reading)).is_ok()
    }
}

/// The latest frame of a camera and when its preview was last sent.
struct Latest {
    frame: Frame,
    people: Vec<PreviewBox>,
    hands: Vec<BBox>,
    previewed: Option<Instant>,
}

struct StoreThread {
    logic: StoreLogic,
    run_id: String,
    updates: Sender<LiveUpdate>,
    /// The gate of each account's latest check-in.
    gates: BTreeMap<String, String>,
    latest: BTreeMap<CameraId, Latest>,
    slot_regions: BTreeMap<(String, String), BBox>,
}

fn millis(time: CaptureTime) -> i64 {
    i64::try_from(time.unix_millis()).unwrap_or(i64::MAX)
}

impl StoreThread {
    fn run(&mut self, detected: Receiver<DetectedFrame>, sensors: Receiver<StoreInput>) {
        let mut check_ins = Some(sensors);
        loop {
            let input = match &check_ins {
                Some(rx) => select! {
                    recv(detected) -> frame => match frame {
                        Ok(frame) => self.frame_input(frame),
                        Err(_) => break,
                    },
                    recv(rx) -> check_in => match check_in {
                        Ok(StoreInput::CheckIn(check_in)) => {
                            self.gates.insert(check_in.account.clone(), check_in.gate.clone());
                            StoreInput::CheckIn(check_in)
                        }
                        Ok(other) => other,
                        Err(_) => {
                            check_ins = None;
                            continue;
                        }
                    },
                },
                None => match detected.recv() {
                    Ok(frame) => self.frame_input(frame),
                    Err(_) => break,
                },
            };
            let mut outputs = Vec::new();
            self.logic.handle(input, &mut |o| outputs.push(o));
            if !self.publish(outputs) {
                return;
            }
        }
        let mut outputs = Vec::new();
        self.logic.flush(&mut |o| outputs.push(o));
        self.publish(outputs);
    }

    fn frame_input(&mut self, detected: DetectedFrame) -> StoreInput {
        let frame = detected.frame;
        let hands = detected
            .detections
            .iter()
            .filter(|d| d.kind == ObjectKind::Hand)
            .map(|d| d.bbox)
            .collect();
        let input = StoreInput::Frame(FrameDetections {
            camera: frame.camera.clone(),
            seq: frame.seq,
            time: frame.captured_at,
            detections: detected.detections,
        });
        let previewed = self.latest.get(&frame.camera).and_then(|l| l.previewed);
        self.latest.insert(
            frame.camera.clone(),
            Latest {
                frame,
                people: Vec::new(),
                hands,
                previewed,
            },
        );
        input
    }

    fn session_id(&self, session: u64) -> String {
        format!("{}-{session}", self.run_id)
    }

    /// Sends the outputs on; false when nobody listens any more.
    fn publish(&mut self, outputs: Vec<StoreOutput>) -> bool {
        for output in outputs {
            let update = match output {
                StoreOutput::SessionOpened { session, account } => {
                    let gate = self.gates.get(&account).cloned().unwrap_or_default();
                    let at_ms = self
                        .logic
                        .sessions()
                        .get(session)
                        .map_or(0, |s| millis(s.opened_at));
                    LiveUpdate::SessionOpened {
                        session_id: self.session_id(session),
                        account,
                        gate,
                        at_ms,
                    }
                }
                StoreOutput::Event { event, session } => {
                    let camera = event.evidence.first().map(|e| e.camera.to_string());
                    let evidence_jpeg = camera
                        .as_deref()
                        .and_then(|c| self.evidence(c, &event.slot));
                    let cart = session
                        .and_then(|id| self.logic.sessions().get(id))
                        .map(|s| {
                            s.cart()
                                .lines
                                .iter()
                                .map(|(sku, line)| (sku.clone(), line.quantity))
                                .collect()
                        })
                        .unwrap_or_default();
                    LiveUpdate::Event {
                        session_id: session.map(|s| self.session_id(s)),
                        event_id: format!("{}-e{}", self.run_id, event.id),
                        event,
                        camera,
                        evidence_jpeg,
                        cart,
                    }
                }
                StoreOutput::SessionClosed(session) => LiveUpdate::SessionClosed {
                    session_id: self.session_id(session.id),
                    session,
                },
                StoreOutput::Positions { time, shoppers } => LiveUpdate::Shoppers {
                    at_ms: millis(time),
                    shoppers: shoppers
                        .into_iter()
                        .map(|s| {
                            (
                                s.shopper,
                                s.session.map(|id| self.session_id(id)),
                                s.position_m,
                            )
                        })
                        .collect(),
                },
                StoreOutput::CameraTracks { camera, tracks, .. } => {
                    match self.preview(&camera, &tracks) {
                        Some(update) => update,
                        None => continue,
                    }
                }
            };
            if self.updates.send(update).is_err() {
                return false;
            }
        }
        true
    }

    /// The camera's preview, when it is due.
    fn preview(&mut self, camera: &CameraId, tracks: &[TrackedPerson]) -> Option<LiveUpdate> {
        let latest = self.latest.get_mut(camera)?;
        latest.people = tracks
            .iter()
            .map(|person| PreviewBox {
                bbox: person.bbox,
                label: match person.shopper {
                    Some(id) => format!("shopper {id}"),
                    None => "person".to_string(),
                },
                track_id: person.shopper,
            })
            .collect();
        if latest
            .previewed
            .is_some_and(|at| at.elapsed() < PREVIEW_INTERVAL)
        {
            return None;
        }
        latest.previewed = Some(Instant::now());
        let frame = &latest.frame;
        let jpeg = match encode_jpeg(frame.rgb(), frame.width(), frame.height(), 70) {
            Ok(jpeg) => jpeg,
            Err(e) => {
                tracing::warn!(camera = %camera, "preview: {e}");
                return None;
            }
        };
        let mut boxes = latest.people.clone();
        boxes.extend(latest.hands.iter().map(|b| PreviewBox {
            bbox: *b,
            label: "hand".into(),
            track_id: None,
        }));
        Some(LiveUpdate::Preview {
            camera: camera.to_string(),
            jpeg,
            width: frame.width(),
            height: frame.height(),
            pts_ms: frame
                .pts
                .map_or(0, |p| i64::try_from(p.as_millis()).unwrap_or(i64::MAX)),
            boxes,
        })
    }

    /// A JPEG crop of the camera's latest frame around the slot (twice the slot's size each way).
    fn evidence(&self, camera: &str, slot: &str) -> Option<Vec<u8>> {
        let latest = self.latest.get(&CameraId::new(camera))?;
        let region = self
            .slot_regions
            .get(&(camera.to_string(), slot.to_string()))?;
        let frame = &latest.frame;
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let grow_x = region.width().max(24.0);
        let grow_y = region.height().max(24.0);
        let x0 = (region.x1 - grow_x).clamp(0.0, w - 1.0) as u32;
        let y0 = (region.y1 - grow_y).clamp(0.0, h - 1.0) as u32;
        let x1 = (region.x2 + grow_x).clamp(x0 as f32 + 1.0, w) as u32;
        let y1 = (region.y2 + grow_y).clamp(y0 as f32 + 1.0, h) as u32;
        let stride = frame.width() as usize * 3;
        let mut crop = Vec::with_capacity(((x1 - x0) * (y1 - y0) * 3) as usize);
        for y in y0..y1 {
            let row = y as usize * stride;
            crop.extend_from_slice(
                frame
                    .rgb()
                    .get(row + x0 as usize * 3..row + x1 as usize * 3)?,
            );
        }
        encode_jpeg(&crop, x1 - x0, y1 - y0, 80).ok()
    }
}

/// Encodes packed RGB as a JPEG.
pub fn encode_jpeg(rgb: &[u8], width: u32, height: u32, quality: u8) -> anyhow::Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    image::ImageEncoder::write_image(encoder, rgb, width, height, image::ExtendedColorType::Rgb8)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkout_cameras::{RtspMedia, RtspServer};
    use walkout_datasets::GroundTruth;

    /// The tiny scene served over RTSP as it is, check-ins at their times: every check-in opens a session
    /// on the shopper at the gate, sessions close at most once, every camera sends previews, and stopping
    /// drains every thread.
    #[test]
    #[allow(clippy::unwrap_used)]
    fn a_rendered_scene_over_rtsp_opens_and_closes_every_session() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = walkout_render::with_resolution(
            &walkout_datasets::preset("tiny", 3).unwrap(),
            [640, 480],
        );
        walkout_render::render_dataset(&scenario, dir.path(), &Default::default()).unwrap();
        let truth = GroundTruth::read_from_dir(dir.path()).unwrap();
        let mounts = scenario
            .cameras
            .iter()
            .map(|c| {
                let video = dir.path().join("videos").join(format!("{}.mp4", c.id));
                (
                    c.id.clone(),
                    RtspMedia::Launch(format!(
                        "filesrc location=\"{}\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1",
                        video.display()
                    )),
                )
            })
            .collect();
        let mut server = RtspServer::start(0, mounts).unwrap();
        let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/walkout_store/walkout_store.toml");
        let (tx, rx) = bounded(1024);
        let pipeline = LivePipeline::start(
            LiveSetup {
                sources: scenario
                    .cameras
                    .iter()
                    .map(|c| (c.id.clone(), server.url(&c.id)))
                    .collect(),
                scenario: scenario.clone(),
                detection: DetectionConfig {
                    manifest,
                    runtime: walkout_models::RuntimeConfig::default(),
                    scheduling: walkout_models::Scheduling::Auto,
                },
                run_id: "t".into(),
            },
            tx,
        )
        .unwrap();
        let mut updates = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !pipeline.health().iter().any(|h| h.frames_delivered > 0) {
            assert!(Instant::now() < deadline, "no frames");
            updates.extend(rx.try_iter());
            thread::sleep(Duration::from_millis(10));
        }
        let started = Instant::now();
        let mut check_ins: Vec<_> = truth.check_ins.iter().collect();
        check_ins.sort_by(|a, b| a.time_secs.total_cmp(&b.time_secs));
        for c in check_ins {
            let at = started + Duration::from_secs_f64(c.time_secs);
            while Instant::now() < at {
                updates.extend(rx.try_iter());
                thread::sleep(Duration::from_millis(10));
            }
            pipeline
                .check_in_sender()
                .unwrap()
                .send(CheckIn {
                    account: c.account.clone(),
                    gate: c.gate.clone(),
                    time: walkout_core::CaptureClock::global().now(),
                })
                .then_some(())
                .unwrap();
        }
        let end = started + Duration::from_secs_f64(scenario.duration_secs + 2.0);
        while Instant::now() < end {
            updates.extend(rx.try_iter());
            thread::sleep(Duration::from_millis(10));
        }
        let health = pipeline.health();
        // a shutdown that hangs fails here, not at CI's timeout
        let (stopped_tx, stopped_rx) = bounded::<()>(1);
        thread::spawn(move || {
            pipeline.stop();
            let _ = stopped_tx.send(());
        });
        stopped_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the live pipeline did not stop within 60 s");
        updates.extend(rx.try_iter());
        server.stop();
        let opened: Vec<&str> = updates
            .iter()
            .filter_map(|u| match u {
                LiveUpdate::SessionOpened { account, .. } => Some(account.as_str()),
                _ => None,
            })
            .collect();
        let closed: Vec<&Session> = updates
            .iter()
            .filter_map(|u| match u {
                LiveUpdate::SessionClosed { session, .. } => Some(session.as_ref()),
                _ => None,
            })
            .collect();
        let previews = updates
            .iter()
            .filter(|u| matches!(u, LiveUpdate::Preview { .. }))
            .count();
        assert_eq!(
            opened.len(),
            truth.sessions.len(),
            "opened {opened:?}; cameras {health:#?}"
        );
        // whether every session also closes at the exit depends on the detector seeing the shoppers
        // out; the ones that close are the scene's, once each
        let mut accounts: Vec<&str> = closed.iter().map(|s| s.account.as_str()).collect();
        accounts.sort_unstable();
        let before = accounts.len();
        accounts.dedup();
        assert_eq!(accounts.len(), before, "a session closed twice");
        assert!(
            accounts
                .iter()
                .all(|a| truth.sessions.iter().any(|s| s.account == *a)),
            "{accounts:?}"
        );
        assert!(
            previews >= 2 * scenario.cameras.len(),
            "{previews} previews"
        );
    }
}
