// The review queue: sessions the system was unsure about, oldest first, to approve as they are or open
// and correct. Viewers see the queue but not the buttons.

import { get } from "/assets/api.js";
import { approve, confirmButton } from "/assets/actions.js";
import { fill, h } from "/assets/util.js";
import { sessionTable } from "/assets/sessions.js";

export function mount(root, ctx) {
  const count = h("span", { class: "sub" });
  const notice = h("div", { class: "notice banner", hidden: true, role: "status" });
  const error = h("div", { class: "error-box banner", hidden: true, role: "alert" });
  const panel = h("div", { class: "panel", id: "review-queue" });
  const hint = ctx.can("reviewer") ? null : h("span", { class: "muted" }, "Read only: reviewers and admins approve and correct.");
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Review queue"), count, h("span", { class: "spacer" }), hint), notice, error, panel);
  let last = null;

  function say(box, message) {
    box.textContent = message;
    box.hidden = !message;
  }

  function rowActions(item) {
    const open = h("a", { class: "button small", href: `#/sessions/${encodeURIComponent(item.session_id)}` }, ctx.can("reviewer") ? "Open / correct" : "Open");
    if (!ctx.can("reviewer")) return h("td", {}, h("div", { class: "actions" }, open));
    const approveButton = confirmButton({ label: "Approve", confirmLabel: "Confirm approve", className: "good small approve", onConfirm: async () => {
      try {
        await approve(item.session_id);
        say(error, "");
        say(notice, `Approved ${item.session_id}; the charge is queued.`);
      } catch (err) {
        say(notice, "");
        say(error, `Could not approve ${item.session_id}: ${err.message}`);
      }
      last = null;
      ctx.refreshNow();
    } });
    return h("td", {}, h("div", { class: "actions" }, open, approveButton));
  }

  return {
    async refresh() {
      const queue = await get("/api/review");
      const json = JSON.stringify(queue);
      if (json === last) return;
      last = json;
      count.textContent = `${queue.length} waiting`;
      if (queue.length === 0) {
        fill(panel, h("div", { class: "empty" }, h("strong", {}, "All caught up"), "No session is waiting for review."));
        return;
      }
      queue.sort((a, b) => (a.closed_at_ms ?? 0) - (b.closed_at_ms ?? 0));
      fill(panel, sessionTable(queue, { extraHead: [h("th", {})], extra: rowActions }));
    },
    unmount() {},
  };
}
