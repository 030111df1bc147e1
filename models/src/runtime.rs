use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::ep;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// An execution provider a deployment asks for. Order in [`RuntimeConfig::providers`] is preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ExecutionProvider {
    Cpu,
    Cuda {
        #[serde(default)]
        device_id: i32,
    },
    TensorRt {
        #[serde(default)]
        device_id: i32,
        /// Half-precision engines: faster, slightly less exact.
        #[serde(default)]
        fp16: bool,
        /// Where built engines are cached across restarts (building one takes minutes).
        #[serde(default)]
        engine_cache_dir: Option<PathBuf>,
    },
}

impl ExecutionProvider {
    pub fn name(&self) -> &'static str {
        match self {
            ExecutionProvider::Cpu => "cpu",
            ExecutionProvider::Cuda { .. } => "cuda",
            ExecutionProvider::TensorRt { .. } => "tensorrt",
        }
    }

    /// Parses the command line's short form: `cpu`, `cuda`, `cuda:1`, `tensorrt`, `tensorrt:0`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, device) = match text.split_once(':') {
            Some((name, device)) => {
                let device_id = device.parse::<i32>().map_err(|_| {
                    format!("execution provider `{text}`: device `{device}` is not a number")
                })?;
                (name, device_id)
            }
            None => (text, 0),
        };
        match name.to_ascii_lowercase().as_str() {
            "cpu" => Ok(ExecutionProvider::Cpu),
            "cuda" => Ok(ExecutionProvider::Cuda { device_id: device }),
            "tensorrt" | "trt" => Ok(ExecutionProvider::TensorRt {
                device_id: device,
                fp16: false,
                engine_cache_dir: None,
            }),
            other => Err(format!(
                "unknown execution provider `{other}` (expected cpu, cuda or tensorrt)"
            )),
        }
    }

    fn dispatch(&self) -> ep::ExecutionProviderDispatch {
        match self {
            ExecutionProvider::Cpu => ep::CPU::default().build(),
            ExecutionProvider::Cuda { device_id } => {
                ep::CUDA::default().with_device_id(*device_id).build()
            }
            ExecutionProvider::TensorRt {
                device_id,
                fp16,
                engine_cache_dir,
            } => {
                let mut trt = ep::TensorRT::default()
                    .with_device_id(*device_id)
                    .with_fp16(*fp16);
                if let Some(dir) = engine_cache_dir {
                    trt = trt
                        .with_engine_cache(true)
                        .with_engine_cache_path(dir.display());
                }
                trt.build()
            }
        }
        .error_on_failure()
    }
}

/// How ONNX Runtime is loaded and how sessions run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Path of `libonnxruntime.so`; `ORT_DYLIB_PATH` when unset.
    pub library: Option<PathBuf>,
    /// Providers in order of preference; the CPU is always the last resort.
    pub providers: Vec<ExecutionProvider>,
    /// Threads inside one operator (0: ONNX Runtime's default, one per core).
    pub intra_threads: usize,
    /// Threads across independent operators (0: ONNX Runtime's default).
    pub inter_threads: usize,
    /// Let ONNX Runtime's threads spin between operators instead of sleeping. Measured on 2 cores with
    /// yolox_nano: bare inference 258 vs 170 frames/s, and still 191 vs 156 with decoding on a second
    /// thread, so it stays on unless a deployment finds otherwise.
    pub spin: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            library: None,
            providers: vec![ExecutionProvider::Cpu],
            intra_threads: 0,
            inter_threads: 0,
            spin: true,
        }
    }
}

/// The library path `ORT_DYLIB_PATH` names, if it is set.
pub fn runtime_library_from_env() -> Option<PathBuf> {
    std::env::var_os("ORT_DYLIB_PATH")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

struct LoadedRuntime {
    library: PathBuf,
    environment: Environment,
}

static RUNTIME: OnceLock<LoadedRuntime> = OnceLock::new();
static RUNTIME_INIT: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime from `library` (or `ORT_DYLIB_PATH`) once per process; later calls with the same
/// library are free, and a different library is a [`ModelError::RuntimeConflict`].
pub fn init_runtime(library: Option<&Path>) -> Result<&'static Environment, ModelError> {
    let requested = library
        .map(Path::to_path_buf)
        .or_else(runtime_library_from_env)
        .ok_or(ModelError::RuntimeNotConfigured)?;
    let _guard = RUNTIME_INIT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(loaded) = RUNTIME.get() {
        if library.is_some() && !same_file(&loaded.library, &requested) {
            return Err(ModelError::RuntimeConflict {
                loaded: loaded.library.clone(),
                requested,
            });
        }
        return Ok(&loaded.environment);
    }
    if !requested.is_file() {
        return Err(ModelError::RuntimeMissing { path: requested });
    }
    let load_error = |message: String| ModelError::RuntimeLoad {
        path: requested.clone(),
        message,
    };
    let environment = ort::init_from(&requested)
        .map_err(|e| load_error(e.to_string()))?
        .with_name("walkout")
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    let loaded = RUNTIME.get_or_init(|| LoadedRuntime {
        library: requested,
        environment,
    });
    Ok(&loaded.environment)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Builds a session on the first requested provider that registers, falling back to the CPU, and says in
/// one log line which provider actually runs.
pub(crate) fn build_session(
    config: &RuntimeConfig,
    model: &Path,
) -> Result<(Session, &'static str), ModelError> {
    let environment = init_runtime(config.library.as_deref())?;
    let load_error = |message: String| ModelError::ModelLoad {
        path: model.to_path_buf(),
        message,
    };
    let mut builder: SessionBuilder = Session::builder(environment)
        .map_err(|e| load_error(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| load_error(e.to_string()))?;
    if config.intra_threads > 0 {
        builder = builder
            .with_intra_threads(config.intra_threads)
            .map_err(|e| load_error(e.to_string()))?;
    }
    builder = builder
        .with_intra_op_spinning(config.spin)
        .map_err(|e| load_error(e.to_string()))?
        .with_inter_op_spinning(config.spin)
        .map_err(|e| load_error(e.to_string()))?;
    if config.inter_threads > 0 {
        builder = builder
            .with_inter_threads(config.inter_threads)
            .map_err(|e| load_error(e.to_string()))?;
    }
    let mut active = "cpu";
    let mut refused = Vec::new();
    for provider in &config.providers {
        if *provider == ExecutionProvider::Cpu {
            break;
        }
        match provider.dispatch().register(&mut builder) {
            Ok(()) => {
                active = provider.name();
                break;
            }
            Err(err) => refused.push(format!("{}: {err}", provider.name())),
        }
    }
    let session = builder
        .commit_from_file(model)
        .map_err(|e| load_error(e.to_string()))?;
    let requested: Vec<&str> = config
        .providers
        .iter()
        .map(ExecutionProvider::name)
        .collect();
    if refused.is_empty() {
        tracing::info!(model = %model.display(), provider = active, "inference runs on {active}");
    } else {
        tracing::warn!(
            model = %model.display(),
            provider = active,
            ?requested,
            unavailable = %refused.join("; "),
            "inference runs on {active}: the requested providers are not available"
        );
    }
    Ok((session, active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_provider_short_forms() {
        assert_eq!(ExecutionProvider::parse("cpu"), Ok(ExecutionProvider::Cpu));
        assert_eq!(
            ExecutionProvider::parse("cuda:1"),
            Ok(ExecutionProvider::Cuda { device_id: 1 })
        );
        assert!(matches!(
            ExecutionProvider::parse("tensorrt"),
            Ok(ExecutionProvider::TensorRt { device_id: 0, .. })
        ));
        assert!(ExecutionProvider::parse("tpu").unwrap_err().contains("tpu"));
        assert!(
            ExecutionProvider::parse("cuda:x")
                .unwrap_err()
                .contains("`x`")
        );
    }
}
