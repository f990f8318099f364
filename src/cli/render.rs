//! Rendering answers: tables for people, JSON for scripts.

use std::time::{Duration, UNIX_EPOCH};

use comfy_table::{CellAlignment, Table, presets};
use serde_json::{Value, json};

use super::Output;
use crate::engine::Human;
use crate::engine::classify::grpc_code_name;
use crate::pb;

/// A target's breaker in words ("" when it has none).
fn breaker_text(b: &pb::Budget) -> &'static str {
    match pb::BreakerState::try_from(b.breaker_state) {
        Ok(pb::BreakerState::Closed) => "closed",
        Ok(pb::BreakerState::Open) => "open",
        Ok(pb::BreakerState::HalfOpen) => "half_open",
        _ => "",
    }
}

pub fn render_budgets(budgets: &[pb::Budget], out: Output) -> String {
    if out == Output::Json {
        let rows: Vec<Value> = budgets
            .iter()
            .map(|b| {
                let mut row = json!({
                    "target": b.target,
                    "tokens": b.tokens,
                    "max_tokens": b.max_tokens,
                    "retrying": b.retrying,
                    "max_retrying": b.max_retrying,
                    "exhausted_total": b.exhausted_total,
                });
                if !breaker_text(b).is_empty() {
                    row["breaker_state"] = json!(breaker_text(b));
                    row["breaker_open_until"] = time_json(b.breaker_open_until.as_ref());
                }
                row
            })
            .collect();
        return pretty(&json!({ "budgets": rows }));
    }
    if budgets.is_empty() {
        return "no retry budgets or breakers (configure [budgets.<target>] or [breakers.<target>], or their default)\n".into();
    }
    let mut t = table(&[
        "TARGET",
        "TOKENS",
        "MAX",
        "RETRYING",
        "MAX RETRYING",
        "EXHAUSTED",
        "STATE",
        "BREAKER",
        "OPEN UNTIL",
    ]);
    for b in budgets {
        let budgeted = b.max_tokens > 0;
        let throttled = budgeted
            && (2.0 * b.tokens <= f64::from(b.max_tokens)
                || b.retrying >= u64::from(b.max_retrying));
        let dash = |s: String| if budgeted { s } else { "-".to_string() };
        t.add_row(vec![
            b.target.clone(),
            dash(format!("{:.1}", b.tokens)),
            dash(b.max_tokens.to_string()),
            dash(b.retrying.to_string()),
            dash(b.max_retrying.to_string()),
            dash(b.exhausted_total.to_string()),
            dash(if throttled { "throttled" } else { "ok" }.to_string()),
            match breaker_text(b) {
                "" => "-".to_string(),
                s => s.to_string(),
            },
            time_text(b.breaker_open_until.as_ref()),
        ]);
    }
    finish(t, &[1, 2, 3, 4, 5])
}

pub(super) fn pretty(v: &Value) -> String {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

pub(super) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).set_header(header.to_vec());
    t
}

/// Plain aligned columns; `numeric` ones right-aligned.
pub(super) fn finish(mut t: Table, numeric: &[usize]) -> String {
    for (i, c) in t.column_iter_mut().enumerate() {
        c.set_padding((0, 2));
        if numeric.contains(&i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut s = t.trim_fmt();
    s.push('\n');
    s
}

/// Proto JSON enum name without its prefix, lower-case: `JOB_STATE_DEAD` → `dead`.
pub(super) fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

pub(super) fn state_name(v: i32) -> &'static str {
    pb::JobState::try_from(v).map_or("JOB_STATE_UNSPECIFIED", |s| s.as_str_name())
}

pub(super) fn action_name(v: i32) -> &'static str {
    pb::Action::try_from(v).map_or("ACTION_UNSPECIFIED", |s| s.as_str_name())
}

pub(super) fn reason_name(v: i32) -> &'static str {
    pb::GiveUpReason::try_from(v).map_or("GIVE_UP_REASON_UNSPECIFIED", |s| s.as_str_name())
}

pub(super) fn class_name(v: i32) -> &'static str {
    pb::ErrorClass::try_from(v).map_or("ERROR_CLASS_UNSPECIFIED", |s| s.as_str_name())
}

pub(super) fn time(t: Option<&prost_types::Timestamp>) -> Option<std::time::SystemTime> {
    let t = t?;
    let secs = u64::try_from(t.seconds).ok()?;
    let nanos = u32::try_from(t.nanos).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

pub(super) fn time_json(t: Option<&prost_types::Timestamp>) -> Value {
    time(t).map_or(Value::Null, |t| {
        Value::String(humantime::format_rfc3339_millis(t).to_string())
    })
}

pub(super) fn time_text(t: Option<&prost_types::Timestamp>) -> String {
    time(t).map_or_else(
        || "-".to_string(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}

pub(super) fn duration(d: Option<&prost_types::Duration>) -> Duration {
    d.and_then(|d| {
        Some(Duration::new(
            u64::try_from(d.seconds).ok()?,
            u32::try_from(d.nanos).ok()?,
        ))
    })
    .unwrap_or_default()
}

/// Proto JSON duration: `"2s"`, `"0.500s"`.
pub(super) fn duration_json(d: Option<&prost_types::Duration>) -> Value {
    let d = duration(d);
    let ms = d.subsec_millis();
    Value::String(if ms == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}.{ms:03}s", d.as_secs())
    })
}

pub(super) fn error_json(e: Option<&pb::ErrorInfo>) -> Value {
    let Some(e) = e else { return Value::Null };
    json!({
        "type": e.r#type,
        "message": e.message,
        "http_status": e.http_status,
        "grpc_code": e.grpc_code,
        "retryable": e.retryable,
    })
}

pub fn decision_json(d: &pb::Decision) -> Value {
    json!({
        "action": action_name(d.action),
        "retry_after": duration_json(d.retry_after.as_ref()),
        "retry_at": time_json(d.retry_at.as_ref()),
        "failure_count": d.failure_count,
        "max_attempts": d.max_attempts,
        "reason": reason_name(d.reason),
        "error_class": class_name(d.error_class),
        "category": d.category,
        "policy": d.policy,
        "explanation": d.explanation,
    })
}

pub fn job_json(j: &pb::Job) -> Value {
    json!({
        "job_id": j.job_id,
        "job_type": j.job_type,
        "policy": j.policy,
        "state": state_name(j.state),
        "failure_count": j.failure_count,
        "first_failure_at": time_json(j.first_failure_at.as_ref()),
        "last_failure_at": time_json(j.last_failure_at.as_ref()),
        "next_retry_at": time_json(j.next_retry_at.as_ref()),
        "last_error": error_json(j.last_error.as_ref()),
        "last_decision": j.last_decision.as_ref().map_or(Value::Null, decision_json),
        "queue": j.queue,
        "payload_bytes": j.payload_bytes,
        "deliveries": j.deliveries,
        "lease_until": time_json(j.lease_until.as_ref()),
    })
}

/// `retryd due`: each queue's parked, due and handed-out jobs.
pub fn render_queues(queues: &[pb::QueueStats], out: Output) -> String {
    if out == Output::Json {
        let rows: Vec<Value> = queues
            .iter()
            .map(|q| {
                json!({
                    "queue": q.queue,
                    "parked": q.parked,
                    "due": q.due,
                    "leased": q.leased,
                    "parked_bytes": q.parked_bytes,
                    "oldest_due_at": time_json(q.oldest_due_at.as_ref()),
                })
            })
            .collect();
        return pretty(&json!({ "queues": rows }));
    }
    if queues.is_empty() {
        return "no jobs held for delivery (a report with a payload parks one)\n".into();
    }
    let mut t = table(&[
        "QUEUE",
        "PARKED",
        "DUE",
        "HANDED OUT",
        "BYTES",
        "OLDEST DUE",
    ]);
    let now = std::time::SystemTime::now();
    for q in queues {
        let oldest = match time(q.oldest_due_at.as_ref()) {
            Some(at) => format!(
                "{} ({} ago)",
                humantime::format_rfc3339_seconds(at),
                Human(Duration::from_secs(
                    now.duration_since(at).unwrap_or_default().as_secs()
                ))
            ),
            None => "-".into(),
        };
        t.add_row(vec![
            q.queue.clone(),
            q.parked.to_string(),
            q.due.to_string(),
            q.leased.to_string(),
            q.parked_bytes.to_string(),
            oldest,
        ]);
    }
    format!("{t}\n")
}

/// `TimeoutError (HTTP 503): upstream timed out`, cut to `max` characters.
pub(super) fn error_text(e: Option<&pb::ErrorInfo>, max: usize) -> String {
    let Some(e) = e else { return "-".into() };
    let mut parts = Vec::new();
    if !e.r#type.is_empty() {
        parts.push(e.r#type.clone());
    }
    if e.http_status != 0 {
        parts.push(format!("HTTP {}", e.http_status));
    }
    if e.grpc_code != 0 {
        parts.push(format!(
            "gRPC {}",
            grpc_code_name(u8::try_from(e.grpc_code).unwrap_or(u8::MAX))
        ));
    }
    let mut s = parts.join(" ");
    if !e.message.is_empty() {
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(e.message.lines().next().unwrap_or(""));
    }
    if s.chars().count() > max {
        s = s.chars().take(max.saturating_sub(1)).collect::<String>() + "…";
    }
    if s.is_empty() { "-".into() } else { s }
}

pub fn render_job_list(jobs: &[pb::Job], total: i32, out: Output) -> String {
    if out == Output::Json {
        return pretty(&json!({
            "jobs": jobs.iter().map(job_json).collect::<Vec<_>>(),
            "total_size": total,
        }));
    }
    let mut t = table(&[
        "JOB ID",
        "TYPE",
        "STATE",
        "FAILURES",
        "POLICY",
        "NEXT RETRY",
        "LAST ERROR",
    ]);
    for j in jobs {
        t.add_row(vec![
            j.job_id.clone(),
            if j.job_type.is_empty() {
                "-".into()
            } else {
                j.job_type.clone()
            },
            short(state_name(j.state), "JOB_STATE_"),
            j.failure_count.to_string(),
            j.policy.clone(),
            time_text(j.next_retry_at.as_ref()),
            error_text(j.last_error.as_ref(), 60),
        ]);
    }
    let mut s = if jobs.is_empty() {
        String::new()
    } else {
        finish(t, &[3])
    };
    s.push_str(&format!("{} of {} jobs\n", jobs.len(), total));
    s
}

pub fn render_job(job: Option<&pb::Job>, out: Output) -> String {
    let Some(j) = job else {
        return "no job in the answer\n".into();
    };
    if out == Output::Json {
        return pretty(&job_json(j));
    }
    let d = j.last_decision.clone().unwrap_or_default();
    let rows = [
        ("job id", j.job_id.clone()),
        (
            "job type",
            if j.job_type.is_empty() {
                "-".into()
            } else {
                j.job_type.clone()
            },
        ),
        ("state", short(state_name(j.state), "JOB_STATE_")),
        ("policy", j.policy.clone()),
        ("failures", j.failure_count.to_string()),
        ("first failure", time_text(j.first_failure_at.as_ref())),
        ("last failure", time_text(j.last_failure_at.as_ref())),
        ("next retry", time_text(j.next_retry_at.as_ref())),
        ("last error", error_text(j.last_error.as_ref(), 200)),
        ("last decision", decision_summary(&d)),
        ("explanation", d.explanation.clone()),
    ];
    let mut text = key_values(&rows);
    if !j.queue.is_empty() {
        text.push_str(&key_values(&[
            (
                "delivery",
                format!(
                    "queue {}, payload {} bytes, handed out {} times",
                    j.queue, j.payload_bytes, j.deliveries
                ),
            ),
            ("leased until", time_text(j.lease_until.as_ref())),
        ]));
    }
    text
}

pub(super) fn key_values(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

/// `retry after 4s` / `give up (retries_exhausted)`.
pub(super) fn decision_summary(d: &pb::Decision) -> String {
    match pb::Action::try_from(d.action) {
        Ok(pb::Action::Retry) => format!("retry after {}", Human(duration(d.retry_after.as_ref()))),
        Ok(pb::Action::GiveUp) => format!(
            "give up ({})",
            short(reason_name(d.reason), "GIVE_UP_REASON_")
        ),
        _ => "-".into(),
    }
}

pub fn render_decision_table(d: &pb::Decision) -> String {
    let rows = [
        ("decision", decision_summary(d)),
        (
            "failure",
            format!("{} of at most {} attempts", d.failure_count, d.max_attempts),
        ),
        (
            "error class",
            short(class_name(d.error_class), "ERROR_CLASS_"),
        ),
        ("category", d.category.clone()),
        ("policy", d.policy.clone()),
        ("retry at", time_text(d.retry_at.as_ref())),
        ("explanation", d.explanation.clone()),
    ];
    key_values(&rows)
}

pub(super) fn pass_json(p: &pb::PassStats) -> Value {
    json!({
        "pass_number": p.pass_number,
        "started_at": time_json(p.started_at.as_ref()),
        "ended_at": time_json(p.ended_at.as_ref()),
        "duration": p.duration.as_ref().map_or(Value::Null, |d| duration_json(Some(d))),
        "jobs_pending": p.jobs_pending,
        "jobs_attempted": p.jobs_attempted,
        "jobs_succeeded": p.jobs_succeeded,
        "jobs_failed_retryable": p.jobs_failed_retryable,
        "jobs_failed_non_retryable": p.jobs_failed_non_retryable,
        "success_rate": p.success_rate,
    })
}

pub fn render_batch(b: &pb::GetBatchResponse, out: Output) -> String {
    if out == Output::Json {
        return pretty(&json!({
            "batch_id": b.batch_id,
            "passes": b.passes.iter().map(pass_json).collect::<Vec<_>>(),
            "total_attempted": b.total_attempted,
            "total_succeeded": b.total_succeeded,
            "total_failed_retryable": b.total_failed_retryable,
            "total_failed_non_retryable": b.total_failed_non_retryable,
            "success_rate": b.success_rate,
        }));
    }
    let mut s = key_values(&[
        ("batch", b.batch_id.clone()),
        ("passes", b.passes.len().to_string()),
        (
            "attempted",
            format!(
                "{} ({} succeeded, {} failed retryable, {} failed for good)",
                b.total_attempted,
                b.total_succeeded,
                b.total_failed_retryable,
                b.total_failed_non_retryable
            ),
        ),
        ("success rate", format!("{:.1}%", b.success_rate)),
    ]);
    let mut t = table(&[
        "PASS",
        "STARTED",
        "DURATION",
        "PENDING",
        "ATTEMPTED",
        "SUCCEEDED",
        "FAILED RETRYABLE",
        "FAILED FOR GOOD",
        "SUCCESS",
    ]);
    for p in &b.passes {
        t.add_row(vec![
            p.pass_number.to_string(),
            time_text(p.started_at.as_ref()),
            p.duration.as_ref().map_or_else(
                || "open".to_string(),
                |d| Human(duration(Some(d))).to_string(),
            ),
            p.jobs_pending.to_string(),
            p.jobs_attempted.to_string(),
            p.jobs_succeeded.to_string(),
            p.jobs_failed_retryable.to_string(),
            p.jobs_failed_non_retryable.to_string(),
            format!("{:.1}%", p.success_rate),
        ]);
    }
    if !b.passes.is_empty() {
        s.push('\n');
        s.push_str(&finish(t, &[0, 3, 4, 5, 6, 7, 8]));
    }
    s
}

pub(super) fn stats_json(s: &pb::JobTypeStats) -> Value {
    json!({
        "job_type": s.job_type,
        "retrying": s.retrying,
        "dead": s.dead,
        "cancelled": s.cancelled,
        "first_try_successes": s.first_try_successes,
        "successes_after_retry": s.successes_after_retry,
        "give_ups": s.give_ups,
        "retry_success_rate": s.retry_success_rate,
    })
}

pub fn render_stats(s: &pb::GetStatsResponse, out: Output) -> String {
    let total = s.total.clone().unwrap_or_default();
    if out == Output::Json {
        return pretty(&json!({
            "job_types": s.job_types.iter().map(stats_json).collect::<Vec<_>>(),
            "total": stats_json(&total),
        }));
    }
    let mut t = table(&[
        "JOB TYPE",
        "RETRYING",
        "DEAD",
        "CANCELLED",
        "FIRST-TRY OK",
        "OK AFTER RETRY",
        "GIVE-UPS",
        "RETRY SUCCESS",
    ]);
    let row = |name: &str, r: &pb::JobTypeStats| {
        vec![
            name.to_string(),
            r.retrying.to_string(),
            r.dead.to_string(),
            r.cancelled.to_string(),
            r.first_try_successes.to_string(),
            r.successes_after_retry.to_string(),
            r.give_ups.to_string(),
            format!("{:.1}%", r.retry_success_rate),
        ]
    };
    for r in &s.job_types {
        t.add_row(row(&r.job_type, r));
    }
    t.add_row(row("TOTAL", &total));
    finish(t, &[1, 2, 3, 4, 5, 6, 7])
}
