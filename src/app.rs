//! Wiring: `App::build(settings)` puts store, chat, HTTP and Socket.IO
//! together; `App::run(shutdown)` serves until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use socketioxide::SocketIo;
use tokio::net::TcpListener;

use crate::chat::{Chat, Cluster};
use crate::cluster::RedisCluster;
use crate::config::Settings;
use crate::domain::{Clock, SystemClock};
use crate::wire::request::{HostPolicy, OriginPolicy};
use crate::http::serve::ConnLimits;
use crate::http::{AppState, WebConfig};
use crate::realtime::{self, SocketNotifier};
use crate::store::{self, Store};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("redis: {0}")]
    Cluster(#[from] crate::chat::ClusterError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub struct App {
    listener: TcpListener,
    /// `--metrics-bind`: a listener that serves only `/metrics`, without a token.
    metrics_listener: Option<TcpListener>,
    limits: ConnLimits,
    router: axum::Router,
    io: SocketIo,
    store: Arc<dyn Store>,
    chat: Chat,
}

impl App {
    /// Opens (and migrates) the database and binds the listener. Port 0 picks a free port.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let store = store::open(&settings.database_url).await?;
        let cluster: Option<Arc<dyn Cluster>> = match &settings.redis_url {
            Some(url) => Some(RedisCluster::connect(url, &settings.redis_prefix).await?),
            None => None,
        };
        let listener = TcpListener::bind(settings.bind)
            .await
            .map_err(|source| StartError::Bind { addr: settings.bind, source })?;
        let metrics_listener = match settings.metrics_bind {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?),
            None => None,
        };
        let mut app = Self::with_parts(settings, store, cluster, listener, Arc::new(SystemClock));
        app.metrics_listener = metrics_listener;
        Ok(app)
    }

    /// Builds from parts the caller made (tests choose the store, listener and clock).
    pub fn with_parts(
        settings: Settings,
        store: Arc<dyn Store>,
        cluster: Option<Arc<dyn Cluster>>,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (io_layer, io) = realtime::layer(&settings.realtime_config());
        let notifier = Arc::new(SocketNotifier::new(io.clone()));
        let incoming = cluster.as_ref().and_then(|c| c.incoming());
        let chat = Chat::new(store.clone(), notifier, cluster, clock, settings.chat_config());
        chat.start_session_checks();
        if let Some(mut incoming) = incoming {
            let chat = chat.clone();
            tokio::spawn(async move {
                while let Some(msg) = incoming.recv().await {
                    chat.on_cluster_message(msg).await;
                }
            });
        }
        let origins = Arc::new(OriginPolicy::new(settings.allowed_origins.clone(), settings.secure_cookies, settings.trust_proxy));
        let hosts = Arc::new(HostPolicy::new(&settings.allowed_hosts, &settings.allowed_origins, settings.bind.ip()));
        realtime::register(&io, chat.clone(), origins.clone());
        let gate = realtime::gate::Gate::new(chat.clone(), origins.clone(), &settings.realtime_config());
        let web = WebConfig {
            secure_cookies: settings.secure_cookies,
            trust_proxy: settings.trust_proxy,
            origins,
            session_ttl: settings.chat_config().session_ttl,
            metrics: prometheus(),
            metrics_token: settings.metrics_token.clone().filter(|t| !t.is_empty()),
        };
        // Outermost first: the gate refuses a handshake before the Socket.IO
        // layer creates anything for it.
        let router = crate::http::router(AppState { chat: chat.clone(), web: Arc::new(web) })
            .layer(io_layer)
            .layer(axum::middleware::from_fn_with_state(gate, realtime::gate::gate))
            .layer(axum::middleware::from_fn_with_state(hosts, crate::http::check_host))
            // Outside the Socket.IO layer too: its polling answers carry them.
            .layer(axum::middleware::from_fn(crate::http::security_headers));
        let limits = ConnLimits {
            max: settings.max_connections.unwrap_or_else(ConnLimits::default_max).max(1),
            per_address: settings.max_connections_per_address,
            reserve: settings.connection_reserve,
            header_timeout: Duration::from_millis(settings.header_timeout_ms.max(100)),
            reserve_header_timeout: Duration::from_millis(settings.reserve_header_timeout_ms.max(100)),
        };
        Self { listener, metrics_listener: None, limits, router, io, store, chat }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of `--metrics-bind`, if set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn chat(&self) -> &Chat {
        &self.chat
    }

    /// Serves until `shutdown` resolves. Then it stops accepting connections,
    /// closes every socket's transport (clients see the connection drop, as
    /// when a server goes away, and reconnect by themselves), records each
    /// user's `last_seen` (on a single instance they stay online for the next
    /// start's grace, else they go offline), finishes in-flight requests and
    /// closes the database.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Self { listener, metrics_listener, limits, router, io, store, chat } = self;
        // Before the first connection is accepted: who was online at the last stop.
        chat.resume_presence().await;
        let metrics_router = crate::http::ops::metrics_only(prometheus(), chat.clone());
        let (stopping, stop) = tokio::sync::oneshot::channel::<()>();
        // Starts as the accept loop stops accepting: a client that reconnects at once
        // finds the port closed until the next start, not a server that is
        // going away.
        let closing = tokio::spawn(async move {
            if stop.await.is_err() {
                return; // serving failed; nothing to close
            }
            tracing::info!("shutting down: closing sockets");
            chat.carry_presence_over().await;
            // Close the transports, not the Socket.IO namespace: a namespace
            // disconnect ("io server disconnect") tells Socket.IO clients they
            // were sent away on purpose, and they would not reconnect. This
            // runs no disconnect handler, so the chat closes each connection
            // itself; sockets still being set up register a moment later.
            io.close().await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                chat.disconnect_all().await;
                chat.drained(Duration::from_millis(100)).await;
                if chat.connection_count() == 0 || tokio::time::Instant::now() >= deadline {
                    break;
                }
            }
            // A socket that closed by itself just before the stop may still
            // be writing its `last_seen`, and the store closes next.
            chat.drained(Duration::from_secs(5)).await;
        });
        let graceful = async move {
            shutdown.await;
            // Fails only if the closing task is gone, and it waits for this.
            let _ = stopping.send(());
        };
        let metrics_server = metrics_listener.map(|l| {
            let (stop_metrics, stopped) = tokio::sync::oneshot::channel::<()>();
            let served = crate::http::serve::serve(l, metrics_router, limits.clone(), async {
                let _ = stopped.await;
            });
            (stop_metrics, tokio::spawn(served))
        });
        let served = crate::http::serve::serve(listener, router, limits, graceful).await;
        if let Some((stop_metrics, task)) = metrics_server {
            // Fails only if the metrics server already ended; its end is reported below.
            let _ = stop_metrics.send(());
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "the metrics address stopped serving"),
                Err(e) => tracing::warn!(error = %e, "the metrics server failed"),
            }
        }
        if let Err(e) = closing.await {
            tracing::warn!(error = %e, "closing the sockets failed");
        }
        store.close().await;
        tracing::info!("stopped");
        served
    }
}

/// The Prometheus recorder. The `metrics` facade is process-wide by design, so
/// every `App` in a process (tests start many) shares one.
fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("parley_http_request_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}
