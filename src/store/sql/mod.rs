//! SQL written once for every database.
//!
//! A statement is built as a [`Stmt`]: SQL text with its values bound in
//! place. Each database renders it with sqlx's `QueryBuilder::push_bind`,
//! which writes its own placeholder (`?` on MariaDB and SQLite, `$n` on
//! PostgreSQL); the SQLite writer thread binds the same values through
//! rusqlite. The few places where the databases really differ are named
//! here once: how an insert reports its new id ([`Exec::insert`]), and how an
//! insert skips a row whose key exists ([`Exec::INSERT_IGNORE`]).
//!
//! The statements themselves live in one module per aggregate, beside the
//! port they serve ([`users`], [`rooms`], ...): the port implementations of
//! every backend call them.

use std::borrow::Cow;
use std::future::Future;
use std::ops::DerefMut;

use sqlx::mysql::{MySql, MySqlConnection, MySqlRow};
use sqlx::postgres::{PgConnection, PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteConnection, SqliteRow};
use sqlx::{Connection, Encode, QueryBuilder, Row, Type};

use super::rows::ParleyRow;
use super::{StoreError, map_err};

pub(crate) mod invites;
pub(crate) mod members;
pub(crate) mod messages;
pub(crate) mod presence;
pub(crate) mod rooms;
pub(crate) mod sessions;
pub(crate) mod settings;
pub(crate) mod users;

/// A value bound into a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Vec<u8>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Int(v) => v.to_sql(),
            Self::Text(v) => v.to_sql(),
            Self::Bytes(v) => v.to_sql(),
        }
    }
}

#[derive(Debug, Clone)]
enum Part {
    Sql(Cow<'static, str>),
    Bind(Arg),
}

/// A statement: SQL text and the values bound in it, in order.
#[derive(Debug, Clone)]
#[must_use]
pub(crate) struct Stmt {
    parts: Vec<Part>,
}

impl Stmt {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Self { parts: vec![Part::Sql(sql.into())] }
    }

    /// More SQL text (never a value from outside: those are bound).
    pub fn push(mut self, sql: impl Into<Cow<'static, str>>) -> Self {
        self.parts.push(Part::Sql(sql.into()));
        self
    }

    /// A placeholder with `value` bound to it.
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.parts.push(Part::Bind(value.into()));
        self
    }

    /// `value, value, ...`: a placeholder for each.
    pub fn bind_list<T: Into<Arg>>(mut self, values: impl IntoIterator<Item = T>) -> Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self = self.push(", ");
            }
            self = self.bind(v);
        }
        self
    }

    fn build<DB: sqlx::Database>(self) -> QueryBuilder<DB>
    where
        for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
        for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
        for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    {
        let mut query = QueryBuilder::new("");
        for part in self.parts {
            match part {
                Part::Sql(sql) => query.push(sql),
                Part::Bind(Arg::Int(v)) => query.push_bind(v),
                Part::Bind(Arg::Text(v)) => query.push_bind(v),
                Part::Bind(Arg::Bytes(v)) => query.push_bind(v),
            };
        }
        query
    }

    /// The SQL with `?` placeholders and the values, for rusqlite.
    fn lite(self) -> (String, Vec<Arg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        for part in self.parts {
            match part {
                Part::Sql(s) => sql.push_str(&s),
                Part::Bind(arg) => {
                    sql.push('?');
                    args.push(arg);
                }
            }
        }
        (sql, args)
    }

    /// Runs the statement on the SQLite writer's connection; the rows changed.
    pub fn lite_execute(self, conn: &rusqlite::Connection) -> rusqlite::Result<usize> {
        let (sql, args) = self.lite();
        conn.prepare_cached(&sql)?.execute(rusqlite::params_from_iter(args))
    }

    /// Runs an `INSERT` on the SQLite writer's connection; the new row's id.
    pub fn lite_insert(self, conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
        let (sql, args) = self.push(" RETURNING id").lite();
        conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args), |r| r.get(0))
    }

    /// Every row, each mapped by `map` (a [`super::rows`] function).
    pub fn lite_query<T>(
        self,
        conn: &rusqlite::Connection,
        map: impl Fn(&LiteRow<'_, '_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<Vec<T>> {
        let (sql, args) = self.lite();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| map(&LiteRow(r)))?;
        rows.collect()
    }
}

/// A row of the SQLite writer's connection, read by the shared [`super::rows`] mapping.
pub(crate) struct LiteRow<'a, 'r>(pub &'a rusqlite::Row<'r>);

impl ParleyRow for LiteRow<'_, '_> {
    type Error = rusqlite::Error;
    fn int(&self, col: &str) -> rusqlite::Result<i64> {
        self.0.get(col)
    }
    fn opt_int(&self, col: &str) -> rusqlite::Result<Option<i64>> {
        self.0.get(col)
    }
    fn text(&self, col: &str) -> rusqlite::Result<String> {
        self.0.get(col)
    }
    fn opt_text(&self, col: &str) -> rusqlite::Result<Option<String>> {
        self.0.get(col)
    }
    fn bytes(&self, col: &str) -> rusqlite::Result<Vec<u8>> {
        self.0.get(col)
    }
}

/// A connection that runs [`Stmt`]s: one implementation per database.
pub(crate) trait Exec: Send {
    type Row: ParleyRow<Error = sqlx::Error> + Send;
    /// `INSERT` that skips a row whose key exists, and what follows its
    /// `VALUES`: `INSERT IGNORE INTO` on MariaDB, `ON CONFLICT DO NOTHING` elsewhere.
    const INSERT_IGNORE: (&'static str, &'static str);

    fn fetch_all(&mut self, s: Stmt) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;
    fn fetch_optional(&mut self, s: Stmt) -> impl Future<Output = Result<Option<Self::Row>, StoreError>> + Send;
    /// The number of rows the statement changed (on MariaDB: matched).
    fn execute(&mut self, s: Stmt) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Runs an `INSERT` of one row into a table with an `id` column; its new id.
    fn insert(&mut self, s: Stmt) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

/// `SELECT COUNT(*) ...` as a number.
pub(crate) async fn count<C: Exec>(c: &mut C, s: Stmt) -> Result<u64, StoreError> {
    let row = c.fetch_optional(s).await?;
    let n = row.map(|r| r.int("n")).transpose().map_err(map_err)?.unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Maps every row with a [`super::rows`] function.
pub(crate) fn all<R: ParleyRow<Error = sqlx::Error>, T>(rows: &[R], map: impl Fn(&R) -> Result<T, sqlx::Error>) -> Result<Vec<T>, StoreError> {
    rows.iter().map(map).collect::<Result<_, _>>().map_err(map_err)
}

/// Maps the row, if any, with a [`super::rows`] function.
pub(crate) fn one<R: ParleyRow<Error = sqlx::Error>, T>(row: Option<R>, map: impl Fn(&R) -> Result<T, sqlx::Error>) -> Result<Option<T>, StoreError> {
    row.as_ref().map(map).transpose().map_err(map_err)
}

impl Exec for MySqlConnection {
    type Row = MySqlRow;
    const INSERT_IGNORE: (&'static str, &'static str) = ("INSERT IGNORE INTO ", "");

    async fn fetch_all(&mut self, s: Stmt) -> Result<Vec<MySqlRow>, StoreError> {
        s.build::<MySql>().build().fetch_all(self).await.map_err(map_err)
    }
    async fn fetch_optional(&mut self, s: Stmt) -> Result<Option<MySqlRow>, StoreError> {
        s.build::<MySql>().build().fetch_optional(self).await.map_err(map_err)
    }
    async fn execute(&mut self, s: Stmt) -> Result<u64, StoreError> {
        Ok(s.build::<MySql>().build().execute(self).await.map_err(map_err)?.rows_affected())
    }
    async fn insert(&mut self, s: Stmt) -> Result<i64, StoreError> {
        Ok(s.build::<MySql>().build().execute(self).await.map_err(map_err)?.last_insert_id() as i64)
    }
}

impl Exec for PgConnection {
    type Row = PgRow;
    const INSERT_IGNORE: (&'static str, &'static str) = ("INSERT INTO ", " ON CONFLICT DO NOTHING");

    async fn fetch_all(&mut self, s: Stmt) -> Result<Vec<PgRow>, StoreError> {
        s.build::<Postgres>().build().fetch_all(self).await.map_err(map_err)
    }
    async fn fetch_optional(&mut self, s: Stmt) -> Result<Option<PgRow>, StoreError> {
        s.build::<Postgres>().build().fetch_optional(self).await.map_err(map_err)
    }
    async fn execute(&mut self, s: Stmt) -> Result<u64, StoreError> {
        Ok(s.build::<Postgres>().build().execute(self).await.map_err(map_err)?.rows_affected())
    }
    async fn insert(&mut self, s: Stmt) -> Result<i64, StoreError> {
        let row = s.push(" RETURNING id").build::<Postgres>().build().fetch_one(self).await.map_err(map_err)?;
        row.try_get("id").map_err(map_err)
    }
}

/// SQLite's readers (the writes go through the writer thread, [`Stmt::lite_execute`]).
impl Exec for SqliteConnection {
    type Row = SqliteRow;
    const INSERT_IGNORE: (&'static str, &'static str) = ("INSERT INTO ", " ON CONFLICT DO NOTHING");

    async fn fetch_all(&mut self, s: Stmt) -> Result<Vec<SqliteRow>, StoreError> {
        s.build::<Sqlite>().build().fetch_all(self).await.map_err(map_err)
    }
    async fn fetch_optional(&mut self, s: Stmt) -> Result<Option<SqliteRow>, StoreError> {
        s.build::<Sqlite>().build().fetch_optional(self).await.map_err(map_err)
    }
    async fn execute(&mut self, s: Stmt) -> Result<u64, StoreError> {
        Ok(s.build::<Sqlite>().build().execute(self).await.map_err(map_err)?.rows_affected())
    }
    async fn insert(&mut self, s: Stmt) -> Result<i64, StoreError> {
        let row = s.push(" RETURNING id").build::<Sqlite>().build().fetch_one(self).await.map_err(map_err)?;
        row.try_get("id").map_err(map_err)
    }
}

/// A pool of connections that run [`Stmt`]s, and transactions on them.
pub(crate) trait Pool: Clone + Send + Sync + 'static {
    type Conn: Exec;
    type Pooled: DerefMut<Target = Self::Conn> + Send;
    type Tx: DerefMut<Target = Self::Conn> + Send;
    fn conn(&self) -> impl Future<Output = Result<Self::Pooled, StoreError>> + Send;
    fn begin(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;
    fn commit(tx: Self::Tx) -> impl Future<Output = Result<(), StoreError>> + Send;
}

macro_rules! pool {
    ($db:ty, $conn:ty) => {
        impl Pool for sqlx::Pool<$db> {
            type Conn = $conn;
            type Pooled = sqlx::pool::PoolConnection<$db>;
            type Tx = sqlx::Transaction<'static, $db>;
            async fn conn(&self) -> Result<Self::Pooled, StoreError> {
                self.acquire().await.map_err(map_err)
            }
            async fn begin(&self) -> Result<Self::Tx, StoreError> {
                sqlx::Pool::begin(self).await.map_err(map_err)
            }
            async fn commit(tx: Self::Tx) -> Result<(), StoreError> {
                tx.commit().await.map_err(map_err)
            }
        }
    };
}
pool!(MySql, MySqlConnection);
pool!(Postgres, PgConnection);
pool!(Sqlite, SqliteConnection);

#[allow(unused_imports)]
use Connection as _;
