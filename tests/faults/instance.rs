//! A `parley` process of its own (so the test can read its memory, or run
//! two beside each other), and a `redis-server` of its own.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use parley_client::HttpClient;

/// The bearer token the instances ask for on `/metrics`.
pub const METRICS_TOKEN: &str = "scrape-token";

/// One `parley` process; killed and reaped on drop.
pub struct Instance {
    child: Child,
    pub base: String,
}

impl Instance {
    /// Starts the built binary with `env` and waits until it is ready. It binds
    /// a port the system chooses and says which in its log.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .env("PARLEY_BIND", "127.0.0.1:0")
            .env("PARLEY_LOG", "warn,parley=info")
            .env("NO_COLOR", "1")
            .env("PARLEY_MESSAGE_RATE", "1000")
            .env("PARLEY_MESSAGE_BURST", "1000")
            // The suite's many users and sockets all come from 127.0.0.1,
            // and it reads /metrics (docs/security.md, findings 2, 4, 8, 9).
            .env("PARLEY_MAX_CONNECTIONS_PER_ADDRESS", "0")
            .env("PARLEY_MAX_SOCKETS_PER_USER", "100000")
            .env("PARLEY_REGISTRATIONS_PER_ADDRESS", "100000")
            .env("PARLEY_HASH_QUEUE", "10000")
            .env("PARLEY_LOGIN_FAILURES_PER_ADDRESS", "100000")
            .env("PARLEY_JOIN_BURST", "100000")
            .env("PARLEY_METRICS_TOKEN", METRICS_TOKEN)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("parley starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            // Reads the log to its end, so the instance never blocks on a full pipe.
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Parley is listening")
                    && let Some(at) = line.find("127.0.0.1:")
                {
                    let port: String = line[at + 10..].chars().take_while(char::is_ascii_digit).collect();
                    let _ = found.send(port);
                }
                if std::env::var_os("PARLEY_TEST_FAULTS_LOG").is_some() {
                    eprintln!("[parley] {line}");
                }
            }
        });
        let Ok(port) = address.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the instance did not log its address");
        };
        let instance = Self { child, base: format!("http://127.0.0.1:{port}") };
        let http = HttpClient::new(&instance.base);
        for _ in 0..200 {
            if http.inner().get(format!("{}/readyz", instance.base)).send().await.is_ok_and(|r| r.status() == 200) {
                return instance;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("instance on {} did not become ready", instance.base);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident memory in KiB (`VmRSS` of /proc/<pid>/status).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` of the test's own on a free loopback port, without
/// persistence: a restart loses every key, as a crashed cache would.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    /// `None` (with the reason printed) when `redis-server` is not installed.
    pub async fn start() -> Option<Self> {
        if Command::new("redis-server").arg("--version").stdout(Stdio::null()).status().is_err() {
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = Self { child: None, port };
        redis.restart().await;
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye, no save) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, empty, and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
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
        panic!("redis-server on port {} did not come up", self.port);
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
