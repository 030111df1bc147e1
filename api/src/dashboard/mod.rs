//! The operator dashboard: HTML pages and their scripts, served by the same server as the API.
//!
//! The pages are static (embedded in the binary from `api/dashboard/`, no build step) and public; every
//! piece of data they show comes from the authenticated JSON API, with the operator's session cookie and,
//! on every request that changes something, the CSRF token from `/api/me`. The pages put text into the
//! DOM only as text nodes, and a strict Content-Security-Policy (scripts, styles, images and fetches from
//! this origin only, no inline script) backs that up.
//!
//! Routes, all `GET` and public: `/` (the app: store map, cameras, sessions, a session's timeline, the
//! review queue, inventory, switched by the URL's `#/...` fragment), `/login`, and `/assets/{name}` for the
//! files in [`ASSETS`].

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// The public paths this module serves, for the authorisation test's list of routes that need no login.
pub const PUBLIC_ROUTES: &[&str] = &["/", "/login", "/assets/{name}"];

/// What the browser may load into a dashboard page: only this origin, no inline script or style
/// attributes, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One embedded file: its name under `/assets/`, its media type, and its bytes.
#[derive(Debug)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../dashboard/", $name)),
        }
    };
}

const INDEX_HTML: &[u8] = include_bytes!("../../dashboard/index.html");
const LOGIN_HTML: &[u8] = include_bytes!("../../dashboard/login.html");

/// Every script, stylesheet and image the pages load, served at `/assets/{name}`.
pub const ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("util.js", "text/javascript; charset=utf-8"),
    asset!("login.js", "text/javascript; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("actions.js", "text/javascript; charset=utf-8"),
    asset!("map.js", "text/javascript; charset=utf-8"),
    asset!("cameras.js", "text/javascript; charset=utf-8"),
    asset!("sessions.js", "text/javascript; charset=utf-8"),
    asset!("session.js", "text/javascript; charset=utf-8"),
    asset!("review.js", "text/javascript; charset=utf-8"),
    asset!("inventory.js", "text/javascript; charset=utf-8"),
];

/// The dashboard's pages and assets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { page(INDEX_HTML) }))
        .route("/login", get(|| async { page(LOGIN_HTML) }))
        .route("/assets/{name}", get(asset))
}

fn page(body: &'static [u8]) -> Response {
    embedded("text/html; charset=utf-8", body)
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(found) => embedded(found.content_type, found.body),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// An embedded file with the headers every dashboard response carries. `no-cache` makes the browser
/// revalidate, so a new server version's pages and scripts are never mixed with an old one's.
fn embedded(content_type: &'static str, body: &'static [u8]) -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    (headers, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_pages_import_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        let sources = ASSETS
            .iter()
            .map(|a| (a.name, a.body))
            .chain([("index.html", INDEX_HTML), ("login.html", LOGIN_HTML)]);
        for (name, body) in sources {
            let text = std::str::from_utf8(body).expect("assets are UTF-8");
            for reference in text.split("\"/assets/").skip(1) {
                let target = reference.split('"').next().unwrap_or_default();
                assert!(
                    served.contains(&target),
                    "{name} loads /assets/{target}, which ASSETS does not serve"
                );
            }
        }
    }

    #[test]
    fn pages_use_no_inline_script_or_markup_injection() {
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).expect("assets are UTF-8");
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(
                    !text.contains(banned),
                    "{} uses {banned}: put text in with textContent",
                    asset.name
                );
            }
        }
        for page in [INDEX_HTML, LOGIN_HTML] {
            let text = std::str::from_utf8(page).expect("pages are UTF-8");
            assert!(!text.contains("<script>"), "inline scripts break the CSP");
            assert!(!text.contains(" style="), "inline styles break the CSP");
        }
    }
}
