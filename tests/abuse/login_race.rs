//! Finding 1: parallel logins must not slip past the login limit. An attempt
//! is counted when it starts (in memory under one lock, on Redis in one Lua
//! script), so however many arrive at once, at most the limit are evaluated.
//! With `PARLEY_TEST_REDIS_URL` set, the same tests run on the Redis limiter.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::{PASSWORD, spawn_app_with};

/// Sends `n` logins at once and counts the answers by status.
async fn burst(base: &str, n: usize, body: impl Fn(usize) -> serde_json::Value) -> (usize, usize, Vec<StatusCode>) {
    let client = reqwest::Client::new();
    let sends = (0..n).map(|i| {
        let req = client.post(format!("{base}/api/login")).json(&body(i));
        async move { tokio::time::timeout(Duration::from_secs(30), req.send()).await.expect("answered in time").expect("sent").status() }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let evaluated = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    (evaluated, limited, statuses)
}

#[tokio::test]
async fn parallel_wrong_passwords_for_one_user_are_evaluated_at_most_limit_times() {
    // The defaults: 10 per (username, address), 50 per address.
    let app = spawn_app_with(|_| {}).await;
    app.user("ann").await;
    let started = Instant::now();
    let n = 60;
    let (evaluated, limited, statuses) =
        burst(&app.base, n, |i| serde_json::json!({"username": "ann", "password": format!("wrong password {i}")})).await;
    assert!(evaluated <= 10, "{evaluated} of {n} parallel wrong passwords were evaluated (limit 10): {statuses:?}");
    assert!(evaluated >= 1, "{statuses:?}");
    assert_eq!(evaluated + limited, n, "every other attempt is refused with 429: {statuses:?}");
    // The right password from the attacking address is refused too: the
    // window of this (username, address) is spent.
    let r = app.http().api_login("ann", PASSWORD).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    eprintln!("{n} parallel logins: {evaluated} evaluated, {limited} refused, in {:?}", started.elapsed());
}

#[tokio::test]
async fn parallel_wrong_passwords_from_one_address_are_evaluated_at_most_limit_times() {
    let app = spawn_app_with(|s| s.login_failures_per_address = 20).await;
    let n = 120;
    // A different username each time: only the per-address limit applies.
    let (evaluated, limited, statuses) =
        burst(&app.base, n, |i| serde_json::json!({"username": format!("user{i}"), "password": "wrong password"})).await;
    assert!(evaluated <= 20, "{evaluated} of {n} evaluated (limit 20): {statuses:?}");
    assert_eq!(evaluated + limited, n, "{statuses:?}");
}

#[tokio::test]
async fn successful_parallel_logins_give_their_attempts_back() {
    let app = spawn_app_with(|s| s.login_failures_per_address = 5).await;
    app.user("ann").await;
    // Five right passwords at once fill the address's window while they run...
    let (_, limited, statuses) =
        burst(&app.base, 5, |_| serde_json::json!({"username": "ann", "password": PASSWORD})).await;
    assert_eq!(limited, 0, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
    // ...and give it back once they succeed.
    let (_, limited, statuses) =
        burst(&app.base, 5, |_| serde_json::json!({"username": "ann", "password": PASSWORD})).await;
    assert_eq!(limited, 0, "{statuses:?}");
}
