//! `walkout payments-sandbox`: a stand-in for the payments service, for the demo and the tests.

use std::net::SocketAddr;

use clap::Args;
use walkout_api::sandbox::{FailurePlan, SandboxConfig};
use walkout_api::signing::Secret;

#[derive(Debug, Args)]
pub struct PaymentsSandboxArgs {
    /// Address to listen on; charges are posted to /charges and listed by GET /charges.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// The environment variable holding the HMAC secret shared with Walkout.
    #[arg(long, default_value = "WALKOUT_PAYMENTS_SECRET")]
    secret_env: String,
    /// Largest accepted distance between a request's timestamp and this clock, in seconds.
    #[arg(long, default_value_t = 300)]
    tolerance_secs: i64,
    /// Share of charge calls answered 503 without charging, in percent.
    #[arg(long, default_value_t = 0)]
    server_error_percent: u32,
    /// Share of charge calls that charge and answer only after --slow-ms, in percent.
    #[arg(long, default_value_t = 0)]
    slow_percent: u32,
    /// How late a slow call answers, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    slow_ms: u64,
    /// Share of charge calls that charge and then drop the connection unanswered, in percent.
    #[arg(long, default_value_t = 0)]
    drop_after_commit_percent: u32,
    /// Seed of the failure draw: the same seed fails the same calls.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: PaymentsSandboxArgs) -> anyhow::Result<()> {
    let mut config = SandboxConfig::new(Secret::from_env(&args.secret_env)?);
    config.tolerance_secs = args.tolerance_secs;
    config.failures = FailurePlan {
        server_error_percent: args.server_error_percent,
        slow_percent: args.slow_percent,
        slow_ms: args.slow_ms,
        drop_after_commit_percent: args.drop_after_commit_percent,
        seed: args.seed,
    };
    walkout_api::sandbox::run_blocking(args.listen, config)?;
    Ok(())
}
