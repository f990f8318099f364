//! Circuit breakers in Redis: one key per target holds its breaker, and
//! every change is read → decided in Rust (the engine's state machine) →
//! compared-and-set, again on a conflict, so a fleet shares one breaker per
//! target and no count is lost.
//!
//! Each sidecar remembers the last value it saw of each breaker and sets
//! against it: one round trip when no other sidecar changed it meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::cas::{Tried, until_applied};
use super::{Op, Redis};
use crate::engine::breaker::{BUCKETS, Moves};
use crate::engine::{Breaker, BreakerConfig, BreakerState, BreakerView, TargetId, Timestamp};
use crate::state::StateError;
use crate::state::{BreakerRow, Moved};

/// Bytes of an encoded breaker.
const LEN: usize = 1 + 8 + 8 + 4 + 2 * 4 * BUCKETS;

/// A target with a breaker, as this fleet labels it.
#[derive(Clone, Debug)]
pub(super) struct Breakered {
    pub(super) id: TargetId,
    pub(super) name: String,
    pub(super) config: BreakerConfig,
}

/// The last value this sidecar saw of each breaker (by target).
#[derive(Default)]
pub(super) struct Seen(Mutex<HashMap<String, Vec<u8>>>);

impl Seen {
    fn get(&self, name: &str) -> Vec<u8> {
        self.lock().get(name).cloned().unwrap_or_default()
    }

    fn set(&self, name: &str, v: Vec<u8>) {
        self.lock().insert(name.to_string(), v);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // Plain data, each change one insert: usable after a panic.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(super) fn encode(b: &Breaker) -> Vec<u8> {
    let mut v = Vec::with_capacity(LEN);
    v.push(match b.state {
        BreakerState::Closed => 0,
        BreakerState::Open => 1,
        BreakerState::HalfOpen => 2,
    });
    v.extend_from_slice(&b.bucket.to_le_bytes());
    v.extend_from_slice(&b.open_until.0.to_le_bytes());
    v.extend_from_slice(&b.probes.to_le_bytes());
    for n in b.failures.iter().chain(&b.successes) {
        v.extend_from_slice(&n.to_le_bytes());
    }
    v
}

/// `None` for bytes no retryd wrote.
pub(super) fn decode(v: &[u8]) -> Option<Breaker> {
    if v.len() != LEN {
        return None;
    }
    let u32_at = |i: usize| Some(u32::from_le_bytes(v.get(i..i + 4)?.try_into().ok()?));
    let u64_at = |i: usize| Some(u64::from_le_bytes(v.get(i..i + 8)?.try_into().ok()?));
    let mut b = Breaker {
        state: match v[0] {
            0 => BreakerState::Closed,
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => return None,
        },
        bucket: u64_at(1)?,
        open_until: Timestamp(u64_at(9)?),
        probes: u32_at(17)?,
        ..Breaker::default()
    };
    for i in 0..BUCKETS {
        b.failures[i] = u32_at(21 + 4 * i)?;
        b.successes[i] = u32_at(21 + 4 * (BUCKETS + i))?;
    }
    Some(b)
}

impl Redis {
    /// The breaker `target` counts in, if it has one.
    pub(super) async fn breakered(&self, target: &str) -> Result<Option<Breakered>, StateError> {
        let configs = self.configs.load_full();
        let found = self.per_target(&configs.breakers, target).await?;
        Ok(found.map(|(id, name, config)| Breakered { id, name, config }))
    }

    /// Changes a breaker with `f`, fleet-wide; what `f` said of it, and the
    /// states it moved through.
    pub(super) async fn breaker_change<R>(
        &self,
        b: &Breakered,
        f: impl Fn(&mut Breaker) -> (Moves, R),
    ) -> Result<(R, Option<Moved>), StateError> {
        let key = self.keys.breaker(&b.name);
        // Idle for this long, a breaker is a closed one: the key goes.
        let ttl = (b.config.window.max(b.config.open_for) * 4).max(Duration::from_secs(60));
        let seen = self.breaker_seen.get(&b.name);
        let (f, key) = (&f, &key);
        until_applied(
            || format!("the circuit breaker of {}", b.name),
            seen,
            move |seen| async move {
                let mut breaker = decode(&seen).unwrap_or_default();
                let (moves, said) = f(&mut breaker);
                let new = encode(&breaker);
                let reply: Vec<redis::Value> = self
                    .link
                    .invoke(
                        Op::Budget,
                        self.breaker_script
                            .key(key)
                            .arg(&seen)
                            .arg(&new)
                            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
                    )
                    .await?;
                let now = match (reply.first(), reply.get(1)) {
                    (Some(redis::Value::Int(1)), _) => {
                        self.breaker_seen.set(&b.name, new);
                        let moved = (!moves.is_empty()).then_some(Moved {
                            target: b.id,
                            moves,
                        });
                        return Ok(Tried::Applied((said, moved)));
                    }
                    (Some(redis::Value::Int(0)), Some(redis::Value::BulkString(now))) => now.clone(),
                    (Some(redis::Value::Int(0)), Some(redis::Value::SimpleString(now))) => {
                        now.clone().into_bytes()
                    }
                    _ => {
                        return Err(StateError::Malformed(format!(
                            "the circuit breaker of {}: unexpected answer from its script: {reply:?}",
                            b.name
                        )));
                    }
                };
                self.breaker_seen.set(&b.name, now.clone());
                Ok(Tried::Conflict(now))
            },
        )
        .await
    }

    /// A failure that counts, in the target's breaker (its retry claimed
    /// while it is open): the view its decision sees.
    pub(super) async fn breaker_failure(
        &self,
        b: &Breakered,
        now: Timestamp,
        unit: f64,
    ) -> Result<(BreakerView, Option<Moved>), StateError> {
        let (deferral, moved) = self
            .breaker_change(b, |br| br.fail(&b.config, now, unit))
            .await?;
        Ok((
            BreakerView {
                target: b.id,
                deferral,
            },
            moved,
        ))
    }

    /// The breaker as a decision would see it, changing nothing.
    pub(super) async fn breaker_peek(
        &self,
        b: &Breakered,
        now: Timestamp,
        unit: f64,
    ) -> Result<BreakerView, StateError> {
        let v: Option<Vec<u8>> = self
            .link
            .query(
                Op::Budget,
                redis::cmd("GET").arg(self.keys.breaker(&b.name)),
            )
            .await?;
        let breaker = v.as_deref().and_then(decode).unwrap_or_default();
        Ok(BreakerView {
            target: b.id,
            deferral: breaker.peek(&b.config, now, unit),
        })
    }

    /// Every breaker configured by name or used, fleet-wide, as of `now`.
    pub async fn breaker_rows(&self, now: Timestamp) -> Result<Vec<BreakerRow>, StateError> {
        let configs = self.configs.load_full();
        let breakers = &configs.breakers;
        if breakers.is_empty() {
            return Ok(Vec::new());
        }
        let names = self.listed_targets(breakers).await?;
        let values = futures_util::future::try_join_all(names.iter().map(|name| async move {
            self.link
                .query::<Option<Vec<u8>>>(Op::Stats, redis::cmd("GET").arg(self.keys.breaker(name)))
                .await
        }))
        .await?;
        let mut rows = Vec::new();
        for (name, v) in names.iter().zip(values) {
            let configured = breakers.by_target.contains_key(name);
            if !configured && v.is_none() {
                continue;
            }
            let mut b = v.as_deref().and_then(decode).unwrap_or_default();
            b.tick(now);
            rows.push(BreakerRow {
                target_id: TargetId(self.labels.targets.get(name).0),
                target: name.clone(),
                state: b.state,
                open_until: (b.state == BreakerState::Open).then_some(b.open_until),
            });
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breaker_round_trips_and_garbage_is_refused() {
        let mut b = Breaker {
            state: BreakerState::Open,
            bucket: 1_700_000_123,
            open_until: Timestamp(1_700_000_000_000),
            probes: 7,
            ..Breaker::default()
        };
        b.failures[3] = 12;
        b.successes[9] = u32::MAX;
        let v = encode(&b);
        assert_eq!(v.len(), LEN);
        assert_eq!(decode(&v), Some(b));
        assert_eq!(decode(&v[..LEN - 1]), None);
        let mut bad = v.clone();
        bad[0] = 9;
        assert_eq!(decode(&bad), None);
        assert_eq!(decode(b""), None);
    }
}
