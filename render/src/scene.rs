//! The 3-D world every camera sees: the static store (floor, walls, gates, shelves), where each slot's
//! units stand, what every slot and hand holds over time, and the shoppers' bodies.

use std::collections::BTreeMap;

use walkout_datasets::scenario::{Action, Facing, Scenario};
use walkout_datasets::truth::{Holder, ShopperState, Timeline};

use crate::raster::{Canvas, Tag, View};

/// Most units drawn in one shopper's hands (one in the reaching hand, the rest stacked in the other).
pub(crate) const HELD_MAX: usize = 6;
/// Ids per shopper: the whole body (a group, never written), body, left hand, right hand, held units.
const SHOPPER_IDS: u32 = 4 + HELD_MAX as u32;

const BOARD_M: f32 = 0.025;
const PANEL_M: f32 = 0.02;
const GAP_M: f32 = 0.01;

/// A product's look.
#[derive(Debug, Clone)]
pub(crate) struct Sku {
    pub name: String,
    /// `[width, depth, height]`, metres.
    pub size_m: [f32; 3],
    pub rgb: [u8; 3],
}

/// Where the units of one slot stand: a grid of positions on the shelf board, stocked from the back,
/// so that a slot's last units (the first taken) stand in its front row.
#[derive(Debug, Clone)]
pub(crate) struct SlotLayout {
    pub id: String,
    pub own_sku: usize,
    /// Centre of the front row's first position's column, on the board, world metres.
    face_center_m: [f32; 3],
    /// Unit floor vector along the face and into the shelf.
    along: [f32; 2],
    inward: [f32; 2],
    per_row: u32,
    rows: u32,
    /// Height available above the board, metres.
    clearance_m: f32,
    /// Id of position 0; positions are `first_id..first_id + positions`.
    pub first_id: u32,
    pub positions: u32,
}

impl SlotLayout {
    /// Centre of the unit at `position`, for a product of `size_m`, or `None` when it does not fit.
    fn unit_center_m(
        &self,
        position: u32,
        own_size_m: [f32; 3],
        size_m: [f32; 3],
    ) -> Option<[f32; 3]> {
        let per_layer = self.per_row * self.rows;
        // a slot is stocked from the back, so the units taken first (the slot's last) fill the front
        // row, where a shopper takes them and a camera sees them go
        let position = if self.positions <= per_layer && position < self.positions {
            self.positions - 1 - position
        } else {
            position
        };
        let layer = position / per_layer;
        let rest = position % per_layer;
        let (row, column) = (rest / self.per_row, rest % self.per_row);
        let pitch_along = own_size_m[0] + GAP_M;
        let pitch_in = own_size_m[1] + GAP_M;
        let along = (column as f32 - (self.per_row as f32 - 1.0) / 2.0) * pitch_along;
        let inward = 0.03 + own_size_m[1] / 2.0 + row as f32 * pitch_in;
        let top = (layer as f32 + 1.0) * own_size_m[2].max(size_m[2]);
        if layer > 0 && top > self.clearance_m - 0.02 {
            return None;
        }
        let f = self.face_center_m;
        Some([
            f[0] + self.along[0] * along + self.inward[0] * inward,
            f[1] + self.along[1] * along + self.inward[1] * inward,
            f[2] + layer as f32 * own_size_m[2] + size_m[2] / 2.0,
        ])
    }
}

/// An oriented box.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SolidBox {
    pub center_m: [f32; 3],
    pub half_m: [f32; 3],
    /// Rotation about +z of the box's first axis from +x, radians.
    pub yaw_rad: f32,
    pub rgb: [u8; 3],
}

/// A flat quad with its outward normal (floor tiles, walls seen from inside).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quad {
    pub corners_m: [[f32; 3]; 4],
    pub normal: [f32; 3],
    pub rgb: [u8; 3],
}

/// How one shopper looks.
#[derive(Debug, Clone)]
pub(crate) struct ShopperLook {
    pub track_id: i64,
    pub height_m: f32,
    pub shoulder_width_m: f32,
    pub arm_length_m: f32,
    pub top_rgb: [u8; 3],
    pub bottom_rgb: [u8; 3],
    pub skin_rgb: [u8; 3],
    pub hair_rgb: [u8; 3],
    /// Per action, the product it moves, if any.
    action_skus: Vec<Option<usize>>,
    /// Per action, whether it hands something to another shopper (the right arm goes out in front).
    hands_over: Vec<bool>,
}

/// Who holds units, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HolderIx {
    Slot(usize),
    Shopper(usize),
}

#[derive(Debug, Clone, Copy)]
struct Change {
    time_secs: f64,
    holder: HolderIx,
    sku: usize,
    delta: i64,
}

/// Everything static about the world, shared read-only by every camera's renderer.
#[derive(Debug)]
pub(crate) struct Scene {
    pub skus: Vec<Sku>,
    pub slots: Vec<SlotLayout>,
    pub shoppers: Vec<ShopperLook>,
    pub timeline: Timeline,
    quads: Vec<Quad>,
    boxes: Vec<SolidBox>,
    changes: Vec<Change>,
    initial_stock: Vec<u32>,
    shopper_first_id: u32,
    /// Size of the id space.
    pub id_count: usize,
}

impl Scene {
    /// Every slot's unit places, world metres, in the order the slot fills them.
    pub fn shelf_places_m(&self) -> BTreeMap<String, Vec<[f32; 3]>> {
        self.slots
            .iter()
            .map(|slot| {
                let size = self.skus.get(slot.own_sku).map_or([0.08; 3], |s| s.size_m);
                let places = (0..slot.positions)
                    .filter_map(|p| slot.unit_center_m(p, size, size))
                    .collect();
                (slot.id.clone(), places)
            })
            .collect()
    }
}

/// The ids of one shopper's parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShopperIds {
    pub person: u32,
    pub body: u32,
    pub left_hand: u32,
    pub right_hand: u32,
    pub first_held: u32,
}

impl Scene {
    pub fn new(scenario: &Scenario, timeline: Timeline) -> Self {
        let mut sku_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut skus = Vec::new();
        for slot in scenario.store.slots() {
            sku_index.entry(slot.sku.clone()).or_insert_with(|| {
                skus.push(Sku {
                    name: slot.sku.clone(),
                    size_m: slot.product_size_m.map(|v| v as f32),
                    rgb: slot.product_rgb,
                });
                skus.len() - 1
            });
        }
        let mut slot_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut slots = Vec::new();
        let mut initial_stock = Vec::new();
        let mut quads = floor_and_walls(scenario);
        let mut boxes = Vec::new();
        for shelf in &scenario.store.shelves {
            boxes.extend(shelf_boxes(shelf));
            for slot in &shelf.slots {
                slot_index.insert(slot.id.clone(), slots.len());
                initial_stock.push(slot.initial_stock);
                let own_sku = sku_index.get(&slot.sku).copied().unwrap_or(0);
                slots.push(slot_layout(shelf, slot, own_sku));
            }
        }
        for gate in &scenario.store.gates {
            let [x, y] = gate.position_m.map(|v| v as f32);
            let half = gate.width_m as f32 / 2.0;
            let rgb = match gate.kind {
                walkout_datasets::scenario::GateKind::Entry => [70, 150, 80],
                walkout_datasets::scenario::GateKind::Exit => [170, 70, 60],
            };
            quads.push(Quad {
                corners_m: [
                    [x - half, y - 0.3, 0.002],
                    [x + half, y - 0.3, 0.002],
                    [x + half, y + 0.3, 0.002],
                    [x - half, y + 0.3, 0.002],
                ],
                normal: [0.0, 0.0, 1.0],
                rgb,
            });
        }

        let holder_ix = |holder: &Holder| match holder {
            Holder::Slot(id) => slot_index.get(id).map(|&s| HolderIx::Slot(s)),
            Holder::Shopper(i) => Some(HolderIx::Shopper(*i)),
        };
        let changes: Vec<Change> = timeline
            .item_changes()
            .iter()
            .filter_map(|c| {
                Some(Change {
                    time_secs: c.time_secs,
                    holder: holder_ix(&c.holder)?,
                    sku: *sku_index.get(&c.sku)?,
                    delta: c.delta,
                })
            })
            .collect();
        // Each slot gets as many position ids as it ever holds units.
        let mut peak: Vec<i64> = initial_stock.iter().map(|&n| i64::from(n)).collect();
        let mut running = peak.clone();
        for change in &changes {
            if let HolderIx::Slot(s) = change.holder {
                running[s] += change.delta;
                peak[s] = peak[s].max(running[s]);
            }
        }
        let mut next_id = 1u32;
        for (slot, peak) in slots.iter_mut().zip(&peak) {
            slot.first_id = next_id;
            slot.positions = u32::try_from(*peak).unwrap_or(0);
            next_id += slot.positions;
        }
        let shopper_first_id = next_id;

        let shoppers = scenario
            .shoppers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let pick = |k: u64, palette: &[[u8; 3]]| {
                    palette[(mix(scenario.seed ^ k, i as u64) % palette.len() as u64) as usize]
                };
                let slot_sku = |slot: &str| slot_index.get(slot).map(|&ix| slots[ix].own_sku);
                ShopperLook {
                    track_id: i as i64 + 1,
                    height_m: s.body.height_m as f32,
                    shoulder_width_m: s.body.shoulder_width_m as f32,
                    arm_length_m: s.body.arm_length_m as f32,
                    top_rgb: s.appearance.top_rgb,
                    bottom_rgb: s.appearance.bottom_rgb,
                    skin_rgb: pick(1, &SKIN),
                    hair_rgb: pick(2, &HAIR),
                    action_skus: s
                        .actions
                        .iter()
                        .map(|a| match a {
                            Action::Pick { slot, .. } | Action::PutBack { slot, .. } => {
                                slot_sku(slot)
                            }
                            Action::Misplace { sku, .. } | Action::HandOver { sku, .. } => {
                                sku_index.get(sku).copied()
                            }
                            Action::Browse { .. } | Action::Touch { .. } => None,
                        })
                        .collect(),
                    hands_over: s
                        .actions
                        .iter()
                        .map(|a| matches!(a, Action::HandOver { .. }))
                        .collect(),
                }
            })
            .collect::<Vec<_>>();
        let id_count = (shopper_first_id + SHOPPER_IDS * shoppers.len() as u32) as usize;
        Self {
            skus,
            slots,
            shoppers,
            timeline,
            quads,
            boxes,
            changes,
            initial_stock,
            shopper_first_id,
            id_count,
        }
    }

    pub fn shopper_ids(&self, shopper: usize) -> ShopperIds {
        let base = self.shopper_first_id + SHOPPER_IDS * shopper as u32;
        ShopperIds {
            person: base,
            body: base + 1,
            left_hand: base + 2,
            right_hand: base + 3,
            first_held: base + 4,
        }
    }

    /// Draws the store without shoppers: floor, walls, gates, shelves and the units on them.
    pub fn draw_static(&self, canvas: &mut Canvas, view: &View, items: &ItemState) {
        for quad in &self.quads {
            draw_quad(canvas, view, quad, Tag::SCENERY);
        }
        for b in &self.boxes {
            draw_box(canvas, view, b, Tag::SCENERY);
        }
        for (s, slot) in self.slots.iter().enumerate() {
            let own = self.skus[slot.own_sku].size_m;
            let mut position = 0u32;
            for &(sku, count) in &items.slots[s] {
                for _ in 0..count {
                    if position >= slot.positions {
                        break;
                    }
                    let size = self.skus[sku].size_m;
                    if let Some(center_m) = slot.unit_center_m(position, own, size) {
                        let unit = SolidBox {
                            center_m,
                            half_m: size.map(|v| v / 2.0),
                            yaw_rad: slot.along[1].atan2(slot.along[0]),
                            rgb: self.skus[sku].rgb,
                        };
                        canvas.reset_objects();
                        draw_box(canvas, view, &unit, Tag::object(slot.first_id + position));
                    }
                    position += 1;
                }
            }
        }
    }

    /// Draws one shopper in the given state, with what they hold; returns the SKU at each held id.
    pub fn draw_shopper(
        &self,
        canvas: &mut Canvas,
        view: &View,
        index: usize,
        state: &ShopperState,
        time_secs: f64,
        items: &ItemState,
    ) -> [Option<usize>; HELD_MAX] {
        let look = &self.shoppers[index];
        let ids = self.shopper_ids(index);
        let pose = Pose::new(look, state, time_secs);
        canvas.reset_objects();
        let person = |id| Tag {
            id,
            group: ids.person,
        };
        let body = person(ids.body);
        let s = look.height_m / 1.72;
        for k in 0..2 {
            canvas.fill_capsule(
                view,
                pose.hips[k],
                pose.feet[k],
                0.075 * s,
                look.bottom_rgb,
                body,
            );
        }
        draw_box(canvas, view, &pose.torso(look), body);
        for k in 0..2 {
            canvas.fill_capsule(
                view,
                pose.shoulders[k],
                pose.hands[k],
                0.045 * s,
                look.top_rgb,
                body,
            );
        }
        canvas.fill_capsule(view, pose.head, pose.head, 0.1 * s, look.skin_rgb, body);
        canvas.fill_capsule(view, pose.hair, pose.hair, 0.095 * s, look.hair_rgb, body);
        canvas.fill_capsule(
            view,
            pose.hands[0],
            pose.hands[0],
            0.05 * s,
            look.skin_rgb,
            person(ids.left_hand),
        );
        canvas.fill_capsule(
            view,
            pose.hands[1],
            pose.hands[1],
            0.05 * s,
            look.skin_rgb,
            person(ids.right_hand),
        );

        // What the hands hold: the product the current action moves in the right hand when it is held,
        // else the latest acquired; the rest stacked under the left hand.
        let mut held_out = [None; HELD_MAX];
        let holdings = &items.shoppers[index];
        if holdings.is_empty() {
            return held_out;
        }
        let action_sku = state
            .action
            .and_then(|a| look.action_skus.get(a).copied().flatten())
            .filter(|sku| holdings.iter().any(|&(h, n)| h == *sku && n > 0));
        let right = action_sku.or_else(|| holdings.last().map(|&(sku, _)| sku));
        let mut slot = 0usize;
        if let Some(sku) = right {
            held_out[0] = Some(sku);
            slot = 1;
        }
        let mut skipped_right = false;
        'outer: for &(sku, count) in holdings {
            for _ in 0..count {
                if Some(sku) == right && !skipped_right {
                    skipped_right = true;
                    continue;
                }
                if slot >= HELD_MAX {
                    break 'outer;
                }
                held_out[slot] = Some(sku);
                slot += 1;
            }
        }
        let mut below_left_m = 0.0;
        for (k, sku) in held_out.iter().enumerate() {
            let Some(sku) = *sku else { continue };
            let size = self.skus[sku].size_m;
            let (hand, drop_m) = if k == 0 {
                (pose.hands[1], 0.0)
            } else {
                let d = below_left_m;
                below_left_m += size[2] + 0.01;
                (pose.hands[0], d)
            };
            let center_z = hand[2] - 0.03 - drop_m - size[2] / 2.0;
            if center_z - size[2] / 2.0 < 0.02 {
                continue;
            }
            let unit = SolidBox {
                center_m: [hand[0], hand[1], center_z],
                half_m: size.map(|v| v / 2.0),
                yaw_rad: pose.heading_rad,
                rgb: self.skus[sku].rgb,
            };
            canvas.reset_objects();
            draw_box(canvas, view, &unit, Tag::object(ids.first_held + k as u32));
        }
        held_out
    }
}

/// The joints of a shopper at one instant, world metres. Index 0 is left, 1 right.
struct Pose {
    heading_rad: f32,
    center: [f32; 2],
    hips: [[f32; 3]; 2],
    feet: [[f32; 3]; 2],
    shoulders: [[f32; 3]; 2],
    hands: [[f32; 3]; 2],
    head: [f32; 3],
    hair: [f32; 3],
    hip_z: f32,
    shoulder_z: f32,
}

impl Pose {
    fn new(look: &ShopperLook, state: &ShopperState, time_secs: f64) -> Self {
        let h = look.height_m;
        let s = h / 1.72;
        let heading = state.heading_rad as f32;
        let f = [heading.cos(), heading.sin()];
        // Left of the heading.
        let l = [-f[1], f[0]];
        let c = state.position_m.map(|v| v as f32);
        let at = |along: f32, left: f32, z: f32| {
            [
                c[0] + f[0] * along + l[0] * left,
                c[1] + f[1] * along + l[1] * left,
                z,
            ]
        };
        let walking = state.action.is_none();
        let swing = if walking {
            (time_secs as f32 * std::f32::consts::TAU * 0.9).sin()
        } else {
            0.0
        };
        let hip_z = 0.52 * h;
        let shoulder_z = 0.81 * h;
        let half_hips = 0.09 * s;
        let stride = 0.22 * s;
        let hips = [at(0.0, half_hips, hip_z), at(0.0, -half_hips, hip_z)];
        let feet = [
            at(stride * swing, half_hips, 0.07 * s),
            at(-stride * swing, -half_hips, 0.07 * s),
        ];
        let half_shoulders = look.shoulder_width_m / 2.0 - 0.02;
        let shoulders = [
            at(0.0, half_shoulders, shoulder_z - 0.04 * s),
            at(0.0, -half_shoulders, shoulder_z - 0.04 * s),
        ];
        let arm = look.arm_length_m;
        let rest = |k: usize, side: f32| {
            let swing = if k == 0 { -swing } else { swing };
            at(
                0.05 + 0.18 * swing,
                side * (half_shoulders + 0.06),
                shoulder_z - 0.04 * s - 0.9 * arm,
            )
        };
        let mut hands = [rest(0, 1.0), rest(1, -1.0)];
        let handing_over = state
            .action
            .is_some_and(|a| look.hands_over.get(a).copied().unwrap_or(false));
        if handing_over {
            hands[1] = at(0.45 * arm, -0.1, shoulder_z - 0.3 * s);
        }
        if let Some(reach) = &state.reach {
            // The right hand goes from its rest towards the slot and a little into it.
            let t = reach.target_m.map(|v| v as f32);
            let into = [t[0] - c[0], t[1] - c[1]];
            let len = (into[0] * into[0] + into[1] * into[1]).sqrt().max(1e-6);
            let target = [
                t[0] + into[0] / len * 0.08,
                t[1] + into[1] / len * 0.08,
                t[2],
            ];
            let e = reach.extension as f32;
            let r = hands[1];
            hands[1] = [
                r[0] + (target[0] - r[0]) * e,
                r[1] + (target[1] - r[1]) * e,
                r[2] + (target[2] - r[2]) * e,
            ];
        }
        let head = at(0.0, 0.0, h - 0.12 * s);
        let hair = at(-0.02 * s, 0.0, h - 0.1 * s);
        Self {
            heading_rad: heading,
            center: c,
            hips,
            feet,
            shoulders,
            hands,
            head,
            hair,
            hip_z,
            shoulder_z,
        }
    }

    fn torso(&self, look: &ShopperLook) -> SolidBox {
        let s = look.height_m / 1.72;
        let bottom = self.hip_z - 0.06 * s;
        let top = self.shoulder_z;
        SolidBox {
            center_m: [self.center[0], self.center[1], (bottom + top) / 2.0],
            half_m: [0.12 * s, look.shoulder_width_m / 2.0, (top - bottom) / 2.0],
            yaw_rad: self.heading_rad,
            rgb: look.top_rgb,
        }
    }
}

/// What every slot and every shopper holds at the time last advanced to.
#[derive(Debug, Clone)]
pub(crate) struct ItemState {
    applied: usize,
    time_secs: f64,
    /// Per slot: `(sku, units)`, the slot's own SKU first, others in order of arrival.
    pub slots: Vec<Vec<(usize, u32)>>,
    /// Per shopper: `(sku, units)` in order of arrival; no zero entries.
    pub shoppers: Vec<Vec<(usize, u32)>>,
    /// Bumped whenever a slot's contents change (the background must be redrawn).
    pub slot_version: u64,
}

impl ItemState {
    pub fn new(scene: &Scene) -> Self {
        let mut state = Self {
            applied: 0,
            time_secs: f64::NEG_INFINITY,
            slots: Vec::new(),
            shoppers: vec![Vec::with_capacity(8); scene.shoppers.len()],
            slot_version: 0,
        };
        state.reset(scene);
        state
    }

    fn reset(&mut self, scene: &Scene) {
        self.applied = 0;
        self.time_secs = f64::NEG_INFINITY;
        self.slots = scene
            .slots
            .iter()
            .zip(&scene.initial_stock)
            .map(|(slot, &n)| {
                let mut v = Vec::with_capacity(4);
                v.push((slot.own_sku, n));
                v
            })
            .collect();
        for s in &mut self.shoppers {
            s.clear();
        }
        self.slot_version += 1;
    }

    /// Applies every change up to and including `time_secs`; going back in time replays from the start.
    pub fn advance_to(&mut self, scene: &Scene, time_secs: f64) {
        if time_secs < self.time_secs {
            self.reset(scene);
        }
        self.time_secs = time_secs;
        while let Some(change) = scene.changes.get(self.applied) {
            if change.time_secs > time_secs {
                break;
            }
            self.applied += 1;
            let list = match change.holder {
                HolderIx::Slot(s) => {
                    self.slot_version += 1;
                    &mut self.slots[s]
                }
                HolderIx::Shopper(i) => &mut self.shoppers[i],
            };
            let keep_zero =
                matches!(change.holder, HolderIx::Slot(s) if scene.slots[s].own_sku == change.sku);
            match list.iter().position(|&(sku, _)| sku == change.sku) {
                Some(k) => {
                    let n = (i64::from(list[k].1) + change.delta).max(0);
                    list[k].1 = u32::try_from(n).unwrap_or(0);
                    if list[k].1 == 0 && !keep_zero {
                        list.remove(k);
                    }
                }
                None if change.delta > 0 => {
                    list.push((change.sku, u32::try_from(change.delta).unwrap_or(0)));
                }
                None => {}
            }
        }
    }

    /// The SKU shown at a slot's position, if a unit stands there.
    pub fn sku_at(&self, slot: usize, position: u32) -> Option<usize> {
        let mut start = 0u32;
        for &(sku, count) in &self.slots[slot] {
            if position < start + count {
                return Some(sku);
            }
            start += count;
        }
        None
    }
}

const SKIN: [[u8; 3]; 5] = [
    [241, 194, 160],
    [224, 172, 125],
    [198, 134, 90],
    [141, 85, 56],
    [92, 58, 40],
];
const HAIR: [[u8; 3]; 5] = [
    [30, 25, 20],
    [80, 50, 30],
    [150, 110, 60],
    [200, 170, 110],
    [120, 120, 120],
];

/// SplitMix64-style mixing of a seed and a stream number.
pub(crate) fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Brightness of a face from its normal: mostly light from above.
fn shade(rgb: [u8; 3], normal: [f32; 3]) -> [u8; 3] {
    const LIGHT: [f32; 3] = [0.267, 0.178, 0.947];
    let lambert = (normal[0] * LIGHT[0] + normal[1] * LIGHT[1] + normal[2] * LIGHT[2]).max(0.0);
    let k = 0.5 + 0.5 * lambert;
    rgb.map(|v| (f32::from(v) * k).min(255.0) as u8)
}

pub(crate) fn draw_quad(canvas: &mut Canvas, view: &View, quad: &Quad, tag: Tag) {
    let c = quad.corners_m[0];
    let to_camera = [
        view.position_m[0] - c[0],
        view.position_m[1] - c[1],
        view.position_m[2] - c[2],
    ];
    if dot(to_camera, quad.normal) <= 0.0 {
        return;
    }
    let pts = quad.corners_m.map(|p| view.camera_from_world(p));
    canvas.fill_polygon(view, &pts, shade(quad.rgb, quad.normal), tag);
}

pub(crate) fn draw_box(canvas: &mut Canvas, view: &View, b: &SolidBox, tag: Tag) {
    let (sin, cos) = b.yaw_rad.sin_cos();
    let axes = [[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]];
    let corner = |sx: f32, sy: f32, sz: f32| {
        let mut p = b.center_m;
        for (k, (axis, sign)) in axes.iter().zip([sx, sy, sz]).enumerate() {
            for d in 0..3 {
                p[d] += axis[d] * sign * b.half_m[k];
            }
        }
        p
    };
    for axis in 0..3 {
        for sign in [-1.0f32, 1.0] {
            let normal = axes[axis].map(|v| v * sign);
            let face_center = [0, 1, 2].map(|d| b.center_m[d] + normal[d] * b.half_m[axis]);
            let to_camera = [0, 1, 2].map(|d| view.position_m[d] - face_center[d]);
            if dot(to_camera, normal) <= 0.0 {
                continue;
            }
            let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
            let mut signs = [[0.0f32; 3]; 4];
            for (k, (su, sv)) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
                .into_iter()
                .enumerate()
            {
                signs[k][axis] = sign;
                signs[k][u] = su;
                signs[k][v] = sv;
            }
            let pts = signs.map(|s| view.camera_from_world(corner(s[0], s[1], s[2])));
            canvas.fill_polygon(view, &pts, shade(b.rgb, normal), tag);
        }
    }
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// A checkered floor, and the outer and inner walls seen from inside.
fn floor_and_walls(scenario: &Scenario) -> Vec<Quad> {
    let floor = &scenario.store.floor;
    let (w, d) = (floor.width_m as f32, floor.depth_m as f32);
    let tile = 1.0f32;
    let mut quads = Vec::new();
    let (nx, ny) = ((w / tile).ceil() as usize, (d / tile).ceil() as usize);
    for i in 0..nx {
        for j in 0..ny {
            let (x0, y0) = (i as f32 * tile, j as f32 * tile);
            let (x1, y1) = ((x0 + tile).min(w), (y0 + tile).min(d));
            let rgb = if (i + j) % 2 == 0 {
                [196, 190, 178]
            } else {
                [176, 170, 160]
            };
            quads.push(Quad {
                corners_m: [[x0, y0, 0.0], [x1, y0, 0.0], [x1, y1, 0.0], [x0, y1, 0.0]],
                normal: [0.0, 0.0, 1.0],
                rgb,
            });
        }
    }
    let h = floor.ceiling_height_m as f32;
    let wall_rgb = [214, 218, 222];
    let wall = |a: [f32; 2], b: [f32; 2], normal: [f32; 3]| Quad {
        corners_m: [
            [a[0], a[1], 0.0],
            [b[0], b[1], 0.0],
            [b[0], b[1], h],
            [a[0], a[1], h],
        ],
        normal,
        rgb: wall_rgb,
    };
    quads.push(wall([0.0, 0.0], [w, 0.0], [0.0, 1.0, 0.0]));
    quads.push(wall([w, d], [0.0, d], [0.0, -1.0, 0.0]));
    quads.push(wall([0.0, d], [0.0, 0.0], [1.0, 0.0, 0.0]));
    quads.push(wall([w, 0.0], [w, d], [-1.0, 0.0, 0.0]));
    for inner in &floor.walls {
        let a = inner.from_m.map(|v| v as f32);
        let b = inner.to_m.map(|v| v as f32);
        let h = inner.height_m as f32;
        let dir = [b[0] - a[0], b[1] - a[1]];
        let len = (dir[0] * dir[0] + dir[1] * dir[1]).sqrt().max(1e-6);
        let n = [-dir[1] / len, dir[0] / len];
        let side = |a: [f32; 2], b: [f32; 2], n: [f32; 2]| Quad {
            corners_m: [
                [a[0], a[1], 0.0],
                [b[0], b[1], 0.0],
                [b[0], b[1], h],
                [a[0], a[1], h],
            ],
            normal: [n[0], n[1], 0.0],
            rgb: [190, 194, 200],
        };
        quads.push(side(a, b, n));
        quads.push(side(b, a, [-n[0], -n[1]]));
    }
    quads
}

/// A shelf unit: back panel, side panels and one board per level plus the top.
fn shelf_boxes(shelf: &walkout_datasets::scenario::Shelf) -> Vec<SolidBox> {
    let [x0, y0, x1, y1] = shelf.footprint_m().map(|v| v as f32);
    let h = shelf.size_m[2] as f32;
    let levels = shelf.levels.max(1);
    let board_rgb = [235, 235, 230];
    let panel_rgb = [150, 155, 165];
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (hx, hy) = ((x1 - x0) / 2.0, (y1 - y0) / 2.0);
    let mut boxes = Vec::new();
    for level in 0..=levels {
        let z = (level as f32 * h / levels as f32).clamp(BOARD_M / 2.0, h - BOARD_M / 2.0);
        boxes.push(SolidBox {
            center_m: [cx, cy, z],
            half_m: [hx, hy, BOARD_M / 2.0],
            yaw_rad: 0.0,
            rgb: board_rgb,
        });
    }
    let panel = |center: [f32; 2], half: [f32; 2]| SolidBox {
        center_m: [center[0], center[1], h / 2.0],
        half_m: [half[0], half[1], h / 2.0],
        yaw_rad: 0.0,
        rgb: panel_rgb,
    };
    let p = PANEL_M / 2.0;
    match shelf.facing {
        Facing::North | Facing::South => {
            let back_y = if shelf.facing == Facing::North {
                y0 + p
            } else {
                y1 - p
            };
            boxes.push(panel([cx, back_y], [hx, p]));
            boxes.push(panel([x0 + p, cy], [p, hy]));
            boxes.push(panel([x1 - p, cy], [p, hy]));
        }
        Facing::East | Facing::West => {
            let back_x = if shelf.facing == Facing::East {
                x0 + p
            } else {
                x1 - p
            };
            boxes.push(panel([back_x, cy], [p, hy]));
            boxes.push(panel([cx, y0 + p], [hx, p]));
            boxes.push(panel([cx, y1 - p], [hx, p]));
        }
    }
    boxes
}

fn slot_layout(
    shelf: &walkout_datasets::scenario::Shelf,
    slot: &walkout_datasets::scenario::Slot,
    own_sku: usize,
) -> SlotLayout {
    let (face, opening) = shelf.slot_face(slot.level, slot.column);
    let n = shelf.facing.normal().map(|v| v as f32);
    let inward = [-n[0], -n[1]];
    let along = [n[1].abs(), n[0].abs()];
    let level_h = shelf.level_height_m() as f32;
    let base_z = (slot.level as f32 - 1.0) * level_h + BOARD_M / 2.0;
    let depth = shelf.depth_m() as f32;
    let size = slot.product_size_m.map(|v| v as f32);
    let per_row = (((opening[0] as f32 - 0.04) / (size[0] + GAP_M)).floor() as u32).max(1);
    let rows = (((depth - 0.06 - PANEL_M) / (size[1] + GAP_M)).floor() as u32).max(1);
    SlotLayout {
        id: slot.id.clone(),
        own_sku,
        face_center_m: [face[0] as f32, face[1] as f32, base_z],
        along,
        inward,
        per_row,
        rows,
        clearance_m: level_h - BOARD_M,
        first_id: 0,
        positions: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkout_datasets::truth::EventKind;

    const EXAMPLE: &str = include_str!("../../datasets/scenarios/example.toml");

    #[test]
    fn slot_counts_follow_picks_put_backs_and_misplaced_units() {
        let scenario = Scenario::from_toml_str(EXAMPLE).unwrap();
        let scene = Scene::new(&scenario, scenario.timeline().unwrap());
        let truth = walkout_datasets::GroundTruth::from_scenario(&scenario).unwrap();
        let slot = |id: &str| scene.slots.iter().position(|s| s.id == id).unwrap();
        let sku = |name: &str| scene.skus.iter().position(|s| s.name == name).unwrap();
        let (a21, a13) = (slot("A2-1"), slot("A1-3"));
        let (cola, chips) = (sku("COLA-330"), sku("CHIPS-SALT"));
        let at = |kind: EventKind, slot: &str| {
            truth
                .events
                .iter()
                .find(|e| e.kind == kind && e.slot == slot)
                .unwrap()
                .time_secs
        };
        let (pick, put, misplace) = (
            at(EventKind::Pick, "A2-1"),
            at(EventKind::Put, "A2-1"),
            at(EventKind::Put, "A1-3"),
        );

        let mut items = ItemState::new(&scene);
        items.advance_to(&scene, pick - 0.01);
        assert_eq!(items.slots[a21], vec![(cola, 10)]);
        assert!(items.shoppers[0].is_empty());
        let version = items.slot_version;
        items.advance_to(&scene, pick + 0.01);
        assert_eq!(items.slots[a21], vec![(cola, 8)]);
        assert_eq!(items.shoppers[0], vec![(cola, 2)]);
        assert!(
            items.slot_version > version,
            "the background must be redrawn"
        );
        items.advance_to(&scene, put + 0.01);
        assert_eq!(items.slots[a21], vec![(cola, 9)]);
        assert_eq!(items.shoppers[0], vec![(cola, 1)]);
        items.advance_to(&scene, misplace + 0.01);
        assert_eq!(
            items.slots[a13],
            vec![(chips, 5), (cola, 1)],
            "the stray cola stands behind"
        );
        assert_eq!(items.sku_at(a13, 5), Some(cola));
        assert_eq!(items.sku_at(a13, 6), None);
        // Going back in time replays from the start.
        items.advance_to(&scene, pick - 0.01);
        assert_eq!(items.slots[a21], vec![(cola, 10)]);
        // Every unit a slot ever holds has an id of its own.
        assert_eq!(scene.slots[a13].positions, 6);
        assert_eq!(scene.slots[a21].positions, 10);
    }
}
