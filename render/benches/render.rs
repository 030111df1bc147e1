//! Cost of one frame of one camera at 640x480 in the `busy` preset (drawing, boxes, lighting and noise;
//! no encoding), at the busiest moment of an aisle and while walking. `render/benches/throughput.rs`
//! measures the whole thing, encoding included.

use criterion::{Criterion, criterion_group, criterion_main};
use walkout_render::{FrameBoxes, Renderer, ShelfProducts, with_resolution};

fn frame_640x480(c: &mut Criterion) {
    let Ok(scenario) = walkout_datasets::preset("busy", 7) else {
        return;
    };
    let scenario = with_resolution(&scenario, [640, 480]);
    let Ok(renderer) = Renderer::new(&scenario) else {
        return;
    };
    let mut group = c.benchmark_group("render");
    for camera in ["aisle-0-west", "entrance"] {
        let Ok(mut frames) = renderer.camera(camera) else {
            continue;
        };
        let count = frames.frame_count();
        let mut boxes = FrameBoxes::default();
        // Frames in order over the middle of the recording, as a video renders them.
        let mut frame = count / 3;
        group.bench_function(format!("frame_640x480/{camera}"), |b| {
            b.iter(|| {
                frame = if frame >= 2 * count / 3 {
                    count / 3
                } else {
                    frame + 1
                };
                boxes.clear();
                let picture = frames.draw_into(frame, ShelfProducts::Reached, &mut boxes);
                std::hint::black_box(picture.map(|p| p.len()).unwrap_or(0))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, frame_640x480);
criterion_main!(benches);
