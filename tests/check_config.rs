//! `walkout check-config` on the checked-in store configurations.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn config(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

#[test]
fn the_demo_store_is_fully_watched() {
    let output = walkout()
        .arg("check-config")
        .arg("--config")
        .arg(config("demo-store.toml"))
        .env("WALKOUT_PAYMENTS_SECRET", "demo-secret-0123456789")
        .env("WALKOUT_ADMIN_PASSWORD", "demo-password")
        .env("WALKOUT_INGEST_KEY", "demo-ingest-key-0123456789")
        .env("WALKOUT_APP_KEY", "demo-app-key-0123456789")
        .env("WALKOUT_CHECKIN_SECRET", "demo-check-in-secret-0123456789")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let summary = stdout(&output);
    assert!(
        summary.contains("4 cameras, 48 slots, 48 watched"),
        "{summary}"
    );
}

#[test]
fn a_missing_secret_is_named_and_never_a_default() {
    let output = walkout()
        .arg("check-config")
        .arg("--config")
        .arg(config("store.template.toml"))
        .env_remove("WALKOUT_PAYMENTS_SECRET")
        .env("WALKOUT_ADMIN_PASSWORD", "demo-password")
        .env("WALKOUT_INGEST_KEY", "demo-ingest-key-0123456789")
        .env("WALKOUT_APP_KEY", "demo-app-key-0123456789")
        .env("WALKOUT_CHECKIN_SECRET", "demo-check-in-secret-0123456789")
        .output()
        .unwrap();
    assert_clean_failure(&output, "WALKOUT_PAYMENTS_SECRET");
    assert_eq!(
        stderr(&output).matches("is not set").count(),
        1,
        "reported once: {}",
        stderr(&output)
    );
}
