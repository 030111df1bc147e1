use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What the store cares about in a detection, independent of the model's own class names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Person,
    Hand,
    Product,
    /// A class the model knows that the store does not use (a bus, a dog).
    Other,
}

/// An axis-aligned box in pixels: `(x1, y1)` top-left, `(x2, y2)` bottom-right, `x2 >= x1`, `y2 >= y1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self {
            x1: x1.min(x2),
            y1: y1.min(y2),
            x2: x1.max(x2),
            y2: y1.max(y2),
        }
    }

    pub fn from_center(cx: f32, cy: f32, width: f32, height: f32) -> Self {
        Self::new(
            cx - width / 2.0,
            cy - height / 2.0,
            cx + width / 2.0,
            cy + height / 2.0,
        )
    }

    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }

    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// The area the two boxes share.
    pub fn intersection(&self, other: &BBox) -> f32 {
        let width = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let height = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        width * height
    }

    pub fn intersection_over_union(&self, other: &BBox) -> f32 {
        let intersection = self.intersection(other);
        let union = self.area() + other.area() - intersection;
        if union <= 0.0 {
            0.0
        } else {
            intersection / union
        }
    }

    /// Clamps the box into an image of the given size.
    pub fn clamped(&self, width: f32, height: f32) -> BBox {
        BBox {
            x1: self.x1.clamp(0.0, width),
            y1: self.y1.clamp(0.0, height),
            x2: self.x2.clamp(0.0, width),
            y2: self.y2.clamp(0.0, height),
        }
    }
}

/// One detected object in a frame, in the pixels of the original (not letterboxed) frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The model's class index.
    pub class_id: u32,
    /// The model's class name, as its manifest gives it.
    pub label: Arc<str>,
    pub kind: ObjectKind,
    pub score: f32,
    pub bbox: BBox,
    /// For persons: their colour histogram in this frame, when the frame was at hand (see
    /// [`crate::Appearance`]); it tells apart shoppers standing close together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<crate::Appearance>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((a.intersection_over_union(&a) - 1.0).abs() < 1e-6);
        let far = BBox::new(20.0, 20.0, 30.0, 30.0);
        assert_eq!(a.intersection_over_union(&far), 0.0);
        let half = BBox::new(5.0, 0.0, 15.0, 10.0);
        // intersection 50, union 150
        assert!((a.intersection_over_union(&half) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn new_orders_corners_and_from_center_is_symmetric() {
        let b = BBox::new(10.0, 8.0, 2.0, 4.0);
        assert_eq!((b.x1, b.y1, b.x2, b.y2), (2.0, 4.0, 10.0, 8.0));
        let c = BBox::from_center(5.0, 5.0, 4.0, 2.0);
        assert_eq!((c.x1, c.y1, c.x2, c.y2), (3.0, 4.0, 7.0, 6.0));
    }

    #[test]
    fn degenerate_boxes_have_zero_iou() {
        let point = BBox::new(1.0, 1.0, 1.0, 1.0);
        assert_eq!(point.intersection_over_union(&point), 0.0);
    }
}
