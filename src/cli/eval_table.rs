//! `walkout eval-table`: the README's accuracy table. Renders fresh seeds of each preset, runs the whole
//! pipeline on each with `walkout eval`'s runner, and prints one Markdown row per preset (the mean over its
//! seeds), with the seeds named so that anyone can re-run exactly those.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use walkout_datasets::{Metrics, preset};
use walkout_models::{DetectionConfig, Scheduling};
use walkout_render::{RenderOptions, render_dataset, with_resolution};

use super::eval::{Detector, evaluate};

#[derive(Debug, Args)]
pub struct EvalTableArgs {
    /// The presets, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "solo,pairs,busy,groups,adversarial"
    )]
    presets: Vec<String>,
    /// Seeds per preset.
    #[arg(long, default_value_t = 2)]
    seeds: u64,
    /// The first seed (the others follow it). Default: one from the clock, so that the seeds are fresh.
    #[arg(long)]
    first_seed: Option<u64>,
    /// The detector's manifest.
    #[arg(long, default_value = super::SHIPPED_MODEL)]
    model: PathBuf,
    /// Feed the ground truth's boxes instead of the detector (the pipeline alone).
    #[arg(long)]
    oracle: bool,
    /// Put every slot on a lane scale: the scales say how many items moved and when, the cameras whose.
    #[arg(long)]
    scales: bool,
    /// Where the rendered scenes go (reused when a rendering of the same scene is already there).
    #[arg(long, default_value = ".cache/eval")]
    data: PathBuf,
    #[command(flatten)]
    runtime: super::RuntimeArgs,
}

pub fn run(args: EvalTableArgs) -> anyhow::Result<()> {
    let first = args.first_seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        10_000 + now % 90_000
    });
    let detector = if args.oracle {
        Detector::Oracle
    } else {
        Detector::Model(DetectionConfig {
            manifest: args.model.clone(),
            runtime: args.runtime.config(),
            scheduling: Scheduling::Auto,
        })
    };
    let seeds: Vec<u64> = (first..first + args.seeds.max(1)).collect();
    println!(
        "detector: {}; seeds {}..={}; resolution 640x480; lane scales: {}; means over the seeds",
        if args.oracle {
            "oracle (ground-truth boxes)".to_string()
        } else {
            args.model.display().to_string()
        },
        seeds[0],
        seeds[seeds.len() - 1],
        if args.scales { "yes" } else { "no" }
    );
    println!();
    println!(
        "| preset | exact receipts | wrong, unreviewed | review rate | events P / R | attribution | MOTA | IDF1 | frames/s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for name in &args.presets {
        let mut all = Vec::new();
        for &seed in &seeds {
            let mut scenario = with_resolution(
                &preset(name, seed).with_context(|| format!("preset `{name}`"))?,
                [640, 480],
            );
            let mut dir = args.data.join(format!("{name}-{seed}-640x480"));
            if args.scales {
                scenario.store.scales = Some(walkout_datasets::scenario::Scales::default());
                dir = args.data.join(format!("{name}-{seed}-640x480-scales"));
            }
            if !super::eval::rendered_already(&dir, &scenario) {
                render_dataset(&scenario, &dir, &RenderOptions::default())
                    .with_context(|| format!("rendering {name} seed {seed}"))?;
            }
            let outcome = evaluate(&dir, &detector, Default::default(), None)
                .with_context(|| format!("{name} seed {seed}"))?;
            all.push(outcome.metrics);
        }
        let mean = |f: fn(&Metrics) -> f64| all.iter().map(f).sum::<f64>() / all.len() as f64;
        println!(
            "| {name} | {:.0}% | {:.0}% | {:.0}% | {:.2} / {:.2} | {:.2} | {:.2} | {:.2} | {:.0} |",
            100.0 * mean(|m| m.receipt_exact_rate),
            100.0 * mean(|m| m.wrong_unreviewed_rate),
            100.0 * mean(|m| m.review_rate),
            mean(|m| m.event_precision),
            mean(|m| m.event_recall),
            mean(|m| m.attribution_accuracy),
            mean(|m| m.mota),
            mean(|m| m.idf1),
            mean(|m| m.frames_per_second),
        );
    }
    Ok(())
}
