//! `walkout serve`'s configuration: one TOML file describing a real store.
//!
//! The store's geometry and planogram use the same format as a scenario's `[store]` section, and cameras
//! the same pose and intrinsics as a scenario's cameras plus the URL to read them from, so a store that
//! was simulated can be configured by copying, and the same validation applies. Every problem is reported
//! at once, each with the path of its field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use walkout_cameras::Source;
use walkout_datasets::Scenario;
use walkout_datasets::scenario::{Camera, Intrinsics, Noise, Store};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The store: its name, currency, floor, shelves with their slots, and gates.
    pub store: StoreSection,
    /// The ceiling cameras.
    pub cameras: Vec<CameraSection>,
    /// The detector.
    pub model: ModelSection,
    /// Where sessions, carts, events and the billing outbox are kept.
    pub database: DatabaseSection,
    /// The payments service that charges the shoppers.
    pub payments: PaymentsSection,
    /// The HTTP server for the dashboard, the app and the sensors.
    #[serde(default)]
    pub http: HttpSection,
    /// Who may use the service: the first operator, and where the machine credentials come from.
    #[serde(default)]
    pub auth: AuthSection,
}

/// Credentials, each read from an environment variable the file names (never from the file itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// The first operator, an admin; created at start, or its password reset to the variable's value.
    pub admin_user: String,
    /// Holds the admin's password (at least 8 characters).
    pub admin_password_env: String,
    /// Holds the API key of the entry gates and the store's sensors (at least 16 characters).
    pub ingest_key_env: String,
    /// Holds the API key of the mobile app's backend (at least 16 characters).
    pub app_key_env: String,
    /// Holds the HMAC secret that signs the app's check-in QR tokens (at least 16 characters).
    pub check_in_secret_env: String,
    /// How long a check-in token stays valid, seconds.
    pub check_in_ttl_secs: i64,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            admin_user: "admin".into(),
            admin_password_env: "WALKOUT_ADMIN_PASSWORD".into(),
            ingest_key_env: "WALKOUT_INGEST_KEY".into(),
            app_key_env: "WALKOUT_APP_KEY".into(),
            check_in_secret_env: "WALKOUT_CHECKIN_SECRET".into(),
            check_in_ttl_secs: 120,
        }
    }
}

/// The secret values a configuration names, read from the environment.
#[derive(Clone)]
pub struct Secrets {
    pub payments: String,
    pub admin_password: String,
    pub ingest_key: String,
    pub app_key: String,
    pub check_in: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(***)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// Shown on the dashboard and receipts.
    pub name: String,
    /// ISO 4217 code; every price is in this currency's minor unit.
    pub currency: String,
    /// Floor, shelves (with slots: SKU, price, stock) and gates, as in a scenario.
    pub layout: Store,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSection {
    /// Unique id, e.g. `"aisle-2-north"`.
    pub id: String,
    /// Where to read it: `rtsp://user:password@host/path`, a file, `v4l2://`, … (see `walkout probe`).
    pub url: String,
    /// The optical centre in store metres `[x, y, z]`.
    pub position_m: [f64; 3],
    /// The store point the optical axis passes through, metres.
    pub look_at_m: [f64; 3],
    /// Focal lengths and principal point in pixels, at `resolution_px`.
    pub intrinsics: Intrinsics,
    /// The image size the detector receives (GStreamer scales to it), pixels.
    pub resolution_px: [u32; 2],
    /// Frames per second the detector receives (GStreamer rate-converts to it).
    pub fps: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// The detector's manifest, relative to this file.
    pub manifest: PathBuf,
    /// Execution providers in order of preference: cpu, cuda[:N], tensorrt[:N].
    #[serde(default = "default_providers")]
    pub providers: Vec<String>,
}

fn default_providers() -> Vec<String> {
    vec!["cpu".into()]
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://PATH` (the default kind) or `postgres://…`; `DATABASE_URL` overrides it.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsSection {
    /// The payments service's charge endpoint.
    pub url: String,
    /// The environment variable holding the HMAC secret shared with the payments service (never the
    /// secret itself: it does not belong in a file that gets copied around).
    pub secret_env: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// Why a configuration was refused: every problem, each at its field's path.
#[derive(Debug, thiserror::Error)]
#[error("configuration `{}` has {} problem(s):\n{}", path.display(), problems.len(), problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<String>,
}

impl ServeConfig {
    /// Reads and validates a configuration file. `env` looks up environment variables (so tests need not
    /// change the process environment).
    pub fn load(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServeConfig, ConfigError> {
        let fail = |problems: Vec<String>| ConfigError {
            path: path.to_path_buf(),
            problems,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(vec![format!("cannot read the file: {e}")]))?;
        let mut config: ServeConfig = toml::from_str(&text)
            .map_err(|e| fail(vec![e.to_string().trim().replace('\n', " ")]))?;
        if let Some(dir) = path.parent()
            && config.model.manifest.is_relative()
        {
            config.model.manifest = dir.join(&config.model.manifest);
        }
        let problems = config.problems(env);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    /// The secrets the configuration names, from `env`; [`ServeConfig::load`] has checked they are set.
    pub fn secrets(&self, env: &dyn Fn(&str) -> Option<String>) -> Secrets {
        let get = |name: &str| env(name).unwrap_or_default();
        Secrets {
            payments: get(&self.payments.secret_env),
            admin_password: get(&self.auth.admin_password_env),
            ingest_key: get(&self.auth.ingest_key_env),
            app_key: get(&self.auth.app_key_env),
            check_in: get(&self.auth.check_in_secret_env),
        }
    }

    /// The database URL: `DATABASE_URL` when set, else the file's.
    pub fn database_url(&self, env: &dyn Fn(&str) -> Option<String>) -> String {
        env("DATABASE_URL").unwrap_or_else(|| self.database.url.clone())
    }

    /// The store and cameras as a scenario without shoppers: the form the pipeline's wiring takes.
    pub fn as_scenario(&self) -> Scenario {
        Scenario {
            name: self.store.name.clone(),
            seed: 0,
            duration_secs: 1.0,
            store: self.store.layout.clone(),
            cameras: self
                .cameras
                .iter()
                .map(|c| Camera {
                    id: c.id.clone(),
                    position_m: c.position_m,
                    look_at_m: c.look_at_m,
                    intrinsics: c.intrinsics,
                    resolution_px: c.resolution_px,
                    fps: c.fps,
                })
                .collect(),
            shoppers: Vec::new(),
            noise: Noise::default(),
        }
    }

    fn problems(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let mut problems = Vec::new();
        // the store and cameras: the scenario's own checks, paths rewritten to this file's layout
        if let Err(errors) = self.as_scenario().validate() {
            for e in errors {
                let path = e.path.replacen("store.", "store.layout.", 1);
                problems.push(format!("{path}: {}", e.message));
            }
        }
        let currency = &self.store.currency;
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            problems.push(format!(
                "store.currency: `{currency}` is not an ISO 4217 code like EUR"
            ));
        }
        if self.cameras.is_empty() {
            problems.push("cameras: a store needs at least one camera".into());
        }
        for (i, camera) in self.cameras.iter().enumerate() {
            if let Err(e) = Source::parse(&camera.url) {
                problems.push(format!("cameras[{i}].url: {e}"));
            }
        }
        if !self.model.manifest.is_file() {
            problems.push(format!(
                "model.manifest: `{}` does not exist",
                self.model.manifest.display()
            ));
        }
        for (i, provider) in self.model.providers.iter().enumerate() {
            if let Err(e) = walkout_models::ExecutionProvider::parse(provider) {
                problems.push(format!("model.providers[{i}]: {e}"));
            }
        }
        let url = env("DATABASE_URL").unwrap_or_else(|| self.database.url.clone());
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            problems.push(
                "database.url: expected sqlite://PATH or postgres://… (or DATABASE_URL)".into(),
            );
        }
        if !(self.payments.url.starts_with("http://") || self.payments.url.starts_with("https://"))
        {
            problems.push(format!(
                "payments.url: `{}` is not an http(s) URL",
                self.payments.url
            ));
        }
        let auth = &self.auth;
        for (field, var, min) in [
            ("payments.secret_env", &self.payments.secret_env, 16),
            ("auth.admin_password_env", &auth.admin_password_env, 8),
            ("auth.ingest_key_env", &auth.ingest_key_env, 16),
            ("auth.app_key_env", &auth.app_key_env, 16),
            ("auth.check_in_secret_env", &auth.check_in_secret_env, 16),
        ] {
            match env(var) {
                Some(secret) if secret.len() >= min => {}
                Some(_) => problems.push(format!(
                    "{field}: `{var}` holds a value shorter than {min} characters"
                )),
                None => problems.push(format!(
                    "{field}: the environment variable `{var}` is not set"
                )),
            }
        }
        if auth.admin_user.trim().is_empty() {
            problems.push("auth.admin_user: must not be empty".into());
        }
        if !(10..=3600).contains(&auth.check_in_ttl_secs) {
            problems.push(format!(
                "auth.check_in_ttl_secs: {} is outside 10..=3600",
                auth.check_in_ttl_secs
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(relative: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
    }

    fn env_with_secret(name: &str) -> Option<String> {
        name.starts_with("WALKOUT_")
            .then(|| "0123456789abcdef0123".to_string())
    }

    #[test]
    fn the_checked_in_examples_are_valid() {
        for file in ["config/demo-store.toml", "config/store.template.toml"] {
            let config =
                ServeConfig::load(&repo(file), &env_with_secret).unwrap_or_else(|e| panic!("{e}"));
            assert!(!config.cameras.is_empty(), "{file}");
            crate::wiring::store_config(&config.as_scenario())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = std::fs::read_to_string(repo("config/store.template.toml"))
            .unwrap()
            .replace("currency = \"EUR\"", "currency = \"euro\"")
            .replace("price_minor = 129", "price_minor = -129")
            .replace("rtsp://", "gopher://")
            .replace("postgres://", "mysql://");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.toml");
        std::fs::write(&path, text).unwrap();
        let err = ServeConfig::load(&path, &|_| None).unwrap_err();
        let message = err.to_string();
        for needle in [
            "store.currency",
            "price_minor",
            "cameras[0].url",
            "database.url",
            "model.manifest",
            "payments.secret_env",
            "auth.app_key_env",
        ] {
            assert!(
                message.contains(needle),
                "`{needle}` missing from:\n{message}"
            );
        }
        assert!(err.problems.len() >= 6, "{message}");
    }
}
