//! The same repository tests against both backends: a SQLite file and the PostgreSQL cluster that
//! `make test` starts (its URL in WALKOUT_TEST_POSTGRES_URL).
#![allow(clippy::unwrap_used)]

use walkout_api::{Database, DbError, Sku};

async fn sqlite() -> (Database, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("walkout.db").display());
    (Database::connect(&url).await.expect("sqlite opens"), dir)
}

async fn postgres() -> Database {
    let url = std::env::var("WALKOUT_TEST_POSTGRES_URL").expect(
        "WALKOUT_TEST_POSTGRES_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL",
    );
    let db = Database::connect(&url).await.expect("postgres connects");
    if let Database::Postgres(pool) = &db {
        sqlx::query("TRUNCATE skus")
            .execute(pool)
            .await
            .expect("clean table");
    }
    db
}

fn sku(code: &str, price_minor: i64) -> Sku {
    Sku {
        sku: code.into(),
        name: format!("Product {code}"),
        price_minor,
        currency: "EUR".into(),
    }
}

async fn catalog_round_trip(db: &Database) {
    db.upsert_sku(&sku("cola-330", 129)).await.unwrap();
    db.upsert_sku(&sku("apple", 45)).await.unwrap();
    db.upsert_sku(&sku("cola-330", 139)).await.unwrap();
    let all = db.skus().await.unwrap();
    assert_eq!(all, vec![sku("apple", 45), sku("cola-330", 139)]);
    assert_eq!(db.sku("apple").await.unwrap(), Some(sku("apple", 45)));
    assert_eq!(db.sku("nothing").await.unwrap(), None);
    let err = db.upsert_sku(&sku("bad", -1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            DbError::Invalid {
                field: "price_minor",
                ..
            }
        ),
        "{err}"
    );
    db.ping().await.unwrap();
}

#[tokio::test]
async fn catalog_on_sqlite() {
    let (db, _dir) = sqlite().await;
    assert_eq!(db.backend(), "sqlite");
    catalog_round_trip(&db).await;
}

#[tokio::test]
async fn catalog_on_postgres() {
    let db = postgres().await;
    assert_eq!(db.backend(), "postgres");
    catalog_round_trip(&db).await;
}

#[tokio::test]
async fn unsupported_urls_are_named() {
    let err = Database::connect("mysql://shop:pw@db/walkout")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("mysql://shop:***@db/walkout"), "{message}");
}
