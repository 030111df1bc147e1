//! What a person looks like in one camera's frame: a colour histogram of the middle of their box, to
//! tell apart two shoppers who stand where each other could be.
//!
//! Hue and saturation carry the colour of the clothes and do not change when the lights dim (the store's
//! brightness changes scale every channel alike); pixels with too little saturation for a hue are
//! binned by brightness instead (black, grey and white clothes). The histogram is normalised to sum to
//! one, and two of them compare by their Bhattacharyya coefficient: 1 for the same distribution, 0 for
//! colours that never overlap.

use serde::{Deserialize, Serialize};

use crate::{BBox, Detection, Frame, ObjectKind};

/// Gives every person detection its appearance in `frame`. The boxes are in the pixels of a `source`
/// picture of which `frame` may be a scaled copy (the camera layer scales before detection).
pub fn describe_people(frame: &Frame, source: (u32, u32), detections: &mut [Detection]) {
    let sx = frame.width() as f32 / source.0.max(1) as f32;
    let sy = frame.height() as f32 / source.1.max(1) as f32;
    for d in detections
        .iter_mut()
        .filter(|d| d.kind == ObjectKind::Person)
    {
        let b = d.bbox;
        let scaled = BBox::new(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy);
        d.appearance = Appearance::of_box(frame, &scaled);
    }
}

/// Hue bins for saturated pixels, times two saturation bins.
const HUES: usize = 12;
/// Brightness bins for pixels without a usable hue.
const GREYS: usize = 4;
/// Bins in all.
pub const APPEARANCE_BINS: usize = HUES * 2 + GREYS;
/// Below this saturation (0..1, of the HSV cone) a pixel's hue is noise.
const MIN_SATURATION: f32 = 0.25;
/// Fewer sampled pixels than this say nothing about a person.
const MIN_PIXELS: u32 = 12;

/// A person's colour histogram in one frame (or averaged over frames).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Appearance {
    bins: [f32; APPEARANCE_BINS],
}

impl Appearance {
    /// The histogram of the middle of `bbox` in `frame` (the central half of its width, from 15% to 75%
    /// of its height: clothes rather than the floor around the legs or the shelf behind the shoulders),
    /// sampled on every second pixel; `None` when the box holds too few pixels.
    pub fn of_box(frame: &Frame, bbox: &BBox) -> Option<Appearance> {
        let (width, height) = (frame.width() as f32, frame.height() as f32);
        let b = bbox.clamped(width, height);
        let (w, h) = (b.x2 - b.x1, b.y2 - b.y1);
        let x0 = (b.x1 + 0.25 * w).floor().max(0.0) as usize;
        let x1 = ((b.x2 - 0.25 * w).ceil() as usize).min(frame.width() as usize);
        let y0 = (b.y1 + 0.15 * h).floor().max(0.0) as usize;
        let y1 = ((b.y1 + 0.75 * h).ceil() as usize).min(frame.height() as usize);
        let rgb = frame.rgb();
        let stride = frame.width() as usize * 3;
        let mut bins = [0.0f32; APPEARANCE_BINS];
        let mut n = 0u32;
        for y in (y0..y1).step_by(2) {
            for x in (x0..x1).step_by(2) {
                let i = y * stride + x * 3;
                bins[bin(rgb[i], rgb[i + 1], rgb[i + 2])] += 1.0;
                n += 1;
            }
        }
        if n < MIN_PIXELS {
            return None;
        }
        bins.iter_mut().for_each(|v| *v /= n as f32);
        Some(Appearance { bins })
    }

    /// The look of a person dressed all in one colour: every pixel in the one bin `rgb` falls in.
    pub fn of_colour(rgb: [u8; 3]) -> Appearance {
        let mut bins = [0.0f32; APPEARANCE_BINS];
        bins[bin(rgb[0], rgb[1], rgb[2])] = 1.0;
        Appearance { bins }
    }

    /// 0..1: the Bhattacharyya coefficient of the two histograms.
    pub fn similarity(&self, other: &Appearance) -> f32 {
        self.bins
            .iter()
            .zip(&other.bins)
            .map(|(a, b)| (a * b).sqrt())
            .sum::<f32>()
            .min(1.0)
    }

    /// Moves this histogram towards `other` by `weight` (0..1): a running mean over frames.
    pub fn blend(&mut self, other: &Appearance, weight: f32) {
        let weight = weight.clamp(0.0, 1.0);
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += weight * (b - *a);
        }
    }
}

fn bin(r: u8, g: u8, b: u8) -> usize {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let saturation = if max > 0.0 { (max - min) / max } else { 0.0 };
    if saturation < MIN_SATURATION || max < 40.0 {
        return HUES * 2 + ((max / 256.0 * GREYS as f32) as usize).min(GREYS - 1);
    }
    let delta = max - min;
    let hue = if max == r {
        ((g - b) / delta).rem_euclid(6.0)
    } else if max == g {
        (b - r) / delta + 2.0
    } else {
        (r - g) / delta + 4.0
    }; // 0..6
    let h = ((hue / 6.0 * HUES as f32) as usize).min(HUES - 1);
    let s = usize::from(saturation >= 0.6);
    h * 2 + s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CameraId, CaptureTime};

    /// A 64x64 frame: a person-sized box of `top` colour on a grey floor.
    fn frame_with(top: [u8; 3], brightness: f32) -> Frame {
        let mut rgb = vec![128u8; 64 * 64 * 3];
        for y in 10..50 {
            for x in 20..40 {
                let i = (y * 64 + x) * 3;
                for c in 0..3 {
                    rgb[i + c] = (f32::from(top[c]) * brightness) as u8;
                }
            }
        }
        Frame::new(
            CameraId::new("cam"),
            0,
            None,
            CaptureTime::from_unix_millis(0),
            64,
            64,
            rgb,
        )
        .unwrap()
    }

    #[test]
    fn a_one_colour_look_is_what_a_box_of_that_colour_shows() {
        for rgb in [[200, 30, 30], [30, 30, 200], [128, 128, 128]] {
            let shown = Appearance::of_box(&frame_with(rgb, 1.0), &PERSON).unwrap();
            assert!((Appearance::of_colour(rgb).similarity(&shown) - 1.0).abs() < 1e-6);
        }
        let (red, blue) = (
            Appearance::of_colour([200, 30, 30]),
            Appearance::of_colour([30, 30, 200]),
        );
        assert!(red.similarity(&blue) < 1e-6);
    }

    const PERSON: BBox = BBox {
        x1: 18.0,
        y1: 6.0,
        x2: 42.0,
        y2: 58.0,
    };

    #[test]
    fn the_same_clothes_match_under_dimmer_light_and_other_colours_do_not() {
        let red = Appearance::of_box(&frame_with([200, 30, 40], 1.0), &PERSON).unwrap();
        let dim_red = Appearance::of_box(&frame_with([200, 30, 40], 0.6), &PERSON).unwrap();
        let blue = Appearance::of_box(&frame_with([30, 60, 200], 1.0), &PERSON).unwrap();
        assert!(
            red.similarity(&dim_red) > 0.95,
            "{}",
            red.similarity(&dim_red)
        );
        assert!(red.similarity(&blue) < 0.2, "{}", red.similarity(&blue));
        assert!((red.similarity(&red) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn a_box_too_small_or_outside_the_frame_has_no_appearance() {
        let frame = frame_with([200, 30, 40], 1.0);
        assert!(Appearance::of_box(&frame, &BBox::new(10.0, 10.0, 13.0, 14.0)).is_none());
        assert!(Appearance::of_box(&frame, &BBox::new(70.0, 70.0, 90.0, 120.0)).is_none());
    }

    #[test]
    fn blending_moves_towards_the_new_look() {
        let red = Appearance::of_box(&frame_with([200, 30, 40], 1.0), &PERSON).unwrap();
        let blue = Appearance::of_box(&frame_with([30, 60, 200], 1.0), &PERSON).unwrap();
        let mut mixed = red;
        mixed.blend(&blue, 0.5);
        assert!(mixed.similarity(&red) > red.similarity(&blue));
        assert!(mixed.similarity(&blue) > red.similarity(&blue));
        let sum: f32 = mixed.bins.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4);
    }
}
