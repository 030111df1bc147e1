//! The detectors through real ONNX Runtime on real pixels: the four third-party models in ../shared, and
//! the project's own hand-made tiny model for batching.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;

use walkout_core::{BBox, CameraId, CaptureTime, Detection, Frame, ObjectKind};
use walkout_models::{
    DetectionConfig, DetectionStage, Detector, ExecutionProvider, Manifest, ModelError,
    RuntimeConfig, Scheduling, load_rgb_image,
};

fn repo(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

fn shared(relative: &str) -> PathBuf {
    let path = repo("../shared").join(relative);
    assert!(
        path.exists(),
        "test data `{}` is missing: the tests need ../shared beside the repository",
        path.display()
    );
    path
}

fn manifest(name: &str) -> PathBuf {
    repo("models/manifests").join(format!("{name}.toml"))
}

fn runtime() -> RuntimeConfig {
    assert!(
        std::env::var_os("ORT_DYLIB_PATH").is_some(),
        "ORT_DYLIB_PATH is not set: run the tests with `make test`, which installs ONNX Runtime"
    );
    RuntimeConfig::default()
}

fn bus() -> (Vec<u8>, u32, u32) {
    load_rgb_image(&shared("media/bus.jpg")).unwrap()
}

/// The three people ../shared/media/REFERENCE.md lists for bus.jpg.
const BUS_PEOPLE: [[f32; 4]; 3] = [
    [50.0, 394.0, 214.0, 898.0],
    [219.0, 403.0, 347.0, 855.0],
    [686.0, 451.0, 810.0, 874.0],
];

fn people(detections: &[Detection]) -> Vec<BBox> {
    detections
        .iter()
        .filter(|d| d.kind == ObjectKind::Person)
        .map(|d| d.bbox)
        .collect()
}

fn assert_finds_bus_people(model: &str) {
    let (rgb, width, height) = bus();
    let mut detector = Detector::load(&manifest(model), &runtime()).unwrap();
    let found = people(&detector.detect_rgb(&rgb, width, height).unwrap());
    for [x1, y1, x2, y2] in BUS_PEOPLE {
        let reference = BBox::new(x1, y1, x2, y2);
        let best = found
            .iter()
            .map(|b| b.intersection_over_union(&reference))
            .fold(0.0f32, f32::max);
        assert!(
            best > 0.6,
            "{model}: no box overlaps {reference:?} (best IoU {best:.2}); found {found:?}"
        );
    }
}

#[test]
fn yolox_nano_matches_the_reference_run() {
    let (rgb, width, height) = bus();
    let mut detector = Detector::load(&manifest("yolox_nano"), &runtime()).unwrap();
    let found = detector.detect_rgb(&rgb, width, height).unwrap();
    let persons: Vec<&Detection> = found
        .iter()
        .filter(|d| d.kind == ObjectKind::Person)
        .collect();
    assert_eq!(persons.len(), 3, "{persons:?}");
    let reference_scores = [0.855, 0.806, 0.687];
    for ([x1, y1, x2, y2], score) in BUS_PEOPLE.iter().zip(reference_scores) {
        let hit = persons
            .iter()
            .find(|d| {
                let b = d.bbox;
                [(b.x1, *x1), (b.y1, *y1), (b.x2, *x2), (b.y2, *y2)]
                    .iter()
                    .all(|(a, e)| (a - e).abs() <= 4.0)
            })
            .unwrap_or_else(|| panic!("no box within 4 px of {:?}: {persons:?}", [x1, y1, x2, y2]));
        assert!(
            (hit.score - score).abs() <= 0.02,
            "score {} vs reference {score}",
            hit.score
        );
        assert_eq!(&*hit.label, "person");
    }
    let timings = detector.last_timings();
    assert_eq!(timings.frames, 1);
    assert!(timings.inference > timings.decode, "{timings:?}");
}

/// Resizes packed RGB with plain bilinear interpolation, as the preprocessor does.
fn resize_rgb(rgb: &[u8], from: (u32, u32), to: (u32, u32)) -> Vec<u8> {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
    let source = ImageRef::new(from.0, from.1, rgb, PixelType::U8x3).unwrap();
    let mut target = Image::new(to.0, to.1, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear));
    Resizer::new()
        .resize(&source, &mut target, &options)
        .unwrap();
    target.into_vec()
}

#[test]
fn a_frame_scaled_before_detection_gives_the_same_boxes_in_source_pixels() {
    let (rgb, width, height) = bus();
    let mut detector = Detector::load(&manifest("yolox_nano"), &runtime()).unwrap();
    let direct = detector.detect_rgb(&rgb, width, height).unwrap();
    assert!(people(&direct).len() >= 3);
    // What the camera layer is asked for: the letterbox's inner size (810x1080 into 416x416).
    let size = detector.frame_size_for((width, height));
    assert_eq!(size, (312, 416));
    let scaled = Frame::new(
        CameraId::new("bus"),
        0,
        None,
        CaptureTime::from_unix_millis(0),
        size.0,
        size.1,
        Arc::<[u8]>::from(resize_rgb(&rgb, (width, height), size)),
    )
    .unwrap();
    assert_eq!(
        detector.detect_scaled(&scaled, (width, height)).unwrap(),
        direct
    );

    // Padding is written again whenever the picture's place in the input changes: a wide crop in
    // between, then the bus again, gives the bus's first detections exactly.
    let crop_height = 300u32;
    let crop = &rgb[..(width * crop_height * 3) as usize];
    detector.detect_rgb(crop, width, crop_height).unwrap();
    assert_eq!(detector.detect_rgb(&rgb, width, height).unwrap(), direct);
    assert_eq!(
        detector.detect_scaled(&scaled, (width, height)).unwrap(),
        direct
    );
}

#[test]
fn light_person_detector_finds_the_people_in_bus() {
    assert_finds_bus_people("light_person_detector");
}

#[test]
fn nanodet_finds_the_people_in_bus() {
    assert_finds_bus_people("nanodet_m_320");
}

#[test]
fn palm_detector_finds_a_visible_hand() {
    // The man in the middle of bus.jpg holds a phone in his right hand, about (255, 645) in the photo.
    let (rgb, width, _) = bus();
    let (x0, y0, crop_w, crop_h) = (219usize, 403usize, 128usize, 452usize);
    let mut crop = Vec::with_capacity(crop_w * crop_h * 3);
    for y in y0..y0 + crop_h {
        let row = (y * width as usize + x0) * 3;
        crop.extend_from_slice(&rgb[row..row + crop_w * 3]);
    }
    let mut detector = Detector::load(&manifest("palm_detection_full"), &runtime()).unwrap();
    let hands: Vec<Detection> = detector
        .detect_rgb(&crop, crop_w as u32, crop_h as u32)
        .unwrap()
        .into_iter()
        .filter(|d| d.kind == ObjectKind::Hand)
        .collect();
    let phone_hand = BBox::new(30.0, 232.0, 66.0, 272.0);
    assert!(
        hands
            .iter()
            .any(|h| h.bbox.intersection_over_union(&phone_hand) > 0.4 && h.score > 0.8),
        "no hand on the phone: {hands:?}"
    );
}

#[test]
fn every_shipped_manifest_loads_against_its_model() {
    for name in [
        "yolox_nano",
        "light_person_detector",
        "nanodet_m_320",
        "palm_detection_full",
    ] {
        let detector =
            Detector::load(&manifest(name), &runtime()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(detector.manifest().name, name);
        assert_eq!(
            detector.batch_capacity(),
            1,
            "{name} has a fixed batch of one"
        );
    }
}

#[test]
fn input_size_disagreeing_with_the_model_is_reported() {
    let path = manifest("yolox_nano");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("width = 416", "width = 640");
    let manifest = Manifest::parse(&text, &path).unwrap();
    let err = Detector::from_manifest(manifest, &runtime(), 1).unwrap_err();
    let ModelError::ModelMismatch { problems, .. } = &err else {
        panic!("{err}")
    };
    let message = err.to_string();
    assert!(message.contains("640x416"), "{message}");
    // the grid the decoder expects changes too: both problems are listed at once
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(message.contains("output"), "{message}");
}

#[test]
fn corrupt_model_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.onnx"), b"this is not a protobuf").unwrap();
    let text = std::fs::read_to_string(manifest("yolox_nano"))
        .unwrap()
        .replace("../../../shared/models/yolox_nano.onnx", "broken.onnx")
        .replace(
            "../../../shared/models/coco_classes.txt",
            &shared("models/coco_classes.txt").display().to_string(),
        );
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, text).unwrap();
    let err = Detector::load(&path, &runtime()).unwrap_err();
    assert!(matches!(err, ModelError::ModelLoad { .. }), "{err}");
    assert!(err.to_string().contains("broken.onnx"), "{err}");
}

#[test]
fn unavailable_gpu_provider_falls_back_to_the_cpu() {
    let config = RuntimeConfig {
        providers: vec![
            ExecutionProvider::Cuda { device_id: 0 },
            ExecutionProvider::Cpu,
        ],
        ..runtime()
    };
    // The CPU-only onnxruntime wheel has no CUDA provider; on a GPU machine this says "cuda".
    let detector = Detector::load(&manifest("light_person_detector"), &config).unwrap();
    let expected = if std::env::var_os("WALKOUT_EXPECT_CUDA").is_some() {
        "cuda"
    } else {
        "cpu"
    };
    assert_eq!(detector.provider(), expected);
}

fn frame(camera: &str, seq: u64, paint: impl Fn(usize, usize) -> [u8; 3]) -> Frame {
    let (w, h) = (32usize, 32usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            rgb.extend_from_slice(&paint(x, y));
        }
    }
    Frame::new(
        CameraId::new(camera),
        seq,
        None,
        CaptureTime::from_unix_millis(seq),
        w as u32,
        h as u32,
        Arc::<[u8]>::from(rgb),
    )
    .unwrap()
}

/// Frame `i` has a red square in cell `i` (of the tiny model's 4x4 grid) and a blue one in cell `15 - i`.
fn painted(camera: &str, i: usize) -> Frame {
    frame(camera, i as u64, move |x, y| {
        let cell = (y / 8) * 4 + x / 8;
        if cell == i % 16 {
            [255, 0, 0]
        } else if cell == 15 - i % 16 {
            [0, 0, 255]
        } else {
            [0, 0, 0]
        }
    })
}

fn tiny() -> PathBuf {
    repo("models/testdata/tiny_yolov8.toml")
}

#[test]
fn a_batch_gives_the_same_detections_as_single_frames() {
    let manifest = Manifest::load(&tiny()).unwrap();
    let mut batched = Detector::from_manifest(manifest.clone(), &runtime(), 4).unwrap();
    assert!(!batched.has_fixed_batch());
    assert_eq!(batched.batch_capacity(), 4);
    let mut single = Detector::from_manifest(manifest, &runtime(), 1).unwrap();
    let frames: Vec<Frame> = (0..6).map(|i| painted("c", i)).collect();
    let refs: Vec<&Frame> = frames.iter().collect();
    let together = batched.detect_batch(&refs).unwrap();
    assert_eq!(together.len(), 6);
    for (frame, found) in frames.iter().zip(&together) {
        assert_eq!(&single.detect(frame).unwrap(), found);
        assert_eq!(found.len(), 2, "{found:?}");
    }
    // frame 0: product (red) in cell 0, hand (blue) in cell 15
    let product = together[0]
        .iter()
        .find(|d| d.kind == ObjectKind::Product)
        .unwrap();
    assert_eq!(product.bbox, BBox::new(0.0, 0.0, 8.0, 8.0));
    let hand = together[0]
        .iter()
        .find(|d| d.kind == ObjectKind::Hand)
        .unwrap();
    assert_eq!(hand.bbox, BBox::new(24.0, 24.0, 32.0, 32.0));
}

fn run_stage(
    scheduling: Scheduling,
) -> (
    Vec<walkout_models::DetectedFrame>,
    walkout_models::StageStats,
    Scheduling,
) {
    let config = DetectionConfig {
        manifest: tiny(),
        runtime: runtime(),
        scheduling,
    };
    let (frames_tx, frames_rx) = crossbeam_channel::bounded(4);
    let (out_tx, out_rx) = crossbeam_channel::bounded(4);
    let stage = DetectionStage::spawn(&config, frames_rx, out_tx).unwrap();
    let resolved = stage.scheduling();
    let producer = std::thread::spawn(move || {
        for i in 0..24 {
            for camera in ["a", "b", "c"] {
                frames_tx.send(painted(camera, i)).unwrap();
            }
        }
    });
    let out: Vec<_> = out_rx.iter().collect();
    producer.join().unwrap();
    (out, stage.join(), resolved)
}

fn assert_lossless_and_ordered(out: &[walkout_models::DetectedFrame]) {
    assert_eq!(out.len(), 72);
    for camera in ["a", "b", "c"] {
        let seqs: Vec<u64> = out
            .iter()
            .filter(|d| d.frame.camera.as_str() == camera)
            .map(|d| d.frame.seq)
            .collect();
        assert_eq!(
            seqs,
            (0..24).collect::<Vec<_>>(),
            "camera {camera} out of order"
        );
    }
    assert!(
        out.iter()
            .all(|d| d.error.is_none() && d.detections.len() == 2)
    );
}

#[test]
fn batch_stage_is_lossless_keeps_order_and_batches() {
    let (out, stats, resolved) = run_stage(Scheduling::Auto);
    assert_eq!(
        resolved,
        Scheduling::Batch { max_batch: 8 },
        "a dynamic batch model is batched"
    );
    assert_lossless_and_ordered(&out);
    assert_eq!(stats.timings.frames, 72);
    assert!(stats.calls <= 72);
}

#[test]
fn pool_stage_is_lossless_and_keeps_each_camera_in_order() {
    let (out, stats, resolved) = run_stage(Scheduling::Pool { sessions: 2 });
    assert_eq!(resolved, Scheduling::Pool { sessions: 2 });
    assert_lossless_and_ordered(&out);
    assert_eq!(stats.calls, 72, "one frame per call in a pool");
}

#[test]
fn interleaved_stage_is_lossless_and_keeps_the_input_order() {
    let (out, stats, resolved) = run_stage(Scheduling::Interleave { sessions: 3 });
    assert_eq!(resolved, Scheduling::Interleave { sessions: 3 });
    assert_lossless_and_ordered(&out);
    // Not just per camera: every frame in the order it came in (a, b, c, a, b, c, ...).
    let order: Vec<(String, u64)> = out
        .iter()
        .map(|d| (d.frame.camera.to_string(), d.frame.seq))
        .collect();
    let sent: Vec<(String, u64)> = (0..24)
        .flat_map(|i| ["a", "b", "c"].map(|c| (c.to_string(), i)))
        .collect();
    assert_eq!(order, sent);
    assert_eq!(stats.calls, 72, "one frame per call");
    // Each painted frame's boxes are its own: the red square in cell i, whatever session ran it.
    for d in &out {
        let cell = (d.frame.seq % 16) as f32;
        let expected = BBox::new(
            (cell % 4.0) * 8.0,
            (cell / 4.0).floor() * 8.0,
            (cell % 4.0) * 8.0 + 8.0,
            (cell / 4.0).floor() * 8.0 + 8.0,
        );
        assert!(
            d.detections.iter().any(|x| x.bbox == expected),
            "{} {}: {:?}",
            d.frame.camera,
            d.frame.seq,
            d.detections
        );
    }
}

#[test]
fn a_fixed_batch_model_interleaves_one_session_per_core() {
    let config = DetectionConfig {
        manifest: manifest("yolox_nano"),
        runtime: runtime(),
        scheduling: Scheduling::Auto,
    };
    let (frames_tx, frames_rx) = crossbeam_channel::bounded::<Frame>(1);
    let (out_tx, _out_rx) = crossbeam_channel::bounded(1);
    let stage = DetectionStage::spawn(&config, frames_rx, out_tx).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        stage.scheduling(),
        Scheduling::Interleave {
            sessions: cores.clamp(1, 4)
        }
    );
    drop(frames_tx);
    stage.join();
}

#[test]
fn the_store_detector_loads_through_its_manifest_and_batches() {
    let mut detector =
        Detector::load(&repo("models/walkout_store/walkout_store.toml"), &runtime()).unwrap();
    assert!(!detector.has_fixed_batch(), "exported with a dynamic batch");
    detector.set_max_batch(2);
    let blank = |seq| {
        Frame::new(
            CameraId::new("c"),
            seq,
            None,
            CaptureTime::from_unix_millis(seq),
            640,
            480,
            Arc::<[u8]>::from(vec![128u8; 640 * 480 * 3]),
        )
        .unwrap()
    };
    let (a, b) = (blank(0), blank(1));
    let found = detector.detect_batch(&[&a, &b]).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(
        found[0], found[1],
        "the same picture gives the same detections in either batch slot"
    );
}
