//! `walkout eval --report`: one HTML page a person can read: every session's receipt beside the truth
//! with the differences marked, the floor map with true and tracked paths, and a frame of each camera with
//! the true (green) and tracked (red) shopper boxes drawn. Frames are PNG files in a folder beside the page.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use walkout_datasets::truth::ReceiptLine;

use crate::cli::eval::EvalOutcome;

pub fn write(path: &Path, dataset: &Path, outcome: &EvalOutcome) -> anyhow::Result<()> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("report");
    let frames_dir_name = format!("{stem}_frames");
    let frames_dir = path.with_file_name(&frames_dir_name);
    std::fs::create_dir_all(&frames_dir)
        .with_context(|| format!("creating `{}`", frames_dir.display()))?;
    let mut html = String::new();
    let m = &outcome.metrics;
    let _ = write!(
        html,
        "<!doctype html><meta charset=utf-8><title>Walkout evaluation: {name}</title>\
         <style>body{{font:14px system-ui;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:3px 8px}}.bad{{background:#fdd}}.ok{{background:#dfd}}\
         img{{max-width:48%;margin:4px;border:1px solid #999}}</style>\
         <h1>Walkout evaluation: {name}</h1><p>Dataset <code>{dataset}</code></p>\
         <table><tr><th>exact receipts</th><th>item precision</th><th>item recall</th><th>event precision</th>\
         <th>event recall</th><th>attribution</th><th>review rate</th><th>wrong, unreviewed</th><th>MOTA</th>\
         <th>IDF1</th><th>HOTA</th></tr><tr><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td>\
         <td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr></table>",
        m.receipt_exact_rate,
        m.item_precision,
        m.item_recall,
        m.event_precision,
        m.event_recall,
        m.attribution_accuracy,
        m.review_rate,
        m.wrong_unreviewed_rate,
        m.mota,
        m.idf1,
        m.hota,
        name = escape(&outcome.scenario.name),
        dataset = escape(&dataset.display().to_string()),
    );
    receipts(&mut html, outcome);
    floor_map(&mut html, outcome);
    html.push_str("<h2>Cameras</h2><p>Green: true shopper boxes. Red: tracked boxes.</p>");
    for camera in &outcome.scenario.cameras {
        let Some(truth) = outcome.truth.cameras.get(&camera.id) else {
            continue;
        };
        let frame = (truth.frame_count / 2).max(1);
        let rendered = walkout_render::render_frame(&outcome.scenario, &camera.id, frame)?;
        let mut rgb = rendered.rgb;
        let (w, h) = (rendered.width, rendered.height);
        for r in truth.shoppers.iter().filter(|r| r.frame == frame) {
            draw_box(
                &mut rgb,
                w,
                h,
                [r.left, r.top, r.left + r.width, r.top + r.height],
                [0, 200, 0],
            );
        }
        for r in outcome
            .prediction
            .tracks
            .get(&camera.id)
            .into_iter()
            .flatten()
            .filter(|r| r.frame == frame)
        {
            draw_box(
                &mut rgb,
                w,
                h,
                [r.left, r.top, r.left + r.width, r.top + r.height],
                [230, 0, 0],
            );
        }
        let file = format!("{}.png", camera.id.replace(['/', '\\'], "_"));
        walkout_render::write_png(&frames_dir.join(&file), &rgb, w, h)?;
        let _ = write!(
            html,
            "<img src=\"{frames_dir_name}/{file}\" alt=\"{id} frame {frame}\" title=\"{id} frame {frame}\">",
            id = escape(&camera.id)
        );
    }
    std::fs::write(path, html).with_context(|| format!("writing `{}`", path.display()))?;
    Ok(())
}

fn receipts(html: &mut String, outcome: &EvalOutcome) {
    html.push_str("<h2>Receipts</h2><table><tr><th>account</th><th>SKU</th><th>true qty</th><th>charged qty</th><th></th></tr>");
    let predicted: BTreeMap<&str, &Vec<ReceiptLine>> = outcome
        .prediction
        .receipts
        .iter()
        .map(|r| (r.account.as_str(), &r.lines))
        .collect();
    for session in &outcome.truth.sessions {
        let charged = predicted.get(session.account.as_str());
        let mut skus: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        for line in &session.receipt.lines {
            skus.entry(line.sku.as_str()).or_default().0 += line.quantity;
        }
        for line in charged.into_iter().flat_map(|lines| lines.iter()) {
            skus.entry(line.sku.as_str()).or_default().1 += line.quantity;
        }
        let review = outcome.prediction.review.contains(&session.account);
        let status = match (charged.is_some(), review) {
            (_, true) => "sent to review",
            (false, false) => "never charged",
            (true, false) => "",
        };
        if skus.is_empty() {
            let _ = write!(
                html,
                "<tr><td>{}</td><td colspan=3>(nothing taken)</td><td>{status}</td></tr>",
                escape(&session.account)
            );
        }
        for (sku, (truth, charged_qty)) in skus {
            let class = if truth == charged_qty { "ok" } else { "bad" };
            let _ = write!(
                html,
                "<tr class={class}><td>{}</td><td>{}</td><td>{truth}</td><td>{charged_qty}</td><td>{status}</td></tr>",
                escape(&session.account),
                escape(sku)
            );
        }
    }
    html.push_str("</table>");
}

fn floor_map(html: &mut String, outcome: &EvalOutcome) {
    let floor = &outcome.scenario.store.floor;
    let scale = 600.0 / floor.width_m.max(floor.depth_m).max(1.0);
    let (w, h) = (floor.width_m * scale, floor.depth_m * scale);
    // world y points north: flip it so north is up on the page
    let p = |x: f64, y: f64| format!("{:.1},{:.1}", x * scale, h - y * scale);
    let _ = write!(
        html,
        "<h2>Floor</h2><p>Grey: shelves. Green: true paths. Red, dashed: tracked paths.</p><svg width={w:.0} height={h:.0} style=\"border:1px solid #333;background:#fafafa\">"
    );
    for shelf in &outcome.scenario.store.shelves {
        let [x0, y0, x1, y1] = shelf.footprint_m();
        let _ = write!(
            html,
            "<rect x={:.1} y={:.1} width={:.1} height={:.1} fill=#bbb />",
            x0 * scale,
            h - y1 * scale,
            (x1 - x0) * scale,
            (y1 - y0) * scale
        );
    }
    for gate in &outcome.scenario.store.gates {
        let _ = write!(
            html,
            "<circle cx={:.1} cy={:.1} r=6 fill=#48f><title>{}</title></circle>",
            gate.position_m[0] * scale,
            h - gate.position_m[1] * scale,
            escape(&gate.id)
        );
    }
    for trajectory in &outcome.truth.trajectories {
        let points: Vec<String> = trajectory
            .samples
            .iter()
            .step_by(3)
            .map(|s| p(s.position_m[0], s.position_m[1]))
            .collect();
        let _ = write!(
            html,
            "<polyline points=\"{}\" fill=none stroke=#0a0 stroke-width=2><title>{}</title></polyline>",
            points.join(" "),
            escape(&trajectory.shopper)
        );
    }
    for (id, path) in &outcome.tracked_paths {
        let points: Vec<String> = path.iter().map(|q| p(q[0], q[1])).collect();
        let _ = write!(
            html,
            "<polyline points=\"{}\" fill=none stroke=#d00 stroke-width=1.5 stroke-dasharray=\"4 3\"><title>shopper {id}</title></polyline>",
            points.join(" ")
        );
    }
    html.push_str("</svg>");
}

fn draw_box(rgb: &mut [u8], width: u32, height: u32, b: [f32; 4], color: [u8; 3]) {
    let (w, h) = (width as i64, height as i64);
    let clamp = |v: f32, max: i64| (v.round() as i64).clamp(0, max - 1);
    let (x0, y0, x1, y1) = (
        clamp(b[0], w),
        clamp(b[1], h),
        clamp(b[2], w),
        clamp(b[3], h),
    );
    let mut put = |x: i64, y: i64| {
        let i = ((y * w + x) * 3) as usize;
        if let Some(px) = rgb.get_mut(i..i + 3) {
            px.copy_from_slice(&color);
        }
    };
    for x in x0..=x1 {
        put(x, y0);
        put(x, y1);
    }
    for y in y0..=y1 {
        put(x0, y);
        put(x1, y);
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
