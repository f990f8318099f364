//! Reaching a sidecar: the address, TLS, the admin token, and the errors a
//! client command ends with.

use thiserror::Error;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::ClientArgs;
use crate::error_chain::error_chain;
use crate::metrics::code_name;
use crate::pb::retry_coordinator_client::RetryCoordinatorClient;

#[derive(Debug, Error)]
pub enum CliError {
    #[error("invalid --addr {addr:?}: {why}")]
    Addr { addr: String, why: String },
    #[error("cannot reach retryd at {addr}: {why}")]
    Unreachable { addr: String, why: String },
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(#[from] tonic::Status),
    #[error("{0}")]
    Usage(String),
}

/// Connects to the sidecar at `addr` (`host:port` or a URL).
pub async fn connect(args: &ClientArgs) -> Result<RetryCoordinatorClient<Channel>, CliError> {
    let tls = args.tls_ca.is_some() || args.addr.starts_with("https://");
    let url = if args.addr.contains("://") {
        args.addr.clone()
    } else if tls {
        format!("https://{}", args.addr)
    } else {
        format!("http://{}", args.addr)
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| CliError::Addr {
            addr: args.addr.clone(),
            why: e.to_string(),
        })?
        .connect_timeout(args.timeout)
        .timeout(args.timeout);
    if tls {
        endpoint = endpoint
            .tls_config(client_tls(args)?)
            .map_err(|e| CliError::Usage(format!("TLS: {}", error_chain(&e))))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| CliError::Unreachable {
            addr: url,
            why: error_chain(&e),
        })?;
    Ok(RetryCoordinatorClient::new(channel))
}

/// The CA to trust (required: no system roots are built in), the name to
/// check, and the client certificate if one is given.
fn client_tls(args: &ClientArgs) -> Result<ClientTlsConfig, CliError> {
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| CliError::Usage(format!("{flag} {}: {e}", path.display())))
    };
    let ca = args.tls_ca.as_deref().ok_or_else(|| {
        CliError::Usage("an https:// address needs --tls-ca (the CA certificate to trust)".into())
    })?;
    let mut config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("--tls-ca", ca)?));
    if let Some(domain) = &args.tls_domain {
        config = config.domain_name(domain.clone());
    }
    if let (Some(cert), Some(key)) = (&args.tls_client_cert, &args.tls_client_key) {
        config = config.identity(Identity::from_pem(
            read("--tls-client-cert", cert)?,
            read("--tls-client-key", key)?,
        ));
    }
    Ok(config)
}

/// A request carrying the admin token, if one was given.
pub(super) fn admin<T>(args: &ClientArgs, message: T) -> Result<tonic::Request<T>, CliError> {
    let mut req = tonic::Request::new(message);
    if let Some(token) = &args.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| CliError::Usage("--token: not a valid header value".into()))?;
        req.metadata_mut().insert("authorization", value);
    }
    Ok(req)
}
