//! The operator's calls: jobs (`GetJob`, `ListJobs`, `RetryJob`,
//! `CancelJob`, `DeleteJob`, the admin token they need), batches and their
//! passes, budgets and statistics.

use std::sync::Arc;

use subtle::ConstantTimeEq;
use tonic::Status;

use super::app::{App, now};
use super::convert::{self, PageToken};
use super::status::CallError;
use super::validate;
use crate::engine::Engine;
use crate::pb;
use crate::pb::EventKind;
use crate::state::{Filter, StateError};

impl App {
    pub(super) async fn get_job(
        &self,
        engine: Arc<Engine>,
        r: &pb::GetJobRequest,
    ) -> Result<pb::GetJobResponse, CallError> {
        let engine = &*engine;
        validate::job_id("job_id", &r.job_id)?;
        let job = self
            .state
            .get(engine, &r.job_id)
            .await?
            .ok_or_else(|| StateError::NotFound(r.job_id.clone()))?;
        Ok(pb::GetJobResponse {
            job: Some(convert::job(engine, &self.state, &job)),
        })
    }

    pub(super) async fn list_jobs(
        &self,
        engine: Arc<Engine>,
        r: &pb::ListJobsRequest,
    ) -> Result<pb::ListJobsResponse, CallError> {
        let engine = &*engine;
        let state = convert::state_filter(r.state)
            .map_err(|v| validate::invalid("state", format!("unknown JobState value {v}")))?;
        validate::list_filter_job_type(&r.job_type)?;
        let page_size = validate::page_size(r.page_size)?;
        let after = if r.page_token.is_empty() {
            None
        } else {
            let t = PageToken::decode(&r.page_token)
                .ok_or_else(|| validate::invalid("page_token", "not a page token retryd issued"))?;
            if t.state != r.state || t.job_type != r.job_type {
                return Err(validate::invalid(
                    "page_token",
                    "was issued for another state or job_type filter",
                )
                .into());
            }
            Some(t.after)
        };
        let filter = Filter {
            state,
            job_type: (!r.job_type.is_empty()).then_some(r.job_type.as_str()),
        };
        let page = self
            .state
            .list(engine, filter, page_size, after.as_deref())
            .await?;
        let next_page_token = page
            .next_after
            .map(|after| {
                PageToken {
                    state: r.state,
                    job_type: r.job_type.clone(),
                    after,
                }
                .encode()
            })
            .unwrap_or_default();
        Ok(pb::ListJobsResponse {
            jobs: page
                .jobs
                .iter()
                .map(|v| convert::job(engine, &self.state, v))
                .collect(),
            next_page_token,
            total_size: i32::try_from(page.total).unwrap_or(i32::MAX),
        })
    }

    /// Admin calls carry the admin token when one is configured. Reports and
    /// reads stay open to the pod. The comparison takes the same time
    /// whatever the bytes, so the token cannot be guessed byte by byte.
    pub(super) fn authorize(&self, meta: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        let Some(token) = &self.admin_token else {
            return Ok(());
        };
        let given = meta
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Status::unauthenticated("this call needs `authorization: Bearer <admin token>`")
            })?;
        if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            Ok(())
        } else {
            Err(Status::unauthenticated("wrong admin token"))
        }
    }

    pub(super) async fn retry_job(
        &self,
        r: pb::RetryJobRequest,
    ) -> Result<pb::RetryJobResponse, Status> {
        self.reloading(|engine| self.retry_job_with(engine, &r))
            .await
    }

    pub(super) async fn retry_job_with(
        &self,
        engine: Arc<Engine>,
        r: &pb::RetryJobRequest,
    ) -> Result<pb::RetryJobResponse, CallError> {
        let engine = &*engine;
        validate::job_id("job_id", &r.job_id)?;
        let job = self
            .state
            .retry(engine, &r.job_id, r.reset_failures.unwrap_or(true), now())
            .await?;
        tracing::info!(
            job_id = r.job_id,
            reset_failures = r.reset_failures.unwrap_or(true),
            "manual retry"
        );
        let pb_job = convert::job(engine, &self.state, &job);
        self.emit_job(EventKind::ManualRetry, &job, &pb_job);
        Ok(pb::RetryJobResponse { job: Some(pb_job) })
    }

    pub(super) async fn cancel_job(
        &self,
        r: pb::CancelJobRequest,
    ) -> Result<pb::CancelJobResponse, Status> {
        self.reloading(|engine| self.cancel_job_with(engine, &r))
            .await
    }

    pub(super) async fn cancel_job_with(
        &self,
        engine: Arc<Engine>,
        r: &pb::CancelJobRequest,
    ) -> Result<pb::CancelJobResponse, CallError> {
        let engine = &*engine;
        validate::job_id("job_id", &r.job_id)?;
        let job = self.state.cancel(engine, &r.job_id, now()).await?;
        tracing::info!(job_id = r.job_id, "cancelled");
        let pb_job = convert::job(engine, &self.state, &job);
        self.emit_job(EventKind::Cancelled, &job, &pb_job);
        Ok(pb::CancelJobResponse { job: Some(pb_job) })
    }

    pub(super) async fn delete_job(
        &self,
        r: pb::DeleteJobRequest,
    ) -> Result<pb::DeleteJobResponse, Status> {
        validate::job_id("job_id", &r.job_id)?;
        self.state
            .delete(&self.engine.load(), &r.job_id, now())
            .await?;
        tracing::info!(job_id = r.job_id, "deleted");
        Ok(pb::DeleteJobResponse {})
    }

    pub(super) async fn start_pass(
        &self,
        r: pb::StartPassRequest,
    ) -> Result<pb::StartPassResponse, Status> {
        let p = validate::start_pass(&r)?;
        let stats = self
            .state
            .start_pass(&r.batch_id, &r.job_ids, p.max_passes, p.pass_delay, now())
            .await?;
        tracing::info!(
            batch_id = r.batch_id,
            pass = stats.pass_number,
            pending = stats.jobs_pending,
            "pass started"
        );
        Ok(pb::StartPassResponse {
            stats: Some(convert::pass_stats(&stats)),
        })
    }

    pub(super) async fn end_pass(
        &self,
        r: pb::EndPassRequest,
    ) -> Result<pb::EndPassResponse, Status> {
        validate::job_id("batch_id", &r.batch_id)?;
        let end = self.state.end_pass(&r.batch_id, now()).await?;
        self.metrics.pass(end.result);
        tracing::info!(
            batch_id = r.batch_id,
            pass = end.stats.pass_number,
            result = end.result.as_str(),
            succeeded = end.stats.jobs_succeeded,
            failed_retryable = end.stats.jobs_failed_retryable,
            failed_non_retryable = end.stats.jobs_failed_non_retryable,
            "pass ended"
        );
        Ok(pb::EndPassResponse {
            result: convert::pass_result(end.result) as i32,
            stats: Some(convert::pass_stats(&end.stats)),
            retry_job_ids: end.retry_job_ids,
            next_pass_delay: Some(convert::duration(end.next_pass_delay)),
        })
    }

    pub(super) async fn get_batch(
        &self,
        r: pb::GetBatchRequest,
    ) -> Result<pb::GetBatchResponse, Status> {
        validate::job_id("batch_id", &r.batch_id)?;
        let batch = self.state.get_batch(&r.batch_id).await?;
        let t = batch.totals();
        Ok(pb::GetBatchResponse {
            batch_id: r.batch_id,
            passes: batch.passes().iter().map(convert::pass_stats).collect(),
            total_attempted: t.attempted,
            total_succeeded: t.succeeded,
            total_failed_retryable: t.failed_retryable,
            total_failed_non_retryable: t.failed_non_retryable,
            success_rate: t.success_rate(),
        })
    }

    pub(super) async fn list_budgets(&self) -> Result<pb::ListBudgetsResponse, Status> {
        let budgets = self.state.budgets().await?;
        let breakers = self.state.breakers(now()).await?;
        Ok(pb::ListBudgetsResponse {
            budgets: convert::budgets(&budgets, &breakers),
        })
    }

    pub(super) async fn get_stats(&self) -> Result<pb::GetStatsResponse, Status> {
        let (rows, total) = self.state.stats().await?;
        Ok(pb::GetStatsResponse {
            job_types: rows.iter().map(convert::stats).collect(),
            total: Some(convert::stats(&total)),
        })
    }
}
