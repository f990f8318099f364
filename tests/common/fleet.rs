//! A fleet of sidecars on one real Redis (standalone or Cluster).

use super::Harness;
use super::redis::{RedisCluster, RedisServer};

/// Where a fleet keeps its state: `[state.redis]`'s address lines.
#[derive(Clone)]
pub struct Backend(String);

impl Backend {
    pub fn standalone(r: &RedisServer) -> Backend {
        Backend(format!("url = \"{}\"", r.url()))
    }

    pub fn cluster(c: &RedisCluster) -> Backend {
        let nodes: Vec<String> = c.urls().iter().map(|u| format!("\"{u}\"")).collect();
        Backend(format!("cluster_nodes = [{}]", nodes.join(", ")))
    }

    /// The `[state]` tables: `state` keys of its own, the fleet's `prefix`.
    pub fn toml(&self, prefix: &str, state: &str) -> String {
        format!(
            "[state]\nbackend = \"redis\"\n{state}\n[state.redis]\n{}\nkey_prefix = \"{prefix}\"\n",
            self.0
        )
    }
}

/// `n` sidecars sharing one state: `config` (policies, budgets) and the
/// `[state]` tables of `state`.
pub async fn fleet(n: usize, state: &str, config: &str) -> Vec<Harness> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Harness::start(&format!("{config}\n{state}")).await);
    }
    out
}
