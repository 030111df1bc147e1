//! The shipped store detector (models/walkout_store) on frames rendered fresh from a seed it never saw,
//! through the normal manifest path and the real Rust decoder: it must find the shoppers, their hands and
//! the products on the shelves about as well as its model card claims.
//!
//! The frames come from the `walkout` binary (`simulate --export-training`), which `cargo test
//! --workspace` builds before any test runs; `WALKOUT_BIN` names another one.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use walkout_core::{BBox, Detection, ObjectKind};
use walkout_models::{Detector, Manifest, RuntimeConfig, load_rgb_image};

/// A `busy` seed that no training or validation run used (training 1000-1005, validation 9001-9002).
const FRESH_SEED: &str = "4242";
/// Every 250th frame of every camera: 32 frames, a few seconds even in a debug build.
const EVERY: &str = "250";

fn repo(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn runtime() -> RuntimeConfig {
    assert!(
        std::env::var_os("ORT_DYLIB_PATH").is_some(),
        "ORT_DYLIB_PATH is not set: run the tests with `make test`, which installs ONNX Runtime"
    );
    RuntimeConfig::default()
}

/// The newest `walkout` binary of the workspace (or `WALKOUT_BIN`).
fn walkout_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WALKOUT_BIN") {
        return PathBuf::from(path);
    }
    let newest = ["target/debug/walkout", "target/release/walkout"]
        .iter()
        .map(|p| repo(p))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .max();
    match newest {
        Some((_, path)) => path,
        None => panic!(
            "no walkout binary in target/: `cargo build --bin walkout` (or set WALKOUT_BIN) renders the test frames"
        ),
    }
}

/// A labelled frame: its RGB pixels and the truth's boxes per class.
struct Labelled {
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    truth: Vec<(ObjectKind, BBox)>,
}

fn render_fresh_frames(out: &Path) -> Vec<Labelled> {
    let status = Command::new(walkout_binary())
        .args(["simulate", "--preset", "busy", "--seed", FRESH_SEED])
        .args(["--resolution", "640x480", "--every", EVERY])
        .arg("--export-training")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success(), "walkout simulate failed: {status}");
    let mut images: Vec<PathBuf> = std::fs::read_dir(out.join("images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    images.sort();
    images
        .iter()
        .map(|image| {
            let (rgb, width, height) = load_rgb_image(image).unwrap();
            let stem = image.file_stem().unwrap().to_str().unwrap();
            let text =
                std::fs::read_to_string(out.join("labels").join(format!("{stem}.txt"))).unwrap();
            let truth = text
                .lines()
                .map(|line| {
                    let v: Vec<f32> = line
                        .split_whitespace()
                        .map(|t| t.parse().unwrap())
                        .collect();
                    let kind = match v[0] as u32 {
                        0 => ObjectKind::Person,
                        1 => ObjectKind::Hand,
                        _ => ObjectKind::Product,
                    };
                    let (w, h) = (width as f32, height as f32);
                    (
                        kind,
                        BBox::from_center(v[1] * w, v[2] * h, v[3] * w, v[4] * h),
                    )
                })
                .collect();
            Labelled {
                rgb,
                width,
                height,
                truth,
            }
        })
        .collect()
}

/// Found and labelled boxes of one kind, each detection matched to at most one labelled box at IoU 0.5.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    labelled: usize,
    detected: usize,
    matched: usize,
}

impl Tally {
    fn add(&mut self, truth: &[BBox], found: &[BBox]) {
        let mut used = vec![false; truth.len()];
        for f in found {
            let best = truth
                .iter()
                .enumerate()
                .filter(|(i, _)| !used[*i])
                .map(|(i, t)| (i, t.intersection_over_union(f)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, iou)) = best
                && iou >= 0.5
            {
                used[i] = true;
                self.matched += 1;
            }
        }
        self.labelled += truth.len();
        self.detected += found.len();
    }

    fn recall(&self) -> f32 {
        self.matched as f32 / self.labelled.max(1) as f32
    }

    fn precision(&self) -> f32 {
        self.matched as f32 / self.detected.max(1) as f32
    }
}

fn of_kind<'a>(boxes: impl Iterator<Item = (ObjectKind, &'a BBox)>, kind: ObjectKind) -> Vec<BBox> {
    boxes.filter(|(k, _)| *k == kind).map(|(_, b)| *b).collect()
}

#[test]
fn the_store_detector_finds_shoppers_hands_and_products_on_a_fresh_seed() {
    let manifest_path = repo("models/walkout_store/walkout_store.toml");
    let mut detector = Detector::load(&manifest_path, &runtime()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let frames = render_fresh_frames(dir.path());
    assert!(frames.len() >= 16, "{} frames rendered", frames.len());
    let kinds = [ObjectKind::Person, ObjectKind::Hand, ObjectKind::Product];
    let mut tallies = [Tally::default(); 3];
    for frame in &frames {
        let found: Vec<Detection> = detector
            .detect_rgb(&frame.rgb, frame.width, frame.height)
            .unwrap();
        for (tally, kind) in tallies.iter_mut().zip(kinds) {
            tally.add(
                &of_kind(frame.truth.iter().map(|(k, b)| (*k, b)), kind),
                &of_kind(found.iter().map(|d| (d.kind, &d.bbox)), kind),
            );
        }
    }
    let [person, hand, product] = tallies;
    assert!(
        person.labelled >= 10 && hand.labelled >= 5,
        "too few shoppers in the sample: {person:?} {hand:?}"
    );
    // MODEL_CARD.md's operating point (the manifest's 0.5 score) on the validation scenes (v5): persons
    // recall 0.94 / precision 0.93, hands 0.78 / 0.58, products 0.52 / 0.86 (v4's were 0.91 / 0.91,
    // 0.71 / 0.46 and 0.48 / 0.86, which these bounds were set for); less a margin for a 32-frame
    // sample. The model reports one hand as a cluster of boxes a few pixels apart: the manifest's centre
    // suppression for hands keeps one of them (plain NMS left hands at recall 0.84, precision 0.16, so a
    // precision over 0.25 here shows the suppression at work).
    assert!(
        person.recall() >= 0.7,
        "person recall {} ({person:?})",
        person.recall()
    );
    assert!(
        person.precision() >= 0.8,
        "person precision {} ({person:?})",
        person.precision()
    );
    assert!(
        hand.recall() >= 0.45,
        "hand recall {} ({hand:?})",
        hand.recall()
    );
    assert!(
        hand.precision() >= 0.25,
        "hand precision {} ({hand:?})",
        hand.precision()
    );
    assert!(
        product.recall() >= 0.35,
        "product recall {} ({product:?})",
        product.recall()
    );
    assert!(
        product.precision() >= 0.75,
        "product precision {} ({product:?})",
        product.precision()
    );
}

#[test]
fn the_manifest_matches_the_shipped_model() {
    let manifest = Manifest::load(&repo("models/walkout_store/walkout_store.toml")).unwrap();
    // Loading checks the manifest's input size and output grid against the model itself.
    let detector = Detector::from_manifest(manifest, &runtime(), 1).unwrap();
    assert_eq!(detector.manifest().input.width, 640);
    assert_eq!(detector.manifest().input.height, 480);
}
