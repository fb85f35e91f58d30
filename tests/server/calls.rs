//! JSON calls of the Part C account routes, for the accounts, admin, profile
//! and directory tests.

use parley_client::HttpClient;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Sends `method path` with an optional JSON body; the status and the body as
/// JSON (`Null` when empty, a string when not JSON).
pub async fn call(http: &HttpClient, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = http.inner().request(method, http.url(path));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let bytes = r.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

pub async fn patch(http: &HttpClient, path: &str, body: Value) -> (StatusCode, Value) {
    call(http, Method::PATCH, path, Some(body)).await
}

pub async fn post(http: &HttpClient, path: &str, body: Value) -> (StatusCode, Value) {
    call(http, Method::POST, path, Some(body)).await
}

pub async fn delete(http: &HttpClient, path: &str) -> (StatusCode, Value) {
    call(http, Method::DELETE, path, None).await
}

/// A user's id, from their own `/api/me`.
pub async fn id_of(http: &HttpClient) -> i64 {
    let (status, me) = http.get_json("/api/me").await.expect("me");
    assert_eq!(status, 200, "{me}");
    me["id"].as_i64().expect("id")
}

/// Runs one SQL statement straight on the test's database (what an operator
/// or the passing of time would do).
pub async fn run_sql(url: &str, sql: &str) {
    use sqlx::{Connection, Executor};
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("sqlite:") {
        sqlx::SqliteConnection::connect(url).await.unwrap().execute(sql).await.unwrap();
    } else if url.starts_with("mysql:") {
        sqlx::MySqlConnection::connect(url).await.unwrap().execute(sql).await.unwrap();
    } else {
        sqlx::PgConnection::connect(url).await.unwrap().execute(sql).await.unwrap();
    }
}
