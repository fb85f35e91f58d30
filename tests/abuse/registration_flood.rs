//! Finding 2: registration. Registrations are limited per address, a taken
//! username or email is refused before any password hash is computed, and
//! hashing has a bounded queue per kind (logins, registrations) of which
//! registrations may use only half the slots: a flood of either keeps the
//! logins of existing users fast.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{METRICS_TOKEN, PASSWORD, Process, TestApp, spawn_app_with};

/// `parley_password_hashes_total{kind="..."}` from the server's `/metrics`.
async fn hashes(server: &Process, kind: &str) -> u64 {
    let text = reqwest::Client::new()
        .get(server.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("parley_password_hashes_total{{kind=\"{kind}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |n| n.trim().parse().unwrap())
}

async fn register_from(client: &reqwest::Client, base: &str, addr: &str, name: &str, email: &str) -> StatusCode {
    client
        .post(format!("{base}/api/register"))
        .header("x-forwarded-for", addr)
        .json(&json!({"username": name, "email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_flood_of_registrations_with_a_taken_name_computes_no_hash_and_is_limited_per_address() {
    // A queue long enough for all 32 at once: this test is about the limit
    // and the look-ups, not about `server_busy`.
    let server = Process::spawn(&[
        ("PARLEY_TRUST_PROXY", "true"),
        ("PARLEY_REGISTRATIONS_PER_ADDRESS", "5"),
        ("PARLEY_HASH_QUEUE", "64"),
    ])
    .await;
    let client = reqwest::Client::new();
    assert_eq!(register_from(&client, &server.base, "192.0.2.1", "ann", "ann@example.com").await, StatusCode::CREATED);
    let before = hashes(&server, "registration").await;
    assert_eq!(before, 1);
    // 4 addresses, 8 at once from each: the taken name, or the taken email.
    let tries = (0..4).flat_map(|a| (0..8).map(move |i| (a, i))).map(|(a, i)| {
        let (client, base) = (client.clone(), server.base.clone());
        async move {
            let addr = format!("198.51.100.{a}");
            let (name, email) = if i % 2 == 0 { ("ANN".to_owned(), format!("x{a}{i}@example.com")) } else { (format!("x{a}{i}"), "Ann@Example.com".to_owned()) };
            (a, register_from(&client, &base, &addr, &name, &email).await)
        }
    });
    let answers = tokio::time::timeout(Duration::from_secs(30), futures_util::future::join_all(tries)).await.unwrap();
    for a in 0..4 {
        let mine: Vec<_> = answers.iter().filter(|(from, _)| *from == a).map(|(_, s)| *s).collect();
        let taken = mine.iter().filter(|s| **s == StatusCode::CONFLICT).count();
        let limited = mine.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!((taken, limited), (5, 3), "address {a}: {mine:?}");
    }
    assert_eq!(hashes(&server, "registration").await, before, "a taken name or email costs no hash");
}

#[tokio::test]
async fn registrations_are_limited_per_address_with_or_without_redis() {
    // In this process: with PARLEY_TEST_REDIS_URL the count lives in Redis.
    let app = spawn_app_with(|s| {
        s.trust_proxy = true;
        s.registrations_per_address = 3;
    })
    .await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        let name = format!("ann{i}");
        let status = register_from(&client, &app.base, "2001:db8:5:6::1", &name, &format!("{name}@example.com")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Another address of the same /64 is the same client.
    let status = register_from(&client, &app.base, "2001:db8:5:6::2", "ann3", "ann3@example.com").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let status = register_from(&client, &app.base, "2001:db8:5:7::1", "ann3", "ann3@example.com").await;
    assert_eq!(status, StatusCode::CREATED);
}

/// What one round of [`a_login_stays_fast_during_a_registration_and_login_flood`] saw.
struct Round {
    baseline: Duration,
    during: Vec<(Duration, StatusCode)>,
    answers: Vec<u16>,
}

impl Round {
    fn median(&self) -> Duration {
        let mut times: Vec<Duration> = self.during.iter().map(|(t, _)| *t).collect();
        times.sort();
        times[times.len() / 2]
    }

    fn count(&self, code: u16) -> usize {
        self.answers.iter().filter(|s| **s == code).count()
    }
}

/// Bob's login time alone (median of 5), then 5 of his logins during a flood
/// of 128 registrations of fresh names (each would be hashed) and 2 wrong
/// logins at all times, each from an address of its own, for at most 6 s
/// (bounded in time and in count).
async fn flood_round(app: &TestApp, round: u32) -> Round {
    let bob = || {
        reqwest::Client::new()
            .post(app.url("/api/login"))
            .header("x-forwarded-for", "192.0.2.200")
            .json(&json!({"username": "bob", "password": PASSWORD}))
            .timeout(Duration::from_secs(10))
    };
    let mut alone = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(bob().send().await.unwrap().status(), StatusCode::OK);
        alone.push(t.elapsed());
    }
    alone.sort();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(6);
    let flood: Vec<_> = (0..130u32)
        .map(|task| {
            let (base, stop) = (app.base.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut answers = Vec::new();
                for n in 0..200u32 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) || Instant::now() > deadline {
                        break;
                    }
                    let addr = format!("10.{}.{}.{}", task, round * 100 + n / 250, n % 250);
                    let req = if task < 128 {
                        let name = format!("f{round}x{task}x{n}");
                        let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
                        client.post(format!("{base}/api/register")).json(&body)
                    } else {
                        let body = json!({"username": format!("nobody{n}"), "password": "wrong password"});
                        client.post(format!("{base}/api/login")).json(&body)
                    };
                    if let Ok(r) = req.header("x-forwarded-for", addr).timeout(Duration::from_secs(10)).send().await {
                        answers.push(r.status().as_u16());
                        // This process is the server too: a refused flooder
                        // pauses a little, or its own retries would take the
                        // CPU the measurement needs. The queue stays full.
                        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut during = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = bob().send().await.unwrap();
        during.push((t.elapsed(), r.status()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answers = Vec::new();
    for task in flood {
        answers.extend(task.await.unwrap());
    }
    Round { baseline: alone[2], during, answers }
}

#[tokio::test]
async fn a_login_stays_fast_during_a_registration_and_login_flood() {
    let app = spawn_app_with(|s| {
        s.trust_proxy = true;
        s.hash_queue = 16;
        s.registrations_per_address = 10;
    })
    .await;
    app.user("bob").await;
    // The machine is shared and noisy: a second round is allowed when the
    // first is over the (generous) bound.
    for round in 0..2 {
        let r = flood_round(&app, round).await;
        let (baseline, median) = (r.baseline, r.median());
        eprintln!(
            "round {round}: login alone {baseline:?}; during the flood {:?} (median {median:?}); flood answers: {} 201, {} 401, {} 503, {} 429",
            r.during, r.count(201), r.count(401), r.count(503), r.count(429)
        );
        assert!(r.during.iter().all(|(_, s)| *s == StatusCode::OK), "bob logs in during the flood: {:?}", r.during);
        assert!(r.count(503) > 0, "the flood overflowed the registration queue and was told so: {:?}", r.answers);
        let bound = baseline * 10 + Duration::from_secs(1);
        if median < bound {
            return;
        }
        assert!(round == 0, "bob's login took {median:?} during the flood (alone {baseline:?}, bound {bound:?})");
    }
}
