// The sign-in form: POST /api/login, then on to the page that sent us here.

import { api, ApiError } from "/assets/api.js";

const form = document.getElementById("login-form");
const errorBox = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

/** Only a path on this site: `next` comes from the URL, so it must not send anyone elsewhere. */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") ?? "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") && !next.startsWith("/login") ? next : "/";
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

function messageFor(err) {
  if (!(err instanceof ApiError)) return "Something went wrong. Please try again.";
  switch (err.status) {
    case 401:
      return "Wrong username or password.";
    case 429:
      return err.retryAfterSecs
        ? `Too many sign-in attempts. Try again in ${err.retryAfterSecs} s.`
        : "Too many sign-in attempts. Wait a minute and try again.";
    case 0:
      return err.message;
    default:
      return err.status >= 500 ? "The server had a problem signing you in. Please try again." : err.message;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError("Enter your username and password.");
    return;
  }
  submit.disabled = true;
  submit.textContent = "Signing in…";
  try {
    await api("POST", "/api/login", { username, password }, { redirectOn401: false });
    location.replace(nextPath());
  } catch (err) {
    showError(messageFor(err));
    form.password.value = "";
    form.password.focus();
    submit.disabled = false;
    submit.textContent = "Sign in";
  }
});

// Already signed in (a bookmark of /login, the back button): go straight on.
api("GET", "/api/me", undefined, { redirectOn401: false }).then(
  () => location.replace(nextPath()),
  () => {},
);
