//! `walkout simulate`: a synthetic store from a preset and a seed (or a scenario file), rendered into a
//! dataset with exact ground truth, or exported as labelled frames for detector training.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use walkout_datasets::{PRESETS, Scenario, preset};
use walkout_render::{ExportOptions, RenderOptions, export_training_with, render_dataset};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// A preset: solo, pairs, busy, groups or adversarial.
    #[arg(
        long,
        conflicts_with = "scenario",
        required_unless_present = "scenario"
    )]
    preset: Option<String>,
    /// The preset's random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A scenario file (TOML) instead of a preset.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Render the dataset here: videos, calibration, scenario and ground truth.
    #[arg(long, required_unless_present = "export_training")]
    out: Option<PathBuf>,
    /// Write labelled frames for detector training here instead (YOLO format: person, hand, product).
    #[arg(long, conflicts_with = "out")]
    export_training: Option<PathBuf>,
    /// With --export-training: every Nth frame of every camera.
    #[arg(long, default_value_t = 5)]
    every: u32,
    /// With --export-training: hands less visible than this share are left unlabelled.
    #[arg(long, default_value_t = ExportOptions::default().min_hand_visibility)]
    min_hand_visibility: f32,
    /// Render every camera at this size instead (WIDTHxHEIGHT), scaling its intrinsics to match.
    #[arg(long, value_parser = parse_resolution)]
    resolution: Option<[u32; 2]>,
    /// Worker threads (0: one per core); never changes the output.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Put every slot on a lane scale (default noise and settle time; a scenario file can set them in
    /// `[store.scales]`): the dataset then carries the scales' readings for the pipeline.
    #[arg(long)]
    scales: bool,
    /// Add a camera to the scene, as `ID=X,Y,Z@TX,TY,TZ`: at (X, Y, Z) metres looking at (TX, TY, TZ),
    /// with the lens, image size and frame rate of the scene's first camera. Repeatable. For trying a
    /// camera's place before a store is fitted, and for teaching the detector a view.
    #[arg(long = "add-camera", value_parser = parse_camera)]
    add_cameras: Vec<AddedCamera>,
}

/// A camera given on the command line: its id, where it stands and what it looks at.
#[derive(Debug, Clone, PartialEq)]
struct AddedCamera {
    id: String,
    position_m: [f64; 3],
    look_at_m: [f64; 3],
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = match (&args.preset, &args.scenario) {
        (Some(name), _) => preset(name, args.seed)
            .with_context(|| format!("preset `{name}` (the presets: {})", PRESETS.join(", ")))?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading `{}`", path.display()))?;
            let scenario =
                Scenario::from_toml_str(&text).with_context(|| format!("`{}`", path.display()))?;
            scenario
                .validate()
                .map_err(walkout_datasets::ScenarioError::Invalid)
                .with_context(|| format!("`{}`", path.display()))?;
            scenario
        }
        (None, None) => anyhow::bail!("give --preset or --scenario"),
    };
    let scenario = with_cameras(scenario, &args.add_cameras)?;
    let mut scenario = match args.resolution {
        Some(resolution) => walkout_render::with_resolution(&scenario, resolution),
        None => scenario,
    };
    if args.scales && scenario.store.scales.is_none() {
        scenario.store.scales = Some(walkout_datasets::scenario::Scales::default());
    }
    if let Some(dir) = &args.export_training {
        let options = ExportOptions {
            threads: args.threads,
            min_hand_visibility: args.min_hand_visibility,
            ..ExportOptions::default()
        };
        let report = export_training_with(&scenario, dir, args.every, &options)?;
        println!(
            "{}: {} images, labels person {} hand {} product {} in {}",
            scenario.name,
            report.images,
            report.labels[0],
            report.labels[1],
            report.labels[2],
            dir.display()
        );
        return Ok(());
    }
    let out = args
        .out
        .as_ref()
        .context("give --out or --export-training")?;
    let options = RenderOptions {
        threads: args.threads,
        ..RenderOptions::default()
    };
    let report = render_dataset(&scenario, out, &options)?;
    println!(
        "{}: {} cameras, {} frames in {:.1} s ({:.1} frames/s) into {}",
        scenario.name,
        report.cameras.len(),
        report.cameras.iter().map(|c| c.frames_written).sum::<u64>(),
        report.elapsed_secs,
        report.frames_per_sec,
        out.display()
    );
    Ok(())
}

/// The scenario with `added` cameras, each like its first camera but for its place and aim.
fn with_cameras(mut scenario: Scenario, added: &[AddedCamera]) -> anyhow::Result<Scenario> {
    for camera in added {
        let template = scenario
            .cameras
            .first()
            .with_context(|| {
                format!(
                    "--add-camera `{}`: the scene has no camera to copy the lens of",
                    camera.id
                )
            })?
            .clone();
        if scenario.cameras.iter().any(|c| c.id == camera.id) {
            anyhow::bail!(
                "--add-camera `{}`: the scene already has a camera of that id",
                camera.id
            );
        }
        scenario.cameras.push(walkout_datasets::scenario::Camera {
            id: camera.id.clone(),
            position_m: camera.position_m,
            look_at_m: camera.look_at_m,
            ..template
        });
    }
    if !added.is_empty() {
        scenario
            .validate()
            .map_err(walkout_datasets::ScenarioError::Invalid)
            .context("--add-camera")?;
    }
    Ok(scenario)
}

/// `ID=X,Y,Z@TX,TY,TZ`, metres.
fn parse_camera(text: &str) -> Result<AddedCamera, String> {
    let format = "is not ID=X,Y,Z@TX,TY,TZ (metres), e.g. side=3.5,0.2,2.9@1.3,1.8,0.5";
    let (id, place) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` {format}"))?;
    let (position, target) = place
        .split_once('@')
        .ok_or_else(|| format!("`{text}` {format}"))?;
    let point = |part: &str| -> Result<[f64; 3], String> {
        let values: Vec<f64> = part
            .split(',')
            .map(|v| v.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("`{text}`: `{part}` {format}"))?;
        values
            .try_into()
            .map_err(|_| format!("`{text}`: `{part}` is not three numbers; {format}"))
    };
    let id = id.trim();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{text}`: a camera id is letters, digits, `-` and `_` (it names the camera's files)"
        ));
    }
    Ok(AddedCamera {
        id: id.to_string(),
        position_m: point(position)?,
        look_at_m: point(target)?,
    })
}

fn parse_resolution(text: &str) -> Result<[u32; 2], String> {
    let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|v| *v >= 16);
    match text.split_once(['x', 'X']) {
        Some((w, h)) => match (parse(w), parse(h)) {
            (Some(w), Some(h)) => Ok([w, h]),
            _ => Err(format!(
                "`{text}`: width and height must be whole numbers of at least 16"
            )),
        },
        None => Err(format!("`{text}` is not WIDTHxHEIGHT, e.g. 640x480")),
    }
}
