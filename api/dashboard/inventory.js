// Live inventory: how many of each product every slot holds, as the shelf events last left it.

import { get } from "/assets/api.js";
import { ago, badge, fill, h } from "/assets/util.js";

const LOW_STOCK = 2;

export function mount(root) {
  const search = h("input", { type: "search", placeholder: "Filter by slot, SKU or name", "aria-label": "Filter" });
  const count = h("span", { class: "sub" });
  const panel = h("div", { class: "panel", id: "inventory" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Inventory"), count, h("span", { class: "spacer" }), search), panel);
  let rows = null;
  let last = null;
  let renderedAt = 0;

  function render() {
    if (rows === null) return;
    const needle = search.value.trim().toLowerCase();
    const shown = rows.filter((r) => !needle || [r.slot, r.sku, r.name].some((v) => String(v ?? "").toLowerCase().includes(needle)));
    const empty = rows.filter((r) => r.quantity <= 0).length;
    const low = rows.filter((r) => r.quantity > 0 && r.quantity <= LOW_STOCK).length;
    count.textContent = `${rows.length} slots · ${empty} empty · ${low} low`;
    if (rows.length === 0) {
      fill(panel, h("div", { class: "empty" }, h("strong", {}, "No inventory yet"), "Slots appear here once the store's shelves are stocked."));
      return;
    }
    if (shown.length === 0) {
      fill(panel, h("div", { class: "empty" }, h("strong", {}, "No slot matches"), `Nothing matches “${search.value}”.`));
      return;
    }
    fill(panel, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Slot"), h("th", {}, "SKU"), h("th", {}, "Product"), h("th", { class: "num" }, "Quantity"), h("th", {}, "Stock"), h("th", { class: "num" }, "Updated"))),
      h("tbody", {}, shown.map((r) => h("tr", {},
        h("td", { class: "mono" }, r.slot), h("td", { class: "mono" }, r.sku), h("td", {}, r.name ?? "—"),
        h("td", { class: "num" }, String(r.quantity)),
        h("td", {}, r.quantity <= 0 ? badge("empty", "bad") : r.quantity <= LOW_STOCK ? badge("low", "warn") : badge("ok", "good")),
        h("td", { class: "num muted" }, ago(r.updated_at_ms)))))));
  }

  search.addEventListener("input", render);
  return {
    async refresh() {
      const next = await get("/api/inventory");
      const json = JSON.stringify(next);
      // Unchanged stock is redrawn only now and then, to keep the "updated ... ago" column true.
      if (json === last && Date.now() - renderedAt < 10_000) return;
      last = json;
      renderedAt = Date.now();
      rows = next.sort((a, b) => String(a.slot).localeCompare(String(b.slot), undefined, { numeric: true }));
      render();
    },
    unmount() {},
  };
}
