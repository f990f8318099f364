//! The servers a measurement starts: retryd and the echo service, as
//! child processes on free 127.0.0.1 ports, stopped when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Server;

use crate::bench_pb::echo_server::{Echo, EchoServer};
use crate::bench_pb::{EchoRequest, EchoResponse};
use crate::{Error, SpawnOpts};

/// A child process killed when dropped.
pub(crate) struct ChildGuard(pub(crate) Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> Result<SocketAddr, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

pub(crate) fn sibling(name: &str) -> Result<PathBuf, Error> {
    Ok(std::env::current_exe()?.with_file_name(name))
}

pub(crate) fn spawn_retryd(opts: &SpawnOpts) -> Result<(ChildGuard, SocketAddr), Error> {
    spawn_retryd_with(opts, opts.config.as_deref())
}

pub(crate) fn spawn_retryd_with(
    opts: &SpawnOpts,
    config: Option<&std::path::Path>,
) -> Result<(ChildGuard, SocketAddr), Error> {
    spawn_retryd_under(opts, config, &[])
}

/// retryd started as the last arguments of `wrapper` (e.g. valgrind and
/// its options), or directly if `wrapper` is empty.
pub(crate) fn spawn_retryd_under(
    opts: &SpawnOpts,
    config: Option<&std::path::Path>,
    wrapper: &[String],
) -> Result<(ChildGuard, SocketAddr), Error> {
    let bin = match &opts.retryd_bin {
        Some(b) => b.clone(),
        None => sibling("retryd")?,
    };
    let addr = free_port()?;
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&bin);
            c
        }
        None => Command::new(&bin),
    };
    cmd.args([
        "--grpc-addr",
        &addr.to_string(),
        "--metrics-addr",
        "127.0.0.1:0",
        "--log",
        "warn",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    Ok((ChildGuard(child), addr))
}

pub(crate) fn spawn_echo() -> Result<(ChildGuard, SocketAddr), Error> {
    spawn_echo_under(&[])
}

/// The echo server started under `wrapper`, as `spawn_retryd_under`.
pub(crate) fn spawn_echo_under(wrapper: &[String]) -> Result<(ChildGuard, SocketAddr), Error> {
    let addr = free_port()?;
    let me = std::env::current_exe()?;
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(&me);
            c
        }
        None => Command::new(&me),
    };
    let child = cmd
        .args(["echo-server", "--addr", &addr.to_string()])
        .stdout(Stdio::null())
        .spawn()?;
    Ok((ChildGuard(child), addr))
}

pub(crate) async fn wait_ready(addr: SocketAddr) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("nothing listens on {addr} after 20s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(
        &self,
        r: tonic::Request<EchoRequest>,
    ) -> Result<tonic::Response<EchoResponse>, tonic::Status> {
        let n = r.into_inner().response_size as usize;
        Ok(tonic::Response::new(EchoResponse {
            payload: vec![b'x'; n],
        }))
    }
}

/// Serves until SIGTERM or SIGINT, then returns (so a profiler it runs
/// under sees a normal exit).
pub(crate) async fn echo_server(addr: SocketAddr) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
    );
    Server::builder()
        .add_service(EchoServer::new(EchoService))
        .serve_with_shutdown(addr, async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
        .await?;
    Ok(())
}
