//! How the link connects: a standalone server (redis-rs's connection
//! manager), a Cluster (its cluster connection), or the primary a Sentinel
//! names; all multiplexed and reconnecting by themselves.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::config::RedisSettings;
use crate::state::redis::sentinel::Primary;

/// Either kind of connection, as one `ConnectionLike`.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    /// No primary found through Sentinel yet: every call fails at once.
    Unfound,
}

pub(super) fn unfound<T>() -> RedisFuture<'static, T> {
    Box::pin(async {
        Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "no primary found through Sentinel yet",
        )))
    })
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Unfound => unfound(),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Unfound => unfound(),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Unfound => 0,
        }
    }
}

/// Makes a connection (again).
pub(super) type Connect = Box<dyn Fn() -> Result<Conn, RedisError> + Send + Sync>;

/// Connections for commits that wait for replicas (with `replicas_ack`).
const ACKED_CONNECTIONS: usize = 16;

/// The connection every call shares, and with `replicas_ack` those that
/// commits waiting for replicas take turns on.
pub struct Conns {
    pub(super) main: Conn,
    pub(super) acked: Vec<Conn>,
}

pub(super) fn connect_all(connect: &Connect, replicas_ack: u32) -> Result<Conns, RedisError> {
    let acked = if replicas_ack == 0 {
        Vec::new()
    } else {
        (0..ACKED_CONNECTIONS)
            .map(|_| connect())
            .collect::<Result<_, _>>()?
    };
    Ok(Conns {
        main: connect()?,
        acked,
    })
}

/// TLS files for `rediss://` (a private CA, a client certificate).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: Option<Vec<u8>>,
    pub client_cert: Option<Vec<u8>>,
    pub client_key: Option<Vec<u8>>,
}

impl TlsFiles {
    pub(in crate::state::redis) fn certificates(&self) -> Option<redis::TlsCertificates> {
        if self.ca.is_none() && self.client_cert.is_none() {
            return None;
        }
        Some(redis::TlsCertificates {
            client_tls: match (&self.client_cert, &self.client_key) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
                _ => None,
            },
            root_cert: self.ca.clone(),
        })
    }
}

/// How to connect to `settings`' Redis, without connecting yet; and with
/// Sentinel, the primary to follow.
pub(super) fn connector(
    settings: &RedisSettings,
    tls: &TlsFiles,
) -> Result<(Connect, Option<Arc<Primary>>), RedisError> {
    let timeout = settings.timeout;
    // Connecting may take longer than one call: a TLS handshake, or a
    // Cluster's slot map. Calls are bounded by `timeout` regardless.
    let connect_timeout = (timeout * 4).max(Duration::from_secs(1));
    let manager = ConnectionManagerConfig::new()
        .set_response_timeout(Some(timeout))
        .set_connection_timeout(Some(connect_timeout))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(2));
    if let Some(s) = &settings.sentinel {
        let primary = Arc::new(Primary::new(s, tls)?);
        let found = primary.clone();
        let connect: Connect = Box::new(move || {
            Ok(match found.client() {
                Some(client) => Conn::Single(ConnectionManager::new_lazy_with_config(
                    client,
                    manager.clone(),
                )?),
                None => Conn::Unfound,
            })
        });
        return Ok((connect, Some(primary)));
    }
    let connect: Connect = if settings.cluster_nodes.is_empty() {
        let client = match tls.certificates() {
            Some(certs) => redis::Client::build_with_tls(settings.url.as_str(), certs)?,
            None => redis::Client::open(settings.url.as_str())?,
        };
        Box::new(move || {
            Ok(Conn::Single(ConnectionManager::new_lazy_with_config(
                client.clone(),
                manager.clone(),
            )?))
        })
    } else {
        let mut builder = ClusterClientBuilder::new(settings.cluster_nodes.clone())
            .connection_timeout(connect_timeout)
            .response_timeout(timeout)
            .retries(4)
            .min_retry_wait(20)
            .max_retry_wait(500);
        if let Some(certs) = tls.certificates() {
            builder = builder.certs(certs);
        }
        let client = builder.build()?;
        Box::new(move || {
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(connect_timeout)
                .set_response_timeout(timeout);
            Ok(Conn::Cluster(
                client.get_pending_async_connection_with_config(config),
            ))
        })
    };
    Ok((connect, None))
}
