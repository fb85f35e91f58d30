//! Cookies, the cross-site check and the client's address: what both
//! transports need to know about the HTTP request that reached them.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST, ORIGIN, REFERER};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "parley_session";

/// The session token in the request's cookies, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that hands a session to the browser, or (with
/// `None`) removes it.
pub fn set_session_cookie(token: Option<&str>, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => format!("{SESSION_COOKIE}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    }
}

/// Decides whether a state-changing request (a form post, a Socket.IO
/// handshake) may come from where it says it comes from.
///
/// A browser says where a request comes from in `Origin` and `Sec-Fetch-Site`.
/// Same origin (the `Origin` names the scheme and `Host` it was sent to) and
/// configured origins pass; another site is refused. Requests with neither
/// header come from scripts and native clients, which cookies cannot be
/// stolen through, and pass.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// Extra origins allowed, as `scheme://host[:port]`.
    pub allowed: Vec<String>,
    /// Users reach the server over HTTPS (`--secure-cookies`).
    pub https: bool,
    /// `X-Forwarded-Proto` says the scheme (`--trust-proxy`).
    pub trust_proxy: bool,
}

impl OriginPolicy {
    pub fn new(allowed: Vec<String>, https: bool, trust_proxy: bool) -> Self {
        let allowed = allowed.into_iter().map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase()).collect();
        Self { allowed, https, trust_proxy }
    }

    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        match origin {
            Some(origin) => self.is_own_or_allowed(headers, origin),
            None => !matches!(fetch_site, Some("cross-site" | "same-site")),
        }
    }

    /// For a request a link can make (`GET /logout`): besides [`allows`](Self::allows),
    /// a `Referer` from another site refuses it (a navigation carries no `Origin`).
    pub fn allows_link(&self, headers: &HeaderMap) -> bool {
        if !self.allows(headers) {
            return false;
        }
        let Some(referer) = headers.get(REFERER).and_then(|v| v.to_str().ok()) else { return true };
        let Some((scheme, rest)) = referer.split_once("://") else { return false };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        self.is_own_or_allowed(headers, &format!("{scheme}://{authority}"))
    }

    /// Whether `origin` is a configured origin or exactly this server's:
    /// its scheme (http, or https when told so) and the request's `Host`.
    fn is_own_or_allowed(&self, headers: &HeaderMap, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        if self.allowed.contains(&origin) {
            return true;
        }
        let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else { return false };
        origin == format!("{}://{}", self.scheme(headers), host.trim().to_ascii_lowercase())
    }

    fn scheme<'a>(&self, headers: &'a HeaderMap) -> &'a str {
        let forwarded = self
            .trust_proxy
            .then(|| headers.get("x-forwarded-proto")?.to_str().ok()?.split(',').next().map(str::trim))
            .flatten()
            .filter(|p| p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http"));
        match forwarded {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(_) => "http",
            None if self.https => "https",
            None => "http",
        }
    }
}

/// Which `Host` headers the server answers (against DNS rebinding: a page of
/// another site whose name resolves to 127.0.0.1 reaches a server bound
/// there, with the `Host` of that site).
#[derive(Debug, Clone)]
pub struct HostPolicy {
    any: bool,
    /// Host names (any port), lowercase; IPv6 in brackets.
    names: Vec<String>,
    /// `host:port` pairs that match exactly.
    exact: Vec<String>,
}

impl HostPolicy {
    /// Loopback names, the configured hosts, the hosts of the allowed origins
    /// and the address the server is bound to (unless it is 0.0.0.0 or ::).
    pub fn new(hosts: &[String], origins: &[String], bind: IpAddr) -> Self {
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).to_vec();
        let mut exact = Vec::new();
        let mut any = false;
        for h in hosts.iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()) {
            if h == "*" {
                any = true;
            } else if split_port(&h).1.is_some() {
                exact.push(h);
            } else {
                names.push(h);
            }
        }
        for o in origins {
            let authority = o.trim().to_ascii_lowercase();
            let authority = authority.split_once("://").map_or(authority.as_str(), |(_, a)| a).trim_end_matches('/');
            names.push(split_port(authority).0.to_owned());
        }
        if !bind.is_unspecified() {
            names.push(match bind {
                IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            });
        }
        Self { any, names, exact }
    }

    pub fn allows(&self, host: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let Some(host) = host.map(|h| h.trim().to_ascii_lowercase()) else { return false };
        let name = split_port(&host).0;
        self.names.iter().any(|n| n == name) || self.exact.contains(&host)
    }
}

/// `host[:port]` → (host, port); IPv6 hosts keep their brackets.
fn split_port(authority: &str) -> (&str, Option<&str>) {
    let port_at = match authority.rfind(']') {
        Some(close) => authority[close..].find(':').map(|i| close + i),
        None => authority.rfind(':'),
    };
    match port_at {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    }
}

/// The client's address: the peer, or with `trust_proxy` the address the
/// reverse proxy appended last to `X-Forwarded-For`.
///
/// The proxy appends its entry to the last header line (or adds a line of
/// its own), and a client may send lines and entries of its own before it:
/// so every line is read and only the very last entry counts. An entry with
/// a port (`1.2.3.4:5678`, `[2001:db8::1]:5678`) is understood; an entry
/// that is no address at all falls back to the peer.
pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap, trust_proxy: bool) -> IpAddr {
    let forwarded = trust_proxy
        .then(|| {
            let last_line = headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?;
            parse_forwarded(last_line.rsplit(',').next()?.trim())
        })
        .flatten();
    forwarded.or(peer.map(|p| p.ip())).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; parley_session=tok; b=2")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("tok"));
        assert_eq!(session_cookie(&headers(&[("cookie", "parley_session=")])), None);
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn a_same_origin_request_passes_and_a_cross_site_one_is_refused() {
        let p = OriginPolicy::default();
        assert!(p.allows(&headers(&[("host", "chat.example:5000"), ("origin", "http://chat.example:5000")])));
        assert!(!p.allows(&headers(&[("host", "chat.example:5000"), ("origin", "https://evil.example")])));
        assert!(!p.allows(&headers(&[("host", "chat.example"), ("origin", "null")])));
        assert!(!p.allows(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(p.allows(&headers(&[("sec-fetch-site", "same-origin")])));
    }

    #[test]
    fn the_origins_scheme_must_be_the_servers() {
        let p = OriginPolicy::default();
        assert!(!p.allows(&headers(&[("host", "chat.example"), ("origin", "https://chat.example")])));
        assert!(!p.allows(&headers(&[("host", "chat.example"), ("origin", "evil://chat.example")])));
        let https = OriginPolicy::new(vec![], true, false);
        assert!(https.allows(&headers(&[("host", "chat.example"), ("origin", "https://chat.example")])));
        assert!(!https.allows(&headers(&[("host", "chat.example"), ("origin", "http://chat.example")])));
        let proxied = OriginPolicy::new(vec![], false, true);
        let h = headers(&[("host", "chat.example"), ("origin", "https://chat.example"), ("x-forwarded-proto", "https")]);
        assert!(proxied.allows(&h));
        assert!(!OriginPolicy::default().allows(&h), "X-Forwarded-Proto counts only behind a trusted proxy");
    }

    #[test]
    fn a_link_from_another_site_is_refused() {
        let p = OriginPolicy::default();
        assert!(!p.allows_link(&headers(&[("host", "chat.example"), ("referer", "https://evil.example/page")])));
        assert!(p.allows_link(&headers(&[("host", "chat.example"), ("referer", "http://chat.example/")])));
        assert!(p.allows_link(&headers(&[("host", "chat.example")])));
    }

    #[test]
    fn only_loopback_configured_and_origin_hosts_are_answered() {
        let p = HostPolicy::new(&["chat.example".into(), "other.example:8443".into()], &["https://app.example".into()], "127.0.0.1".parse().unwrap());
        for ok in ["localhost:5000", "127.0.0.1", "[::1]:5000", "chat.example", "CHAT.example:443", "other.example:8443", "app.example"] {
            assert!(p.allows(Some(ok)), "{ok}");
        }
        for bad in ["evil.example", "other.example", "127.0.0.2:5000", "localhost.evil.example"] {
            assert!(!p.allows(Some(bad)), "{bad}");
        }
        assert!(!p.allows(None));
        assert!(HostPolicy::new(&["*".into()], &[], "0.0.0.0".parse().unwrap()).allows(Some("anything")));
    }

    #[test]
    fn a_request_without_origin_headers_passes() {
        assert!(OriginPolicy::default().allows(&headers(&[("host", "x")])));
    }

    #[test]
    fn a_configured_origin_passes() {
        let p = OriginPolicy::new(vec!["https://app.example/".into()], false, false);
        assert!(p.allows(&headers(&[("host", "api.example"), ("origin", "https://app.example")])));
    }

    #[test]
    fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
        let peer = Some("10.0.0.1:1234".parse().unwrap());
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 5.6.7.8")]);
        assert_eq!(client_ip(peer, &h, false).to_string(), "10.0.0.1");
        assert_eq!(client_ip(peer, &h, true).to_string(), "5.6.7.8");
    }

    #[test]
    fn the_proxy_s_entry_is_the_last_one_of_the_last_header_line() {
        let peer = Some("10.0.0.1:1234".parse().unwrap());
        // The client sent a line of its own; the proxy added its own after it.
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "9.9.9.9, 5.6.7.8")]);
        assert_eq!(client_ip(peer, &h, true).to_string(), "5.6.7.8");
        let h = headers(&[("x-forwarded-for", "5.6.7.8"), ("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(client_ip(peer, &h, true).to_string(), "1.1.1.1");
    }

    #[test]
    fn a_forwarded_entry_with_a_port_or_garbage_is_handled() {
        let peer = Some("10.0.0.1:1234".parse().unwrap());
        let ip = |v: &'static str| client_ip(peer, &headers(&[("x-forwarded-for", v)]), true).to_string();
        assert_eq!(ip("5.6.7.8:4000"), "5.6.7.8");
        assert_eq!(ip("[2001:db8::1]:4000"), "2001:db8::1");
        assert_eq!(ip("2001:db8::1"), "2001:db8::1");
        assert_eq!(ip("unknown"), "10.0.0.1");
    }
}
