//! The accept loop: hyper's HTTP/1 server with a header timeout and caps on
//! connections, in place of `axum::serve` (which has neither: its hyper
//! builder has no timer, so hyper's header timeout never fires).
//!
//! Each connection is counted from accept until its socket closes (a
//! websocket too: the count travels with the upgraded stream). Up to
//! `max` connections are served normally. Past it, up to `reserve` more get
//! one plain request each with a short header timeout and no websocket, so
//! that health checks and logins still answer while idle connections are
//! closed by the timeouts; anything past that, or past the per-address cap,
//! is closed at once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// An address that already holds this many connections (or 1% of the cap if
/// more) gets no place in the reserve: the reserve is for the health check
/// and the user who could not get in, not for whoever filled the server.
const RESERVE_HELD_MAX: usize = 8;

/// Limits on connections (see the module's doc).
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub max: usize,
    /// 0: no per-address cap.
    pub per_address: usize,
    pub reserve: usize,
    pub header_timeout: Duration,
    pub reserve_header_timeout: Duration,
}

impl ConnLimits {
    /// The default global cap: the open-file limit less a reserve for the
    /// database, logs and the connection reserve.
    pub fn default_max() -> usize {
        let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
        let soft = usize::try_from(soft).unwrap_or(usize::MAX);
        if soft > 2048 { soft - 1024 } else { soft / 2 }
    }
}

/// Serves `router` on `listener` until `signal` resolves; then stops
/// accepting, lets every connection finish its request, and returns once all
/// HTTP connections are closed (websockets are the caller's to close), as
/// `axum::serve(...).with_graceful_shutdown(signal)` did.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    signal: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let tracker = Arc::new(Tracker { limits, counts: Mutex::new(Counts::default()) });
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        signal.await;
        drop(signal_rx);
    });
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = signal_tx.closed() => break,
        };
        let Some(ticket) = tracker.admit(peer.ip()) else {
            metrics::counter!("parley_connections_refused_total").increment(1);
            drop(tcp);
            continue;
        };
        // Nagle's algorithm would hold small frames (and the handshake) back ~40 ms.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        let router = router.clone();
        let header_timeout = if ticket.reserve { tracker.limits.reserve_header_timeout } else { tracker.limits.header_timeout };
        tokio::spawn(async move {
            let reserve = ticket.reserve;
            let io = TokioIo::new(Counted { tcp, _ticket: ticket });
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                // What `into_make_service_with_connect_info` did: handlers find the peer here.
                req.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move {
                    if reserve && (req.uri().path().starts_with("/socket.io") || req.headers().contains_key(header::UPGRADE)) {
                        return Ok::<_, Infallible>(busy());
                    }
                    router.oneshot(req.map(Body::new)).await
                }
            });
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(!reserve);
            let mut signal_closed = pin!(signal_tx.closed());
            // Two connection types (with and without upgrades), one way to drive them.
            macro_rules! drive {
                ($conn:expr) => {{
                    let mut conn = pin!($conn);
                    let mut shutting_down = false;
                    loop {
                        tokio::select! {
                            result = conn.as_mut() => {
                                if let Err(e) = result {
                                    tracing::trace!(error = %e, "connection ended");
                                }
                                break;
                            }
                            () = &mut signal_closed, if !shutting_down => {
                                shutting_down = true;
                                conn.as_mut().graceful_shutdown();
                            }
                        }
                    }
                }};
            }
            if reserve {
                drive!(builder.serve_connection(io, service));
            } else {
                drive!(builder.serve_connection(io, service).with_upgrades());
            }
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
    Ok(())
}

/// The answer to a websocket or Socket.IO request on a reserve connection.
fn busy() -> Response<Body> {
    let mut r = Response::new(Body::from("the server is busy; try again"));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    r
}

/// Errors of one connection (it was reset before accept) are skipped; others
/// (out of files) are logged and retried after a pause, as `axum::serve` did.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The key of the per-address cap: an IPv4 address, or an IPv6 /64 (one
/// host usually has a whole /64).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

#[derive(Default)]
struct Counts {
    normal: usize,
    reserve: usize,
    by_address: HashMap<IpAddr, usize>,
}

struct Tracker {
    limits: ConnLimits,
    counts: Mutex<Counts>,
}

impl Tracker {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        let key = address_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let held = counts.by_address.get(&key).copied().unwrap_or(0);
        if self.limits.per_address > 0 && held >= self.limits.per_address {
            return None;
        }
        let reserve = if counts.normal < self.limits.max {
            counts.normal += 1;
            false
        } else if counts.reserve < self.limits.reserve && held < RESERVE_HELD_MAX.max(self.limits.max / 100) {
            counts.reserve += 1;
            true
        } else {
            return None;
        };
        *counts.by_address.entry(key).or_insert(0) += 1;
        Some(Ticket { tracker: self.clone(), key, reserve })
    }
}

/// One admitted connection; dropping it frees its place.
struct Ticket {
    tracker: Arc<Tracker>,
    key: IpAddr,
    reserve: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.tracker.counts.lock().unwrap_or_else(|e| e.into_inner());
        if self.reserve {
            counts.reserve -= 1;
        } else {
            counts.normal -= 1;
        }
        if let Some(n) = counts.by_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.by_address.remove(&self.key);
            }
        }
    }
}

/// A TCP stream that holds its ticket until it is dropped (after an upgrade,
/// with the websocket).
struct Counted {
    tcp: TcpStream,
    _ticket: Ticket,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(max: usize, per_address: usize, reserve: usize) -> Arc<Tracker> {
        let d = Duration::from_secs(1);
        let limits = ConnLimits { max, per_address, reserve, header_timeout: d, reserve_header_timeout: d };
        Arc::new(Tracker { limits, counts: Mutex::new(Counts::default()) })
    }

    #[test]
    fn past_the_cap_connections_go_to_the_reserve_and_then_are_refused() {
        let t = tracker(2, 0, 1);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = t.admit(ip).unwrap();
        let _b = t.admit(ip).unwrap();
        let c = t.admit(ip).unwrap();
        assert!(!a.reserve && c.reserve);
        assert!(t.admit("127.0.0.9".parse().unwrap()).is_none(), "the reserve is full");
        drop(a);
        assert!(!t.admit(ip).unwrap().reserve, "a freed place is a normal one again");
    }

    #[test]
    fn the_address_that_filled_the_server_gets_no_place_in_the_reserve() {
        let t = tracker(RESERVE_HELD_MAX, 0, 8);
        let filler: IpAddr = "127.0.0.2".parse().unwrap();
        let _held: Vec<_> = (0..RESERVE_HELD_MAX).map(|_| t.admit(filler).unwrap()).collect();
        assert!(t.admit(filler).is_none());
        assert!(t.admit("127.0.0.1".parse().unwrap()).is_some_and(|r| r.reserve));
    }

    #[test]
    fn one_address_is_capped_while_another_still_connects() {
        let t = tracker(10, 2, 0);
        let one: IpAddr = "127.0.0.2".parse().unwrap();
        let _held = (t.admit(one).unwrap(), t.admit(one).unwrap());
        assert!(t.admit(one).is_none());
        assert!(t.admit("127.0.0.3".parse().unwrap()).is_some());
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_cap() {
        let a = address_key("2001:db8::1".parse().unwrap());
        assert_eq!(a, address_key("2001:db8::ffff:2".parse().unwrap()));
        assert_ne!(a, address_key("2001:db8:0:1::1".parse().unwrap()));
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
