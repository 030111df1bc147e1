// The live store map: the floor plan from /api/store drawn once in SVG (metres, north up), and the
// shoppers from /api/live moved every second, each labelled with its session (or its track when no
// session is paired with it yet).

import { ApiError, get } from "/assets/api.js";
import { ago, fill, h, money, s } from "/assets/util.js";

const PALETTE = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4d7c0f"];
const STORE_REFRESH_MS = 30_000;
/** Positions older than this are shown as stale: the pipeline normally sends them several times a second. */
const STALE_MS = 5_000;

function colourOf(trackId) {
  return PALETTE[Math.abs(Number(trackId) || 0) % PALETTE.length];
}

function labelOf(shopper) {
  return shopper.session_id ?? `track ${shopper.track_id}`;
}

export function mount(root) {
  let store = null;
  let storeFetchedAt = 0;
  let svg = null;
  let flipY = (y) => y;
  const shopperLayer = s("g", { class: "shoppers" });
  const dots = new Map(); // track_id -> <g>

  const head = h("div", { class: "page-head" }, h("h1", {}, "Store"), h("span", { class: "sub", id: "map-sub" }));
  const mapPanel = h("div", { class: "panel map-wrap" });
  const listTitle = h("div", { class: "panel-title" }, "Shoppers in the store");
  const list = h("ul", { class: "shopper-list", id: "shopper-list" });
  const side = h("div", { class: "stack" }, h("div", { class: "panel" }, listTitle, list), h("div", { class: "panel" }, h("div", { class: "panel-title" }, "Store"), h("div", { class: "panel-body", id: "store-facts" })));
  root.append(head, h("div", { class: "map-layout" }, mapPanel, side));

  function drawStore() {
    const { width_m: W, depth_m: D } = store.floor;
    flipY = (y) => D - y; // world y points north; the page's y points down
    const pad = 0.6;
    svg = s("svg", { class: "map", id: "store-map", viewBox: `${-pad} ${-pad} ${W + 2 * pad} ${D + 2 * pad}`, role: "img", "aria-label": "Store floor plan with shoppers" });
    const grid = s("g", {});
    for (let x = 1; x < W; x += 1) grid.append(s("line", { class: "grid-line", x1: x, y1: 0, x2: x, y2: D }));
    for (let y = 1; y < D; y += 1) grid.append(s("line", { class: "grid-line", x1: 0, y1: y, x2: W, y2: y }));
    svg.append(s("rect", { class: "floor", x: 0, y: 0, width: W, height: D }), grid);
    const rect = (cls, r, label) => {
      const g = s("g", {}, s("rect", { class: cls, x: r.x, y: flipY(r.y + r.d), width: r.w, height: r.d, rx: 0.05 }, s("title", {}, `${label}`)));
      if (Math.max(r.w, r.d) > 0.9) {
        g.append(s("text", { class: `${cls}-label`, x: r.x + r.w / 2, y: flipY(r.y + r.d / 2) }, r.id));
      }
      return g;
    };
    for (const gate of store.gates) svg.append(rect("gate", gate, `gate ${gate.id}`));
    for (const shelf of store.shelves) svg.append(rect("shelf", shelf, `shelf ${shelf.id}`));
    for (const slot of store.slots) {
      svg.append(
        s("circle", { class: "slot", cx: slot.x, cy: flipY(slot.y), r: 0.07 },
          s("title", {}, `${slot.id}: ${slot.name} (${slot.sku}), ${money(slot.price_minor, store.currency)}`)),
      );
    }
    for (const cam of store.cameras) {
      const x = cam.x, y = flipY(cam.y);
      svg.append(s("path", { class: "camera", d: `M${x} ${y - 0.18} L${x + 0.16} ${y + 0.12} L${x - 0.16} ${y + 0.12} Z` }, s("title", {}, `camera ${cam.id}`)));
    }
    dots.clear();
    shopperLayer.replaceChildren();
    svg.append(shopperLayer);
    fill(mapPanel, svg, h("div", { class: "legend" },
      h("span", {}, h("i", { class: "lg-shelf" }), "shelf"),
      h("span", {}, h("i", { class: "lg-gate" }), "gate"),
      h("span", {}, h("i", { class: "lg-camera" }), "camera"),
      h("span", {}, h("i", { class: "lg-anon" }), "shopper without a session"),
      h("span", { class: "muted" }, `${W} m × ${D} m, north up, 1 m grid`)));
    fill(document.getElementById("store-facts"),
      fact("Floor", `${W} m × ${D} m`), fact("Shelves", store.shelves.length), fact("Slots", store.slots.length),
      fact("Gates", store.gates.length), fact("Cameras", store.cameras.length), fact("Currency", store.currency));
  }

  function drawShoppers(live) {
    const seen = new Set();
    for (const shopper of live.shoppers) {
      const key = String(shopper.track_id);
      seen.add(key);
      let g = dots.get(key);
      if (!g) {
        g = s("g", { class: "shopper", dataset: { track: key } },
          s("circle", { class: "halo", r: 0.42 }), s("circle", { class: "body", r: 0.24 }), s("text", { y: -0.42, "text-anchor": "middle" }), s("title", {}));
        dots.set(key, g);
        shopperLayer.append(g);
      }
      const colour = colourOf(shopper.track_id);
      const anon = shopper.session_id === null || shopper.session_id === undefined;
      g.classList.toggle("anon", anon);
      g.querySelector(".body").setAttribute("fill", anon ? "#64748b" : colour);
      g.querySelector(".halo").setAttribute("stroke", anon ? "#64748b" : colour);
      const text = g.querySelector("text");
      text.textContent = labelOf(shopper);
      if (!anon) text.setAttribute("fill", colour);
      g.querySelector("title").textContent = `track ${shopper.track_id}${anon ? ", no session" : `, session ${shopper.session_id}`} at (${shopper.x.toFixed(1)} m, ${shopper.y.toFixed(1)} m)`;
      // CSS transforms on SVG groups are in user units (metres): the transition glides between polls.
      g.style.transform = `translate(${shopper.x}px, ${flipY(shopper.y)}px)`;
    }
    for (const [key, g] of dots) {
      if (!seen.has(key)) {
        g.remove();
        dots.delete(key);
      }
    }
  }

  function drawList(live) {
    listTitle.textContent = `Shoppers in the store (${live.shoppers.length})`;
    if (live.shoppers.length === 0) {
      fill(list, h("li", { class: "empty" }, h("div", {}, h("strong", {}, "Nobody in the store"), "Shoppers appear here as the cameras track them.")));
      return;
    }
    const sorted = [...live.shoppers].sort((a, b) => Number(a.track_id) - Number(b.track_id));
    fill(list, sorted.map((shopper) => {
      const anon = shopper.session_id === null || shopper.session_id === undefined;
      const swatch = h("span", { class: "swatch" });
      swatch.style.background = anon ? "#64748b" : colourOf(shopper.track_id);
      return h("li", {}, swatch,
        h("div", { class: "spacer" },
          anon ? h("span", { class: "muted" }, "no session") : h("a", { href: `#/sessions/${encodeURIComponent(shopper.session_id)}` }, shopper.session_id),
          h("div", { class: "muted mono" }, `track ${shopper.track_id}`)),
        h("span", { class: "mono muted" }, `${shopper.x.toFixed(1)}, ${shopper.y.toFixed(1)} m`));
    }));
  }

  let lastLive = "";
  return {
    async refresh() {
      const now = Date.now();
      const needStore = store === null || now - storeFetchedAt > STORE_REFRESH_MS;
      const [nextStore, live] = await Promise.all([needStore ? fetchStore() : undefined, get("/api/live")]);
      if (nextStore === null) {
        storeFetchedAt = now;
        store = null;
        svg = null;
        fill(mapPanel, h("div", { class: "empty" }, h("strong", {}, "No store layout yet"),
          "The map appears once the server is started with a store configuration."));
      } else if (nextStore !== undefined) {
        storeFetchedAt = now;
        if (JSON.stringify(nextStore) !== JSON.stringify(store)) {
          store = nextStore;
          drawStore();
          lastLive = "";
        }
      }
      const sub = document.getElementById("map-sub");
      const stale = live.at_ms > 0 && Date.now() - live.at_ms > STALE_MS;
      sub.textContent = live.at_ms > 0 ? `positions ${ago(live.at_ms)}${stale ? ": the tracker has stopped sending" : ""}` : "no positions yet";
      sub.classList.toggle("stale", stale);
      const liveJson = JSON.stringify(live.shoppers);
      if (liveJson === lastLive) return;
      lastLive = liveJson;
      if (svg) drawShoppers(live);
      drawList(live);
    },
    unmount() {},
  };
}

/** The layout, or null when the server has none yet (404, 503) or it has no floor. */
async function fetchStore() {
  try {
    const store = await get("/api/store");
    return store && store.floor && store.floor.width_m > 0 && store.floor.depth_m > 0 ? store : null;
  } catch (err) {
    // 503: the server has started but has not loaded the store's configuration yet.
    if (err instanceof ApiError && (err.status === 404 || err.status === 503)) return null;
    throw err;
  }
}

function fact(name, value) {
  return h("div", { class: "fact" }, h("span", { class: "muted" }, name), h("span", {}, String(value)));
}
