//! What an operator reads and changes through `State`: jobs (get, list,
//! retry, cancel, delete), statistics, budgets, breakers and gauges,
//! batches and their passes; each with one arm per backend.

use std::time::Duration;

use super::{
    Backend, Batch, BreakerRow, BudgetRow, EndOfPass, Filter, Gauges, JobView, Page, PassStats,
    State, StateError, StatsRow, current,
};
use crate::engine::{Engine, Timestamp};

impl State {
    pub async fn get(&self, engine: &Engine, job_id: &str) -> Result<Option<JobView>, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || Ok(m.store.get(job_id))),
            Backend::Redis(f) => Box::pin(f.one_job(f.redis.get(engine, job_id))).await,
        }
    }

    /// Jobs matching `filter` after the job id `after`, in id order.
    pub async fn list(
        &self,
        engine: &Engine,
        filter: Filter<'_>,
        page_size: usize,
        after: Option<&str>,
    ) -> Result<Page, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || Ok(m.store.list(filter, page_size, after))),
            Backend::Redis(f) => {
                Box::pin(f.and_ready(f.redis.list(engine, filter, page_size, after))).await
            }
        }
    }

    /// Manual retry: the job is due now.
    pub async fn retry(
        &self,
        engine: &Engine,
        job_id: &str,
        reset_failures: bool,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || m.store.retry(job_id, reset_failures, now)),
            Backend::Redis(f) => {
                Box::pin(f.one_job(f.redis.retry(engine, job_id, reset_failures, now))).await
            }
        }
    }

    pub async fn cancel(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
    ) -> Result<JobView, StateError> {
        match &self.backend {
            Backend::Memory(m) => current(m, engine, || m.store.cancel(job_id, now)),
            Backend::Redis(f) => Box::pin(f.one_job(f.redis.cancel(engine, job_id, now))).await,
        }
    }

    pub async fn delete(
        &self,
        engine: &Engine,
        job_id: &str,
        now: Timestamp,
    ) -> Result<(), StateError> {
        match &self.backend {
            Backend::Memory(m) => m.store.delete(job_id),
            Backend::Redis(f) => Box::pin(f.one_job(f.redis.delete(engine, job_id, now))).await,
        }
    }

    /// Counters per job type that has any, sorted by job type, and their sum.
    pub async fn stats(&self) -> Result<(Vec<StatsRow>, StatsRow), StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.stats()),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.stats())).await,
        }
    }

    /// Every target budget configured or used, by target.
    pub async fn budgets(&self) -> Result<Vec<BudgetRow>, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.budgets()),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.budgets())).await,
        }
    }

    /// Every breaker configured or used, by target.
    pub async fn breakers(&self, now: Timestamp) -> Result<Vec<BreakerRow>, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.store.breakers(now)),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.breaker_rows(now))).await,
        }
    }

    /// What the metrics endpoint shows of the state.
    pub async fn gauges(&self) -> Result<Gauges, StateError> {
        match &self.backend {
            Backend::Memory(m) => {
                let now = Timestamp::from_system_time(std::time::SystemTime::now());
                Ok(Gauges {
                    jobs: m.store.counts(),
                    budgets: m.store.budgets(),
                    breakers: m.store.breakers(now),
                    queues: m.store.queue_gauges(now),
                    parked_bytes: m.store.parked_bytes(),
                })
            }
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.gauges())).await,
        }
    }

    pub async fn start_pass(
        &self,
        batch_id: &str,
        job_ids: &[String],
        max_passes: Option<u32>,
        pass_delay: Option<Duration>,
        now: Timestamp,
    ) -> Result<PassStats, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m
                .batches
                .start_pass(batch_id, job_ids, max_passes, pass_delay, now)?),
            Backend::Redis(f) => {
                f.ready().await?;
                f.redis
                    .start_pass(batch_id, job_ids, max_passes, pass_delay, now)
                    .await
            }
        }
    }

    pub async fn end_pass(&self, batch_id: &str, now: Timestamp) -> Result<EndOfPass, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.batches.end_pass(batch_id, now)?),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.end_pass(batch_id, now))).await,
        }
    }

    pub async fn get_batch(&self, batch_id: &str) -> Result<Batch, StateError> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.batches.get(batch_id)?),
            Backend::Redis(f) => Box::pin(f.and_ready(f.redis.get_batch(batch_id))).await,
        }
    }
}
