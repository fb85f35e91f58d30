//! 9. Metrics: every label takes few values, and `/metrics` is served only
//! with a bearer token on the main address, or on an address of its own.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::support::*;

const TOKEN: &str = "scrape-secret";

#[tokio::test]
async fn made_up_methods_leave_the_metrics_small() {
    let app = spawn_app_with(|s| s.metrics_token = Some(TOKEN.into())).await;
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..20)
        .map(|t| {
            let (http, url) = (http.clone(), app.url("/healthz"));
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(20);
                for i in 0..100 {
                    if Instant::now() > deadline {
                        break;
                    }
                    let method = Method::from_bytes(format!("MADEUP{t}X{i}").as_bytes()).unwrap();
                    let _ = http.request(method, &url).send().await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let r = http.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains("MADEUP"), "a made-up method became a label");
    assert!(text.contains("method=\"other\""), "made-up methods count as other");
    // The recorder is shared by every server of this test process, so other
    // tests add series too; 2,000 labels would be megabytes.
    assert!(text.len() < 256 * 1024, "/metrics is {} bytes", text.len());
}

#[tokio::test]
async fn metrics_need_the_token_on_the_main_address() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let r = http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no token set: not served");

    let app = spawn_app_with(|s| s.metrics_token = Some(TOKEN.into())).await;
    let r = http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http.get(app.url("/metrics")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http.get(app.url("/metrics")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("parley_http_request_duration_seconds"));
}

#[tokio::test]
async fn metrics_bind_serves_metrics_on_an_address_of_its_own() {
    // A port the system chooses: one found free here could be taken before the app binds it.
    let app = spawn_app_with(|s| s.metrics_bind = Some("127.0.0.1:0".parse().unwrap())).await;
    let http = reqwest::Client::new();
    let r = http.get(app.metrics_url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("parley_connections_open"));
    let r = http.get(app.metrics_url("/api/rooms")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "only metrics there");
    let r = http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "and not on the main address");
}
