// Small DOM and formatting helpers shared by every page. Text always goes in through text nodes
// (never as markup), so names, ids and errors from the API cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  return node;
}

/** An HTML element: `h("td", {class: "num"}, "3", child)`. */
export function h(tag, attrs, ...children) {
  return append(setAttrs(document.createElement(tag), attrs), children);
}

/** An SVG element, same calling convention as `h`. */
export function s(tag, attrs, ...children) {
  return append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replaces all children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

const moneyFormats = new Map();

function moneyFormat(currency) {
  if (!moneyFormats.has(currency)) {
    let format;
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch {
      format = null; // not an ISO 4217 code this browser knows: fall back to "123.45 XYZ"
    }
    moneyFormats.set(currency, format);
  }
  return moneyFormats.get(currency);
}

/**
 * Formats integer minor units (cents) in `currency` without floating point: the decimal string is built
 * from the integer's digits and handed to Intl as a string, which formats it exactly.
 */
export function money(minor, currency) {
  if (minor === null || minor === undefined) return "—";
  const format = moneyFormat(currency);
  const digits = format ? format.resolvedOptions().maximumFractionDigits : 2;
  const negative = BigInt(minor) < 0n;
  let text = (negative ? -BigInt(minor) : BigInt(minor)).toString();
  if (digits > 0) {
    text = text.padStart(digits + 1, "0");
    text = `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  }
  if (negative) text = `-${text}`;
  return format ? format.format(text) : `${text} ${currency}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** Wall-clock time of a millisecond timestamp, e.g. `14:03:21`. */
export function time(ms) {
  return ms === null || ms === undefined ? "—" : timeFormat.format(new Date(ms));
}

/** Date and time, for things that may be from another day. */
export function dateTime(ms) {
  return ms === null || ms === undefined ? "—" : dateTimeFormat.format(new Date(ms));
}

/** How long ago, coarsely: `now`, `12 s ago`, `4 min ago`, `3 h ago`. */
export function ago(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return "never";
  const secs = Math.round((now - ms) / 1000);
  if (secs < 2) return "now";
  if (secs < 90) return `${secs} s ago`;
  if (secs < 90 * 60) return `${Math.round(secs / 60)} min ago`;
  if (secs < 36 * 3600) return `${Math.round(secs / 3600)} h ago`;
  return `${Math.round(secs / 86400)} d ago`;
}

/** A duration between two timestamps, e.g. `4 min 12 s`. */
export function duration(fromMs, toMs) {
  if (fromMs === null || fromMs === undefined || toMs === null || toMs === undefined) return "—";
  const secs = Math.max(0, Math.round((toMs - fromMs) / 1000));
  if (secs < 60) return `${secs} s`;
  const mins = Math.floor(secs / 60);
  if (mins < 60) return `${mins} min ${secs % 60} s`;
  return `${Math.floor(mins / 60)} h ${mins % 60} min`;
}

/** `put_back` -> `put back`. */
export function words(text) {
  return String(text ?? "").replaceAll("_", " ");
}

/** A coloured pill for a status word; the class picks the colour. */
export function badge(text, tone = toneOf(text)) {
  return h("span", { class: `badge tone-${tone}` }, words(text));
}

/** Good, warning, bad or neutral, for the status words the API uses. */
export function toneOf(status) {
  switch (String(status ?? "").toLowerCase()) {
    case "live":
    case "streaming":
    case "charged":
    case "approved":
      return "good";
    case "review":
    case "reconnecting":
    case "connecting":
    case "stalled":
    case "pending":
      return "warn";
    case "failed":
    case "error":
      return "bad";
    case "open":
      return "info";
    default:
      return "neutral";
  }
}

/** A same-origin URL, or null: evidence and frame URLs come from the API and must not point elsewhere. */
export function sameOrigin(url) {
  if (!url) return null;
  try {
    const parsed = new URL(url, location.origin);
    return parsed.origin === location.origin ? parsed.pathname + parsed.search : null;
  } catch {
    return null;
  }
}

/** The confidence of a detection as a percentage and a bar. */
export function confidence(value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "—");
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  const bar = h("span", { class: "conf-bar" }, h("span", { class: `conf-fill ${pct < 60 ? "low" : pct < 85 ? "mid" : "high"}` }));
  bar.firstChild.style.width = `${pct}%`;
  return h("span", { class: "conf", title: `confidence ${value}` }, bar, h("span", { class: "num" }, `${pct}%`));
}
