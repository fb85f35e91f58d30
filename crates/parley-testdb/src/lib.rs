//! Throwaway databases on a MySQL/MariaDB or PostgreSQL server, for Parley's tests and
//! benchmarks: each [`TestDb`] is a database of its own, dropped when the
//! value is dropped, so tests never see each other's data.
//!
//! The servers come from `PARLEY_TEST_MYSQL_URL` and `PARLEY_TEST_POSTGRES_URL`
//! (an account that may create databases, e.g.
//! `mysql://parley:parley@127.0.0.1:3306` or `postgres://postgres@127.0.0.1:5432/postgres`).
//! Without the variable, [`TestDb::create`] returns `None` and the caller skips.

use std::sync::atomic::{AtomicU32, Ordering};

// The names are Parley's own (`parley_test_<pid>_<n>_<random>`), never user input.
use sqlx::{AssertSqlSafe, Connection, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    MySql,
    Postgres,
}

impl Backend {
    pub fn env_var(self) -> &'static str {
        match self {
            Self::MySql => "PARLEY_TEST_MYSQL_URL",
            Self::Postgres => "PARLEY_TEST_POSTGRES_URL",
        }
    }

    /// The backend named by `PARLEY_TEST_DATABASE` (`mysql`, `mariadb`, `postgres`), if any.
    pub fn from_env() -> Option<Self> {
        match std::env::var("PARLEY_TEST_DATABASE").ok()?.as_str() {
            "mysql" | "mariadb" => Some(Self::MySql),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }
}

pub struct TestDb {
    /// The URL of the new, empty database.
    pub url: String,
    backend: Backend,
    admin_url: String,
    name: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `scheme://user@host:port[/db]` → (`scheme://user@host:port`, query suffix).
fn server_part(url: &str) -> (&str, &str) {
    let (url, query) = url.split_once('?').map_or((url, ""), |(u, q)| (u, q));
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let server = match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    };
    (server, query)
}

impl TestDb {
    pub async fn create(backend: Backend) -> Option<Self> {
        let admin_url = std::env::var(backend.env_var()).ok().filter(|u| !u.is_empty())?;
        let mut suffix = [0u8; 4];
        let _ = getrandom::fill(&mut suffix);
        let name = format!(
            "parley_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            u32::from_le_bytes(suffix)
        );
        let (server, query) = server_part(&admin_url);
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        let url = format!("{server}/{name}{query}");
        match backend {
            Backend::MySql => {
                let mut c = sqlx::MySqlConnection::connect(&admin_url).await.expect("connect to the MySQL test server");
                c.execute(AssertSqlSafe(format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")))
                    .await
                    .expect("create test database");
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&admin_url).await.expect("connect to the PostgreSQL test server");
                c.execute(AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
            }
        }
        Some(Self { url, backend, admin_url, name })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (backend, admin_url, name) = (self.backend, self.admin_url.clone(), self.name.clone());
        // Drop runs outside async; a short-lived runtime on its own thread does the work.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                let sql = match backend {
                    Backend::MySql => format!("DROP DATABASE IF EXISTS {name}"),
                    Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                };
                let result = match backend {
                    Backend::MySql => match sqlx::MySqlConnection::connect(&admin_url).await {
                        Ok(mut c) => drop_mysql(&mut c, &name, &sql).await,
                        Err(e) => Err(e),
                    },
                    Backend::Postgres => match sqlx::PgConnection::connect(&admin_url).await {
                        Ok(mut c) => c.execute(AssertSqlSafe(sql.clone())).await.map(|_| ()),
                        Err(e) => Err(e),
                    },
                };
                if let Err(e) = result {
                    eprintln!("could not drop test database {name}: {e}");
                }
            });
        });
        let _ = dropper.join();
    }
}

/// MariaDB's `DROP DATABASE` waits for the metadata locks of every open
/// transaction on the database's tables, and its `lock_wait_timeout` is a day.
/// A connection left behind with a transaction still open (a pool whose
/// rollback had not yet been sent, a test that panicked mid-transaction) would
/// hang the drop, and with it the test run. So the database's connections are
/// killed first, and the wait that remains is bounded.
async fn drop_mysql(c: &mut sqlx::MySqlConnection, name: &str, drop_sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Row;
    c.execute("SET SESSION lock_wait_timeout = 30").await?;
    let ids = sqlx::query("SELECT CAST(id AS SIGNED) FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()")
        .bind(name)
        .fetch_all(&mut *c)
        .await?;
    for row in ids {
        let id: i64 = row.try_get(0)?;
        // The connection may have gone by itself in the meantime: not an error.
        if let Err(e) = c.execute(AssertSqlSafe(format!("KILL CONNECTION {id}"))).await {
            eprintln!("test database {name}: could not kill connection {id}: {e}");
        }
    }
    c.execute(AssertSqlSafe(drop_sql.to_owned())).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::server_part;

    #[test]
    fn the_server_part_of_a_url_drops_the_database_and_keeps_the_options() {
        assert_eq!(server_part("postgres://postgres@127.0.0.1:5432/postgres"), ("postgres://postgres@127.0.0.1:5432", ""));
        assert_eq!(server_part("mysql://u:p@h:3306?ssl-mode=disabled"), ("mysql://u:p@h:3306", "ssl-mode=disabled"));
    }
}
