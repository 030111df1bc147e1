//! Renders one frame of a preset to a PNG, to look at:
//! `cargo run -p walkout-render --example frame -- PRESET SEED CAMERA FRAME OUT.png [WIDTHxHEIGHT]`,
//! where FRAME may be `eN` for the frame of the N-th shelf event or `hN` for the N-th hand-over.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        return Err("usage: frame PRESET SEED CAMERA FRAME OUT.png [WIDTHxHEIGHT]".into());
    }
    // PRESET may also be a scenario file (`.toml`), whose own seed is used.
    let mut scenario = if args[0].ends_with(".toml") {
        walkout_datasets::Scenario::read(Path::new(&args[0]))?
    } else {
        walkout_datasets::preset(&args[0], args[1].parse()?)?
    };
    if let Some(size) = args.get(5) {
        let (w, h) = size.split_once('x').ok_or("size is WIDTHxHEIGHT")?;
        scenario = walkout_render::with_resolution(&scenario, [w.parse()?, h.parse()?]);
    }
    // `eN`: the frame of the N-th shelf event (the hand in the slot); `hN`: of the N-th hand-over.
    let camera = scenario
        .cameras
        .iter()
        .find(|c| c.id == args[2])
        .ok_or("no such camera")?;
    let truth = walkout_datasets::GroundTruth::from_scenario(&scenario)?;
    let time_secs = if let Some(n) = args[3].strip_prefix('e') {
        let event = truth
            .events
            .get(n.parse::<usize>()?)
            .ok_or("no such event")?;
        println!("event {event:?}");
        Some(event.time_secs)
    } else if let Some(n) = args[3].strip_prefix('h') {
        let hand_over = truth
            .hand_overs
            .get(n.parse::<usize>()?)
            .ok_or("no such hand-over")?;
        println!("hand-over {hand_over:?}");
        Some(hand_over.time_secs)
    } else {
        None
    };
    let number = match time_secs {
        Some(t) => (t * camera.fps).round() as u32 + 1,
        None => args[3].parse()?,
    };
    let frame = walkout_render::render_frame(&scenario, &args[2], number)?;
    walkout_render::write_png(Path::new(&args[4]), &frame.rgb, frame.width, frame.height)?;
    println!(
        "{} shoppers, {} hands, {} products; visible shopper boxes {:?}",
        frame.boxes.shoppers.len(),
        frame.boxes.hands.len(),
        frame.boxes.products.len(),
        frame.visible_shopper_px
    );
    for s in &frame.boxes.shoppers {
        println!("  shopper {s:?}");
    }
    Ok(())
}
