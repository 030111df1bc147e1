//! `walkout billing-relay`: drains the charge outbox into the payments service until Ctrl-C or SIGTERM.

use anyhow::Context;
use clap::Args;
use walkout_api::billing::RelayConfig;
use walkout_api::signing::Secret;

#[derive(Debug, Args)]
pub struct BillingRelayArgs {
    /// The store's database: sqlite://PATH or postgres://… (the same one `walkout serve` writes).
    #[arg(long, env = "DATABASE_URL")]
    database: String,
    /// The payments service's charge endpoint, e.g. http://127.0.0.1:9090/charges.
    #[arg(long)]
    payments: String,
    /// The environment variable holding the HMAC secret shared with the payments service.
    #[arg(long, default_value = "WALKOUT_PAYMENTS_SECRET")]
    secret_env: String,
    /// Longest wait for one charge call, in milliseconds.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
    /// Charge calls in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Delay before the first retry in milliseconds; doubles each attempt, with jitter.
    #[arg(long, default_value_t = 500)]
    backoff_base_ms: u64,
    /// Longest delay between two attempts, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    backoff_max_ms: u64,
    /// How long a claimed charge stays reserved, in milliseconds; a killed relay's charges are sent again
    /// after it. Must exceed --timeout-ms.
    #[arg(long, default_value_t = 30_000)]
    lease_ms: u64,
    /// How often the outbox is checked, in milliseconds.
    #[arg(long, default_value_t = 250)]
    poll_interval_ms: u64,
}

pub fn run(args: BillingRelayArgs) -> anyhow::Result<()> {
    let secret = Secret::from_env(&args.secret_env)?;
    let config = RelayConfig {
        payments_url: args.payments,
        timeout_ms: args.timeout_ms,
        concurrency: args.concurrency,
        backoff_base_ms: args.backoff_base_ms,
        backoff_max_ms: args.backoff_max_ms,
        lease_ms: args.lease_ms,
        poll_interval_ms: args.poll_interval_ms,
    };
    if let Err(problems) = config.validate() {
        anyhow::bail!("{}", problems.join("\n"));
    }
    walkout_api::billing::relay::run_blocking(&args.database, config, secret)
        .context("billing relay")
}
