//! In-process rate limits: token buckets for sends, fixed windows for logins
//! and registrations, and the keys they count by.
//!
//! Every map here is bounded: past [`MAX_KEYS`] entries the expired ones go,
//! and if that is not enough the oldest tenth goes, so a flood of fresh keys
//! (addresses, usernames) costs a bounded amount of memory. The per-address
//! limits run first, so one address cannot push its own entries out.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;

use blake2::{Blake2b, Digest, digest::consts::U16};
use tokio::time::Instant;

use super::LoginLimits;

/// How many keys a limiter holds at most.
pub const MAX_KEYS: usize = 100_000;
/// Longest folded username that limiter keys are made from: a real one is at
/// most 32 characters; anything longer is cut before it is hashed.
const MAX_KEY_INPUT: usize = 256;

/// A client as the limiters count it: an IPv4 address, or the /64 network of
/// an IPv6 address (one subscriber usually gets a whole /64, so counting its
/// addresses one by one would give them 2^64 tries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNet(IpAddr);

impl ClientNet {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1)))),
            },
        }
    }
}

impl fmt::Display for ClientNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// A fixed-size digest of what a limiter counts by (a username, a username
/// and an address): 16 bytes whatever the client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimiterKey([u8; 16]);

impl LimiterKey {
    fn of(parts: &[&[u8]]) -> Self {
        let mut h = Blake2b::<U16>::new();
        for part in parts {
            let part = &part[..part.len().min(MAX_KEY_INPUT)];
            h.update((part.len() as u32).to_le_bytes());
            h.update(part);
        }
        Self(h.finalize().into())
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What one login attempt is counted under.
#[derive(Debug, Clone, Copy)]
pub struct LoginKeys {
    /// The client's address (or /64).
    pub net: ClientNet,
    /// The username tried from that address.
    pub pair: LimiterKey,
    /// The username, from anywhere (for the growing delay).
    pub name: LimiterKey,
}

impl LoginKeys {
    /// `folded` is the username as typed, trimmed and lower-cased.
    pub fn new(client: IpAddr, folded: &str) -> Self {
        let net = ClientNet::of(client);
        Self {
            net,
            pair: LimiterKey::of(&[b"pair", net.to_string().as_bytes(), folded.as_bytes()]),
            name: LimiterKey::of(&[b"name", folded.as_bytes()]),
        }
    }
}

/// The delay before a login for a username that failed `failures` times in
/// the window is checked: none for the first few (typos), then 250 ms
/// doubling per failure up to `cap`. A delay, not a lockout: the owner still
/// gets in with the right password, at worst `cap` later.
pub fn login_delay(failures: u32, cap: Duration) -> Duration {
    const FREE: u32 = 3;
    if failures < FREE {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE).min(16);
    (Duration::from_millis(250) * (1u32 << doublings)).min(cap)
}

/// Makes room in a map that reached `cap`: the entries for which `expired`
/// says so go; if that frees less than a tenth, the oldest tenth goes too.
fn make_room<K: Eq + Hash, V>(map: &mut HashMap<K, V>, cap: usize, expired: impl Fn(&V) -> bool, age: impl Fn(&V) -> Instant) {
    if map.len() < cap {
        return;
    }
    map.retain(|_, v| !expired(v));
    if map.len() < cap - cap / 10 {
        return;
    }
    let mut ages: Vec<Instant> = map.values().map(&age).collect();
    let tenth = (ages.len() / 10).max(1);
    let (_, cutoff, _) = ages.select_nth_unstable(tenth - 1);
    let cutoff = *cutoff;
    map.retain(|_, v| age(v) > cutoff);
}

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
        let full = self.burst / self.rate;
        make_room(&mut map, MAX_KEYS, |(_, at)| now.duration_since(*at).as_secs_f64() >= full, |(_, at)| *at);
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

/// Counts per key in a fixed window that starts at the key's first count.
struct WindowCounts<K> {
    window: Duration,
    cap: usize,
    counts: HashMap<K, (u32, Instant)>,
}

impl<K: Eq + Hash + Clone> WindowCounts<K> {
    fn new(window: Duration, cap: usize) -> Self {
        Self { window, cap, counts: HashMap::new() }
    }

    /// The key's count in its current window, and how long that window lasts.
    fn get(&self, key: &K, now: Instant) -> (u32, Duration) {
        match self.counts.get(key) {
            Some((n, start)) if now.duration_since(*start) < self.window => (*n, self.window - now.duration_since(*start)),
            _ => (0, self.window),
        }
    }

    fn add(&mut self, key: &K, now: Instant) {
        let window = self.window;
        make_room(&mut self.counts, self.cap, |(_, start)| now.duration_since(*start) >= window, |(_, start)| *start);
        let entry = self.counts.entry(key.clone()).or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// Gives back one count (an attempt that turned out not to be a failure).
    fn take_back(&mut self, key: &K) {
        if let Some((n, _)) = self.counts.get_mut(key) {
            *n = n.saturating_sub(1);
        }
    }

    fn clear(&mut self, key: &K) {
        self.counts.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.counts.len()
    }
}

/// Counts attempts per key in a fixed window; at `max` the key is refused
/// until its window ends. Checking and counting are one step, so parallel
/// requests cannot all pass the check before any of them is counted.
pub struct AttemptWindow<K> {
    max: u32,
    counts: Mutex<WindowCounts<K>>,
}

impl<K: Eq + Hash + Clone> AttemptWindow<K> {
    pub fn new(max: u32, window: Duration) -> Self {
        Self::with_cap(max, window, MAX_KEYS)
    }

    fn with_cap(max: u32, window: Duration, cap: usize) -> Self {
        Self { max: max.max(1), counts: Mutex::new(WindowCounts::new(window, cap)) }
    }

    /// Counts an attempt, or says how long until the key may try again.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (n, left) = counts.get(key, now);
        if n >= self.max {
            return Err(left);
        }
        counts.add(key, now);
        Ok(())
    }
}

/// The login limits of one instance (several instances share them through
/// the `Cluster` port instead).
///
/// An attempt is counted when it starts, against its address and against the
/// (username, address) pair, under one lock: at most `per_address` and
/// `per_username` attempts are ever evaluated in a window, however many
/// arrive at once. A success gives its address count back and clears the
/// pair; a failure also counts against the username alone, which only delays
/// later attempts ([`login_delay`]) and never refuses them.
pub struct LoginGate {
    limits: LoginLimits,
    state: Mutex<GateState>,
}

struct GateState {
    per_address: WindowCounts<ClientNet>,
    per_pair: WindowCounts<LimiterKey>,
    per_name: WindowCounts<LimiterKey>,
}

impl LoginGate {
    pub fn new(limits: LoginLimits) -> Self {
        Self::with_cap(limits, MAX_KEYS)
    }

    fn with_cap(limits: LoginLimits, cap: usize) -> Self {
        let w = limits.window;
        let state = GateState {
            per_address: WindowCounts::new(w, cap),
            per_pair: WindowCounts::new(w, cap),
            per_name: WindowCounts::new(w, cap),
        };
        Self { limits, state: Mutex::new(state) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an attempt and gives the username's failures so far, or says
    /// how long until this client may try again.
    pub fn reserve(&self, keys: &LoginKeys) -> Result<u32, Duration> {
        let now = Instant::now();
        let mut s = self.lock();
        let (a, a_left) = s.per_address.get(&keys.net, now);
        if a >= self.limits.per_address.max(1) {
            return Err(a_left);
        }
        let (p, p_left) = s.per_pair.get(&keys.pair, now);
        if p >= self.limits.per_username.max(1) {
            return Err(p_left);
        }
        s.per_address.add(&keys.net, now);
        s.per_pair.add(&keys.pair, now);
        Ok(s.per_name.get(&keys.name, now).0)
    }

    /// The attempt failed: it stays counted, and the username's delay grows.
    pub fn failed(&self, keys: &LoginKeys) {
        self.lock().per_name.add(&keys.name, Instant::now());
    }

    /// The attempt could not be evaluated (the database was down): it does not count.
    pub fn release(&self, keys: &LoginKeys) {
        let mut s = self.lock();
        s.per_address.take_back(&keys.net);
        s.per_pair.take_back(&keys.pair);
    }

    /// The right password: the attempt does not count, and the username's
    /// failures are forgotten.
    pub fn succeeded(&self, keys: &LoginKeys) {
        let mut s = self.lock();
        s.per_address.take_back(&keys.net);
        s.per_pair.clear(&keys.pair);
        s.per_name.clear(&keys.name);
    }

    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        let s = self.lock();
        (s.per_address.len(), s.per_pair.len(), s.per_name.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: u32, per_username: u32) -> LoginLimits {
        LoginLimits { per_address, per_username, window: Duration::from_secs(60) }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

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
    async fn a_key_that_tried_max_times_is_refused_until_the_window_ends() {
        let w = AttemptWindow::new(2, Duration::from_secs(60));
        assert!(w.take(&"ann").is_ok());
        assert!(w.take(&"ann").is_ok());
        assert!(w.take(&"ann").is_err());
        assert!(w.take(&"bo").is_ok());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(w.take(&"ann").is_ok());
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_are_one_client() {
        assert_eq!(ClientNet::of(ip("2001:db8:1:2::1")), ClientNet::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(ClientNet::of(ip("2001:db8:1:2::1")), ClientNet::of(ip("2001:db8:1:3::1")));
        assert_eq!(ClientNet::of(ip("2001:db8:1:2::1")).to_string(), "2001:db8:1:2::/64");
        assert_ne!(ClientNet::of(ip("10.0.0.1")), ClientNet::of(ip("10.0.0.2")));
        assert_eq!(ClientNet::of(ip("::ffff:10.0.0.1")), ClientNet::of(ip("10.0.0.1")));
    }

    #[test]
    fn a_limiter_key_has_a_fixed_size_whatever_the_username() {
        let long = "a".repeat(60_000);
        let k = LoginKeys::new(ip("10.0.0.1"), &long);
        assert_eq!(k.name.hex().len(), 32);
        assert_ne!(LoginKeys::new(ip("10.0.0.1"), "ann").pair, LoginKeys::new(ip("10.0.0.2"), "ann").pair);
        assert_eq!(LoginKeys::new(ip("10.0.0.1"), "ann").name, LoginKeys::new(ip("10.0.0.2"), "ann").name);
    }

    #[test]
    fn the_login_delay_grows_from_the_fourth_failure_and_stops_at_its_cap() {
        let cap = Duration::from_secs(4);
        assert_eq!(login_delay(0, cap), Duration::ZERO);
        assert_eq!(login_delay(2, cap), Duration::ZERO);
        assert_eq!(login_delay(3, cap), Duration::from_millis(250));
        assert_eq!(login_delay(4, cap), Duration::from_millis(500));
        assert_eq!(login_delay(7, cap), cap);
        assert_eq!(login_delay(u32::MAX, cap), cap);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_counted_when_they_start_so_parallel_ones_cannot_pass_together() {
        let gate = LoginGate::new(limits(50, 3));
        let keys = LoginKeys::new(ip("10.0.0.1"), "ann");
        // Three reserved, none finished yet: the fourth is already refused.
        for _ in 0..3 {
            assert!(gate.reserve(&keys).is_ok());
        }
        assert!(gate.reserve(&keys).is_err());
        // Another address may still try the same name (no lockout)...
        assert!(gate.reserve(&LoginKeys::new(ip("10.0.0.2"), "ann")).is_ok());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(gate.reserve(&keys).is_ok(), "...and the window ends");
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_gives_its_attempt_back_and_forgets_the_failures() {
        let gate = LoginGate::new(limits(2, 10));
        let ann = LoginKeys::new(ip("10.0.0.1"), "ann");
        assert_eq!(gate.reserve(&ann), Ok(0));
        gate.failed(&ann);
        assert_eq!(gate.reserve(&ann), Ok(1), "the failure counts for the delay");
        gate.succeeded(&ann);
        // One failure still counts against the address: one more try.
        assert_eq!(gate.reserve(&ann), Ok(0));
        assert!(gate.reserve(&ann).is_err(), "the address limit stays");
    }

    #[tokio::test(start_paused = true)]
    async fn a_limiter_map_stays_bounded_and_forgets_the_oldest_first() {
        let gate = LoginGate::with_cap(limits(5, 5), 100);
        for i in 0..1000u32 {
            let keys = LoginKeys::new(IpAddr::from(i.to_be_bytes()), &format!("user{i}"));
            let _ = gate.reserve(&keys);
            gate.failed(&keys);
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        let (a, p, n) = gate.sizes();
        assert!(a <= 100 && p <= 100 && n <= 100, "{a} {p} {n}");
        let newest = LoginKeys::new(IpAddr::from(999u32.to_be_bytes()), "user999");
        assert_eq!(gate.reserve(&newest), Ok(1), "the newest entries are kept");
    }
}
