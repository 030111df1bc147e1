//! A constant-velocity Kalman filter over a box's centre, width and height (as BoT-SORT has it): state
//! `[cx, cy, w, h, vx, vy, vw, vh]`, measurement `[cx, cy, w, h]`.
//!
//! Noise scales with the box's width (for x and w) and height (for y and h), so a near (large) shopper
//! and a far (small) one are tracked with the same relative confidence. ByteTrack's aspect-ratio state
//! with its fixed, small aspect noise followed a box whose shape changes quickly (a shopper stepping
//! into the picture from its edge: a wide, clipped box, then a tall one) ten frames late: the entrance
//! camera's tracks stayed up to three times too wide and spanned two shoppers entering together.

use nalgebra::{SMatrix, SVector};
use walkout_core::BBox;

pub type State = SVector<f32, 8>;
pub type Covariance = SMatrix<f32, 8, 8>;
type Measurement = SVector<f32, 4>;

/// Process and measurement noise, as fractions of the box height per frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KalmanConfig {
    pub std_weight_position: f32,
    pub std_weight_velocity: f32,
}

impl Default for KalmanConfig {
    fn default() -> Self {
        Self {
            std_weight_position: 1.0 / 20.0,
            std_weight_velocity: 1.0 / 160.0,
        }
    }
}

/// One target's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct KalmanBox {
    pub mean: State,
    pub covariance: Covariance,
}

pub fn measurement_from_bbox(b: &BBox) -> [f32; 4] {
    let h = b.height().max(1e-3);
    [
        (b.x1 + b.x2) / 2.0,
        (b.y1 + b.y2) / 2.0,
        b.width().max(1e-3),
        h,
    ]
}

impl KalmanBox {
    pub fn initiate(config: &KalmanConfig, bbox: &BBox) -> Self {
        let m = measurement_from_bbox(bbox);
        let mut mean = State::zeros();
        mean.fixed_rows_mut::<4>(0).copy_from(&Measurement::from(m));
        let (w, h) = (m[2], m[3]);
        let (p, v) = (config.std_weight_position, config.std_weight_velocity);
        let std = [
            2.0 * p * w,
            2.0 * p * h,
            2.0 * p * w,
            2.0 * p * h,
            10.0 * v * w,
            10.0 * v * h,
            10.0 * v * w,
            10.0 * v * h,
        ];
        let covariance = Covariance::from_diagonal(&State::from(std.map(|s| s * s)));
        Self { mean, covariance }
    }

    /// Advances one frame: `x = F x`, `P = F P Fᵀ + Q`, with `F` adding each velocity to its position.
    pub fn predict(&mut self, config: &KalmanConfig) {
        let (w, h) = (self.mean[2].max(1e-3), self.mean[3].max(1e-3));
        let (p, v) = (config.std_weight_position, config.std_weight_velocity);
        for i in 0..4 {
            self.mean[i] += self.mean[i + 4];
        }
        // F P Fᵀ without the 8x8 products: F = [[I, I], [0, I]] acts on the 4x4 blocks.
        let c = &mut self.covariance;
        let p11 = c.fixed_view::<4, 4>(0, 0).into_owned();
        let p12 = c.fixed_view::<4, 4>(0, 4).into_owned();
        let p21 = c.fixed_view::<4, 4>(4, 0).into_owned();
        let p22 = c.fixed_view::<4, 4>(4, 4).into_owned();
        c.fixed_view_mut::<4, 4>(0, 0)
            .copy_from(&(p11 + p12 + p21 + p22));
        c.fixed_view_mut::<4, 4>(0, 4).copy_from(&(p12 + p22));
        c.fixed_view_mut::<4, 4>(4, 0).copy_from(&(p21 + p22));
        let q = [p * w, p * h, p * w, p * h, v * w, v * h, v * w, v * h];
        for (i, s) in q.iter().enumerate() {
            c[(i, i)] += s * s;
        }
    }

    /// Corrects with a measured box. `H` picks the first four state entries, so `H P Hᵀ` and `P Hᵀ` are
    /// blocks of `P` and the gain needs only a 4x4 inverse.
    pub fn update(&mut self, config: &KalmanConfig, bbox: &BBox) {
        let z = Measurement::from(measurement_from_bbox(bbox));
        let (w, h) = (self.mean[2].max(1e-3), self.mean[3].max(1e-3));
        let p = config.std_weight_position;
        let r = [p * w, p * h, p * w, p * h];
        let mut innovation_cov = self.covariance.fixed_view::<4, 4>(0, 0).into_owned();
        for (i, s) in r.iter().enumerate() {
            innovation_cov[(i, i)] += s * s;
        }
        let Some(inverse) = innovation_cov.try_inverse() else {
            return;
        };
        let p_ht: SMatrix<f32, 8, 4> = self.covariance.fixed_view::<8, 4>(0, 0).into_owned();
        let gain = p_ht * inverse;
        let innovation = z - self.mean.fixed_rows::<4>(0);
        self.mean += gain * innovation;
        self.covariance -= gain * p_ht.transpose();
    }

    pub fn bbox(&self) -> BBox {
        let (cx, cy, w, h) = (
            self.mean[0],
            self.mean[1],
            self.mean[2].max(1e-3),
            self.mean[3].max(1e-3),
        );
        BBox::from_center(cx, cy, w, h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_a_box_moving_at_constant_speed() {
        let config = KalmanConfig::default();
        let mut k = KalmanBox::initiate(&config, &BBox::new(0.0, 0.0, 20.0, 40.0));
        for step in 1..=30 {
            k.predict(&config);
            let x = step as f32 * 3.0;
            k.update(&config, &BBox::new(x, 0.0, x + 20.0, 40.0));
        }
        // the velocity has been learned: a prediction alone lands on the next position
        k.predict(&config);
        let predicted = k.bbox();
        assert!((predicted.x1 - 93.0).abs() < 0.5, "{predicted:?}");
        assert!((k.mean[4] - 3.0).abs() < 0.1, "vx {}", k.mean[4]);
        assert!((predicted.height() - 40.0).abs() < 0.5);
    }

    #[test]
    fn block_predict_matches_the_full_matrix_product() {
        let config = KalmanConfig::default();
        let mut k = KalmanBox::initiate(&config, &BBox::new(10.0, 10.0, 30.0, 70.0));
        k.update(&config, &BBox::new(12.0, 11.0, 32.0, 71.0));
        let mut f = Covariance::identity();
        for i in 0..4 {
            f[(i, i + 4)] = 1.0;
        }
        let before = k.covariance;
        let (w, h) = (k.mean[2], k.mean[3]);
        k.predict(&config);
        let mut expected = f * before * f.transpose();
        let q = [
            w / 20.0,
            h / 20.0,
            w / 20.0,
            h / 20.0,
            w / 160.0,
            h / 160.0,
            w / 160.0,
            h / 160.0,
        ];
        for (i, s) in q.iter().enumerate() {
            expected[(i, i)] += s * s;
        }
        assert!(
            (k.covariance - expected).abs().max() < 1e-3,
            "{}",
            (k.covariance - expected).abs().max()
        );
    }

    #[test]
    fn a_box_that_changes_shape_fast_is_followed_within_a_few_frames() {
        // a shopper stepping into the picture from its bottom edge: clipped wide and low at first, then
        // the whole body, a third as wide as high
        let config = KalmanConfig::default();
        let mut k = KalmanBox::initiate(&config, &BBox::new(130.0, 400.0, 280.0, 480.0));
        for step in 1..=6 {
            let top = 400.0 - 40.0 * step as f32;
            k.predict(&config);
            k.update(&config, &BBox::new(140.0, top, 270.0, 480.0));
        }
        for _ in 0..4 {
            k.predict(&config);
            k.update(&config, &BBox::new(150.0, 160.0, 260.0, 480.0));
        }
        let b = k.bbox();
        assert!((b.width() - 110.0).abs() < 15.0, "{b:?}");
        assert!((b.height() - 320.0).abs() < 40.0, "{b:?}");
    }

    #[test]
    fn uncertainty_grows_without_measurements_and_shrinks_with_them() {
        let config = KalmanConfig::default();
        let mut k = KalmanBox::initiate(&config, &BBox::new(0.0, 0.0, 20.0, 40.0));
        let start = k.covariance[(0, 0)];
        k.predict(&config);
        k.predict(&config);
        let grown = k.covariance[(0, 0)];
        assert!(grown > start);
        k.update(&config, &BBox::new(0.0, 0.0, 20.0, 40.0));
        assert!(k.covariance[(0, 0)] < grown);
    }
}
