mod bench;
mod billing;
mod check_config;
mod demo;
mod detect;
pub(crate) mod eval;
mod eval_table;
mod probe;
mod sandbox;
mod serve;
mod simulate;
mod track;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use walkout_models::{ExecutionProvider, RuntimeConfig};

/// The store's own detector (`models/walkout_store/`), the default of every command that runs one on
/// the synthetic store; relative to the repository's root, where the commands are run from.
pub(crate) const SHIPPED_MODEL: &str = "models/walkout_store/walkout_store.toml";

/// Walkout: a checkout-free store. Cameras in, receipts out.
#[derive(Debug, Parser)]
#[command(name = "walkout", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a store from its configuration file: cameras, detector, dashboard, app and gates, billing.
    Serve(serve::ServeArgs),
    /// The whole store, live, on a rendered shop served over RTSP; prints receipts beside the truth.
    Demo(demo::DemoArgs),
    /// Run a detector on a video or an image and print one JSON line per frame.
    Detect(detect::DetectArgs),
    /// Decode a camera source and print what it holds as one JSON object.
    Probe(probe::ProbeArgs),
    /// Track MOTChallenge detections and write MOTChallenge tracks.
    Track(track::TrackArgs),
    /// Make a synthetic store from a preset or a scenario: a rendered dataset, or training frames.
    Simulate(simulate::SimulateArgs),
    /// Run the whole pipeline offline on a rendered dataset and score it against the ground truth.
    Eval(eval::EvalArgs),
    /// Render fresh seeds of each preset, evaluate them, and print the README's accuracy table.
    EvalTable(eval_table::EvalTableArgs),
    /// Validate a store configuration and show which camera watches which slot.
    CheckConfig(check_config::CheckConfigArgs),
    /// Measure throughput against a baseline taken in the same run, and print the figures as JSON.
    Bench(bench::BenchArgs),
    /// Send closed sessions' charges to the payments service, exactly once, until stopped.
    BillingRelay(billing::BillingRelayArgs),
    /// Stand in for the payments service: signed, idempotent charges with injectable failures.
    PaymentsSandbox(sandbox::PaymentsSandboxArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Detect(args) => detect::run(args),
        Command::Probe(args) => probe::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Track(args) => track::run(args),
        Command::Eval(args) => eval::run(args),
        Command::EvalTable(args) => eval_table::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::BillingRelay(args) => billing::run(args),
        Command::PaymentsSandbox(args) => sandbox::run(args),
    }
}

/// Writes JSON lines to stdout; a closed pipe (`walkout detect … | head`) ends the command quietly.
pub(crate) fn write_json_line(
    out: &mut impl std::io::Write,
    value: &impl serde::Serialize,
) -> anyhow::Result<bool> {
    serde_json::to_writer(&mut *out, value)?;
    match out.write_all(b"\n") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How ONNX Runtime is loaded and runs: the same flags on every command that runs a model.
#[derive(Debug, Args)]
pub(crate) struct RuntimeArgs {
    /// The ONNX Runtime library (default: $ORT_DYLIB_PATH).
    #[arg(long, env = "ORT_DYLIB_PATH")]
    ort_library: Option<PathBuf>,
    /// Execution providers in order of preference: cpu, cuda[:DEVICE], tensorrt[:DEVICE].
    #[arg(long = "provider", value_parser = ExecutionProvider::parse, default_value = "cpu")]
    providers: Vec<ExecutionProvider>,
    /// ONNX Runtime intra-op threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Stop ONNX Runtime's threads from spinning between operators (may help when other work shares the cores).
    #[arg(long)]
    no_spin: bool,
}

impl RuntimeArgs {
    pub(crate) fn config(&self) -> RuntimeConfig {
        RuntimeConfig {
            library: self.ort_library.clone(),
            providers: self.providers.clone(),
            intra_threads: self.threads,
            inter_threads: 0,
            spin: !self.no_spin,
        }
    }
}
