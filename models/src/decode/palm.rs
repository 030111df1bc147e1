use walkout_core::BBox;

use super::{Candidate, OutputView, batch_item, find_output, sigmoid};

/// MediaPipe's palm detector: SSD anchors on square grids, box offsets in input pixels relative to each
/// anchor's centre, and one score logit per anchor.
#[derive(Debug, Clone)]
pub struct PalmDecoder {
    /// Anchor centres in input pixels.
    anchors: Vec<(f32, f32)>,
}

impl PalmDecoder {
    /// MediaPipe's anchor generation with fixed anchor size: consecutive layers with the same stride share
    /// one grid, each contributing its anchors (2 per layer by default) per cell.
    pub fn new(
        width: u32,
        height: u32,
        strides: &[u32],
        anchors_per_layer: Option<&[u32]>,
    ) -> Self {
        let mut anchors = Vec::new();
        let mut layer = 0;
        while layer < strides.len() {
            let stride = strides[layer].max(1);
            let mut per_cell = 0;
            let mut last = layer;
            while last < strides.len() && strides[last] == stride {
                per_cell += anchors_per_layer.map_or(2, |a| a[last]);
                last += 1;
            }
            let (grid_w, grid_h) = (width.div_ceil(stride), height.div_ceil(stride));
            for y in 0..grid_h {
                for x in 0..grid_w {
                    let cx = (x as f32 + 0.5) / grid_w as f32 * width as f32;
                    let cy = (y as f32 + 0.5) / grid_h as f32 * height as f32;
                    anchors.extend(std::iter::repeat_n((cx, cy), per_cell as usize));
                }
            }
            layer = last;
        }
        Self { anchors }
    }

    pub fn check_outputs(&self, outputs: &[(String, Vec<i64>)]) -> Vec<String> {
        let n = self.anchors.len() as i64;
        let has = |last: i64| {
            outputs
                .iter()
                .any(|(_, s)| s.len() == 3 && (s[1] == n || s[1] < 0) && s[2] == last)
        };
        let mut problems = Vec::new();
        if !has(18) {
            problems.push(format!(
                "the model has no `[1, {n}, 18]` regressor output (box and 7 keypoints per anchor)"
            ));
        }
        if !has(1) {
            problems.push(format!("the model has no `[1, {n}, 1]` score output"));
        }
        problems
    }

    pub fn decode(
        &self,
        outputs: &[OutputView<'_>],
        batch_index: usize,
        threshold: f32,
    ) -> Result<Vec<Candidate>, String> {
        let n = self.anchors.len();
        let pick = |last: usize| -> Result<&[f32], String> {
            let output = outputs
                .iter()
                .find(|o| o.shape.last() == Some(&(last as i64)))
                .ok_or_else(|| format!("no output with {last} values per anchor"))?;
            batch_item(
                find_output(std::slice::from_ref(output), None)?,
                batch_index,
            )
        };
        let (boxes, scores) = (pick(18)?, pick(1)?);
        if boxes.len() != n * 18 || scores.len() != n {
            return Err(format!(
                "{} anchors, but {} regressors and {} scores",
                n,
                boxes.len() / 18,
                scores.len()
            ));
        }
        let mut candidates = Vec::new();
        for ((&(ax, ay), regressor), &logit) in
            self.anchors.iter().zip(boxes.chunks_exact(18)).zip(scores)
        {
            let score = sigmoid(logit.clamp(-100.0, 100.0));
            if score <= threshold {
                continue;
            }
            candidates.push(Candidate {
                class_id: 0,
                score,
                bbox: BBox::from_center(
                    ax + regressor[0],
                    ay + regressor[1],
                    regressor[2],
                    regressor[3],
                ),
            });
        }
        Ok(candidates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mediapipe_palm_anchor_layout() {
        let decoder = PalmDecoder::new(192, 192, &[8, 16, 16, 16], None);
        assert_eq!(decoder.anchors.len(), 24 * 24 * 2 + 12 * 12 * 6);
        assert_eq!(decoder.anchors[0], (4.0, 4.0));
        assert_eq!(decoder.anchors[1], (4.0, 4.0));
        assert_eq!(decoder.anchors[2], (12.0, 4.0));
        assert_eq!(decoder.anchors[1152], (8.0, 8.0));
    }

    #[test]
    fn decodes_offsets_relative_to_the_anchor() {
        let decoder = PalmDecoder::new(16, 16, &[8], Some(&[1]));
        assert_eq!(decoder.anchors.len(), 4);
        let mut boxes = vec![0.0f32; 4 * 18];
        boxes[3 * 18..3 * 18 + 4].copy_from_slice(&[1.0, -1.0, 4.0, 6.0]);
        let scores = [-5.0, -5.0, -5.0, 3.0f32];
        let (bs, ss) = ([1i64, 4, 18], [1i64, 4, 1]);
        let outputs = [
            OutputView {
                name: "Identity",
                shape: &bs,
                data: &boxes,
            },
            OutputView {
                name: "Identity_1",
                shape: &ss,
                data: &scores,
            },
        ];
        let found = decoder.decode(&outputs, 0, 0.5).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].bbox, BBox::from_center(13.0, 11.0, 4.0, 6.0));
        assert!(
            decoder
                .check_outputs(&[("a".into(), vec![1, 4, 18]), ("b".into(), vec![1, 4, 1])])
                .is_empty()
        );
        assert_eq!(
            decoder.check_outputs(&[("a".into(), vec![1, 5, 18])]).len(),
            2
        );
    }
}
