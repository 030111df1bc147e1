use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The store's database: SQLite by default, PostgreSQL for larger stores and chains. The same queries run
/// on both (positional `$N` parameters, standard SQL); each backend has its own migrations.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL `{0}` is not supported (expected sqlite://PATH or postgres://…)")]
    UnsupportedUrl(String),
    #[error("cannot open the database `{url}`: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Runs the same block against whichever pool the database uses.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Database::Sqlite($pool) => $body,
            Database::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Database {
    /// Connects and runs the migrations. A URL without a password is shown in errors as given; one with a
    /// password is shown without it.
    pub async fn connect(url: &str) -> Result<Database, DbError> {
        let shown = redact(url);
        let database = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|source| DbError::Connect {
                    url: shown.clone(),
                    source,
                })?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Billing writes must survive a power cut: FULL syncs the WAL on every commit.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .map_err(|source| DbError::Connect {
                    url: shown.clone(),
                    source,
                })?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Database::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|source| DbError::Connect {
                    url: shown.clone(),
                    source,
                })?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Database::Postgres(pool)
        } else {
            return Err(DbError::UnsupportedUrl(shown));
        };
        Ok(database)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn upsert_sku(&self, sku: &Sku) -> Result<(), DbError> {
        sku.validate()?;
        let sql = "INSERT INTO skus (sku, name, price_minor, currency) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price_minor = excluded.price_minor, \
                   currency = excluded.currency";
        on_pool!(self, pool => sqlx::query(sql)
            .bind(&sku.sku)
            .bind(&sku.name)
            .bind(sku.price_minor)
            .bind(&sku.currency)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub async fn sku(&self, sku: &str) -> Result<Option<Sku>, DbError> {
        let sql = "SELECT sku, name, price_minor, currency FROM skus WHERE sku = $1";
        let found = on_pool!(self, pool => sqlx::query_as::<_, Sku>(sql).bind(sku).fetch_optional(pool).await)?;
        Ok(found)
    }

    pub async fn skus(&self) -> Result<Vec<Sku>, DbError> {
        let sql = "SELECT sku, name, price_minor, currency FROM skus ORDER BY sku";
        let all = on_pool!(self, pool => sqlx::query_as::<_, Sku>(sql).fetch_all(pool).await)?;
        Ok(all)
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// A product the store sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sku {
    pub sku: String,
    pub name: String,
    /// Price in the currency's minor unit (cents).
    pub price_minor: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
}

impl Sku {
    pub fn validate(&self) -> Result<(), DbError> {
        if self.sku.trim().is_empty() {
            return Err(DbError::Invalid {
                field: "sku",
                reason: "must not be empty".into(),
            });
        }
        if self.price_minor < 0 {
            return Err(DbError::Invalid {
                field: "price_minor",
                reason: format!("must not be negative (got {})", self.price_minor),
            });
        }
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(DbError::Invalid {
                field: "currency",
                reason: format!(
                    "must be an ISO 4217 code like EUR (got `{}`)",
                    self.currency
                ),
            });
        }
        Ok(())
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://shop:s3cret@db:5432/walkout"),
            "postgres://shop:***@db:5432/walkout"
        );
        assert_eq!(
            redact("postgres://shop@db/walkout"),
            "postgres://shop@db/walkout"
        );
        assert_eq!(redact("sqlite://walkout.db"), "sqlite://walkout.db");
    }
}
