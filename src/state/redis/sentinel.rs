//! A primary found through Redis Sentinel, and followed across failovers.
//!
//! redis-rs's `SentinelClient` asks the Sentinels where the primary of a
//! name is and checks that it says it is one (`ROLE`). The link asks again
//! every second, and at once when a call fails or finds a replica
//! (`READONLY`): Sentinel, after a failover, closes the old primary's client
//! connections, and a connection manager that reconnects to the old address
//! would write to a replica (or to nobody) from then on.

use std::time::Duration;

use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, ConnectionAddr, IntoConnectionInfo, RedisResult, TlsMode};
use tokio::sync::Notify;

use super::conn::TlsFiles;
use crate::config::SentinelSettings;

/// How often the Sentinels are asked while all is well.
pub(super) const ASK_EVERY: Duration = Duration::from_secs(1);
/// At most this often when calls keep failing.
pub(super) const ASK_AT_MOST: Duration = Duration::from_millis(100);

pub struct Primary {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// The primary as last found (a client with its credentials and TLS).
    found: std::sync::Mutex<Option<Client>>,
    wake: Notify,
}

impl Primary {
    pub fn new(s: &SentinelSettings, tls: &TlsFiles) -> RedisResult<Primary> {
        let mut addrs = Vec::new();
        let mut auth = None;
        for url in &s.sentinels {
            let info = url.as_str().into_connection_info()?;
            auth.get_or_insert_with(|| info.redis_settings().clone());
            addrs.push(info.addr().clone());
        }
        let tls_mode = addrs.iter().find_map(|a| match a {
            ConnectionAddr::TcpTls { insecure: true, .. } => Some(TlsMode::Insecure),
            ConnectionAddr::TcpTls { .. } => Some(TlsMode::Secure),
            _ => None,
        });
        let mut b =
            SentinelClientBuilder::new(addrs, s.master.as_str(), SentinelServerType::Master)?
                .set_client_to_redis_db(s.db);
        if let Some(auth) = &auth {
            if let Some(u) = auth.username() {
                b = b.set_client_to_sentinel_username(u);
            }
            if let Some(p) = auth.password() {
                b = b.set_client_to_sentinel_password(p);
            }
        }
        if let Some(u) = &s.username {
            b = b.set_client_to_redis_username(u);
        }
        if let Some(p) = &s.password {
            b = b.set_client_to_redis_password(p);
        }
        if let Some(mode) = tls_mode {
            b = b.set_client_to_redis_tls_mode(mode);
            if let Some(certs) = tls.certificates() {
                b = b
                    .set_client_to_sentinel_certificates(certs.clone())
                    .set_client_to_redis_certificates(certs);
            }
        }
        Ok(Primary {
            sentinels: tokio::sync::Mutex::new(b.build()?),
            found: std::sync::Mutex::new(None),
            wake: Notify::new(),
        })
    }

    /// The primary as last found.
    pub fn client(&self) -> Option<Client> {
        self.found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// `host:port` of the primary as last found.
    pub fn address(&self) -> Option<String> {
        self.client()
            .map(|c| c.get_connection_info().addr().to_string())
    }

    /// Forgets the primary found (it could not be connected to): the next
    /// look connects anew even if the Sentinels name the same.
    pub fn forget(&self) {
        *self
            .found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Asks the Sentinels again now (a call failed, or found a replica).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Asks the Sentinels where the primary is: `Some(address)` when it is
    /// not where it was (and from now on `client` gives the new one).
    pub async fn look(&self) -> RedisResult<Option<String>> {
        let client = self.sentinels.lock().await.async_get_client().await?;
        let address = client.get_connection_info().addr().to_string();
        if self.address().as_deref() == Some(address.as_str()) {
            return Ok(None);
        }
        *self
            .found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(client);
        Ok(Some(address))
    }
}
