// One session: its summary, the cart, the timeline of shelf events with evidence thumbnails and
// confidence, the audit log, and (for reviewers and admins) what can be done to it.

import { ApiError, get, seg } from "/assets/api.js";
import { approve, confirmButton, correctDialog, retryCharge } from "/assets/actions.js";
import { badge, confidence, dateTime, duration, fill, h, money, sameOrigin, time, words } from "/assets/util.js";

function summaryItem(key, value) {
  return h("div", {}, h("div", { class: "k" }, key), h("div", { class: "v" }, value));
}

function lightbox(src, caption) {
  const dialog = h("dialog", { class: "lightbox" }, h("img", { src, alt: caption }));
  dialog.addEventListener("click", () => {
    dialog.close();
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
}

const KIND = { pick: "Picked up", put: "Put back", put_back: "Put back" };

/** An audit entry's `detail` (what changed, as JSON) in words. */
function describeDetail(detail, currency, names) {
  if (detail === null || detail === undefined) return null;
  if (typeof detail !== "object") return String(detail);
  const parts = [];
  const lines = (list) => (list.length ? list.map((l) => `${l.quantity} × ${names.get(l.sku) ?? l.sku}`).join(", ") : "nothing");
  const { before = {}, after = {} } = detail;
  if (Array.isArray(before.lines) || Array.isArray(after.lines)) {
    parts.push(`cart: ${lines(before.lines ?? [])} → ${lines(after.lines ?? [])}`);
  }
  if (before.total_minor !== undefined && after.total_minor !== undefined) {
    parts.push(`total ${money(before.total_minor, currency)} → ${money(after.total_minor, currency)}`);
  }
  if (detail.refund_minor) {
    parts.push(`refund ${money(detail.refund_minor, currency)}${detail.refund_sent === false ? " (not sent yet)" : ""}`);
  }
  if (before.status && after.status) parts.push(`status ${words(before.status)} → ${words(after.status)}`);
  else if (before.status) parts.push(`was ${words(before.status)}`);
  if (Array.isArray(detail.open_disputes) && detail.open_disputes.length) {
    parts.push(`${detail.open_disputes.length} open dispute${detail.open_disputes.length === 1 ? "" : "s"}`);
  }
  if (detail.sku) parts.push(`line ${names.get(detail.sku) ?? detail.sku}`);
  return parts.length ? parts.join(" · ") : JSON.stringify(detail);
}

function eventRow(event, names) {
  const evidence = sameOrigin(event.evidence_url);
  const caption = `${words(event.kind)} ${event.sku ?? ""} at ${time(event.at_ms)}`;
  const thumb = evidence
    ? h("img", { class: "thumb", src: evidence, alt: `evidence: ${caption}`, loading: "lazy", onclick: () => lightbox(evidence, caption) })
    : h("div", { class: "thumb-none" }, "no evidence");
  const qty = Number(event.quantity ?? 1);
  return h("li", { class: "event", dataset: { event: event.event_id } },
    h("span", { class: "at" }, time(event.at_ms)),
    h("span", { class: `pin ${String(event.kind)}` }),
    h("div", { class: "what" },
      h("div", { class: "line1" }, `${KIND[event.kind] ?? words(event.kind)} ${qty} × `,
        h("span", {}, names.get(event.sku) ?? event.sku ?? "unknown product")),
      h("div", { class: "line2" },
        names.has(event.sku) ? h("span", { class: "mono" }, event.sku) : null,
        h("span", {}, "slot ", h("span", { class: "mono" }, event.slot ?? "—")),
        h("span", {}, "camera ", h("span", { class: "mono" }, event.camera ?? "—")),
        confidence(event.confidence))),
    thumb);
}

export function mount(root, ctx, { args: [sessionId] }) {
  const title = h("h1", { class: "mono" }, sessionId);
  const status = h("span", {});
  const actions = h("div", { class: "actions", id: "session-actions" });
  const notice = h("div", { class: "notice banner", hidden: true, role: "status" });
  const body = h("div", { class: "stack", id: "session" });
  root.append(
    h("div", { class: "page-head" }, h("a", { href: "#/sessions" }, "← Sessions"), title, status, h("span", { class: "spacer" }), actions),
    notice, body);
  let last = null;
  let renderedAt = 0;
  let catalog = null; // sku -> name, for events of products that are not in the cart
  let busy = false; // an editor is open: leave the page as it is under it

  function say(message) {
    notice.textContent = message;
    notice.hidden = !message;
  }

  function renderActions(detail) {
    const items = [];
    // In the queue: flagged by the pipeline (status review), or a charged receipt the shopper disputed.
    const disputed = detail.in_queue && detail.status !== "review";
    if (detail.in_queue && ctx.can("reviewer")) {
      items.push(h("button", { type: "button", id: "correct", onclick: async () => {
        busy = true;
        try {
          if (await correctDialog(detail)) {
            say(disputed ? "Correction saved; the refund is recorded." : "Correction saved; the shopper will be charged the corrected cart.");
          }
        } finally {
          busy = false;
          last = null;
          ctx.refreshNow();
        }
      } }, disputed ? "Correct (refund)…" : "Correct cart…"));
      const label = disputed ? "Uphold receipt" : "Approve";
      items.push(confirmButton({ label, confirmLabel: `Confirm ${label.toLowerCase()}`, className: "good", id: "approve", onConfirm: async () => {
        try {
          await approve(detail.session_id);
          say(disputed ? "The receipt is upheld." : "Approved; the charge is queued.");
        } catch (err) {
          say("");
          alertError(err);
        }
        last = null;
        ctx.refreshNow();
      } }));
    }
    if (detail.status === "failed" && ctx.can("admin")) {
      items.push(confirmButton({ label: "Retry charge", confirmLabel: "Confirm retry", className: "primary", id: "retry-charge", onConfirm: async () => {
        try {
          await retryCharge(detail.session_id);
          say("The charge is queued again.");
        } catch (err) {
          alertError(err);
        }
        last = null;
        ctx.refreshNow();
      } }));
    }
    fill(actions, items);
  }

  function alertError(err) {
    notice.hidden = true;
    const box = h("div", { class: "error-box banner", role: "alert" }, err.message);
    body.before(box);
    setTimeout(() => box.remove(), 8000);
  }

  function render(detail) {
    fill(status, badge(detail.status));
    renderActions(detail);
    const currency = detail.currency;
    const reasons = detail.review_reasons ?? [];
    const cart = detail.cart ?? [];
    const events = [...(detail.events ?? [])].sort((a, b) => a.at_ms - b.at_ms);
    const names = new Map([...(catalog ?? new Map()), ...cart.map((l) => [l.sku, l.name]).filter(([, name]) => name)]);
    const audit = [...(detail.audit ?? [])].sort((a, b) => b.at_ms - a.at_ms);
    fill(body,
      h("div", { class: "panel summary" },
        summaryItem("Account", h("span", { class: "mono" }, detail.account_id ?? "—")),
        summaryItem("Gate", detail.gate ?? "—"),
        summaryItem("Opened", dateTime(detail.opened_at_ms)),
        summaryItem("Closed", detail.closed_at_ms === null || detail.closed_at_ms === undefined ? "still in store" : dateTime(detail.closed_at_ms)),
        summaryItem("Time in store", duration(detail.opened_at_ms, detail.closed_at_ms ?? Date.now())),
        summaryItem("Total", money(detail.total_minor, currency))),
      detail.billing ? h("div", { class: "error-box", id: "charge-failure" },
        h("strong", {}, "The charge was declined"),
        ` after ${detail.billing.attempts ?? "?"} attempt${detail.billing.attempts === 1 ? "" : "s"}`,
        detail.billing.last_error ? `: ${detail.billing.last_error}` : ".",
        ctx.can("admin") ? " An admin can send it again once the shopper's payment method is fixed." : " An admin can send it again.") : null,
      reasons.length ? h("div", { class: "panel" }, h("div", { class: "panel-body" }, h("strong", {}, "Sent to review: "), reasons.map((r) => h("span", { class: "reason" }, r)))) : null,
      h("div", { class: "grid-2" },
        h("div", { class: "panel" },
          h("div", { class: "panel-title" }, `Timeline (${events.length} event${events.length === 1 ? "" : "s"})`),
          events.length
            ? h("ul", { class: "timeline", id: "timeline" }, events.map((e) => eventRow(e, names)))
            : h("div", { class: "empty" }, h("strong", {}, "No events"), "Nothing was picked up or put back in this session.")),
        h("div", { class: "stack" },
          h("div", { class: "panel" },
            h("div", { class: "panel-title" }, "Cart"),
            cart.length
              ? h("table", { id: "cart" },
                h("thead", {}, h("tr", {}, h("th", {}, "Product"), h("th", { class: "num" }, "Qty"), h("th", { class: "num" }, "Unit"), h("th", { class: "num" }, "Total"))),
                h("tbody", {}, cart.map((l) => h("tr", {},
                  h("td", {}, h("div", {}, l.name ?? l.sku), h("div", { class: "muted mono" }, l.sku)),
                  h("td", { class: "num" }, String(l.quantity)),
                  h("td", { class: "num" }, money(l.unit_price_minor, currency)),
                  h("td", { class: "num" }, money(l.line_total_minor, currency))))),
                h("tfoot", {}, h("tr", {}, h("td", { colspan: 3 }, "Total"), h("td", { class: "num" }, money(detail.total_minor, currency)))))
              : h("div", { class: "empty" }, h("strong", {}, "Empty cart"), "Nothing to charge.")),
          h("div", { class: "panel" },
            h("div", { class: "panel-title" }, "Audit log"),
            audit.length
              ? h("ul", { class: "audit", id: "audit" }, audit.map((a) => h("li", {},
                h("div", {}, h("span", { class: "who" }, a.actor), " ", words(a.action), h("span", { class: "muted" }, ` · ${dateTime(a.at_ms)}`)),
                a.reason ? h("div", {}, "Reason: ", a.reason) : null,
                a.detail ? h("div", { class: "muted" }, describeDetail(a.detail, currency, names)) : null)))
              : h("div", { class: "empty" }, "No operator has changed this session.")))));
  }

  return {
    async refresh() {
      if (busy) return;
      if (catalog === null) {
        try {
          catalog = new Map((await get("/api/skus")).map((s) => [s.sku, s.name]));
        } catch {
          catalog = new Map(); // names are a nicety: the SKU codes still say what it was
        }
      }
      let detail;
      try {
        const [found, queue] = await Promise.all([get(`/api/sessions/${seg(sessionId)}`), get("/api/review")]);
        // A declined charge: why, and how often it was tried, from its billing.
        const billing = found.status === "failed" ? await get(`/api/sessions/${seg(sessionId)}/billing`) : null;
        detail = { ...found, in_queue: queue.some((s) => s.session_id === found.session_id), billing };
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) {
          last = null;
          fill(actions);
          fill(body, h("div", { class: "panel empty" }, h("strong", {}, "No such session"), `There is no session “${sessionId}”.`));
          return;
        }
        throw err;
      }
      const json = JSON.stringify(detail);
      // A live session's "time in store" grows: redraw it now and then even when nothing else changed.
      const ticking = detail.status === "live" && Date.now() - renderedAt > 5_000;
      if (json === last && !ticking) return;
      last = json;
      renderedAt = Date.now();
      render(detail);
    },
    unmount() {},
  };
}
