// The dashboard's one way to talk to the API: same-origin fetches with the session cookie, JSON in and
// out, the CSRF token on every request that changes something, and errors as `ApiError` with the
// server's own message.

export class ApiError extends Error {
  constructor(status, message, retryAfterSecs = null) {
    super(message);
    this.status = status;
    this.retryAfterSecs = retryAfterSecs;
  }
}

let csrfToken = null;

/** Remembers the token from `/api/me` or `/api/login`; every non-GET request sends it. */
export function setCsrfToken(token) {
  csrfToken = token;
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body && typeof body.error === "string" && body.error) message = body.error;
  } catch {
    // not JSON (a proxy's page, an empty body): the status line says enough
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return new ApiError(response.status, message, Number.isFinite(retryAfter) ? retryAfter : null);
}

/** Where to go when the session is gone: the login page, back to here afterwards. */
export function toLogin() {
  const next = location.pathname + location.search + location.hash;
  location.replace(`/login?next=${encodeURIComponent(next)}`);
}

/**
 * Sends a request and returns its JSON body (or null for an empty one). A 401 anywhere but the login call
 * means the session expired: go to the login page.
 */
export async function api(method, path, body = undefined, { redirectOn401 = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached.");
  }
  if (response.status === 401 && redirectOn401) {
    toLogin();
    throw new ApiError(401, "Your session has ended; please sign in again.");
  }
  if (!response.ok) throw await errorOf(response);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);

/** A path segment from an id, so ids with `/` or `?` cannot change the route. */
export const seg = (id) => encodeURIComponent(String(id));
