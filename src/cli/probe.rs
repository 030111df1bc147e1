use std::io::Write;

use anyhow::Context;
use clap::Args;
use walkout_cameras::{Source, StreamConfig, probe};
use walkout_core::CameraId;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The source: a file path, file://, rtsp://, rtsps://, v4l2://, test://PATTERN or pipeline:LAUNCH.
    source: String,
    /// Stop after this many frames (default: the whole stream).
    #[arg(long)]
    frames: Option<u64>,
}

pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let source = Source::parse(&args.source)?;
    let config = StreamConfig::new(CameraId::new("probe"), source);
    let report = probe(config, args.frames);
    let mut out = std::io::stdout().lock();
    super::write_json_line(&mut out, &report)?;
    out.flush().context("writing to stdout")?;
    if report.frames == 0 && !report.errors.is_empty() {
        anyhow::bail!("no frames decoded: {}", report.errors.join("; "));
    }
    Ok(())
}
