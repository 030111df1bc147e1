//! Labelled frames for training the project's detector: JPEG images and YOLO labels (`class cx cy w h`,
//! normalised to the image) for person (0), hand (1) and product (2), with `classes.txt` and
//! `dataset.yaml`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use walkout_datasets::scenario::Scenario;
use walkout_datasets::truth::GroundTruth;

use crate::camera::{CameraRenderer, FrameBoxes, ShelfProducts};
use crate::scene::Scene;
use crate::{Progress, RenderError, create_dir, progress_bar, run_on_workers};

/// The classes, in label order.
pub const CLASSES: [&str; 3] = ["person", "hand", "product"];

/// What [`export_training`] labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportOptions {
    /// Persons and products less visible than this share are left unlabelled.
    pub min_visibility: f32,
    /// Hands less visible than this share are left unlabelled. Lower than `min_visibility`: seen from a
    /// ceiling camera, a hand hanging under its arm shows only the ring the arm's end does not cover, about
    /// 19% of the hand (a 0.05 m ball under a 0.045 m arm), so a 0.2 share labelled such hands by chance
    /// while the detector sees every one of them.
    pub min_hand_visibility: f32,
    /// Boxes narrower or lower than this many pixels are left unlabelled.
    pub min_box_px: f32,
    /// JPEG quality, 1 to 100.
    pub jpeg_quality: u8,
    /// Worker threads; 0 for one per core. Never changes the output.
    pub threads: usize,
    /// Progress bar on stderr.
    pub progress: Progress,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            min_visibility: walkout_datasets::tracking::MIN_PERSON_VISIBILITY,
            min_hand_visibility: 0.05,
            min_box_px: 3.0,
            jpeg_quality: 90,
            threads: 0,
            progress: Progress::Auto,
        }
    }
}

/// What [`export_training`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportReport {
    /// Images written (each with its label file).
    pub images: u64,
    /// Labels per class, in [`CLASSES`] order.
    pub labels: [u64; 3],
}

/// Writes every `every_nth_frame`-th frame of every camera (frames 1, 1 + n, ...; dropped and dark frames
/// skipped) as `images/<camera>_<frame>.jpg` with `labels/<camera>_<frame>.txt`, plus `classes.txt` and
/// `dataset.yaml`, into `out_dir`.
pub fn export_training(
    scenario: &Scenario,
    out_dir: &Path,
    every_nth_frame: u32,
) -> Result<ExportReport, RenderError> {
    export_training_with(
        scenario,
        out_dir,
        every_nth_frame,
        &ExportOptions::default(),
    )
}

/// [`export_training`] with options.
pub fn export_training_with(
    scenario: &Scenario,
    out_dir: &Path,
    every_nth_frame: u32,
    options: &ExportOptions,
) -> Result<ExportReport, RenderError> {
    let every = every_nth_frame.max(1);
    let truth = GroundTruth::from_scenario(scenario)?;
    let timeline = scenario.timeline().map_err(RenderError::Invalid)?;
    let scene = Scene::new(scenario, timeline);
    let images = out_dir.join("images");
    let labels = out_dir.join("labels");
    create_dir(&images)?;
    create_dir(&labels)?;
    write(
        &out_dir.join("classes.txt"),
        &format!("{}\n", CLASSES.join("\n")),
    )?;
    let absolute = std::path::absolute(out_dir).unwrap_or_else(|_| out_dir.to_path_buf());
    let mut yaml = format!(
        "# Rendered by walkout-render from scenario {:?} (seed {}).\npath: {}\ntrain: images\nval: images\nnames:\n",
        scenario.name,
        scenario.seed,
        absolute.display()
    );
    for (k, name) in CLASSES.iter().enumerate() {
        let _ = writeln!(yaml, "  {k}: {name}");
    }
    write(&out_dir.join("dataset.yaml"), &yaml)?;

    let frames: Vec<Vec<u32>> = scenario
        .cameras
        .iter()
        .map(|camera| {
            truth.cameras.get(&camera.id).map_or(Vec::new(), |t| {
                (1..=t.frame_count)
                    .step_by(every as usize)
                    .filter(|f| {
                        t.dropped_frames.binary_search(f).is_err()
                            && t.dark_frames.binary_search(f).is_err()
                    })
                    .collect()
            })
        })
        .collect();
    let total = frames.iter().map(|f| f.len() as u64).sum();
    let progress = progress_bar(options.progress, total, "exporting");
    let results = run_on_workers(options.threads, scenario.cameras.len(), |k| {
        let camera = &scenario.cameras[k];
        let mut renderer = CameraRenderer::new(&scene, scenario, k, camera);
        let mut boxes = FrameBoxes::default();
        let mut report = ExportReport {
            images: 0,
            labels: [0; 3],
        };
        let mut text = String::new();
        for &frame in &frames[k] {
            renderer.draw(frame);
            boxes.clear();
            renderer.boxes(frame, ShelfProducts::All, &mut boxes);
            renderer.finish_picture(frame, false);
            let stem = format!("{}_{frame:06}", camera.id);
            let (w, h) = (renderer.width() as u32, renderer.height() as u32);
            let image_path = images.join(format!("{stem}.jpg"));
            write_jpeg(&image_path, &renderer.out, w, h, options.jpeg_quality)?;
            text.clear();
            yolo_labels(&boxes, w, h, options, &mut text, &mut report.labels);
            write(&labels.join(format!("{stem}.txt")), &text)?;
            report.images += 1;
            progress.inc(1);
        }
        Ok::<_, RenderError>(report)
    })?;
    progress.finish_and_clear();
    let mut report = ExportReport {
        images: 0,
        labels: [0; 3],
    };
    for result in results {
        let r = result?;
        report.images += r.images;
        for k in 0..3 {
            report.labels[k] += r.labels[k];
        }
    }
    Ok(report)
}

fn yolo_labels(
    boxes: &FrameBoxes,
    width: u32,
    height: u32,
    options: &ExportOptions,
    out: &mut String,
    counts: &mut [u64; 3],
) {
    let (w, h) = (width as f32, height as f32);
    let mut line = |class: usize, b: [f32; 4], visibility: f32| {
        let (bw, bh) = (b[2] - b[0], b[3] - b[1]);
        let min_visibility = if class == 1 {
            options.min_hand_visibility
        } else {
            options.min_visibility
        };
        if visibility < min_visibility || bw < options.min_box_px || bh < options.min_box_px {
            return;
        }
        let _ = writeln!(
            out,
            "{class} {:.6} {:.6} {:.6} {:.6}",
            (b[0] + bw / 2.0) / w,
            (b[1] + bh / 2.0) / h,
            bw / w,
            bh / h
        );
        counts[class] += 1;
    };
    for r in &boxes.shoppers {
        line(
            0,
            [r.left, r.top, r.left + r.width, r.top + r.height],
            r.visibility,
        );
    }
    for hand in &boxes.hands {
        let b = hand.bbox;
        line(1, [b.x1, b.y1, b.x2, b.y2], hand.visibility);
    }
    for product in &boxes.products {
        let b = product.bbox;
        line(2, [b.x1, b.y1, b.x2, b.y2], product.visibility);
    }
}

fn write_jpeg(
    path: &Path,
    rgb: &[u8],
    width: u32,
    height: u32,
    quality: u8,
) -> Result<(), RenderError> {
    let fail = |message: String| RenderError::Image {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::create(path).map_err(|source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut writer = std::io::BufWriter::new(file);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, quality.clamp(1, 100))
        .encode(rgb, width, height, image::ExtendedColorType::Rgb8)
        .map_err(|e| fail(e.to_string()))
}

/// Writes an RGB picture as PNG (for looking at a frame).
pub fn write_png(path: &Path, rgb: &[u8], width: u32, height: u32) -> Result<(), RenderError> {
    image::save_buffer(path, rgb, width, height, image::ExtendedColorType::Rgb8).map_err(|e| {
        RenderError::Image {
            path: PathBuf::from(path),
            message: e.to_string(),
        }
    })
}

fn write(path: &Path, text: &str) -> Result<(), RenderError> {
    std::fs::write(path, text).map_err(|source| RenderError::Io {
        path: path.to_path_buf(),
        source,
    })
}
