// Camera tiles: each camera's health from /api/cameras, its latest frame (frame.jpg) and the boxes of
// that frame (latest) drawn over it in the frame's own pixel coordinates.

import { ApiError, get, seg } from "/assets/api.js";
import { ago, badge, fill, h, s } from "/assets/util.js";

const LABEL_COLOURS = { person: "#3b82f6", hand: "#f59e0b", product: "#22c55e" };

function colourOf(label) {
  return LABEL_COLOURS[String(label).toLowerCase()] ?? "#e879f9";
}

/** The boxes of the latest frame, or null when the camera has none yet (404). */
async function latestOf(camera) {
  try {
    return await get(`/api/cameras/${seg(camera)}/latest`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

function stat(name, value) {
  return h("div", {}, h("span", {}, name), h("span", {}, value));
}

class Tile {
  constructor(camera) {
    this.camera = camera;
    this.pts = null;
    this.loading = false;
    this.img = h("img", { alt: `latest frame of camera ${camera}`, hidden: true });
    this.overlay = s("svg", { class: "overlay", preserveAspectRatio: "none" });
    this.placeholder = h("div", { class: "placeholder" }, "No frame yet");
    this.frame = h("div", { class: "frame" }, this.img, this.overlay, this.placeholder);
    this.state = h("span", {});
    this.stats = h("div", { class: "cam-stats" });
    this.error = h("div", { class: "cam-error", hidden: true });
    this.el = h("div", { class: "panel camera-tile", dataset: { camera } },
      h("div", { class: "cam-head" }, h("span", { class: "name" }, camera), h("span", { class: "spacer" }), this.state),
      this.frame, this.stats, this.error);
  }

  health(status) {
    fill(this.state, badge(status.state));
    fill(this.stats,
      stat("fps", Number(status.fps ?? 0).toFixed(1)),
      stat("frames", String(status.frames ?? 0)),
      stat("dropped", String(status.dropped ?? 0)),
      stat("reconnects", String(status.reconnects ?? 0)));
    this.stats.append(h("div", { class: "last-frame" }, h("span", {}, "last frame"), h("span", {}, ago(status.last_frame_ms))));
    this.error.textContent = status.last_error ? `Last error: ${status.last_error}` : "";
    this.error.hidden = !status.last_error;
  }

  latest(latest) {
    if (latest === null) {
      this.img.hidden = true;
      this.overlay.replaceChildren();
      this.placeholder.hidden = false;
      this.pts = null;
      return;
    }
    if (latest.pts_ms === this.pts || this.loading) return;
    // Load the new picture off-screen and swap it in with its boxes, so the two always match and the
    // tile never flashes empty.
    this.loading = true;
    const next = new Image();
    next.onload = () => {
      this.loading = false;
      this.pts = latest.pts_ms;
      this.img.src = next.src;
      this.img.hidden = false;
      this.placeholder.hidden = true;
      this.drawBoxes(latest);
    };
    next.onerror = () => {
      this.loading = false;
      this.placeholder.textContent = "The frame could not be loaded";
      this.placeholder.hidden = false;
    };
    next.src = `/api/cameras/${seg(this.camera)}/frame.jpg?pts=${encodeURIComponent(latest.pts_ms)}`;
  }

  drawBoxes(latest) {
    const { width, height } = latest;
    this.frame.style.aspectRatio = `${width} / ${height}`;
    this.overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const fontSize = Math.max(10, width / 30); // about 13 px on screen in a 400 px tile
    const boxes = latest.boxes.map((b) => {
      const colour = colourOf(b.label);
      const text = b.track_id === null || b.track_id === undefined ? b.label : `#${b.track_id} ${b.label}`;
      const tagWidth = fontSize * 0.62 * text.length + fontSize * 0.6;
      const tagY = b.y > fontSize * 1.4 ? b.y - fontSize * 1.3 : b.y;
      return s("g", {},
        s("rect", { class: "box", x: b.x, y: b.y, width: b.w, height: b.h, stroke: colour }),
        s("rect", { class: "box-tag", x: b.x, y: tagY, width: tagWidth, height: fontSize * 1.3, fill: colour }),
        s("text", { class: "box-label", x: b.x + fontSize * 0.3, y: tagY + fontSize * 1.0, "font-size": fontSize }, text));
    });
    this.overlay.replaceChildren(...boxes);
  }
}

export function mount(root) {
  const count = h("span", { class: "sub" });
  const grid = h("div", { class: "camera-grid", id: "camera-grid" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Cameras"), count), grid);
  const tiles = new Map();

  return {
    async refresh() {
      const statuses = await get("/api/cameras");
      statuses.sort((a, b) => String(a.camera).localeCompare(String(b.camera)));
      const live = statuses.filter((c) => c.state === "live").length;
      count.textContent = statuses.length ? `${live} of ${statuses.length} live` : "";
      if (statuses.length === 0) {
        tiles.clear();
        fill(grid, h("div", { class: "panel empty" }, h("strong", {}, "No cameras"), "Cameras appear here once the server runs with a camera configuration."));
        return;
      }
      const wanted = statuses.map((c) => String(c.camera));
      for (const key of [...tiles.keys()]) if (!wanted.includes(key)) tiles.delete(key);
      const ordered = wanted.map((key) => {
        if (!tiles.has(key)) tiles.set(key, new Tile(key));
        return tiles.get(key);
      });
      if (ordered.some((tile, i) => grid.children[i] !== tile.el) || grid.children.length !== ordered.length) {
        fill(grid, ordered.map((tile) => tile.el));
      }
      const latest = await Promise.all(statuses.map((c) => latestOf(c.camera)));
      statuses.forEach((status, i) => {
        ordered[i].health(status);
        ordered[i].latest(latest[i]);
      });
    },
    unmount() {},
  };
}
