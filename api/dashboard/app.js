// The dashboard shell: who is signed in, the hash router (#/map, #/sessions/ID, ...), and the one-second
// refresh loop that asks the page on screen for fresh data. Pages live in their own modules and expose
// `mount(root, ctx, params) -> { refresh(), unmount() }`.

import { ApiError, get, post, setCsrfToken } from "/assets/api.js";
import { fill } from "/assets/util.js";
import * as storeMap from "/assets/map.js";
import * as cameras from "/assets/cameras.js";
import * as sessions from "/assets/sessions.js";
import * as session from "/assets/session.js";
import * as review from "/assets/review.js";
import * as inventory from "/assets/inventory.js";

const REFRESH_MS = 1000;
const ROLE_RANK = { viewer: 0, reviewer: 1, admin: 2 };

const routes = [
  { nav: "map", pattern: /^\/map$/, page: storeMap, title: "Store" },
  { nav: "cameras", pattern: /^\/cameras$/, page: cameras, title: "Cameras" },
  { nav: "sessions", pattern: /^\/sessions$/, page: sessions, title: "Sessions" },
  { nav: "sessions", pattern: /^\/sessions\/([^/]+)$/, page: session, title: "Session" },
  { nav: "review", pattern: /^\/review$/, page: review, title: "Review" },
  { nav: "inventory", pattern: /^\/inventory$/, page: inventory, title: "Inventory" },
];

const pageRoot = document.getElementById("page");
const banner = document.getElementById("banner");
const conn = document.getElementById("conn");
const connText = document.getElementById("conn-text");
const reviewCount = document.getElementById("review-count");

let me = null;
let current = null; // { page instance, route key }
let timer = null;
let generation = 0;

/** What a page gets: the operator, role checks, and a way to ask for an immediate refresh. */
const ctx = {
  get me() {
    return me;
  },
  can(role) {
    return me !== null && (ROLE_RANK[me.role] ?? -1) >= ROLE_RANK[role];
  },
  refreshNow() {
    schedule(0);
  },
  go(hash) {
    location.hash = hash;
  },
};

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/map";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

function showBanner(message) {
  banner.textContent = message;
  banner.hidden = !message;
}

function setConnection(ok, detail = "") {
  conn.classList.toggle("ok", ok);
  conn.classList.toggle("down", !ok);
  connText.textContent = ok ? "Live" : "Offline";
  conn.title = ok ? "Data refreshes every second" : detail;
}

function route() {
  const { path, query } = parseHash();
  const key = location.hash;
  if (current && current.key === key) return;
  if (current) current.instance.unmount?.();
  current = null;
  showBanner("");
  const match = routes.map((r) => ({ r, m: r.pattern.exec(path) })).find(({ m }) => m);
  if (!match) {
    location.replace("#/map");
    return;
  }
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.route === match.r.nav);
  }
  const params = { query, args: match.m.slice(1).map(decodeURIComponent) };
  document.title = `${match.r.title} · Walkout`;
  fill(pageRoot);
  current = { key, instance: match.r.page.mount(pageRoot, ctx, params) };
  schedule(0);
}

function schedule(delayMs) {
  clearTimeout(timer);
  timer = setTimeout(tick, delayMs);
}

async function refreshReviewCount() {
  const queue = await get("/api/review");
  reviewCount.textContent = String(queue.length);
  reviewCount.hidden = queue.length === 0;
}

/** One refresh of the page on screen (and the review badge); errors keep the last data and say why. */
async function tick() {
  const mine = ++generation;
  if (!document.hidden && current) {
    const page = current;
    try {
      await Promise.all([page.instance.refresh(), refreshReviewCount()]);
      if (mine !== generation) return;
      setConnection(true);
      showBanner("");
    } catch (err) {
      if (mine !== generation) return;
      if (err instanceof ApiError && err.status === 401) return; // on the way to the login page
      if (!(err instanceof ApiError)) {
        // A bug in a page, not the network: say so rather than blame the connection.
        console.error(err);
        showBanner(`This page hit an error and may be out of date: ${err.message}`);
      } else if (err.status === 0 || err.status >= 500) {
        setConnection(false, err.message);
        showBanner(`Cannot reach the server (${err.message}); retrying every second.`);
      } else {
        showBanner(err.message);
      }
    }
  }
  if (mine === generation) schedule(REFRESH_MS);
}

async function start() {
  try {
    me = await get("/api/me");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      showBanner(`Cannot load your session: ${err.message}. Reload to try again.`);
      setConnection(false, err.message);
    }
    return;
  }
  setCsrfToken(me.csrf_token);
  document.getElementById("user-name").textContent = me.username;
  document.getElementById("user-role").textContent = me.role;
  document.getElementById("user").hidden = false;
  document.body.dataset.role = me.role;
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) schedule(0);
  });
  route();
}

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await post("/api/logout");
  } catch {
    // signed out or not, the login page is where to go
  }
  setCsrfToken(null);
  location.replace("/login");
});

start();
