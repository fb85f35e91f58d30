//! A `redis-server` of the test's own, so that killing it disturbs nobody.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` of the test's own on a unix socket in its own directory
/// (no TCP port to find free, none another test could take while it is
/// down), without persistence: a restart loses every key, as a crashed cache
/// would.
pub struct Redis {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Redis {
    /// `None` (with the reason printed) when `redis-server` is not installed.
    pub async fn start() -> Option<Self> {
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_err() {
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        let mut redis = Self { child: None, dir: tempfile::tempdir().expect("temp dir") };
        redis.restart().await;
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// Kills the server (SIGKILL: no goodbye, no save) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same socket, empty, and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(mut s) = tokio::net::UnixStream::connect(self.socket()).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 16];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await.is_ok_and(|n| n.is_ok_and(|n| n > 0))
                    && buf.starts_with(b"+PONG")
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server on {} did not come up", self.socket().display());
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
