//! `walkout serve --config store.toml`: runs a real store until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use clap::Args;

use crate::config::ServeConfig;
use crate::serve::{RunningStore, StoreSetup};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The store's configuration (see config/store.template.toml).
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    runtime: super::RuntimeArgs,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let config = ServeConfig::load(&args.config, &env)?;
    let secrets = config.secrets(&env);
    let database_url = config.database_url(&env);
    let mut runtime = args.runtime.config();
    runtime.providers = config
        .model
        .providers
        .iter()
        .filter_map(|p| walkout_models::ExecutionProvider::parse(p).ok())
        .collect();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let store = RunningStore::start(StoreSetup {
            config,
            secrets,
            database_url,
            runtime,
            keep_closed_sessions: false,
        })
        .await?;
        println!("walkout: serving on http://{}/", store.addr);
        walkout_api::shutdown_signal().await;
        tracing::info!("stopping: draining the pipeline and the billing relay");
        store.stop().await;
        anyhow::Ok(())
    })
}
