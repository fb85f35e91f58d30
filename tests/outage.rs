//! A database restart while Parley runs, against a MariaDB server this test
//! starts for itself (so stopping it disturbs nobody). Sends during the outage
//! are refused, never acknowledged; `/readyz` says not ready; everything comes
//! back by itself, and no acknowledged message is lost or stored twice.
//!
//! Needs `mariadbd` and `mariadb-install-db`; runs when `PARLEY_TEST_OUTAGE=1`
//! (`.ci/run` sets it), and is skipped otherwise.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use parley_client::SioClient;
use serde_json::json;

#[path = "server/support.rs"]
mod support;

const ACK: Duration = Duration::from_secs(20);

/// A MariaDB server of the test's own, reached through a unix socket in its
/// directory (no TCP port, so none to find free and none another test could
/// take while it is down).
struct MariaDb {
    child: Child,
    dir: tempfile::TempDir,
}

impl MariaDb {
    fn install() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db runs");
        assert!(status.success());
        let child = Self::spawn(dir.path());
        Self { child, dir }
    }

    fn spawn(dir: &Path) -> Child {
        Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--skip-networking", "--skip-name-resolve"])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts")
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("sock")
    }

    /// The URL of one of its databases.
    fn url(&self, database: &str) -> String {
        format!("mysql://root@localhost/{database}?socket={}", self.socket().display())
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if tokio::net::UnixStream::connect(self.socket()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mariadbd did not come up");
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.child = Self::spawn(self.dir.path());
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_database_restart_refuses_sends_meanwhile_and_recovers_without_losing_acked_messages() {
    if std::env::var("PARLEY_TEST_OUTAGE").is_err() {
        eprintln!("skipped: set PARLEY_TEST_OUTAGE=1 (needs mariadbd and mariadb-install-db)");
        return;
    }
    let mut db = MariaDb::install();
    db.wait_ready().await;
    // Parley's own database on that server.
    {
        use sqlx::Connection;
        let mut c = sqlx::MySqlConnection::connect(&db.url("mysql")).await.unwrap();
        sqlx::Executor::execute(&mut c, "CREATE DATABASE parley").await.unwrap();
    }
    let app = support::spawn_app_with(|s| {
        s.database_url = db.url("parley");
        // The outage is the database's alone.
        s.redis_url = None;
    })
    .await;
    let base = app.base.clone();

    let http = app.user("ann").await;
    let s = app.socket(&http).await;
    support::join(&s, 1).await;

    let mut acked: HashMap<String, i64> = HashMap::new();
    let mut refused: Vec<String> = Vec::new();
    let send = async |s: &SioClient, client_id: String| {
        let ack = s
            .emit_with_ack("send_message", json!({"room_id": 1, "message": client_id, "client_id": client_id}), ACK)
            .await
            .unwrap();
        (client_id, ack)
    };
    for i in 0..5 {
        let (cid, ack) = send(&s, format!("before-{i}")).await;
        assert_eq!(ack["ok"], true);
        acked.insert(cid, ack["id"].as_i64().unwrap());
    }

    db.stop();
    let ready = http.inner().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the database is down");
    for i in 0..3 {
        let (cid, ack) = send(&s, format!("during-{i}")).await;
        assert_eq!(ack["ok"], false, "never ok while the database is down: {ack}");
        assert_eq!(ack["error"]["code"], "unavailable");
        refused.push(cid);
    }

    db.restart();
    db.wait_ready().await;
    let mut back = false;
    for _ in 0..100 {
        if http.inner().get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "ready again by itself");
    // The client retries what was refused, with the same client_ids, and goes on.
    for cid in refused.into_iter().chain((0..5).map(|i| format!("after-{i}"))) {
        let (cid, ack) = send(&s, cid).await;
        assert_eq!(ack["ok"], true, "{cid}: {ack}");
        acked.insert(cid, ack["id"].as_i64().unwrap());
    }

    let (_, history) = http.get_json("/api/messages/1?limit=200").await.unwrap();
    let stored: Vec<(String, i64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["message"].as_str().unwrap().to_owned(), m["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(stored.len(), acked.len(), "each acknowledged message stored exactly once: {stored:?}");
    for (text, id) in stored {
        assert_eq!(acked.get(&text), Some(&id), "{text}");
    }
}
