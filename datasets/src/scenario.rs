//! The scenario format: a store, its cameras, the shoppers and what they do, the noise, and the seed.
//!
//! Scenarios are TOML (see `datasets/scenarios/example.toml` for an annotated one). Units and frames:
//! the world is metres with `x` east, `y` north and `z` up, the origin at the floor's south-west corner;
//! times are seconds from the start of the recording; money is integer minor units (cents).
//! [`Scenario::from_toml_str`] parses and validates; validation reports every problem at once, each with the
//! path of the field (`shoppers[2].actions[1].slot: unknown slot "B3-4"`).

use std::collections::{BTreeMap, BTreeSet};

use nalgebra::{
    Isometry3, Matrix3, Point2, Point3, Rotation3, Translation3, UnitQuaternion, Vector3,
};
use serde::{Deserialize, Serialize};
use walkout_core::BBox;

/// A whole synthetic recording: what the renderer draws and what the ground truth follows from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name for reports (`"solo-seed-7"`).
    pub name: String,
    /// Seeds everything random that is not spelled out here (dropped frames, sensor noise, the renderer's
    /// choices). The same scenario and seed always give the same output.
    pub seed: u64,
    /// Length of the recording; every shopper must have left before it ends.
    pub duration_secs: f64,
    /// The store: floor, shelves with their slots, gates.
    pub store: Store,
    /// The cameras, each with its pose, intrinsics, resolution and frame rate.
    pub cameras: Vec<Camera>,
    /// The shoppers, each with an account, a path and actions.
    #[serde(default)]
    pub shoppers: Vec<Shopper>,
    /// What makes the footage imperfect.
    #[serde(default)]
    pub noise: Noise,
}

/// The store's fixed geometry and planogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// The floor rectangle and its inner walls.
    pub floor: Floor,
    /// The shelves, each holding slots.
    #[serde(default)]
    pub shelves: Vec<Shelf>,
    /// Entry and exit gates.
    #[serde(default)]
    pub gates: Vec<Gate>,
    /// Weight sensors under every slot (lane scales), when the store has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scales: Option<Scales>,
}

/// Lane scales: every slot stands on one, which reports each settled change of the slot's weight.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scales {
    /// Standard deviation of a reading's error, grams.
    pub noise_g: f64,
    /// How long after the items moved the scale has settled and reports, seconds. Changes on one slot
    /// closer together than this are reported as one.
    pub settle_secs: f64,
}

impl Default for Scales {
    fn default() -> Self {
        Self {
            noise_g: 2.0,
            settle_secs: 0.5,
        }
    }
}

/// The floor: a rectangle from the origin to `(width_m, depth_m)`, closed by outer walls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Floor {
    /// Extent along `x` (east), metres.
    pub width_m: f64,
    /// Extent along `y` (north), metres.
    pub depth_m: f64,
    /// Height of the ceiling above the floor, metres (where the cameras usually hang).
    #[serde(default = "default_ceiling_height_m")]
    pub ceiling_height_m: f64,
    /// Inner walls that no path may cross, as floor segments.
    #[serde(default)]
    pub walls: Vec<Wall>,
}

fn default_ceiling_height_m() -> f64 {
    3.0
}

/// A straight wall on the floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wall {
    /// One end, floor metres `[x, y]`.
    pub from_m: [f64; 2],
    /// The other end, floor metres `[x, y]`.
    pub to_m: [f64; 2],
    /// Height, metres (for the renderer; paths may cross no wall whatever its height).
    #[serde(default = "default_wall_height_m")]
    pub height_m: f64,
}

fn default_wall_height_m() -> f64 {
    2.2
}

/// Which way a shelf's open face points; shoppers stand on that side to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Facing {
    /// The face looks towards +y.
    North,
    /// The face looks towards -y.
    South,
    /// The face looks towards +x.
    East,
    /// The face looks towards -x.
    West,
}

impl Facing {
    /// The unit floor vector the face looks along.
    pub fn normal(self) -> [f64; 2] {
        match self {
            Facing::North => [0.0, 1.0],
            Facing::South => [0.0, -1.0],
            Facing::East => [1.0, 0.0],
            Facing::West => [-1.0, 0.0],
        }
    }
}

/// An axis-aligned shelf unit: a box on the floor with a grid of slots on one face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shelf {
    /// Unique id (`"A"`).
    pub id: String,
    /// The south-west corner of the footprint, floor metres `[x, y]`.
    pub min_corner_m: [f64; 2],
    /// Size `[along x, along y, height]`, metres.
    pub size_m: [f64; 3],
    /// The side the slots open to.
    pub facing: Facing,
    /// Number of shelf levels, counted from the floor up.
    pub levels: u32,
    /// Number of slot columns along the face, counted from the face's lower coordinate (west or south).
    pub columns: u32,
    /// The slots on this shelf.
    #[serde(default)]
    pub slots: Vec<Slot>,
}

/// One planogram position: a place on a shelf that holds one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// Unique id across the store (`"B3-4"`: shelf B, level 3, column 4).
    pub id: String,
    /// Level, 1 (bottom) to the shelf's `levels`.
    pub level: u32,
    /// Column, 1 to the shelf's `columns`.
    pub column: u32,
    /// The product kept here.
    pub sku: String,
    /// Unit price in minor units (cents); the same SKU has the same price in every slot.
    pub price_minor: i64,
    /// Units on the slot when the recording starts.
    pub initial_stock: u32,
    /// The product's size `[width, depth, height]`, metres (for the renderer).
    #[serde(default = "default_product_size_m")]
    pub product_size_m: [f64; 3],
    /// The product's colour (for the renderer).
    #[serde(default = "default_product_rgb")]
    pub product_rgb: [u8; 3],
    /// Grams per unit (for the lane scales); when not given, the product's volume at 350 kg/m³.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_weight_g: Option<f64>,
}

impl Slot {
    /// Grams per unit: `unit_weight_g`, or the product's volume at 350 kg/m³ (a packaged grocery).
    pub fn unit_weight_g(&self) -> f64 {
        self.unit_weight_g.unwrap_or_else(|| {
            let [w, d, h] = self.product_size_m;
            w * d * h * 350_000.0
        })
    }
}

fn default_product_size_m() -> [f64; 3] {
    [0.08, 0.08, 0.2]
}

fn default_product_rgb() -> [u8; 3] {
    [200, 60, 40]
}

/// Whether a gate lets shoppers in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    /// Shoppers scan the app here and walk in.
    Entry,
    /// Shoppers walk out here and are charged.
    Exit,
}

/// An entry or exit gate: a point on the floor that paths start or end at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Unique id (`"entry-1"`).
    pub id: String,
    /// Entry or exit.
    pub kind: GateKind,
    /// The gate's centre, floor metres `[x, y]`.
    pub position_m: [f64; 2],
    /// The passage's width, metres (for the renderer).
    #[serde(default = "default_gate_width_m")]
    pub width_m: f64,
}

fn default_gate_width_m() -> f64 {
    0.9
}

/// A pinhole camera: OpenCV convention (x right, y down, z forward out of the lens), no distortion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    /// Unique id (`"aisle-1-west"`); also the name of its video and ground-truth files.
    pub id: String,
    /// The optical centre in world metres `[x, y, z]`.
    pub position_m: [f64; 3],
    /// The world point the optical axis passes through, metres; the image's up is the world's up (+z) as
    /// far as the view allows (a camera looking straight down has +y up in its image).
    pub look_at_m: [f64; 3],
    /// Focal lengths and principal point, pixels.
    pub intrinsics: Intrinsics,
    /// Image size `[width, height]`, pixels.
    pub resolution_px: [u32; 2],
    /// Frames per second.
    pub fps: f64,
}

/// Pinhole intrinsics, pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intrinsics {
    /// Horizontal focal length, pixels.
    pub fx_px: f64,
    /// Vertical focal length, pixels.
    pub fy_px: f64,
    /// Principal point, x, pixels.
    pub cx_px: f64,
    /// Principal point, y, pixels.
    pub cy_px: f64,
}

impl Camera {
    /// The camera's pose: maps camera coordinates (OpenCV axes, metres) to world metres.
    pub fn world_from_camera(&self) -> Isometry3<f64> {
        let position = Vector3::from(self.position_m);
        let forward = (Vector3::from(self.look_at_m) - position)
            .try_normalize(1e-12)
            .unwrap_or_else(Vector3::z);
        let world_up = if forward.cross(&Vector3::z()).norm() < 1e-6 {
            Vector3::y()
        } else {
            Vector3::z()
        };
        let right = forward.cross(&world_up).normalize();
        let down = forward.cross(&right);
        let rotation =
            Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[right, down, forward]));
        Isometry3::from_parts(
            Translation3::from(position),
            UnitQuaternion::from_rotation_matrix(&rotation),
        )
    }

    /// The inverse pose: world metres to camera coordinates.
    pub fn camera_from_world(&self) -> Isometry3<f64> {
        self.world_from_camera().inverse()
    }

    /// Where a world point lands in the image, in pixels, or `None` when it is behind the camera. The
    /// result may lie outside the image; see [`Camera::sees`].
    pub fn project(&self, world_m: [f64; 3]) -> Option<Point2<f64>> {
        let p = self.camera_from_world() * Point3::from(world_m);
        if p.z <= 1e-9 {
            return None;
        }
        let k = &self.intrinsics;
        Some(Point2::new(
            k.fx_px * p.x / p.z + k.cx_px,
            k.fy_px * p.y / p.z + k.cy_px,
        ))
    }

    /// Whether a world point projects inside the image.
    pub fn sees(&self, world_m: [f64; 3]) -> bool {
        self.project(world_m).is_some_and(|p| {
            p.x >= 0.0
                && p.y >= 0.0
                && p.x < f64::from(self.resolution_px[0])
                && p.y < f64::from(self.resolution_px[1])
        })
    }

    /// The image box of an upright body standing at `floor_m`: the projection of the vertical box
    /// `radius_m` around it from the floor to `height_m`, clamped to the image. `None` when a corner is
    /// behind the camera or nothing of it is in the image. Occlusion is not considered: the renderer knows
    /// what hides what.
    pub fn body_box(&self, floor_m: [f64; 2], height_m: f64, radius_m: f64) -> Option<BBox> {
        let (mut x0, mut y0, mut x1, mut y1) = (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        );
        for dx in [-radius_m, radius_m] {
            for dy in [-radius_m, radius_m] {
                for z in [0.0, height_m] {
                    let p = self.project([floor_m[0] + dx, floor_m[1] + dy, z])?;
                    x0 = x0.min(p.x);
                    y0 = y0.min(p.y);
                    x1 = x1.max(p.x);
                    y1 = y1.max(p.y);
                }
            }
        }
        let [width, height] = self.resolution_px.map(f64::from);
        let clamped = BBox::new(
            x0.clamp(0.0, width) as f32,
            y0.clamp(0.0, height) as f32,
            x1.clamp(0.0, width) as f32,
            y1.clamp(0.0, height) as f32,
        );
        (clamped.area() > 0.0).then_some(clamped)
    }

    /// The presentation time of a 1-based frame number.
    pub fn frame_time_secs(&self, frame: u32) -> f64 {
        f64::from(frame.saturating_sub(1)) / self.fps
    }

    /// Number of frames in a recording of the given length.
    pub fn frame_count(&self, duration_secs: f64) -> u32 {
        (duration_secs * self.fps).floor().max(0.0) as u32
    }
}

/// A person who walks in, shops and walks out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shopper {
    /// Unique id within the scenario (`"s1"`); ground truth names shoppers by it.
    pub id: String,
    /// The app account the shopper checks in with. Members of one group check in with the group's account;
    /// a shopper without a group has an account of their own.
    pub account: String,
    /// Shoppers with the same group id shop together and pay as one account.
    #[serde(default)]
    pub group: Option<String>,
    /// When the shopper checks in at the entry gate, seconds.
    pub entry_time_secs: f64,
    /// The gate the shopper enters by (a gate of kind `entry`).
    pub entry_gate: String,
    /// The gate the shopper leaves by (a gate of kind `exit`).
    pub exit_gate: String,
    /// Walking speed, metres per second.
    #[serde(default = "default_speed_m_per_s")]
    pub speed_m_per_s: f64,
    /// Body dimensions (for the renderer and for reach checks).
    #[serde(default)]
    pub body: Body,
    /// Clothing colours (for the renderer).
    #[serde(default)]
    pub appearance: Appearance,
    /// Floor waypoints `[x, y]` in metres, walked in order in straight lines from the entry gate and on to
    /// the exit gate. Actions happen while standing at a waypoint.
    pub path: Vec<[f64; 2]>,
    /// What the shopper does, in order; each names the waypoint it happens at.
    #[serde(default)]
    pub actions: Vec<Action>,
}

fn default_speed_m_per_s() -> f64 {
    1.2
}

/// Body dimensions of a shopper, metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Standing height, metres.
    #[serde(default = "default_height_m")]
    pub height_m: f64,
    /// Shoulder width, metres.
    #[serde(default = "default_shoulder_width_m")]
    pub shoulder_width_m: f64,
    /// How far the shopper reaches from the shoulder, metres; slots must be within this of the waypoint.
    #[serde(default = "default_arm_length_m")]
    pub arm_length_m: f64,
}

fn default_height_m() -> f64 {
    1.72
}
fn default_shoulder_width_m() -> f64 {
    0.45
}
fn default_arm_length_m() -> f64 {
    0.7
}

impl Default for Body {
    fn default() -> Self {
        Self {
            height_m: default_height_m(),
            shoulder_width_m: default_shoulder_width_m(),
            arm_length_m: default_arm_length_m(),
        }
    }
}

/// Clothing colours, RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Appearance {
    /// Colour of the upper body.
    #[serde(default = "default_top_rgb")]
    pub top_rgb: [u8; 3],
    /// Colour of the legs.
    #[serde(default = "default_bottom_rgb")]
    pub bottom_rgb: [u8; 3],
}

fn default_top_rgb() -> [u8; 3] {
    [40, 90, 160]
}
fn default_bottom_rgb() -> [u8; 3] {
    [50, 50, 60]
}

impl Default for Appearance {
    fn default() -> Self {
        Self {
            top_rgb: default_top_rgb(),
            bottom_rgb: default_bottom_rgb(),
        }
    }
}

/// One thing a shopper does while standing at a waypoint. `duration_secs` is how long the action takes
/// (the shopper stands still meanwhile); item events happen halfway through, when the hand is in the slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Take `quantity` units of the slot's product.
    Pick {
        /// Index into `path` where the shopper stands.
        waypoint: usize,
        /// The slot taken from.
        slot: String,
        /// Units taken, at least 1.
        quantity: u32,
        /// How long the reach takes, seconds.
        #[serde(default = "default_reach_secs")]
        duration_secs: f64,
    },
    /// Put `quantity` units of the slot's own product back into that slot.
    PutBack {
        /// Index into `path` where the shopper stands.
        waypoint: usize,
        /// The slot put back into; the shopper must hold its product.
        slot: String,
        /// Units put back, at least 1.
        quantity: u32,
        /// How long the reach takes, seconds.
        #[serde(default = "default_reach_secs")]
        duration_secs: f64,
    },
    /// Put `quantity` units of `sku` into a slot that keeps a different product.
    Misplace {
        /// Index into `path` where the shopper stands.
        waypoint: usize,
        /// The (wrong) slot the items go into.
        slot: String,
        /// The product put there; the shopper must hold it, and it must not be the slot's own.
        sku: String,
        /// Units put there, at least 1.
        quantity: u32,
        /// How long the reach takes, seconds.
        #[serde(default = "default_reach_secs")]
        duration_secs: f64,
    },
    /// Hand `quantity` units of `sku` to another member of the same group, who must be in the store.
    HandOver {
        /// Index into `path` where the shopper stands.
        waypoint: usize,
        /// The receiving shopper's id.
        to_shopper: String,
        /// The product handed over; the giver must hold it.
        sku: String,
        /// Units handed over, at least 1.
        quantity: u32,
        /// How long the hand-over takes, seconds.
        #[serde(default = "default_reach_secs")]
        duration_secs: f64,
    },
    /// Stop and look at a shelf without touching anything.
    Browse {
        /// Index into `path` where the shopper stands.
        waypoint: usize,
        /// The shelf looked at.
        shelf: String,
        /// How long the shopper looks, seconds.
        #[serde(default = "default_browse_secs")]
        duration_secs: f64,
    },
    /// Reach into a slot (or brush it) and come away with nothing: no event happens.
    Touch {
        /// Index into `path` where the shopper stands.
        waypoint: usize,
        /// The slot touched.
        slot: String,
        /// How long the reach takes, seconds.
        #[serde(default = "default_reach_secs")]
        duration_secs: f64,
    },
}

fn default_reach_secs() -> f64 {
    1.6
}
fn default_browse_secs() -> f64 {
    2.0
}

impl Action {
    /// The path index the action happens at.
    pub fn waypoint(&self) -> usize {
        match self {
            Action::Pick { waypoint, .. }
            | Action::PutBack { waypoint, .. }
            | Action::Misplace { waypoint, .. }
            | Action::HandOver { waypoint, .. }
            | Action::Browse { waypoint, .. }
            | Action::Touch { waypoint, .. } => *waypoint,
        }
    }

    /// How long the action takes, seconds.
    pub fn duration_secs(&self) -> f64 {
        match self {
            Action::Pick { duration_secs, .. }
            | Action::PutBack { duration_secs, .. }
            | Action::Misplace { duration_secs, .. }
            | Action::HandOver { duration_secs, .. }
            | Action::Browse { duration_secs, .. }
            | Action::Touch { duration_secs, .. } => *duration_secs,
        }
    }

    /// The slot the hand goes into, for actions that reach into one.
    pub fn reached_slot(&self) -> Option<&str> {
        match self {
            Action::Pick { slot, .. }
            | Action::PutBack { slot, .. }
            | Action::Misplace { slot, .. }
            | Action::Touch { slot, .. } => Some(slot),
            Action::HandOver { .. } | Action::Browse { .. } => None,
        }
    }
}

/// What makes the footage imperfect. The renderer applies it; the ground truth records which frames are
/// dropped and dark.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Noise {
    /// Standard deviation of additive Gaussian pixel noise, in 8-bit levels (0 for none).
    #[serde(default)]
    pub sensor_sigma: f64,
    /// Target bitrate of the encoded videos, kilobits per second (`None` for the encoder's default).
    #[serde(default)]
    pub bitrate_kbps: Option<u32>,
    /// Probability that any one frame of any camera is dropped (missing from the video, a gap in its
    /// timestamps), 0 to 1. A recording's first frame is never dropped.
    #[serde(default)]
    pub dropped_frame_probability: f64,
    /// Changes of the store's lighting.
    #[serde(default)]
    pub lighting: Vec<LightingChange>,
    /// Cameras that go dark for a while.
    #[serde(default)]
    pub outages: Vec<Outage>,
}

/// The whole store's brightness is scaled during an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LightingChange {
    /// Start, seconds.
    pub start_secs: f64,
    /// End, seconds.
    pub end_secs: f64,
    /// Brightness multiplier (1 unchanged, 0.5 half as bright), greater than 0.
    pub brightness: f64,
}

/// A camera delivers black frames during an interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// The camera's id.
    pub camera: String,
    /// Start, seconds.
    pub start_secs: f64,
    /// End, seconds.
    pub end_secs: f64,
}

/// One problem in a scenario, at the path of the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ValidationError {
    /// Where: `shoppers[2].actions[1].slot`.
    pub path: String,
    /// What is wrong: `unknown slot "B3-4"`.
    pub message: String,
}

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Not valid TOML, or not the scenario's shape (a missing or unknown field, a wrong type).
    #[error("scenario does not parse: {0}")]
    Parse(String),
    /// The file could not be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// Could not be written as TOML.
    #[error("scenario cannot be written as TOML: {0}")]
    Serialize(String),
    /// Parsed, but inconsistent; every problem found is listed.
    #[error("scenario is invalid:\n{}", list_errors(.0))]
    Invalid(Vec<ValidationError>),
}

fn list_errors(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where a slot is in the world, derived from its shelf.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotPlacement<'a> {
    /// The slot.
    pub slot: &'a Slot,
    /// Its shelf.
    pub shelf: &'a Shelf,
    /// Centre of the slot's opening on the shelf face, world metres.
    pub face_center_m: [f64; 3],
    /// Width and height of the slot's opening, metres.
    pub opening_m: [f64; 2],
}

impl Shelf {
    /// The floor rectangle `[min_x, min_y, max_x, max_y]` of the shelf.
    pub fn footprint_m(&self) -> [f64; 4] {
        [
            self.min_corner_m[0],
            self.min_corner_m[1],
            self.min_corner_m[0] + self.size_m[0],
            self.min_corner_m[1] + self.size_m[1],
        ]
    }

    /// How far the shelf reaches from its face to its back, metres: products stand in rows all the
    /// way back.
    pub fn depth_m(&self) -> f64 {
        match self.facing {
            Facing::North | Facing::South => self.size_m[1],
            Facing::East | Facing::West => self.size_m[0],
        }
    }

    /// The height of one level, metres: level `k` (from 1) has its board at `(k - 1)` times this.
    pub fn level_height_m(&self) -> f64 {
        self.size_m[2] / f64::from(self.levels.max(1))
    }

    /// Centre of a slot's opening on the face, and the opening's width and height.
    pub fn slot_face(&self, level: u32, column: u32) -> ([f64; 3], [f64; 2]) {
        let [x0, y0, x1, y1] = self.footprint_m();
        let columns = f64::from(self.columns.max(1));
        let height = self.level_height_m();
        let z = (f64::from(level) - 0.5) * height;
        let along = (f64::from(column) - 0.5) / columns;
        let (center, width) = match self.facing {
            Facing::North => ([x0 + along * (x1 - x0), y1], (x1 - x0) / columns),
            Facing::South => ([x0 + along * (x1 - x0), y0], (x1 - x0) / columns),
            Facing::East => ([x1, y0 + along * (y1 - y0)], (y1 - y0) / columns),
            Facing::West => ([x0, y0 + along * (y1 - y0)], (y1 - y0) / columns),
        };
        ([center[0], center[1], z], [width, height])
    }

    /// Where a shopper stands to reach the given column: `distance_m` out from the face.
    pub fn access_point_m(&self, column: u32, distance_m: f64) -> [f64; 2] {
        let (face, _) = self.slot_face(1, column);
        let n = self.facing.normal();
        [face[0] + n[0] * distance_m, face[1] + n[1] * distance_m]
    }
}

impl Store {
    /// Looks up a slot and where it is.
    pub fn slot(&self, id: &str) -> Option<SlotPlacement<'_>> {
        self.shelves.iter().find_map(|shelf| {
            shelf.slots.iter().find(|s| s.id == id).map(|slot| {
                let (face_center_m, opening_m) = shelf.slot_face(slot.level, slot.column);
                SlotPlacement {
                    slot,
                    shelf,
                    face_center_m,
                    opening_m,
                }
            })
        })
    }

    /// Every slot, shelf by shelf in file order.
    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.shelves.iter().flat_map(|s| s.slots.iter())
    }

    /// The unit price of every SKU (the first slot's, when slots disagree; validation rejects that).
    pub fn prices_minor(&self) -> BTreeMap<String, i64> {
        let mut prices = BTreeMap::new();
        for slot in self.slots() {
            prices.entry(slot.sku.clone()).or_insert(slot.price_minor);
        }
        prices
    }

    /// The gate with this id.
    pub fn gate(&self, id: &str) -> Option<&Gate> {
        self.gates.iter().find(|g| g.id == id)
    }
}

impl Scenario {
    /// Reads a scenario file (TOML) and validates it.
    pub fn read(path: &std::path::Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text)
    }

    /// Parses TOML and validates the result.
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        scenario.validate().map_err(ScenarioError::Invalid)?;
        Ok(scenario)
    }

    /// Writes the scenario as TOML.
    pub fn to_toml_string(&self) -> Result<String, ScenarioError> {
        toml::to_string(self).map_err(|e| ScenarioError::Serialize(e.to_string()))
    }

    /// Validates the scenario and lays out every shopper's motion: what the renderer draws frame by frame
    /// ([`crate::truth::ShopperTimeline::state_at`], [`crate::truth::Timeline::contents_at`]).
    pub fn timeline(&self) -> Result<crate::truth::Timeline, Vec<ValidationError>> {
        self.validate()?;
        crate::truth::Timeline::build(self)
    }

    /// Checks everything: field ranges, references between ids, geometry (paths through walls or shelves,
    /// slots out of reach), and then plays the scenario through to check stock, what each shopper holds,
    /// hand-overs and exit times. Returns every problem found, sorted by path.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errors = Errors::default();
        self.check_structure(&mut errors);
        if errors.0.is_empty()
            && let Err(sim_errors) = crate::truth::Timeline::build(self)
        {
            errors.0.extend(sim_errors);
        }
        if errors.0.is_empty() {
            Ok(())
        } else {
            let mut list = errors.0;
            list.sort();
            list.dedup();
            Err(list)
        }
    }

    fn check_structure(&self, errors: &mut Errors) {
        positive(errors, "duration_secs", self.duration_secs);
        self.check_store(errors);
        self.check_cameras(errors);
        self.check_shoppers(errors);
        self.check_noise(errors);
    }

    fn check_store(&self, errors: &mut Errors) {
        self.check_floor(errors);
        self.check_shelves(errors);
        self.check_gates(errors);
        if let Some(scales) = &self.store.scales {
            if !(scales.noise_g >= 0.0 && scales.noise_g.is_finite()) {
                errors.push("store.scales.noise_g".into(), "must be >= 0".into());
            }
            if !(scales.settle_secs >= 0.0 && scales.settle_secs.is_finite()) {
                errors.push("store.scales.settle_secs".into(), "must be >= 0".into());
            }
        }
    }

    fn check_floor(&self, errors: &mut Errors) {
        let floor = &self.store.floor;
        positive(errors, "store.floor.width_m", floor.width_m);
        positive(errors, "store.floor.depth_m", floor.depth_m);
        positive(
            errors,
            "store.floor.ceiling_height_m",
            floor.ceiling_height_m,
        );
        for (i, wall) in floor.walls.iter().enumerate() {
            for (name, point) in [("from_m", wall.from_m), ("to_m", wall.to_m)] {
                if !self.on_floor(point) {
                    errors.push(
                        format!("store.floor.walls[{i}].{name}"),
                        format!("{point:?} is outside the floor"),
                    );
                }
            }
        }
    }

    fn check_shelves(&self, errors: &mut Errors) {
        let mut shelf_ids = BTreeSet::new();
        let mut slots = SlotChecks::default();
        for (i, shelf) in self.store.shelves.iter().enumerate() {
            let at = format!("store.shelves[{i}]");
            if !shelf_ids.insert(shelf.id.as_str()) {
                errors.push(
                    format!("{at}.id"),
                    format!("duplicate shelf id {:?}", shelf.id),
                );
            }
            for (axis, size) in shelf.size_m.iter().enumerate() {
                positive(errors, &format!("{at}.size_m[{axis}]"), *size);
            }
            let [x0, y0, x1, y1] = shelf.footprint_m();
            if !self.on_floor([x0, y0]) || !self.on_floor([x1, y1]) {
                errors.push(
                    format!("{at}.min_corner_m"),
                    "the shelf does not fit on the floor".into(),
                );
            }
            if let Some(other) = self.store.shelves[..i]
                .iter()
                .find(|o| rects_overlap(o.footprint_m(), shelf.footprint_m()))
            {
                errors.push(
                    format!("{at}.min_corner_m"),
                    format!("overlaps shelf {:?}", other.id),
                );
            }
            if shelf.levels == 0 {
                errors.push(format!("{at}.levels"), "must be at least 1".into());
            }
            if shelf.columns == 0 {
                errors.push(format!("{at}.columns"), "must be at least 1".into());
            }
            let mut cells = BTreeSet::new();
            for (j, slot) in shelf.slots.iter().enumerate() {
                let at = format!("{at}.slots[{j}]");
                if !cells.insert((slot.level, slot.column)) {
                    errors.push(
                        format!("{at}.column"),
                        format!(
                            "another slot already sits at level {}, column {}",
                            slot.level, slot.column
                        ),
                    );
                }
                slots.check(errors, &at, shelf, slot);
            }
        }
    }

    fn check_gates(&self, errors: &mut Errors) {
        let mut gate_ids = BTreeSet::new();
        for (i, gate) in self.store.gates.iter().enumerate() {
            let at = format!("store.gates[{i}]");
            if !gate_ids.insert(gate.id.as_str()) {
                errors.push(
                    format!("{at}.id"),
                    format!("duplicate gate id {:?}", gate.id),
                );
            }
            if !self.on_floor(gate.position_m) {
                errors.push(
                    format!("{at}.position_m"),
                    "the gate is outside the floor".into(),
                );
            } else if let Some(shelf) =
                self.store.shelves.iter().find(|s| {
                    segment_crosses_rect(gate.position_m, gate.position_m, s.footprint_m())
                })
            {
                errors.push(
                    format!("{at}.position_m"),
                    format!("the gate is inside shelf {:?}", shelf.id),
                );
            }
            positive(errors, &format!("{at}.width_m"), gate.width_m);
        }
    }

    fn check_cameras(&self, errors: &mut Errors) {
        let mut ids = BTreeSet::new();
        for (i, camera) in self.cameras.iter().enumerate() {
            let at = format!("cameras[{i}]");
            if !ids.insert(camera.id.as_str()) {
                errors.push(
                    format!("{at}.id"),
                    format!("duplicate camera id {:?}", camera.id),
                );
            }
            if camera.id.is_empty() || camera.id.contains(['/', '\\']) {
                errors.push(format!("{at}.id"), "must be a non-empty file name".into());
            }
            if !camera
                .position_m
                .iter()
                .chain(&camera.look_at_m)
                .all(|v| v.is_finite())
            {
                errors.push(
                    format!("{at}.position_m"),
                    "coordinates must be finite".into(),
                );
            } else if (Vector3::from(camera.look_at_m) - Vector3::from(camera.position_m)).norm()
                < 1e-6
            {
                errors.push(
                    format!("{at}.look_at_m"),
                    "must differ from position_m".into(),
                );
            }
            let k = &camera.intrinsics;
            positive(errors, &format!("{at}.intrinsics.fx_px"), k.fx_px);
            positive(errors, &format!("{at}.intrinsics.fy_px"), k.fy_px);
            if camera.resolution_px[0] == 0 || camera.resolution_px[1] == 0 {
                errors.push(format!("{at}.resolution_px"), "must be at least 1x1".into());
            }
            positive(errors, &format!("{at}.fps"), camera.fps);
        }
    }

    fn check_shoppers(&self, errors: &mut Errors) {
        let ids: BTreeMap<&str, usize> = self
            .shoppers
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let skus: BTreeSet<&str> = self.store.slots().map(|s| s.sku.as_str()).collect();
        let mut seen = BTreeSet::new();
        // account -> (group, first shopper path) to check that groups and accounts line up one to one.
        let mut accounts: BTreeMap<&str, (Option<&str>, String)> = BTreeMap::new();
        for (i, shopper) in self.shoppers.iter().enumerate() {
            let at = format!("shoppers[{i}]");
            if !seen.insert(shopper.id.as_str()) {
                errors.push(
                    format!("{at}.id"),
                    format!("duplicate shopper id {:?}", shopper.id),
                );
            }
            if shopper.account.is_empty() {
                errors.push(format!("{at}.account"), "must not be empty".into());
            }
            match accounts.get(shopper.account.as_str()) {
                None => {
                    accounts.insert(&shopper.account, (shopper.group.as_deref(), at.clone()));
                }
                Some((group, first)) => {
                    if group.is_none() || *group != shopper.group.as_deref() {
                        errors.push(
                            format!("{at}.account"),
                            format!(
                                "account {:?} is already used by {first}; only members of one group share an account",
                                shopper.account
                            ),
                        );
                    }
                }
            }
            if let Some(group) = &shopper.group {
                let other_account = self
                    .shoppers
                    .iter()
                    .find(|o| o.group.as_ref() == Some(group) && o.account != shopper.account);
                if let Some(other) = other_account {
                    errors.push(
                        format!("{at}.group"),
                        format!(
                            "members of group {group:?} must share one account, but {:?} uses {:?}",
                            other.id, other.account
                        ),
                    );
                }
            }
            if !(shopper.entry_time_secs >= 0.0 && shopper.entry_time_secs.is_finite()) {
                errors.push(
                    format!("{at}.entry_time_secs"),
                    "must be a time >= 0".into(),
                );
            }
            positive(
                errors,
                &format!("{at}.speed_m_per_s"),
                shopper.speed_m_per_s,
            );
            positive(
                errors,
                &format!("{at}.body.height_m"),
                shopper.body.height_m,
            );
            positive(
                errors,
                &format!("{at}.body.arm_length_m"),
                shopper.body.arm_length_m,
            );
            let entry = self.gate_of_kind(
                errors,
                &format!("{at}.entry_gate"),
                &shopper.entry_gate,
                GateKind::Entry,
            );
            let exit = self.gate_of_kind(
                errors,
                &format!("{at}.exit_gate"),
                &shopper.exit_gate,
                GateKind::Exit,
            );
            self.check_path(errors, &at, shopper, entry, exit);
            self.check_actions(errors, &at, shopper, &ids, &skus);
        }
    }

    fn gate_of_kind(
        &self,
        errors: &mut Errors,
        path: &str,
        id: &str,
        kind: GateKind,
    ) -> Option<[f64; 2]> {
        match self.store.gate(id) {
            None => {
                errors.push(path.to_string(), format!("unknown gate {id:?}"));
                None
            }
            Some(gate) if gate.kind != kind => {
                errors.push(
                    path.to_string(),
                    format!("gate {id:?} is not an {kind:?} gate"),
                );
                None
            }
            Some(gate) => Some(gate.position_m),
        }
    }

    fn check_path(
        &self,
        errors: &mut Errors,
        at: &str,
        shopper: &Shopper,
        entry: Option<[f64; 2]>,
        exit: Option<[f64; 2]>,
    ) {
        for (k, point) in shopper.path.iter().enumerate() {
            if !self.on_floor(*point) {
                errors.push(
                    format!("{at}.path[{k}]"),
                    format!("{point:?} is outside the floor"),
                );
            }
        }
        // Legs: entry gate -> path[0] -> ... -> exit gate; each leg is blamed on the waypoint it ends at
        // (or, for the last leg, on exit_gate).
        let mut points: Vec<(String, [f64; 2])> = Vec::new();
        if let Some(entry) = entry {
            points.push((format!("{at}.entry_gate"), entry));
        }
        for (k, point) in shopper.path.iter().enumerate() {
            points.push((format!("{at}.path[{k}]"), *point));
        }
        if let Some(exit) = exit {
            points.push((format!("{at}.exit_gate"), exit));
        }
        for pair in points.windows(2) {
            let (a, b) = (pair[0].1, pair[1].1);
            if let Some(obstacle) = self.obstacle_between(a, b) {
                errors.push(
                    pair[1].0.clone(),
                    format!("the walk from {a:?} to {b:?} goes through {obstacle}"),
                );
            }
        }
    }

    fn check_actions(
        &self,
        errors: &mut Errors,
        at: &str,
        shopper: &Shopper,
        ids: &BTreeMap<&str, usize>,
        skus: &BTreeSet<&str>,
    ) {
        let mut last_waypoint = 0;
        for (j, action) in shopper.actions.iter().enumerate() {
            let at = format!("{at}.actions[{j}]");
            let waypoint = action.waypoint();
            if waypoint >= shopper.path.len() {
                errors.push(
                    format!("{at}.waypoint"),
                    format!(
                        "{waypoint} is past the path's {} waypoints",
                        shopper.path.len()
                    ),
                );
            } else if waypoint < last_waypoint {
                errors.push(
                    format!("{at}.waypoint"),
                    format!(
                        "{waypoint} comes before the previous action's waypoint {last_waypoint}"
                    ),
                );
            }
            last_waypoint = last_waypoint.max(waypoint);
            positive(
                errors,
                &format!("{at}.duration_secs"),
                action.duration_secs(),
            );
            match action {
                Action::Pick { quantity, .. } | Action::PutBack { quantity, .. }
                    if *quantity == 0 =>
                {
                    errors.push(format!("{at}.quantity"), "must be at least 1".into());
                }
                Action::Misplace { sku, quantity, .. } | Action::HandOver { sku, quantity, .. } => {
                    if *quantity == 0 {
                        errors.push(format!("{at}.quantity"), "must be at least 1".into());
                    }
                    if !skus.contains(sku.as_str()) {
                        errors.push(format!("{at}.sku"), format!("unknown SKU {sku:?}"));
                    }
                }
                _ => {}
            }
            if let Action::Misplace { slot, sku, .. } = action
                && self.store.slot(slot).is_some_and(|p| &p.slot.sku == sku)
            {
                errors.push(
                    format!("{at}.sku"),
                    format!("{sku:?} is slot {slot:?}'s own product: that is a put_back"),
                );
            }
            if let Action::HandOver { to_shopper, .. } = action {
                match ids.get(to_shopper.as_str()).map(|&k| &self.shoppers[k]) {
                    None => errors.push(
                        format!("{at}.to_shopper"),
                        format!("unknown shopper {to_shopper:?}"),
                    ),
                    Some(other) if other.id == shopper.id => errors.push(
                        format!("{at}.to_shopper"),
                        "a shopper cannot hand items to themself".into(),
                    ),
                    Some(other) if shopper.group.is_none() || other.group != shopper.group => {
                        errors.push(
                            format!("{at}.to_shopper"),
                            format!("{to_shopper:?} is not in the same group"),
                        )
                    }
                    Some(_) => {}
                }
            }
            if let Action::Browse { shelf, .. } = action
                && !self.store.shelves.iter().any(|s| &s.id == shelf)
            {
                errors.push(format!("{at}.shelf"), format!("unknown shelf {shelf:?}"));
            }
            if let Some(slot) = action.reached_slot() {
                match self.store.slot(slot) {
                    None => errors.push(format!("{at}.slot"), format!("unknown slot {slot:?}")),
                    Some(placement) => {
                        if let Some(stand) = shopper.path.get(waypoint) {
                            let reach = reach_needed_m(*stand, placement.face_center_m);
                            let can = shopper.body.arm_length_m + ARM_REACH_SLACK_M;
                            if reach > can {
                                errors.push(
                                    format!("{at}.waypoint"),
                                    format!(
                                        "slot {slot:?} is {reach:.2} m from waypoint {waypoint} {stand:?}, out of reach ({can:.2} m)"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    fn check_noise(&self, errors: &mut Errors) {
        let noise = &self.noise;
        if !(noise.sensor_sigma >= 0.0 && noise.sensor_sigma.is_finite()) {
            errors.push("noise.sensor_sigma".into(), "must be >= 0".into());
        }
        if !(0.0..=1.0).contains(&noise.dropped_frame_probability) {
            errors.push(
                "noise.dropped_frame_probability".into(),
                "must be between 0 and 1".into(),
            );
        }
        for (i, change) in noise.lighting.iter().enumerate() {
            let at = format!("noise.lighting[{i}]");
            interval(errors, &at, change.start_secs, change.end_secs);
            positive(errors, &format!("{at}.brightness"), change.brightness);
        }
        for (i, outage) in noise.outages.iter().enumerate() {
            let at = format!("noise.outages[{i}]");
            interval(errors, &at, outage.start_secs, outage.end_secs);
            if !self.cameras.iter().any(|c| c.id == outage.camera) {
                errors.push(
                    format!("{at}.camera"),
                    format!("unknown camera {:?}", outage.camera),
                );
            }
        }
    }

    fn on_floor(&self, p: [f64; 2]) -> bool {
        let floor = &self.store.floor;
        p.iter().all(|v| v.is_finite())
            && (0.0..=floor.width_m).contains(&p[0])
            && (0.0..=floor.depth_m).contains(&p[1])
    }

    /// What a straight walk from `a` to `b` would pass through: a shelf, an inner wall, or the outer wall.
    pub fn obstacle_between(&self, a: [f64; 2], b: [f64; 2]) -> Option<String> {
        if !self.on_floor(a) || !self.on_floor(b) {
            return Some("the outer wall".into());
        }
        for shelf in &self.store.shelves {
            if segment_crosses_rect(a, b, shelf.footprint_m()) {
                return Some(format!("shelf {:?}", shelf.id));
            }
        }
        for (i, wall) in self.store.floor.walls.iter().enumerate() {
            if segments_intersect(a, b, wall.from_m, wall.to_m) {
                return Some(format!("wall store.floor.walls[{i}]"));
            }
        }
        None
    }
}

/// How much further than the arm a slot may be: the shoulder sits off the body's centre and the shopper leans.
const ARM_REACH_SLACK_M: f64 = 0.35;

/// Horizontal distance from where the shopper stands to the slot's opening.
fn reach_needed_m(stand: [f64; 2], face: [f64; 3]) -> f64 {
    ((stand[0] - face[0]).powi(2) + (stand[1] - face[1]).powi(2)).sqrt()
}

#[derive(Default)]
struct Errors(Vec<ValidationError>);

/// What slot checks remember across shelves: ids seen, and each SKU's first price and where it was set.
#[derive(Default)]
struct SlotChecks<'a> {
    ids: BTreeSet<&'a str>,
    sku_prices: BTreeMap<&'a str, (i64, String)>,
}

impl<'a> SlotChecks<'a> {
    fn check(&mut self, errors: &mut Errors, at: &str, shelf: &Shelf, slot: &'a Slot) {
        if !self.ids.insert(slot.id.as_str()) {
            errors.push(
                format!("{at}.id"),
                format!("duplicate slot id {:?}", slot.id),
            );
        }
        if slot.level == 0 || slot.level > shelf.levels {
            errors.push(
                format!("{at}.level"),
                format!(
                    "{} is not between 1 and the shelf's {} levels",
                    slot.level, shelf.levels
                ),
            );
        }
        if slot.column == 0 || slot.column > shelf.columns {
            errors.push(
                format!("{at}.column"),
                format!(
                    "{} is not between 1 and the shelf's {} columns",
                    slot.column, shelf.columns
                ),
            );
        }
        if slot.sku.is_empty() {
            errors.push(format!("{at}.sku"), "must not be empty".into());
        }
        if slot.price_minor < 0 {
            errors.push(
                format!("{at}.price_minor"),
                format!("negative price {}", slot.price_minor),
            );
        }
        match self.sku_prices.get(slot.sku.as_str()) {
            Some((price, first)) if *price != slot.price_minor => errors.push(
                format!("{at}.price_minor"),
                format!(
                    "{} differs from the price {price} of the same SKU {:?} at {first}",
                    slot.price_minor, slot.sku
                ),
            ),
            Some(_) => {}
            None => {
                self.sku_prices
                    .insert(&slot.sku, (slot.price_minor, at.to_string()));
            }
        }
        for (axis, size) in slot.product_size_m.iter().enumerate() {
            positive(errors, &format!("{at}.product_size_m[{axis}]"), *size);
        }
        if let Some(grams) = slot.unit_weight_g {
            positive(errors, &format!("{at}.unit_weight_g"), grams);
        }
    }
}

/// Whether two floor rectangles `[x0, y0, x1, y1]` share more than an edge.
fn rects_overlap(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

impl Errors {
    fn push(&mut self, path: String, message: String) {
        self.0.push(ValidationError { path, message });
    }
}

fn positive(errors: &mut Errors, path: &str, value: f64) {
    if !(value > 0.0 && value.is_finite()) {
        errors.push(
            path.to_string(),
            format!("must be a positive number, got {value}"),
        );
    }
}

fn interval(errors: &mut Errors, at: &str, start: f64, end: f64) {
    if !(start >= 0.0 && start.is_finite()) {
        errors.push(format!("{at}.start_secs"), "must be a time >= 0".into());
    }
    if !(end > start && end.is_finite()) {
        errors.push(format!("{at}.end_secs"), "must be after start_secs".into());
    }
}

/// Whether the segment `a`-`b` enters the open rectangle `[x0, y0, x1, y1]` (grazing an edge is allowed).
fn segment_crosses_rect(a: [f64; 2], b: [f64; 2], rect: [f64; 4]) -> bool {
    // Liang–Barsky clipping against the rectangle shrunk by a hair, so touching the face does not count.
    let eps = 1e-9;
    let [x0, y0, x1, y1] = [rect[0] + eps, rect[1] + eps, rect[2] - eps, rect[3] - eps];
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let mut t0: f64 = 0.0;
    let mut t1: f64 = 1.0;
    for (p, q) in [
        (-dx, a[0] - x0),
        (dx, x1 - a[0]),
        (-dy, a[1] - y0),
        (dy, y1 - a[1]),
    ] {
        if p.abs() < 1e-15 {
            if q < 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    t0 < t1
}

fn segments_intersect(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let cross = |o: [f64; 2], p: [f64; 2], q: [f64; 2]| {
        (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])
    };
    let d1 = cross(c, d, a);
    let d2 = cross(c, d, b);
    let d3 = cross(a, b, c);
    let d4 = cross(a, b, d);
    let straddles = |u: f64, v: f64| (u > 0.0 && v < 0.0) || (u < 0.0 && v > 0.0);
    if straddles(d1, d2) && straddles(d3, d4) {
        return true;
    }
    let on = |o: [f64; 2], p: [f64; 2], q: [f64; 2], side: f64| {
        side.abs() < 1e-12
            && q[0] >= o[0].min(p[0])
            && q[0] <= o[0].max(p[0])
            && q[1] >= o[1].min(p[1])
            && q[1] <= o[1].max(p[1])
    };
    on(c, d, a, d1) || on(c, d, b, d2) || on(a, b, c, d3) || on(a, b, d, d4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_rectangles() {
        let rect = [1.0, 1.0, 2.0, 2.0];
        assert!(segment_crosses_rect([0.0, 1.5], [3.0, 1.5], rect));
        assert!(
            !segment_crosses_rect([0.0, 2.0], [3.0, 2.0], rect),
            "grazing the face"
        );
        assert!(!segment_crosses_rect([0.0, 0.0], [0.5, 3.0], rect));
        assert!(segment_crosses_rect([1.5, 1.5], [1.6, 1.6], rect), "inside");
        assert!(segments_intersect(
            [0.0, 0.0],
            [2.0, 2.0],
            [0.0, 2.0],
            [2.0, 0.0]
        ));
        assert!(!segments_intersect(
            [0.0, 0.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [1.0, 1.0]
        ));
    }

    #[test]
    fn camera_looking_east_projects_like_opencv() {
        let camera = Camera {
            id: "c".into(),
            position_m: [0.0, 0.0, 1.0],
            look_at_m: [10.0, 0.0, 1.0],
            intrinsics: Intrinsics {
                fx_px: 100.0,
                fy_px: 100.0,
                cx_px: 50.0,
                cy_px: 40.0,
            },
            resolution_px: [100, 80],
            fps: 10.0,
        };
        let center = camera.project([5.0, 0.0, 1.0]).unwrap();
        assert!((center.x - 50.0).abs() < 1e-9 && (center.y - 40.0).abs() < 1e-9);
        // South of the axis is to the right; above is up (smaller y).
        let p = camera.project([5.0, -0.5, 1.5]).unwrap();
        assert!((p.x - 60.0).abs() < 1e-9 && (p.y - 30.0).abs() < 1e-9);
        assert!(camera.project([-1.0, 0.0, 1.0]).is_none());
        assert!(camera.sees([5.0, 0.0, 1.0]));
        assert!(!camera.sees([5.0, -5.0, 1.0]));
        assert_eq!(camera.frame_time_secs(11), 1.0);
        // Straight down still gives a proper rotation.
        let down = Camera {
            look_at_m: [0.0, 0.0, 0.0],
            ..camera
        };
        let c = down.project([0.0, 0.0, 0.0]).unwrap();
        assert!((c.x - 50.0).abs() < 1e-9 && (c.y - 40.0).abs() < 1e-9);
    }
}
