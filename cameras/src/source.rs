use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::CameraError;

/// Where a camera's video comes from, parsed from the one string a store's configuration gives.
///
/// | string | source |
/// |---|---|
/// | `rtsp://user:pass@host/path`, `rtsps://…` | an IP camera |
/// | `/path/video.mp4`, `file:///path/video.mp4` | a local file in any container GStreamer can demux |
/// | `v4l2:///dev/video0` | a local capture device |
/// | `test://smpte?num-buffers=100&live=true` | GStreamer's test pattern |
/// | `pipeline:<launch line>` | a custom pipeline that ends in raw video, for unusual cameras |
#[derive(Clone, PartialEq, Eq)]
pub enum Source {
    Rtsp {
        url: Url,
    },
    File {
        path: PathBuf,
    },
    V4l2 {
        device: PathBuf,
    },
    TestPattern {
        pattern: String,
        num_buffers: Option<u32>,
        is_live: bool,
    },
    Pipeline {
        launch: String,
    },
}

/// How RTSP carries the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    /// Interleaved in the RTSP TCP connection: survives NAT and firewalls, never loses packets.
    #[default]
    Tcp,
    /// RTP over UDP: lower latency on a clean LAN, packets may be lost.
    Udp,
}

/// Per-camera options that shape the source part of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceOptions {
    /// RTSP transport; TCP by default.
    pub rtsp_transport: RtspTransport,
    /// RTSP jitter-buffer latency in milliseconds.
    pub rtsp_latency_ms: u32,
    /// Start a file again from the beginning when it ends (demos).
    pub loop_file: bool,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            rtsp_transport: RtspTransport::Tcp,
            rtsp_latency_ms: 200,
            loop_file: false,
        }
    }
}

impl Source {
    pub fn parse(text: &str) -> Result<Source, CameraError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CameraError::InvalidSource {
                source_uri: String::new(),
                reason: "the source is empty".into(),
            });
        }
        if let Some(launch) = text.strip_prefix("pipeline:") {
            let launch = launch.trim();
            if launch.is_empty() {
                return Err(invalid(text, "the custom pipeline is empty"));
            }
            return Ok(Source::Pipeline {
                launch: launch.to_string(),
            });
        }
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(Source::File {
                path: PathBuf::from(text),
            });
        };
        let url = Url::parse(text).map_err(|e| invalid(&redact_text(text), &e.to_string()))?;
        match scheme.to_ascii_lowercase().as_str() {
            "rtsp" | "rtsps" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid(&redact_url(&url), "the RTSP URL has no host"));
                }
                Ok(Source::Rtsp { url })
            }
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| invalid(text, "not a local file URI"))?;
                Ok(Source::File { path })
            }
            "v4l2" => {
                let device = if url.path().is_empty() || url.path() == "/" {
                    PathBuf::from("/dev/video0")
                } else {
                    PathBuf::from(url.path())
                };
                Ok(Source::V4l2 { device })
            }
            "test" => {
                let pattern = url.host_str().unwrap_or("smpte").to_string();
                let mut num_buffers = None;
                let mut is_live = false;
                for (key, value) in url.query_pairs() {
                    match key.as_ref() {
                        "num-buffers" => {
                            num_buffers = Some(value.parse().map_err(|_| {
                                invalid(text, &format!("num-buffers `{value}` is not a count"))
                            })?)
                        }
                        "live" => is_live = value == "true" || value == "1",
                        other => {
                            return Err(invalid(
                                text,
                                &format!("unknown test-pattern option `{other}`"),
                            ));
                        }
                    }
                }
                Ok(Source::TestPattern {
                    pattern,
                    num_buffers,
                    is_live,
                })
            }
            other => Err(CameraError::UnknownScheme {
                source_uri: redact_text(text),
                scheme: other.to_string(),
            }),
        }
    }

    /// The source as it may be shown in logs, errors and health output: credentials replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            Source::Rtsp { url } => redact_url(url),
            Source::File { path } => path.display().to_string(),
            Source::V4l2 { device } => format!("v4l2://{}", device.display()),
            Source::TestPattern {
                pattern,
                num_buffers,
                is_live,
            } => {
                let mut text = format!("test://{pattern}?live={is_live}");
                if let Some(n) = num_buffers {
                    text.push_str(&format!("&num-buffers={n}"));
                }
                text
            }
            // a custom pipeline may name an rtspsrc location with credentials
            Source::Pipeline { launch } => {
                format!("pipeline:{}", crate::stream::redact_urls(launch))
            }
        }
    }

    /// Whether frames arrive in real time whatever the consumer does (a camera), as opposed to as fast as
    /// they are read (a file).
    pub fn is_live(&self) -> bool {
        match self {
            Source::Rtsp { .. } | Source::V4l2 { .. } => true,
            Source::TestPattern { is_live, .. } => *is_live,
            Source::File { .. } | Source::Pipeline { .. } => false,
        }
    }

    /// Checks what can be checked before GStreamer runs: a missing file is a clear error at once.
    pub fn check_local(&self) -> Result<(), CameraError> {
        if let Source::File { path } = self
            && !Path::new(path).is_file()
        {
            return Err(CameraError::MissingFile {
                source_uri: self.redacted(),
                path: path.clone(),
            });
        }
        Ok(())
    }

    /// The head of the launch line, up to decoded raw video. Sensitive or awkward-to-quote values (URLs
    /// with credentials, paths with spaces) are not in the text: the element is named `src` and
    /// [`Source::configure_source_element`] sets them as properties after parsing.
    pub(crate) fn launch_head(&self, options: &SourceOptions) -> String {
        match self {
            Source::Rtsp { url } => {
                let protocols = match options.rtsp_transport {
                    RtspTransport::Tcp => "tcp",
                    RtspTransport::Udp => "udp",
                };
                let tls = if url.scheme() == "rtsps" {
                    " tls-validation-flags=generic-error"
                } else {
                    ""
                };
                format!(
                    "rtspsrc name=src protocols={protocols} latency={} tcp-timeout=5000000 timeout=5000000{tls} ! decodebin name=decode",
                    options.rtsp_latency_ms
                )
            }
            Source::File { .. } => "filesrc name=src ! decodebin name=decode".to_string(),
            Source::V4l2 { .. } => "v4l2src name=src ! decodebin name=decode".to_string(),
            Source::TestPattern {
                pattern,
                num_buffers,
                is_live,
            } => {
                let buffers = num_buffers
                    .map(|n| format!(" num-buffers={n}"))
                    .unwrap_or_default();
                format!("videotestsrc name=src pattern={pattern} is-live={is_live}{buffers}")
            }
            Source::Pipeline { launch } => launch.clone(),
        }
    }

    pub(crate) fn source_properties(&self) -> Vec<(&'static str, String)> {
        match self {
            Source::Rtsp { url } => vec![("location", url.to_string())],
            Source::File { path } => vec![("location", path.display().to_string())],
            Source::V4l2 { device } => vec![("device", device.display().to_string())],
            Source::TestPattern { .. } | Source::Pipeline { .. } => Vec::new(),
        }
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({})", self.redacted())
    }
}

fn invalid(source_uri: &str, reason: &str) -> CameraError {
    CameraError::InvalidSource {
        source_uri: source_uri.to_string(),
        reason: reason.to_string(),
    }
}

fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() {
        let _ = shown.set_username("***");
    }
    if shown.password().is_some() {
        let _ = shown.set_password(Some("***"));
    }
    shown.to_string()
}

/// Redacts `user:pass@` from text that may not even parse as a URL.
fn redact_text(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_source() {
        assert!(matches!(
            Source::parse("rtsp://cam.local:8554/aisle").unwrap(),
            Source::Rtsp { .. }
        ));
        assert!(matches!(
            Source::parse("rtsps://cam.local/aisle").unwrap(),
            Source::Rtsp { .. }
        ));
        assert_eq!(
            Source::parse("/videos/a b.mp4").unwrap(),
            Source::File {
                path: PathBuf::from("/videos/a b.mp4")
            }
        );
        assert_eq!(
            Source::parse("file:///videos/a%20b.mp4").unwrap(),
            Source::File {
                path: PathBuf::from("/videos/a b.mp4")
            }
        );
        assert_eq!(
            Source::parse("v4l2:///dev/video2").unwrap(),
            Source::V4l2 {
                device: PathBuf::from("/dev/video2")
            }
        );
        assert_eq!(
            Source::parse("test://ball?num-buffers=10&live=true").unwrap(),
            Source::TestPattern {
                pattern: "ball".into(),
                num_buffers: Some(10),
                is_live: true
            }
        );
        assert_eq!(
            Source::parse("pipeline: videotestsrc num-buffers=5").unwrap(),
            Source::Pipeline {
                launch: "videotestsrc num-buffers=5".into()
            }
        );
    }

    #[test]
    fn unknown_scheme_is_a_typed_error_without_credentials() {
        let err = Source::parse("http://admin:hunter2@cam.local/stream").unwrap_err();
        assert!(matches!(&err, CameraError::UnknownScheme { scheme, .. } if scheme == "http"));
        let message = err.to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!message.contains("admin"), "{message}");
        assert!(err.is_permanent());
    }

    #[test]
    fn credentials_never_show() {
        let source = Source::parse("rtsp://admin:hunter2@10.0.0.7:554/live").unwrap();
        let shown = source.redacted();
        assert_eq!(shown, "rtsp://***:***@10.0.0.7:554/live");
        assert!(!format!("{source:?}").contains("hunter2"));
        // the real URL still reaches rtspsrc
        assert!(source.source_properties()[0].1.contains("hunter2"));
        let custom =
            Source::parse("pipeline:rtspsrc location=rtsp://admin:hunter2@cam/live ! decodebin")
                .unwrap();
        assert!(
            !custom.redacted().contains("hunter2"),
            "{}",
            custom.redacted()
        );
    }

    #[test]
    fn bad_test_options_and_missing_files_are_named() {
        let err = Source::parse("test://smpte?num-buffers=many").unwrap_err();
        assert!(err.to_string().contains("num-buffers `many`"), "{err}");
        let missing = Source::parse("/definitely/not/here.mp4").unwrap();
        let err = missing.check_local().unwrap_err();
        assert!(
            err.to_string().contains("/definitely/not/here.mp4"),
            "{err}"
        );
        assert!(!err.is_permanent());
    }
}
