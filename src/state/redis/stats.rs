//! The fleet's counters read back: `GetStats`, `ListBudgets` and the
//! metrics' gauges, summed over the partitions.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::try_join_all;
use tokio_util::sync::CancellationToken;

use super::keys::{Keys, PARTITIONS, Set};
use super::{Link, Op, Redis};
use crate::engine::{JobState, TargetId, Timestamp, budget::MILLI};
use crate::state::{BudgetRow, Gauges, StateError, StatsRow, stats_with_total};

/// Every partition's gauges and counters, summed by field.
async fn sum_hashes(
    link: &Link,
    keys: &Keys,
    which: &[fn(&super::keys::PartitionKeys) -> &str],
) -> Result<HashMap<String, i64>, StateError> {
    let per = try_join_all((0..PARTITIONS).map(|p| async move {
        let pk = keys.partition(p);
        let mut pipe = redis::pipe();
        for w in which {
            pipe.cmd("HGETALL").arg(w(pk));
        }
        link.pipeline::<Vec<HashMap<String, i64>>>(Op::Stats, &pipe)
            .await
    }))
    .await?;
    let mut sum: HashMap<String, i64> = HashMap::new();
    for h in per.into_iter().flatten() {
        for (k, v) in h {
            *sum.entry(k).or_default() += v;
        }
    }
    Ok(sum)
}

/// Jobs of each target waiting in backoff, fleet-wide, from gauge fields.
fn retrying_by_target(sums: &HashMap<String, i64>) -> HashMap<String, u64> {
    sums.iter()
        .filter_map(|(k, v)| {
            let target = k.strip_prefix("\0t")?;
            Some((target.to_string(), u64::try_from(*v).unwrap_or(0)))
        })
        .collect()
}

/// The fleet's jobs waiting in backoff per target, refreshed every second
/// (`max_retrying` is checked against it: a count at most a second old).
#[derive(Default)]
pub struct RetryingCache {
    by_target: RwLock<HashMap<String, u64>>,
}

impl RetryingCache {
    pub fn get(&self, target: &str) -> u64 {
        self.by_target
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(target)
            .copied()
            .unwrap_or(0)
    }

    fn set(&self, v: HashMap<String, u64>) {
        *self
            .by_target
            .write()
            .unwrap_or_else(PoisonError::into_inner) = v;
    }
}

pub async fn refresh_retrying(
    link: Arc<Link>,
    keys: Keys,
    cache: Arc<RetryingCache>,
    configs: Arc<arc_swap::ArcSwap<super::TargetConfigs>>,
    stop: CancellationToken,
) {
    loop {
        let started = Instant::now();
        // Only budgets read it: without one, nothing to refresh.
        if !configs.load().budgets.is_empty()
            && let Ok(sums) = sum_hashes(&link, &keys, &[|k| &k.gauges]).await
        {
            cache.set(retrying_by_target(&sums));
        }
        let wait = Duration::from_secs(1).saturating_sub(started.elapsed());
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

impl Redis {
    /// Counters per job-type label that has any, and their sum.
    pub async fn stats(&self) -> Result<(Vec<StatsRow>, StatsRow), StateError> {
        let sums = sum_hashes(&self.link, &self.keys, &[|k| &k.gauges, |k| &k.counters]).await?;
        let mut rows: BTreeMap<String, StatsRow> = BTreeMap::new();
        for (field, n) in &sums {
            let Some((label, which)) = field.rsplit_once('\0') else {
                continue;
            };
            if label.is_empty() {
                // A target's gauge.
                continue;
            }
            let row = rows.entry(label.to_string()).or_insert_with(|| StatsRow {
                job_type: label.to_string(),
                ..StatsRow::default()
            });
            let n = u64::try_from(*n).unwrap_or(0);
            match which {
                "r" => row.retrying += n,
                "d" => row.dead += n,
                "c" => row.cancelled += n,
                "f" => row.first_try_successes += n,
                "a" => row.successes_after_retry += n,
                "g" => row.give_ups += n,
                _ => {}
            }
        }
        Ok(stats_with_total(rows.into_values().collect()))
    }

    /// Jobs per state, fleet-wide: the sizes of the sets.
    async fn counts(&self) -> Result<[(JobState, u64); 3], StateError> {
        let per = try_join_all((0..PARTITIONS).map(|p| async move {
            let pk = self.keys.partition(p);
            let mut pipe = redis::pipe();
            for s in Set::ALL {
                pipe.cmd("ZCARD").arg(pk.set(s));
            }
            self.link.pipeline::<Vec<u64>>(Op::Stats, &pipe).await
        }))
        .await?;
        let mut n = [0u64; 3];
        for p in per {
            for (i, v) in p.into_iter().enumerate().take(3) {
                n[i] += v;
            }
        }
        Ok([
            (JobState::Retrying, n[0]),
            (JobState::Dead, n[1]),
            (JobState::Cancelled, n[2]),
        ])
    }

    /// Every budget configured by name or used, fleet-wide.
    pub async fn budgets(&self) -> Result<Vec<BudgetRow>, StateError> {
        let configs = self.configs.load_full();
        let budgets = &configs.budgets;
        if budgets.is_empty() {
            return Ok(Vec::new());
        }
        let names = self.listed_targets(budgets).await?;
        let sums = sum_hashes(&self.link, &self.keys, &[|k| &k.gauges]).await?;
        let retrying = retrying_by_target(&sums);
        let states = try_join_all(names.iter().map(|name| async move {
            self.link
                .query::<(Option<i64>, Option<u64>)>(
                    Op::Stats,
                    redis::cmd("HMGET")
                        .arg(self.keys.budget(name))
                        .arg("tokens")
                        .arg("exhausted"),
                )
                .await
        }))
        .await?;
        let mut rows = Vec::new();
        for (name, (tokens, exhausted)) in names.iter().zip(states) {
            let Some(config) = budgets.for_target(name) else {
                continue;
            };
            let configured = budgets.by_target.contains_key(name);
            if !configured && tokens.is_none() {
                continue;
            }
            let tokens = tokens.unwrap_or(config.full()).min(config.full());
            rows.push(BudgetRow {
                target_id: TargetId(self.labels.targets.get(name).0),
                target: name.clone(),
                tokens: tokens as f64 / MILLI as f64,
                max_tokens: config.max_tokens,
                retrying: retrying.get(name).copied().unwrap_or(0),
                max_retrying: config.max_retrying,
                exhausted_total: exhausted.unwrap_or(0),
            });
        }
        Ok(rows)
    }

    pub async fn gauges(&self) -> Result<Gauges, StateError> {
        let now = Timestamp::from_system_time(std::time::SystemTime::now());
        let (jobs, budgets, breakers, (queues, parked_bytes)) = tokio::try_join!(
            self.counts(),
            self.budgets(),
            self.breaker_rows(now),
            self.queue_rows(now, false)
        )?;
        Ok(Gauges {
            jobs,
            budgets,
            breakers,
            queues,
            parked_bytes,
        })
    }
}
