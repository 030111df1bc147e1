//! The relay survives being killed: SIGKILL the relay process while charges are in flight, start it
//! again, and every session is still charged exactly once, for its cart. A SIGTERM, by contrast, lets the
//! calls in flight finish and be recorded.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use walkout_api::Database;
use walkout_api::sandbox::FailurePlan;

use common::{
    Backend, CURRENCY, assert_each_charged_once, cart, database, seed_catalog, start_sandbox,
    wait_until,
};

const SESSIONS: usize = 300;

fn start_relay(database_url: &str, payments_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_walkout-billing-relay"))
        .args(["--database", database_url, "--payments-url", payments_url])
        .args(["--timeout-ms", "200", "--concurrency", "8"])
        .args(["--backoff-base-ms", "5", "--backoff-max-ms", "100"])
        .args(["--lease-ms", "1000", "--poll-interval-ms", "20"])
        .env(
            "WALKOUT_PAYMENTS_SECRET",
            std::str::from_utf8(common::SECRET).unwrap(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Rows leased by a relay and not yet recorded: calls that were in flight.
async fn leased_rows(db: &Database) -> i64 {
    let sql =
        "SELECT COUNT(*) FROM charge_outbox WHERE state = 'pending' AND lease_until_ms IS NOT NULL";
    match db {
        Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

async fn charged(db: &Database) -> usize {
    db.billing_statuses()
        .await
        .unwrap()
        .iter()
        .filter(|s| s.status == "charged")
        .count()
}

async fn killed_mid_flight(backend: Backend) {
    let started = Instant::now();
    let (db, url, _dir) = database(backend, "crash").await;
    seed_catalog(&db).await;
    let (sandbox, addr) = start_sandbox(FailurePlan {
        server_error_percent: 10,
        slow_percent: 20,
        slow_ms: 400,
        drop_after_commit_percent: 10,
        seed: 11,
    })
    .await;
    let payments_url = format!("http://{addr}/charges");
    let mut totals = BTreeMap::new();
    for n in 0..SESSIONS {
        let (request, total) = cart(n);
        let id = format!("s-{n:04}");
        db.close_session(&id, &request, CURRENCY, walkout_api::billing::unix_now_ms())
            .await
            .unwrap();
        totals.insert(id, total);
    }

    // SIGTERM first: the relay stops claiming, lets its calls finish and records them, then exits.
    let mut relay = start_relay(&url, &payments_url);
    wait_until("the first charges", Duration::from_secs(60), || async {
        sandbox.charges().len() >= SESSIONS / 10
    })
    .await;
    let terminated = Command::new("kill")
        .args(["-TERM", &relay.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let exit = relay.wait().unwrap();
    assert!(exit.success(), "the relay exits cleanly on SIGTERM: {exit}");
    assert_eq!(
        leased_rows(&db).await,
        0,
        "a clean stop leaves nothing leased"
    );

    let mut in_flight_at_kills = Vec::new();
    let mut unrecorded_at_kills = Vec::new();
    for round in 1..=3 {
        let mut relay = start_relay(&url, &payments_url);
        let target = round * SESSIONS / 4;
        wait_until(
            &format!("{target} charges before kill {round}"),
            Duration::from_secs(60),
            || async { sandbox.charges().len() >= target },
        )
        .await;
        relay.kill().unwrap(); // SIGKILL: no chance to record anything
        relay.wait().unwrap();
        in_flight_at_kills.push(leased_rows(&db).await);
        unrecorded_at_kills.push(sandbox.charges().len() - charged(&db).await);
    }
    let mut relay = start_relay(&url, &payments_url);
    wait_until(
        "every session charged",
        Duration::from_secs(120),
        || async { charged(&db).await == SESSIONS },
    )
    .await;
    relay.kill().unwrap();
    relay.wait().unwrap();

    assert_each_charged_once(&db, &sandbox, &totals).await;
    assert!(
        in_flight_at_kills.iter().sum::<i64>() > 0,
        "no kill landed with calls in flight: {in_flight_at_kills:?}"
    );
    let stats = sandbox.stats();
    println!(
        "crash test ({backend:?}): {SESSIONS} sessions, 3 SIGKILLs, in flight at each kill {in_flight_at_kills:?}, \
         charged at the sandbox but unrecorded at each kill {unrecorded_at_kills:?}, replays {}, {:.1} s",
        stats.replayed,
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_mid_flight_loses_and_doubles_nothing_on_sqlite() {
    killed_mid_flight(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_mid_flight_loses_and_doubles_nothing_on_postgres() {
    killed_mid_flight(Backend::Postgres).await;
}
