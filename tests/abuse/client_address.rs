//! Finding 6: the client's address. Behind a trusted proxy only the proxy's
//! entry (the last entry of the last `X-Forwarded-For` line) counts; an IPv6
//! /64 is one client for every limiter; limiter keys have a fixed size and
//! limiter maps a hard cap (unit tests in src/chat/ratelimit.rs and
//! src/wire/request.rs).

use std::net::IpAddr;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Process, TestApp, spawn_app_with};

async fn wrong_login(app: &TestApp, forwarded: &[&str], username: &str) -> StatusCode {
    let mut req = reqwest::Client::new().post(app.url("/api/login"));
    for line in forwarded {
        req = req.header("x-forwarded-for", *line);
    }
    req.json(&json!({"username": username, "password": "wrong password"})).send().await.unwrap().status()
}

#[tokio::test]
async fn a_second_forwarded_for_line_of_the_client_does_not_change_its_address() {
    let app = spawn_app_with(|s| {
        s.trust_proxy = true;
        s.login_failures_per_address = 3;
    })
    .await;
    // The client sends its own line first, a new address each time; the proxy
    // adds the real one (9.9.9.9) as a second line.
    for i in 0..3 {
        let own = format!("10.0.0.{i}");
        assert_eq!(wrong_login(&app, &[&own, "9.9.9.9"], &format!("u{i}")).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(wrong_login(&app, &["10.0.0.99", "9.9.9.9"], "u9").await, StatusCode::TOO_MANY_REQUESTS);
    // The proxy's entry at the end of a line with the client's entries in front.
    assert_eq!(wrong_login(&app, &["10.0.0.7, 9.9.9.9"], "u10").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(wrong_login(&app, &["9.9.9.9, 8.8.8.8"], "u11").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_addresses_of_one_ipv6_slash_64_share_one_limit() {
    let app = spawn_app_with(|s| {
        s.trust_proxy = true;
        s.login_failures_per_address = 3;
    })
    .await;
    for i in 1..=3 {
        let addr = format!("2001:db8:1:2::{i:x}");
        assert_eq!(wrong_login(&app, &[&addr], &format!("u{i}")).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(wrong_login(&app, &["2001:db8:1:2:ffff:1:2:3"], "u4").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(wrong_login(&app, &["2001:db8:1:3::1"], "u5").await, StatusCode::UNAUTHORIZED, "another /64");
}

#[tokio::test]
async fn a_huge_username_is_answered_like_any_wrong_login_and_counted() {
    let app = spawn_app_with(|s| s.login_failures_per_address = 2).await;
    let huge = "x".repeat(60_000);
    assert_eq!(wrong_login(&app, &[], &huge).await, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_login(&app, &[], &format!("{huge}y")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_login(&app, &[], &huge).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_a_trusted_proxy_each_loopback_source_address_is_a_client_of_its_own() {
    let app = spawn_app_with(|s| s.login_failures_per_address = 2).await;
    let from = |ip: [u8; 4]| reqwest::Client::builder().local_address(IpAddr::from(ip)).build().unwrap();
    let login = |client: reqwest::Client, forwarded: &'static str| {
        let req = client
            .post(app.url("/api/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"username": "nobody", "password": "wrong password"}));
        async move { req.send().await.unwrap().status() }
    };
    for _ in 0..2 {
        assert_eq!(login(from([127, 0, 0, 2]), "1.1.1.1").await, StatusCode::UNAUTHORIZED);
    }
    // X-Forwarded-For is not trusted: 127.0.0.2 is spent whatever it says.
    assert_eq!(login(from([127, 0, 0, 2]), "2.2.2.2").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(from([127, 0, 0, 3]), "1.1.1.1").await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failures_with_huge_usernames_cost_the_server_no_memory_per_failure() {
    // A process of its own, to read its memory. Each failure from its own
    // address, so no limit stops them before they are recorded.
    let server = Process::spawn(&[("PARLEY_TRUST_PROXY", "true"), ("PARLEY_LOGIN_DELAY_MAX_MS", "0")]).await;
    let client = reqwest::Client::new();
    let attempt = |i: usize| {
        let req = client
            .post(format!("{}/api/login", server.base))
            .header("x-forwarded-for", format!("10.1.{}.{}", i / 250, i % 250))
            .json(&json!({"username": format!("{i:05}{}", "x".repeat(60_000)), "password": "wrong password"}));
        async move { req.send().await.unwrap().status() }
    };
    // Warm up: the allocator's arenas and the dummy hash.
    for i in 0..8 {
        assert_eq!(attempt(i).await, StatusCode::UNAUTHORIZED);
    }
    let before = server.rss_kib();
    let n = 150;
    let mut sent = 8;
    while sent < 8 + n {
        let batch: Vec<_> = (sent..(sent + 4).min(8 + n)).map(&attempt).collect();
        for status in futures_util::future::join_all(batch).await {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        sent += 4;
    }
    let grown = server.rss_kib().saturating_sub(before);
    eprintln!("{n} failures with 60 KB usernames: the server grew by {grown} KiB");
    // Kept as they came, the usernames alone would be 150 × 60 KB = 8.8 MiB.
    assert!(grown < 3 * 1024, "the server grew by {grown} KiB for {n} failures");
}
