use walkout_core::BBox;

use super::{Candidate, OutputView, batch_item, find_output, shape_problem};

/// YOLOX's raw grid: per anchor `[x, y, log w, log h, objectness, p(class)...]`.
#[derive(Debug, Clone)]
pub struct YoloxDecoder {
    /// Per anchor: grid x, grid y, stride.
    grid: Vec<(f32, f32, f32)>,
    classes: usize,
}

impl YoloxDecoder {
    pub fn new(width: u32, height: u32, strides: &[u32], classes: usize) -> Self {
        let mut grid = Vec::new();
        for &stride in strides.iter().filter(|s| **s > 0) {
            for gy in 0..height / stride {
                for gx in 0..width / stride {
                    grid.push((gx as f32, gy as f32, stride as f32));
                }
            }
        }
        Self { grid, classes }
    }

    pub fn check_outputs(&self, outputs: &[(String, Vec<i64>)]) -> Vec<String> {
        let Some((name, shape)) = outputs.first() else {
            return vec!["the model has no outputs".into()];
        };
        let expected = [
            None,
            Some(self.grid.len() as i64),
            Some(5 + self.classes as i64),
        ];
        shape_problem(name, shape, &expected).into_iter().collect()
    }

    pub fn decode(
        &self,
        outputs: &[OutputView<'_>],
        batch_index: usize,
        threshold: f32,
    ) -> Result<Vec<Candidate>, String> {
        let output = find_output(outputs, None)?;
        let data = batch_item(output, batch_index)?;
        let width = 5 + self.classes;
        if data.len() != self.grid.len() * width {
            return Err(format!(
                "`{}` holds {} values per image, expected {} anchors x {width}",
                output.name,
                data.len(),
                self.grid.len()
            ));
        }
        let mut candidates = Vec::new();
        for (row, &(gx, gy, stride)) in data.chunks_exact(width).zip(&self.grid) {
            let objectness = row[4];
            // score = objectness * p(class) <= objectness: most anchors end here.
            if objectness <= threshold {
                continue;
            }
            let (class_id, class_prob) = best_class(&row[5..]);
            let score = objectness * class_prob;
            if score <= threshold {
                continue;
            }
            let cx = (row[0] + gx) * stride;
            let cy = (row[1] + gy) * stride;
            let w = row[2].exp() * stride;
            let h = row[3].exp() * stride;
            candidates.push(Candidate {
                class_id,
                score,
                bbox: BBox::from_center(cx, cy, w, h),
            });
        }
        Ok(candidates)
    }
}

/// Ultralytics YOLOv8 / YOLO11: `[1, 4 + C, N]`, box as centre and size in input pixels, class scores
/// already through a sigmoid, no objectness.
#[derive(Debug, Clone)]
pub struct Yolov8Decoder {
    classes: usize,
}

impl Yolov8Decoder {
    pub fn new(classes: usize) -> Self {
        Self { classes }
    }

    pub fn check_outputs(&self, outputs: &[(String, Vec<i64>)]) -> Vec<String> {
        let Some((name, shape)) = outputs.first() else {
            return vec!["the model has no outputs".into()];
        };
        let expected = [None, Some(4 + self.classes as i64), None];
        shape_problem(name, shape, &expected).into_iter().collect()
    }

    pub fn decode(
        &self,
        outputs: &[OutputView<'_>],
        batch_index: usize,
        threshold: f32,
    ) -> Result<Vec<Candidate>, String> {
        let output = find_output(outputs, None)?;
        let data = batch_item(output, batch_index)?;
        let rows = 4 + self.classes;
        if data.is_empty() || data.len() % rows != 0 {
            return Err(format!(
                "`{}` holds {} values per image, not a multiple of 4 + {} classes",
                output.name,
                data.len(),
                self.classes
            ));
        }
        let anchors = data.len() / rows;
        let at = |row: usize, anchor: usize| data[row * anchors + anchor];
        let mut candidates = Vec::new();
        for anchor in 0..anchors {
            let mut best = (0u32, f32::MIN);
            for class in 0..self.classes {
                let score = at(4 + class, anchor);
                if score > best.1 {
                    best = (class as u32, score);
                }
            }
            if best.1 <= threshold {
                continue;
            }
            candidates.push(Candidate {
                class_id: best.0,
                score: best.1,
                bbox: BBox::from_center(at(0, anchor), at(1, anchor), at(2, anchor), at(3, anchor)),
            });
        }
        Ok(candidates)
    }
}

pub(crate) fn best_class(probabilities: &[f32]) -> (u32, f32) {
    probabilities
        .iter()
        .enumerate()
        .fold((0u32, f32::MIN), |best, (i, &p)| {
            if p > best.1 { (i as u32, p) } else { best }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolox_decodes_a_hand_made_grid() {
        // a 16x16 input with strides 8 and 16: 4 + 1 anchors, 2 classes
        let decoder = YoloxDecoder::new(16, 16, &[8, 16], 2);
        let mut data = vec![0.0f32; 5 * 7];
        // anchor 3 = stride 8, cell (1, 1): centre offset (0.5, 0.5), size exp(0) * 8
        data[3 * 7..4 * 7].copy_from_slice(&[0.5, 0.5, 0.0, 0.0, 0.9, 0.1, 0.8]);
        // anchor 4 = stride 16, cell (0, 0): objectness too low
        data[4 * 7..5 * 7].copy_from_slice(&[0.5, 0.5, 0.0, 0.0, 0.2, 1.0, 0.0]);
        let shape = [1i64, 5, 7];
        let outputs = [OutputView {
            name: "output",
            shape: &shape,
            data: &data,
        }];
        let found = decoder.decode(&outputs, 0, 0.3).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].class_id, 1);
        assert!((found[0].score - 0.72).abs() < 1e-6);
        assert_eq!(found[0].bbox, BBox::new(8.0, 8.0, 16.0, 16.0));
        assert!(
            decoder
                .check_outputs(&[("output".into(), vec![1, 5, 7])])
                .is_empty()
        );
        assert_eq!(
            decoder
                .check_outputs(&[("output".into(), vec![1, 5, 85])])
                .len(),
            1
        );
    }

    #[test]
    fn yolov8_decodes_transposed_output() {
        let decoder = Yolov8Decoder::new(2);
        // 3 anchors, rows: cx, cy, w, h, class0, class1
        let data = [
            10.0, 50.0, 0.0, // cx
            20.0, 60.0, 0.0, // cy
            4.0, 10.0, 0.0, // w
            8.0, 20.0, 0.0, // h
            0.9, 0.1, 0.0, // class 0
            0.2, 0.6, 0.1, // class 1
        ];
        let shape = [1i64, 6, 3];
        let outputs = [OutputView {
            name: "output0",
            shape: &shape,
            data: &data,
        }];
        let found = decoder.decode(&outputs, 0, 0.25).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].class_id, found[0].bbox),
            (0, BBox::new(8.0, 16.0, 12.0, 24.0))
        );
        assert_eq!(
            (found[1].class_id, found[1].bbox),
            (1, BBox::new(45.0, 50.0, 55.0, 70.0))
        );
    }

    #[test]
    fn wrong_sizes_are_errors_not_panics() {
        let decoder = YoloxDecoder::new(16, 16, &[8], 2);
        let data = vec![0.0f32; 10];
        let shape = [1i64, 2, 5];
        let outputs = [OutputView {
            name: "output",
            shape: &shape,
            data: &data,
        }];
        assert!(decoder.decode(&outputs, 0, 0.3).is_err());
        assert!(decoder.decode(&outputs, 1, 0.3).is_err());
        assert!(Yolov8Decoder::new(2).decode(&outputs, 0, 0.3).is_err());
    }
}
