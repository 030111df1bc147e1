//! The speed goal, end to end: a 2-minute recording of the `busy` preset with 4 cameras at 640x480 and
//! 15 fps (7,200 frames), drawn, encoded to H.264/MP4 and with its ground truth written, on every core.
//! Prints frames per second of wall-clock time; the goal is at least 60 (under 2 minutes).
//!
//! `cargo bench -p walkout-render --bench throughput` (set `WALKOUT_BENCH_SECS` for a shorter recording;
//! set `WALKOUT_BENCH_SCENARIO_OUT=FILE` to write the scenario for `walkout simulate --scenario FILE`
//! instead of rendering it).

use walkout_render::{Progress, RenderOptions, render_dataset, with_resolution};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and `cargo test --benches` probe harness-less benches this way.
        return Ok(());
    }
    let secs: f64 = std::env::var("WALKOUT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120.0);
    let mut scenario = walkout_datasets::preset("busy", 7)?;
    scenario.duration_secs = scenario.duration_secs.max(secs);
    // The preset is under a minute: the same crowd comes back a minute later, if stock allows.
    let mut repeated = scenario.clone();
    for shopper in scenario.shoppers.clone() {
        let mut again = shopper;
        again.id.push_str("-again");
        again.account.push_str("-again");
        if let Some(group) = &mut again.group {
            group.push_str("-again");
        }
        again.entry_time_secs += 60.0;
        for action in &mut again.actions {
            if let walkout_datasets::scenario::Action::HandOver { to_shopper, .. } = action {
                to_shopper.push_str("-again");
            }
        }
        repeated.shoppers.push(again);
    }
    if repeated.validate().is_ok() {
        scenario = repeated;
    }
    scenario.cameras.retain(|c| {
        ["entrance", "aisle-0-west", "aisle-1-east", "aisle-2-west"].contains(&c.id.as_str())
    });
    let mut scenario = with_resolution(&scenario, [640, 480]);
    if secs < scenario.duration_secs {
        // Shoppers must have left before the end: keep the ones who have.
        let timeline = scenario.timeline().map_err(|e| format!("{e:?}"))?;
        let keep: Vec<bool> = timeline
            .shoppers
            .iter()
            .map(|s| s.exit_time_secs < secs)
            .collect();
        let mut k = 0;
        scenario.shoppers.retain(|_| {
            k += 1;
            keep[k - 1]
        });
        scenario.duration_secs = secs;
    }
    if let Some(path) = std::env::var_os("WALKOUT_BENCH_SCENARIO_OUT") {
        std::fs::write(&path, scenario.to_toml_string()?)?;
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let options = RenderOptions {
        progress: Progress::Auto,
        ..RenderOptions::default()
    };
    let report = render_dataset(&scenario, dir.path(), &options)?;
    let frames: u64 = report
        .cameras
        .iter()
        .map(|c| c.frames_written + c.frames_dropped)
        .sum();
    println!(
        "{} cameras, {} shoppers, {frames} frames at 640x480 in {:.1} s: {:.1} frames/s (goal: 7,200 frames in under 120 s)",
        report.cameras.len(),
        scenario.shoppers.len(),
        report.elapsed_secs,
        report.frames_per_sec
    );
    Ok(())
}
