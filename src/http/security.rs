//! Cookies, the cross-site check and the client's address: what both
//! transports need to know about the HTTP request that reached them.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST, ORIGIN};

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
/// Same origin (the `Origin` names the `Host` it was sent to) and configured
/// origins pass; another site is refused. Requests with neither header come
/// from scripts and native clients, which cookies cannot be stolen through,
/// and pass.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// Extra origins allowed, as `scheme://host[:port]`.
    pub allowed: Vec<String>,
}

impl OriginPolicy {
    pub fn new(allowed: Vec<String>) -> Self {
        Self { allowed: allowed.into_iter().map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase()).collect() }
    }

    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        match origin {
            Some(origin) => {
                let origin = origin.trim().to_ascii_lowercase();
                if self.allowed.contains(&origin) {
                    return true;
                }
                let host = headers.get(HOST).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
                let origin_host = origin.split_once("://").map(|(_, rest)| rest);
                matches!((origin_host, host), (Some(o), Some(h)) if o == h)
            }
            None => !matches!(fetch_site, Some("cross-site" | "same-site")),
        }
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
    fn a_request_without_origin_headers_passes() {
        assert!(OriginPolicy::default().allows(&headers(&[("host", "x")])));
    }

    #[test]
    fn a_configured_origin_passes() {
        let p = OriginPolicy::new(vec!["https://app.example/".into()]);
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
