use std::io::Write;

use anyhow::Context;
use clap::Args;
use walkout_cameras::{RtspTransport, Source, StreamConfig, probe};
use walkout_core::CameraId;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The source: a file path, file://, rtsp://, rtsps://, v4l2://, test://PATTERN or pipeline:LAUNCH.
    source: String,
    /// Stop after this many frames (default: the whole stream; give it for live sources).
    #[arg(long)]
    frames: Option<u64>,
    /// RTSP transport.
    #[arg(long, value_parser = ["tcp", "udp"], default_value = "tcp")]
    transport: String,
    /// RTSP jitter-buffer latency in milliseconds.
    #[arg(long, default_value_t = 200)]
    latency_ms: u32,
}

pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let source = Source::parse(&args.source)?;
    let mut config = StreamConfig::new(CameraId::new("probe"), source);
    config.options.rtsp_transport = match args.transport.as_str() {
        "udp" => RtspTransport::Udp,
        _ => RtspTransport::Tcp,
    };
    config.options.rtsp_latency_ms = args.latency_ms;
    let report = probe(config, args.frames);
    let mut out = std::io::stdout().lock();
    super::write_json_line(&mut out, &report)?;
    out.flush().context("writing to stdout")?;
    if report.frames == 0 && !report.errors.is_empty() {
        anyhow::bail!("no frames decoded: {}", report.errors.join("; "));
    }
    Ok(())
}
