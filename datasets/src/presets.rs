//! Ready-made scenarios, each generated from a seed: `solo`, `pairs`, `busy`, `groups`, `adversarial`, and
//! two small ones for live runs: `demo` (four cameras, one aisle) and `tiny` (two cameras, three shoppers).
//!
//! Every preset uses the same store: a 12 m x 12 m floor with three east-west aisles between six shelves
//! (A to F, 4 levels x 6 columns each), an entry gate in the south-west corner and an exit gate in the
//! south-east, and eight ceiling cameras (one at each end of every aisle, one over each gate) whose views
//! overlap. Parties go through a gate one after another and keep a shoulder's width apart in the store
//! ([`PERSONAL_SPACE_M`]; the adversarial preset's tailgaters excepted). Prices, stock, colours, who goes
//! where and when all come from the seed through ChaCha8, so a preset and a seed give the same scenario
//! on every machine.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use crate::scenario::{
    Action, Appearance, Body, Camera, Facing, Floor, Gate, GateKind, Intrinsics, LightingChange,
    Noise, Outage, Scenario, Shelf, Shopper, Slot, Store, ValidationError,
};
use crate::truth::Timeline;

/// The preset names [`preset`] knows.
pub const PRESETS: [&str; 7] = [
    "solo",
    "pairs",
    "busy",
    "groups",
    "adversarial",
    "demo",
    "tiny",
];

/// Why a preset could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    /// No preset has this name.
    #[error(
        "unknown preset {0:?}; known presets: solo, pairs, busy, groups, adversarial, demo, tiny"
    )]
    Unknown(String),
    /// The generator produced an invalid scenario (a bug in the generator).
    #[error("{}", crate::scenario::ScenarioError::Invalid(.0.clone()))]
    Invalid(Vec<ValidationError>),
}

/// Generates the named preset from a seed. The result is validated.
pub fn preset(name: &str, seed: u64) -> Result<Scenario, PresetError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut world = World::new(&mut rng);
    let noise = match name {
        "solo" => solo(&mut world, &mut rng),
        "pairs" => pairs(&mut world, &mut rng),
        "busy" => busy(&mut world, &mut rng),
        "groups" => groups(&mut world, &mut rng),
        "adversarial" => adversarial(&mut world, &mut rng),
        "demo" => demo(&mut world, &mut rng),
        "tiny" => tiny(&mut world, &mut rng),
        _ => return Err(PresetError::Unknown(name.to_string())),
    };
    let cameras = match name {
        "demo" => cameras_of(&["entrance", "exit", "aisle-0-west", "aisle-0-east"]),
        "tiny" => wide_gate_cameras(),
        _ => cameras(),
    };
    let mut scenario = Scenario {
        name: format!("{name}-seed-{seed}"),
        seed,
        duration_secs: 1e6,
        store: world.store,
        cameras,
        shoppers: world.shoppers,
        noise,
    };
    // the adversarial preset's tailgaters enter closer than any gate lets through and walk on their
    // leader's heels, on purpose
    let timeline = if name == "adversarial" {
        Timeline::build(&scenario).map_err(PresetError::Invalid)?
    } else {
        keep_apart(&mut scenario)?
    };
    let last_exit = timeline
        .shoppers
        .iter()
        .map(|s| s.exit_time_secs)
        .fold(0.0, f64::max);
    scenario.duration_secs = (last_exit + 2.0).ceil();
    scenario.validate().map_err(PresetError::Invalid)?;
    Ok(scenario)
}

/// The least time between two parties (shoppers on their own, or a group) entering by one gate: each
/// scans at the gate and goes through it one at a time, so about a metre apart at walking speed. Members
/// of a group come through together, at the spacing their preset gives them.
pub const GATE_HEADWAY_SECS: f64 = 1.0;

/// Delays parties who would enter by the same gate less than [`GATE_HEADWAY_SECS`] after the party
/// before them, in the order they arrive, shifting a group as a whole (its members keep their spacing).
/// Without it, random entry times put two shoppers on the same spot at the same moment, which no camera
/// and no gate could tell apart.
fn space_entries(shoppers: &mut [Shopper]) {
    // per gate, the parties (by account) in order of their first member's entry
    let mut parties: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for s in shoppers.iter() {
        let span = parties
            .entry((s.entry_gate.clone(), s.account.clone()))
            .or_insert((s.entry_time_secs, s.entry_time_secs));
        span.0 = span.0.min(s.entry_time_secs);
        span.1 = span.1.max(s.entry_time_secs);
    }
    let mut order: Vec<((String, String), (f64, f64))> = parties.into_iter().collect();
    order.sort_by(|a, b| a.0.0.cmp(&b.0.0).then(a.1.0.total_cmp(&b.1.0)));
    let mut delays: BTreeMap<(String, String), f64> = BTreeMap::new();
    let mut last: Option<(String, f64)> = None;
    for ((gate, account), (first, end)) in order {
        let delay = match &last {
            Some((g, free_at)) if *g == gate => (free_at - first).max(0.0),
            _ => 0.0,
        };
        last = Some((gate.clone(), end + delay + GATE_HEADWAY_SECS));
        delays.insert((gate, account), delay);
    }
    for s in shoppers.iter_mut() {
        s.entry_time_secs += delays[&(s.entry_gate.clone(), s.account.clone())];
    }
}

/// The least distance between the centres of two shoppers of different parties that the generators let
/// happen: shoulder to shoulder (bodies are 0.45 m across), never one inside the other. Members of one party
/// (a family) may come closer: they share a cart, so who of them took an item does not change a receipt.
pub const PERSONAL_SPACE_M: f64 = 0.45;

/// How long a party is held back at a time when it would walk into, or stop on, another party's shopper.
const YIELD_SECS: f64 = 0.5;
/// The most a party is held back in all; a conflict still there after it is left as it is.
const MAX_YIELD_SECS: f64 = 30.0;
/// How finely [`keep_apart`] looks for conflicts: two shoppers walking through each other at 2.8 m/s stay
/// inside the personal space for about 0.3 s.
const CONFLICT_STEP_SECS: f64 = 1.0 / 30.0;

/// Holds parties back so that no two shoppers of different parties come closer than
/// [`PERSONAL_SPACE_M`]: of two that would, the party that came in later yields, starting its whole visit
/// [`YIELD_SECS`] later (as a shopper held up behind someone arrives later everywhere after), until the
/// two keep their distance; parties first go through their gate one after another ([`space_entries`]).
/// The paths are straight lines and every shopper walks at their own pace, so
/// without it a faster shopper walked through a slower one ahead, and two who stopped at one column of a
/// shelf at once stood in one spot: no camera could say whose hand took the item (in `busy`, 8% of the
/// shelf events had another party's shopper within 0.5 m, and 18% of the sessions had such an event). Gate
/// headways are kept ([`space_entries`] runs again after every delay). A conflict that holding back cannot
/// resolve within [`MAX_YIELD_SECS`], or whose delay would leave a slot empty before someone's pick, is
/// left as it is. Returns the scenario's timeline as it ends up.
fn keep_apart(scenario: &mut Scenario) -> Result<Timeline, PresetError> {
    space_entries(&mut scenario.shoppers);
    let mut settled: BTreeSet<(String, String)> = BTreeSet::new();
    let mut held: BTreeMap<String, f64> = BTreeMap::new();
    let mut timeline = Timeline::build(scenario).map_err(PresetError::Invalid)?;
    loop {
        let Some((a, b)) = first_conflict(scenario, &timeline, &settled) else {
            return Ok(timeline);
        };
        let entry = |account: &str| {
            scenario
                .shoppers
                .iter()
                .filter(|s| s.account == account)
                .map(|s| s.entry_time_secs)
                .fold(f64::INFINITY, f64::min)
        };
        let later = if entry(&b) >= entry(&a) { &b } else { &a };
        let so_far = held.get(later).copied().unwrap_or(0.0);
        if so_far + YIELD_SECS > MAX_YIELD_SECS {
            settled.insert((a, b));
            continue;
        }
        let before: Vec<f64> = scenario
            .shoppers
            .iter()
            .map(|s| s.entry_time_secs)
            .collect();
        for s in scenario.shoppers.iter_mut().filter(|s| &s.account == later) {
            s.entry_time_secs += YIELD_SECS;
        }
        space_entries(&mut scenario.shoppers);
        match Timeline::build(scenario) {
            Ok(delayed) => {
                timeline = delayed;
                held.insert(later.clone(), so_far + YIELD_SECS);
            }
            Err(_) => {
                // the delay changed who takes a slot's last units first: undo it
                for (s, entry_time_secs) in scenario.shoppers.iter_mut().zip(before) {
                    s.entry_time_secs = entry_time_secs;
                }
                settled.insert((a, b));
            }
        }
    }
}

/// The accounts of the earliest two shoppers of different parties closer than [`PERSONAL_SPACE_M`], in
/// the order they are listed, leaving out the pairs in `settled`.
fn first_conflict(
    scenario: &Scenario,
    timeline: &Timeline,
    settled: &BTreeSet<(String, String)>,
) -> Option<(String, String)> {
    let start = timeline
        .shoppers
        .iter()
        .map(|s| s.entry_time_secs)
        .fold(f64::INFINITY, f64::min);
    let end = timeline
        .shoppers
        .iter()
        .map(|s| s.exit_time_secs)
        .fold(f64::NEG_INFINITY, f64::max);
    let steps = ((end - start) / CONFLICT_STEP_SECS).ceil().max(0.0) as usize;
    for step in 0..=steps {
        let t = start + step as f64 * CONFLICT_STEP_SECS;
        let here: Vec<(&str, [f64; 2])> = timeline
            .shoppers
            .iter()
            .filter_map(|s| {
                let state = s.state_at(t)?;
                Some((
                    scenario.shoppers[s.shopper].account.as_str(),
                    state.position_m,
                ))
            })
            .collect();
        for (i, (a, p)) in here.iter().enumerate() {
            for (b, q) in &here[i + 1..] {
                if a == b || (p[0] - q[0]).hypot(p[1] - q[1]) >= PERSONAL_SPACE_M {
                    continue;
                }
                let pair = (a.to_string(), b.to_string());
                if !settled.contains(&pair) {
                    return Some(pair);
                }
            }
        }
    }
    None
}

const SHELF_WEST_X_M: f64 = 3.0;
const SHELF_LENGTH_M: f64 = 6.0;
const COLUMNS: u32 = 6;
const LEVELS: u32 = 4;
const AISLES: usize = 3;
/// The corridor points where a shopper turns into and out of an aisle.
const AISLE_WEST_X_M: f64 = 2.0;
const AISLE_EAST_X_M: f64 = 10.0;
const ENTRY_M: [f64; 2] = [1.0, 0.5];
const EXIT_M: [f64; 2] = [11.0, 0.5];

fn aisle_center_y_m(aisle: usize) -> f64 {
    3.5 + 3.0 * aisle as f64
}

/// The two sides of an aisle: the shelf to the south (facing north) and the one to the north.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    South,
    North,
}

fn shelf_index(aisle: usize, side: Side) -> usize {
    2 * aisle + usize::from(side == Side::North)
}

/// The store under construction, the shoppers so far, and how much of each slot is still unclaimed.
struct World {
    store: Store,
    shoppers: Vec<Shopper>,
    /// Units of each slot not yet promised to a planned pick, so that no plan takes more than is there.
    unclaimed: BTreeMap<String, u32>,
}

impl World {
    fn new(rng: &mut ChaCha8Rng) -> Self {
        let mut shelves = Vec::new();
        let mut unclaimed = BTreeMap::new();
        for (index, letter) in ["A", "B", "C", "D", "E", "F"].into_iter().enumerate() {
            let aisle = index / 2;
            let north = index % 2 == 1;
            let y = aisle_center_y_m(aisle) + if north { 0.9 } else { -1.5 };
            let mut slots = Vec::new();
            for level in 1..=LEVELS {
                for column in 1..=COLUMNS {
                    let id = format!("{letter}{level}-{column}");
                    let stock = rng.random_range(5..=12u32);
                    unclaimed.insert(id.clone(), stock);
                    slots.push(Slot {
                        id,
                        level,
                        column,
                        sku: format!("SKU-{letter}{level}{column}"),
                        price_minor: rng.random_range(99..=1499i64),
                        initial_stock: stock,
                        product_size_m: [
                            rng.random_range(0.06..0.14),
                            rng.random_range(0.05..0.12),
                            rng.random_range(0.10..0.28),
                        ],
                        product_rgb: [rng.random(), rng.random(), rng.random()],
                        unit_weight_g: None,
                    });
                }
            }
            shelves.push(Shelf {
                id: letter.to_string(),
                min_corner_m: [SHELF_WEST_X_M, y],
                size_m: [SHELF_LENGTH_M, 0.6, 1.8],
                facing: if north { Facing::South } else { Facing::North },
                levels: LEVELS,
                columns: COLUMNS,
                slots,
            });
        }
        let store = Store {
            floor: Floor {
                width_m: 12.0,
                depth_m: 12.0,
                ceiling_height_m: 3.0,
                walls: Vec::new(),
            },
            shelves,
            gates: vec![
                Gate {
                    id: "entry".into(),
                    kind: GateKind::Entry,
                    position_m: ENTRY_M,
                    width_m: 0.9,
                },
                Gate {
                    id: "exit".into(),
                    kind: GateKind::Exit,
                    position_m: EXIT_M,
                    width_m: 0.9,
                },
            ],
            scales: None,
        };
        Self {
            store,
            shoppers: Vec::new(),
            unclaimed,
        }
    }

    fn slot_id(&self, aisle: usize, side: Side, level: u32, column: u32) -> String {
        format!(
            "{}{level}-{column}",
            self.store.shelves[shelf_index(aisle, side)].id
        )
    }

    /// Claims `quantity` units of a slot for a planned pick; false when not enough are left.
    fn claim(&mut self, slot: &str, quantity: u32) -> bool {
        match self.unclaimed.get_mut(slot) {
            Some(left) if *left >= quantity => {
                *left -= quantity;
                true
            }
            _ => false,
        }
    }

    fn sku_of(&self, slot: &str) -> String {
        self.store
            .slot(slot)
            .map(|p| p.slot.sku.clone())
            .unwrap_or_default()
    }
}

/// Builds one shopper who walks in, through one aisle from west to east (stopping on the way), and out.
struct Walker {
    shopper: Shopper,
    aisle: usize,
}

impl Walker {
    fn new(
        rng: &mut ChaCha8Rng,
        id: &str,
        account: &str,
        entry_time_secs: f64,
        aisle: usize,
    ) -> Self {
        let y = aisle_center_y_m(aisle) + rng.random_range(-0.3..0.3);
        Self {
            shopper: Shopper {
                id: id.into(),
                account: account.into(),
                group: None,
                entry_time_secs,
                entry_gate: "entry".into(),
                exit_gate: "exit".into(),
                speed_m_per_s: rng.random_range(0.9..1.4),
                body: Body {
                    height_m: rng.random_range(1.55..1.95),
                    ..Body::default()
                },
                appearance: Appearance {
                    top_rgb: [rng.random(), rng.random(), rng.random()],
                    bottom_rgb: [rng.random(), rng.random(), rng.random()],
                },
                path: vec![[AISLE_WEST_X_M, y]],
                actions: Vec::new(),
            },
            aisle,
        }
    }

    /// Walks to stand in front of a column of one side of the aisle; returns the waypoint.
    fn stop(&mut self, rng: &mut ChaCha8Rng, side: Side, column: u32) -> usize {
        let face = shelf_face(self.aisle, side, column);
        let out = rng.random_range(0.35..0.55);
        let offset = rng.random_range(-0.15..0.15);
        let y = match side {
            Side::South => face[1] + out,
            Side::North => face[1] - out,
        };
        self.shopper.path.push([face[0] + offset, y]);
        self.shopper.path.len() - 1
    }

    fn waypoint(&self) -> usize {
        self.shopper.path.len() - 1
    }

    fn pick(&mut self, slot: &str, quantity: u32, duration_secs: f64) {
        self.shopper.actions.push(Action::Pick {
            waypoint: self.waypoint(),
            slot: slot.into(),
            quantity,
            duration_secs,
        });
    }

    fn put_back(&mut self, slot: &str, quantity: u32) {
        self.shopper.actions.push(Action::PutBack {
            waypoint: self.waypoint(),
            slot: slot.into(),
            quantity,
            duration_secs: 1.6,
        });
    }

    fn act(&mut self, action: Action) {
        self.shopper.actions.push(action);
    }

    fn finish(mut self, rng: &mut ChaCha8Rng) -> Shopper {
        let y = aisle_center_y_m(self.aisle) + rng.random_range(-0.3..0.3);
        self.shopper.path.push([AISLE_EAST_X_M, y]);
        self.shopper
    }
}

/// Centre of a slot column's face on the floor, as [`Shelf::slot_face`] places it.
fn shelf_face(aisle: usize, side: Side, column: u32) -> [f64; 2] {
    let x = SHELF_WEST_X_M + (f64::from(column) - 0.5) * SHELF_LENGTH_M / f64::from(COLUMNS);
    let y = match side {
        Side::South => aisle_center_y_m(aisle) - 0.9,
        Side::North => aisle_center_y_m(aisle) + 0.9,
    };
    [x, y]
}

fn random_side(rng: &mut ChaCha8Rng) -> Side {
    if rng.random_bool(0.5) {
        Side::South
    } else {
        Side::North
    }
}

/// Distinct columns, ascending (the walk goes west to east).
fn columns(rng: &mut ChaCha8Rng, count: usize) -> Vec<u32> {
    let mut all: Vec<u32> = (1..=COLUMNS).collect();
    all.shuffle(rng);
    let mut chosen: Vec<u32> = all.into_iter().take(count).collect();
    chosen.sort_unstable();
    chosen
}

/// Picks one slot at this stop that still has `quantity` unclaimed units; returns it.
fn pick_somewhere(
    world: &mut World,
    walker: &mut Walker,
    rng: &mut ChaCha8Rng,
    side: Side,
    column: u32,
    quantity: u32,
    duration_secs: f64,
) -> Option<String> {
    let mut levels: Vec<u32> = (1..=LEVELS).collect();
    levels.shuffle(rng);
    for level in levels {
        let slot = world.slot_id(walker.aisle, side, level, column);
        if world.claim(&slot, quantity) {
            walker.pick(&slot, quantity, duration_secs);
            return Some(slot);
        }
    }
    None
}

/// A shopper with a few ordinary stops in one aisle: picks, sometimes a look without taking anything.
fn ordinary(
    world: &mut World,
    rng: &mut ChaCha8Rng,
    id: &str,
    account: &str,
    entry: f64,
    aisle: usize,
) -> Walker {
    let mut walker = Walker::new(rng, id, account, entry, aisle);
    let stops = rng.random_range(2..=4usize);
    for (stop, column) in columns(rng, stops).into_iter().enumerate() {
        let side = random_side(rng);
        walker.stop(rng, side, column);
        // The first stop always takes something, so that every shopper has a receipt to get right.
        if stop > 0 && rng.random_bool(0.2) {
            let shelf = world.store.shelves[shelf_index(aisle, side)].id.clone();
            walker.act(Action::Browse {
                waypoint: walker.waypoint(),
                shelf,
                duration_secs: rng.random_range(1.0..3.0),
            });
        } else {
            let quantity = rng.random_range(1..=2u32);
            pick_somewhere(world, &mut walker, rng, side, column, quantity, 1.6);
        }
    }
    walker
}

fn default_noise() -> Noise {
    Noise {
        sensor_sigma: 2.0,
        bitrate_kbps: None,
        dropped_frame_probability: 0.0,
        lighting: Vec::new(),
        outages: Vec::new(),
    }
}

/// One shopper, a few picks in one aisle.
fn solo(world: &mut World, rng: &mut ChaCha8Rng) -> Noise {
    let aisle = rng.random_range(0..AISLES);
    let walker = ordinary(world, rng, "s1", "acct-1", 1.0, aisle);
    world.shoppers.push(walker.finish(rng));
    default_noise()
}

/// Two or three shoppers, each in a different aisle, one of whom may put something back.
fn pairs(world: &mut World, rng: &mut ChaCha8Rng) -> Noise {
    let count = rng.random_range(2..=3usize);
    let mut aisles: Vec<usize> = (0..AISLES).collect();
    aisles.shuffle(rng);
    for (i, aisle) in aisles.into_iter().take(count).enumerate() {
        let entry = 1.0 + i as f64 * rng.random_range(0.5..3.0);
        let id = format!("s{}", i + 1);
        let mut walker = ordinary(world, rng, &id, &format!("acct-{}", i + 1), entry, aisle);
        if i == 0 {
            put_back_last_pick(&mut walker);
        }
        world.shoppers.push(walker.finish(rng));
    }
    default_noise()
}

/// Puts one unit of the walker's last pick back into its slot, at the same stop, if it picked anything.
fn put_back_last_pick(walker: &mut Walker) {
    let last = walker.shopper.actions.iter().rev().find_map(|a| match a {
        Action::Pick { slot, waypoint, .. } => Some((slot.clone(), *waypoint)),
        _ => None,
    });
    if let Some((slot, waypoint)) = last
        && waypoint == walker.waypoint()
    {
        walker.put_back(&slot, 1);
    }
}

/// Ten to fourteen shoppers; four of them come in one after another and crowd one shelf; some put items back, one
/// puts an item into the wrong slot.
fn busy(world: &mut World, rng: &mut ChaCha8Rng) -> Noise {
    let count = rng.random_range(10..=14usize);
    let crowd_aisle = rng.random_range(0..AISLES);
    let crowd_side = random_side(rng);
    for i in 0..count {
        let id = format!("s{}", i + 1);
        let account = format!("acct-{}", i + 1);
        let mut walker = if i < 4 {
            // The crowd: one after another through the gate, to neighbouring columns of one shelf,
            // the first in going furthest, so that they reach the shelf together.
            let entry = 1.0 + i as f64 * GATE_HEADWAY_SECS + rng.random_range(0.0..0.2);
            let mut walker = Walker::new(rng, &id, &account, entry, crowd_aisle);
            let column = 5 - i as u32;
            walker.stop(rng, crowd_side, column);
            let quantity = rng.random_range(1..=2u32);
            pick_somewhere(world, &mut walker, rng, crowd_side, column, quantity, 1.6);
            let later = rng.random_range(column + 1..=COLUMNS);
            let side = random_side(rng);
            walker.stop(rng, side, later);
            pick_somewhere(world, &mut walker, rng, side, later, 1, 1.6);
            walker
        } else {
            let entry = rng.random_range(2.0..25.0);
            let aisle = rng.random_range(0..AISLES);
            ordinary(world, rng, &id, &account, entry, aisle)
        };
        if i % 3 == 1 {
            put_back_last_pick(&mut walker);
        }
        if i == 5 {
            misplace_first_pick(world, &mut walker, rng);
        }
        world.shoppers.push(walker.finish(rng));
    }
    Noise {
        dropped_frame_probability: 0.002,
        ..default_noise()
    }
}

/// Adds a last stop where one unit of the walker's first pick goes into a neighbouring slot.
fn misplace_first_pick(world: &World, walker: &mut Walker, rng: &mut ChaCha8Rng) {
    let first = walker.shopper.actions.iter().find_map(|a| match a {
        Action::Pick { slot, .. } => Some(slot.clone()),
        _ => None,
    });
    let Some(from) = first else { return };
    let side = random_side(rng);
    walker.stop(rng, side, COLUMNS);
    let level = rng.random_range(1..=LEVELS);
    let slot = world.slot_id(walker.aisle, side, level, COLUMNS);
    if slot == from {
        return;
    }
    walker.act(Action::Misplace {
        waypoint: walker.waypoint(),
        slot,
        sku: world.sku_of(&from),
        quantity: 1,
        duration_secs: 1.6,
    });
}

/// Two or three families paying with one account each (a parent and one to three children who hand what
/// they pick to the parent), and one shopper on their own.
fn groups(world: &mut World, rng: &mut ChaCha8Rng) -> Noise {
    let families = rng.random_range(2..=3usize);
    let mut next = 1;
    for family in 1..=families {
        let account = format!("family-{family}");
        let aisle = rng.random_range(0..AISLES);
        let entry = 1.0 + (family - 1) as f64 * rng.random_range(2.0..6.0);
        let children = rng.random_range(1..=3usize);
        let stops = columns(rng, 3);
        let parent_id = format!("s{next}");
        next += 1;
        let mut parent = Walker::new(rng, &parent_id, &account, entry, aisle);
        parent.shopper.group = Some(account.clone());
        let family_speed = parent.shopper.speed_m_per_s;
        for &column in &stops {
            let side = random_side(rng);
            parent.stop(rng, side, column);
            pick_somewhere(world, &mut parent, rng, side, column, 1, 1.6);
        }
        world.shoppers.push(parent.finish(rng));
        for child in 0..children {
            let id = format!("s{next}");
            next += 1;
            let entry = entry + 0.6 * (child + 1) as f64;
            let mut walker = Walker::new(rng, &id, &account, entry, aisle);
            walker.shopper.group = Some(account.clone());
            walker.shopper.speed_m_per_s = family_speed;
            walker.shopper.body = Body {
                height_m: rng.random_range(1.05..1.45),
                shoulder_width_m: 0.32,
                arm_length_m: 0.5,
            };
            // The first stop: pick and hand it to the parent at once (the parent is in the store by then).
            let side = random_side(rng);
            walker.stop(rng, side, stops[0]);
            if let Some(slot) = pick_somewhere(world, &mut walker, rng, side, stops[0], 1, 1.6) {
                let sku = world.sku_of(&slot);
                walker.act(Action::HandOver {
                    waypoint: walker.waypoint(),
                    to_shopper: parent_id.clone(),
                    sku,
                    quantity: 1,
                    duration_secs: 1.2,
                });
            }
            // Later stops: keep what they pick (still the family's account).
            for &column in &stops[1..] {
                if rng.random_bool(0.5) {
                    let side = random_side(rng);
                    walker.stop(rng, side, column);
                    pick_somewhere(world, &mut walker, rng, side, column, 1, 1.6);
                }
            }
            world.shoppers.push(walker.finish(rng));
        }
    }
    let aisle = rng.random_range(0..AISLES);
    let walker = ordinary(world, rng, &format!("s{next}"), "acct-solo", 2.0, aisle);
    world.shoppers.push(walker.finish(rng));
    default_noise()
}

/// The live demo: four cameras on the first aisle and its gates; three shoppers, one of whom puts an item
/// back, then a parent with a child who hands over what they pick.
fn demo(world: &mut World, rng: &mut ChaCha8Rng) -> Noise {
    let aisle = 0;
    for i in 0..2 {
        let id = format!("s{}", i + 1);
        let entry = 1.0 + 4.0 * i as f64;
        let mut walker = ordinary(world, rng, &id, &format!("acct-{}", i + 1), entry, aisle);
        if i == 0 {
            put_back_last_pick(&mut walker);
        }
        world.shoppers.push(walker.finish(rng));
    }
    family(world, rng, "family-1", "s3", "s4", 10.0, aisle);
    keep_first_aisle(world);
    default_noise()
}

/// A one-aisle shop: the shelves of the other aisles go (nobody uses them and no camera watches them).
fn keep_first_aisle(world: &mut World) {
    world.store.shelves.truncate(2);
}

/// A short scene for end-to-end tests: two cameras (over the gates, which also see the first aisle) and
/// three shoppers one after another on its near ends, the first of whom puts an item back.
fn tiny(world: &mut World, rng: &mut ChaCha8Rng) -> Noise {
    for i in 0..3 {
        let id = format!("s{}", i + 1);
        let mut walker = Walker::new(
            rng,
            &id,
            &format!("acct-{}", i + 1),
            1.0 + 5.0 * i as f64,
            0,
        );
        // the entrance camera sees the west end of the aisle, the exit camera the east end
        let column = if i % 2 == 0 { 1 } else { COLUMNS };
        let side = random_side(rng);
        walker.stop(rng, side, column);
        pick_somewhere(world, &mut walker, rng, side, column, 1 + i as u32 % 2, 1.6);
        if i == 0 {
            put_back_last_pick(&mut walker);
        }
        world.shoppers.push(walker.finish(rng));
    }
    default_noise()
}

/// A parent and a child on one account: the child picks at the parent's first stop and hands it over.
fn family(
    world: &mut World,
    rng: &mut ChaCha8Rng,
    account: &str,
    parent_id: &str,
    child_id: &str,
    entry: f64,
    aisle: usize,
) {
    let stops = columns(rng, 2);
    let mut parent = Walker::new(rng, parent_id, account, entry, aisle);
    parent.shopper.group = Some(account.to_string());
    for &column in &stops {
        let side = random_side(rng);
        parent.stop(rng, side, column);
        pick_somewhere(world, &mut parent, rng, side, column, 1, 1.6);
    }
    let speed = parent.shopper.speed_m_per_s;
    world.shoppers.push(parent.finish(rng));
    let mut child = Walker::new(rng, child_id, account, entry + 0.6, aisle);
    child.shopper.group = Some(account.to_string());
    child.shopper.speed_m_per_s = speed;
    child.shopper.body = Body {
        height_m: rng.random_range(1.05..1.45),
        shoulder_width_m: 0.32,
        arm_length_m: 0.5,
    };
    let side = random_side(rng);
    child.stop(rng, side, stops[0]);
    if let Some(slot) = pick_somewhere(world, &mut child, rng, side, stops[0], 1, 1.6) {
        let sku = world.sku_of(&slot);
        child.act(Action::HandOver {
            waypoint: child.waypoint(),
            to_shopper: parent_id.to_string(),
            sku,
            quantity: 1,
            duration_secs: 1.2,
        });
    }
    world.shoppers.push(child.finish(rng));
}

/// Hard cases: a tall shopper standing in front of another at the same shelf (occlusion), a shopper who
/// brushes past slots without taking anything, quick successive picks from one spot, and one aisle camera
/// dark while all this happens, with the lights dimming too.
fn adversarial(world: &mut World, rng: &mut ChaCha8Rng) -> Noise {
    let aisle = rng.random_range(0..AISLES);
    let side = random_side(rng);
    let column = rng.random_range(2..=COLUMNS - 1);

    // Occlusion: two shoppers at the same column at the same time, the taller one nearer the aisle centre.
    let mut short = Walker::new(rng, "s1", "acct-1", 1.0, aisle);
    short.shopper.body.height_m = 1.58;
    short.stop(rng, side, column);
    pick_somewhere(world, &mut short, rng, side, column, 1, 1.6);
    let mut tall = Walker::new(rng, "s2", "acct-2", 1.2, aisle);
    tall.shopper.body.height_m = 1.96;
    tall.stop(rng, side, column + 1);
    pick_somewhere(world, &mut tall, rng, side, column + 1, 1, 1.6);
    // Quick successive picks: three levels of one column, half a second each.
    let quick_column = rng.random_range(1..=COLUMNS);
    let quick_side = random_side(rng);
    let mut quick = Walker::new(rng, "s3", "acct-3", 1.5, aisle);
    quick.stop(rng, quick_side, quick_column);
    for level in 1..=3 {
        let slot = world.slot_id(aisle, quick_side, level, quick_column);
        if world.claim(&slot, 1) {
            quick.pick(&slot, 1, 0.5);
        }
    }
    // Brushing past: touches slots on both sides, takes nothing.
    let mut brusher = Walker::new(rng, "s4", "acct-4", 2.0, aisle);
    for column in columns(rng, 3) {
        let side = random_side(rng);
        brusher.stop(rng, side, column);
        let level = rng.random_range(1..=LEVELS);
        brusher.act(Action::Touch {
            waypoint: brusher.waypoint(),
            slot: world.slot_id(aisle, side, level, column),
            duration_secs: 0.8,
        });
    }
    // Someone elsewhere, to keep the other cameras honest.
    let other_aisle = (aisle + 1) % AISLES;
    let other = ordinary(world, rng, "s5", "acct-5", 3.0, other_aisle);
    for walker in [short, tall, quick, brusher, other] {
        world.shoppers.push(walker.finish(rng));
    }
    let dark_camera = if rng.random_bool(0.5) {
        format!("aisle-{aisle}-west")
    } else {
        format!("aisle-{aisle}-east")
    };
    Noise {
        sensor_sigma: 4.0,
        bitrate_kbps: Some(1500),
        dropped_frame_probability: 0.01,
        lighting: vec![LightingChange {
            start_secs: 4.0,
            end_secs: 9.0,
            brightness: 0.6,
        }],
        outages: vec![Outage {
            camera: dark_camera,
            start_secs: 3.0,
            end_secs: 9.0,
        }],
    }
}

/// Two wide-angle cameras, one at each end of the first aisle, each tilted to see its gate and the aisle.
fn wide_gate_cameras() -> Vec<Camera> {
    let camera = |id: &str, position_m: [f64; 3], look_at_m: [f64; 3]| Camera {
        id: id.to_string(),
        position_m,
        look_at_m,
        intrinsics: Intrinsics {
            fx_px: 480.0,
            fy_px: 480.0,
            cx_px: 640.0,
            cy_px: 360.0,
        },
        resolution_px: [1280, 720],
        fps: 15.0,
    };
    vec![
        camera("west", [1.0, 3.5, 3.4], [4.0, 1.8, 0.2]),
        camera("east", [11.0, 3.5, 3.4], [8.0, 1.8, 0.2]),
    ]
}

/// The named cameras of the full set, in its order.
fn cameras_of(ids: &[&str]) -> Vec<Camera> {
    cameras()
        .into_iter()
        .filter(|c| ids.contains(&c.id.as_str()))
        .collect()
}

/// Eight cameras near the ceiling looking down at an angle: one over each gate looking into the store, one
/// at each end of each aisle. The one over the entry gate cannot see the gate itself (it lies under it).
fn cameras() -> Vec<Camera> {
    let camera = |id: String, position_m: [f64; 3], look_at_m: [f64; 3]| Camera {
        id,
        position_m,
        look_at_m,
        intrinsics: Intrinsics {
            fx_px: 640.0,
            fy_px: 640.0,
            cx_px: 640.0,
            cy_px: 360.0,
        },
        resolution_px: [1280, 720],
        fps: 15.0,
    };
    let mut all = vec![
        camera("entrance".into(), [1.0, 0.3, 2.9], [3.0, 4.0, 0.5]),
        camera("exit".into(), [11.0, 0.3, 2.9], [9.0, 4.0, 0.5]),
    ];
    for aisle in 0..AISLES {
        let y = aisle_center_y_m(aisle);
        all.push(camera(
            format!("aisle-{aisle}-west"),
            [2.2, y, 2.9],
            [6.0, y, 0.6],
        ));
        all.push(camera(
            format!("aisle-{aisle}-east"),
            [9.8, y, 2.9],
            [6.0, y, 0.6],
        ));
    }
    all
}
