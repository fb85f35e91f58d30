//! In-process rate limits: token buckets for sends, failure windows for logins.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How many keys a limiter holds before it forgets the idle ones.
const PRUNE_AT: usize = 10_000;

/// The shape of a token bucket: `per_second` tokens on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub per_second: f64,
    pub burst: u32,
}

impl Limit {
    pub fn per_second(rate: u32, burst: u32) -> Self {
        Self { per_second: f64::from(rate.max(1)), burst: burst.max(1) }
    }

    /// For the rare actions (creating rooms) a rate per second cannot say.
    pub fn per_minute(rate: u32, burst: u32) -> Self {
        Self { per_second: f64::from(rate.max(1)) / 60.0, burst: burst.max(1) }
    }
}

/// A token bucket per key: `rate` per second on average, `burst` at once.
pub struct TokenBuckets<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Eq + Hash + Clone> TokenBuckets<K> {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self { rate: f64::from(rate_per_sec.max(1)), burst: f64::from(burst.max(1)), buckets: Mutex::default() }
    }

    pub fn of(limit: Limit) -> Self {
        Self { rate: limit.per_second.max(f64::MIN_POSITIVE), burst: f64::from(limit.burst.max(1)), buckets: Mutex::default() }
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_AT {
            let full = self.burst / self.rate;
            map.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() < full);
        }
        let (tokens, at) = map.entry(key.clone()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }
}

/// Counts failures per key in a fixed window; at `max` the key is refused
/// until the window that holds them ends.
pub struct FailureWindow<K> {
    max: u32,
    window: Duration,
    counts: Mutex<HashMap<K, (u32, Instant)>>,
}

impl<K: Eq + Hash + Clone> FailureWindow<K> {
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max: max.max(1), window, counts: Mutex::default() }
    }

    /// Ok while the key has failed fewer than `max` times in its window.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((n, start)) if *n >= self.max && now.duration_since(*start) < self.window => {
                Err(self.window - now.duration_since(*start))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &K) {
        let now = Instant::now();
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= PRUNE_AT {
            map.retain(|_, (_, start)| now.duration_since(*start) < self.window);
        }
        let entry = map.entry(key.clone()).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn clear(&self, key: &K) {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let b = TokenBuckets::new(2, 3);
        for _ in 0..3 {
            assert!(b.take(&1).is_ok());
        }
        let wait = b.take(&1).unwrap_err();
        assert!(wait <= Duration::from_millis(500));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(b.take(&1).is_ok());
        assert!(b.take(&2).is_ok(), "keys are independent");
    }

    #[tokio::test(start_paused = true)]
    async fn a_per_minute_bucket_refills_one_token_in_a_minute_over_its_rate() {
        let b = TokenBuckets::of(Limit::per_minute(3, 2));
        assert!(b.take(&1).is_ok() && b.take(&1).is_ok());
        let wait = b.take(&1).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(b.take(&1).is_ok());
        assert!(b.take(&1).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_that_failed_max_times_is_refused_until_the_window_ends() {
        let w = FailureWindow::new(2, Duration::from_secs(60));
        w.record_failure(&"ann");
        assert!(w.check(&"ann").is_ok());
        w.record_failure(&"ann");
        assert!(w.check(&"ann").is_err());
        assert!(w.check(&"bo").is_ok());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(w.check(&"ann").is_ok());
    }
}
