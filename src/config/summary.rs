//! What `retryd check-config` prints of a valid configuration.

use std::fmt::Write as _;

use super::{BackendSettings, Config, OnUnavailable};
use crate::engine::{Human, OnExhausted, UNLIMITED};

impl Config {
    /// What is valid but probably not meant: `check-config` prints these
    /// and the server logs them at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for p in self.policies.policies() {
            if p.max_retry_duration.is_some() {
                continue;
            }
            let mut unlimited: Vec<String> = p
                .categories
                .iter()
                .filter(|(_, o)| o.max_retries == Some(UNLIMITED))
                .map(|(c, _)| format!("policies.{}.categories.{c}.max_retries", p.name))
                .collect();
            unlimited.sort();
            if p.max_retries == UNLIMITED {
                unlimited.insert(0, format!("policies.{}.max_retries", p.name));
            }
            for key in unlimited {
                w.push(format!(
                    "{key}: unlimited with no max_retry_duration: a job that keeps failing \
                     retries forever (set policies.{}.max_retry_duration)",
                    p.name
                ));
            }
        }
        w
    }

    /// What `retryd check-config` prints.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let l = &self.limits;
        let _ = writeln!(
            s,
            "server: grpc {}, metrics {}",
            self.grpc_addr, self.metrics_addr
        );
        let _ = writeln!(
            s,
            "state: max_jobs {}, idle_ttl {}, max_dead_jobs {}, dead_ttl {}",
            l.max_jobs,
            Human(l.idle_ttl),
            l.max_dead_jobs,
            Human(l.dead_ttl)
        );
        let b = &self.batch_limits;
        let _ = writeln!(
            s,
            "batches: max_batches {}, batch_ttl {}",
            b.max_batches,
            Human(b.batch_ttl)
        );
        if let Some(tls) = &self.tls {
            let _ = writeln!(
                s,
                "tls: cert {}, key {}{}",
                tls.cert.display(),
                tls.key.display(),
                tls.client_ca.as_ref().map_or(String::new(), |ca| format!(
                    ", client certificates signed by {}",
                    ca.display()
                ))
            );
        }
        match &self.backend {
            BackendSettings::Memory => {
                let _ = writeln!(s, "backend: memory (this sidecar's own state)");
            }
            BackendSettings::Redis(r) => {
                let _ = writeln!(
                    s,
                    "backend: {} (fleet state), key_prefix {}, timeout {}, on_unavailable {}",
                    r.describe(),
                    r.key_prefix,
                    Human(r.timeout),
                    match r.on_unavailable {
                        OnUnavailable::Reject => "reject",
                        OnUnavailable::Local => "local",
                    }
                );
            }
        }
        if let Some(snap) = &self.snapshot {
            let _ = writeln!(
                s,
                "snapshot: {} every {}",
                snap.path.display(),
                Human(snap.interval)
            );
        }
        let _ = writeln!(s, "policies:");
        let policies = self.policies.policies();
        let width = policies.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in policies {
            let _ = writeln!(s, "  {:width$}  {p}", p.name);
        }
        let mut job_types: Vec<_> = self.policies.job_types().collect();
        job_types.sort_by_key(|(t, _)| *t);
        if !job_types.is_empty() {
            let _ = writeln!(s, "job_types:");
            for (t, p) in job_types {
                let _ = writeln!(s, "  {t} -> {}", p.name);
            }
        }
        let _ = writeln!(s, "priority_bands:");
        for b in self.policies.bands() {
            let _ = writeln!(s, "  {}..={} -> {}", b.min, b.max, b.policy.name);
        }
        let budgets = self.budgets.tables();
        if !budgets.is_empty() {
            let _ = writeln!(s, "budgets:");
            for (t, c) in budgets {
                let _ = writeln!(
                    s,
                    "  {t}: max_tokens {}, token_ratio {}, max_retrying {}, on_exhausted {}",
                    c.max_tokens,
                    c.token_ratio,
                    c.max_retrying,
                    if c.on_exhausted == OnExhausted::Defer {
                        "defer"
                    } else {
                        "give_up"
                    }
                );
            }
        }
        let breakers = self.breakers.tables();
        if !breakers.is_empty() {
            let _ = writeln!(s, "breakers:");
            for (t, c) in breakers {
                let _ = writeln!(
                    s,
                    "  {t}: failure_ratio {}, min_calls {}, window {}, open_for {}, half_open_probes {}",
                    c.failure_ratio,
                    c.min_calls,
                    Human(c.window),
                    Human(c.open_for),
                    c.half_open_probes
                );
            }
        }
        let names: Vec<&str> = self.rules.iter().map(|r| &*r.category).collect();
        let _ = writeln!(
            s,
            "rules: {} configured{}, then the caller's verdict and the built-in rules",
            names.len(),
            if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            }
        );
        for warning in self.warnings() {
            let _ = writeln!(s, "warning: {warning}");
        }
        s
    }
}
