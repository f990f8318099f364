//! The gRPC edge: wiring of the coordinator, health and reflection services,
//! the metrics endpoint and the sweeper, and graceful shutdown.

mod app;
mod convert;
mod delivery;
mod flights;
mod hot_path;
mod jobs;
mod observe;
mod overload;
mod pauses;
pub mod reload;
pub mod retry_after;
mod service;
mod status;
pub mod validate;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::config::{BackendSettings, Config, RedisSettings};
use crate::error_chain::error_chain;
use crate::metrics::{self, Metrics};
use crate::pb;
use crate::pb::retry_coordinator_server::RetryCoordinatorServer;
use crate::state::{State, StateGuard, TlsFiles};
pub use app::{App, now};

/// Largest request accepted: room for a 64 KiB error message (which
/// validation then names) and then some, but no unbounded allocation.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The settings of `RetryCoordinator`'s calls, in one list that both the
/// generated service and the hot path (`hot_path`, which answers
/// `ReportFailure` before the router) are given: a setting added here
/// applies to both, or to neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallSettings {
    /// Largest request decoded.
    pub max_request_bytes: usize,
    /// Largest response encoded (`None`: tonic's default, no limit).
    pub max_response_bytes: Option<usize>,
}

impl CallSettings {
    pub const SERVED: CallSettings = CallSettings {
        max_request_bytes: MAX_REQUEST_BYTES,
        max_response_bytes: None,
    };

    /// The generated service with these settings. (Compression stays off:
    /// neither path accepts or sends it.)
    fn service(
        self,
        coordinator: service::Coordinator,
    ) -> RetryCoordinatorServer<service::Coordinator> {
        let s = RetryCoordinatorServer::new(coordinator)
            .max_decoding_message_size(self.max_request_bytes);
        match self.max_response_bytes {
            Some(n) => s.max_encoding_message_size(n),
            None => s,
        }
    }

    /// tonic's unary handling for the hot path, with the same settings.
    pub fn grpc<C: tonic::codec::Codec>(self, codec: C) -> tonic::server::Grpc<C> {
        tonic::server::Grpc::new(codec)
            .apply_max_message_size_config(Some(self.max_request_bytes), self.max_response_bytes)
    }
}

/// HTTP/2 streams one connection may have open at once.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("metrics server: {0}")]
    Metrics(#[from] std::io::Error),
    #[error("server task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Snapshot(#[from] crate::state::SnapshotError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Backend(String),
}

/// A memory-backed `App` of `config_toml`, for the edge's unit tests.
#[cfg(test)]
pub(crate) fn test_app(config_toml: &str) -> Arc<App> {
    let config = Config::from_toml(config_toml).expect("test configuration");
    let engine = config.engine();
    let state = State::memory(
        config.limits.clone(),
        config.batch_limits.clone(),
        config.delivery.clone(),
        &engine,
        Vec::new(),
    );
    Arc::new(App {
        engine: Arc::new(arc_swap::ArcSwap::from_pointee(engine)),
        state: Arc::new(state),
        metrics: Arc::new(Metrics::new("test")),
        admin_token: None,
        events: Arc::default(),
        shutdown: CancellationToken::new(),
        delivery: config.delivery.clone(),
        flights: Default::default(),
    })
}

/// The `fleet` label of every metric: the fleet's state (`prefix@host:port`
/// of its Redis) in fleet mode; in memory mode the sidecar itself
/// (`host:port`, host being the pod's name on Kubernetes).
fn fleet_label(config: &Config, grpc_addr: SocketAddr) -> String {
    match &config.backend {
        BackendSettings::Memory => {
            let host = std::env::var("HOSTNAME")
                .ok()
                .filter(|h| !h.trim().is_empty())
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|| "localhost".into());
            format!("{host}:{}", grpc_addr.port())
        }
        BackendSettings::Redis(r) => {
            let first = if r.cluster_nodes.is_empty() {
                r.url.clone()
            } else {
                let mut nodes = r.cluster_nodes.clone();
                nodes.sort();
                nodes.swap_remove(0)
            };
            format!("{}@{}", r.key_prefix, crate::config::redis_host(&first))
        }
    }
}

/// The `[state.redis] tls_*` files, read now: a missing one stops the start
/// and is named.
fn redis_tls(r: &RedisSettings) -> Result<TlsFiles, ServeError> {
    let read = |key: &str, path: &Option<std::path::PathBuf>| {
        path.as_ref()
            .map(|p| {
                std::fs::read(p).map_err(|e| {
                    ServeError::Backend(format!("state.redis.{key} {}: {e}", p.display()))
                })
            })
            .transpose()
    };
    Ok(TlsFiles {
        ca: read("tls_ca", &r.tls_ca)?,
        client_cert: read("tls_cert", &r.tls_cert)?,
        client_key: read("tls_key", &r.tls_key)?,
    })
}

/// At start: a Redis whose keys hold another layout stops the start; one
/// that does not answer yet is only logged (retryd serves, as
/// `on_unavailable` says, until it does).
async fn fleet_check(state: &State, r: &RedisSettings) -> Result<(), ServeError> {
    if !state.is_fleet() {
        return Ok(());
    }
    match state.ready().await {
        Ok(()) => {
            tracing::info!(backend = %r.describe(), key_prefix = %r.key_prefix, "fleet state in Redis");
            Ok(())
        }
        Err(e) if !state.backend_up() => {
            tracing::warn!(
                backend = %r.describe(),
                error = %e,
                "fleet state not reachable yet: serving, and connecting in the background"
            );
            Ok(())
        }
        Err(e) => Err(ServeError::Backend(e.to_string())),
    }
}

/// Follows the backend's health: `retryd_backend_up`, and with
/// `on_unavailable = "reject"` the coordinator's health (NOT_SERVING while
/// Redis does not answer), until shutdown.
async fn fleet_health(
    mut up: tokio::sync::watch::Receiver<bool>,
    rejects: bool,
    health: tonic_health::server::HealthReporter,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        let now_up = *up.borrow_and_update();
        metrics.backend_up(now_up);
        if rejects && !shutdown.is_cancelled() {
            if now_up {
                health
                    .set_serving::<RetryCoordinatorServer<service::Coordinator>>()
                    .await;
            } else {
                health
                    .set_not_serving::<RetryCoordinatorServer<service::Coordinator>>()
                    .await;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = up.changed() => if changed.is_err() { return },
        }
    }
}

/// The rustls configuration of `[server] tls_*`; errors name the file.
fn tls_config(t: &crate::config::TlsSettings) -> Result<ServerTlsConfig, ServeError> {
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| ServeError::Tls(format!("{key} {}: {e}", path.display())))
    };
    let identity = Identity::from_pem(read("tls_cert", &t.cert)?, read("tls_key", &t.key)?);
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &t.client_ca {
        config = config.client_ca_root(Certificate::from_pem(read("tls_client_ca", ca)?));
    }
    Ok(config)
}

/// A started sidecar: its addresses, a handle to stop it, and its tasks.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub health_addr: Option<SocketAddr>,
    pub app: Arc<App>,
    shutdown: CancellationToken,
    grace: Duration,
    grpc: JoinHandle<Result<(), ServeError>>,
    health: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    metrics: JoinHandle<std::io::Result<()>>,
    /// The state's background work (sweeper, snapshots).
    state: StateGuard,
}

impl Running {
    /// A token that stops the servers when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, lets in-flight calls finish, and waits for every task.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the servers stop (after the shutdown token is cancelled).
    pub async fn wait(mut self) -> Result<(), ServeError> {
        let grace = self.grace;
        let shutdown = self.shutdown.clone();
        let grace_over = async move {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        };
        let grpc = tokio::select! {
            r = &mut self.grpc => r,
            _ = grace_over => {
                // A client that never completes the graceful close must not
                // keep the pod from stopping.
                tracing::warn!(grace = %crate::engine::Human(grace), "shutdown grace period over: closing the connections still open");
                self.grpc.abort();
                Ok(Ok(()))
            }
        };
        // Should the gRPC server stop on its own, take the rest down with it.
        self.shutdown.cancel();
        if let Some(health) = self.health.take() {
            // Only probes use it; nothing there is worth waiting for.
            health.abort();
            let _ = health.await;
        }
        let metrics = self.metrics.await;
        // Every call has finished: the last snapshot is the state to come back to.
        self.state.close().await?;
        grpc??;
        metrics??;
        Ok(())
    }
}

/// The sockets retryd serves on.
pub struct Listeners {
    /// The API, health and reflection (pod-local by default).
    pub grpc: TcpListener,
    /// Prometheus `/metrics`.
    pub metrics: TcpListener,
    /// Only `grpc.health.v1.Health`: for kubelet's gRPC probes, which come
    /// from outside the pod, while the API itself stays on 127.0.0.1.
    pub health: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses of `config`; an error names the setting.
    pub async fn bind(config: &Config) -> Result<Listeners, String> {
        let bind = |addr: SocketAddr, key: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} ({key}): {e}"))
        };
        Ok(Listeners {
            grpc: bind(config.grpc_addr, "grpc_addr").await?,
            metrics: bind(config.metrics_addr, "metrics_addr").await?,
            health: match config.health_addr {
                Some(addr) => Some(bind(addr, "health_addr").await?),
                None => None,
            },
        })
    }
}

/// Starts serving on already-bound listeners (port 0 works: the addresses
/// actually bound are in `Running`).
pub async fn start(config: Config, listeners: Listeners) -> Result<Running, ServeError> {
    let Listeners {
        grpc,
        metrics: metrics_listener,
        health: health_listener,
    } = listeners;
    let grpc_addr = grpc.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;
    let health_addr = health_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let shutdown = CancellationToken::new();
    let config_grace = config.shutdown_grace;
    let config_snapshot = config.snapshot.clone();

    let configured_types: Vec<String> = config
        .policies
        .job_types()
        .map(|(t, _)| t.to_string())
        .collect();
    let fleet = fleet_label(&config, grpc_addr);
    let engine = config.engine();
    let (state, metrics) = match &config.backend {
        BackendSettings::Memory => (
            State::memory(
                config.limits.clone(),
                config.batch_limits.clone(),
                config.delivery.clone(),
                &engine,
                configured_types,
            ),
            Arc::new(Metrics::new(&fleet)),
        ),
        BackendSettings::Redis(r) => {
            let metrics = Arc::new(Metrics::new(&fleet).with_backend_up());
            let state = State::redis(
                r,
                &redis_tls(r)?,
                config.limits.clone(),
                config.batch_limits.clone(),
                config.delivery.clone(),
                &engine,
                configured_types,
                metrics.clone(),
            )
            .map_err(|e| ServeError::Backend(e.to_string()))?;
            fleet_check(&state, r).await?;
            (state, metrics)
        }
    };
    let state = Arc::new(state);
    let (events, fleet_events) = if state.is_fleet() {
        let (outbox, link) = crate::events::fleet::outbox();
        (
            crate::events::Events::with_outbox(outbox, link.watched.clone()),
            Some(link),
        )
    } else {
        (crate::events::Events::default(), None)
    };
    let events = Arc::new(events);
    let app = Arc::new(App {
        engine: Arc::new(arc_swap::ArcSwap::from_pointee(engine)),
        state: state.clone(),
        metrics: metrics.clone(),
        admin_token: config.admin_token.clone(),
        events: events.clone(),
        shutdown: shutdown.clone(),
        delivery: config.delivery.clone(),
        flights: Default::default(),
    });
    if let Some(link) = fleet_events {
        tokio::spawn(link.run(state.clone(), events.clone(), shutdown.clone()));
    }
    tokio::spawn(pauses::keep_pauses(app.clone(), shutdown.clone()));
    let state_guard = state
        .clone()
        .start(
            app.engine.clone(),
            config_snapshot,
            Arc::new(delivery::Background(app.clone())),
        )
        .await?;

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<RetryCoordinatorServer<service::Coordinator>>()
        .await;
    if let Some(health_of_backend) = state.backend_health() {
        tokio::spawn(fleet_health(
            health_of_backend,
            state.rejects_when_down(),
            health.clone(),
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let coordinator = CallSettings::SERVED.service(service::Coordinator::new(app.clone()));
    let hot_path =
        hot_path::HotPathLayer::new(service::Coordinator::new(app.clone()), CallSettings::SERVED);

    let health_task = health_listener.map(|listener| {
        let service = health_service.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    TcpIncoming::from(listener),
                    shutdown.cancelled_owned(),
                )
                .await
        })
    });

    let mut grpc_builder = Server::builder();
    if let Some(t) = &config.tls {
        // A certificate or key that does not parse fails here, before serving.
        grpc_builder = grpc_builder.tls_config(tls_config(t)?).map_err(|e| {
            ServeError::Tls(format!(
                "{} / {}: {}",
                t.cert.display(),
                t.key.display(),
                error_chain(&e)
            ))
        })?;
    }
    let tls_on = config.tls.is_some();
    let max_in_flight = config.max_in_flight;
    let shed = metrics.shed_counter();
    let incoming = TcpIncoming::from(grpc).with_nodelay(Some(true));
    let grpc_task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let signal = async {
                shutdown.cancelled().await;
                // Probes see NOT_SERVING while in-flight calls drain.
                health
                    .set_not_serving::<RetryCoordinatorServer<service::Coordinator>>()
                    .await;
            };
            grpc_builder
                // Bounded queued work per connection.
                .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
                .layer(overload::ShedLayer::new(max_in_flight, shed))
                .layer(hot_path)
                .add_service(health_service)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha)
                .add_service(coordinator)
                .serve_with_incoming_shutdown(incoming, signal)
                .await?;
            Ok(())
        })
    };
    let read_gauges: metrics::ReadGauges = {
        let state = state.clone();
        Arc::new(move || {
            let state = state.clone();
            Box::pin(async move {
                state
                    .gauges()
                    .await
                    .map_err(|e| tracing::warn!(error = %e, "metrics: the state's gauges could not be read; they keep their last values"))
                    .ok()
            })
        })
    };
    let metrics_task = tokio::spawn(metrics::serve(
        metrics_listener,
        metrics.clone(),
        read_gauges,
        shutdown.clone(),
    ));
    tracing::info!(
        grpc = %grpc_addr,
        metrics = %metrics::url(metrics_addr),
        health = health_addr.map(|a| a.to_string()),
        tls = tls_on,
        "retryd serving"
    );
    Ok(Running {
        grpc_addr,
        metrics_addr,
        health_addr,
        health: health_task,
        app,
        shutdown,
        grace: config_grace,
        grpc: grpc_task,
        metrics: metrics_task,
        state: state_guard,
    })
}
