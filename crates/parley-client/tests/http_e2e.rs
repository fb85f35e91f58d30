//! End-to-end tests of `HttpClient` against a hand-rolled HTTP/1.1 responder
//! (one request per connection, `Connection: close`).

use parley_client::HttpClient;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A request as the server saw it.
#[derive(Debug)]
struct Req {
    method: String,
    path: String,
    cookie: Option<String>,
    body: Value,
}

struct FakeHttp {
    base_url: String,
    seen: mpsc::UnboundedReceiver<Req>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> FakeHttp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, seen) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(serve(tcp, tx.clone()));
        }
    });
    FakeHttp {
        base_url,
        seen,
        task,
    }
}

async fn serve(mut tcp: TcpStream, tx: mpsc::UnboundedSender<Req>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = tcp.read(&mut chunk).await.unwrap();
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_owned();
    let path = request_line.next().unwrap().to_owned();
    let mut cookie = None;
    let mut len = 0;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "cookie" => cookie = Some(v.trim().to_owned()),
                "content-length" => len = v.trim().parse().unwrap(),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + len {
        let n = tcp.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);

    let logged_in = cookie.as_deref() == Some("parley_session=abc");
    let (status, extra, resp_body) = match (method.as_str(), path.as_str()) {
        ("POST", "/api/register") if body["username"] == "taken" => {
            ("409 Conflict", "", r#"{"error":"username taken"}"#)
        }
        ("POST", "/api/register") => ("201 Created", "", r#"{"id":1}"#),
        ("POST", "/api/login") => (
            "200 OK",
            "Set-Cookie: parley_session=abc; Path=/; HttpOnly; SameSite=Lax\r\n",
            r#"{"ok":true}"#,
        ),
        ("GET", "/api/me") if logged_in => ("200 OK", "", r#"{"username":"alice"}"#),
        ("GET", "/api/me") => ("401 Unauthorized", "", r#"{"error":"login required"}"#),
        ("GET", "/old") => ("303 See Other", "Location: /api/me\r\n", ""),
        _ => ("404 Not Found", "", "<h1>nope</h1>"),
    };
    let _ = tx.send(Req {
        method,
        path,
        cookie,
        body,
    });
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{resp_body}",
        resp_body.len()
    );
    tcp.write_all(resp.as_bytes()).await.unwrap();
    let _ = tcp.shutdown().await;
}

#[tokio::test]
async fn register_and_login_stores_the_session_cookie_and_sends_it_back() {
    let mut server = start().await;
    let http = HttpClient::new(&server.base_url);
    assert_eq!(http.cookie_header(), None);

    http.register_and_login("alice", "hunter22hunter22")
        .await
        .unwrap();

    let register = server.seen.recv().await.unwrap();
    assert_eq!(
        (register.method.as_str(), register.path.as_str()),
        ("POST", "/api/register")
    );
    assert_eq!(
        register.body,
        json!({"username": "alice", "email": "alice@example.test", "password": "hunter22hunter22"})
    );
    let login = server.seen.recv().await.unwrap();
    assert_eq!(login.path, "/api/login");
    assert_eq!(
        login.body,
        json!({"username": "alice", "password": "hunter22hunter22"})
    );

    assert_eq!(http.cookie_header().as_deref(), Some("parley_session=abc"));
    assert_eq!(
        http.get_json("/api/me").await.unwrap(),
        (reqwest::StatusCode::OK, json!({"username": "alice"}))
    );
    assert_eq!(
        server.seen.recv().await.unwrap().cookie.as_deref(),
        Some("parley_session=abc")
    );
}

#[tokio::test]
async fn a_failed_registration_reports_status_and_body() {
    let server = start().await;
    let http = HttpClient::new(&server.base_url);
    let err = http.register_and_login("taken", "pw").await.unwrap_err();
    assert!(
        err.contains("409") && err.contains("username taken"),
        "{err}"
    );
    assert_eq!(http.cookie_header(), None);
}

#[tokio::test]
async fn clients_do_not_share_cookies() {
    let server = start().await;
    let alice = HttpClient::new(&server.base_url);
    let anon = HttpClient::new(&server.base_url);
    alice.api_login("alice", "pw").await.unwrap();
    assert!(alice.cookie_header().is_some());
    assert_eq!(anon.cookie_header(), None);
    let (status, body) = anon.get_json("/api/me").await.unwrap();
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({"error": "login required"}));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = start().await;
    let http = HttpClient::new(&server.base_url);
    let resp = http.inner().get(http.url("/old")).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/api/me");
}

#[tokio::test]
async fn non_json_bodies_come_back_as_strings() {
    let server = start().await;
    let http = HttpClient::new(&server.base_url);
    let (status, body) = http.get_json("/missing").await.unwrap();
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    assert_eq!(body, json!("<h1>nope</h1>"));
}
