//! Camera calibration: how a camera's pixels relate to the store's floor plan.
//!
//! World frame: metres, `x` and `y` on the floor, `z` up, the floor at `z = 0`. A camera is a pinhole with
//! intrinsics `K` and a pose `world_from_camera` (camera frame: `x` right, `y` down, `z` forward). For any
//! horizontal plane `z = h` (the floor, a shopper's head height) the mapping between image and plane is a
//! homography, which is what tracking needs to put image boxes on the floor plan.

use nalgebra::{
    DMatrix, Isometry3, Matrix3, Point2, Point3, Rotation3, Translation3, UnitQuaternion, Vector3,
};
use serde::{Deserialize, Serialize};

/// Pinhole intrinsics in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intrinsics {
    /// Focal length in pixels, horizontally.
    pub fx: f64,
    /// Focal length in pixels, vertically.
    pub fy: f64,
    /// Principal point, pixels from the left.
    pub cx: f64,
    /// Principal point, pixels from the top.
    pub cy: f64,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
}

impl Intrinsics {
    /// A centred principal point and the focal length that gives `horizontal_fov_deg`.
    pub fn from_fov(width: u32, height: u32, horizontal_fov_deg: f64) -> Self {
        let fx = f64::from(width) / 2.0 / (horizontal_fov_deg.to_radians() / 2.0).tan();
        Self {
            fx,
            fy: fx,
            cx: f64::from(width) / 2.0,
            cy: f64::from(height) / 2.0,
            width,
            height,
        }
    }

    pub fn matrix(&self) -> Matrix3<f64> {
        Matrix3::new(self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrationError {
    #[error("at least 4 point correspondences are needed, got {0}")]
    TooFewPoints(usize),
    #[error("{image} image points but {floor} floor points")]
    CountMismatch { image: usize, floor: usize },
    #[error("the points are degenerate (three or more on one line?): no homography fits them")]
    Degenerate,
    #[error("the camera looks parallel to the plane z = {0} m: no homography to it")]
    ParallelPlane(f64),
}

/// A calibrated camera.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub intrinsics: Intrinsics,
    pub world_from_camera: Isometry3<f64>,
}

impl Calibration {
    /// A camera at `position` looking at `target` (both in world metres), with `z` up.
    pub fn looking_at(intrinsics: Intrinsics, position: Point3<f64>, target: Point3<f64>) -> Self {
        let forward = (target - position).normalize();
        let world_up = Vector3::z();
        // camera y points down in the image: the opposite of world up, made orthogonal to forward
        let right = forward.cross(&world_up);
        let right = if right.norm() < 1e-9 {
            Vector3::x()
        } else {
            right.normalize()
        };
        let down = forward.cross(&right).normalize();
        let rotation = Rotation3::from_basis_unchecked(&[right, down, forward]);
        let world_from_camera = Isometry3::from_parts(
            Translation3::from(position.coords),
            UnitQuaternion::from_rotation_matrix(&rotation),
        );
        Self {
            intrinsics,
            world_from_camera,
        }
    }

    /// Projects a world point to pixels; `None` behind the camera.
    pub fn image_from_world(&self, world: &Point3<f64>) -> Option<Point2<f64>> {
        let camera = self.world_from_camera.inverse_transform_point(world);
        if camera.z <= 1e-6 {
            return None;
        }
        let k = &self.intrinsics;
        Some(Point2::new(
            k.fx * camera.x / camera.z + k.cx,
            k.fy * camera.y / camera.z + k.cy,
        ))
    }

    /// Distance along the optical axis, for depth ordering; negative behind the camera.
    pub fn depth(&self, world: &Point3<f64>) -> f64 {
        self.world_from_camera.inverse_transform_point(world).z
    }

    /// The homography taking points `(x, y, 1)` on the plane `z = height_m` to pixels.
    pub fn image_from_plane(&self, height_m: f64) -> Matrix3<f64> {
        let camera_from_world = self.world_from_camera.inverse();
        let r = camera_from_world.rotation.to_rotation_matrix();
        let t = camera_from_world.translation.vector;
        let r = r.matrix();
        let third = r.column(2) * height_m + t;
        let rt =
            Matrix3::from_columns(&[r.column(0).into_owned(), r.column(1).into_owned(), third]);
        self.intrinsics.matrix() * rt
    }

    /// The homography taking pixels to points on the plane `z = height_m`.
    pub fn plane_from_image(&self, height_m: f64) -> Result<Matrix3<f64>, CalibrationError> {
        self.image_from_plane(height_m)
            .try_inverse()
            .ok_or(CalibrationError::ParallelPlane(height_m))
    }
}

/// Applies a homography to a 2-D point; `None` at infinity (the horizon).
pub fn apply_homography(h: &Matrix3<f64>, p: &Point2<f64>) -> Option<Point2<f64>> {
    let v = h * Vector3::new(p.x, p.y, 1.0);
    if v.z.abs() < 1e-12 {
        return None;
    }
    Some(Point2::new(v.x / v.z, v.y / v.z))
}

/// Estimates `floor_from_image` from 4 or more correspondences (normalised DLT, least squares).
pub fn homography_from_points(
    image: &[Point2<f64>],
    floor: &[Point2<f64>],
) -> Result<Matrix3<f64>, CalibrationError> {
    if image.len() != floor.len() {
        return Err(CalibrationError::CountMismatch {
            image: image.len(),
            floor: floor.len(),
        });
    }
    if image.len() < 4 {
        return Err(CalibrationError::TooFewPoints(image.len()));
    }
    let (t_image, image_n) = normalise(image);
    let (t_floor, floor_n) = normalise(floor);
    let mut a = DMatrix::<f64>::zeros(2 * image.len().max(5), 9);
    for (i, (p, q)) in image_n.iter().zip(&floor_n).enumerate() {
        let (x, y, u, v) = (p.x, p.y, q.x, q.y);
        let rows = [
            [-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u],
            [0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v],
        ];
        for (k, row) in rows.iter().enumerate() {
            for (j, value) in row.iter().enumerate() {
                a[(2 * i + k, j)] = *value;
            }
        }
    }
    let svd = a.svd(false, true);
    let v_t = svd.v_t.ok_or(CalibrationError::Degenerate)?;
    let mut order: Vec<(usize, f64)> = svd.singular_values.iter().copied().enumerate().collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1));
    let largest = order.last().map_or(0.0, |o| o.1);
    // A unique homography leaves exactly one null direction; a second one means the points are degenerate.
    if order.len() < 2 || order[1].1 <= largest * 1e-8 {
        return Err(CalibrationError::Degenerate);
    }
    let min_index = order[0].0;
    let h = v_t.row(min_index);
    let normalised = Matrix3::new(h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]);
    let inverse = t_floor.try_inverse().ok_or(CalibrationError::Degenerate)?;
    let result = inverse * normalised * t_image;
    if result[(2, 2)].abs() < 1e-12 || result.determinant().abs() < 1e-12 {
        return Err(CalibrationError::Degenerate);
    }
    Ok(result / result[(2, 2)])
}

/// Hartley normalisation: centroid to the origin, mean distance √2.
fn normalise(points: &[Point2<f64>]) -> (Matrix3<f64>, Vec<Point2<f64>>) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.x, b + p.y));
    let (mx, my) = (sx / n, sy / n);
    let mean_distance = points
        .iter()
        .map(|p| ((p.x - mx).powi(2) + (p.y - my).powi(2)).sqrt())
        .sum::<f64>()
        / n;
    let s = if mean_distance > 1e-12 {
        std::f64::consts::SQRT_2 / mean_distance
    } else {
        1.0
    };
    let t = Matrix3::new(s, 0.0, -s * mx, 0.0, s, -s * my, 0.0, 0.0, 1.0);
    let moved = points
        .iter()
        .map(|p| Point2::new(s * (p.x - mx), s * (p.y - my)))
        .collect();
    (t, moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceiling_camera() -> Calibration {
        Calibration::looking_at(
            Intrinsics::from_fov(640, 480, 90.0),
            Point3::new(0.0, -2.0, 3.0),
            Point3::new(0.0, 3.0, 0.0),
        )
    }

    #[test]
    fn looking_at_centres_the_target_with_the_floor_down_the_image() {
        let cam = ceiling_camera();
        let centre = cam.image_from_world(&Point3::new(0.0, 3.0, 0.0)).unwrap();
        assert!(
            (centre.x - 320.0).abs() < 1e-6 && (centre.y - 240.0).abs() < 1e-6,
            "{centre}"
        );
        // nearer floor appears lower in the image; a point to the world's +x appears to the right
        let near = cam.image_from_world(&Point3::new(0.0, 1.0, 0.0)).unwrap();
        assert!(near.y > 240.0);
        let right = cam.image_from_world(&Point3::new(1.0, 3.0, 0.0)).unwrap();
        assert!(right.x > 320.0, "{right}");
        assert!(
            cam.image_from_world(&Point3::new(0.0, -5.0, 3.0)).is_none(),
            "behind the camera"
        );
    }

    #[test]
    fn image_to_floor_to_image_round_trips_on_both_planes() {
        let cam = ceiling_camera();
        for height in [0.0, 1.6] {
            let floor_from_image = cam.plane_from_image(height).unwrap();
            for (x, y) in [(-1.5, 1.0), (0.0, 3.0), (2.0, 5.5)] {
                let world = Point3::new(x, y, height);
                let pixel = cam.image_from_world(&world).unwrap();
                let back = apply_homography(&floor_from_image, &pixel).unwrap();
                assert!(
                    (back.x - x).abs() < 1e-9 && (back.y - y).abs() < 1e-9,
                    "{back} vs ({x}, {y}) at {height} m"
                );
                let again = apply_homography(&cam.image_from_plane(height), &back).unwrap();
                assert!((again - pixel).norm() < 1e-6);
            }
        }
    }

    #[test]
    fn homography_from_four_or_more_points_recovers_the_camera() {
        let cam = ceiling_camera();
        let floor: Vec<Point2<f64>> =
            [(-2.0, 1.0), (2.0, 1.0), (2.0, 6.0), (-2.0, 6.0), (0.5, 3.3)]
                .iter()
                .map(|&(x, y)| Point2::new(x, y))
                .collect();
        let image: Vec<Point2<f64>> = floor
            .iter()
            .map(|p| cam.image_from_world(&Point3::new(p.x, p.y, 0.0)).unwrap())
            .collect();
        for n in [4, 5] {
            let h = homography_from_points(&image[..n], &floor[..n]).unwrap();
            let probe = cam.image_from_world(&Point3::new(1.0, 4.0, 0.0)).unwrap();
            let mapped = apply_homography(&h, &probe).unwrap();
            assert!(
                (mapped - Point2::new(1.0, 4.0)).norm() < 1e-6,
                "{n} points: {mapped}"
            );
        }
    }

    #[test]
    fn bad_correspondences_are_errors() {
        let p = |x: f64, y: f64| Point2::new(x, y);
        assert_eq!(
            homography_from_points(&[p(0.0, 0.0)], &[p(0.0, 0.0)]),
            Err(CalibrationError::TooFewPoints(1))
        );
        assert_eq!(
            homography_from_points(&[p(0.0, 0.0); 4], &[p(0.0, 0.0); 5]),
            Err(CalibrationError::CountMismatch { image: 4, floor: 5 })
        );
        let line: Vec<Point2<f64>> = (0..4).map(|i| p(f64::from(i), f64::from(i))).collect();
        assert_eq!(
            homography_from_points(&line, &line),
            Err(CalibrationError::Degenerate)
        );
    }
}
