//! The renderer of the synthetic store: draws every camera's view of a scenario frame by frame from one
//! shared 3-D world, encodes one video per camera, and fills in the per-camera ground-truth boxes.
//!
//! In: a validated [`Scenario`] (store, cameras, shoppers, noise, seed). Out: a dataset directory
//! ([`render_dataset`]) holding `videos/<camera>.mp4` (H.264 through `walkout-cameras`), `calibration/<camera>.json`,
//! `scenario.toml`, and the ground truth (`ground_truth.json`, `mot/<camera>/gt.txt`) with shopper, hand and
//! product boxes; or labelled frames for detector training ([`export_training`], YOLO format).
//! Threads: cameras are independent, so one worker thread per core takes whole cameras in turn; each camera
//! is drawn in frame order by one thread, which makes the output independent of the thread count. Each
//! camera's frames go into its encoder's bounded queue (the push blocks while the encoder is behind).
//! State: per camera, a background picture with depth and object ids (floor, walls, shelves and the units
//! on them), redrawn only when a slot's contents change, and a working picture restored from it where the
//! previous frame drew shoppers; per frame, only the boxes returned and the shoppers' states (a slot id
//! per reaching arm) allocate. Noise is seeded
//! from the scenario's seed, the camera and the frame number.

mod camera;
mod export;
mod raster;
mod scene;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use walkout_cameras::{CameraError, VideoCodec, VideoFormat, VideoWriter, WriterSettings};
use walkout_datasets::scenario::{Camera, Scenario, ValidationError};
use walkout_datasets::truth::{GroundTruth, SCENARIO_FILE, TruthError};

pub use camera::{FrameBoxes, ShelfProducts};
pub use export::{
    CLASSES, ExportOptions, ExportReport, export_training, export_training_with, write_png,
};

use camera::CameraRenderer;
use scene::Scene;

/// Where each slot's units stand on its shelf, world metres, in the order the slot fills them: a slot
/// holding `n` units has them at its first `n` places, as the renderer draws them. For `walkout eval
/// --oracle`, a product detector that finds every unit where it stands.
pub fn shelf_places_m(
    scenario: &Scenario,
) -> Result<std::collections::BTreeMap<String, Vec<[f32; 3]>>, RenderError> {
    let timeline = scenario.timeline().map_err(RenderError::Invalid)?;
    Ok(Scene::new(scenario, timeline).shelf_places_m())
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The scenario does not validate, or its ground truth could not be written.
    #[error("ground truth: {0}")]
    Truth(#[from] TruthError),
    /// The scenario does not validate.
    #[error("{}", walkout_datasets::ScenarioError::Invalid(.0.clone()))]
    Invalid(Vec<ValidationError>),
    /// A camera's video could not be written.
    #[error("camera {camera:?}: {source}")]
    Video {
        /// The camera.
        camera: String,
        /// What the writer reported.
        source: CameraError,
    },
    /// The video writer takes whole frames per second.
    #[error("camera {camera:?}: {fps} fps is not a whole number, which the video writer needs")]
    FractionalFps {
        /// The camera.
        camera: String,
        /// Its frame rate.
        fps: f64,
    },
    /// No camera has this id.
    #[error("no camera {0:?} in the scenario")]
    UnknownCamera(String),
    /// The frame number is outside the recording.
    #[error("camera {camera:?} has frames 1 to {frame_count}, not {frame}")]
    FrameOutOfRange {
        /// The camera.
        camera: String,
        /// The frame asked for.
        frame: u32,
        /// Frames in the recording.
        frame_count: u32,
    },
    /// A file could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// An image could not be encoded or written.
    #[error("{}: {message}", path.display())]
    Image {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A rendering thread panicked (a bug).
    #[error("a rendering thread panicked")]
    Panicked,
}

/// Whether a progress bar is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// On stderr when stderr is a terminal.
    #[default]
    Auto,
    /// Never drawn (tests, scripts).
    Hidden,
}

/// How [`render_dataset`] renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderOptions {
    /// Worker threads; 0 for one per core. Never changes the output.
    #[serde(default)]
    pub threads: usize,
    /// Progress bar on stderr.
    #[serde(default)]
    pub progress: Progress,
    /// Which shelf units get ground-truth boxes.
    #[serde(default)]
    pub shelf_products: ShelfProducts,
    /// Codec and container of the videos (`videos/<camera>.mp4` holds H.264 in MP4 by default). Dropped
    /// frames need a container that keeps timestamp gaps (MP4 or Matroska, not AVI), and
    /// `noise.bitrate_kbps` applies to H.264 only (MJPEG has no bitrate target and ignores it).
    #[serde(default = "default_video_format")]
    pub video_format: VideoFormat,
}

fn default_video_format() -> VideoFormat {
    VideoFormat::H264_MP4
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            progress: Progress::Auto,
            shelf_products: ShelfProducts::default(),
            video_format: default_video_format(),
        }
    }
}

/// What one camera's rendering produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraReport {
    /// The camera.
    pub camera: String,
    /// Its video.
    pub video: PathBuf,
    /// Frames in the video: the recording's frames less the dropped ones.
    pub frames_written: u64,
    /// Frames drawn (neither dropped nor dark).
    pub frames_drawn: u64,
    /// Frames the noise dropped: missing from the video, a gap in its timestamps.
    pub frames_dropped: u64,
    /// Black frames of an outage.
    pub frames_dark: u64,
}

/// What [`render_dataset`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderReport {
    /// Per camera, in scenario order.
    pub cameras: Vec<CameraReport>,
    /// Wall-clock time of the rendering and encoding, seconds.
    pub elapsed_secs: f64,
    /// Frames of all cameras per second of wall-clock time.
    pub frames_per_sec: f64,
}

/// A camera's calibration as written to `calibration/<camera>.json`: OpenCV pinhole, no distortion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationFile {
    /// The camera.
    pub camera: String,
    /// Image size `[width, height]`, pixels.
    pub resolution_px: [u32; 2],
    /// Frames per second.
    pub fps: f64,
    /// `[fx, fy, cx, cy]`, pixels (pixel centres at integer coordinates).
    pub intrinsics_px: [f64; 4],
    /// Optical centre, world metres.
    pub position_m: [f64; 3],
    /// The point the optical axis passes through, world metres.
    pub look_at_m: [f64; 3],
    /// Rotation of `world_from_camera`, row-major (columns: camera x right, y down, z forward in world).
    pub world_from_camera_rotation: [[f64; 3]; 3],
    /// Translation of `world_from_camera`, metres (the optical centre).
    pub world_from_camera_translation_m: [f64; 3],
}

impl CalibrationFile {
    /// The calibration of a scenario camera.
    pub fn of(camera: &Camera) -> Self {
        let pose = camera.world_from_camera();
        let r = pose.rotation.to_rotation_matrix();
        let m = r.matrix();
        let k = &camera.intrinsics;
        Self {
            camera: camera.id.clone(),
            resolution_px: camera.resolution_px,
            fps: camera.fps,
            intrinsics_px: [k.fx_px, k.fy_px, k.cx_px, k.cy_px],
            position_m: camera.position_m,
            look_at_m: camera.look_at_m,
            world_from_camera_rotation: [0, 1, 2].map(|i| [m[(i, 0)], m[(i, 1)], m[(i, 2)]]),
            world_from_camera_translation_m: [
                pose.translation.x,
                pose.translation.y,
                pose.translation.z,
            ],
        }
    }
}

/// The same scenario with every camera at another resolution: the picture is scaled uniformly (square
/// pixels stay square) to cover the new size and centred, so a change of aspect crops the sides or the
/// top and bottom.
pub fn with_resolution(scenario: &Scenario, resolution_px: [u32; 2]) -> Scenario {
    let mut scenario = scenario.clone();
    for camera in &mut scenario.cameras {
        let [w0, h0] = camera.resolution_px.map(f64::from);
        let [w1, h1] = resolution_px.map(f64::from);
        let scale = (w1 / w0).max(h1 / h0);
        let k = &mut camera.intrinsics;
        k.fx_px *= scale;
        k.fy_px *= scale;
        k.cx_px = (k.cx_px + 0.5) * scale - 0.5 - (w0 * scale - w1) / 2.0;
        k.cy_px = (k.cy_px + 0.5) * scale - 0.5 - (h0 * scale - h1) / 2.0;
        camera.resolution_px = resolution_px;
    }
    scenario
}

/// One rendered frame of one camera, with its boxes (for tests and tools).
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedFrame {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Packed RGB8 as the video gets it (lighting and sensor noise applied; black when dark).
    pub rgb: Vec<u8>,
    /// The boxes of this frame (every visible shelf unit included).
    pub boxes: FrameBoxes,
    /// Per shopper in scenario order: the bounding box `[x1, y1, x2, y2]` of the pixels that show the
    /// shopper's body or hands in the id buffer.
    pub visible_shopper_px: Vec<Option<[f32; 4]>>,
    /// The noise drops this frame from the video.
    pub dropped: bool,
    /// The camera is out: the picture is black.
    pub dark: bool,
}

/// Renders one frame (1-based) of one camera on its own, as it appears in the video.
pub fn render_frame(
    scenario: &Scenario,
    camera_id: &str,
    frame: u32,
) -> Result<RenderedFrame, RenderError> {
    Renderer::new(scenario)?.camera(camera_id)?.render(frame)
}

/// A scenario laid out for rendering: the world, the item timeline and the ground truth's noise (dropped
/// and dark frames). Cameras are drawn through [`Renderer::camera`].
#[derive(Debug)]
pub struct Renderer<'s> {
    scenario: &'s Scenario,
    scene: Scene,
    truth: GroundTruth,
}

impl<'s> Renderer<'s> {
    /// Validates the scenario and lays it out.
    pub fn new(scenario: &'s Scenario) -> Result<Self, RenderError> {
        let truth = GroundTruth::from_scenario(scenario)?;
        let timeline = scenario.timeline().map_err(RenderError::Invalid)?;
        Ok(Self {
            scenario,
            scene: Scene::new(scenario, timeline),
            truth,
        })
    }

    /// One camera's frames.
    pub fn camera(&self, camera_id: &str) -> Result<CameraFrames<'_>, RenderError> {
        let unknown = || RenderError::UnknownCamera(camera_id.to_string());
        let (index, camera) = self
            .scenario
            .cameras
            .iter()
            .enumerate()
            .find(|(_, c)| c.id == camera_id)
            .ok_or_else(unknown)?;
        let truth = self.truth.cameras.get(camera_id).ok_or_else(unknown)?;
        Ok(CameraFrames {
            renderer: CameraRenderer::new(&self.scene, self.scenario, index, camera),
            camera_id: camera_id.to_string(),
            shoppers: self.scenario.shoppers.len(),
            frame_count: truth.frame_count,
            dropped: &truth.dropped_frames,
            dark: &truth.dark_frames,
        })
    }
}

/// One camera of a [`Renderer`]; frames may be drawn in any order, fastest in increasing order.
pub struct CameraFrames<'r> {
    renderer: CameraRenderer<'r>,
    camera_id: String,
    shoppers: usize,
    frame_count: u32,
    dropped: &'r [u32],
    dark: &'r [u32],
}

impl std::fmt::Debug for CameraFrames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraFrames")
            .field("camera_id", &self.camera_id)
            .field("frame_count", &self.frame_count)
            .finish_non_exhaustive()
    }
}

impl CameraFrames<'_> {
    /// Frames in the recording.
    pub fn frame_count(&self) -> u32 {
        self.frame_count
    }

    /// Draws a frame and returns its picture as the video gets it (borrowed until the next call), with
    /// its boxes appended to `boxes` (shelf units as `shelf_products` says). Dropped frames are drawn
    /// like any other; dark ones are black and get no boxes.
    pub fn draw_into(
        &mut self,
        frame: u32,
        shelf_products: ShelfProducts,
        boxes: &mut FrameBoxes,
    ) -> Result<&[u8], RenderError> {
        if frame == 0 || frame > self.frame_count {
            return Err(RenderError::FrameOutOfRange {
                camera: self.camera_id.clone(),
                frame,
                frame_count: self.frame_count,
            });
        }
        let dark = self.dark.binary_search(&frame).is_ok();
        if !dark {
            self.renderer.draw(frame);
            self.renderer.boxes(frame, shelf_products, boxes);
        }
        self.renderer.finish_picture(frame, dark);
        Ok(&self.renderer.out)
    }

    /// Draws a frame with every visible shelf unit boxed, and copies it out.
    pub fn render(&mut self, frame: u32) -> Result<RenderedFrame, RenderError> {
        let mut boxes = FrameBoxes::default();
        let rgb = self
            .draw_into(frame, ShelfProducts::All, &mut boxes)?
            .to_vec();
        let dark = self.dark.binary_search(&frame).is_ok();
        Ok(RenderedFrame {
            width: self.renderer.width() as u32,
            height: self.renderer.height() as u32,
            rgb,
            boxes,
            visible_shopper_px: (0..self.shoppers)
                .map(|s| {
                    if dark {
                        None
                    } else {
                        self.renderer.visible_shopper_bbox(s)
                    }
                })
                .collect(),
            dropped: self.dropped.binary_search(&frame).is_ok(),
            dark,
        })
    }
}

/// Renders a whole scenario into `out_dir`: `videos/<camera>.mp4`, `calibration/<camera>.json`,
/// `scenario.toml`, `ground_truth.json` and `mot/<camera>/gt.txt`.
///
/// Noise: lighting scales brightness; sensor noise is seeded Gaussian; an outage gives black frames
/// (`dark_frames`); `noise.bitrate_kbps` is the H.264 encoder's target bitrate. Frame `k` (from 1) is at
/// `(k - 1) / fps` seconds in the video; a dropped frame is left out, a gap in the timestamps (the ground
/// truth never drops a recording's first frame, since an MP4 file starts at its first frame), so every
/// frame that is there keeps its time and its number (`round(pts * fps) + 1`). Boxes are left out on dark
/// and dropped frames: the truth lists boxes only for frames that are in the video with something to see.
pub fn render_dataset(
    scenario: &Scenario,
    out_dir: &Path,
    options: &RenderOptions,
) -> Result<RenderReport, RenderError> {
    let started = Instant::now();
    let mut truth = GroundTruth::from_scenario(scenario)?;
    let timeline = scenario.timeline().map_err(RenderError::Invalid)?;
    for camera in &scenario.cameras {
        if (camera.fps - camera.fps.round()).abs() > 1e-9 || camera.fps < 1.0 {
            return Err(RenderError::FractionalFps {
                camera: camera.id.clone(),
                fps: camera.fps,
            });
        }
    }
    let scene = Scene::new(scenario, timeline);
    let videos = out_dir.join("videos");
    create_dir(&videos)?;
    let calibration = out_dir.join("calibration");
    create_dir(&calibration)?;
    for camera in &scenario.cameras {
        let path = calibration.join(format!("{}.json", camera.id));
        let json = serde_json::to_string_pretty(&CalibrationFile::of(camera)).map_err(|e| {
            RenderError::Io {
                path: path.clone(),
                source: std::io::Error::other(e),
            }
        })?;
        std::fs::write(&path, json).map_err(|source| RenderError::Io { path, source })?;
    }
    let scenario_path = out_dir.join(SCENARIO_FILE);
    let text = scenario.to_toml_string().map_err(|e| RenderError::Io {
        path: scenario_path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    std::fs::write(&scenario_path, text).map_err(|source| RenderError::Io {
        path: scenario_path.clone(),
        source,
    })?;

    let total_frames: u64 = truth
        .cameras
        .values()
        .map(|c| u64::from(c.frame_count))
        .sum();
    let progress = progress_bar(options.progress, total_frames, "rendering");
    let jobs: Vec<CameraJob<'_>> = scenario
        .cameras
        .iter()
        .enumerate()
        .map(|(index, camera)| {
            let camera_truth = truth.cameras.get(&camera.id);
            CameraJob {
                index,
                camera,
                frame_count: camera_truth.map_or(0, |t| t.frame_count),
                dropped: camera_truth
                    .map(|t| t.dropped_frames.clone())
                    .unwrap_or_default(),
                dark: camera_truth
                    .map(|t| t.dark_frames.clone())
                    .unwrap_or_default(),
                video: videos.join(format!("{}.{}", camera.id, extension(options.video_format))),
            }
        })
        .collect();
    let results = run_on_workers(options.threads, jobs.len(), |k| {
        render_camera(&scene, scenario, &jobs[k], options, &progress)
    })?;
    progress.finish_and_clear();

    let mut reports = Vec::with_capacity(results.len());
    for (job, result) in jobs.iter().zip(results) {
        let (report, boxes) = result?;
        if let Some(camera_truth) = truth.cameras.get_mut(&job.camera.id) {
            camera_truth.shoppers = boxes.shoppers;
            camera_truth.hands = boxes.hands;
            camera_truth.products = boxes.products;
        }
        reports.push(report);
    }
    truth.write_to_dir(out_dir)?;
    let elapsed_secs = started.elapsed().as_secs_f64();
    Ok(RenderReport {
        cameras: reports,
        elapsed_secs,
        frames_per_sec: total_frames as f64 / elapsed_secs.max(1e-9),
    })
}

struct CameraJob<'a> {
    index: usize,
    camera: &'a Camera,
    frame_count: u32,
    dropped: Vec<u32>,
    dark: Vec<u32>,
    video: PathBuf,
}

fn render_camera(
    scene: &Scene,
    scenario: &Scenario,
    job: &CameraJob<'_>,
    options: &RenderOptions,
    progress: &ProgressBar,
) -> Result<(CameraReport, FrameBoxes), RenderError> {
    let camera = job.camera;
    let video_error = |source| RenderError::Video {
        camera: camera.id.clone(),
        source,
    };
    let bitrate_kbps = match options.video_format.codec {
        VideoCodec::H264 => scenario.noise.bitrate_kbps,
        VideoCodec::Mjpeg => None,
    };
    let settings = WriterSettings::new(
        options.video_format,
        camera.resolution_px[0],
        camera.resolution_px[1],
        camera.fps.round() as u32,
    )
    .with_bitrate_kbps(bitrate_kbps);
    let mut writer = VideoWriter::open(&job.video, &settings).map_err(video_error)?;
    let mut renderer = CameraRenderer::new(scene, scenario, job.index, camera);
    let mut boxes = FrameBoxes::default();
    let mut report = CameraReport {
        camera: camera.id.clone(),
        video: job.video.clone(),
        frames_written: 0,
        frames_drawn: 0,
        frames_dropped: 0,
        frames_dark: 0,
    };
    for frame in 1..=job.frame_count {
        progress.inc(1);
        if job.dropped.binary_search(&frame).is_ok() {
            report.frames_dropped += 1;
            continue;
        }
        if job.dark.binary_search(&frame).is_ok() {
            renderer.finish_picture(frame, true);
            report.frames_dark += 1;
        } else {
            renderer.draw(frame);
            renderer.boxes(frame, options.shelf_products, &mut boxes);
            renderer.finish_picture(frame, false);
            report.frames_drawn += 1;
        }
        let pts = writer.frame_pts(u64::from(frame - 1));
        writer
            .push_rgb_at(&renderer.out, pts)
            .map_err(video_error)?;
    }
    report.frames_written = writer.finish().map_err(video_error)?;
    Ok((report, boxes))
}

/// Runs `work(0..jobs)` on up to `threads` workers (0: one per core), each taking the next job in turn;
/// returns the results in job order, so the thread count never changes what comes out.
fn run_on_workers<T: Send>(
    threads: usize,
    jobs: usize,
    work: impl Fn(usize) -> T + Sync,
) -> Result<Vec<T>, RenderError> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .clamp(1, jobs.max(1));
    let next = &AtomicUsize::new(0);
    let work = &work;
    let mut results: Vec<Option<T>> = (0..jobs).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= jobs {
                            break;
                        }
                        done.push((k, work(k)));
                    }
                    done
                })
            })
            .collect();
        for handle in handles {
            let done = handle.join().map_err(|_| RenderError::Panicked)?;
            for (k, result) in done {
                results[k] = Some(result);
            }
        }
        Ok::<(), RenderError>(())
    })?;
    results
        .into_iter()
        .map(|r| r.ok_or(RenderError::Panicked))
        .collect()
}

fn progress_bar(mode: Progress, total: u64, message: &'static str) -> ProgressBar {
    use std::io::IsTerminal;
    let target = if mode == Progress::Auto && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target).with_message(message);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} frames ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

fn extension(format: VideoFormat) -> &'static str {
    match format.container {
        walkout_cameras::Container::Mp4 => "mp4",
        walkout_cameras::Container::Avi => "avi",
        walkout_cameras::Container::Matroska => "mkv",
    }
}

fn create_dir(path: &Path) -> Result<(), RenderError> {
    std::fs::create_dir_all(path).map_err(|source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    })
}
