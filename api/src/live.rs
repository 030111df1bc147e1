//! What the store looks like right now, for the dashboard: the floor plan, every camera's health, each
//! camera's latest frame with its boxes, and where the shoppers stand.
//!
//! The binary's pipeline threads write here with plain synchronous calls (no tokio needed); the HTTP
//! handlers read. Nothing here is persisted: it is a view of the present, rebuilt as the pipeline runs.
//! Each part sits behind its own `RwLock` holding an `Arc`, so a writer swaps a whole value in and a
//! reader clones the `Arc` and lets go of the lock at once: a slow HTTP client never holds up a camera.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The store's floor plan for the live map, in floor metres (x east, y north, origin at a corner).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct StoreLayout {
    pub floor: LayoutFloor,
    pub shelves: Vec<LayoutShelf>,
    pub slots: Vec<LayoutSlot>,
    pub gates: Vec<LayoutGate>,
    pub cameras: Vec<LayoutCamera>,
    /// ISO 4217 code of the store's one currency.
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct LayoutFloor {
    pub width_m: f64,
    pub depth_m: f64,
}

/// A shelf's footprint: its corner nearest the origin, its width along x and depth along y.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LayoutShelf {
    pub id: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub d: f64,
}

/// A planogram slot: which SKU it holds and where its face is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LayoutSlot {
    pub id: String,
    pub shelf: String,
    pub sku: String,
    pub name: String,
    pub price_minor: i64,
    pub x: f64,
    pub y: f64,
}

/// A gate's footprint, like a shelf's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LayoutGate {
    pub id: String,
    /// `entry`, `exit` or whatever the store configuration calls it.
    #[serde(default)]
    pub kind: String,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub d: f64,
}

/// A camera's position on the floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LayoutCamera {
    pub id: String,
    pub x: f64,
    pub y: f64,
}

/// One camera's health, as the camera supervisor last reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CameraStatus {
    pub camera: String,
    /// `live`, `reconnecting`, `stalled`, `failed` or `ended`.
    pub state: String,
    /// Frames per second delivered to inference.
    pub fps: f64,
    /// Frames delivered since start.
    pub frames: u64,
    /// Frames dropped (the oldest, when inference fell behind) since start.
    pub dropped: u64,
    pub reconnects: u64,
    /// When the last frame arrived, milliseconds since the Unix epoch.
    pub last_frame_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// A camera's latest frame, JPEG-encoded, with what the pipeline saw in it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFrame {
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The frame's presentation time, milliseconds on the store's capture clock.
    pub pts_ms: i64,
    pub boxes: Vec<LiveBox>,
}

/// A box in a frame, in that frame's pixels (top-left corner, width, height).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LiveBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub label: String,
    pub track_id: Option<u64>,
}

/// A frame's metadata without its pixels: `GET /api/cameras/{id}/latest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FrameInfo {
    pub pts_ms: i64,
    pub width: u32,
    pub height: u32,
    pub boxes: Vec<LiveBox>,
}

/// A tracked shopper on the floor, in metres.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShopperPosition {
    pub track_id: u64,
    /// The session the track is bound to, once the shopper has checked in.
    pub session_id: Option<String>,
    pub x: f64,
    pub y: f64,
}

/// Every shopper's position at one moment: `GET /api/live`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
pub struct LiveShoppers {
    /// When the positions were taken, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub shoppers: Vec<ShopperPosition>,
}

/// The live view of the store. Cheap to share (`Arc<LiveStore>` in the [`crate::AppState`]); every method
/// is synchronous and safe to call from any thread.
#[derive(Debug, Default)]
pub struct LiveStore {
    store: RwLock<Option<Arc<StoreLayout>>>,
    cameras: RwLock<Arc<Vec<CameraStatus>>>,
    frames: RwLock<BTreeMap<String, Arc<LiveFrame>>>,
    shoppers: RwLock<Arc<LiveShoppers>>,
}

/// A poisoned lock only means a writer panicked mid-swap of an `Arc`; the value inside is still whole.
fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(PoisonError::into_inner).clone()
}

fn write<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(PoisonError::into_inner) = value;
}

impl LiveStore {
    pub fn new() -> LiveStore {
        LiveStore::default()
    }

    /// Sets the floor plan (once at start, or when the store's configuration changes).
    pub fn set_store(&self, layout: StoreLayout) {
        write(&self.store, Some(Arc::new(layout)));
    }

    /// The floor plan, once set.
    pub fn store(&self) -> Option<Arc<StoreLayout>> {
        read(&self.store)
    }

    /// Replaces every camera's health (the supervisor's latest report, all cameras at once).
    pub fn set_cameras(&self, mut cameras: Vec<CameraStatus>) {
        cameras.sort_by(|a, b| a.camera.cmp(&b.camera));
        write(&self.cameras, Arc::new(cameras));
    }

    /// Every camera's health, sorted by camera id.
    pub fn cameras(&self) -> Arc<Vec<CameraStatus>> {
        read(&self.cameras)
    }

    /// Replaces a camera's latest frame.
    pub fn set_frame(&self, camera: &str, frame: LiveFrame) {
        self.frames
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(camera.to_string(), Arc::new(frame));
    }

    /// A camera's latest frame, if it has sent one.
    pub fn frame(&self, camera: &str) -> Option<Arc<LiveFrame>> {
        self.frames
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(camera)
            .cloned()
    }

    /// Replaces the shoppers' positions, taken at `at_ms` (milliseconds since the Unix epoch).
    pub fn set_shoppers(&self, at_ms: i64, mut shoppers: Vec<ShopperPosition>) {
        shoppers.sort_by_key(|s| s.track_id);
        write(&self.shoppers, Arc::new(LiveShoppers { at_ms, shoppers }));
    }

    /// The shoppers' latest positions.
    pub fn shoppers(&self) -> Arc<LiveShoppers> {
        read(&self.shoppers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_on_plain_threads_are_seen_by_readers() {
        let live = Arc::new(LiveStore::new());
        assert!(live.store().is_none());
        assert!(live.frame("cam-1").is_none());
        let writer = {
            let live = Arc::clone(&live);
            std::thread::spawn(move || {
                live.set_frame(
                    "cam-1",
                    LiveFrame {
                        jpeg: vec![0xff, 0xd8],
                        width: 640,
                        height: 480,
                        pts_ms: 40,
                        boxes: Vec::new(),
                    },
                );
                live.set_shoppers(
                    7,
                    vec![
                        ShopperPosition {
                            track_id: 9,
                            session_id: None,
                            x: 1.0,
                            y: 2.0,
                        },
                        ShopperPosition {
                            track_id: 3,
                            session_id: Some("s-1".into()),
                            x: 0.5,
                            y: 0.5,
                        },
                    ],
                );
            })
        };
        writer.join().expect("writer thread");
        assert_eq!(live.frame("cam-1").map(|f| f.pts_ms), Some(40));
        let shoppers = live.shoppers();
        assert_eq!(shoppers.at_ms, 7);
        let ids: Vec<u64> = shoppers.shoppers.iter().map(|s| s.track_id).collect();
        assert_eq!(ids, vec![3, 9]);
    }
}
