//! A recorded history of concurrent reports through a fleet, and a checker
//! that reads it: what a fault test asserts about what the fleet answered
//! and what it holds afterwards.
//!
//! The workload (`Workload::run`) is a caller's: each job's attempts are
//! reported in order, one at a time, each through the next sidecar; an
//! attempt that gets no decision (`UNAVAILABLE`, a deadline) is re-sent
//! until it gets one, as a worker's retry of the call would. A job that is
//! given up is left, and the worker goes on with a new job.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use retryd::pb;

use super::Client;

/// One call as the caller saw it.
#[derive(Clone, Debug)]
pub struct Call {
    pub job: String,
    pub attempt: u32,
    /// The report's target (its retry budget), or empty.
    pub target: String,
    pub sidecar: usize,
    /// Since the history began.
    pub invoked: Duration,
    pub completed: Duration,
    pub result: Result<Answer, tonic::Code>,
}

/// A decision, as much of it as the checker reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub give_up: bool,
    pub failure_count: u32,
}

#[derive(Default)]
pub struct History {
    calls: Mutex<Vec<Call>>,
}

impl History {
    pub fn record(&self, call: Call) {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(call);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Concurrent callers reporting through the sidecars until stopped.
pub struct Workload {
    /// When the history began (calls' times are since then).
    pub began: Instant,
    pub history: Arc<History>,
    pub answered: Arc<AtomicU64>,
    pub refused: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Duration>>,
}

impl Workload {
    /// `workers` callers over `clients` (one per sidecar); job ids start
    /// with `prefix`. The even workers' reports name `target` (a budget), the
    /// odd ones' none.
    pub fn run(clients: &[Client], workers: usize, prefix: &str, target: &str) -> Workload {
        let history = Arc::new(History::default());
        let answered = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let began = Instant::now();
        let mut handles = Vec::new();
        for w in 0..workers {
            let mut clients: Vec<Client> = clients.to_vec();
            let (history, answered, refused, stop) = (
                history.clone(),
                answered.clone(),
                refused.clone(),
                stop.clone(),
            );
            let prefix = prefix.to_string();
            let target = if w % 2 == 0 {
                target.to_string()
            } else {
                String::new()
            };
            handles.push(tokio::spawn(async move {
                let mut slowest = Duration::ZERO;
                let mut job_no = 0;
                let mut attempt = 1;
                let mut turn = w;
                while !stop.load(Ordering::Relaxed) {
                    let job = format!("{prefix}-{w}-{job_no}");
                    let sidecar = turn % clients.len();
                    turn += 1;
                    let invoked = began.elapsed();
                    let mut req = tonic::Request::new(pb::ReportFailureRequest {
                        job_id: job.clone(),
                        attempt,
                        error: Some(super::error("TimeoutError", "slow", 0, 0)),
                        target: target.clone(),
                        ..Default::default()
                    });
                    req.set_timeout(Duration::from_secs(5));
                    let r = clients[sidecar].report_failure(req).await;
                    let completed = began.elapsed();
                    slowest = slowest.max(completed - invoked);
                    let result = match r {
                        Ok(r) => {
                            let d = r.into_inner().decision.expect("a decision");
                            Ok(Answer {
                                give_up: d.action == pb::Action::GiveUp as i32,
                                failure_count: d.failure_count,
                            })
                        }
                        Err(e) => {
                            assert!(
                                matches!(
                                    e.code(),
                                    tonic::Code::Unavailable
                                        | tonic::Code::DeadlineExceeded
                                        | tonic::Code::Cancelled
                                ),
                                "{job} attempt {attempt}: {e}"
                            );
                            Err(e.code())
                        }
                    };
                    history.record(Call {
                        job,
                        attempt,
                        target: target.clone(),
                        sidecar,
                        invoked,
                        completed,
                        result,
                    });
                    match result {
                        Ok(a) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                            if a.give_up {
                                job_no += 1;
                                attempt = 1;
                            } else {
                                attempt += 1;
                            }
                        }
                        Err(_) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                slowest
            }));
        }
        Workload {
            began,
            history,
            answered,
            refused,
            stop,
            workers: handles,
        }
    }

    /// Waits until `n` more calls than now were answered (false after 30 s).
    pub async fn progress(&self, n: u64) -> bool {
        let at = self.answered.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.answered.load(Ordering::Relaxed) >= at + n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Stops the callers; the slowest call any of them saw.
    pub async fn stop(self) -> (Arc<History>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let mut slowest = Duration::ZERO;
        for w in self.workers {
            slowest = slowest.max(w.await.expect("worker"));
        }
        (self.history, slowest)
    }
}

/// What the fleet holds of a job at the end (`GetJob`): its failure count,
/// or none.
pub async fn finals(client: &mut Client, jobs: &BTreeSet<String>) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for job in jobs {
        let deadline = Instant::now() + Duration::from_secs(15);
        let count = loop {
            match client
                .get_job(pb::GetJobRequest {
                    job_id: job.clone(),
                })
                .await
            {
                Ok(r) => break r.into_inner().job.map_or(0, |j| j.failure_count),
                Err(e) if e.code() == tonic::Code::NotFound => break 0,
                Err(e) if Instant::now() < deadline => {
                    assert_eq!(e.code(), tonic::Code::Unavailable, "{e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("GetJob {job}: {e}"),
            }
        };
        out.insert(job.clone(), count);
    }
    out
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub calls: usize,
    pub answered: usize,
    pub jobs: usize,
    /// Jobs the fleet counts more failures of than attempts were reported.
    pub phantoms: Vec<String>,
    /// Jobs whose count went down between two answers in real-time order.
    pub backwards: Vec<String>,
    /// Jobs given up at two different attempts.
    pub second_give_ups: Vec<String>,
    /// One attempt answered twice with different counts.
    pub duplicates_counted: Vec<String>,
    /// Acknowledged reports the fleet no longer holds: (job, answered
    /// count, held count).
    pub lost: Vec<(String, u32, u32)>,
    /// Retries granted (distinct attempts answered "retry") per target.
    pub retries: BTreeMap<String, usize>,
}

impl Verdict {
    /// Acknowledged reports lost in all.
    pub fn lost_reports(&self) -> u32 {
        self.lost.iter().map(|(_, a, h)| a - h).sum()
    }

    /// Whether anything but loss was found.
    pub fn anomalies(&self) -> usize {
        self.phantoms.len()
            + self.backwards.len()
            + self.second_give_ups.len()
            + self.duplicates_counted.len()
    }
}

/// Reads `calls` against what the fleet holds at the end (`held`).
///
/// A count may only go down between answers (`backwards`), an attempt be
/// answered twice with different counts, or a job be given up twice, if
/// the fleet lost what it had acknowledged: those are reported as
/// anomalies; `lost` lists the loss itself.
pub fn check(calls: &[Call], held: &BTreeMap<String, u32>) -> Verdict {
    let mut by_job: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
    for c in calls {
        by_job.entry(&c.job).or_default().push(c);
    }
    let mut v = Verdict {
        calls: calls.len(),
        answered: calls.iter().filter(|c| c.result.is_ok()).count(),
        jobs: by_job.len(),
        ..Verdict::default()
    };
    for (job, mut calls) in by_job {
        calls.sort_by_key(|c| c.invoked);
        let held = held.get(job).copied().unwrap_or(0);
        let attempts: BTreeSet<u32> = calls.iter().map(|c| c.attempt).collect();
        // Every attempt the fleet may have counted was reported.
        if held as usize > attempts.len() {
            v.phantoms.push(job.to_string());
        }
        let answers: Vec<(&Call, Answer)> = calls
            .iter()
            .filter_map(|c| c.result.ok().map(|a| (*c, a)))
            .collect();
        // Real-time order: an answer completed before the next was invoked.
        for pair in answers.windows(2) {
            let ((a, x), (b, y)) = (pair[0], pair[1]);
            if a.completed <= b.invoked && y.failure_count < x.failure_count {
                v.backwards.push(job.to_string());
                break;
            }
        }
        let mut per_attempt: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for (c, a) in &answers {
            per_attempt
                .entry(c.attempt)
                .or_default()
                .insert(a.failure_count);
        }
        if per_attempt.values().any(|counts| counts.len() > 1) {
            v.duplicates_counted.push(job.to_string());
        }
        let give_ups: BTreeSet<u32> = answers
            .iter()
            .filter(|(_, a)| a.give_up)
            .map(|(c, _)| c.attempt)
            .collect();
        if give_ups.len() > 1 {
            v.second_give_ups.push(job.to_string());
        }
        let retried: BTreeSet<u32> = answers
            .iter()
            .filter(|(_, a)| !a.give_up)
            .map(|(c, _)| c.attempt)
            .collect();
        if let Some(c) = calls.first().filter(|c| !c.target.is_empty()) {
            *v.retries.entry(c.target.clone()).or_default() += retried.len();
        }
        let acknowledged = answers
            .iter()
            .map(|(_, a)| a.failure_count)
            .max()
            .unwrap_or(0);
        if held < acknowledged {
            v.lost.push((job.to_string(), acknowledged, held));
        }
    }
    v
}
