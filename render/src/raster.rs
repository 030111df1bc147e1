//! A small z-buffered software rasteriser: convex polygons with perspective-correct depth, and capsules
//! (spheres swept along a segment) drawn as projected discs with a rounded depth profile.
//!
//! Every pixel written also records which object it shows (`ids`), so that visibility is a pixel count.
//! Objects also keep an *unoccluded* coverage (`ObjectStats`): the pixels their primitives cover whatever
//! is in front of them, counted once per pixel through stamp buffers, with the bounding box of that
//! coverage. Image coordinates are continuous with pixel `i` spanning `[i, i + 1)` and sampled at its
//! centre, so a box `[x1, x2)` from pixel columns `a..=b` is `[a, b + 1)`.

use walkout_datasets::scenario::Camera;

/// Nearest depth drawn, metres in front of the lens; geometry closer than this is clipped.
const NEAR_M: f32 = 0.05;

/// A camera's projection, in `f32` for speed.
#[derive(Debug, Clone)]
pub(crate) struct View {
    /// Rows of the rotation `camera_from_world`.
    rotation: [[f32; 3]; 3],
    translation: [f32; 3],
    /// The optical centre in world metres.
    pub position_m: [f32; 3],
    fx: f32,
    fy: f32,
    cx: f32,
    cy: f32,
    pub width: usize,
    pub height: usize,
}

impl View {
    pub fn new(camera: &Camera) -> Self {
        let camera_from_world = camera.camera_from_world();
        let r = camera_from_world.rotation.to_rotation_matrix();
        let m = r.matrix();
        let t = camera_from_world.translation.vector;
        let k = &camera.intrinsics;
        Self {
            rotation: [0, 1, 2].map(|i| [m[(i, 0)] as f32, m[(i, 1)] as f32, m[(i, 2)] as f32]),
            translation: [t.x as f32, t.y as f32, t.z as f32],
            position_m: camera.position_m.map(|v| v as f32),
            // OpenCV puts pixel centres at integers; here they sit at `i + 0.5`.
            fx: k.fx_px as f32,
            fy: k.fy_px as f32,
            cx: k.cx_px as f32 + 0.5,
            cy: k.cy_px as f32 + 0.5,
            width: camera.resolution_px[0] as usize,
            height: camera.resolution_px[1] as usize,
        }
    }

    /// World metres to camera coordinates (x right, y down, z forward).
    #[inline]
    pub fn camera_from_world(&self, p: [f32; 3]) -> [f32; 3] {
        let r = &self.rotation;
        [
            r[0][0] * p[0] + r[0][1] * p[1] + r[0][2] * p[2] + self.translation[0],
            r[1][0] * p[0] + r[1][1] * p[1] + r[1][2] * p[2] + self.translation[1],
            r[2][0] * p[0] + r[2][1] * p[1] + r[2][2] * p[2] + self.translation[2],
        ]
    }

    #[inline]
    fn image_from_camera(&self, p: [f32; 3]) -> [f32; 2] {
        [
            self.fx * p[0] / p[2] + self.cx,
            self.fy * p[1] / p[2] + self.cy,
        ]
    }
}

/// What a primitive counts towards: the id it writes into the id buffer (0 for scenery, which keeps no
/// statistics) and an optional group (a shopper's whole body) whose union coverage is also counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    pub id: u32,
    pub group: u32,
}

impl Tag {
    pub const SCENERY: Tag = Tag { id: 0, group: 0 };
    pub fn object(id: u32) -> Tag {
        Tag { id, group: 0 }
    }
}

/// Unoccluded coverage of one object in the current frame (or background).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ObjectStats {
    /// Pixels covered, ignoring everything else in the scene.
    pub total_px: u32,
    /// Bounding box of that coverage, pixel columns and rows, inclusive.
    pub min: [u32; 2],
    pub max: [u32; 2],
}

impl ObjectStats {
    pub const EMPTY: ObjectStats = ObjectStats {
        total_px: 0,
        min: [u32::MAX, u32::MAX],
        max: [0, 0],
    };

    /// The box `[x1, y1, x2, y2]` in continuous image coordinates, if anything was covered.
    pub fn bbox(&self) -> Option<[f32; 4]> {
        (self.total_px > 0).then(|| {
            [
                self.min[0] as f32,
                self.min[1] as f32,
                self.max[0] as f32 + 1.0,
                self.max[1] as f32 + 1.0,
            ]
        })
    }

    #[inline]
    fn add_span(&mut self, y: usize, x0: usize, x1: usize, covered: u32) {
        if covered == 0 {
            return;
        }
        self.total_px += covered;
        self.min[0] = self.min[0].min(x0 as u32);
        self.max[0] = self.max[0].max(x1 as u32);
        self.min[1] = self.min[1].min(y as u32);
        self.max[1] = self.max[1].max(y as u32);
    }
}

/// The pixels of one camera's picture being drawn, with depth, ids and coverage statistics.
#[derive(Debug, Clone)]
pub(crate) struct Canvas {
    pub width: usize,
    pub height: usize,
    /// Packed RGB8, rows without padding.
    pub rgb: Vec<u8>,
    /// Inverse depth (1 / metres); 0 is infinitely far. Larger is nearer.
    pub inv_depth: Vec<f32>,
    /// The object each pixel shows.
    pub ids: Vec<u32>,
    /// Per id (and group): unoccluded coverage.
    pub stats: Vec<ObjectStats>,
    id_stamp: Vec<u32>,
    group_stamp: Vec<u32>,
    id_token: u32,
    group_token: u32,
    current_id: u32,
    current_group: u32,
    /// Pixel rectangles `[x0, y0, x1, y1)` drawn since [`Canvas::take_dirty`], when tracking is on.
    dirty: Vec<[usize; 4]>,
    pub track_dirty: bool,
}

impl Canvas {
    pub fn new(width: usize, height: usize, ids: usize) -> Self {
        let n = width * height;
        Self {
            width,
            height,
            rgb: vec![0; n * 3],
            inv_depth: vec![0.0; n],
            ids: vec![0; n],
            stats: vec![ObjectStats::EMPTY; ids],
            id_stamp: vec![0; n],
            group_stamp: vec![0; n],
            id_token: 0,
            group_token: 0,
            current_id: u32::MAX,
            current_group: u32::MAX,
            dirty: Vec::new(),
            track_dirty: false,
        }
    }

    /// Forgets which object was drawn last, so that the next one (even with the same id) counts afresh.
    pub fn reset_objects(&mut self) {
        self.current_id = u32::MAX;
        self.current_group = u32::MAX;
    }

    /// Restores the rectangles drawn since the last call from `background` and forgets them.
    pub fn restore_dirty_from(&mut self, background: &Canvas) {
        let width = self.width;
        let mut dirty = std::mem::take(&mut self.dirty);
        for &[x0, y0, x1, y1] in &dirty {
            for y in y0..y1 {
                let row = y * width;
                self.rgb[(row + x0) * 3..(row + x1) * 3]
                    .copy_from_slice(&background.rgb[(row + x0) * 3..(row + x1) * 3]);
                self.inv_depth[row + x0..row + x1]
                    .copy_from_slice(&background.inv_depth[row + x0..row + x1]);
                self.ids[row + x0..row + x1].copy_from_slice(&background.ids[row + x0..row + x1]);
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    /// Copies the whole picture (colour, depth, ids) from `background`.
    pub fn restore_all_from(&mut self, background: &Canvas) {
        self.rgb.copy_from_slice(&background.rgb);
        self.inv_depth.copy_from_slice(&background.inv_depth);
        self.ids.copy_from_slice(&background.ids);
        self.dirty.clear();
    }

    fn begin(&mut self, tag: Tag) {
        if tag.id != self.current_id {
            self.current_id = tag.id;
            self.id_token = self.id_token.wrapping_add(1);
        }
        if tag.group != self.current_group {
            self.current_group = tag.group;
            self.group_token = self.group_token.wrapping_add(1);
        }
    }

    fn mark_dirty(&mut self, rect: [usize; 4]) {
        if self.track_dirty && rect[0] < rect[2] && rect[1] < rect[3] {
            self.dirty.push(rect);
        }
    }

    /// Writes one pixel if it is nearer than what is there, and counts coverage; returns whether it
    /// counted as new coverage for the id and for the group.
    #[inline]
    fn plot(&mut self, index: usize, inv_depth: f32, rgb: [u8; 3], tag: Tag) -> (u32, u32) {
        let mut new_id = 0;
        let mut new_group = 0;
        if tag.id != 0 && self.id_stamp[index] != self.id_token {
            self.id_stamp[index] = self.id_token;
            new_id = 1;
        }
        if tag.group != 0 && self.group_stamp[index] != self.group_token {
            self.group_stamp[index] = self.group_token;
            new_group = 1;
        }
        if inv_depth > self.inv_depth[index] {
            self.inv_depth[index] = inv_depth;
            self.ids[index] = tag.id;
            self.rgb[index * 3..index * 3 + 3].copy_from_slice(&rgb);
        }
        (new_id, new_group)
    }

    fn add_span_stats(&mut self, tag: Tag, y: usize, x0: usize, x1: usize, ids: u32, groups: u32) {
        if tag.id != 0
            && let Some(s) = self.stats.get_mut(tag.id as usize)
        {
            s.add_span(y, x0, x1, ids);
        }
        if tag.group != 0
            && let Some(s) = self.stats.get_mut(tag.group as usize)
        {
            s.add_span(y, x0, x1, groups);
        }
    }

    /// Fills a planar convex polygon given in camera coordinates, clipped against the near plane.
    pub fn fill_polygon(&mut self, view: &View, camera_pts: &[[f32; 3]], rgb: [u8; 3], tag: Tag) {
        let mut clipped = [[0.0f32; 3]; 12];
        let n = clip_near(camera_pts, &mut clipped);
        if n < 3 {
            return;
        }
        // Screen positions and inverse depths; 1/z is affine in screen space for a plane.
        let mut screen = [[0.0f32; 3]; 12];
        for (s, p) in screen.iter_mut().zip(&clipped[..n]) {
            let uv = view.image_from_camera(*p);
            *s = [uv[0], uv[1], 1.0 / p[2]];
        }
        let screen = &screen[..n];
        let Some(plane) = inverse_depth_plane(screen) else {
            return;
        };
        let (mut v_min, mut v_max) = (f32::INFINITY, f32::NEG_INFINITY);
        let (mut u_min, mut u_max) = (f32::INFINITY, f32::NEG_INFINITY);
        for s in screen {
            v_min = v_min.min(s[1]);
            v_max = v_max.max(s[1]);
            u_min = u_min.min(s[0]);
            u_max = u_max.max(s[0]);
        }
        let (width, height) = (self.width as f32, self.height as f32);
        if v_max <= 0.0 || v_min >= height || u_max <= 0.0 || u_min >= width {
            return;
        }
        let y_start = (v_min - 0.5).ceil().max(0.0) as usize;
        let y_end = ((v_max - 0.5).ceil().max(0.0) as usize).min(self.height);
        self.begin(tag);
        let (mut dx0, mut dx1) = (usize::MAX, 0);
        for y in y_start..y_end {
            let yc = y as f32 + 0.5;
            let (mut xl, mut xr) = (f32::INFINITY, f32::NEG_INFINITY);
            for i in 0..n {
                let a = screen[i];
                let b = screen[(i + 1) % n];
                let (lo, hi) = if a[1] < b[1] { (a, b) } else { (b, a) };
                if yc < lo[1] || yc >= hi[1] {
                    continue;
                }
                let x = lo[0] + (yc - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1]);
                xl = xl.min(x);
                xr = xr.max(x);
            }
            if xl >= xr {
                continue;
            }
            let x0 = (xl - 0.5).ceil().max(0.0) as usize;
            let x1 = ((xr - 0.5).ceil().max(0.0) as usize).min(self.width);
            if x0 >= x1 {
                continue;
            }
            let row = y * self.width;
            let (mut ids, mut groups) = (0, 0);
            let mut w = plane[0] * (x0 as f32 + 0.5) + plane[1] * yc + plane[2];
            for x in x0..x1 {
                let (i, g) = self.plot(row + x, w, rgb, tag);
                ids += i;
                groups += g;
                w += plane[0];
            }
            self.add_span_stats(tag, y, x0, x1 - 1, ids, groups);
            dx0 = dx0.min(x0);
            dx1 = dx1.max(x1);
        }
        if dx0 < dx1 {
            self.mark_dirty([dx0, y_start, dx1, y_end]);
        }
    }

    /// Fills a capsule (radius `radius_m` around the segment `a`-`b`, world metres) with a rounded shade.
    pub fn fill_capsule(
        &mut self,
        view: &View,
        a_world: [f32; 3],
        b_world: [f32; 3],
        radius_m: f32,
        rgb: [u8; 3],
        tag: Tag,
    ) {
        let a = view.camera_from_world(a_world);
        let b = view.camera_from_world(b_world);
        if a[2] - radius_m < NEAR_M || b[2] - radius_m < NEAR_M {
            return;
        }
        let pa = view.image_from_camera(a);
        let pb = view.image_from_camera(b);
        let ra = view.fx.max(view.fy) * radius_m / a[2];
        let rb = view.fx.max(view.fy) * radius_m / b[2];
        let r_max = ra.max(rb);
        let u_min = pa[0].min(pb[0]) - r_max;
        let u_max = pa[0].max(pb[0]) + r_max;
        let v_min = pa[1].min(pb[1]) - r_max;
        let v_max = pa[1].max(pb[1]) + r_max;
        let (width, height) = (self.width as f32, self.height as f32);
        if u_max <= 0.0 || u_min >= width || v_max <= 0.0 || v_min >= height {
            return;
        }
        let x_start = (u_min - 0.5).ceil().max(0.0) as usize;
        let x_end = ((u_max - 0.5).ceil().max(0.0) as usize).min(self.width);
        let y_start = (v_min - 0.5).ceil().max(0.0) as usize;
        let y_end = ((v_max - 0.5).ceil().max(0.0) as usize).min(self.height);
        let e = [pb[0] - pa[0], pb[1] - pa[1]];
        let e_len2 = e[0] * e[0] + e[1] * e[1];
        self.begin(tag);
        for y in y_start..y_end {
            let yc = y as f32 + 0.5;
            let row = y * self.width;
            let (mut ids, mut groups) = (0, 0);
            let (mut sx0, mut sx1) = (usize::MAX, 0);
            for x in x_start..x_end {
                let xc = x as f32 + 0.5;
                let d = [xc - pa[0], yc - pa[1]];
                let t = if e_len2 > 1e-6 {
                    ((d[0] * e[0] + d[1] * e[1]) / e_len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let off = [d[0] - t * e[0], d[1] - t * e[1]];
                let dist2 = off[0] * off[0] + off[1] * off[1];
                let r = ra + t * (rb - ra);
                if dist2 >= r * r {
                    continue;
                }
                let bulge = (1.0 - dist2 / (r * r)).sqrt();
                let z = a[2] + t * (b[2] - a[2]) - radius_m * bulge;
                let shade = 0.55 + 0.45 * bulge;
                let c = rgb.map(|v| (f32::from(v) * shade) as u8);
                let (i, g) = self.plot(row + x, 1.0 / z, c, tag);
                ids += i;
                groups += g;
                sx0 = sx0.min(x);
                sx1 = sx1.max(x);
            }
            if sx0 <= sx1 {
                self.add_span_stats(tag, y, sx0, sx1, ids, groups);
            }
        }
        self.mark_dirty([x_start, y_start, x_end, y_end]);
    }
}

/// Sutherland–Hodgman against `z = NEAR_M`; returns the vertex count written to `out`.
fn clip_near(points: &[[f32; 3]], out: &mut [[f32; 3]; 12]) -> usize {
    let mut n = 0;
    let count = points.len().min(10);
    for i in 0..count {
        let a = points[i];
        let b = points[(i + 1) % count];
        let a_in = a[2] >= NEAR_M;
        let b_in = b[2] >= NEAR_M;
        if a_in && n < out.len() {
            out[n] = a;
            n += 1;
        }
        if a_in != b_in && n < out.len() {
            let t = (NEAR_M - a[2]) / (b[2] - a[2]);
            out[n] = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), NEAR_M];
            n += 1;
        }
    }
    n
}

/// The plane `w = p0 * u + p1 * v + p2` through the screen points `[u, v, w]`, or `None` when the polygon
/// is seen edge-on.
fn inverse_depth_plane(points: &[[f32; 3]]) -> Option<[f32; 3]> {
    let o = points[0];
    // Pick the two vertices spanning the largest area with the first, for numerical stability.
    let mut best = (0.0f32, [0.0f32; 3]);
    for i in 1..points.len() {
        for j in i + 1..points.len() {
            let a = [
                points[i][0] - o[0],
                points[i][1] - o[1],
                points[i][2] - o[2],
            ];
            let b = [
                points[j][0] - o[0],
                points[j][1] - o[1],
                points[j][2] - o[2],
            ];
            let n = [
                a[1] * b[2] - a[2] * b[1],
                a[2] * b[0] - a[0] * b[2],
                a[0] * b[1] - a[1] * b[0],
            ];
            if n[2].abs() > best.0 {
                best = (n[2].abs(), n);
            }
        }
    }
    let n = best.1;
    if best.0 < 1e-6 {
        return None;
    }
    // n . ([u, v, w] - o) = 0  =>  w = o_w - (n_u (u - o_u) + n_v (v - o_v)) / n_w
    let pu = -n[0] / n[2];
    let pv = -n[1] / n[2];
    Some([pu, pv, o[2] - pu * o[0] - pv * o[1]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use walkout_datasets::scenario::Intrinsics;

    fn camera_down() -> Camera {
        Camera {
            id: "c".into(),
            position_m: [0.0, 0.0, 3.0],
            look_at_m: [0.0, 0.0, 0.0],
            intrinsics: Intrinsics {
                fx_px: 50.0,
                fy_px: 50.0,
                cx_px: 32.0,
                cy_px: 24.0,
            },
            resolution_px: [64, 48],
            fps: 10.0,
        }
    }

    #[test]
    fn nearer_polygon_wins_and_counts_stay_unoccluded() {
        let camera = camera_down();
        let view = View::new(&camera);
        let mut canvas = Canvas::new(64, 48, 4);
        let square = |half: f32, z: f32| {
            [
                [-half, -half, z],
                [half, -half, z],
                [half, half, z],
                [-half, half, z],
            ]
            .map(|p| view.camera_from_world(p))
        };
        canvas.fill_polygon(&view, &square(0.5, 1.0), [255, 0, 0], Tag::object(1));
        canvas.fill_polygon(&view, &square(1.0, 0.0), [0, 255, 0], Tag::object(2));
        let center = 24 * 64 + 32;
        assert_eq!(
            canvas.ids[center], 1,
            "the higher square is nearer the camera"
        );
        let s1 = canvas.stats[1];
        let s2 = canvas.stats[2];
        // 1 m at 2 m distance with f = 50 is 25 px; 2 m at 3 m is 33 px.
        assert!((s1.total_px as i64 - 625).abs() < 60, "{s1:?}");
        assert!((s2.total_px as i64 - 1111).abs() < 120, "{s2:?}");
        let visible2 = canvas.ids.iter().filter(|&&id| id == 2).count() as u32;
        assert_eq!(visible2, s2.total_px - s1.total_px);
    }

    #[test]
    fn near_plane_clips_instead_of_wrapping() {
        let camera = camera_down();
        let view = View::new(&camera);
        let mut canvas = Canvas::new(64, 48, 2);
        // A wall through the camera: half of it behind the lens.
        let wall = [
            [-1.0, 0.5, -1.0],
            [1.0, 0.5, -1.0],
            [1.0, 0.5, 5.0],
            [-1.0, 0.5, 5.0],
        ]
        .map(|p| view.camera_from_world(p));
        canvas.fill_polygon(&view, &wall, [9, 9, 9], Tag::object(1));
        assert!(canvas.stats[1].total_px > 0);
    }
}
