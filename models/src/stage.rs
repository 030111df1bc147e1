use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, bounded};
use serde::{Deserialize, Serialize};
use walkout_core::{CameraId, Detection, Frame};

use crate::{Detector, Manifest, ModelError, RuntimeConfig, StageTimings};

/// How frames from several cameras share the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum Scheduling {
    /// Batch when the model has a dynamic batch dimension, otherwise one single-threaded session per core
    /// taking frames in turn ([`Scheduling::Interleave`]).
    #[default]
    Auto,
    /// One session; frames waiting from several cameras go into one `Session::run`.
    Batch {
        /// Most frames in one call.
        max_batch: usize,
    },
    /// Several sessions on their own threads; a camera always goes to the same session, so its frames
    /// stay in order.
    Pool {
        /// Number of sessions (and threads).
        sessions: usize,
    },
    /// Several sessions on their own threads, taking frames in turn whatever their camera; the results
    /// come out in the order the frames came in. One camera uses every session, and on a few cores
    /// single-threaded sessions side by side waste less than one session whose threads wait for each other
    /// inside every operator.
    Interleave {
        /// Number of sessions (and threads).
        sessions: usize,
    },
}

/// The detection stage's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectionConfig {
    /// The model manifest.
    pub manifest: PathBuf,
    /// How ONNX Runtime is loaded and runs.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Batching or a session pool.
    #[serde(default)]
    pub scheduling: Scheduling,
}

/// A frame with what the detector found in it.
#[derive(Debug, Clone)]
pub struct DetectedFrame {
    pub frame: Frame,
    pub detections: Vec<Detection>,
    /// Set when inference failed on this frame: it is passed on (nothing downstream waits forever for
    /// it), with no detections and the reason, and counted.
    pub error: Option<String>,
}

/// What the stage did, returned when it has drained.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageStats {
    pub timings: StageTimings,
    pub calls: u64,
    pub failed_frames: u64,
}

/// The running detection stage: frames in from a bounded channel, detected frames out to another.
///
/// Back-pressure: both edges block (lossless). Live cameras shed load before this stage, at their own
/// drop-oldest queues. Shutdown: close the input; the stage drains what it holds, then closes its output.
#[derive(Debug)]
pub struct DetectionStage {
    workers: Vec<JoinHandle<StageStats>>,
    router: Option<JoinHandle<()>>,
    /// Interleave only: puts the workers' results back in input order.
    merger: Option<JoinHandle<()>>,
    scheduling: Scheduling,
}

impl DetectionStage {
    pub fn spawn(
        config: &DetectionConfig,
        input: Receiver<Frame>,
        output: Sender<DetectedFrame>,
    ) -> Result<Self, ModelError> {
        Self::spawn_with_source_sizes(config, HashMap::new(), input, output)
    }

    /// Like [`DetectionStage::spawn`], for cameras whose frames the camera layer scales to the model's
    /// letterbox size ([`Detector::frame_size_for`]): `source_sizes` gives each such camera's own picture
    /// size, and its boxes come back in those pixels.
    pub fn spawn_with_source_sizes(
        config: &DetectionConfig,
        source_sizes: HashMap<CameraId, (u32, u32)>,
        input: Receiver<Frame>,
        output: Sender<DetectedFrame>,
    ) -> Result<Self, ModelError> {
        let sources = Arc::new(source_sizes);
        let manifest = Manifest::load(&config.manifest)?;
        let mut first = Detector::from_manifest(manifest.clone(), &config.runtime, 1)?;
        let dynamic_batch = !first.has_fixed_batch();
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        let scheduling = match config.scheduling {
            Scheduling::Auto if dynamic_batch => Scheduling::Batch { max_batch: 8 },
            Scheduling::Auto => Scheduling::Interleave {
                sessions: cores.clamp(1, 4),
            },
            Scheduling::Batch { max_batch } => Scheduling::Batch {
                max_batch: max_batch.max(1),
            },
            Scheduling::Pool { sessions } => Scheduling::Pool {
                sessions: sessions.max(1),
            },
            Scheduling::Interleave { sessions } => Scheduling::Interleave {
                sessions: sessions.max(1),
            },
        };
        if let Scheduling::Batch { max_batch } = scheduling {
            first.set_max_batch(max_batch);
            let max_batch = first.batch_capacity();
            let worker = spawn_worker("detect-batch", first, input, output, max_batch, sources)?;
            return Ok(Self {
                workers: vec![worker],
                router: None,
                merger: None,
                scheduling,
            });
        }
        let (sessions, interleave) = match scheduling {
            Scheduling::Pool { sessions } => (sessions, false),
            Scheduling::Interleave { sessions } => (sessions, true),
            _ => (1, false),
        };
        let mut runtime = config.runtime.clone();
        if runtime.intra_threads == 0 && sessions > 1 {
            // Sessions share the cores instead of each starting one thread per core.
            runtime.intra_threads = (cores / sessions).max(1);
        }
        let mut first = Some(first).filter(|_| runtime == config.runtime);
        let mut lanes = Vec::with_capacity(sessions);
        let mut results = Vec::with_capacity(sessions);
        let mut workers = Vec::with_capacity(sessions);
        for index in 0..sessions {
            let detector = match first.take() {
                Some(detector) => detector,
                None => Detector::from_manifest(manifest.clone(), &runtime, 1)?,
            };
            let (lane_tx, lane_rx) = bounded::<Frame>(2);
            lanes.push(lane_tx);
            let worker_output = if interleave {
                let (result_tx, result_rx) = bounded::<DetectedFrame>(2);
                results.push(result_rx);
                result_tx
            } else {
                output.clone()
            };
            workers.push(spawn_worker(
                &format!("detect-{index}"),
                detector,
                lane_rx,
                worker_output,
                1,
                Arc::clone(&sources),
            )?);
        }
        let merger = if interleave {
            Some(
                thread::Builder::new()
                    .name("detect-merge".into())
                    .spawn(move || merge_in_turn(results, output))
                    .map_err(|e| spawn_error(&e))?,
            )
        } else {
            drop(output);
            None
        };
        let router = thread::Builder::new()
            .name("detect-router".into())
            .spawn(move || {
                if interleave {
                    route_in_turn(input, lanes);
                } else {
                    route_by_camera(input, lanes);
                }
            })
            .map_err(|e| spawn_error(&e))?;
        Ok(Self {
            workers,
            router: Some(router),
            merger,
            scheduling,
        })
    }

    /// The scheduling actually used (`Auto` resolved).
    pub fn scheduling(&self) -> Scheduling {
        self.scheduling
    }

    /// Waits for the stage to drain after its input closed.
    pub fn join(self) -> StageStats {
        if let Some(router) = self.router {
            let _ = router.join();
        }
        if let Some(merger) = self.merger {
            let _ = merger.join();
        }
        let mut total = StageStats::default();
        for worker in self.workers {
            if let Ok(stats) = worker.join() {
                total.timings.add(&stats.timings);
                total.calls += stats.calls;
                total.failed_frames += stats.failed_frames;
            }
        }
        total
    }
}

fn spawn_error(err: &std::io::Error) -> ModelError {
    ModelError::Inference {
        model: String::new(),
        message: format!("cannot start a detection thread: {err}"),
    }
}

fn route_by_camera(input: Receiver<Frame>, lanes: Vec<Sender<Frame>>) {
    for frame in input {
        let mut hasher = DefaultHasher::new();
        frame.camera.hash(&mut hasher);
        let lane = (hasher.finish() % lanes.len() as u64) as usize;
        if lanes[lane].send(frame).is_err() {
            break;
        }
    }
}

/// Frame `k` goes to lane `k % lanes`.
fn route_in_turn(input: Receiver<Frame>, lanes: Vec<Sender<Frame>>) {
    for (lane, frame) in (0..lanes.len()).cycle().zip(input) {
        if lanes[lane].send(frame).is_err() {
            break;
        }
    }
}

/// Takes result `k` from worker `k % workers`, which restores the input order: the router dealt the frames
/// in the same turn. It cannot wedge: the result it waits for belongs to the oldest frame in flight, which
/// the router has already handed to that worker, and every earlier result of that worker is taken.
fn merge_in_turn(results: Vec<Receiver<DetectedFrame>>, output: Sender<DetectedFrame>) {
    for worker in (0..results.len()).cycle() {
        // A closed channel: that worker got no further frame, so the input has ended.
        let Ok(detected) = results[worker].recv() else {
            break;
        };
        if output.send(detected).is_err() {
            break;
        }
    }
}

fn spawn_worker(
    name: &str,
    mut detector: Detector,
    input: Receiver<Frame>,
    output: Sender<DetectedFrame>,
    max_batch: usize,
    sources: Arc<HashMap<CameraId, (u32, u32)>>,
) -> Result<JoinHandle<StageStats>, ModelError> {
    thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let mut stats = StageStats::default();
            let mut batch: Vec<Frame> = Vec::with_capacity(max_batch);
            while let Ok(first) = input.recv() {
                batch.push(first);
                while batch.len() < max_batch {
                    match input.try_recv() {
                        Ok(frame) => batch.push(frame),
                        Err(_) => break,
                    }
                }
                let refs: Vec<&Frame> = batch.iter().collect();
                let result =
                    detector.detect_batch_scaled(&refs, |f| sources.get(&f.camera).copied());
                stats.calls += 1;
                let outcome: Vec<(Vec<Detection>, Option<String>)> = match result {
                    Ok(per_frame) => {
                        stats.timings.add(&detector.last_timings());
                        per_frame.into_iter().map(|d| (d, None)).collect()
                    }
                    Err(err) => {
                        stats.failed_frames += batch.len() as u64;
                        tracing::error!(model = %detector.manifest().name, frames = batch.len(), error = %err, "detection failed");
                        batch.iter().map(|_| (Vec::new(), Some(err.to_string()))).collect()
                    }
                };
                for (frame, (mut detections, error)) in batch.drain(..).zip(outcome) {
                    let source = sources
                        .get(&frame.camera)
                        .copied()
                        .unwrap_or((frame.width(), frame.height()));
                    walkout_core::describe_people(&frame, source, &mut detections);
                    if output.send(DetectedFrame { frame, detections, error }).is_err() {
                        return stats;
                    }
                }
            }
            stats
        })
        .map_err(|e| spawn_error(&e))
}
