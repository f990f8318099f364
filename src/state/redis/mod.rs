//! Fleet mode: the state of every sidecar of a fleet in one Redis or Valkey
//! (standalone or Cluster).
//!
//! The backend only stores and compares-and-sets. A report reads the job
//! (one round trip, the target's budget take alongside it), runs the report
//! step of `super::step` in Rust, and commits the new record together with
//! the counters the change moves in one script on the job's partition
//! (`keys`) — the second round trip. If another sidecar changed the job in
//! between, the script refuses, and the step runs again on what is there
//! now: concurrent reports of one job through any number of sidecars are
//! serialised, none lost, none counted twice. Within one sidecar, reports
//! of one job also queue on a lock stripe, so that the only conflicts left
//! are between sidecars.
//!
//! The stripe also remembers the record this sidecar last read or wrote of
//! each of its recent jobs. A report of such a job skips the read: its
//! commit expects that record, and if another sidecar changed the job since,
//! the commit refuses and returns what is there now — the step runs again
//! on that. One round trip when this sidecar saw the job last, two when it
//! did not; never a decision on a record that is not the current one.

mod batches;
pub mod codec;
pub mod conn;
mod keys;
mod labels;
mod list;
mod stats;
mod sweep;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use redis::Script;
use tokio_util::sync::CancellationToken;

use super::step::{self, FailureStep, Tally};
use super::{
    BatchLimits, FailureCall, FailureOutcome, JobView, Limits, StateError, StoredError,
    SuccessOutcome,
};
use crate::config::RedisSettings;
use crate::engine::{
    BudgetConfig, BudgetConfigs, BudgetView, Decision, Engine, Job, JobState, TargetId, Timestamp,
};
use crate::labels::{LabelId, Labels};
use codec::Stored;
pub use conn::{Link, Observer, Op, Outcome, TlsFiles, Unobserved};
pub use keys::{Keys, PARTITIONS, Set};
use keys::{PartitionKeys, counter_field, gauge_field, retrying_field};

/// Most times one report reads and tries to commit a job that other
/// sidecars keep changing, before it answers `UNAVAILABLE`.
const MAX_CONFLICTS: usize = 64;

/// Lock stripes: reports of one job in one sidecar wait for each other.
const STRIPES: usize = 1024;

/// A job as read: where it is, the exact member (for the compare-and-set),
/// and decoded.
struct Found {
    set: Set,
    member: Vec<u8>,
    stored: Stored,
}

/// Records remembered per stripe, at most (the oldest-inserted go first).
const CACHED_PER_STRIPE: usize = 32;

/// One lock stripe: the reports of its jobs queue on it, and it remembers
/// the record this sidecar last saw of each of its recent jobs.
#[derive(Default)]
struct Stripe {
    seen: std::collections::VecDeque<(Box<str>, Set, Vec<u8>)>,
}

impl Stripe {
    fn get(&self, id: &str) -> Option<(Set, &[u8])> {
        self.seen
            .iter()
            .find(|(i, _, _)| &**i == id)
            .map(|(_, s, m)| (*s, m.as_slice()))
    }

    /// Remembers what `id` is now (`None`: gone).
    fn set(&mut self, id: &str, now: Option<(Set, &[u8])>) {
        self.seen.retain(|(i, _, _)| &**i != id);
        if let Some((set, member)) = now {
            if self.seen.len() >= CACHED_PER_STRIPE {
                self.seen.pop_front();
            }
            self.seen.push_back((id.into(), set, member.to_vec()));
        }
    }
}

/// What a compare-and-set did.
enum Committed {
    /// Applied; the job's open batch, if it has one.
    Applied(Option<String>),
    /// The job was not as expected: what it is now (`None`: gone).
    Conflict(Option<(Set, Vec<u8>)>),
}

/// A target with a retry budget, as this fleet labels it.
#[derive(Clone, Debug)]
struct Budgeted {
    id: TargetId,
    name: String,
    config: BudgetConfig,
}

/// What a commit does to the dead-time index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeadTime {
    Unchanged,
    Removed,
    Died(Timestamp),
}

impl DeadTime {
    fn of(tally: &Tally, job: Option<&Job>) -> DeadTime {
        let dead = |c: Option<step::Counted>| c.is_some_and(|c| c.state == JobState::Dead);
        match (dead(tally.from), dead(tally.to)) {
            (false, true) => DeadTime::Died(job.map_or(Timestamp(0), |j| j.updated_at)),
            (true, false) => DeadTime::Removed,
            _ => DeadTime::Unchanged,
        }
    }

    fn arg(self) -> String {
        match self {
            DeadTime::Unchanged => String::new(),
            DeadTime::Removed => "-".into(),
            DeadTime::Died(t) => t.0.to_string(),
        }
    }
}

/// Which hash a counter is in: the commit script's KEYS index.
const GAUGES: u8 = 5;
const COUNTERS: u8 = 6;

pub struct Redis {
    link: Arc<Link>,
    keys: Keys,
    labels: Arc<Labels>,
    limits: Limits,
    batch_limits: BatchLimits,
    budgets: BudgetConfigs,
    configured_job_types: HashSet<String>,
    job_types: labels::Registry,
    targets: labels::Registry,
    commit_script: Script,
    scan_script: Script,
    budget_script: Script,
    batches: batches::Scripts,
    stripes: Box<[tokio::sync::Mutex<Stripe>]>,
    /// When this sidecar last pushed back each partition's expiry (ms).
    kept_until: Box<[AtomicU64]>,
    retrying: Arc<stats::RetryingCache>,
    sweep: sweep::Cursors,
    /// The layout check's verdict, once Redis has answered it.
    layout: tokio::sync::OnceCell<Result<(), String>>,
    stop: CancellationToken,
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Redis {
    /// Sets up the backend; it connects in the background (see `Link::new`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: &RedisSettings,
        tls: &TlsFiles,
        limits: Limits,
        batch_limits: BatchLimits,
        labels: Arc<Labels>,
        budgets: &BudgetConfigs,
        job_types: impl IntoIterator<Item = String>,
        observer: Arc<dyn Observer>,
    ) -> Result<Redis, StateError> {
        let link = Link::new(settings, tls, observer)
            .map_err(|e| StateError::Unavailable(format!("{}: {e}", settings.describe())))?;
        let link = Arc::new(link);
        let keys = Keys::new(&settings.key_prefix);
        let stop = CancellationToken::new();
        tokio::spawn(link.clone().watch_health(stop.clone()));
        let retrying = Arc::new(stats::RetryingCache::default());
        if !budgets.is_empty() {
            tokio::spawn(stats::refresh_retrying(
                link.clone(),
                keys.clone(),
                retrying.clone(),
                stop.clone(),
            ));
        }
        Ok(Redis {
            job_types: labels::Registry::new(keys.job_type_labels()),
            targets: labels::Registry::new(keys.target_labels()),
            link,
            keys,
            labels,
            limits,
            batch_limits,
            budgets: budgets.clone(),
            configured_job_types: job_types.into_iter().collect(),
            commit_script: Script::new(include_str!("lua/commit.lua")),
            scan_script: Script::new(include_str!("lua/scan.lua")),
            budget_script: Script::new(include_str!("lua/budget.lua")),
            batches: batches::Scripts::default(),
            stripes: (0..STRIPES)
                .map(|_| tokio::sync::Mutex::new(Stripe::default()))
                .collect(),
            kept_until: (0..PARTITIONS).map(|_| AtomicU64::new(0)).collect(),
            retrying,
            sweep: sweep::Cursors::default(),
            layout: tokio::sync::OnceCell::new(),
            stop,
        })
    }

    pub fn link(&self) -> &Link {
        &self.link
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether this fleet's keys hold this layout: checked (and claimed, if
    /// the keys are new) at the first call Redis answers, then remembered.
    /// `Err` for a layout this version cannot use, or no answer yet.
    pub async fn ready(&self) -> Result<(), StateError> {
        let verdict = self
            .layout
            .get_or_try_init(|| async {
                let layout = self.check_layout().await?;
                Ok::<_, StateError>(layout.map_err(|e| e.to_string()))
            })
            .await?;
        verdict.clone().map_err(StateError::Unavailable)
    }

    /// The layout the keys hold: `Ok(Err(..))` names one this version
    /// cannot use; `Err` is no answer.
    async fn check_layout(&self) -> Result<Result<(), StateError>, StateError> {
        let mut c = self.link.conn();
        let key = self.keys.layout();
        let set: Option<String> = self
            .link
            .run(
                Op::Ping,
                redis::cmd("SET")
                    .arg(&key)
                    .arg(keys::LAYOUT)
                    .arg("NX")
                    .arg("GET")
                    .query_async(&mut c),
            )
            .await?;
        Ok(match set {
            None => Ok(()),
            Some(l) if l == keys::LAYOUT => Ok(()),
            Some(other) => Err(StateError::Unavailable(format!(
                "{} key {key} says the keys under prefix {:?} hold {other:?}, not {:?}: another version of retryd? Use another state.redis.key_prefix",
                self.link.describe(),
                self.keys.prefix(),
                keys::LAYOUT
            ))),
        })
    }

    fn stripe(&self, job_id: &str) -> &tokio::sync::Mutex<Stripe> {
        let h = crc32fast::hash(job_id.as_bytes()) as usize;
        &self.stripes[(h / PARTITIONS) % STRIPES]
    }

    // ---- labels ----------------------------------------------------------

    /// The label a job type is counted under, fleet-wide.
    async fn job_type_label(&self, job_type: &str) -> Result<LabelId, StateError> {
        let own = job_type.is_empty()
            || self.configured_job_types.contains(job_type)
            || self.job_types.own_label(&self.link, job_type).await?;
        Ok(if own {
            self.labels.job_types.get(job_type)
        } else {
            self.labels.job_types.other()
        })
    }

    /// The budget `target` is charged to, if it has one.
    async fn budgeted(&self, target: &str) -> Result<Option<Budgeted>, StateError> {
        if self.budgets.for_target(target).is_none() {
            return Ok(None);
        }
        let own = self.budgets.by_target.contains_key(target)
            || self.targets.own_label(&self.link, target).await?;
        let id = if own {
            self.labels.targets.get(target)
        } else {
            self.labels.targets.other()
        };
        let name = self.labels.targets.name(id).to_string();
        Ok(self.budgets.for_target(&name).map(|config| Budgeted {
            id: TargetId(id.0),
            name,
            config: *config,
        }))
    }

    fn target_name(&self, t: TargetId) -> &str {
        self.labels.targets.name(LabelId(t.0))
    }

    // ---- reads and commits -------------------------------------------------

    async fn read(
        &self,
        engine: &Engine,
        pk: &PartitionKeys,
        id: &str,
    ) -> Result<Option<Found>, StateError> {
        let lo = [b"[", id.as_bytes(), b"\0"].concat();
        let hi = [b"(", id.as_bytes(), b"\x01"].concat();
        let mut pipe = redis::pipe();
        for s in Set::ALL {
            pipe.cmd("ZRANGEBYLEX")
                .arg(pk.set(s))
                .arg(&lo)
                .arg(&hi)
                .arg("LIMIT")
                .arg(0)
                .arg(1);
        }
        let mut c = self.link.conn();
        let found: Vec<Vec<Vec<u8>>> = self.link.run(Op::Read, pipe.query_async(&mut c)).await?;
        for (set, members) in Set::ALL.into_iter().zip(found) {
            if let Some(member) = members.into_iter().next() {
                return self.found(engine, id, set, member).map(Some);
            }
        }
        Ok(None)
    }

    fn found(
        &self,
        engine: &Engine,
        id: &str,
        set: Set,
        member: Vec<u8>,
    ) -> Result<Found, StateError> {
        let stored = codec::decode(&member, engine, &self.labels)
            .map_err(|e| StateError::Malformed(format!("job {id:?}: {e}")))?;
        Ok(Found {
            set,
            member,
            stored,
        })
    }

    /// The job as this sidecar last saw it, if the stripe remembers; else
    /// as read now.
    async fn recalled(
        &self,
        engine: &Engine,
        stripe: &Stripe,
        id: &str,
    ) -> Result<Option<Found>, StateError> {
        match stripe.get(id) {
            Some((set, member)) => self.found(engine, id, set, member.to_vec()).map(Some),
            None => self.read(engine, self.keys.of_job(id), id).await,
        }
    }

    /// What a conflict returned, decoded.
    fn current(
        &self,
        engine: &Engine,
        id: &str,
        now: Option<(Set, Vec<u8>)>,
    ) -> Result<Option<Found>, StateError> {
        now.map(|(set, member)| self.found(engine, id, set, member))
            .transpose()
    }

    /// The counter increments a change of a job counted under `label` makes.
    fn counter_ops(&self, label: &str, tally: &Tally) -> Vec<(u8, String, i64)> {
        let mut ops: Vec<(u8, String, i64)> = Vec::new();
        let mut add = |key: u8, field: String, n: i64| match ops
            .iter_mut()
            .find(|(k, f, _)| *k == key && *f == field)
        {
            Some(op) => op.2 += n,
            None => ops.push((key, field, n)),
        };
        if tally.moves() {
            for (c, n) in [(tally.from, -1), (tally.to, 1)] {
                let Some(c) = c else { continue };
                add(GAUGES, gauge_field(label, set_of(c.state)), n);
                if let Some(t) = c.retrying_target() {
                    add(GAUGES, retrying_field(self.target_name(t)), n);
                }
            }
        }
        if let Some(e) = tally.event {
            let which = match e {
                step::Event::FirstTrySuccess => 'f',
                step::Event::SucceededAfterRetry => 'a',
                step::Event::GaveUp => 'g',
            };
            add(COUNTERS, counter_field(label, which), 1);
        }
        ops.retain(|(_, _, n)| *n != 0);
        ops
    }

    /// How long a partition's keys are kept after a write, as a backstop
    /// for a fleet that is gone (the sweeper applies the TTLs job by job).
    fn keep_ms(&self, partition: usize, now: Timestamp) -> u64 {
        const REFRESH_MS: u64 = 60_000;
        let longest = self
            .limits
            .idle_ttl
            .max(self.limits.dead_ttl)
            .max(self.batch_limits.batch_ttl);
        let keep = u64::try_from(longest.as_millis())
            .unwrap_or(u64::MAX / 2)
            .saturating_add(2 * REFRESH_MS);
        let last = &self.kept_until[partition % PARTITIONS];
        let prev = last.load(Relaxed);
        if now.0.saturating_sub(prev) < REFRESH_MS {
            return 0;
        }
        last.store(now.0, Relaxed);
        keep
    }

    /// One compare-and-set: `old` expected, `new` written (`None`: removed).
    #[allow(clippy::too_many_arguments)]
    async fn commit(
        &self,
        job_id: &str,
        old: Option<(Set, &[u8])>,
        new: Option<(Set, &[u8])>,
        dead: DeadTime,
        counters: &[(u8, String, i64)],
        now: Timestamp,
    ) -> Result<Committed, StateError> {
        let p = keys::partition(job_id);
        let pk = self.keys.partition(p);
        let mut inv = self.commit_script.prepare_invoke();
        for k in pk.all() {
            inv.key(k);
        }
        inv.arg(job_id)
            .arg(old.map_or("", |(s, _)| s.letter()))
            .arg(old.map_or(&[][..], |(_, m)| m))
            .arg(new.map_or("", |(s, _)| s.letter()))
            .arg(new.map_or(&[][..], |(_, m)| m))
            .arg(dead.arg())
            .arg(self.keep_ms(p, now));
        for (key, field, n) in counters {
            inv.arg(*key).arg(field).arg(*n);
        }
        let started = Instant::now();
        let mut c = self.link.conn();
        let reply: Vec<redis::Value> = self.link.run(Op::Commit, inv.invoke_async(&mut c)).await?;
        let text = |v: Option<&redis::Value>| match v {
            Some(redis::Value::BulkString(b)) => Some(b.clone()),
            Some(redis::Value::SimpleString(s)) => Some(s.clone().into_bytes()),
            _ => None,
        };
        match reply.first() {
            Some(redis::Value::Int(1)) => Ok(Committed::Applied(
                text(reply.get(1)).map(|b| String::from_utf8_lossy(&b).into_owned()),
            )),
            Some(redis::Value::Int(0)) => {
                self.link.conflict(started.elapsed());
                let letter = text(reply.get(2)).map(|b| String::from_utf8_lossy(&b).into_owned());
                let now = match (
                    letter.as_deref().and_then(Set::from_letter),
                    text(reply.get(3)),
                ) {
                    (Some(set), Some(member)) => Some((set, member)),
                    _ => None,
                };
                Ok(Committed::Conflict(now))
            }
            _ => Err(StateError::Malformed(format!(
                "job {job_id:?}: unexpected answer from the commit script: {reply:?}"
            ))),
        }
    }

    // ---- budgets ------------------------------------------------------------

    /// Spends from or gives back to a budget; the tokens before (thousandths).
    async fn budget_op(&self, b: &Budgeted, take: bool, milli: i64) -> Result<i64, StateError> {
        let mut c = self.link.conn();
        self.link
            .run(
                Op::Budget,
                self.budget_script
                    .key(self.keys.budget(&b.name))
                    .arg(if take { "take" } else { "give" })
                    .arg(milli)
                    .arg(b.config.full())
                    .invoke_async(&mut c),
            )
            .await
    }

    async fn count_refusal(&self, b: &Budgeted) {
        let mut c = self.link.conn();
        let _: Result<i64, _> = self
            .link
            .run(
                Op::Budget,
                redis::cmd("HINCRBY")
                    .arg(self.keys.budget(&b.name))
                    .arg("exhausted")
                    .arg(1)
                    .query_async(&mut c),
            )
            .await;
    }

    fn view(&self, b: &Budgeted, tokens: i64, job: Option<&Job>) -> BudgetView {
        BudgetView {
            target: b.id,
            config: b.config,
            tokens,
            retrying: self.retrying.get(&b.name),
            job_counted: step::counted_for(job, b.id),
        }
    }

    // ---- the report step ----------------------------------------------------

    pub async fn report_failure(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<(FailureOutcome, Option<String>), StateError> {
        let id = call.job_id;
        let mut stripe = self.stripe(id).lock().await;
        let label = self.job_type_label(call.job_type).await?;
        let budget = self.budgeted(call.target).await?;
        // The job (unless the stripe remembers it), and the budget's take
        // beside it: one round trip. What a duplicate took is given back.
        let (found, taken) = tokio::join!(self.recalled(engine, &stripe, id), async {
            match &budget {
                Some(b) => self
                    .budget_op(b, true, crate::engine::budget::MILLI)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        });
        let mut found = found?;
        let taken = taken?;
        // Whether `found` was read from Redis by this call (not recalled).
        let mut fresh = stripe.get(id).is_none();
        for _ in 0..MAX_CONFLICTS {
            let stored = found.as_ref().map(|f| &f.stored.job);
            let take = |j: Option<&Job>| {
                budget
                    .as_ref()
                    .zip(taken)
                    .map(|(b, tokens)| self.view(b, tokens, j))
            };
            let step = step::failure(
                engine,
                call.policy,
                &call.report,
                stored,
                take,
                now,
                &mut rand::rng(),
            );
            let (job, decision, tally) = match step {
                // A duplicate only of what Redis holds now: a remembered
                // record may be stale.
                FailureStep::Duplicate(_) if !fresh => {
                    found = self.read(engine, self.keys.of_job(id), id).await?;
                    stripe.set(id, found.as_ref().map(|f| (f.set, f.member.as_slice())));
                    fresh = true;
                    continue;
                }
                FailureStep::Duplicate(decision) => {
                    if let (Some(b), Some(before)) = (&budget, taken) {
                        // Spent for nothing: give back what the take spent.
                        let spent = before.clamp(0, crate::engine::budget::MILLI);
                        self.budget_op(b, false, spent).await?;
                    }
                    let f = found.as_ref();
                    return Ok((
                        FailureOutcome {
                            decision,
                            duplicate: true,
                            label: f.map_or(label, |f| self.labels.job_types.get(&f.stored.label)),
                            gave_up: false,
                            kept_error: f.map(|f| f.stored.error.clone()),
                            local: false,
                        },
                        None,
                    ));
                }
                FailureStep::Recorded { job, tally } => (job, job.last_decision, tally),
            };
            let new = match &found {
                Some(f) => Stored {
                    job,
                    error: StoredError::of(&call.report.error),
                    ..f.stored.clone()
                },
                None => Stored {
                    id: id.to_string(),
                    job_type: call.job_type.to_string(),
                    label: self.labels.job_types.name(label).to_string(),
                    job,
                    error: StoredError::of(&call.report.error),
                },
            };
            let member = codec::encode(&new, engine, &self.labels);
            let counters = self.counter_ops(&new.label, &tally);
            let set = set_of(job.state);
            let committed = self
                .commit(
                    id,
                    found.as_ref().map(|f| (f.set, f.member.as_slice())),
                    Some((set, &member)),
                    DeadTime::of(&tally, Some(&job)),
                    &counters,
                    now,
                )
                .await?;
            match committed {
                Committed::Applied(batch) => {
                    stripe.set(id, Some((set, &member)));
                    if let Some(b) = &budget
                        && step::budget_refused(&decision)
                    {
                        self.count_refusal(b).await;
                    }
                    return Ok((
                        FailureOutcome {
                            decision,
                            duplicate: false,
                            label: self.labels.job_types.get(&new.label),
                            gave_up: tally.event == Some(step::Event::GaveUp),
                            kept_error: None,
                            local: false,
                        },
                        batch,
                    ));
                }
                Committed::Conflict(now_there) => {
                    stripe.set(id, now_there.as_ref().map(|(s, m)| (*s, m.as_slice())));
                    found = self.current(engine, id, now_there)?;
                    fresh = true;
                }
            }
        }
        Err(self.contended(id))
    }

    fn contended(&self, job_id: &str) -> StateError {
        StateError::Unavailable(format!(
            "job {job_id:?}: changed by other sidecars {MAX_CONFLICTS} times while this report tried to commit; try again"
        ))
    }

    pub async fn explain(
        &self,
        engine: &Engine,
        call: &FailureCall<'_>,
        now: Timestamp,
    ) -> Result<Decision, StateError> {
        let budget = self.budgeted(call.target).await?;
        let pk = self.keys.of_job(call.job_id);
        let (found, tokens) = tokio::join!(self.read(engine, pk, call.job_id), async {
            match &budget {
                Some(b) => {
                    let mut c = self.link.conn();
                    self.link
                        .run(
                            Op::Budget,
                            redis::cmd("HGET")
                                .arg(self.keys.budget(&b.name))
                                .arg("tokens")
                                .query_async::<Option<i64>>(&mut c),
                        )
                        .await
                        .map(|t| Some(t.unwrap_or(b.config.full()).min(b.config.full())))
                }
                None => Ok(None),
            }
        });
        let found = found?;
        let job = found.as_ref().map(|f| &f.stored.job);
        let view = budget
            .as_ref()
            .zip(tokens?)
            .map(|(b, t)| self.view(b, t, job));
        Ok(step::explain(
            engine,
            call.policy,
            &call.report,
            job,
            view.as_ref(),
            now,
            &mut rand::rng(),
        ))
    }

    pub async fn report_success(
        &self,
        engine: &Engine,
        job_id: &str,
        job_type: &str,
        target: &str,
        now: Timestamp,
    ) -> Result<(SuccessOutcome, Option<String>), StateError> {
        let mut stripe = self.stripe(job_id).lock().await;
        let mut found = self.recalled(engine, &stripe, job_id).await?;
        for _ in 0..MAX_CONFLICTS {
            let job = found.as_ref().map(|f| f.stored.job);
            let tally = step::success(job.as_ref());
            let label = match &found {
                Some(f) => f.stored.label.clone(),
                None => {
                    let l = self.job_type_label(job_type).await?;
                    self.labels.job_types.name(l).to_string()
                }
            };
            let counters = self.counter_ops(&label, &tally);
            let committed = self
                .commit(
                    job_id,
                    found.as_ref().map(|f| (f.set, f.member.as_slice())),
                    None,
                    DeadTime::of(&tally, None),
                    &counters,
                    now,
                )
                .await?;
            match committed {
                Committed::Applied(batch) => {
                    stripe.set(job_id, None);
                    // The budget refilled: the target named, or the one the
                    // job's failures were reported with.
                    let refill = match (target, job.and_then(|j| j.last_decision.target)) {
                        ("", Some(t)) => self.budgeted(self.target_name(t)).await?,
                        ("", None) => None,
                        _ => self.budgeted(target).await?,
                    };
                    if let Some(b) = &refill {
                        let ratio = (b.config.token_ratio * crate::engine::budget::MILLI as f64)
                            .round() as i64;
                        self.budget_op(b, false, ratio).await?;
                    }
                    return Ok((
                        SuccessOutcome {
                            known: job.is_some(),
                            failures_before_success: job.map_or(0, |j| j.failure_count),
                            label: self.labels.job_types.get(&label),
                        },
                        batch,
                    ));
                }
                Committed::Conflict(now_there) => {
                    stripe.set(job_id, now_there.as_ref().map(|(s, m)| (*s, m.as_slice())));
                    found = self.current(engine, job_id, now_there)?;
                }
            }
        }
        Err(self.contended(job_id))
    }

    pub async fn get(&self, engine: &Engine, job_id: &str) -> Result<Option<JobView>, StateError> {
        let pk = self.keys.of_job(job_id);
        Ok(self
            .read(engine, pk, job_id)
            .await?
            .map(|f| f.stored.view()))
    }

    /// Applies `change` to an existing job and returns it. (Operator calls
    /// read the job fresh: they act on what the fleet holds.)
    async fn modify(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
        change: impl Fn(&Job) -> Result<(Job, Tally), StateError>,
    ) -> Result<JobView, StateError> {
        let mut stripe = self.stripe(job_id).lock().await;
        let mut found = self.read(engine, self.keys.of_job(job_id), job_id).await?;
        for _ in 0..MAX_CONFLICTS {
            let f = found.ok_or_else(|| StateError::NotFound(job_id.to_string()))?;
            let (job, tally) = change(&f.stored.job)?;
            let new = Stored {
                job,
                ..f.stored.clone()
            };
            let member = codec::encode(&new, engine, &self.labels);
            let counters = self.counter_ops(&new.label, &tally);
            let set = set_of(job.state);
            let committed = self
                .commit(
                    job_id,
                    Some((f.set, &f.member)),
                    Some((set, &member)),
                    DeadTime::of(&tally, Some(&job)),
                    &counters,
                    now,
                )
                .await?;
            match committed {
                Committed::Applied(_) => {
                    stripe.set(job_id, Some((set, &member)));
                    return Ok(new.view());
                }
                Committed::Conflict(now_there) => {
                    stripe.set(job_id, now_there.as_ref().map(|(s, m)| (*s, m.as_slice())));
                    found = self.current(engine, job_id, now_there)?;
                }
            }
        }
        Err(self.contended(job_id))
    }

    pub async fn retry(
        &self,
        engine: &Engine,
        job_id: &str,
        reset_failures: bool,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        self.modify(engine, job_id, now, |job| {
            Ok(step::manual_retry(job, reset_failures, now))
        })
        .await
    }

    pub async fn cancel(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        self.modify(engine, job_id, now, |job| {
            step::cancel(job, now).ok_or_else(|| StateError::Dead(job_id.to_string()))
        })
        .await
    }

    pub async fn delete(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
    ) -> Result<(), StateError> {
        let mut stripe = self.stripe(job_id).lock().await;
        let mut found = self.read(engine, self.keys.of_job(job_id), job_id).await?;
        for _ in 0..MAX_CONFLICTS {
            let f = found.ok_or_else(|| StateError::NotFound(job_id.to_string()))?;
            match self.remove(&f, now).await? {
                Committed::Applied(_) => {
                    stripe.set(job_id, None);
                    return Ok(());
                }
                Committed::Conflict(now_there) => {
                    stripe.set(job_id, now_there.as_ref().map(|(s, m)| (*s, m.as_slice())));
                    found = self.current(engine, job_id, now_there)?;
                }
            }
        }
        Err(self.contended(job_id))
    }

    /// Removes a job as read, with its counts.
    async fn remove(&self, found: &Found, now: Timestamp) -> Result<Committed, StateError> {
        let tally = step::removal(&found.stored.job);
        let counters = self.counter_ops(&found.stored.label, &tally);
        self.commit(
            &found.stored.id,
            Some((found.set, &found.member)),
            None,
            DeadTime::of(&tally, None),
            &counters,
            now,
        )
        .await
    }
}

/// The set a job of `state` is kept in.
pub fn set_of(state: JobState) -> Set {
    match state {
        JobState::Retrying => Set::Retrying,
        JobState::Dead => Set::Dead,
        JobState::Cancelled => Set::Cancelled,
    }
}

pub fn state_of(set: Set) -> JobState {
    match set {
        Set::Retrying => JobState::Retrying,
        Set::Dead => JobState::Dead,
        Set::Cancelled => JobState::Cancelled,
    }
}

/// Milliseconds of a duration, saturating.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
