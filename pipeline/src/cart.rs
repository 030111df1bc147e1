//! Shelf events, and the carts and live inventory that are folds of them.
//!
//! Events are immutable facts with an id, a time, camera evidence and a confidence; a cart is never
//! edited, it is recomputed from its session's events and any operator corrections, so every total can be
//! explained line by line and replayed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use walkout_core::{CameraId, CaptureTime};

use crate::shelf::whole_units;

/// A planogram slot, e.g. `"A2-3"` (aisle A, shelf 2, position 3).
pub type SlotId = String;
/// A stock-keeping unit code.
pub type Sku = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Items left the slot in a shopper's hand.
    Pick,
    /// Items were put into the slot.
    Put,
}

/// Which camera frame shows the event, so an operator can look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub camera: CameraId,
    pub frame_seq: u64,
}

/// One pick-up or put-back at a shelf slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShelfEvent {
    /// Unique and stable: replaying the same footage gives the same ids.
    pub id: u64,
    pub time: CaptureTime,
    pub slot: SlotId,
    pub sku: Sku,
    pub kind: EventKind,
    pub quantity: u32,
    /// The session the event is attributed to, if any.
    pub session: Option<u64>,
    /// 0..1: how sure the event is: the shopper's margin to the next candidate, times how sure the
    /// slot is (a count change where slot regions overlap) and how well the count settled.
    pub confidence: f32,
    pub evidence: Vec<Evidence>,
}

/// An operator's override of one cart line, with who and why (the audit trail lives in the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub sku: Sku,
    /// The line's quantity after the correction.
    pub quantity: u32,
    pub operator: String,
    pub reason: String,
    pub time: CaptureTime,
}

/// One line of a cart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CartLine {
    pub quantity: u32,
    /// Items put back that were never in this cart: a sign of a wrong attribution, for review.
    pub unmatched_puts: u32,
}

/// A session's cart: SKU to line, in SKU order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cart {
    pub lines: BTreeMap<Sku, CartLine>,
}

impl Cart {
    /// Folds a session's events and corrections: a pick adds, a put removes (never below zero), and a
    /// correction sets its line, overriding every event before it in time.
    pub fn fold<'a>(
        events: impl IntoIterator<Item = &'a ShelfEvent>,
        corrections: &[Correction],
    ) -> Cart {
        let mut cart = Cart::default();
        let mut events: Vec<&ShelfEvent> = events.into_iter().collect();
        events.sort_by_key(|e| (e.time, e.id));
        let mut corrections: Vec<&Correction> = corrections.iter().collect();
        corrections.sort_by_key(|c| c.time);
        let mut pending = corrections.into_iter().peekable();
        for event in events {
            while let Some(correction) = pending.next_if(|c| c.time <= event.time) {
                cart.apply_correction(correction);
            }
            cart.apply(event);
        }
        for correction in pending {
            cart.apply_correction(correction);
        }
        cart.lines
            .retain(|_, line| line.quantity > 0 || line.unmatched_puts > 0);
        cart
    }

    fn apply(&mut self, event: &ShelfEvent) {
        let line = self.lines.entry(event.sku.clone()).or_default();
        match event.kind {
            EventKind::Pick => line.quantity = line.quantity.saturating_add(event.quantity),
            EventKind::Put => {
                let removed = event.quantity.min(line.quantity);
                line.quantity -= removed;
                line.unmatched_puts += event.quantity - removed;
            }
        }
    }

    fn apply_correction(&mut self, correction: &Correction) {
        let line = self.lines.entry(correction.sku.clone()).or_default();
        line.quantity = correction.quantity;
        line.unmatched_puts = 0;
    }

    /// The item in this cart that a scale's change of `delta_g` grams is a whole number of (no more
    /// than the cart holds, and not `except`): the best fit ([`whole_units`]) of at least `min_fit`,
    /// and the next item's fit where another fits too. `unit_weights` are grams per item.
    pub fn item_weighing(
        &self,
        delta_g: f64,
        unit_weights: &BTreeMap<Sku, f64>,
        except: &str,
        min_fit: f32,
    ) -> Option<ItemWeighing> {
        let mut fits: Vec<ItemWeighing> = self
            .lines
            .iter()
            .filter(|(sku, line)| sku.as_str() != except && line.quantity > 0)
            .filter_map(|(sku, line)| {
                let (quantity, fit) = whole_units(delta_g, *unit_weights.get(sku)?);
                (quantity <= line.quantity && fit >= min_fit).then(|| ItemWeighing {
                    sku: sku.clone(),
                    quantity,
                    fit,
                    next_fit: 0.0,
                })
            })
            .collect();
        fits.sort_by(|a, b| b.fit.total_cmp(&a.fit));
        let next_fit = fits.get(1).map_or(0.0, |f| f.fit);
        fits.into_iter()
            .next()
            .map(|best| ItemWeighing { next_fit, ..best })
    }

    pub fn quantity(&self, sku: &str) -> u32 {
        self.lines.get(sku).map_or(0, |l| l.quantity)
    }

    /// Whether something in the cart does not add up and an operator should look.
    pub fn has_unmatched_puts(&self) -> bool {
        self.lines.values().any(|l| l.unmatched_puts > 0)
    }
}

/// What [`Cart::item_weighing`] found a weight to be.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemWeighing {
    pub sku: Sku,
    pub quantity: u32,
    /// How close to a whole number of the item the weight is ([`whole_units`]).
    pub fit: f32,
    /// The next best item's fit, 0 when no other fits.
    pub next_fit: f32,
}

/// Live stock per slot, from the same events as the carts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Inventory {
    pub stock: BTreeMap<SlotId, i64>,
}

impl Inventory {
    pub fn new(initial: impl IntoIterator<Item = (SlotId, i64)>) -> Self {
        Self {
            stock: initial.into_iter().collect(),
        }
    }

    /// Applies one event: a pick takes from its slot, a put adds to the slot it went into (which may not
    /// be where it came from). Stock may go negative, which means the planogram or an event is wrong.
    pub fn apply(&mut self, event: &ShelfEvent) {
        let slot = self.stock.entry(event.slot.clone()).or_insert(0);
        match event.kind {
            EventKind::Pick => *slot -= i64::from(event.quantity),
            EventKind::Put => *slot += i64::from(event.quantity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn event(
        id: u64,
        millis: u64,
        sku: &str,
        kind: EventKind,
        quantity: u32,
    ) -> ShelfEvent {
        ShelfEvent {
            id,
            time: CaptureTime::from_unix_millis(millis),
            slot: format!("slot-{sku}"),
            sku: sku.into(),
            kind,
            quantity,
            session: Some(1),
            confidence: 0.9,
            evidence: vec![],
        }
    }

    #[test]
    fn picks_add_puts_remove_and_empty_lines_vanish() {
        let events = [
            event(1, 10, "cola", EventKind::Pick, 2),
            event(2, 20, "chips", EventKind::Pick, 1),
            event(3, 30, "chips", EventKind::Put, 1),
            event(4, 40, "cola", EventKind::Put, 1),
        ];
        let cart = Cart::fold(&events, &[]);
        assert_eq!(cart.quantity("cola"), 1);
        assert!(!cart.lines.contains_key("chips"));
        assert!(!cart.has_unmatched_puts());
    }

    #[test]
    fn a_put_of_something_never_taken_is_flagged_not_negative() {
        let cart = Cart::fold(&[event(1, 10, "cola", EventKind::Put, 2)], &[]);
        assert_eq!(cart.quantity("cola"), 0);
        assert!(cart.has_unmatched_puts());
    }

    #[test]
    fn a_correction_overrides_earlier_events_but_not_later_ones() {
        let events = [
            event(1, 10, "cola", EventKind::Pick, 3),
            event(2, 50, "cola", EventKind::Pick, 1),
        ];
        let correction = Correction {
            sku: "cola".into(),
            quantity: 1,
            operator: "ana".into(),
            reason: "one was put on the wrong shelf".into(),
            time: CaptureTime::from_unix_millis(20),
        };
        assert_eq!(
            Cart::fold(&events, std::slice::from_ref(&correction)).quantity("cola"),
            2
        );
        let late = Correction {
            time: CaptureTime::from_unix_millis(60),
            ..correction
        };
        assert_eq!(Cart::fold(&events, &[late]).quantity("cola"), 1);
    }

    #[test]
    fn a_weight_is_the_cart_item_it_is_a_whole_number_of() {
        let events = [
            event(1, 10, "cola", EventKind::Pick, 2),
            event(2, 20, "chips", EventKind::Pick, 3),
            event(3, 30, "soap", EventKind::Pick, 1),
        ];
        let cart = Cart::fold(&events, &[]);
        let weights: BTreeMap<Sku, f64> = [("cola", 330.0), ("chips", 120.0), ("milk", 1030.0)]
            .into_iter()
            .map(|(s, g)| (s.to_string(), g))
            .collect();
        let found = cart.item_weighing(655.0, &weights, "milk", 0.5).unwrap();
        assert_eq!((found.sku.as_str(), found.quantity), ("cola", 2));
        assert!(found.fit > 0.95 && found.next_fit == 0.0, "{found:?}");
        // three colas weigh 990 g, but the cart holds two; 8.25 bags of chips: nothing fits
        assert_eq!(cart.item_weighing(990.0, &weights, "milk", 0.5), None);
        // the slot's own item never counts, nor one with no known weight (soap), nor milk (not in the cart)
        assert_eq!(cart.item_weighing(660.0, &weights, "cola", 0.5), None);
        assert_eq!(cart.item_weighing(1030.0, &weights, "x", 0.5), None);
        // 360 g is three bags of chips (fit 1) and a can (fit 0.82): it is not sure which
        let found = cart.item_weighing(360.0, &weights, "milk", 0.5).unwrap();
        assert_eq!((found.sku.as_str(), found.quantity), ("chips", 3));
        assert!(
            found.fit > 0.99 && (found.next_fit - 0.82).abs() < 0.01,
            "{found:?}"
        );
    }

    #[test]
    fn inventory_moves_stock_between_slots() {
        let mut inventory =
            Inventory::new([("slot-cola".to_string(), 10), ("slot-chips".to_string(), 5)]);
        inventory.apply(&event(1, 10, "cola", EventKind::Pick, 2));
        let mut misplaced = event(2, 20, "cola", EventKind::Put, 1);
        misplaced.slot = "slot-chips".into();
        inventory.apply(&misplaced);
        assert_eq!(inventory.stock["slot-cola"], 8);
        assert_eq!(inventory.stock["slot-chips"], 6);
    }
}

#[cfg(test)]
mod properties {
    use super::tests::event;
    use super::*;
    use proptest::prelude::*;

    fn arbitrary_events() -> impl Strategy<Value = Vec<ShelfEvent>> {
        prop::collection::vec((0..4usize, any::<bool>(), 1..4u32), 0..40).prop_map(|raw| {
            raw.into_iter()
                .enumerate()
                .map(|(i, (sku, pick, quantity))| {
                    let kind = if pick {
                        EventKind::Pick
                    } else {
                        EventKind::Put
                    };
                    event(
                        i as u64,
                        i as u64 * 10,
                        ["a", "b", "c", "d"][sku],
                        kind,
                        quantity,
                    )
                })
                .collect()
        })
    }

    proptest! {
        /// Events on different SKUs are independent: interleaving them differently changes nothing.
        #[test]
        fn independent_events_commute(events in arbitrary_events(), seed in any::<u64>()) {
            let before = Cart::fold(&events, &[]);
            // reorder across SKUs while keeping each SKU's own order: stable sort by a per-SKU key
            let mut reordered = events.clone();
            let key = |sku: &str| (seed.rotate_left(u32::from(sku.as_bytes()[0]) % 64)) % 7;
            reordered.sort_by_key(|e| key(&e.sku));
            for (i, e) in reordered.iter_mut().enumerate() {
                e.time = CaptureTime::from_unix_millis(i as u64 * 10);
                e.id = i as u64;
            }
            prop_assert_eq!(Cart::fold(&reordered, &[]), before);
        }

        /// A put never makes a quantity negative, and the cart never holds more than was picked.
        #[test]
        fn quantities_stay_between_zero_and_picked(events in arbitrary_events()) {
            let cart = Cart::fold(&events, &[]);
            for (sku, line) in &cart.lines {
                let picked: u32 = events.iter().filter(|e| &e.sku == sku && e.kind == EventKind::Pick).map(|e| e.quantity).sum();
                prop_assert!(line.quantity <= picked);
            }
        }

        /// Inventory and carts agree: what left the shelves is what is in the carts, less the puts of
        /// items the cart never held (which went onto a shelf from somewhere else).
        #[test]
        fn inventory_change_matches_the_cart(events in arbitrary_events()) {
            let cart = Cart::fold(&events, &[]);
            let mut inventory = Inventory::default();
            for e in &events {
                inventory.apply(e);
            }
            let taken: i64 = -inventory.stock.values().sum::<i64>();
            let in_cart: i64 = cart.lines.values().map(|l| i64::from(l.quantity)).sum();
            let unmatched: i64 = cart.lines.values().map(|l| i64::from(l.unmatched_puts)).sum();
            prop_assert_eq!(taken, in_cart - unmatched);
        }
    }
}
