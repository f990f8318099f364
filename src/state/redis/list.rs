//! `ListJobs` over the partitions, without SCAN.
//!
//! A SCAN cursor is a position in one node's hash table: it breaks when a
//! slot moves (resharding, failover). Here every partition's sorted sets
//! are ordered by job id, and a page is a k-way merge: from each set, the
//! first `page_size + 1` matching members after the page token's job id;
//! the smallest `page_size + 1` of them all are the page (and whether one
//! follows). The token is a job id, valid on any node, after any move.

use futures_util::future::try_join_all;

use super::codec;
use super::keys::{PARTITIONS, Set, gauge_field};
use super::{Op, Redis, set_of};
use crate::engine::Engine;
use crate::state::{Filter, Page, StateError};

/// Members one scan call looks at, at most (a filtered page may take
/// several calls per set).
const SCAN_BUDGET: usize = 2048;

/// What one scan.lua call matches, and how far it may look.
pub(super) struct Scan<'a> {
    pub matches: usize,
    /// "": any.
    pub job_type: &'a str,
    /// Members looked at, at most.
    pub budget: usize,
    /// Only members last updated at or before this (ms).
    pub updated_by: Option<u64>,
}

impl Redis {
    pub async fn list(
        &self,
        engine: &Engine,
        filter: Filter<'_>,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<Page, StateError> {
        let page_size = page_size.max(1);
        let sets: Vec<Set> = match filter.state {
            Some(s) => vec![set_of(s)],
            None => Set::ALL.to_vec(),
        };
        let job_type = filter.job_type.unwrap_or("");
        let sources = (0..PARTITIONS).flat_map(|p| sets.iter().map(move |s| (p, *s)));
        let firsts = try_join_all(
            sources.map(|(p, s)| self.first_matches(p, s, after, page_size + 1, job_type)),
        );
        let (firsts, total) = tokio::try_join!(firsts, self.count(&sets, job_type))?;
        let mut members: Vec<Vec<u8>> = firsts.into_iter().flatten().collect();
        members.sort_by(|a, b| codec::id_of(a).cmp(&codec::id_of(b)));
        let more = members.len() > page_size;
        members.truncate(page_size);
        let stored = members
            .iter()
            .map(|m| {
                codec::decode(m, engine, &self.labels)
                    .map_err(|e| StateError::Malformed(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let jobs =
            futures_util::future::try_join_all(stored.iter().map(|s| self.view_of(s))).await?;
        let next_after = if more {
            jobs.last().map(|j| j.id.clone())
        } else {
            None
        };
        Ok(Page {
            jobs,
            total,
            next_after,
        })
    }

    /// One call of scan.lua on the set `key` from `cursor`: the matches, and
    /// the cursor to go on from ("" when the set has no more).
    pub(super) async fn scan(
        &self,
        op: Op,
        key: &str,
        cursor: &str,
        s: Scan<'_>,
    ) -> Result<(String, Vec<Vec<u8>>), StateError> {
        let found: Vec<Vec<u8>> = self
            .link
            .invoke(
                op,
                self.scan_script
                    .key(key)
                    .arg(cursor)
                    .arg(s.matches)
                    .arg(s.job_type)
                    .arg(s.budget)
                    .arg(s.updated_by.map_or(String::new(), |t| t.to_string())),
            )
            .await?;
        let mut found = found.into_iter();
        let next = found
            .next()
            .map(|c| String::from_utf8_lossy(&c).into_owned())
            .unwrap_or_default();
        Ok((next, found.collect()))
    }

    /// The first `want` members of one set after `after` (and of `job_type`).
    async fn first_matches(
        &self,
        p: usize,
        set: Set,
        after: Option<&str>,
        want: usize,
        job_type: &str,
    ) -> Result<Vec<Vec<u8>>, StateError> {
        let key = self.keys.partition(p).set(set).to_string();
        let mut cursor = after.unwrap_or("").to_string();
        let mut out = Vec::new();
        loop {
            let (next, found) = self
                .scan(
                    Op::List,
                    &key,
                    &cursor,
                    Scan {
                        matches: want - out.len(),
                        job_type,
                        budget: SCAN_BUDGET,
                        updated_by: None,
                    },
                )
                .await?;
            out.extend(found);
            if out.len() >= want || next.is_empty() {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// How many jobs match: the sets' sizes, or for a job type with a label
    /// of its own its gauges; a job type counted as `other` is counted by
    /// walking the sets.
    async fn count(&self, sets: &[Set], job_type: &str) -> Result<usize, StateError> {
        if job_type.is_empty() {
            let cards = try_join_all((0..PARTITIONS).map(|p| async move {
                let pk = self.keys.partition(p);
                let mut pipe = redis::pipe();
                for s in sets {
                    pipe.cmd("ZCARD").arg(pk.set(*s));
                }
                self.link.pipeline::<Vec<u64>>(Op::List, &pipe).await
            }))
            .await?;
            return Ok(cards.into_iter().flatten().sum::<u64>() as usize);
        }
        let label = self.job_type_label(job_type).await?;
        if self.labels.job_types.name(label) == job_type {
            let counts = try_join_all((0..PARTITIONS).map(|p| async move {
                let pk = self.keys.partition(p);
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(&pk.gauges);
                for s in sets {
                    cmd.arg(gauge_field(job_type, *s));
                }
                self.link.query::<Vec<Option<i64>>>(Op::List, &cmd).await
            }))
            .await?;
            let n: i64 = counts.into_iter().flatten().flatten().sum();
            return Ok(usize::try_from(n).unwrap_or(0));
        }
        let mut n = 0;
        for p in 0..PARTITIONS {
            for s in sets {
                n += self
                    .first_matches(p, *s, None, usize::MAX / 2, job_type)
                    .await?
                    .len();
            }
        }
        Ok(n)
    }
}
