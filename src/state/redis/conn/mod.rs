//! The fleet's Redis as one link: every call bounded by `timeout` (a
//! decision's whole call, lock waits included), counted by operation and
//! result, and turned into a `StateError` that names the backend. How it
//! connects is in `connect`, the labels in `labels`, its background tasks
//! (health, following a Sentinel primary) in `tasks`.

mod connect;
mod labels;
mod tasks;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisResult, ScriptInvocation};
use tokio::sync::watch;

pub use connect::{Conn, Conns, TlsFiles};
use connect::{Connect, connect_all, connector};
pub use labels::{Op, Outcome};

use super::eval::Eval;
use super::sentinel::Primary;
use crate::config::RedisSettings;
use crate::state::{Observer, StateError};

tokio::task_local! {
    /// When the current call's time in the backend is up (see `bounded`).
    static DEADLINE: Instant;
}

/// Calls that fail in a row (no answer, or no connection) before the
/// connection is made anew.
const REBUILD_AFTER: u32 = 8;
/// At most one new connection this often.
const REBUILD_EVERY: Duration = Duration::from_secs(2);

/// The fleet's Redis, and whether it answers.
pub struct Link {
    conn: arc_swap::ArcSwap<Conns>,
    connect: Connect,
    next_acked: std::sync::atomic::AtomicUsize,
    /// With Sentinel: where the primary is, asked again and again.
    primary: Option<Arc<Primary>>,
    /// Calls failed in a row, and when the connection was last made anew.
    failures: std::sync::atomic::AtomicU32,
    rebuilt: std::sync::Mutex<Instant>,
    timeout: Duration,
    /// Replicas a commit must reach before it is answered (`WAIT`).
    replicas_ack: u32,
    describe: String,
    observer: Arc<dyn Observer>,
    up: watch::Sender<bool>,
}

impl Link {
    /// Sets up the connection without waiting for it: a Redis that is down
    /// at start is connected to when it comes up (calls fail until then).
    pub fn new(
        settings: &RedisSettings,
        tls: &TlsFiles,
        observer: Arc<dyn Observer>,
    ) -> Result<Link, RedisError> {
        let (connect, primary) = connector(settings, tls)?;
        let conn = connect_all(&connect, settings.replicas_ack)?;
        let (up, _) = watch::channel(false);
        Ok(Link {
            conn: arc_swap::ArcSwap::from_pointee(conn),
            connect,
            next_acked: std::sync::atomic::AtomicUsize::new(0),
            primary,
            failures: std::sync::atomic::AtomicU32::new(0),
            rebuilt: std::sync::Mutex::new(Instant::now()),
            timeout: settings.timeout,
            replicas_ack: settings.replicas_ack,
            describe: settings.describe(),
            observer,
            up,
        })
    }

    /// A handle to send commands on (a cheap clone of a multiplexed connection).
    pub fn conn(&self) -> Conn {
        self.conn.load().main.clone()
    }

    /// A connection for a commit that waits for replicas (`WAIT` blocks
    /// the connection it is sent on), round robin.
    fn acked_conn(&self) -> Conn {
        let conns = self.conn.load();
        let i = self
            .next_acked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        conns
            .acked
            .get(i % conns.acked.len().max(1))
            .unwrap_or(&conns.main)
            .clone()
    }

    /// The shared connection, and those of acknowledged commits.
    fn connect_all(&self) -> Result<Conns, RedisError> {
        connect_all(&self.connect, self.replicas_ack)
    }

    /// Counts a call that got no answer. After `REBUILD_AFTER` in a row the
    /// connection is made anew: a reconnecting client may get stuck (a
    /// Cluster connection was seen to time out every call, forever, after a
    /// resharding); a fresh one finds the nodes and slots again.
    fn failed(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(p) = &self.primary {
            // The follower connects anew where the Sentinels say.
            p.wake();
            return;
        }
        if self.failures.fetch_add(1, Relaxed) + 1 < REBUILD_AFTER {
            return;
        }
        let mut rebuilt = self
            .rebuilt
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if rebuilt.elapsed() < REBUILD_EVERY {
            return;
        }
        match self.connect_all() {
            Ok(conn) => {
                tracing::warn!(
                    backend = %self.describe,
                    failures = self.failures.load(Relaxed),
                    "calls to the fleet state keep failing: connecting anew"
                );
                self.conn.store(Arc::new(conn));
                self.failures.store(0, Relaxed);
                *rebuilt = Instant::now();
            }
            Err(e) => tracing::warn!(backend = %self.describe, error = %e, "cannot connect anew"),
        }
    }
}

impl Link {
    /// Where the state is, for messages.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Whether the backend answered the latest call (false until it has).
    pub fn health(&self) -> watch::Receiver<bool> {
        self.up.subscribe()
    }

    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    fn set_up(&self, up: bool) {
        self.up.send_if_modified(|u| {
            let changed = *u != up;
            *u = up;
            changed
        });
    }

    /// An error that says the backend is unreachable, naming it.
    pub fn unavailable(&self, what: impl std::fmt::Display) -> StateError {
        StateError::Unavailable(format!(
            "fleet state unavailable ({}): {what}",
            self.describe
        ))
    }

    /// Runs one backend call: bounded by `timeout`, counted, and its error
    /// named. A connection error or a timeout marks the backend down; any
    /// answer marks it up.
    pub async fn run<T>(
        &self,
        op: Op,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StateError> {
        let started = Instant::now();
        let bound = self.left();
        if bound.is_zero() {
            // The call's time went elsewhere (a lock stripe, earlier round
            // trips): nothing is sent, and Redis is not blamed.
            self.observer
                .backend_call(op, Outcome::Timeout, Duration::ZERO);
            return Err(self.unavailable(format!(
                "no answer within {}: the call's time was spent",
                crate::engine::Human(self.timeout)
            )));
        }
        let result = tokio::time::timeout(bound, call).await;
        let took = started.elapsed();
        match result {
            Ok(Ok(v)) => {
                self.observer.backend_call(op, Outcome::Ok, took);
                self.failures.store(0, std::sync::atomic::Ordering::Relaxed);
                self.set_up(true);
                Ok(v)
            }
            Ok(Err(e)) => {
                let outcome = if e.is_timeout() {
                    Outcome::Timeout
                } else {
                    Outcome::Error
                };
                self.observer.backend_call(op, outcome, took);
                if is_unreachable(&e) {
                    self.set_up(false);
                    self.failed();
                } else if let Some(p) = self
                    .primary
                    .as_ref()
                    .filter(|_| e.code() == Some("READONLY"))
                {
                    // A replica: the primary moved and this connection
                    // still points at the old one.
                    self.set_up(false);
                    p.wake();
                } else {
                    // It answered, if with an error.
                    self.set_up(true);
                }
                Err(self.unavailable(&e))
            }
            Err(_) => {
                self.observer.backend_call(op, Outcome::Timeout, took);
                // Only a round trip given the whole timeout says that Redis
                // is not answering; one cut short by the call's deadline
                // does not.
                if bound >= self.timeout {
                    self.set_up(false);
                    self.failed();
                }
                Err(self.unavailable(format!(
                    "no answer within {}",
                    crate::engine::Human(self.timeout)
                )))
            }
        }
    }

    /// Runs one gRPC call's work in the backend within `timeout` in all:
    /// every round trip gets what is left, and waiting for a lock stripe
    /// (`wait`) counts too. A call already within one keeps its deadline.
    pub async fn bounded<T>(&self, call: impl Future<Output = T>) -> T {
        if DEADLINE.try_with(|_| ()).is_ok() {
            return call.await;
        }
        DEADLINE.scope(Instant::now() + self.timeout, call).await
    }

    /// The time a round trip may take now: `timeout`, or less within a
    /// bounded call.
    fn left(&self) -> Duration {
        DEADLINE
            .try_with(|d| d.saturating_duration_since(Instant::now()))
            .map_or(self.timeout, |left| left.min(self.timeout))
    }

    /// Waits for `lock` (a lock stripe) within the call's deadline: a
    /// report queued behind another that waits out a stopped Redis must
    /// not wait past its own bound.
    pub async fn wait<G>(&self, lock: impl Future<Output = G>) -> Result<G, StateError> {
        let Ok(deadline) = DEADLINE.try_with(|d| *d) else {
            return Ok(lock.await);
        };
        tokio::time::timeout_at(deadline.into(), lock)
            .await
            .map_err(|_| {
                self.unavailable(format!(
                    "no answer within {}: another call on this job's lock stripe held it",
                    crate::engine::Human(self.timeout)
                ))
            })
    }

    /// One command, on the current connection, as `run` runs a call.
    pub async fn query<T: FromRedisValue>(&self, op: Op, cmd: &Cmd) -> Result<T, StateError> {
        let mut c = self.conn();
        self.run(op, cmd.query_async(&mut c)).await
    }

    /// One pipeline, as `query` runs a command.
    pub async fn pipeline<T: FromRedisValue>(
        &self,
        op: Op,
        pipe: &Pipeline,
    ) -> Result<T, StateError> {
        let mut c = self.conn();
        self.run(op, pipe.query_async(&mut c)).await
    }

    /// One script call (by its SHA, loaded first if Redis does not know it),
    /// as `query` runs a command.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        op: Op,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StateError> {
        let mut c = self.conn();
        self.run(op, script.invoke_async(&mut c)).await
    }

    /// A commit script: with `replicas_ack`, followed by `WAIT` in the same
    /// round trip (one pipeline, on the node of the commit's keys), and
    /// refused as unavailable when fewer replicas have it in time. The
    /// commit stands on the primary then: a caller that re-sends the same
    /// attempt is counted once.
    pub async fn commit<T: FromRedisValue>(
        &self,
        op: Op,
        eval: &Eval<'_>,
    ) -> Result<T, StateError> {
        let n = self.replicas_ack;
        if n == 0 {
            let mut c = self.conn();
            return self.run(op, eval.query(&mut c)).await;
        }
        // WAIT gives up a little before the call's own bound, so that its
        // count is what the answer says (0 would wait forever).
        let wait = (self.left() * 3 / 4).max(Duration::from_millis(1));
        let mut pipe = redis::pipe();
        pipe.add_command(eval.cmd())
            .cmd("WAIT")
            .arg(n)
            .arg(ms(wait));
        let started = Instant::now();
        // Redis reads nothing more from a client blocked in WAIT: such
        // commits go on connections of their own, never the shared one.
        let mut c = self.acked_conn();
        let (v, reached): (T, i64) = self.run(op, eval.in_pipeline(&pipe, &mut c)).await?;
        let took = started.elapsed();
        if reached < i64::from(n) {
            self.observer.backend_call(Op::Wait, Outcome::Timeout, took);
            return Err(StateError::NotReplicated(format!(
                "fleet state unavailable ({}): the commit reached {reached} of the {n} replicas replicas_ack asks for within {} (it stands on the primary: re-send the same attempt)",
                self.describe,
                crate::engine::Human(wait)
            )));
        }
        self.observer.backend_call(Op::Wait, Outcome::Ok, took);
        Ok(v)
    }

    /// Counts a compare-and-set that lost to another writer.
    pub fn conflict(&self, took: Duration) {
        self.observer
            .backend_call(Op::Commit, Outcome::Conflict, took);
    }
}

/// Whether an error means the backend could not be reached (as opposed to
/// an answer that was an error).
fn is_unreachable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::Io | redis::ErrorKind::ClusterConnectionNotFound
        )
        || e.code()
            .is_some_and(|c| matches!(c, "CLUSTERDOWN" | "TRYAGAIN" | "LOADING" | "MASTERDOWN"))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
