//! `walkout check-config`: validates a store configuration and shows how the store will be watched.

use std::path::PathBuf;

use clap::Args;

use crate::config::ServeConfig;

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The store's configuration file (see config/store.template.toml).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: CheckConfigArgs) -> anyhow::Result<()> {
    let config = ServeConfig::load(&args.config, &|name| std::env::var(name).ok())?;
    let store = crate::wiring::store_config(&config.as_scenario())?;
    let slots = config.store.layout.slots().count();
    let watched: usize = store.cameras.iter().map(|c| c.slots.len()).sum();
    println!(
        "{}: {} cameras, {slots} slots, {watched} watched",
        config.store.name,
        store.cameras.len()
    );
    println!(
        "  dashboard and app API on http://{}; charges to {}",
        config.http.listen, config.payments.url
    );
    for camera in &store.cameras {
        let ids: Vec<&str> = camera.slots.iter().map(|s| s.slot.as_str()).collect();
        println!(
            "  camera {}: watches {}",
            camera.id,
            if ids.is_empty() {
                "no slots".to_string()
            } else {
                ids.join(", ")
            }
        );
    }
    if watched < slots {
        anyhow::bail!(
            "{} slot(s) are seen whole by no camera: their pick-ups could not be detected",
            slots - watched
        );
    }
    Ok(())
}
