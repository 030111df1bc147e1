//! A running store: the HTTP service (dashboard, app, gates), the billing relay and the live pipeline,
//! wired together. `walkout serve` runs one from a configuration file; `walkout demo` runs one on a
//! rendered store fed over RTSP.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use crossbeam_channel::bounded;
use tokio::sync::watch;
use walkout_api::ScaleRefusal;
use walkout_api::billing::relay::{Relay, RelayConfig};
use walkout_api::billing::{CloseRequest, LineRequest, unix_now_ms};
use walkout_api::checkin::CheckInTokens;
use walkout_api::live::{
    CameraStatus, LayoutCamera, LayoutFloor, LayoutGate, LayoutShelf, LayoutSlot, LiveBox,
    LiveFrame, ShopperPosition, StoreLayout,
};
use walkout_api::signing::Secret;
use walkout_api::{ApiKeys, AppState, Database, EventRecord, Role, Scope, Sku};
use walkout_cameras::CameraState;
use walkout_datasets::Scenario;
use walkout_models::{DetectionConfig, RuntimeConfig, Scheduling};
use walkout_pipeline::cart::EventKind;
use walkout_pipeline::sessions::Session;

use crate::config::{Secrets, ServeConfig};
use crate::live::{LivePipeline, LiveSetup, LiveUpdate};

/// The pieces of a running store that its owner may look at.
pub struct RunningStore {
    pub state: AppState,
    /// Where the HTTP service listens.
    pub addr: SocketAddr,
    pipeline: Option<Arc<LivePipeline>>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    publisher: Option<JoinHandle<()>>,
    /// Kept only with `StoreSetup::keep_closed_sessions`.
    closed: Arc<Mutex<Vec<Session>>>,
}

impl std::fmt::Debug for RunningStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningStore")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Everything a store starts from.
#[derive(Debug, Clone)]
pub struct StoreSetup {
    pub config: ServeConfig,
    pub secrets: Secrets,
    pub database_url: String,
    pub runtime: RuntimeConfig,
    /// Keep every closed session, final cart and all, in memory for `closed_sessions` (the demo's report
    /// of a run that ends). A store that runs for days leaves it off: its database has every session.
    pub keep_closed_sessions: bool,
}

impl RunningStore {
    /// Connects the database (migrations run), loads the catalog and the shelf stock, creates the admin,
    /// and starts the HTTP service, the relay and the live pipeline. Must run inside a multi-threaded tokio
    /// runtime.
    pub async fn start(setup: StoreSetup) -> anyhow::Result<RunningStore> {
        let StoreSetup {
            config,
            secrets,
            database_url,
            runtime,
            keep_closed_sessions,
        } = setup;
        let scenario = config.as_scenario();
        let currency = config.store.currency.clone();
        let db = Database::connect(&database_url)
            .await
            .with_context(|| format!("database `{}`", redact(&database_url)))?;
        for slot in scenario.store.slots() {
            db.upsert_sku(&Sku {
                sku: slot.sku.clone(),
                name: slot.sku.clone(),
                price_minor: slot.price_minor,
                currency: currency.clone(),
            })
            .await?;
        }
        // a restart keeps the stock the events have moved; a slot seen for the first time starts full
        let stocked: std::collections::BTreeSet<String> = db
            .inventory()
            .await?
            .into_iter()
            .map(|row| row.slot)
            .collect();
        for slot in scenario.store.slots() {
            if !stocked.contains(&slot.id) {
                db.set_inventory(&slot.id, &slot.sku, i64::from(slot.initial_stock))
                    .await?;
            }
        }
        db.upsert_user(
            &config.auth.admin_user,
            &secrets.admin_password,
            Role::Admin,
        )
        .await
        .context("creating the admin operator")?;
        let tokens = CheckInTokens::new(
            Secret::new(secrets.check_in.clone().into_bytes())
                .context("auth.check_in_secret_env")?,
            config.auth.check_in_ttl_secs,
        );
        let keys = ApiKeys::new()
            .try_with_key(Scope::Ingest, &secrets.ingest_key)
            .and_then(|keys| keys.try_with_key(Scope::App, &secrets.app_key))
            .map_err(|e| anyhow::anyhow!("auth: {e}"))?;
        // cookies are Secure unless the service listens on loopback over plain HTTP (the demo, tests)
        let secure_cookies = !config.http.listen.ip().is_loopback();
        let mut state = AppState::new(db.clone(), currency.clone())
            .with_check_in_tokens(tokens)
            .with_api_keys(keys)
            .with_secure_cookies(secure_cookies);
        state.live.set_store(layout(&scenario, &currency));

        let (stop, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        };
        let mut tasks = Vec::new();
        let relay = Relay::new(
            db.clone(),
            RelayConfig::new(config.payments.url.clone()),
            Secret::new(secrets.payments.clone().into_bytes()).context("payments.secret_env")?,
        )?
        .with_waker(state.relay_wake.clone());
        state = state.with_relay_stats(relay.stats());
        tasks.push(tokio::spawn(relay.run(stopped(stop_rx.clone()))));

        let detection = DetectionConfig {
            manifest: config.model.manifest.clone(),
            runtime,
            scheduling: Scheduling::Auto,
        };
        let sources: BTreeMap<String, String> = config
            .cameras
            .iter()
            .map(|c| (c.id.clone(), c.url.clone()))
            .collect();
        // the slots on lane scales: every slot, when the planogram says the store has them
        let scaled_slots: std::collections::BTreeSet<String> = match scenario.store.scales {
            Some(_) => scenario.store.slots().map(|s| s.id.clone()).collect(),
            None => Default::default(),
        };
        let (updates_tx, updates_rx) = bounded::<LiveUpdate>(256);
        let pipeline = tokio::task::block_in_place(|| {
            LivePipeline::start(
                LiveSetup {
                    scenario,
                    sources,
                    detection,
                    run_id: run_id(),
                },
                updates_tx,
            )
        })?;
        let pipeline = Arc::new(pipeline);
        if let Some(check_ins) = pipeline.check_in_sender() {
            state = state.with_check_in_listener(Arc::new(move |account: &str, gate: &str| {
                let check_in = walkout_pipeline::sessions::CheckIn {
                    account: account.to_string(),
                    gate: gate.to_string(),
                    time: walkout_core::CaptureClock::global().now(),
                };
                if !check_ins.try_send(check_in) {
                    tracing::error!(account, gate, "the live pipeline did not take a check-in");
                }
            }));
        }
        if let Some(scales) = pipeline.scale_sender() {
            state = state.with_scale_listener(Arc::new(move |slot: &str, delta_g: f64| {
                if !scaled_slots.contains(slot) {
                    return Err(ScaleRefusal::UnknownSlot);
                }
                let reading = walkout_pipeline::shelf::WeightReading {
                    slot: slot.to_string(),
                    delta_g,
                    time: walkout_core::CaptureClock::global().now(),
                };
                if scales.try_send(reading) {
                    Ok(())
                } else {
                    tracing::error!(
                        slot,
                        delta_g,
                        "the live pipeline did not take a scale reading"
                    );
                    Err(ScaleRefusal::Busy)
                }
            }));
        }
        let closed = Arc::new(Mutex::new(Vec::new()));
        let publisher = {
            let handle = tokio::runtime::Handle::current();
            let state = state.clone();
            let closed = closed.clone();
            std::thread::Builder::new()
                .name("publish".into())
                .spawn(move || {
                    let mut publisher = Publisher {
                        state,
                        accounts: BTreeMap::new(),
                        closed: keep_closed_sessions.then_some(closed),
                    };
                    for update in updates_rx {
                        handle.block_on(publisher.publish(update));
                    }
                })?
        };
        {
            // a weak handle, so that stopping the store can take the pipeline back
            let pipeline = Arc::downgrade(&pipeline);
            let live = state.live.clone();
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = tick.tick() => match pipeline.upgrade() {
                            Some(pipeline) => live.set_cameras(camera_statuses(&pipeline)),
                            None => return,
                        },
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            }));
        }
        let listener = tokio::net::TcpListener::bind(config.http.listen)
            .await
            .with_context(|| format!("http.listen: cannot listen on {}", config.http.listen))?;
        let addr = listener.local_addr()?;
        let app = walkout_api::app(state.clone());
        let shutdown = stopped(stop_rx);
        tasks.push(tokio::spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await;
            if let Err(e) = served {
                tracing::error!("the HTTP service stopped: {e}");
            }
        }));
        tracing::info!(%addr, "serving the dashboard, the app and the gates");
        Ok(RunningStore {
            state,
            addr,
            pipeline: Some(pipeline),
            stop,
            tasks,
            publisher: Some(publisher),
            closed,
        })
    }

    /// The sessions this run closed, with their final carts, in the order they closed; empty unless the
    /// store was started with `keep_closed_sessions`.
    pub fn closed_sessions(&self) -> Vec<Session> {
        self.closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every camera's health now.
    pub fn cameras(&self) -> Vec<CameraStatus> {
        self.pipeline
            .as_deref()
            .map(camera_statuses)
            .unwrap_or_default()
    }

    /// Stops the cameras and drains the pipeline into the database (the sessions its end of input
    /// closes included), leaving the dashboard, the API and the relay running.
    pub async fn stop_pipeline(&mut self) {
        if let Some(pipeline) = self.pipeline.take() {
            tokio::task::block_in_place(|| match Arc::try_unwrap(pipeline) {
                Ok(pipeline) => pipeline.stop(),
                Err(_) => tracing::warn!("the pipeline is still shared; not waiting for it"),
            });
        }
        if let Some(publisher) = self.publisher.take() {
            let _ = tokio::task::block_in_place(|| publisher.join());
        }
    }

    /// Stops the cameras, drains the pipeline into the database, then stops the relay and the server.
    pub async fn stop(mut self) {
        self.stop_pipeline().await;
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

/// A prefix for this run's session ids: the start time in base 36, so ids never repeat across restarts.
fn run_id() -> String {
    let mut n = u64::try_from(unix_now_ms()).unwrap_or(0);
    let mut digits = Vec::new();
    while n > 0 {
        let d = (n % 36) as u8;
        digits.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        n /= 36;
    }
    digits.reverse();
    format!("s{}", String::from_utf8_lossy(&digits))
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

fn camera_statuses(pipeline: &LivePipeline) -> Vec<CameraStatus> {
    let now = unix_now_ms();
    pipeline
        .health()
        .into_iter()
        .map(|h| CameraStatus {
            camera: h.id.to_string(),
            state: match h.state {
                CameraState::Connecting | CameraState::Reconnecting => "reconnecting",
                CameraState::Streaming => "live",
                CameraState::Stalled => "stalled",
                CameraState::Ended => "ended",
                CameraState::Failed => "failed",
            }
            .to_string(),
            fps: h.fps_out,
            frames: h.frames_delivered,
            dropped: h.frames_dropped,
            reconnects: h.reconnects,
            last_frame_ms: h
                .last_frame_age_ms
                .map(|age| now - i64::try_from(age).unwrap_or(0)),
            last_error: h.last_error.map(|e| e.message),
        })
        .collect()
}

/// The store's floor plan for the live map.
fn layout(scenario: &Scenario, currency: &str) -> StoreLayout {
    let store = &scenario.store;
    StoreLayout {
        floor: LayoutFloor {
            width_m: store.floor.width_m,
            depth_m: store.floor.depth_m,
        },
        shelves: store
            .shelves
            .iter()
            .map(|s| LayoutShelf {
                id: s.id.clone(),
                x: s.min_corner_m[0],
                y: s.min_corner_m[1],
                w: s.size_m[0],
                d: s.size_m[1],
            })
            .collect(),
        slots: store
            .slots()
            .filter_map(|slot| {
                let placement = store.slot(&slot.id)?;
                Some(LayoutSlot {
                    id: slot.id.clone(),
                    shelf: placement.shelf.id.clone(),
                    sku: slot.sku.clone(),
                    name: slot.sku.clone(),
                    price_minor: slot.price_minor,
                    x: placement.face_center_m[0],
                    y: placement.face_center_m[1],
                })
            })
            .collect(),
        gates: store
            .gates
            .iter()
            .map(|g| LayoutGate {
                id: g.id.clone(),
                kind: format!("{:?}", g.kind).to_lowercase(),
                x: g.position_m[0] - g.width_m / 2.0,
                y: g.position_m[1] - 0.25,
                w: g.width_m,
                d: 0.5,
            })
            .collect(),
        cameras: scenario
            .cameras
            .iter()
            .map(|c| LayoutCamera {
                id: c.id.clone(),
                x: c.position_m[0],
                y: c.position_m[1],
            })
            .collect(),
        currency: currency.to_string(),
    }
}

/// Turns the pipeline's updates into database rows and the dashboard's live view.
struct Publisher {
    state: AppState,
    /// The account of each open session.
    accounts: BTreeMap<String, String>,
    /// Where closed sessions are kept, when they are (`StoreSetup::keep_closed_sessions`).
    closed: Option<Arc<Mutex<Vec<Session>>>>,
}

/// Retries a database write with back-off: a database that is briefly away must not lose a session, an
/// event or a charge. Gives up (loudly) only after about a minute.
async fn persist<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> Option<T> {
    let mut delay = Duration::from_millis(50);
    for _ in 0..12 {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(e) => {
                tracing::warn!("{what}: {e}; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    tracing::error!("{what}: gave up after 12 attempts");
    None
}

impl Publisher {
    async fn publish(&mut self, update: LiveUpdate) {
        let db = &self.state.db;
        match update {
            LiveUpdate::SessionOpened {
                session_id,
                account,
                gate,
                at_ms,
            } => {
                self.accounts.insert(session_id.clone(), account.clone());
                persist(&format!("recording session {session_id}"), || {
                    db.open_session(&session_id, &account, &gate, at_ms)
                })
                .await;
            }
            LiveUpdate::Event {
                session_id,
                event_id,
                event,
                camera,
                evidence_jpeg,
                cart,
            } => {
                let record = EventRecord {
                    session_id: session_id.clone(),
                    event_id,
                    kind: match event.kind {
                        EventKind::Pick => "pick",
                        EventKind::Put => "put",
                    }
                    .to_string(),
                    sku: event.sku.clone(),
                    slot: event.slot.clone(),
                    quantity: i64::from(event.quantity),
                    confidence: f64::from(event.confidence),
                    at_ms: i64::try_from(event.time.unix_millis()).unwrap_or(i64::MAX),
                    camera,
                    evidence_jpeg,
                };
                persist(&format!("recording event {}", event.id), || {
                    db.record_event(&record)
                })
                .await;
                if let Some(session_id) = session_id
                    && let Some(account) = self.accounts.get(&session_id)
                {
                    let lines: Vec<LineRequest> = cart
                        .into_iter()
                        .filter(|(_, quantity)| *quantity > 0)
                        .map(|(sku, quantity)| LineRequest {
                            sku,
                            quantity: i64::from(quantity),
                        })
                        .collect();
                    persist(&format!("the live cart of {session_id}"), || {
                        db.update_live_cart(&session_id, account, &lines, unix_now_ms())
                    })
                    .await;
                }
            }
            LiveUpdate::SessionClosed {
                session_id,
                session,
            } => {
                self.accounts.remove(&session_id);
                let request = CloseRequest::from_session(&session);
                let reasons = CloseRequest::review_reasons(&session);
                let closed_at = unix_now_ms();
                let currency = self.state.currency.clone();
                if let Some(outcome) = persist(&format!("closing session {session_id}"), || {
                    db.close_session_with_reasons(
                        &session_id,
                        &request,
                        &reasons,
                        &currency,
                        closed_at,
                    )
                })
                .await
                {
                    tracing::info!(session = %session_id, status = %outcome.status, "session closed");
                    self.state.relay_wake.notify_one();
                }
                if let Some(closed) = &self.closed {
                    closed
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(*session);
                }
            }
            LiveUpdate::Shoppers { at_ms, shoppers } => self.state.live.set_shoppers(
                at_ms,
                shoppers
                    .into_iter()
                    .map(|(track_id, session_id, [x, y])| ShopperPosition {
                        track_id,
                        session_id,
                        x,
                        y,
                    })
                    .collect(),
            ),
            LiveUpdate::Preview {
                camera,
                jpeg,
                width,
                height,
                pts_ms,
                boxes,
            } => self.state.live.set_frame(
                &camera,
                LiveFrame {
                    jpeg,
                    width,
                    height,
                    pts_ms,
                    boxes: boxes
                        .into_iter()
                        .map(|b| LiveBox {
                            x: f64::from(b.bbox.x1),
                            y: f64::from(b.bbox.y1),
                            w: f64::from(b.bbox.width()),
                            h: f64::from(b.bbox.height()),
                            label: b.label,
                            track_id: b.track_id,
                        })
                        .collect(),
                },
            ),
        }
    }
}
