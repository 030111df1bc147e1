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
    // a slot is watched by one camera; in a store with lane scales others may lend their view of it
    let watched = store
        .cameras
        .iter()
        .flat_map(|c| c.slots.iter().filter(|s| !s.lends_only))
        .count();
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
        let ids = |lends: bool| -> Vec<&str> {
            camera
                .slots
                .iter()
                .filter(|s| s.lends_only == lends)
                .map(|s| s.slot.as_str())
                .collect()
        };
        let (watches, lends) = (ids(false), ids(true));
        println!(
            "  camera {}: watches {}{}",
            camera.id,
            if watches.is_empty() {
                "no slots".to_string()
            } else {
                watches.join(", ")
            },
            if lends.is_empty() {
                String::new()
            } else {
                format!("; lends its view of {}", lends.join(", "))
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
