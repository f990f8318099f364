//! The fault suite: three sidecars under concurrent reports whose history
//! is recorded, a checker that reads it (`common::history`), and the faults
//! a fleet's Redis meets, one after another, on a primary with two
//! replicas under three Sentinels, each Redis in a network namespace of its
//! own: `CLIENT PAUSE`, `DEBUG SLEEP`, a failover by demotion, SIGSTOP past
//! the timeout, a partition (the primary's packets dropped, its sockets
//! open), SIGKILL; and the same on a Redis Cluster, with a resharding. With
//! `replicas_ack = 1` no acknowledged report may be lost, and a target's
//! retry budget grants no more than its tokens allow.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::process::Child;
use std::time::{Duration, Instant};

use common::history::{self, Answer, Call, Workload};
use common::netns::{self, Net, NsRedis, ns_cli};
use common::redis::{CLUSTER_NODE, cluster_create, cluster_reshard, free_port};
use common::sentinel::{MASTER, entries, spawn_sentinel};
use common::*;

fn call(job: &str, attempt: u32, at: u64, result: Result<(bool, u32), tonic::Code>) -> Call {
    Call {
        job: job.into(),
        attempt,
        target: String::new(),
        sidecar: 0,
        invoked: Duration::from_millis(at),
        completed: Duration::from_millis(at + 1),
        result: result.map(|(give_up, failure_count)| Answer {
            give_up,
            failure_count,
        }),
    }
}

/// The checker on histories made up to hold each anomaly: it finds each,
/// and nothing in a clean one.
#[test]
fn the_checker_finds_what_it_looks_for() {
    let clean = [
        call("a", 1, 0, Ok((false, 1))),
        call("a", 2, 10, Err(tonic::Code::Unavailable)),
        call("a", 2, 20, Ok((false, 2))),
        call("a", 3, 30, Ok((true, 3))),
    ];
    let held = BTreeMap::from([("a".to_string(), 3)]);
    let v = history::check(&clean, &held);
    assert_eq!(
        (v.anomalies(), v.lost.len(), v.answered, v.jobs),
        (0, 0, 3, 1)
    );
    // Retries granted on a target's budget: distinct attempts answered
    // "retry" (attempt 2, re-sent after UNAVAILABLE, once).
    let targeted: Vec<Call> = clean
        .iter()
        .cloned()
        .map(|c| Call {
            target: "t".into(),
            ..c
        })
        .collect();
    let v = history::check(&targeted, &held);
    assert_eq!(v.retries, BTreeMap::from([("t".to_string(), 2)]));

    // Held more than was reported: a phantom.
    let v = history::check(&clean, &BTreeMap::from([("a".to_string(), 4)]));
    assert_eq!(v.phantoms, ["a"]);
    // Held less than was answered: lost.
    let v = history::check(&clean, &BTreeMap::from([("a".to_string(), 1)]));
    assert_eq!(v.lost, [("a".to_string(), 3, 1)]);
    assert_eq!(v.lost_reports(), 2);
    // A count that went down, an attempt counted twice, two give-ups.
    let bad = [
        call("b", 1, 0, Ok((false, 1))),
        call("b", 2, 10, Ok((false, 2))),
        call("b", 3, 20, Ok((false, 1))),
        call("c", 1, 0, Ok((false, 1))),
        call("c", 1, 10, Ok((false, 2))),
        call("d", 1, 0, Ok((true, 1))),
        call("d", 2, 10, Ok((true, 2))),
    ];
    let held = BTreeMap::from([
        ("b".to_string(), 3),
        ("c".to_string(), 1),
        ("d".to_string(), 2),
    ]);
    let v = history::check(&bad, &held);
    assert_eq!(v.backwards, ["b"]);
    assert_eq!(v.duplicates_counted, ["c"]);
    assert_eq!(v.second_give_ups, ["d"]);
    assert!(v.phantoms.is_empty(), "{v:?}");
    assert_eq!(v.lost, [("c".to_string(), 2, 1)]);
}

/// Redis nodes in namespaces: a primary with two replicas under three
/// Sentinels (in this namespace), or a Cluster of three primaries with a
/// replica each.
struct Topology {
    nodes: Vec<NsRedis>,
    /// None: a Cluster.
    sentinels: Vec<(Child, u16)>,
    dir: std::path::PathBuf,
    /// Last: the namespaces go once the processes in them have.
    net: Net,
}

impl Topology {
    fn cluster() -> Topology {
        let mut net = Net::new();
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let (ns, ip) = net.add_node();
            let mut args = CLUSTER_NODE.to_vec();
            args.extend(["--enable-debug-command", "yes"]);
            nodes.push(NsRedis::start(&ns, ip, free_port(), &args));
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}:{}", n.ip, n.port))
            .collect();
        cluster_create(&addrs);
        let dir = std::env::temp_dir().join(format!("retryd-faults-{}", std::process::id()));
        let t = Topology {
            nodes,
            sentinels: Vec::new(),
            dir,
            net,
        };
        t.wait_cluster_ok(None);
        t
    }

    fn is_cluster(&self) -> bool {
        self.sentinels.is_empty()
    }

    /// `CLUSTER NODES` as a live node (not `skip`) sees it.
    fn cluster_nodes(&self, skip: Option<usize>) -> String {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| Some(*i) != skip && n.pid() != 0)
            .map(|(_, n)| n.cli(&["CLUSTER", "NODES"]))
            .find(|t| !t.trim().is_empty())
            .unwrap_or_default()
    }

    /// Waits until every live node but `skip` says the cluster is ok with
    /// every slot served, and every replica is in sync.
    fn wait_cluster_ok(&self, skip: Option<usize>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, n)| Some(*i) != skip && n.pid() != 0)
                .all(|(_, n)| {
                    let info = n.cli(&["CLUSTER", "INFO"]);
                    let repl = n.cli(&["INFO", "replication"]);
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384")
                        && (repl.contains("role:master") || repl.contains("master_link_status:up"))
                });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The node of `CLUSTER NODES` line `line`.
    fn node_of(&self, line: &str) -> Option<usize> {
        let addr = line.split_whitespace().nth(1)?;
        let port: u16 = addr.split('@').next()?.rsplit(':').next()?.parse().ok()?;
        self.nodes.iter().position(|n| n.port == port)
    }

    /// The Cluster's primary of slot 0, as a live node but `skip` sees it.
    fn slot_zero_primary(&self, skip: Option<usize>) -> Option<usize> {
        let nodes = self.cluster_nodes(skip);
        nodes
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
            .find(|l| {
                l.split_whitespace()
                    .skip(8)
                    .any(|r| r == "0" || r.starts_with("0-"))
            })
            .and_then(|l| self.node_of(l))
    }

    /// A replica of primary `p`.
    fn replica_of(&self, p: usize) -> usize {
        let nodes = self.cluster_nodes(None);
        let id = nodes
            .lines()
            .find(|l| self.node_of(l) == Some(p))
            .and_then(|l| l.split_whitespace().next())
            .expect("the primary's id")
            .to_string();
        nodes
            .lines()
            .filter(|l| l.split_whitespace().nth(3) == Some(id.as_str()))
            .find_map(|l| self.node_of(l))
            .expect("a replica of the primary")
    }

    /// Another primary than `p`.
    fn other_primary(&self, p: usize) -> usize {
        self.cluster_nodes(None)
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
            .filter_map(|l| self.node_of(l))
            .find(|&i| i != p)
            .expect("another primary")
    }

    /// Moves 1,000 slots (and their keys) from primary `from` to `to`.
    fn reshard(&self, from: usize, to: usize) {
        let id = |i: usize| self.nodes[i].cli(&["CLUSTER", "MYID"]).trim().to_string();
        let n = &self.nodes[from];
        cluster_reshard(&format!("{}:{}", n.ip, n.port), &id(from), &id(to), 1000);
    }

    fn sentinel() -> Topology {
        let mut net = Net::new();
        let mut nodes: Vec<NsRedis> = Vec::new();
        for i in 0..3 {
            let (ns, ip) = net.add_node();
            let mut args = vec![
                "--repl-diskless-sync-delay",
                "0",
                "--enable-debug-command",
                "yes",
            ];
            let primary;
            if i > 0 {
                primary = (nodes[0].ip.to_string(), nodes[0].port.to_string());
                args.extend(["--replicaof", &primary.0, &primary.1]);
            }
            nodes.push(NsRedis::start(&ns, ip, free_port(), &args));
        }
        let dir = std::env::temp_dir().join(format!("retryd-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("sentinel dir");
        // Bound to this namespace's bridge address too: the Sentinels
        // announce it to each other through the primary.
        let bind = format!("127.0.0.1 {}", net.root_ip());
        let (ip, port) = (nodes[0].ip.to_string(), nodes[0].port.to_string());
        let sentinels = (0..3)
            .map(|_| spawn_sentinel(&dir, &bind, &ip, &port, ""))
            .collect();
        let t = Topology {
            net,
            nodes,
            sentinels,
            dir,
        };
        t.wait_settled();
        t
    }

    fn ask(&self, args: &[&str]) -> String {
        ns_cli(Ipv4Addr::LOCALHOST, self.sentinels[0].1, args)
    }

    fn wait_settled(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.sentinels.iter().all(|(_, s)| {
                let at = |args: &[&str]| ns_cli(Ipv4Addr::LOCALHOST, *s, args);
                entries(&at(&["SENTINEL", "replicas", MASTER])) >= 2
                    && entries(&at(&["SENTINEL", "sentinels", MASTER])) >= 2
            }) && self.nodes[0]
                .cli(&["INFO", "replication"])
                .matches("state=online")
                .count()
                == 2;
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the Sentinels did not settle");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn toml(&self) -> String {
        if self.is_cluster() {
            let urls: Vec<String> = self
                .nodes
                .iter()
                .map(|n| format!("\"redis://{}:{}\"", n.ip, n.port))
                .collect();
            return format!("cluster_nodes = [{}]", urls.join(", "));
        }
        let urls: Vec<String> = self
            .sentinels
            .iter()
            .map(|(_, p)| format!("\"redis://127.0.0.1:{p}\""))
            .collect();
        format!(
            "sentinels = [{}]\nsentinel_master = \"{MASTER}\"",
            urls.join(", ")
        )
    }

    /// The node the Sentinels name as the primary; a Cluster's primary of
    /// slot 0.
    fn primary(&self) -> usize {
        if self.is_cluster() {
            return self.slot_zero_primary(None).expect("a primary of slot 0");
        }
        let answer = self.ask(&["SENTINEL", "get-master-addr-by-name", MASTER]);
        let port: u16 = answer
            .lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        self.nodes
            .iter()
            .position(|n| n.port == port)
            .unwrap_or_else(|| panic!("the Sentinels name no node of ours: {answer:?}"))
    }

    /// Waits until the Sentinels name a primary other than `old` that says
    /// it is one.
    fn wait_new_primary(&self, old: usize) -> usize {
        self.new_primary_within(old, Duration::from_secs(30))
            .unwrap_or_else(|| {
                panic!(
                    "no failover away from node {old} in 30 s; CLUSTER NODES / the Sentinels say:\n{}",
                    if self.is_cluster() {
                        self.cluster_nodes(Some(old))
                    } else {
                        self.ask(&["SENTINEL", "get-master-addr-by-name", MASTER])
                    }
                )
            })
    }

    /// The new primary, once there is one other than `old` (within `limit`).
    fn new_primary_within(&self, old: usize, limit: Duration) -> Option<usize> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.is_cluster() {
                if let Some(p) = self.slot_zero_primary(Some(old)).filter(|p| *p != old) {
                    self.wait_cluster_ok(Some(old));
                    return Some(p);
                }
            } else {
                let p = self.primary();
                if p != old && self.nodes[p].cli(&["ROLE"]).starts_with("master") {
                    return Some(p);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Waits until node `i` is a replica again (a demoted primary, back).
    ///
    /// And in sync: turned replica, a former primary resyncs (a full copy)
    /// while still reporting its own old, high replication offset; a fault
    /// of the primary meanwhile is a double failure (Sentinel may promote
    /// it, with its copy unfinished), which the suite does not claim to
    /// survive.
    fn wait_replica(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let repl = self.nodes[i].cli(&["INFO", "replication"]);
            if repl.contains("role:slave")
                && repl.contains("master_link_status:up")
                && repl.contains("master_sync_in_progress:0")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {i} never became a replica in sync"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for (c, _) in &mut self.sentinels {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The faults, in the order a run applies them to the primary of the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// `CLIENT PAUSE 1000 WRITE`.
    Pause,
    /// `DEBUG SLEEP 0.7`.
    Sleep,
    /// `SENTINEL FAILOVER`: the old primary demoted.
    Demotion,
    /// SIGSTOP past the timeout and the Sentinels' down-after, then SIGCONT.
    Stop,
    /// The primary's packets dropped (sockets open), then let through.
    Partition,
    /// SIGKILL (a Cluster's node is then started again, and rejoins as a
    /// replica).
    Kill,
    /// A Cluster's resharding under load: 1,000 slots moved away from the
    /// primary.
    Reshard,
}

/// What a run saw: the checker's verdict, the calls, and per fault when it
/// began and how long until the load went on (since the history began).
struct Run {
    verdict: history::Verdict,
    calls: Vec<Call>,
    timeline: Vec<(Fault, Duration, Duration)>,
    slowest: Duration,
    answered: u64,
    refused: u64,
}

impl Run {
    /// Where each lost report's answer fell: the fault whose window (from
    /// its start until the load went on, and 0.5 s more) holds it, or
    /// "outside any fault".
    fn loss_windows(&self) -> BTreeSet<String> {
        let lost: BTreeMap<&str, u32> = self
            .verdict
            .lost
            .iter()
            .map(|(j, _, held)| (j.as_str(), *held))
            .collect();
        let mut windows = BTreeSet::new();
        for c in &self.calls {
            let (Some(held), Ok(a)) = (lost.get(c.job.as_str()), c.result) else {
                continue;
            };
            if a.failure_count <= *held {
                continue;
            }
            let during = self.timeline.iter().find(|(_, at, took)| {
                c.completed >= *at && c.completed <= *at + *took + Duration::from_millis(500)
            });
            windows
                .insert(during.map_or("outside any fault".to_string(), |f| format!("{:?}", f.0)));
        }
        windows
    }
}

/// The budget of the even workers' target: a failure costs a token, and
/// retries stop while half or fewer are left (no success gives any back).
const BUDGET: usize = 2000;

/// Retries the budget may grant at most: the tokens above half.
fn budget_holds(run: &Run) -> bool {
    run.verdict
        .retries
        .get("downstream")
        .is_some_and(|&n| n > 0 && n <= BUDGET / 2)
}

/// One run at a time: each starts six Redis processes and three sidecars
/// on a 2-core machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_faults(topology: fn() -> Topology, replicas_ack: u32, faults: &[Fault]) -> Run {
    let _one = ONE_AT_A_TIME.lock().await;
    assert!(
        netns::available(),
        "the fault suite makes network namespaces: run it as root with iproute2 and nftables (.ci/run and scripts/test do)"
    );
    let mut t = tokio::task::block_in_place(topology);
    let kind = if t.is_cluster() {
        "Cluster"
    } else {
        "Sentinel"
    };
    let conf = format!(
        // No bound may remove a job during the run (the dead-letter bound
        // would take the oldest dead jobs: not a loss).
        "[policies.default]\nmax_retries = 5\n[budgets.downstream]\nmax_tokens = {BUDGET}\n\
         [state]\nbackend = \"redis\"\nmax_dead_jobs = 10_000_000\n[state.redis]\n{}\n\
         timeout = \"500ms\"\nreplicas_ack = {replicas_ack}\nkey_prefix = \"faults\"\n",
        t.toml()
    );
    let mut sidecars = Vec::new();
    for _ in 0..3 {
        sidecars.push(Harness::start(&conf).await);
    }
    let clients: Vec<Client> = sidecars.iter().map(|h| h.client.clone()).collect();
    let load = Workload::run(&clients, 6, "f", "downstream");
    assert!(load.progress(300).await, "the fleet answers at all");
    let began = load.began;
    let mut timeline = Vec::new();
    for &fault in faults {
        let p = t.primary();
        let started = Instant::now();
        match fault {
            Fault::Pause => {
                t.nodes[p].cli(&["CLIENT", "PAUSE", "1000", "WRITE"]);
                tokio::time::sleep(Duration::from_millis(1100)).await;
            }
            Fault::Sleep => {
                let node = (t.nodes[p].ip, t.nodes[p].port);
                tokio::task::spawn_blocking(move || {
                    ns_cli(node.0, node.1, &["DEBUG", "SLEEP", "0.7"])
                })
                .await
                .expect("debug sleep");
            }
            Fault::Demotion if t.is_cluster() => {
                // A manual failover whose replica does not catch up within
                // Redis's 5 s is dropped (a loaded machine): asked again, as
                // an operator would.
                let r = t.replica_of(p);
                tokio::task::block_in_place(|| {
                    for _ in 0..3 {
                        assert_eq!(t.nodes[r].cli(&["CLUSTER", "FAILOVER"]).trim(), "OK");
                        if t.new_primary_within(p, Duration::from_secs(8)).is_some() {
                            return;
                        }
                    }
                    t.wait_new_primary(p);
                });
            }
            Fault::Demotion => {
                assert_eq!(t.ask(&["SENTINEL", "FAILOVER", MASTER]).trim(), "OK");
                tokio::task::block_in_place(|| t.wait_new_primary(p));
            }
            Fault::Reshard => {
                let to = t.other_primary(p);
                tokio::task::block_in_place(|| {
                    t.reshard(p, to);
                    t.wait_cluster_ok(None);
                });
            }
            Fault::Stop => {
                t.nodes[p].signal("-STOP");
                tokio::task::block_in_place(|| t.wait_new_primary(p));
            }
            Fault::Partition => {
                t.net.cut(&t.nodes[p].ns);
                tokio::task::block_in_place(|| t.wait_new_primary(p));
            }
            Fault::Kill => {
                t.nodes[p].kill();
                tokio::task::block_in_place(|| t.wait_new_primary(p));
            }
        }
        // A Cluster's new primary has no replica until the old one is back:
        // with replicas_ack its slots wait for that.
        let revert_first = t.is_cluster() && replicas_ack > 0;
        if !revert_first {
            assert!(load.progress(100).await, "load resumed after {fault:?}");
            timeline.push((fault, started - began, started.elapsed()));
        }
        match fault {
            Fault::Stop => t.nodes[p].signal("-CONT"),
            Fault::Partition => t.net.heal(&t.nodes[p].ns),
            Fault::Kill if t.is_cluster() => {
                tokio::task::block_in_place(|| t.nodes[p].restart());
            }
            _ => {}
        }
        if matches!(fault, Fault::Demotion | Fault::Stop | Fault::Partition)
            || (fault == Fault::Kill && t.is_cluster())
        {
            tokio::task::block_in_place(|| {
                t.wait_replica(p);
                if t.is_cluster() {
                    t.wait_cluster_ok(None);
                }
            });
        }
        if revert_first {
            assert!(load.progress(100).await, "load resumed after {fault:?}");
            timeline.push((fault, started - began, started.elapsed()));
        }
    }
    let (answered, refused) = (
        load.answered.load(std::sync::atomic::Ordering::Relaxed),
        load.refused.load(std::sync::atomic::Ordering::Relaxed),
    );
    let (history, slowest) = load.stop().await;
    let calls = history.calls();
    let jobs: BTreeSet<String> = calls.iter().map(|c| c.job.clone()).collect();
    let mut c = sidecars[0].client.clone();
    let held = history::finals(&mut c, &jobs).await;
    let verdict = history::check(&calls, &held);
    eprintln!(
        "fault suite ({kind}, replicas_ack = {replicas_ack}): {} calls, {answered} answered, {refused} refused, \
         {} jobs; slowest call {slowest:?}; (fault, began, load went on after): {timeline:?}; \
         retries granted on the budget of {BUDGET}: {:?}; verdict: {} anomalies, {} acknowledged reports lost",
        verdict.calls,
        verdict.jobs,
        verdict.retries,
        verdict.anomalies(),
        verdict.lost_reports()
    );
    Run {
        verdict,
        calls,
        timeline,
        slowest,
        answered,
        refused,
    }
}

/// `CLIENT PAUSE`, `DEBUG SLEEP`, SIGSTOP past the timeout, a partition
/// and SIGKILL, one after another, with `replicas_ack = 1`: nothing the
/// fleet acknowledged is lost, nothing is counted twice or out of order,
/// and no call outlives its bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_faults_and_a_partition_under_a_recorded_history() {
    use Fault::*;
    let run = run_faults(
        Topology::sentinel,
        1,
        &[Pause, Sleep, Stop, Partition, Kill],
    )
    .await;
    assert_eq!(run.verdict.anomalies(), 0, "{:?}", run.verdict);
    assert!(
        run.verdict.lost.is_empty(),
        "acknowledged reports lost ({:?}): {:?}",
        run.loss_windows(),
        run.verdict.lost
    );
    assert!(run.answered > 1000 && run.refused < run.answered / 10);
    assert!(budget_holds(&run), "budget: {:?}", run.verdict.retries);
    // No call outlived its bound: the 500 ms timeout, far below the
    // callers' 5 s deadline.
    assert!(
        run.slowest < Duration::from_secs(2),
        "slowest call {:?}",
        run.slowest
    );
}

/// A failover by demotion (`SENTINEL FAILOVER`): until the Sentinels turn
/// the old primary into a replica, it and the replica still following it
/// take and acknowledge writes that the promoted replica never sees. With
/// `replicas_ack = 1` (of 2 replicas) such writes are lost, all within the
/// failover; with `replicas_ack = 2` (every replica) the old primary cannot
/// get them acknowledged once one replica is promoted, and none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_by_demotion_loses_only_what_replicas_ack_leaves_open() {
    let one = run_faults(Topology::sentinel, 1, &[Fault::Demotion]).await;
    assert_eq!(one.verdict.anomalies(), 0, "{:?}", one.verdict);
    let windows = one.loss_windows();
    assert!(
        windows.iter().all(|w| w == "Demotion"),
        "lost outside the failover: {windows:?}"
    );
    let every = run_faults(Topology::sentinel, 2, &[Fault::Demotion]).await;
    assert_eq!(every.verdict.anomalies(), 0, "{:?}", every.verdict);
    assert!(
        every.verdict.lost.is_empty(),
        "acknowledged reports lost with every replica acknowledging: {:?}",
        every.verdict.lost
    );
}

/// The same on a Redis Cluster in namespaces (three primaries, a replica
/// each), `replicas_ack = 1`: `CLIENT PAUSE`, `DEBUG SLEEP`, a resharding
/// under load, `CLUSTER FAILOVER` (the replica takes over in agreement with
/// its primary, so nothing is lost even then), SIGSTOP past the node
/// timeout, a partition, and SIGKILL (the node started again rejoins as a
/// replica).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_faults_and_a_partition_under_a_recorded_history() {
    use Fault::*;
    let run = run_faults(
        Topology::cluster,
        1,
        &[Pause, Sleep, Reshard, Demotion, Stop, Partition, Kill],
    )
    .await;
    assert_eq!(run.verdict.anomalies(), 0, "{:?}", run.verdict);
    assert!(
        run.verdict.lost.is_empty(),
        "acknowledged reports lost ({:?}): {:?}",
        run.loss_windows(),
        run.verdict.lost
    );
    assert!(budget_holds(&run), "budget: {:?}", run.verdict.retries);
    assert!(
        run.slowest < Duration::from_secs(2),
        "slowest call {:?}",
        run.slowest
    );
}
