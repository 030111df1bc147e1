//! The billing relay alone, as its own process: for the crash test, which kills it mid-flight, and for
//! deployments that run the relay beside the server. `walkout billing-relay` is the same relay behind
//! the main command line.
//!
//! Usage: `walkout-billing-relay --database URL --payments-url URL [--timeout-ms N] [--concurrency N]
//! [--backoff-base-ms N] [--backoff-max-ms N] [--lease-ms N] [--poll-interval-ms N]`, with the HMAC
//! secret in `WALKOUT_PAYMENTS_SECRET` (or the variable named by `--secret-env`).

use std::process::ExitCode;

use serde_json::{Map, Value};
use walkout_api::billing::RelayConfig;
use walkout_api::signing::Secret;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("walkout-billing-relay: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut database = None;
    let mut secret_env = "WALKOUT_PAYMENTS_SECRET".to_string();
    let mut fields = Map::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument `{flag}`"))?;
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        match name {
            "database" => database = Some(value),
            "secret-env" => secret_env = value,
            _ => {
                // Numbers stay numbers; RelayConfig rejects any field it does not know.
                let value = value
                    .parse::<u64>()
                    .map_or(Value::String(value), Value::from);
                fields.insert(name.replace('-', "_"), value);
            }
        }
    }
    let database = database.ok_or("--database URL is required")?;
    let config: RelayConfig =
        serde_json::from_value(Value::Object(fields)).map_err(|e| format!("options: {e}"))?;
    let secret = Secret::from_env(&secret_env).map_err(|e| e.to_string())?;
    walkout_api::billing::relay::run_blocking(&database, config, secret).map_err(|e| e.to_string())
}
