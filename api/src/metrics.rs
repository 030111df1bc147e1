//! Prometheus metrics at `/metrics`: requests by route and status, the relay's charges, sessions open
//! and the review queue's depth, and each camera's frame rate and drops.
//!
//! Request counters are updated as requests finish (a middleware); everything else is read when the
//! metrics are scraped, from the relay's counters, the database and the [`LiveStore`](crate::live::LiveStore),
//! so there is no second copy to drift. Each [`Metrics`] has its own registry: tests may build many
//! servers in one process.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::AppState;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    charges: IntGaugeVec,
    sessions_open: IntGauge,
    review_queue: IntGauge,
    camera_fps: GaugeVec,
    camera_frames: IntGaugeVec,
    camera_dropped: IntGaugeVec,
    camera_reconnects: IntGaugeVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Registers a metric; the names below are fixed and unique, so registration cannot clash.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    if let Err(e) = registry.register(Box::new(metric.clone())) {
        tracing::error!("metric registration: {e}");
    }
    metric
}

impl Metrics {
    /// # Panics
    /// Never: every metric's name and labels are constants checked by the tests.
    #[allow(clippy::expect_used)]
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let r = &registry;
        let counter = |name: &str, help: &str, labels: &[&str]| {
            registered(
                r,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            registered(
                r,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let gauge = |name: &str, help: &str| {
            registered(r, IntGauge::new(name, help).expect("valid metric"))
        };
        Metrics {
            requests: counter(
                "walkout_http_requests_total",
                "HTTP requests answered, by method, route and status",
                &["method", "route", "status"],
            ),
            latency: registered(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "walkout_http_request_duration_seconds",
                        "Time to answer an HTTP request, by method and route",
                    ),
                    &["method", "route"],
                )
                .expect("valid metric"),
            ),
            charges: gauge_vec(
                "walkout_relay_charges_total",
                "The billing relay's charge calls since it started, by outcome \
                 (sent, settled, failed, retried_timeout, retried_connection, retried_server_error, retried_other)",
                &["outcome"],
            ),
            sessions_open: gauge("walkout_sessions_open", "Shopper sessions in the store now"),
            review_queue: gauge(
                "walkout_review_queue_depth",
                "Sessions waiting for an operator (in review or disputed)",
            ),
            camera_fps: registered(
                r,
                GaugeVec::new(
                    Opts::new(
                        "walkout_camera_fps",
                        "Frames per second delivered, by camera",
                    ),
                    &["camera"],
                )
                .expect("valid metric"),
            ),
            camera_frames: gauge_vec(
                "walkout_camera_frames_total",
                "Frames delivered since start, by camera",
                &["camera"],
            ),
            camera_dropped: gauge_vec(
                "walkout_camera_dropped_frames_total",
                "Frames dropped since start (inference fell behind), by camera",
                &["camera"],
            ),
            camera_reconnects: gauge_vec(
                "walkout_camera_reconnects_total",
                "Reconnections since start, by camera",
                &["camera"],
            ),
            registry,
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The text exposition, with the values read now.
    pub async fn render(&self, state: &AppState) -> String {
        if let Some(stats) = &state.relay_stats {
            let s = stats.snapshot();
            for (outcome, value) in [
                ("sent", s.attempts),
                ("settled", s.settled),
                ("failed", s.refused),
                ("retried_timeout", s.retried_timeout),
                ("retried_connection", s.retried_connection),
                ("retried_server_error", s.retried_server_error),
                ("retried_other", s.retried_other),
            ] {
                self.charges
                    .with_label_values(&[outcome])
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            }
        }
        match state.db.session_counts().await {
            Ok((open, review)) => {
                self.sessions_open.set(open);
                self.review_queue.set(review);
            }
            Err(e) => tracing::warn!("metrics: counting sessions failed: {e}"),
        }
        // A camera removed from the configuration must not linger with its last values.
        self.camera_fps.reset();
        self.camera_frames.reset();
        self.camera_dropped.reset();
        self.camera_reconnects.reset();
        for camera in state.live.cameras().iter() {
            let label = [camera.camera.as_str()];
            let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            self.camera_fps.with_label_values(&label).set(camera.fps);
            self.camera_frames
                .with_label_values(&label)
                .set(int(camera.frames));
            self.camera_dropped
                .with_label_values(&label)
                .set(int(camera.dropped));
            self.camera_reconnects
                .with_label_values(&label)
                .set(int(camera.reconnects));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!("metrics: encoding failed: {e}");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Counts every request by its route's template (`/api/sessions/{id}`, not the id itself, so the label
/// set stays small) and status.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state.metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
