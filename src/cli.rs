//! Operator commands: the `retryd` binary as a client of a running sidecar.
//!
//! Tables for people, `--output json` for scripts (protobuf's JSON mapping,
//! with the proto's own field names). An unreachable sidecar or an error
//! status is one line on stderr and exit code 1 (see `main.rs`).

use std::time::{Duration, UNIX_EPOCH};

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::{CellAlignment, Table, presets};
use serde_json::{Value, json};
use thiserror::Error;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::engine::Human;
use crate::engine::classify::{grpc_code_from_name, grpc_code_name};
use crate::error_chain::error_chain;
use crate::metrics::code_name;
use crate::pb;
use crate::pb::retry_coordinator_client::RetryCoordinatorClient;

pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";

/// Options every client command takes.
#[derive(Args, Clone, Debug)]
pub struct ClientArgs {
    /// The sidecar's gRPC address.
    #[arg(long, env = "RETRYD_ADDR", default_value = DEFAULT_ADDR, global = true)]
    pub addr: String,
    /// `table` for people, `json` for scripts.
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// The admin token for `jobs retry|cancel|delete`, if the sidecar requires one.
    #[arg(
        long,
        env = "RETRYD_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// Connect with TLS, trusting this CA certificate (PEM); implied by an `https://` address.
    #[arg(long, env = "RETRYD_TLS_CA", global = true)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// The name the sidecar's certificate must carry [default: the address's host].
    #[arg(long, global = true)]
    pub tls_domain: Option<String>,
    /// A client certificate (PEM), for a sidecar that requires one.
    #[arg(
        long,
        env = "RETRYD_TLS_CLIENT_CERT",
        global = true,
        requires = "tls_client_key"
    )]
    pub tls_client_cert: Option<std::path::PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(
        long,
        env = "RETRYD_TLS_CLIENT_KEY",
        global = true,
        requires = "tls_client_cert"
    )]
    pub tls_client_key: Option<std::path::PathBuf>,
    /// How long to wait for the sidecar.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s", global = true)]
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// Jobs retryd holds, ordered by id.
    List {
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        #[arg(long)]
        job_type: Option<String>,
        /// At most this many jobs.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// One job's state.
    Get { job_id: String },
    /// Manual retry: the job is due now, its failure count reset.
    Retry {
        job_id: String,
        /// Keep the failure count instead of resetting it.
        #[arg(long)]
        keep_failures: bool,
    },
    /// Cancel a retrying job: its later failures give up.
    Cancel { job_id: String },
    /// Forget a job (e.g. purge a dead one).
    Delete { job_id: String },
}

#[derive(Subcommand, Debug)]
pub enum BatchesCommand {
    /// A batch's passes and totals.
    Get { batch_id: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StateArg {
    Retrying,
    Dead,
    Cancelled,
}

impl StateArg {
    fn pb(self) -> pb::JobState {
        match self {
            StateArg::Retrying => pb::JobState::Retrying,
            StateArg::Dead => pb::JobState::Dead,
            StateArg::Cancelled => pb::JobState::Cancelled,
        }
    }
}

/// The decision a failure would get, changing nothing.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The job (its recorded failures count toward the decision).
    #[arg(long, default_value = "explain")]
    pub job_id: String,
    /// Exception or error type name, e.g. `requests.exceptions.ConnectionError`.
    #[arg(long)]
    pub error_type: Option<String>,
    #[arg(long)]
    pub message: Option<String>,
    #[arg(long)]
    pub http_status: Option<u32>,
    /// gRPC code, by name (`UNAVAILABLE`) or number (14).
    #[arg(long)]
    pub grpc_code: Option<String>,
    /// The caller's own verdict.
    #[arg(long)]
    pub retryable: Option<bool>,
    #[arg(long)]
    pub policy: Option<String>,
    #[arg(long)]
    pub job_type: Option<String>,
    #[arg(long)]
    pub priority: Option<u32>,
    /// The caller's attempt number (1-based).
    #[arg(long)]
    pub attempt: Option<u32>,
    /// A Retry-After hint, e.g. `30s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub hint: Option<Duration>,
    #[arg(long)]
    pub target: Option<String>,
}

#[derive(Debug, Error)]
pub enum CliError {
    #[error("invalid --addr {addr:?}: {why}")]
    Addr { addr: String, why: String },
    #[error("cannot reach retryd at {addr}: {why}")]
    Unreachable { addr: String, why: String },
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(#[from] tonic::Status),
    #[error("{0}")]
    Usage(String),
}

/// Connects to the sidecar at `addr` (`host:port` or a URL).
pub async fn connect(args: &ClientArgs) -> Result<RetryCoordinatorClient<Channel>, CliError> {
    let tls = args.tls_ca.is_some() || args.addr.starts_with("https://");
    let url = if args.addr.contains("://") {
        args.addr.clone()
    } else if tls {
        format!("https://{}", args.addr)
    } else {
        format!("http://{}", args.addr)
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| CliError::Addr {
            addr: args.addr.clone(),
            why: e.to_string(),
        })?
        .connect_timeout(args.timeout)
        .timeout(args.timeout);
    if tls {
        endpoint = endpoint
            .tls_config(client_tls(args)?)
            .map_err(|e| CliError::Usage(format!("TLS: {}", error_chain(&e))))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| CliError::Unreachable {
            addr: url,
            why: error_chain(&e),
        })?;
    Ok(RetryCoordinatorClient::new(channel))
}

/// The CA to trust (required: no system roots are built in), the name to
/// check, and the client certificate if one is given.
fn client_tls(args: &ClientArgs) -> Result<ClientTlsConfig, CliError> {
    let read = |flag: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| CliError::Usage(format!("{flag} {}: {e}", path.display())))
    };
    let ca = args.tls_ca.as_deref().ok_or_else(|| {
        CliError::Usage("an https:// address needs --tls-ca (the CA certificate to trust)".into())
    })?;
    let mut config =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("--tls-ca", ca)?));
    if let Some(domain) = &args.tls_domain {
        config = config.domain_name(domain.clone());
    }
    if let (Some(cert), Some(key)) = (&args.tls_client_cert, &args.tls_client_key) {
        config = config.identity(Identity::from_pem(
            read("--tls-client-cert", cert)?,
            read("--tls-client-key", key)?,
        ));
    }
    Ok(config)
}

/// A request carrying the admin token, if one was given.
fn admin<T>(args: &ClientArgs, message: T) -> Result<tonic::Request<T>, CliError> {
    let mut req = tonic::Request::new(message);
    if let Some(token) = &args.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| CliError::Usage("--token: not a valid header value".into()))?;
        req.metadata_mut().insert("authorization", value);
    }
    Ok(req)
}

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

pub fn render_budgets(budgets: &[pb::Budget], out: Output) -> String {
    if out == Output::Json {
        let rows: Vec<Value> = budgets
            .iter()
            .map(|b| {
                json!({
                    "target": b.target,
                    "tokens": b.tokens,
                    "max_tokens": b.max_tokens,
                    "retrying": b.retrying,
                    "max_retrying": b.max_retrying,
                    "exhausted_total": b.exhausted_total,
                })
            })
            .collect();
        return pretty(&json!({ "budgets": rows }));
    }
    if budgets.is_empty() {
        return "no retry budgets (configure [budgets.default] or [budgets.<target>])\n".into();
    }
    let mut t = table(&[
        "TARGET",
        "TOKENS",
        "MAX",
        "RETRYING",
        "MAX RETRYING",
        "EXHAUSTED",
        "STATE",
    ]);
    for b in budgets {
        let throttled =
            2.0 * b.tokens <= f64::from(b.max_tokens) || b.retrying >= u64::from(b.max_retrying);
        t.add_row(vec![
            b.target.clone(),
            format!("{:.1}", b.tokens),
            b.max_tokens.to_string(),
            b.retrying.to_string(),
            b.max_retrying.to_string(),
            b.exhausted_total.to_string(),
            if throttled { "throttled" } else { "ok" }.to_string(),
        ]);
    }
    finish(t, &[1, 2, 3, 4, 5])
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
    };
    let mut c = connect(args).await?;
    let d = c
        .explain(req)
        .await?
        .into_inner()
        .decision
        .unwrap_or_default();
    Ok(match args.output {
        Output::Table => render_decision_table(&d),
        Output::Json => pretty(&decision_json(&d)),
    })
}

// ---- rendering -------------------------------------------------------------

fn pretty(v: &Value) -> String {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).set_header(header.to_vec());
    t
}

/// Plain aligned columns; `numeric` ones right-aligned.
fn finish(mut t: Table, numeric: &[usize]) -> String {
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
fn short(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

fn state_name(v: i32) -> &'static str {
    pb::JobState::try_from(v).map_or("JOB_STATE_UNSPECIFIED", |s| s.as_str_name())
}

fn action_name(v: i32) -> &'static str {
    pb::Action::try_from(v).map_or("ACTION_UNSPECIFIED", |s| s.as_str_name())
}

fn reason_name(v: i32) -> &'static str {
    pb::GiveUpReason::try_from(v).map_or("GIVE_UP_REASON_UNSPECIFIED", |s| s.as_str_name())
}

fn class_name(v: i32) -> &'static str {
    pb::ErrorClass::try_from(v).map_or("ERROR_CLASS_UNSPECIFIED", |s| s.as_str_name())
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<std::time::SystemTime> {
    let t = t?;
    let secs = u64::try_from(t.seconds).ok()?;
    let nanos = u32::try_from(t.nanos).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

fn time_json(t: Option<&prost_types::Timestamp>) -> Value {
    time(t).map_or(Value::Null, |t| {
        Value::String(humantime::format_rfc3339_millis(t).to_string())
    })
}

fn time_text(t: Option<&prost_types::Timestamp>) -> String {
    time(t).map_or_else(
        || "-".to_string(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    )
}

fn duration(d: Option<&prost_types::Duration>) -> Duration {
    d.and_then(|d| {
        Some(Duration::new(
            u64::try_from(d.seconds).ok()?,
            u32::try_from(d.nanos).ok()?,
        ))
    })
    .unwrap_or_default()
}

/// Proto JSON duration: `"2s"`, `"0.500s"`.
fn duration_json(d: Option<&prost_types::Duration>) -> Value {
    let d = duration(d);
    let ms = d.subsec_millis();
    Value::String(if ms == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}.{ms:03}s", d.as_secs())
    })
}

fn error_json(e: Option<&pb::ErrorInfo>) -> Value {
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
    })
}

/// `TimeoutError (HTTP 503): upstream timed out`, cut to `max` characters.
fn error_text(e: Option<&pb::ErrorInfo>, max: usize) -> String {
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
    key_values(&rows)
}

fn key_values(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

/// `retry after 4s` / `give up (retries_exhausted)`.
fn decision_summary(d: &pb::Decision) -> String {
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

fn pass_json(p: &pb::PassStats) -> Value {
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

fn stats_json(s: &pb::JobTypeStats) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> pb::Job {
        pb::Job {
            job_id: id.into(),
            job_type: "mail".into(),
            policy: "default".into(),
            state: pb::JobState::Dead as i32,
            failure_count: 3,
            first_failure_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            last_failure_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_060,
                nanos: 0,
            }),
            next_retry_at: None,
            last_error: Some(pb::ErrorInfo {
                r#type: "TimeoutError".into(),
                message: "upstream timed out\nsecond line".into(),
                http_status: 504,
                grpc_code: 0,
                retryable: None,
            }),
            last_decision: Some(pb::Decision {
                action: pb::Action::GiveUp as i32,
                reason: pb::GiveUpReason::RetriesExhausted as i32,
                retry_after: Some(prost_types::Duration {
                    seconds: 0,
                    nanos: 0,
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn job_list_table_is_aligned_and_counted() {
        let text = render_job_list(&[job("a"), job("longer-id")], 7, Output::Table);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("JOB ID     TYPE  STATE"), "{text}");
        assert!(
            lines[1].starts_with("a          mail  dead          3  default  -"),
            "{text}"
        );
        assert!(
            lines[1].ends_with("TimeoutError HTTP 504: upstream timed out"),
            "{text}"
        );
        assert_eq!(lines[3], "2 of 7 jobs");
        let type_col = lines[0].find("TYPE").expect("TYPE");
        assert_eq!(lines[2].find("mail"), Some(type_col));
    }

    #[test]
    fn json_uses_proto_field_and_enum_names() {
        let v: Value =
            serde_json::from_str(&render_job(Some(&job("a")), Output::Json)).expect("json");
        assert_eq!(v["state"], "JOB_STATE_DEAD");
        assert_eq!(v["first_failure_at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["next_retry_at"], Value::Null);
        assert_eq!(
            v["last_decision"]["reason"],
            "GIVE_UP_REASON_RETRIES_EXHAUSTED"
        );
        assert_eq!(v["last_error"]["http_status"], 504);
        let d = pb::Decision {
            retry_after: Some(prost_types::Duration {
                seconds: 0,
                nanos: 500_000_000,
            }),
            ..Default::default()
        };
        assert_eq!(decision_json(&d)["retry_after"], "0.500s");
    }

    #[test]
    fn long_errors_are_cut() {
        let e = pb::ErrorInfo {
            message: "x".repeat(500),
            ..Default::default()
        };
        assert_eq!(error_text(Some(&e), 10).chars().count(), 10);
    }
}
