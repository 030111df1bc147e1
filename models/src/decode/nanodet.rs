use walkout_core::BBox;

use super::yolo::best_class;
use super::{Candidate, OutputView, batch_item, find_output, shape_problem};

/// NanoDet's GFL head: per stride, class scores (sigmoid applied in the graph) and, per box side, a
/// distribution over `reg_max + 1` distance bins whose expectation times the stride is the distance from
/// the cell centre to that side.
#[derive(Debug, Clone)]
pub struct NanodetDecoder {
    levels: Vec<Level>,
    reg_max: usize,
    classes: usize,
}

#[derive(Debug, Clone)]
struct Level {
    stride: u32,
    grid_width: u32,
    grid_height: u32,
    cls_name: String,
    dis_name: String,
}

impl NanodetDecoder {
    pub fn new(width: u32, height: u32, strides: &[u32], reg_max: u32, classes: usize) -> Self {
        let levels = strides
            .iter()
            .filter(|s| **s > 0)
            .map(|&stride| Level {
                stride,
                grid_width: width.div_ceil(stride),
                grid_height: height.div_ceil(stride),
                cls_name: format!("cls_pred_stride_{stride}"),
                dis_name: format!("dis_pred_stride_{stride}"),
            })
            .collect();
        Self {
            levels,
            reg_max: reg_max as usize,
            classes,
        }
    }

    pub fn check_outputs(&self, outputs: &[(String, Vec<i64>)]) -> Vec<String> {
        let mut problems = Vec::new();
        for level in &self.levels {
            let cells = i64::from(level.grid_width * level.grid_height);
            for (name, last) in [
                (&level.cls_name, self.classes as i64),
                (&level.dis_name, 4 * (self.reg_max as i64 + 1)),
            ] {
                match outputs.iter().find(|(n, _)| n == name) {
                    Some((_, shape)) => problems.extend(shape_problem(
                        name,
                        shape,
                        &[None, Some(cells), Some(last)],
                    )),
                    None => problems.push(format!("the model has no output named `{name}`")),
                }
            }
        }
        problems
    }

    pub fn decode(
        &self,
        outputs: &[OutputView<'_>],
        batch_index: usize,
        threshold: f32,
    ) -> Result<Vec<Candidate>, String> {
        let bins = self.reg_max + 1;
        let mut candidates = Vec::new();
        let mut softmax = vec![0.0f32; bins];
        for level in &self.levels {
            let cls = batch_item(find_output(outputs, Some(&level.cls_name))?, batch_index)?;
            let dis = batch_item(find_output(outputs, Some(&level.dis_name))?, batch_index)?;
            let cells = (level.grid_width * level.grid_height) as usize;
            if cls.len() != cells * self.classes || dis.len() != cells * 4 * bins {
                return Err(format!(
                    "stride {}: {} class and {} distance values for {cells} cells",
                    level.stride,
                    cls.len(),
                    dis.len()
                ));
            }
            let stride = level.stride as f32;
            for (cell, (scores, distances)) in cls
                .chunks_exact(self.classes)
                .zip(dis.chunks_exact(4 * bins))
                .enumerate()
            {
                let (class_id, score) = best_class(scores);
                if score <= threshold {
                    continue;
                }
                let gx = (cell as u32 % level.grid_width) as f32;
                let gy = (cell as u32 / level.grid_width) as f32;
                let (cx, cy) = ((gx + 0.5) * stride, (gy + 0.5) * stride);
                let mut side = [0.0f32; 4];
                for (value, logits) in side.iter_mut().zip(distances.chunks_exact(bins)) {
                    *value = expected_bin(logits, &mut softmax) * stride;
                }
                candidates.push(Candidate {
                    class_id,
                    score,
                    bbox: BBox::new(cx - side[0], cy - side[1], cx + side[2], cy + side[3]),
                });
            }
        }
        Ok(candidates)
    }
}

/// The expectation of a softmax over bins `0..n`.
fn expected_bin(logits: &[f32], scratch: &mut [f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for (p, &l) in scratch.iter_mut().zip(logits) {
        *p = (l - max).exp();
        sum += *p;
    }
    scratch
        .iter()
        .enumerate()
        .map(|(i, p)| i as f32 * p)
        .sum::<f32>()
        / sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_distance_bins_around_the_cell_centre() {
        // 16x16 input, one stride of 8 (2x2 cells), reg_max 1 (bins 0 and 1), one class
        let decoder = NanodetDecoder::new(16, 16, &[8], 1, 1);
        let cls = [0.0, 0.0, 0.0, 0.9f32];
        let mut dis = vec![0.0f32; 4 * 4 * 2];
        // cell 3 (1, 1): every side certain at bin 1 -> distance 8
        for side in 0..4 {
            dis[3 * 8 + side * 2] = -100.0;
            dis[3 * 8 + side * 2 + 1] = 100.0;
        }
        let (cls_shape, dis_shape) = ([1i64, 4, 1], [1i64, 4, 8]);
        let outputs = [
            OutputView {
                name: "cls_pred_stride_8",
                shape: &cls_shape,
                data: &cls,
            },
            OutputView {
                name: "dis_pred_stride_8",
                shape: &dis_shape,
                data: &dis,
            },
        ];
        let found = decoder.decode(&outputs, 0, 0.5).unwrap();
        assert_eq!(found.len(), 1);
        let b = found[0].bbox;
        assert!(
            (b.x1 - 4.0).abs() < 1e-3 && (b.x2 - 20.0).abs() < 1e-3,
            "{b:?}"
        );
        assert!(
            decoder
                .check_outputs(&[
                    ("cls_pred_stride_8".into(), vec![1, 4, 1]),
                    ("dis_pred_stride_8".into(), vec![1, 4, 8])
                ])
                .is_empty()
        );
        assert_eq!(
            decoder
                .check_outputs(&[("cls_pred_stride_8".into(), vec![1, 4, 1])])
                .len(),
            1
        );
    }

    #[test]
    fn uniform_bins_give_the_middle_distance() {
        let mut scratch = [0.0; 8];
        assert!((expected_bin(&[0.0; 8], &mut scratch) - 3.5).abs() < 1e-5);
    }
}
