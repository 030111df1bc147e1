//! Turns a store description (a scenario's store and cameras) into the pipeline's configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use nalgebra::Point3;
use walkout_core::{BBox, CameraId};
use walkout_datasets::Scenario;
use walkout_datasets::scenario::GateKind;
use walkout_pipeline::TrackerConfig;
use walkout_pipeline::calibration::{Calibration, Intrinsics};
use walkout_pipeline::fusion::{FusionConfig, Zone};
use walkout_pipeline::sessions::SessionConfig;
use walkout_pipeline::shelf::{ShelfConfig, SlotView, SlotVolume};
use walkout_pipeline::store::{CameraSetup, StoreConfig};

/// The calibration of a scenario camera.
pub fn calibration(camera: &walkout_datasets::scenario::Camera) -> Calibration {
    let k = &camera.intrinsics;
    Calibration {
        intrinsics: Intrinsics {
            fx: k.fx_px,
            fy: k.fy_px,
            cx: k.cx_px,
            cy: k.cy_px,
            width: camera.resolution_px[0],
            height: camera.resolution_px[1],
        },
        world_from_camera: camera.world_from_camera(),
    }
}

/// The image region of a slot's opening and the products behind it (`depth_m` back from the face),
/// when the camera sees all of it from in front of the shelf.
fn slot_region(
    calibration: &Calibration,
    face_center_m: [f64; 3],
    opening_m: [f64; 2],
    normal: [f64; 2],
    depth_m: f64,
) -> Option<BBox> {
    let camera = calibration.world_from_camera.translation.vector;
    let towards_camera = [camera.x - face_center_m[0], camera.y - face_center_m[1]];
    if towards_camera[0] * normal[0] + towards_camera[1] * normal[1] <= 0.0 {
        return None;
    }
    let along = [-normal[1], normal[0]];
    let (half_w, half_h) = (opening_m[0] / 2.0, opening_m[1] / 2.0);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for s in [-half_w, half_w] {
        for z in [-half_h, half_h] {
            for d in [0.0, depth_m] {
                let p = Point3::new(
                    face_center_m[0] + along[0] * s - normal[0] * d,
                    face_center_m[1] + along[1] * s - normal[1] * d,
                    face_center_m[2] + z,
                );
                let pixel = calibration.image_from_world(&p)?;
                x0 = x0.min(pixel.x);
                y0 = y0.min(pixel.y);
                x1 = x1.max(pixel.x);
                y1 = y1.max(pixel.y);
            }
        }
    }
    let (w, h) = (
        f64::from(calibration.intrinsics.width),
        f64::from(calibration.intrinsics.height),
    );
    let inside = x0 >= 0.0 && y0 >= 0.0 && x1 <= w && y1 <= h;
    inside.then(|| BBox::new(x0 as f32, y0 as f32, x1 as f32, y1 as f32))
}

/// Where a slot's products stand, as the camera maps them: the plane at the products' mid-height
/// (they stand on the board at the bottom of the slot's opening) and the rectangle they fill, from
/// the face back to the shelf's depth.
fn slot_volume(
    calibration: &Calibration,
    placement: &walkout_datasets::scenario::SlotPlacement<'_>,
) -> Option<SlotVolume> {
    let shelf = placement.shelf;
    let normal = shelf.facing.normal();
    let depth_m = shelf.depth_m();
    let bottom_m = placement.face_center_m[2] - placement.opening_m[1] / 2.0;
    let mid_height_m = bottom_m + placement.slot.product_size_m[2] / 2.0;
    let plane_from_image = calibration.plane_from_image(mid_height_m).ok()?;
    Some(SlotVolume {
        plane_from_image,
        front_center_m: [placement.face_center_m[0], placement.face_center_m[1]],
        along: [-normal[1], normal[0]],
        inward: [-normal[0], -normal[1]],
        half_width_m: placement.opening_m[0] / 2.0,
        depth_m,
        mid_height_m,
    })
}

/// A camera lends its view of a slot on a scale when it sees the slot at least this share as large as
/// the watching camera does: in a smaller view a hand is a few pixels, and a neighbour's reach overlaps.
pub const LEND_MIN_SHARE: f32 = 0.25;

/// How far in front of a slot's face the line of sight from a camera's place on the floor is taken to.
const FRONT_M: f64 = 0.1;

/// The pipeline's configuration for a scenario's store: every camera calibrated, every slot watched by
/// the camera that sees it largest of those with no shelf between them and it (one watcher per slot, so an event is counted once), the entry gates
/// as birth zones and check-in zones, the exit gates as exit zones. In a store with lane scales, where
/// the scale alone counts, every other camera that sees a slot at least [`LEND_MIN_SHARE`] as large
/// lends its view of the hands there, for a reading whose watching camera saw none.
pub fn store_config(scenario: &Scenario) -> anyhow::Result<StoreConfig> {
    let calibrations: Vec<(CameraId, Calibration)> = scenario
        .cameras
        .iter()
        .map(|c| (CameraId::new(&c.id), calibration(c)))
        .collect();
    let mut slots_by_camera: BTreeMap<usize, Vec<SlotView>> = BTreeMap::new();
    for slot in scenario.store.slots() {
        let placement = scenario
            .store
            .slot(&slot.id)
            .with_context(|| format!("slot `{}` has no shelf", slot.id))?;
        let normal = placement.shelf.facing.normal();
        let views: Vec<(usize, BBox)> = calibrations
            .iter()
            .enumerate()
            .filter_map(|(i, (_, cal))| {
                slot_region(
                    cal,
                    placement.face_center_m,
                    placement.opening_m,
                    normal,
                    placement.shelf.depth_m(),
                )
                .map(|r| (i, r))
            })
            .collect();
        // A camera whose place on the floor has a shelf between it and the slot's front sees the slot
        // over that shelf, and the shoppers at the slot from behind, their hands hidden by their own
        // bodies: it watches only when no camera over the slot's own aisle sees the slot whole.
        let front = [
            placement.face_center_m[0] + normal[0] * FRONT_M,
            placement.face_center_m[1] + normal[1] * FRONT_M,
        ];
        let over_aisle: Vec<(usize, BBox)> = views
            .iter()
            .copied()
            .filter(|(i, _)| {
                let at = scenario.cameras[*i].position_m;
                scenario.obstacle_between([at[0], at[1]], front).is_none()
            })
            .collect();
        let candidates = if over_aisle.is_empty() {
            &views
        } else {
            &over_aisle
        };
        let Some(&(best, best_region)) = candidates
            .iter()
            .max_by(|a, b| a.1.area().total_cmp(&b.1.area()))
        else {
            tracing::warn!(slot = %slot.id, "no camera sees the whole slot: its events cannot be detected");
            continue;
        };
        // a slot on a lane scale: its events come from the scale's readings
        let unit_weight_g = scenario.store.scales.map(|_| slot.unit_weight_g());
        tracing::debug!(
            slot = %slot.id,
            watcher = %calibrations[best].0,
            views = ?views
                .iter()
                .map(|(i, r)| (calibrations[*i].0.as_str(), r.area() / best_region.area()))
                .collect::<Vec<_>>(),
            "the cameras that see a slot, and their view's size beside the watcher's"
        );
        for &(camera, region) in &views {
            let lends_only = camera != best;
            if lends_only
                && (unit_weight_g.is_none() || region.area() < LEND_MIN_SHARE * best_region.area())
            {
                continue;
            }
            slots_by_camera.entry(camera).or_default().push(SlotView {
                slot: slot.id.clone(),
                sku: slot.sku.clone(),
                region,
                unit_weight_g,
                volume: slot_volume(&calibrations[camera].1, &placement),
                lends_only,
            });
        }
    }
    let cameras = calibrations
        .into_iter()
        .enumerate()
        .map(|(i, (id, calibration))| CameraSetup {
            id,
            calibration,
            slots: slots_by_camera.remove(&i).unwrap_or_default(),
        })
        .collect();
    let mut entry_gates = BTreeMap::new();
    let (mut births, mut exits) = (Vec::new(), Vec::new());
    for gate in &scenario.store.gates {
        // a gate is a doorway: the zone reaches a little into the store and past the door
        let half = gate.width_m / 2.0 + 0.6;
        let zone = Zone::around(gate.position_m, [half, half]);
        match gate.kind {
            GateKind::Entry => {
                births.push(zone);
                entry_gates.insert(gate.id.clone(), zone);
            }
            GateKind::Exit => exits.push(zone),
        }
    }
    Ok(StoreConfig {
        cameras,
        tracker: TrackerConfig::default(),
        fusion: FusionConfig {
            birth_zones: births,
            exit_zones: exits,
            ..FusionConfig::default()
        },
        sessions: SessionConfig {
            entry_gates,
            ..SessionConfig::default()
        },
        shelf: ShelfConfig {
            scale_settle_secs: scenario
                .store
                .scales
                .map_or(ShelfConfig::default().scale_settle_secs, |s| s.settle_secs),
            scale_noise_g: scenario
                .store
                .scales
                .map_or(ShelfConfig::default().scale_noise_g, |s| s.noise_g),
            ..ShelfConfig::default()
        },
        step: Duration::from_millis(100),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_store_maps_its_slots_to_cameras() {
        for name in walkout_datasets::PRESETS {
            let scenario =
                walkout_datasets::preset(name, 7).unwrap_or_else(|e| panic!("{name}: {e}"));
            let config = store_config(&scenario).unwrap();
            assert_eq!(config.cameras.len(), scenario.cameras.len());
            // every slot a shopper touches is watched (the small presets have cameras on one aisle only)
            let watched: std::collections::BTreeSet<&str> = config
                .cameras
                .iter()
                .flat_map(|c| c.slots.iter().map(|s| s.slot.as_str()))
                .collect();
            let truth = walkout_datasets::GroundTruth::from_scenario(&scenario).unwrap();
            for event in &truth.events {
                assert!(
                    watched.contains(event.slot.as_str()),
                    "{name}: slot {} is used but not watched",
                    event.slot
                );
            }
            // without scales a slot is seen by one camera only: vision's counts would count twice
            assert!(
                config
                    .cameras
                    .iter()
                    .all(|c| c.slots.iter().all(|s| !s.lends_only)),
                "{name}"
            );
            assert!(!config.sessions.entry_gates.is_empty(), "{name}");
            for camera in &config.cameras {
                for slot in &camera.slots {
                    assert!(
                        slot.region.area() > 4.0,
                        "{name}: slot {} is {:?} in {}",
                        slot.slot,
                        slot.region,
                        camera.id
                    );
                }
            }
        }
    }

    #[test]
    fn with_scales_every_slot_has_one_watcher_and_cameras_that_see_it_well_lend_their_view() {
        let mut lenders = 0;
        for name in walkout_datasets::PRESETS {
            let mut scenario = walkout_datasets::preset(name, 7).unwrap();
            let alone = store_config(&scenario).unwrap();
            scenario.store.scales = Some(walkout_datasets::scenario::Scales::default());
            let config = store_config(&scenario).unwrap();
            for slot in scenario.store.slots() {
                let views: Vec<(&CameraId, &SlotView)> = config
                    .cameras
                    .iter()
                    .flat_map(|c| c.slots.iter().map(move |s| (&c.id, s)))
                    .filter(|(_, s)| s.slot == slot.id)
                    .collect();
                let watchers: Vec<_> = views.iter().filter(|(_, s)| !s.lends_only).collect();
                if views.is_empty() {
                    continue;
                }
                // the watcher is the camera that watches it without scales
                let [(watcher, watched)] = watchers[..] else {
                    panic!("{name}: slot {} has watchers {watchers:?}", slot.id);
                };
                let before = alone
                    .cameras
                    .iter()
                    .find(|c| c.slots.iter().any(|s| s.slot == slot.id))
                    .unwrap();
                assert_eq!(*watcher, &before.id, "{name}: {}", slot.id);
                for (camera, view) in views.iter().filter(|(_, s)| s.lends_only) {
                    lenders += 1;
                    assert_ne!(camera, watcher);
                    assert!(view.unit_weight_g.is_some());
                    // (a camera across a shelf may see it larger than the watcher does)
                    assert!(
                        view.region.area() >= LEND_MIN_SHARE * watched.region.area(),
                        "{name}: {} in {camera}: {:?} vs {:?}",
                        slot.id,
                        view.region,
                        watched.region
                    );
                }
            }
        }
        // the presets' aisles are seen from both ends
        assert!(lenders > 0);
    }

    #[test]
    fn a_slot_is_watched_from_over_its_own_aisle_not_across_a_shelf() {
        // busy's shelf A faces north into aisle 0 (y 2.6..4.4); the aisle-1 cameras see its end
        // columns larger, over shelves B and C, with the shoppers at them seen from behind
        let scenario = walkout_datasets::preset("busy", 7).unwrap();
        let config = store_config(&scenario).unwrap();
        let shelf_a: Vec<(&str, &str)> = config
            .cameras
            .iter()
            .flat_map(|c| {
                c.slots
                    .iter()
                    .map(move |s| (s.slot.as_str(), c.id.as_str()))
            })
            .filter(|(slot, _)| slot.starts_with('A'))
            .collect();
        assert_eq!(shelf_a.len(), 24, "{shelf_a:?}");
        for (slot, camera) in &shelf_a {
            assert!(
                camera.starts_with("aisle-0-"),
                "{slot} is watched by {camera}"
            );
        }
        // in every preset, no watcher has a shelf between it and its slot where another camera has not
        for name in walkout_datasets::PRESETS {
            let scenario = walkout_datasets::preset(name, 7).unwrap();
            let config = store_config(&scenario).unwrap();
            for (camera, setup) in scenario.cameras.iter().zip(&config.cameras) {
                for view in &setup.slots {
                    let placement = scenario.store.slot(&view.slot).unwrap();
                    let normal = placement.shelf.facing.normal();
                    let front = [
                        placement.face_center_m[0] + normal[0] * FRONT_M,
                        placement.face_center_m[1] + normal[1] * FRONT_M,
                    ];
                    let at = camera.position_m;
                    if let Some(obstacle) = scenario.obstacle_between([at[0], at[1]], front) {
                        let clear_elsewhere = scenario.cameras.iter().any(|other| {
                            let at = other.position_m;
                            scenario.obstacle_between([at[0], at[1]], front).is_none()
                                && slot_region(
                                    &calibration(other),
                                    placement.face_center_m,
                                    placement.opening_m,
                                    normal,
                                    placement.shelf.depth_m(),
                                )
                                .is_some()
                        });
                        assert!(
                            !clear_elsewhere || view.lends_only,
                            "{name}: {} watches {} across {obstacle}",
                            camera.id,
                            view.slot
                        );
                    }
                }
            }
        }
    }
}
