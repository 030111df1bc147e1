//! One camera's renderer: its static background (redrawn only when a slot's contents change), the
//! per-frame shoppers drawn over a restored copy, the boxes read off the id buffer, and the noise.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use walkout_core::BBox;
use walkout_datasets::mot::MotRecord;
use walkout_datasets::scenario::{Camera, Scenario};
use walkout_datasets::truth::{HandBox, HandSide, ProductBox};

use crate::raster::{Canvas, ObjectStats, View};
use crate::scene::{HELD_MAX, ItemState, Scene, mix};

/// Which units standing on shelves get a box in the ground truth (units in hands always do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShelfProducts {
    /// None: only products in hands.
    None,
    /// The units of slots that a hand is reaching into in that frame (the moments shelf-event models
    /// look at), which keeps the ground truth small.
    #[default]
    Reached,
    /// Every visible unit on every shelf, every frame (large: a store has thousands of units).
    All,
}

/// The boxes of one frame. Every box is the object's whole extent as drawn without anything in front of it
/// (MOT17 style), clipped to the image, in pixels with pixel `i` spanning `[i, i + 1)`; `visibility` is the
/// share of that object's in-image pixels that the id buffer shows. Objects with no visible pixel (hidden,
/// or outside the image) get no box.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameBoxes {
    /// Shoppers: the whole body's box (unoccluded extent clipped to the image), with the visible share.
    pub shoppers: Vec<MotRecord>,
    /// Hands.
    pub hands: Vec<HandBox>,
    /// Products in hands, and on shelves as [`ShelfProducts`] says.
    pub products: Vec<ProductBox>,
}

impl FrameBoxes {
    /// Empties every list, keeping the memory.
    pub fn clear(&mut self) {
        self.shoppers.clear();
        self.hands.clear();
        self.products.clear();
    }
}

/// Renders one camera's frames; owns every buffer it needs, so frames allocate nothing.
pub(crate) struct CameraRenderer<'a> {
    scene: &'a Scene,
    scenario: &'a Scenario,
    camera: &'a Camera,
    camera_index: usize,
    view: View,
    background: Canvas,
    background_version: Option<u64>,
    pub canvas: Canvas,
    items: ItemState,
    /// Visible pixels per id in the current frame.
    visible_px: Vec<u32>,
    /// Per shopper: drawn this frame, and the SKU at each held id.
    drawn: Vec<bool>,
    held: Vec<[Option<usize>; HELD_MAX]>,
    /// Per slot: a hand reaches into it this frame.
    reached: Vec<bool>,
    noise: Vec<i8>,
    /// The finished picture (after lighting and noise).
    pub out: Vec<u8>,
    lut: [u8; 256],
    lut_brightness: f64,
}

impl<'a> CameraRenderer<'a> {
    pub fn new(
        scene: &'a Scene,
        scenario: &'a Scenario,
        camera_index: usize,
        camera: &'a Camera,
    ) -> Self {
        let view = View::new(camera);
        let (width, height) = (view.width, view.height);
        let pixels = width * height * 3;
        let noise = noise_table(scenario, camera_index, pixels);
        Self {
            scene,
            scenario,
            camera,
            camera_index,
            background: Canvas::new(width, height, scene.id_count),
            background_version: None,
            canvas: Canvas::new(width, height, scene.id_count),
            view,
            items: ItemState::new(scene),
            visible_px: vec![0; scene.id_count],
            drawn: vec![false; scene.shoppers.len()],
            held: vec![[None; HELD_MAX]; scene.shoppers.len()],
            reached: vec![false; scene.slots.len()],
            noise,
            out: vec![0; pixels],
            lut: std::array::from_fn(|v| v as u8),
            lut_brightness: 1.0,
        }
    }

    pub fn width(&self) -> usize {
        self.view.width
    }

    pub fn height(&self) -> usize {
        self.view.height
    }

    /// Draws the scene at a frame's time into `canvas` and counts visible pixels per object.
    pub fn draw(&mut self, frame: u32) {
        let time_secs = self.camera.frame_time_secs(frame);
        self.items.advance_to(self.scene, time_secs);
        if self.background_version != Some(self.items.slot_version) {
            self.redraw_background();
            self.canvas.restore_all_from(&self.background);
        } else {
            self.canvas.restore_dirty_from(&self.background);
        }
        self.canvas.track_dirty = true;
        self.reached.fill(false);
        for (index, timeline) in self.scene.timeline.shoppers.iter().enumerate() {
            let ids = self.scene.shopper_ids(index);
            for id in ids.person..ids.first_held + HELD_MAX as u32 {
                self.canvas.stats[id as usize] = ObjectStats::EMPTY;
            }
            self.drawn[index] = false;
            let Some(state) = timeline.state_at(time_secs) else {
                continue;
            };
            if let Some(reach) = &state.reach
                && let Some(slot) = self.scene.slots.iter().position(|s| s.id == reach.slot)
            {
                self.reached[slot] = true;
            }
            self.held[index] = self.scene.draw_shopper(
                &mut self.canvas,
                &self.view,
                index,
                &state,
                time_secs,
                &self.items,
            );
            self.drawn[index] = true;
        }
        self.visible_px.fill(0);
        for &id in &self.canvas.ids {
            if id != 0 {
                self.visible_px[id as usize] += 1;
            }
        }
    }

    fn redraw_background(&mut self) {
        let bg = &mut self.background;
        bg.rgb.fill(0);
        bg.inv_depth.fill(0.0);
        bg.ids.fill(0);
        bg.stats.fill(ObjectStats::EMPTY);
        bg.track_dirty = false;
        bg.reset_objects();
        self.scene.draw_static(bg, &self.view, &self.items);
        self.background_version = Some(self.items.slot_version);
    }

    /// The boxes of the frame last drawn.
    pub fn boxes(&self, frame: u32, shelf_products: ShelfProducts, into: &mut FrameBoxes) {
        let scene = self.scene;
        for (index, look) in scene.shoppers.iter().enumerate() {
            if !self.drawn[index] {
                continue;
            }
            let ids = scene.shopper_ids(index);
            let person = self.canvas.stats[ids.person as usize];
            let visible =
                self.visible(ids.body) + self.visible(ids.left_hand) + self.visible(ids.right_hand);
            if let (Some(b), true) = (person.bbox(), visible > 0) {
                into.shoppers.push(MotRecord {
                    frame,
                    id: look.track_id,
                    left: b[0],
                    top: b[1],
                    width: b[2] - b[0],
                    height: b[3] - b[1],
                    confidence: 1.0,
                    class: 1,
                    visibility: ratio(visible, person.total_px),
                });
            }
            for (side, id) in [
                (HandSide::Left, ids.left_hand),
                (HandSide::Right, ids.right_hand),
            ] {
                let stats = self.canvas.stats[id as usize];
                let visible = self.visible(id);
                if let (Some(b), true) = (stats.bbox(), visible > 0) {
                    into.hands.push(HandBox {
                        frame,
                        track_id: look.track_id,
                        side,
                        bbox: BBox::new(b[0], b[1], b[2], b[3]),
                        visibility: ratio(visible, stats.total_px),
                    });
                }
            }
            for (k, sku) in self.held[index].iter().enumerate() {
                let Some(sku) = sku else { continue };
                let id = ids.first_held + k as u32;
                let stats = self.canvas.stats[id as usize];
                let visible = self.visible(id);
                if let (Some(b), true) = (stats.bbox(), visible > 0) {
                    into.products.push(ProductBox {
                        frame,
                        sku: scene.skus[*sku].name.clone(),
                        held_by: Some(look.track_id),
                        slot: None,
                        bbox: BBox::new(b[0], b[1], b[2], b[3]),
                        visibility: ratio(visible, stats.total_px),
                    });
                }
            }
        }
        if shelf_products == ShelfProducts::None {
            return;
        }
        for (s, slot) in scene.slots.iter().enumerate() {
            if shelf_products == ShelfProducts::Reached && !self.reached[s] {
                continue;
            }
            for position in 0..slot.positions {
                let Some(sku) = self.items.sku_at(s, position) else {
                    break;
                };
                let id = slot.first_id + position;
                let stats = self.background.stats[id as usize];
                let visible = self.visible(id);
                if let (Some(b), true) = (stats.bbox(), visible > 0) {
                    into.products.push(ProductBox {
                        frame,
                        sku: scene.skus[sku].name.clone(),
                        held_by: None,
                        slot: Some(slot.id.clone()),
                        bbox: BBox::new(b[0], b[1], b[2], b[3]),
                        visibility: ratio(visible, stats.total_px),
                    });
                }
            }
        }
    }

    fn visible(&self, id: u32) -> u32 {
        self.visible_px.get(id as usize).copied().unwrap_or(0)
    }

    /// The id-buffer bounding box `[x1, y1, x2, y2]` of a shopper's visible pixels (body and hands).
    pub fn visible_shopper_bbox(&self, shopper: usize) -> Option<[f32; 4]> {
        let ids = self.scene.shopper_ids(shopper);
        let mut stats = ObjectStats::EMPTY;
        for (i, &id) in self.canvas.ids.iter().enumerate() {
            if id == ids.body || id == ids.left_hand || id == ids.right_hand {
                let (x, y) = ((i % self.view.width) as u32, (i / self.view.width) as u32);
                stats.total_px += 1;
                stats.min = [stats.min[0].min(x), stats.min[1].min(y)];
                stats.max = [stats.max[0].max(x), stats.max[1].max(y)];
            }
        }
        stats.bbox()
    }

    /// Applies lighting and sensor noise to the frame last drawn, into `out`; a dark frame is black.
    pub fn finish_picture(&mut self, frame: u32, dark: bool) {
        if dark {
            self.out.fill(0);
            return;
        }
        let time_secs = self.camera.frame_time_secs(frame);
        let brightness = self
            .scenario
            .noise
            .lighting
            .iter()
            .filter(|c| time_secs >= c.start_secs && time_secs < c.end_secs)
            .map(|c| c.brightness)
            .product::<f64>();
        if brightness != self.lut_brightness {
            self.lut = std::array::from_fn(|v| (v as f64 * brightness).round().min(255.0) as u8);
            self.lut_brightness = brightness;
        }
        let lut = &self.lut;
        if self.noise.is_empty() {
            for (o, &c) in self.out.iter_mut().zip(&self.canvas.rgb) {
                *o = lut[c as usize];
            }
            return;
        }
        let n = self.out.len();
        let offset = (mix(
            self.scenario.seed ^ 0x006e_6f69_7365,
            (self.camera_index as u64) << 32 | u64::from(frame),
        ) % (self.noise.len() - n + 1) as u64) as usize;
        for ((o, &c), &e) in self
            .out
            .iter_mut()
            .zip(&self.canvas.rgb)
            .zip(&self.noise[offset..offset + n])
        {
            *o = lut[c as usize].saturating_add_signed(e);
        }
    }
}

fn ratio(visible: u32, total: u32) -> f32 {
    if total == 0 {
        0.0
    } else {
        (visible as f32 / total as f32).min(1.0)
    }
}

/// Gaussian noise of the scenario's sigma, twice a frame long, so that each frame reads a window at a
/// seeded offset; empty when there is no sensor noise.
fn noise_table(scenario: &Scenario, camera_index: usize, frame_bytes: usize) -> Vec<i8> {
    let sigma = scenario.noise.sensor_sigma;
    if sigma <= 0.0 {
        return Vec::new();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(mix(scenario.seed ^ 0x5e_6e50, camera_index as u64));
    let len = frame_bytes * 2;
    let mut table = Vec::with_capacity(len);
    while table.len() < len {
        // Box–Muller: two normal samples from two uniform ones.
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt() * sigma;
        let theta = std::f64::consts::TAU * u2;
        table.push((r * theta.cos()).round().clamp(-127.0, 127.0) as i8);
        table.push((r * theta.sin()).round().clamp(-127.0, 127.0) as i8);
    }
    table.truncate(len);
    table
}
