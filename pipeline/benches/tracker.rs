//! Tracker update cost with 50 targets walking, against the association alone measured in the same run.
//! Goal: one update with 50 targets in at most 50 µs (20,000 frames per second, tracker only).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use walkout_core::BBox;
use walkout_pipeline::{TrackInput, Tracker, TrackerConfig};

/// 50 shoppers on a 10x5 grid, each drifting with its own velocity; frame `f`'s detections.
fn crowd(frame: usize) -> Vec<TrackInput> {
    (0..50)
        .map(|i| {
            let (gx, gy) = ((i % 10) as f32, (i / 10) as f32);
            let (vx, vy) = (((i * 7) % 5) as f32 - 2.0, ((i * 3) % 5) as f32 - 2.0);
            let (x, y) = (
                60.0 + gx * 120.0 + vx * frame as f32 * 0.5,
                60.0 + gy * 200.0 + vy * frame as f32 * 0.5,
            );
            TrackInput {
                bbox: BBox::new(x, y, x + 40.0, y + 110.0),
                score: 0.6 + (i % 4) as f32 * 0.1,
                appearance: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let frames: Vec<Vec<TrackInput>> = (0..200).map(crowd).collect();
    let mut group = c.benchmark_group("tracker");
    group.bench_function("update_50_targets", |b| {
        let mut tracker = Tracker::new(TrackerConfig::default());
        for f in &frames[..10] {
            tracker.update(f);
        }
        let mut i = 10;
        b.iter(|| {
            tracker.update(black_box(&frames[i % frames.len()]));
            i += 1;
        });
    });
    group.bench_function("iou_matrix_50x50_baseline", |b| {
        let (a, d) = (&frames[10], &frames[11]);
        b.iter(|| {
            let mut sum = 0.0f32;
            for t in a {
                for q in d {
                    sum += t.bbox.intersection_over_union(&q.bbox);
                }
            }
            black_box(sum)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
