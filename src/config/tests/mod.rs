use super::*;
use crate::engine::{Backoff, Jitter, OnExhausted};
use std::time::Duration;

fn err(text: &str) -> String {
    Config::from_toml(text)
        .expect_err("should be rejected")
        .to_string()
}

const FULL_EXAMPLE: &str = r#"
[server]
grpc_addr = "127.0.0.1:50051"
metrics_addr = "0.0.0.0:9464"

[state]
max_jobs = 1_000_000
idle_ttl = "24h"
max_dead_jobs = 10_000
dead_ttl = "7d"

[policies.extraction]
max_retries = 3
backoff = { kind = "exponential", base = "30s", multiplier = 4.0 }
jitter = { kind = "proportional", fraction = 0.25 }
max_delay = "1h"
max_retry_duration = "2h"
on_unknown = "retry"
category_limits = { rate_limit = 10 }

[policies.pipeline]
max_retries = 3
backoff = { kind = "schedule", delays = ["60s", "300s", "900s"] }

[job_types]
extraction = "extraction"
chunking = "pipeline"

[[priority_bands]]
min = 80
policy = "high_priority"

[[rules]]
category = "docker"
class = "transient"
message_regex = ["connection.*refused"]
"#;

#[test]
fn a_full_example_loads() {
    let c = Config::from_toml(FULL_EXAMPLE).expect("valid");
    let p = c.policies.get("extraction").expect("extraction");
    assert_eq!(p.max_retries, 3);
    assert_eq!(
        p.backoff,
        Backoff::Exponential {
            base: Duration::from_secs(30),
            multiplier: 4.0,
            max_doublings: None,
        }
    );
    assert_eq!(p.jitter, Jitter::Proportional(0.25));
    assert_eq!(p.max_retry_duration, Some(Duration::from_secs(7200)));
    assert_eq!(p.limit_for("rate_limit"), (10, true));
    assert_eq!(
        c.policies
            .select("", "chunking", None)
            .map(|p| p.name.to_string()),
        Ok("pipeline".to_string())
    );
    assert_eq!(c.limits.dead_ttl, Duration::from_secs(7 * 86400));
    assert_eq!(c.rules.len(), 1);
    let summary = c.summary();
    assert!(summary.contains("extraction"), "{summary}");
    assert!(summary.contains("chunking -> pipeline"), "{summary}");
}

#[test]
fn empty_config_is_builtins() {
    let c = Config::from_toml("").expect("valid");
    assert_eq!(c.policies.policies().len(), 4);
    assert_eq!(c.grpc_addr.to_string(), DEFAULT_GRPC_ADDR);
    assert_eq!(c.limits, Limits::default());
}

#[test]
fn value_errors_name_the_key() {
    assert_eq!(
        err("[policies.extraction]\nbackoff = { kind = \"exponential\", multiplier = 0.5 }"),
        "policies.extraction.backoff.multiplier: must be >= 1.0 (and <= 1000), got 0.5"
    );
    assert_eq!(
        err("[policies.p]\nmax_retries = 2\nmax_attempts = 3"),
        "policies.p.max_attempts: set max_retries or max_attempts, not both"
    );
    assert_eq!(
        err("[policies.p]\nmax_retries = -1"),
        "policies.p.max_retries: must be >= 0, got -1"
    );
    assert_eq!(
        err("[policies.p]\nmax_attempts = 0"),
        "policies.p.max_attempts: must be >= 1, got 0"
    );
    assert_eq!(
        err("[state]\nmax_jobs = 0"),
        "state.max_jobs: must be >= 1, got 0"
    );
    assert_eq!(
        err("[state]\nidle_ttl = \"0s\""),
        "state.idle_ttl: must be greater than 0s"
    );
    assert_eq!(
        err("[policies.p]\non_unknown = \"maybe\""),
        "policies.p.on_unknown: must be one of \"retry\", \"give_up\", got \"maybe\""
    );
    assert_eq!(
        err("[policies.p]\njitter = { kind = \"proportional\", fraction = 2.0 }"),
        "policies.p.jitter.fraction: must be > 0.0 and <= 1.0, got 2"
    );
    assert_eq!(
        err("[policies.p]\njitter = { kind = \"full\", fraction = 0.2 }"),
        "policies.p.jitter.fraction: only used with kind = \"proportional\" or \"symmetric\""
    );
    assert_eq!(
        err("[policies.p]\nbackoff = { kind = \"schedule\", delays = [] }"),
        "policies.p.backoff.delays: a schedule needs at least one delay"
    );
    assert_eq!(
        err("[policies.p]\nbackoff = { kind = \"constant\" }"),
        "policies.p.backoff.delay: required with kind = \"constant\""
    );
    assert_eq!(
        err("[policies.p]\nbackoff = { kind = \"schedule\", delays = [\"1s\"], base = \"1s\" }"),
        "policies.p.backoff.base: only used with kind = \"exponential\" or \"linear\""
    );
    assert_eq!(
        err("[server]\ngrpc_addr = \"localhost\""),
        "server.grpc_addr: must be an address like \"127.0.0.1:50051\", got \"localhost\""
    );
}

#[test]
fn durations_are_checked_where_written() {
    let e = err("[policies.p]\nmax_delay = \"5 parsecs\"");
    assert!(
        e.starts_with("policies.p.max_delay: invalid duration \"5 parsecs\""),
        "{e}"
    );
    assert!(e.contains("(line 2)"), "{e}");
    let e = err("[policies.p]\nmax_delay = 30");
    assert!(
        e.starts_with(
            "policies.p.max_delay: invalid type: integer `30`, expected a duration string"
        ),
        "{e}"
    );
    let c = Config::from_toml("[policies.p]\nmax_delay = \"1h30m\"").expect("valid");
    assert_eq!(
        c.policies.get("p").map(|p| p.max_delay),
        Some(Duration::from_secs(5400))
    );
}

#[test]
fn unknown_keys_are_errors_with_their_path() {
    assert_eq!(
        err("[policies.extraction]\nbackoff = { kind = \"exponential\", multipler = 3.0 }"),
        "policies.extraction.backoff.multipler: unknown key (did you mean `multiplier`?)"
    );
    assert_eq!(
        err("[state]\nmax_job = 5"),
        "state.max_job: unknown key (did you mean `max_jobs`?)"
    );
    assert_eq!(
        err("[sever]\ngrpc_addr = \"x\""),
        "sever: unknown key (did you mean `server`?)"
    );
    assert_eq!(
        err("[[rules]]\ncategory = \"x\"\nclass = \"transient\"\ntype = [\"A\"]"),
        "rules[0].type: unknown key (did you mean `types`?)"
    );
}

#[test]
fn references_to_policies_must_exist() {
    let e = err("[job_types]\nextraction = \"nope\"");
    assert!(
        e.starts_with("job_types.extraction: unknown policy \"nope\" (known: aggressive"),
        "{e}"
    );
    let e = err("[[priority_bands]]\nmin = 10\npolicy = \"nope\"");
    assert!(
        e.starts_with("priority_bands[0].policy: unknown policy"),
        "{e}"
    );
    assert_eq!(
        err("[[priority_bands]]\nmin = 101\npolicy = \"default\""),
        "priority_bands[0].min: must be <= 100, got 101"
    );
    assert_eq!(
        err("[[priority_bands]]\npolicy = \"default\""),
        "priority_bands[0]: needs min, max or both"
    );
}

#[test]
fn rules_are_checked_matcher_by_matcher() {
    let base = "[[rules]]\ncategory = \"c\"\nclass = \"transient\"\n";
    let e = err(&format!("{base}message_regex = [\"ok\", \"(unclosed\"]"));
    assert!(
        e.starts_with("rules[0].message_regex[1]: invalid regex"),
        "{e}"
    );
    assert_eq!(
        err(&format!("{base}http_status = [429, \"600-700\"]")),
        "rules[0].http_status[1]: must be a status 100-599 like 503 or a range like \"500-599\", got \"600-700\""
    );
    assert_eq!(
        err(&format!("{base}grpc_codes = [\"UNAVAILABLE\", \"NOPE\"]")),
        "rules[0].grpc_codes[1]: must be a gRPC code name like \"UNAVAILABLE\" or a number 1-16, got \"NOPE\""
    );
    assert_eq!(
        err(base),
        "rules[0]: needs at least one of types, type_contains, message_regex, http_status, grpc_codes"
    );
    assert_eq!(
        err("[[rules]]\ncategory = \"c\"\nclass = \"sometimes\"\ntypes = [\"X\"]"),
        "rules[0].class: must be one of \"transient\", \"permanent\", got \"sometimes\""
    );
    let e = err("[[rules]]\nclass = \"transient\"\ntypes = [\"X\"]");
    assert!(e.starts_with("rules[0]: missing field `category`"), "{e}");
    let c = Config::from_toml(&format!(
        "{base}http_status = [429, \"500-503\", \"418\"]\ngrpc_codes = [14, \"aborted\"]"
    ))
    .expect("valid");
    assert_eq!(
        c.rules[0].http_status,
        vec![(429, 429), (500, 503), (418, 418)]
    );
    assert_eq!(c.rules[0].grpc_codes, vec![14, 10]);
}

#[test]
fn syntax_errors_give_a_line() {
    let e = err("[policies.p\nmax_retries = 1");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn batch_bounds() {
    let c = Config::from_toml("[state]\nmax_batches = 5\nbatch_ttl = \"1h\"").expect("valid");
    assert_eq!(c.batch_limits.max_batches, 5);
    assert_eq!(c.batch_limits.batch_ttl, Duration::from_secs(3600));
    assert_eq!(
        err("[state]\nmax_batches = 0"),
        "state.max_batches: must be >= 1, got 0"
    );
    assert_eq!(
        err("[state]\nbatch_ttl = \"0s\""),
        "state.batch_ttl: must be greater than 0s"
    );
}

#[test]
fn budgets_by_target_and_default() {
    let c = Config::from_toml(
        "[budgets.default]\nmax_tokens = 100\ntoken_ratio = 0.1\nmax_retrying = 1000\non_exhausted = \"give_up\"\n\n[budgets.s3]\nmax_tokens = 10\non_exhausted = \"defer\"",
    )
    .expect("valid");
    assert_eq!(c.budgets.for_target("db").map(|b| b.max_tokens), Some(100));
    let s3 = c.budgets.for_target("s3").expect("s3");
    assert_eq!(
        (s3.max_tokens, s3.on_exhausted, s3.max_retrying),
        (10, OnExhausted::Defer, 1000)
    );
    assert!(c.summary().contains("s3: max_tokens 10"));
    assert_eq!(
        err("[budgets.s3]\nmax_tokens = 0"),
        "budgets.s3.max_tokens: must be >= 1, got 0"
    );
    assert_eq!(
        err("[budgets.s3]\ntoken_ratio = -1.0"),
        "budgets.s3.token_ratio: must be > 0 and <= 1000, got -1"
    );
    assert_eq!(
        err("[budgets.s3]\non_exhausted = \"panic\""),
        "budgets.s3.on_exhausted: must be one of \"give_up\", \"defer\", got \"panic\""
    );
    assert_eq!(
        err("[budgets.s3]\nmax_token = 5"),
        "budgets.s3.max_token: unknown key (did you mean `max_tokens`?)"
    );
    assert!(Config::from_toml("").expect("valid").budgets.is_empty());
}

#[test]
fn max_attempts_is_max_retries_plus_one() {
    let c = Config::from_toml("[policies.p]\nmax_attempts = 3").expect("valid");
    assert_eq!(c.policies.get("p").map(|p| p.max_retries), Some(2));
}

#[test]
fn the_redis_backend_and_its_errors_name_the_key() {
    let c = Config::from_toml(
        "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"rediss://u:secret@cache:6380/2\"\nkey_prefix = \"jobs:a\"\ntimeout = \"1s\"\non_unavailable = \"local\"\n",
    )
    .expect("valid");
    let BackendSettings::Redis(r) = &c.backend else {
        panic!("redis backend");
    };
    assert_eq!(
        (
            r.url.as_str(),
            r.key_prefix.as_str(),
            r.timeout,
            r.on_unavailable
        ),
        (
            "rediss://u:secret@cache:6380/2",
            "jobs:a",
            Duration::from_secs(1),
            OnUnavailable::Local
        )
    );
    // The summary names the backend, never the password.
    let summary = c.summary();
    assert!(
        summary.contains("backend: redis rediss://u:***@cache:6380/2"),
        "{summary}"
    );
    assert!(!summary.contains("secret"));
    // No [state.redis]: the default standalone URL.
    let c = Config::from_toml("[state]\nbackend = \"redis\"").expect("valid");
    assert_eq!(c.backend, BackendSettings::Redis(RedisSettings::default()));
    let cluster = Config::from_toml(
        "[state]\nbackend = \"redis\"\n[state.redis]\ncluster_nodes = [\"redis://a:7000\", \"redis://b:7000\"]",
    )
    .expect("valid");
    let BackendSettings::Redis(r) = &cluster.backend else {
        panic!("redis backend");
    };
    assert_eq!((r.url.as_str(), r.cluster_nodes.len()), ("", 2));
    // A primary found through Sentinel: its own password, never shown.
    let sentinel = Config::from_toml(
        "[state]\nbackend = \"redis\"\n[state.redis]\nsentinels = [\"redis://:spw@s1:26379\", \"redis://:spw@s2:26379\"]\nsentinel_master = \"mymaster\"\npassword = \"ppw\"\ndb = 2",
    )
    .expect("valid");
    let BackendSettings::Redis(r) = &sentinel.backend else {
        panic!("redis backend");
    };
    let s = r.sentinel.as_ref().expect("sentinel settings");
    assert_eq!(
        (
            r.url.as_str(),
            s.master.as_str(),
            s.password.as_deref(),
            s.db,
            s.sentinels.len()
        ),
        ("", "mymaster", Some("ppw"), 2, 2)
    );
    let summary = sentinel.summary();
    assert!(
        summary.contains("backend: redis sentinel \"mymaster\" via s1:26379,s2:26379"),
        "{summary}"
    );
    assert!(
        !summary.contains("pw") && !format!("{s:?}").contains("pw"),
        "{summary}"
    );
    for (text, want) in [
        (
            "[state]\nbackend = \"etcd\"",
            "state.backend: must be one of \"memory\", \"redis\", got \"etcd\"",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"http://x\"",
            "state.redis.url: must be a redis:// or rediss:// URL, got \"http://x\"",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://x\"\ncluster_nodes = [\"redis://y\"]",
            "state.redis.cluster_nodes: set either state.redis.url (a standalone server) or cluster_nodes (a Redis Cluster), not both",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\ncluster_nodes = [\"redis://y\", \"tcp://z\"]",
            "state.redis.cluster_nodes[1]: must be a redis:// or rediss:// URL, got \"tcp://z\"",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nkey_prefix = \"a{b}\"",
            "state.redis.key_prefix: \"a{b}\" is not a valid prefix (1-64 of A-Z a-z 0-9 _ - . :)",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\ntimeout = \"2m\"",
            "state.redis.timeout: must be between 1ms and 60s, got 2m",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\non_unavailable = \"panic\"",
            "state.redis.on_unavailable: must be one of \"reject\", \"local\", got \"panic\"",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\ntls_cert = \"c.pem\"",
            "state.redis.tls_cert: state.redis.tls_cert and tls_key go together (a client certificate and its key)",
        ),
        (
            "[state]\nbackend = \"redis\"\nsnapshot_path = \"/tmp/s\"",
            "state.snapshot_path: is for the memory backend: with state.backend = \"redis\" the state lives in Redis",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://x\"\nprefix = \"a\"",
            "state.redis.prefix: unknown key",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://x\"\nsentinels = [\"redis://s:26379\"]\nsentinel_master = \"m\"",
            "state.redis.sentinels: set one of state.redis.url (a standalone server), cluster_nodes (a Redis Cluster) or sentinels (a primary found through Sentinel)",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nsentinels = [\"redis://s:26379\"]",
            "state.redis.sentinel_master: the name the Sentinels monitor the primary under is needed with sentinels (1-128 of A-Z a-z 0-9 _ - .), got \"\"",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nsentinels = []\nsentinel_master = \"m\"",
            "state.redis.sentinel_master: is for a primary found through Sentinel (with state.redis.sentinels); with url, the user, password and database go in the URL",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nsentinels = [\"redis://:a@s1:26379\", \"redis://:b@s2:26379\"]\nsentinel_master = \"m\"",
            "state.redis.sentinels[1]: every Sentinel URL must have the same scheme, user and password as the first",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nsentinels = [\"s1:26379\"]\nsentinel_master = \"m\"",
            "state.redis.sentinels[0]: must be a redis:// or rediss:// URL, got \"s1:26379\"",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nsentinels = [\"redis://s1:26379\"]\nsentinel_master = \"m\"\ndb = -1",
            "state.redis.db: must be between 0 and 1000000, got -1",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nsentinels = [\"redis://s1:26379/2\"]\nsentinel_master = \"m\"",
            "state.redis.sentinels[0]: redis://s1:26379/2: a Sentinel has no database; the primary's is state.redis.db",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nsentinels = [\"u:secret@s1:26379\"]\nsentinel_master = \"m\"",
            "state.redis.sentinels[0]: must be a redis:// or rediss:// URL, got \"***@s1:26379\"",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nreplicas_ack = 17",
            "state.redis.replicas_ack: must be between 0 and 16, got 17",
        ),
        (
            "[state]\nbackend = \"redis\"\n[state.redis]\nurl = \"redis://x\"\npassword = \"p\"",
            "state.redis.password: is for a primary found through Sentinel (with state.redis.sentinels); with url, the user, password and database go in the URL",
        ),
    ] {
        assert_eq!(err(text), want, "{text}");
    }
}

#[test]
fn redis_hosts_and_redaction() {
    assert_eq!(
        redis_host("redis://u:p@cache.local:6379/0"),
        "cache.local:6379"
    );
    assert_eq!(redis_host("rediss://10.0.0.7:6380"), "10.0.0.7:6380");
    assert_eq!(redacted("redis://u:p@h:1/0"), "redis://u:***@h:1/0");
    assert_eq!(redacted("redis://:p@h:1"), "redis://:***@h:1");
    assert_eq!(redacted("redis://h:1"), "redis://h:1");
}

#[test]
fn every_problem_is_reported_in_the_order_of_the_file() {
    let text = r#"
[server]
grpc_addr = "localhost"

[state]
max_job = 5
idle_ttl = "0s"

[policies.fast]
max_retries = -1
backoff = { kind = "exponential", multipler = 3.0 }

[policies.slow]
max_delay = 30

[job_types]
mail = "slow"
sms = "nope"

[[rules]]
category = "x"
class = "sometimes"
types = ["A"]

[budgets.db]
max_tokens = 0
"#;
    let e = err(text);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(
        lines,
        [
            "9 problems:",
            "  server.grpc_addr: must be an address like \"127.0.0.1:50051\", got \"localhost\"",
            "  state.max_job: unknown key (did you mean `max_jobs`?)",
            "  state.idle_ttl: must be greater than 0s",
            "  policies.fast.max_retries: must be >= 0, got -1",
            "  policies.fast.backoff.multipler: unknown key (did you mean `multiplier`?)",
            "  policies.slow.max_delay: invalid type: integer `30`, expected a duration string such as \"30s\", \"5m\" or \"1h30m\" (line 14)",
            "  job_types.sms: unknown policy \"nope\" (known: aggressive, conservative, default, fast, high_priority, slow)",
            "  rules[0].class: must be one of \"transient\", \"permanent\", got \"sometimes\"",
            "  budgets.db.max_tokens: must be >= 1, got 0",
        ],
        "{e}"
    );
    // A policy with a problem of its own is left out without a second
    // problem for the job type that names it; `nope` is unknown.
    assert!(!e.contains("job_types.mail"), "{e}");
}

#[test]
fn suggestions_come_from_the_keys_of_the_same_table() {
    use super::raw::did_you_mean;
    assert_eq!(
        did_you_mean("state.redis.cluster_node"),
        Some("cluster_nodes")
    );
    assert_eq!(did_you_mean("policies.p.jiter"), Some("jitter"));
    assert_eq!(did_you_mean("policies.p.backoff.kin"), Some("kind"));
    assert_eq!(did_you_mean("priority_bands[1].polcy"), Some("policy"));
    assert_eq!(did_you_mean("state.completely_else"), None);
    assert_eq!(did_you_mean("polices"), Some("policies"));
}

#[test]
fn every_key_listed_for_suggestions_is_accepted() {
    use super::raw::*;
    let cases: [(&str, &[&str], &str); 11] = [
        ("[server]", SERVER_KEYS, "{k}_probe = 1"),
        ("[state]", STATE_KEYS, ""),
        ("[state.redis]", REDIS_KEYS, ""),
        ("[policies.p]", POLICY_KEYS, ""),
        ("[policies.p.backoff]", BACKOFF_KEYS, ""),
        ("[policies.p.categories.c]", CATEGORY_KEYS, ""),
        ("[policies.p.categories.c.backoff]", BACKOFF_KEYS, ""),
        ("[budgets.b]", BUDGET_KEYS, ""),
        ("[breakers.b]", BREAKER_KEYS, ""),
        ("[[rules]]", RULE_KEYS, ""),
        ("[[priority_bands]]", BAND_KEYS, ""),
    ];
    for (table, keys, _) in cases {
        for k in keys {
            // A key that is not accepted reports "unknown key" whatever its
            // value; an accepted one may have a wrong value, never that.
            let text = format!("{table}\n{k} = {{}}\n");
            let e = Config::from_toml(&text)
                .map(|_| String::new())
                .unwrap_or_else(|e| e.to_string());
            assert!(
                !e.contains(&format!("{k}: unknown key")),
                "{table} {k}: {e}"
            );
        }
    }
    for k in TOP_KEYS {
        let e = Config::from_toml(&format!("{k} = 1")).map_err(|e| e.to_string());
        assert!(!format!("{e:?}").contains("unknown key"), "{k}: {e:?}");
    }
}

mod controls;

/// Five different mistakes, two of them in one policy: every one is
/// reported in one run, each near-miss gets a suggestion, and the broken
/// policy is still among the known names.
#[test]
fn five_mistakes_are_five_problems_in_one_run() {
    let text = r#"
[policies.invoice]
max_retry = 3
backoff = { kind = "exponential", base = 30 }
max_delay = 30

[policies.mail]
max_retrys = 4

[job_types]
billing = "invoce"
"#;
    let e = err(text);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(
        lines,
        [
            "5 problems:",
            "  policies.invoice.max_retry: unknown key (did you mean `max_retries`?)",
            "  policies.invoice.backoff.base: invalid type: integer `30`, expected a duration string such as \"30s\", \"5m\" or \"1h30m\" (line 4)",
            "  policies.invoice.max_delay: invalid type: integer `30`, expected a duration string such as \"30s\", \"5m\" or \"1h30m\" (line 5)",
            "  policies.mail.max_retrys: unknown key (did you mean `max_retries`?)",
            "  job_types.billing: unknown policy \"invoce\" (did you mean \"invoice\"? known: aggressive, conservative, default, high_priority, invoice, mail)",
        ],
        "{e}"
    );
}

#[test]
fn near_misses_by_prefix_and_by_edits_get_a_suggestion() {
    use super::raw::did_you_mean;
    for (key, want) in [
        ("policies.p.max_retry", "max_retries"),
        ("policies.p.max_retrys", "max_retries"),
        ("policies.p.max-retries", "max_retries"),
        ("state.max_dead", "max_dead_jobs"),
        ("delivery.max_payload", "max_payload_bytes"),
        ("delivery.default_leas", "default_lease"),
        ("server.metrics", "metrics_addr"),
    ] {
        assert_eq!(did_you_mean(key), Some(want), "{key}");
    }
    assert_eq!(did_you_mean("policies.p.colour"), None);
}
