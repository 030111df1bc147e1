use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "the ONNX Runtime library is not configured: set ORT_DYLIB_PATH (or `--ort-library`) to libonnxruntime.so; `make setup` installs it under .cache/ort"
    )]
    RuntimeNotConfigured,
    #[error(
        "the ONNX Runtime library `{path}` does not exist; `make setup` installs it under .cache/ort"
    )]
    RuntimeMissing { path: PathBuf },
    #[error("could not load the ONNX Runtime library `{path}`: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error("ONNX Runtime is already initialised from `{loaded}`, not `{requested}`")]
    RuntimeConflict { loaded: PathBuf, requested: PathBuf },
    #[error("could not read the model manifest `{path}`: {message}")]
    ManifestRead { path: PathBuf, message: String },
    #[error("model manifest `{path}` is invalid:\n  - {}", problems.join("\n  - "))]
    ManifestInvalid {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("the model file `{path}` (named by manifest `{manifest}`) does not exist")]
    ModelMissing { path: PathBuf, manifest: PathBuf },
    #[error("could not load the model `{path}`: {message}")]
    ModelLoad { path: PathBuf, message: String },
    #[error("the model `{path}` does not match its manifest `{manifest}`:\n  - {}", problems.join("\n  - "))]
    ModelMismatch {
        path: PathBuf,
        manifest: PathBuf,
        problems: Vec<String>,
    },
    #[error("inference failed for model `{model}`: {message}")]
    Inference { model: String, message: String },
    #[error("model `{model}` produced an output the `{decoder}` decoder cannot read: {message}")]
    Decode {
        model: String,
        decoder: &'static str,
        message: String,
    },
    #[error("could not read the image `{path}`: {message}")]
    Image { path: PathBuf, message: String },
}
