// The sessions list: live, in review and closed, filtered by tab (#/sessions?status=review).

import { get } from "/assets/api.js";
import { badge, dateTime, duration, fill, h, money } from "/assets/util.js";

const FILTERS = [
  ["", "All"],
  ["live", "Live"],
  ["review", "In review"],
  ["closed", "Closed"],
];

const EMPTY = {
  "": ["No sessions yet", "A session opens when a shopper checks in at a gate."],
  live: ["Nobody is shopping", "Live sessions appear here while shoppers are in the store."],
  review: ["Nothing to review", "Sessions the system was unsure about appear here."],
  closed: ["No closed sessions", "Sessions appear here once their shoppers have left."],
};

/** A table of sessions (the list and the review queue share it); `extra` adds cells per row. */
export function sessionTable(list, { extraHead = [], extra = () => [] } = {}) {
  return h("table", { class: "sessions" },
    h("thead", {}, h("tr", {},
      h("th", {}, "Session"), h("th", {}, "Account"), h("th", {}, "Gate"), h("th", { class: "num" }, "Opened"),
      h("th", { class: "num" }, "Time in store"), h("th", {}, "Status"), h("th", { class: "num" }, "Items"),
      h("th", { class: "num" }, "Total"), h("th", {}, "Review reasons"), extraHead)),
    h("tbody", {}, list.map((item) => {
      const row = h("tr", { class: "link", dataset: { session: item.session_id } },
        h("td", { class: "nowrap" }, h("a", { class: "mono", href: `#/sessions/${encodeURIComponent(item.session_id)}` }, item.session_id)),
        h("td", { class: "mono" }, item.account_id ?? "—"),
        h("td", { class: "nowrap" }, item.gate ?? "—"),
        h("td", { class: "num" }, dateTime(item.opened_at_ms)),
        h("td", { class: "num" }, item.closed_at_ms === null || item.closed_at_ms === undefined ? "in store" : duration(item.opened_at_ms, item.closed_at_ms)),
        h("td", {}, badge(item.status)),
        h("td", { class: "num" }, String(item.items ?? 0)),
        h("td", { class: "num" }, money(item.total_minor, item.currency)),
        h("td", {}, (item.review_reasons ?? []).map((r) => h("span", { class: "reason" }, r))),
        extra(item));
      row.addEventListener("click", (event) => {
        if (event.target.closest("a, button")) return;
        location.hash = `#/sessions/${encodeURIComponent(item.session_id)}`;
      });
      return row;
    })));
}

export function mount(root, _ctx, { query }) {
  const status = FILTERS.some(([key]) => key === query.get("status")) ? query.get("status") : "";
  const tabs = h("div", { class: "tabs" }, FILTERS.map(([key, label]) =>
    h("a", { href: key ? `#/sessions?status=${key}` : "#/sessions", class: key === status ? "active" : "" }, label)));
  const count = h("span", { class: "sub" });
  const panel = h("div", { class: "panel", id: "sessions" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Sessions"), count, h("span", { class: "spacer" }), tabs), panel);
  let last = null;

  return {
    async refresh() {
      const list = await get(status ? `/api/sessions?status=${status}` : "/api/sessions");
      const json = JSON.stringify(list);
      if (json === last) return;
      last = json;
      count.textContent = `${list.length} session${list.length === 1 ? "" : "s"}`;
      if (list.length === 0) {
        const [title, hint] = EMPTY[status];
        fill(panel, h("div", { class: "empty" }, h("strong", {}, title), hint));
        return;
      }
      list.sort((a, b) => (b.opened_at_ms ?? 0) - (a.opened_at_ms ?? 0) || String(a.session_id).localeCompare(String(b.session_id)));
      fill(panel, sessionTable(list));
    },
    unmount() {},
  };
}
