//! Authorisation, generated from the route table the router is built from, so that a new route cannot
//! be forgotten: every non-public route refuses a request without credentials (401) and one with too low
//! a role or the wrong key's scope (403), and lets the right caller through. Also: sign-in, the cookie's
//! flags, CSRF, the login rate limit, and the OpenAPI document covering every route.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use walkout_api::auth::{Access, LoginLimiter};
use walkout_api::live::StoreLayout;
use walkout_api::{AppState, Role, Scope, app, route_table};

use common::{APP_KEY, Backend, CURRENCY, INGEST_KEY, database, keyed, seed_catalog};

const PASSWORD: &str = "a long enough password";

/// Who calls.
#[derive(Debug, Clone)]
enum Caller {
    Nobody,
    Operator {
        role: Role,
        cookie: String,
        csrf: String,
    },
    Key(Scope),
}

fn allowed(access: Access, caller: &Caller) -> bool {
    match (access, caller) {
        (Access::Public, _) => true,
        (Access::Operator(need), Caller::Operator { role, .. })
        | (Access::OperatorOrKey(need, _), Caller::Operator { role, .. }) => *role >= need,
        (Access::Key(need), Caller::Key(scope))
        | (Access::OperatorOrKey(_, need), Caller::Key(scope)) => *scope == need,
        _ => false,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(
    state: &AppState,
    method: Method,
    uri: &str,
    body: Option<Value>,
    caller: &Caller,
) -> Reply {
    let mut request = Request::builder().method(method.clone()).uri(uri);
    match caller {
        Caller::Nobody => {}
        Caller::Operator { cookie, csrf, .. } => {
            request = request.header(header::COOKIE, cookie.as_str());
            if method != Method::GET {
                request = request.header("x-csrf-token", csrf.as_str());
            }
        }
        Caller::Key(scope) => {
            let key = if *scope == Scope::App {
                APP_KEY
            } else {
                INGEST_KEY
            };
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
    }
    let request = match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

async fn login(state: &AppState, username: &str, password: &str) -> Reply {
    send(
        state,
        Method::POST,
        "/api/login",
        Some(json!({ "username": username, "password": password })),
        &Caller::Nobody,
    )
    .await
}

async fn operator(state: &AppState, username: &str, role: Role) -> Caller {
    state
        .db
        .upsert_user(username, PASSWORD, role)
        .await
        .unwrap();
    let reply = login(state, username, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let set_cookie = reply.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    Caller::Operator {
        role,
        cookie,
        csrf: reply.body["csrf_token"].as_str().unwrap().to_string(),
    }
}

/// A concrete URI for a route's template: every `{param}` becomes a plain id.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "x1".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn state() -> (AppState, Option<tempfile::TempDir>) {
    let (db, _url, dir) = database(Backend::Sqlite, "authz").await;
    seed_catalog(&db).await;
    let state = keyed(AppState::new(db, CURRENCY)).with_login_limiter(LoginLimiter::new(
        walkout_api::auth::rate_limit::Bucket {
            capacity: 1_000.0,
            refill_secs: 1.0,
        },
        walkout_api::auth::rate_limit::Bucket {
            capacity: 1_000.0,
            refill_secs: 1.0,
        },
    ));
    state.live.set_store(StoreLayout::default());
    (state, dir)
}

#[tokio::test]
async fn every_route_refuses_the_wrong_caller_and_admits_the_right_one() {
    let (state, _dir) = state().await;
    let viewer = operator(&state, "vera", Role::Viewer).await;
    let reviewer = operator(&state, "rita", Role::Reviewer).await;
    let admin = operator(&state, "adam", Role::Admin).await;
    let callers = [
        viewer,
        reviewer,
        admin,
        Caller::Key(Scope::Ingest),
        Caller::Key(Scope::App),
    ];
    let mut routes = route_table();
    // Signing out ends the session the other checks use: last.
    routes.sort_by_key(|r| r.path == "/api/logout");
    assert!(routes.len() >= 30, "the table lists every route");
    for route in &routes {
        let uri = concrete(route.path);
        let body = (route.method != Method::GET).then(|| json!({}));
        if route.access == Access::Public {
            if route.path == "/api/login" {
                continue;
            }
            let reply = send(&state, route.method.clone(), &uri, body, &Caller::Nobody).await;
            assert!(
                reply.status != StatusCode::UNAUTHORIZED && reply.status != StatusCode::FORBIDDEN,
                "{} {uri} is public but answered {}",
                route.method,
                reply.status
            );
            continue;
        }
        let reply = send(
            &state,
            route.method.clone(),
            &uri,
            body.clone(),
            &Caller::Nobody,
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{} {uri} without credentials",
            route.method
        );
        for caller in &callers {
            let reply = send(&state, route.method.clone(), &uri, body.clone(), caller).await;
            if allowed(route.access, caller) {
                assert!(
                    reply.status != StatusCode::UNAUTHORIZED
                        && reply.status != StatusCode::FORBIDDEN
                        && !reply.status.is_server_error(),
                    "{} {uri} as {caller:?} answered {}: {}",
                    route.method,
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{} {uri} as {caller:?}: {}",
                    route.method,
                    reply.body
                );
            }
        }
    }
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let (state, _dir) = state().await;
    let bad_key = send(
        &state,
        Method::GET,
        "/api/app/sessions/s-1/cart",
        None,
        &Caller::Nobody,
    )
    .await;
    assert_eq!(bad_key.status, StatusCode::UNAUTHORIZED);
    for authorization in ["Bearer not-a-key-0123456789", "Basic abc", "Bearer "] {
        let request = Request::builder()
            .uri("/api/app/sessions/s-1/cart")
            .header(header::AUTHORIZATION, authorization)
            .body(Body::empty())
            .unwrap();
        let response = app(state.clone()).oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization}"
        );
    }
    let forged = Caller::Operator {
        role: Role::Admin,
        cookie: "walkout_session=00ff".into(),
        csrf: "x".into(),
    };
    let reply = send(&state, Method::GET, "/api/me", None, &forged).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_state_changes_need_the_csrf_token() {
    let (db, _url, _dir) = database(Backend::Sqlite, "login").await;
    seed_catalog(&db).await;
    // Secure cookies: the default for a server that is not plain HTTP on loopback.
    let state = AppState::new(db.clone(), CURRENCY);
    db.upsert_user("rita", PASSWORD, Role::Reviewer)
        .await
        .unwrap();

    let wrong = login(&state, "rita", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["error"], "wrong username or password");
    let unknown = login(&state, "nobody", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.body, wrong.body,
        "unknown users look like wrong passwords"
    );

    let reply = login(&state, "rita", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["username"], "rita");
    assert_eq!(reply.body["role"], "reviewer");
    let csrf = reply.body["csrf_token"].as_str().unwrap().to_string();
    let set_cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set_cookie.contains(flag), "{set_cookie} lacks {flag}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let rita = Caller::Operator {
        role: Role::Reviewer,
        cookie: cookie.clone(),
        csrf: csrf.clone(),
    };
    let me = send(&state, Method::GET, "/api/me", None, &rita).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["csrf_token"], csrf.as_str());

    // A state-changing request by cookie without the token, or with another, is refused.
    for token in [None, Some("0123")] {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/api/review/s-1/approve")
            .header(header::COOKIE, cookie.as_str())
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        let response = app(state.clone())
            .oneshot(request.body(Body::from("{}")).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
    }
    // With it, the request reaches the handler (an unknown session: 404).
    let reply = send(
        &state,
        Method::POST,
        "/api/review/s-1/approve",
        Some(json!({})),
        &rita,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);

    // Signing out ends the server-side session.
    let out = send(&state, Method::POST, "/api/logout", None, &rita).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = send(&state, Method::GET, "/api/me", None, &rita).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);

    // Plain HTTP on loopback: no `Secure`, or the browser would drop the cookie.
    let plain = state.clone().with_secure_cookies(false);
    let reply = login(&plain, "rita", PASSWORD).await;
    let set_cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
}

#[tokio::test]
async fn expired_sessions_sign_nobody_in_and_a_password_change_signs_out() {
    let (db, _url, _dir) = database(Backend::Sqlite, "expiry").await;
    db.upsert_user("vera", PASSWORD, Role::Viewer)
        .await
        .unwrap();
    let (token, _) = db
        .create_operator_session("vera", 1_000, 10_000)
        .await
        .unwrap();
    assert!(db.operator_session(&token, 10_500).await.unwrap().is_some());
    assert!(db.operator_session(&token, 11_000).await.unwrap().is_none());
    let now = walkout_api::billing::unix_now_ms();
    let (token, _) = db
        .create_operator_session("vera", 60_000, now)
        .await
        .unwrap();
    db.upsert_user("vera", "another password", Role::Viewer)
        .await
        .unwrap();
    assert!(db.operator_session(&token, now).await.unwrap().is_none());
}

#[tokio::test]
async fn login_is_rate_limited_per_username_with_retry_after() {
    let (db, _url, _dir) = database(Backend::Sqlite, "ratelimit").await;
    let state = AppState::new(db.clone(), CURRENCY);
    db.upsert_user("rita", PASSWORD, Role::Reviewer)
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(login(&state, "rita", "guess").await);
    }
    let last = statuses.last().unwrap();
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "{}", last.body);
    let retry: u64 = last.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(statuses[0].status == StatusCode::UNAUTHORIZED);
    // Even the right password waits: the limit is on attempts, not on failures.
    let reply = login(&state, "rita", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let (state, _dir) = state().await;
    let reply = send(&state, Method::GET, "/openapi.json", None, &Caller::Nobody).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for route in route_table() {
        let method = route.method.as_str().to_lowercase();
        let operation = &doc["paths"][route.path][&method];
        assert!(
            operation.is_object(),
            "{} {} is missing from /openapi.json",
            route.method,
            route.path
        );
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| !s.is_empty());
        assert_eq!(
            secured,
            route.access != Access::Public,
            "{} {}: security matches the access",
            route.method,
            route.path
        );
    }
    // The dashboard's shapes are documented.
    for schema in [
        "StoreLayout",
        "CameraStatus",
        "FrameInfo",
        "LiveShoppers",
        "SessionSummary",
        "SessionDetail",
        "InventoryRow",
        "CorrectRequest",
        "DisputeRequest",
        "Me",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} is missing"
        );
    }
    // And every reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference to {name}"
        );
    }
}
