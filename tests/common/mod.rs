//! Helpers shared by the end-to-end tests of the `walkout` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file from `../shared`; a missing one fails the test with its path, never skips it.
pub fn shared(relative: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    assert!(
        path.exists(),
        "test data `{}` is missing: the tests need ../shared beside the repository",
        path.display()
    );
    path
}

/// A manifest shipped in the repository.
pub fn manifest(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models/manifests")
        .join(format!("{name}.toml"))
}

/// The ONNX Runtime library `make test` installs; tests fail clearly without it.
pub fn ort_library() -> PathBuf {
    let path = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .expect("ORT_DYLIB_PATH is not set: run the tests with `make test`, which installs ONNX Runtime");
    assert!(
        path.is_file(),
        "ORT_DYLIB_PATH names `{}`, which does not exist: run `make setup`",
        path.display()
    );
    path
}

pub fn walkout() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_walkout"));
    command.env("RUST_LOG", "warn");
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A JSON file the binary wrote (the metrics of `walkout eval --json`), failing the test with its path.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a failing run explained itself on stderr and did not panic.
pub fn assert_clean_failure(output: &Output, needle: &str) {
    let err = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(!err.contains("panicked"), "the command panicked: {err}");
    assert!(
        err.contains(needle),
        "stderr does not mention `{needle}`: {err}"
    );
}

/// Renders a preset's scene with `walkout simulate` into `out` at `resolution` (`WxH`), with every slot
/// on a lane scale when `scales`; fails the test with simulate's stderr when it fails.
pub fn simulate(out: &Path, preset: &str, seed: u64, resolution: &str, scales: bool) {
    let mut command = walkout();
    command.args(["simulate", "--preset", preset, "--seed", &seed.to_string()]);
    command.args(["--resolution", resolution]);
    if scales {
        command.arg("--scales");
    }
    let output = command
        .arg("--out")
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("walkout simulate: {e}"));
    assert!(
        output.status.success(),
        "walkout simulate: {}",
        stderr(&output)
    );
}
