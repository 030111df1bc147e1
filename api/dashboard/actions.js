// What reviewers and admins can do to a session: approve it, correct its cart with a reason, retry a
// failed charge. Each is a POST with the CSRF token; the caller refreshes afterwards.

import { ApiError, get, post, seg } from "/assets/api.js";
import { fill, h, money } from "/assets/util.js";

/** A button that asks for a second click before it acts, so one slip never charges a shopper. */
export function confirmButton({ label, confirmLabel, className = "", onConfirm, id }) {
  const button = h("button", { type: "button", class: className, id }, label);
  let armed = null;
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    if (!armed) {
      button.textContent = confirmLabel;
      button.classList.add("armed");
      armed = setTimeout(() => {
        armed = null;
        button.textContent = label;
        button.classList.remove("armed");
      }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.disabled = true;
    button.textContent = "Working…";
    try {
      await onConfirm();
    } finally {
      button.disabled = false;
      button.textContent = label;
      button.classList.remove("armed");
    }
  });
  return button;
}

/** Approves a session in review; the charge is queued for the relay. */
export function approve(sessionId) {
  return post(`/api/review/${seg(sessionId)}/approve`, {});
}

/** Sends a failed charge to the relay again (admins only). */
export function retryCharge(sessionId) {
  return post(`/api/sessions/${seg(sessionId)}/retry-charge`, {});
}

/** The catalog for the "add a product" picker: SKUs, or failing that the store's slots. */
async function catalog() {
  try {
    const skus = await get("/api/skus");
    if (skus.length) return skus.map((s) => ({ sku: s.sku, name: s.name, price_minor: s.price_minor }));
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 401) throw err;
  }
  try {
    const store = await get("/api/store");
    const seen = new Map();
    for (const slot of store.slots) if (!seen.has(slot.sku)) seen.set(slot.sku, { sku: slot.sku, name: slot.name, price_minor: slot.price_minor });
    return [...seen.values()];
  } catch {
    return [];
  }
}

/**
 * The cart editor: every line's quantity (0 removes it), products to add, and a required reason. Resolves
 * true when a correction was saved, false when cancelled.
 */
export function correctDialog(detail) {
  return new Promise((resolve) => {
    const currency = detail.currency;
    const lines = detail.cart.map((l) => ({ sku: l.sku, name: l.name, quantity: l.quantity, unit_price_minor: l.unit_price_minor }));
    const body = h("tbody", {});
    const total = h("td", { class: "num" });
    const picker = h("select", { "aria-label": "Product to add" }, h("option", { value: "" }, "Loading products…"));
    const addButton = h("button", { type: "button", class: "small", id: "correct-add" }, "Add");
    const reason = h("textarea", { id: "correct-reason", placeholder: "Why is the cart changing? (required; shown in the audit log)", maxlength: 500 });
    const error = h("div", { class: "error-box", role: "alert", hidden: true });
    const save = h("button", { type: "submit", class: "primary", id: "correct-save" }, "Save correction");
    const cancel = h("button", { type: "button" }, "Cancel");
    let products = [];

    function recompute() {
      let sum = 0n;
      for (const line of lines) {
        if (Number.isInteger(line.quantity) && line.quantity > 0 && line.unit_price_minor !== null) {
          sum += BigInt(line.quantity) * BigInt(line.unit_price_minor);
        }
      }
      total.textContent = money(sum.toString(), currency);
    }

    function render() {
      fill(body, lines.length === 0
        ? h("tr", {}, h("td", { colspan: 5, class: "muted" }, "The cart is empty: the shopper will not be charged."))
        : lines.map((line, i) => {
          const qty = h("input", { type: "number", min: 0, step: 1, value: line.quantity, "aria-label": `Quantity of ${line.sku}` });
          const lineTotal = h("td", { class: "num" });
          const show = () => {
            lineTotal.textContent = Number.isInteger(line.quantity) && line.unit_price_minor !== null
              ? money((BigInt(Math.max(0, line.quantity)) * BigInt(line.unit_price_minor)).toString(), currency) : "—";
          };
          qty.addEventListener("input", () => {
            line.quantity = qty.value === "" ? NaN : Number(qty.value);
            show();
            recompute();
          });
          show();
          const remove = h("button", { type: "button", class: "small icon", title: "Remove line", "aria-label": `Remove ${line.sku}` }, "✕");
          remove.addEventListener("click", () => {
            lines.splice(i, 1);
            render();
          });
          return h("tr", {}, h("td", {}, h("div", {}, line.name ?? line.sku), h("div", { class: "muted mono" }, line.sku)),
            h("td", { class: "num" }, line.unit_price_minor === null ? "—" : money(line.unit_price_minor, currency)),
            h("td", { class: "num" }, qty), lineTotal, h("td", {}, remove));
        }));
      recompute();
    }

    addButton.addEventListener("click", () => {
      const product = products.find((p) => p.sku === picker.value);
      if (!product) return;
      const existing = lines.find((l) => l.sku === product.sku);
      if (existing) existing.quantity = (Number.isInteger(existing.quantity) ? existing.quantity : 0) + 1;
      else lines.push({ sku: product.sku, name: product.name, quantity: 1, unit_price_minor: product.price_minor ?? null });
      render();
    });

    const form = h("form", { method: "dialog" },
      h("div", { class: "dlg-head" }, `Correct the cart of ${detail.session_id}`),
      h("div", { class: "dlg-body" },
        h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Product"), h("th", { class: "num" }, "Unit price"), h("th", { class: "num" }, "Quantity"), h("th", { class: "num" }, "Line total"), h("th", {}))),
          body, h("tfoot", {}, h("tr", {}, h("td", { colspan: 3 }, "New total"), total, h("td", {})))),
        h("div", { class: "actions" }, picker, addButton),
        h("label", { class: "field" }, "Reason", reason),
        error),
      h("div", { class: "dlg-foot" }, cancel, save));
    const dialog = h("dialog", { id: "correct-dialog" }, form);

    function close(result) {
      dialog.close();
      dialog.remove();
      resolve(result);
    }

    cancel.addEventListener("click", () => close(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(false);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const bad = lines.find((l) => !Number.isInteger(l.quantity) || l.quantity < 0);
      if (bad) return showError(`The quantity of ${bad.sku} must be a whole number, 0 or more.`);
      if (!reason.value.trim()) {
        reason.focus();
        return showError("Say why the cart is being corrected: the reason goes into the audit log.");
      }
      save.disabled = true;
      try {
        await post(`/api/review/${seg(detail.session_id)}/correct`, {
          lines: lines.filter((l) => l.quantity > 0).map((l) => ({ sku: l.sku, quantity: l.quantity })),
          reason: reason.value.trim(),
        });
        close(true);
      } catch (err) {
        showError(err.message);
        save.disabled = false;
      }
    });

    function showError(message) {
      error.textContent = message;
      error.hidden = false;
    }

    render();
    document.body.append(dialog);
    dialog.showModal();
    catalog().then((list) => {
      products = list.sort((a, b) => String(a.name).localeCompare(String(b.name)));
      fill(picker, h("option", { value: "" }, products.length ? "Add a product…" : "No products found"),
        products.map((p) => h("option", { value: p.sku }, `${p.name} (${p.sku}) · ${money(p.price_minor, currency)}`)));
    }, () => fill(picker, h("option", { value: "" }, "Products could not be loaded")));
  });
}
