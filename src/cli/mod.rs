//! Operator commands: the `retryd` binary as a client of a running sidecar.
//!
//! Tables for people, `--output json` for scripts (protobuf's JSON mapping,
//! with the proto's own field names). An unreachable sidecar or an error
//! status is one line on stderr and exit code 1 (see `command/mod.rs`).

mod args;
mod connect;
mod pauses_events;
mod render;

use crate::engine::classify::grpc_code_from_name;
use crate::pb;
use serde_json::json;

pub use args::{BatchesCommand, ClientArgs, ExplainArgs, JobsCommand, Output, StateArg};
use connect::admin;
pub use connect::{CliError, connect};
pub use pauses_events::{EventsArgs, PauseArgs, ScopeArgs, events, pause, pauses, resume};
use render::*;

pub async fn jobs(args: &ClientArgs, cmd: JobsCommand) -> Result<String, CliError> {
    let mut c = connect(args).await?;
    let out = args.output;
    match cmd {
        JobsCommand::List {
            state,
            job_type,
            limit,
        } => {
            let state = state.map_or(pb::JobState::Unspecified, StateArg::pb) as i32;
            let job_type = job_type.unwrap_or_default();
            let mut jobs = Vec::new();
            let mut token = String::new();
            let mut total = 0;
            while jobs.len() < limit {
                let want = (limit - jobs.len()).min(1000);
                let page = c
                    .list_jobs(pb::ListJobsRequest {
                        state,
                        job_type: job_type.clone(),
                        page_size: i32::try_from(want).unwrap_or(1000),
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                total = page.total_size;
                jobs.extend(page.jobs);
                token = page.next_page_token;
                if token.is_empty() {
                    break;
                }
            }
            jobs.truncate(limit);
            Ok(render_job_list(&jobs, total, out))
        }
        JobsCommand::Get { job_id } => {
            let job = c
                .get_job(pb::GetJobRequest { job_id })
                .await?
                .into_inner()
                .job;
            Ok(render_job(job.as_ref(), out))
        }
        JobsCommand::Retry {
            job_id,
            keep_failures,
        } => {
            let job = c
                .retry_job(admin(
                    args,
                    pb::RetryJobRequest {
                        job_id,
                        reset_failures: Some(!keep_failures),
                    },
                )?)
                .await?
                .into_inner()
                .job;
            Ok(render_job(job.as_ref(), out))
        }
        JobsCommand::Cancel { job_id } => {
            let job = c
                .cancel_job(admin(args, pb::CancelJobRequest { job_id })?)
                .await?
                .into_inner()
                .job;
            Ok(render_job(job.as_ref(), out))
        }
        JobsCommand::Delete { job_id } => {
            c.delete_job(admin(
                args,
                pb::DeleteJobRequest {
                    job_id: job_id.clone(),
                },
            )?)
            .await?;
            Ok(match out {
                Output::Table => format!("deleted {job_id}\n"),
                Output::Json => pretty(&json!({ "deleted": job_id })),
            })
        }
    }
}

pub async fn batches(args: &ClientArgs, cmd: BatchesCommand) -> Result<String, CliError> {
    let mut c = connect(args).await?;
    match cmd {
        BatchesCommand::Get { batch_id } => {
            let b = c
                .get_batch(pb::GetBatchRequest { batch_id })
                .await?
                .into_inner();
            Ok(render_batch(&b, args.output))
        }
    }
}

pub async fn budgets(args: &ClientArgs) -> Result<String, CliError> {
    let mut c = connect(args).await?;
    let b = c
        .list_budgets(pb::ListBudgetsRequest {})
        .await?
        .into_inner()
        .budgets;
    Ok(render_budgets(&b, args.output))
}

/// `retryd due [--queue Q]`: the delivery queues.
pub async fn due(args: &ClientArgs, queue: Option<String>) -> Result<String, CliError> {
    let mut c = connect(args).await?;
    let mut q = c
        .list_queues(pb::ListQueuesRequest {})
        .await?
        .into_inner()
        .queues;
    if let Some(name) = queue {
        q.retain(|r| r.queue == name);
    }
    Ok(render_queues(&q, args.output))
}

pub async fn stats(args: &ClientArgs) -> Result<String, CliError> {
    let mut c = connect(args).await?;
    let s = c.get_stats(pb::GetStatsRequest {}).await?.into_inner();
    Ok(render_stats(&s, args.output))
}

pub async fn explain(args: &ClientArgs, e: ExplainArgs) -> Result<String, CliError> {
    let grpc_code = match &e.grpc_code {
        None => 0,
        Some(name) => grpc_code_from_name(name).map(i32::from).ok_or_else(|| {
            CliError::Usage(format!(
                "--grpc-code {name:?}: not a gRPC code name (e.g. UNAVAILABLE) or number 0-16"
            ))
        })?,
    };
    let req = pb::ExplainRequest {
        job_id: e.job_id,
        job_type: e.job_type.unwrap_or_default(),
        policy: e.policy.unwrap_or_default(),
        priority: e.priority,
        error: Some(pb::ErrorInfo {
            r#type: e.error_type.unwrap_or_default(),
            message: e.message.unwrap_or_default(),
            http_status: e.http_status.unwrap_or(0),
            grpc_code,
            retryable: e.retryable,
        }),
        retry_after_hint: e.hint.map(|d| prost_types::Duration {
            seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
        }),
        attempt: e.attempt.unwrap_or(0),
        target: e.target.unwrap_or_default(),
        retry_after_header: e.retry_after_header.unwrap_or_default(),
        retry_pushback_ms: e.pushback_ms,
    };
    let mut c = connect(args).await?;
    let resp = c.explain(req).await?.into_inner();
    let d = resp.decision.unwrap_or_default();
    Ok(match (args.output, resp.shadow) {
        (Output::Table, None) => render_decision_table(&d),
        (Output::Table, Some(s)) => format!(
            "{}\nshadow policy `{}` would decide (nothing applied):\n{}",
            render_decision_table(&d),
            s.policy,
            render_decision_table(&s)
        ),
        (Output::Json, shadow) => {
            let mut v = decision_json(&d);
            if let Some(s) = shadow {
                v["shadow"] = decision_json(&s);
            }
            pretty(&v)
        }
    })
}

#[cfg(test)]
mod tests;
