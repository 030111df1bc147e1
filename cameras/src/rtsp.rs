use std::path::PathBuf;
use std::thread::JoinHandle;

use gstreamer::glib;
use gstreamer_rtsp_server as gst_rtsp_server;
use gstreamer_rtsp_server::gio;
use gstreamer_rtsp_server::prelude::*;

use crate::CameraError;

/// What an [`RtspServer`] mount streams. Video goes out as H.264 (x264, zero-latency tuning) unless the
/// launch line is your own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtspMedia {
    /// GStreamer's live test pattern (`smpte`, `ball`, ...) at the given size and rate.
    TestPattern {
        pattern: String,
        width: u32,
        height: u32,
        fps: u32,
    },
    /// A local file in any format GStreamer decodes, streamed in real time, re-encoded as H.264.
    File { path: PathBuf },
    /// The same file sent as Motion JPEG (RTP/JPEG) instead of H.264.
    FileMjpeg { path: PathBuf },
    /// A launch line of your own; its payloader must be named `pay0`.
    Launch(String),
}

impl RtspMedia {
    pub fn test_pattern(pattern: &str, width: u32, height: u32, fps: u32) -> Self {
        RtspMedia::TestPattern {
            pattern: pattern.to_string(),
            width,
            height,
            fps,
        }
    }

    fn launch(&self) -> String {
        const H264: &str = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 \
                            ! rtph264pay name=pay0 pt=96 config-interval=1";
        match self {
            RtspMedia::TestPattern {
                pattern,
                width,
                height,
                fps,
            } => format!(
                "( videotestsrc is-live=true pattern={pattern} \
                 ! video/x-raw,width={width},height={height},framerate={fps}/1 \
                 ! videoconvert ! video/x-raw,format=I420 ! {H264} )"
            ),
            RtspMedia::File { path } => format!(
                "( filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 ! {H264} )",
                quote(path)
            ),
            RtspMedia::FileMjpeg { path } => format!(
                // jpegenc must see I420: RTP/JPEG cannot carry the 4:4:4 JPEGs it makes from RGB.
                "( filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=I420 ! jpegenc \
                 ! rtpjpegpay name=pay0 pt=26 )",
                quote(path)
            ),
            RtspMedia::Launch(launch) => format!("( {launch} )"),
        }
    }
}

fn quote(path: &std::path::Path) -> String {
    let text = path
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("\"{text}\"")
}

/// An RTSP server on loopback, for tests and demos: each mount is served at
/// `rtsp://127.0.0.1:PORT/NAME`.
///
/// It runs a GLib main loop on a thread of its own. [`RtspServer::stop`] closes every client connection
/// and the listening socket, as a camera does when it loses power; [`RtspServer::restart`] brings it back
/// on the same port.
pub struct RtspServer {
    port: u16,
    mounts: Vec<(String, RtspMedia)>,
    credentials: Option<(String, String)>,
    running: Option<Running>,
}

struct Running {
    server: gst_rtsp_server::RTSPServer,
    source: glib::Source,
    main_loop: glib::MainLoop,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RtspServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspServer")
            .field("port", &self.port)
            .field("mounts", &self.mounts)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .field("running", &self.running.is_some())
            .finish()
    }
}

impl RtspServer {
    /// Starts serving `mounts` (name, media) on `port`; port 0 picks a free one.
    pub fn start(port: u16, mounts: Vec<(String, RtspMedia)>) -> Result<Self, CameraError> {
        Self::start_with_credentials(port, mounts, None)
    }

    /// Like [`RtspServer::start`], but every mount asks for HTTP basic credentials `(user, password)`, as
    /// most IP cameras do.
    pub fn start_with_credentials(
        port: u16,
        mounts: Vec<(String, RtspMedia)>,
        credentials: Option<(String, String)>,
    ) -> Result<Self, CameraError> {
        crate::init()?;
        let mut server = RtspServer {
            port,
            mounts,
            credentials,
            running: None,
        };
        server.restart()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of a mount (without credentials).
    pub fn url(&self, name: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{name}", self.port)
    }

    /// The URL of a mount with the given credentials in it, as a camera's configuration would hold them.
    pub fn url_with_credentials(&self, name: &str, user: &str, password: &str) -> String {
        format!("rtsp://{user}:{password}@127.0.0.1:{}/{name}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts the server again on the same port (a no-op when it runs).
    pub fn restart(&mut self) -> Result<(), CameraError> {
        if self.running.is_some() {
            return Ok(());
        }
        let fail = |message: String| CameraError::RtspServer(message);
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&self.port.to_string());
        let mount_points = server
            .mount_points()
            .ok_or_else(|| fail("the server has no mount points".into()))?;
        const ROLE: &str = "camera-user";
        if let Some((user, password)) = &self.credentials {
            let auth = gst_rtsp_server::RTSPAuth::new();
            let token = gst_rtsp_server::RTSPToken::builder()
                .field(
                    gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE.as_str(),
                    ROLE,
                )
                .build();
            auth.add_basic(
                gst_rtsp_server::RTSPAuth::make_basic(user, password).as_str(),
                &token,
            );
            server.set_auth(Some(&auth));
        }
        for (name, media) in &self.mounts {
            let factory = gst_rtsp_server::RTSPMediaFactory::new();
            factory.set_launch(&media.launch());
            // Live media is shared by every client, as a camera is; a file starts from the beginning for each
            // client, so that a camera that reconnects after the end sees it again.
            factory.set_shared(!matches!(
                media,
                RtspMedia::File { .. } | RtspMedia::FileMjpeg { .. }
            ));
            if self.credentials.is_some() {
                factory.add_role_from_structure(
                    &gstreamer::Structure::builder(ROLE)
                        .field(
                            gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS.as_str(),
                            true,
                        )
                        .field(
                            gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT.as_str(),
                            true,
                        )
                        .build(),
                );
            }
            mount_points.add_factory(&format!("/{name}"), factory);
        }
        let context = glib::MainContext::new();
        let source = server
            .create_source(None::<&gio::Cancellable>)
            .map_err(|e| fail(format!("cannot listen on 127.0.0.1:{}: {e}", self.port)))?;
        source.attach(Some(&context));
        let bound = server.bound_port();
        if bound <= 0 {
            source.destroy();
            return Err(fail(format!("not listening on port {}", self.port)));
        }
        self.port = u16::try_from(bound).map_err(|e| fail(e.to_string()))?;
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let loop_for_thread = main_loop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("rtsp-server-{}", self.port))
            .spawn(move || {
                let result = context.with_thread_default(|| loop_for_thread.run());
                if result.is_err() {
                    tracing::error!("RTSP server: the main context is owned by another thread");
                }
            })
            .map_err(|e| fail(e.to_string()))?;
        tracing::info!(
            port = self.port,
            mounts = self.mounts.len(),
            "RTSP server started"
        );
        self.running = Some(Running {
            server,
            source,
            main_loop,
            thread: Some(thread),
        });
        Ok(())
    }

    /// Drops every client and stops listening; the port is free when this returns.
    pub fn stop(&mut self) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        running.source.destroy();
        running
            .server
            .client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        running.main_loop.quit();
        if let Some(thread) = running.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("RTSP server thread panicked");
        }
        tracing::info!(port = self.port, "RTSP server stopped");
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
    }
}
