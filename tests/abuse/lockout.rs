//! Finding 5: nobody can lock an account's owner out. Failures are limited
//! per (username, address) and per address; failures from anywhere only add
//! a growing delay for the username, capped (`login_delay_max_ms`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{PASSWORD, TestApp, error_code, spawn_app_with};

/// A login as if from `addr` (the server trusts X-Forwarded-For here).
async fn login_from(app: &TestApp, addr: impl AsRef<str>, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/login"))
        .header("x-forwarded-for", addr.as_ref())
        .json(&json!({"username": "ann", "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_passwords_from_many_addresses_do_not_lock_the_owner_out() {
    let cap = Duration::from_millis(1500);
    let app = spawn_app_with(|s| {
        s.trust_proxy = true;
        s.login_delay_max_ms = cap.as_millis() as u64;
    })
    .await;
    app.user("ann").await;
    // 12 addresses, 2 wrong passwords each: 24 failures for ann.
    for round in 0..2 {
        let tries = (0..12).map(|i| login_from(&app, format!("203.0.113.{}", 10 + i), "wrong password"));
        for r in futures_util::future::join_all(tries).await {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "round {round}: a failure from a new address is evaluated");
        }
    }
    // The owner, from her own address, gets in: after the capped delay at most.
    let started = Instant::now();
    let r = login_from(&app, "198.51.100.7", PASSWORD).await;
    let took = started.elapsed();
    assert_eq!(r.status(), StatusCode::OK, "the owner is not locked out");
    assert!(took >= cap, "24 failures delay the next check by the cap ({took:?})");
    assert!(took < cap + Duration::from_secs(3), "but not much more ({took:?})");
    // Her success resets the delay.
    let started = Instant::now();
    assert_eq!(login_from(&app, "198.51.100.7", PASSWORD).await.status(), StatusCode::OK);
    assert!(started.elapsed() < cap, "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_attacker_from_one_address_is_still_limited() {
    let app = spawn_app_with(|s| {
        s.trust_proxy = true;
        s.login_delay_max_ms = 200;
    })
    .await;
    app.user("ann").await;
    for _ in 0..10 {
        assert_eq!(login_from(&app, "203.0.113.5", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    }
    // The 11th try for ann from that address is refused, the right password too.
    let r = login_from(&app, "203.0.113.5", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(error_code(&r.json().await.unwrap()), "rate_limited");
    // From her own address the owner still gets in.
    assert_eq!(login_from(&app, "198.51.100.7", PASSWORD).await.status(), StatusCode::OK);
}
