//! `retryd pause`, `resume`, `pauses` and `events`.

use std::time::Duration;

use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::connect::{CliError, admin, connect};
use super::render::{finish, pretty, short, table, time_json, time_text};
use super::{ClientArgs, Output};
use crate::engine::Human;
use crate::pb;

/// What a pause covers: one of the two.
#[derive(Args, Clone, Debug)]
pub struct ScopeArgs {
    /// Pause (resume) the retries of this job type.
    #[arg(long, conflicts_with = "target", required_unless_present = "target")]
    pub job_type: Option<String>,
    /// Pause (resume) the retries of failures reported with this target.
    #[arg(long)]
    pub target: Option<String>,
}

#[derive(Args, Clone, Debug)]
pub struct PauseArgs {
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// How long, e.g. `30m` [default: until `retryd resume`].
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    pub length: Option<Duration>,
}

/// An event kind, as `--kind` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum KindArg {
    RetryScheduled,
    GaveUp,
    SucceededAfterRetry,
    Cancelled,
    ManualRetry,
    BudgetExhausted,
    BreakerOpened,
    BreakerClosed,
    Paused,
    Resumed,
}

impl KindArg {
    fn kind(self) -> pb::EventKind {
        match self {
            KindArg::RetryScheduled => pb::EventKind::RetryScheduled,
            KindArg::GaveUp => pb::EventKind::GaveUp,
            KindArg::SucceededAfterRetry => pb::EventKind::SucceededAfterRetry,
            KindArg::Cancelled => pb::EventKind::Cancelled,
            KindArg::ManualRetry => pb::EventKind::ManualRetry,
            KindArg::BudgetExhausted => pb::EventKind::BudgetExhausted,
            KindArg::BreakerOpened => pb::EventKind::BreakerOpened,
            KindArg::BreakerClosed => pb::EventKind::BreakerClosed,
            KindArg::Paused => pb::EventKind::Paused,
            KindArg::Resumed => pb::EventKind::Resumed,
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct EventsArgs {
    /// Only events of this job type.
    #[arg(long)]
    pub job_type: Option<String>,
    /// Only events of this target.
    #[arg(long)]
    pub target: Option<String>,
    /// Only events of these kinds (repeat, or comma-separate) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kind: Vec<KindArg>,
    /// Stop after this many events [default: until the sidecar stops].
    #[arg(long)]
    pub count: Option<u64>,
}

fn scope_of(s: ScopeArgs) -> (String, String) {
    (s.job_type.unwrap_or_default(), s.target.unwrap_or_default())
}

pub async fn pause(args: &ClientArgs, p: PauseArgs) -> Result<String, CliError> {
    let (job_type, target) = scope_of(p.scope);
    let mut c = connect(args).await?;
    let r = c
        .pause_retries(admin(
            args,
            pb::PauseRetriesRequest {
                job_type,
                target,
                duration: p.length.map(|d| prost_types::Duration {
                    seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
                }),
            },
        )?)
        .await?
        .into_inner();
    let pause = r.pause.unwrap_or_default();
    Ok(match args.output {
        Output::Json => pretty(&pause_json(&pause)),
        Output::Table => format!(
            "paused retries of {} {}\n",
            what(&pause),
            match pause.until {
                Some(_) => format!("until {}", time_text(pause.until.as_ref())),
                None => "until resumed".to_string(),
            }
        ),
    })
}

pub async fn resume(args: &ClientArgs, s: ScopeArgs) -> Result<String, CliError> {
    let (job_type, target) = scope_of(s);
    let mut c = connect(args).await?;
    let shown = if job_type.is_empty() {
        format!("target {target}")
    } else {
        format!("job type {job_type}")
    };
    c.resume_retries(admin(args, pb::ResumeRetriesRequest { job_type, target })?)
        .await?;
    Ok(match args.output {
        Output::Json => pretty(&json!({ "resumed": shown })),
        Output::Table => format!("resumed retries of {shown}\n"),
    })
}

fn what(p: &pb::Pause) -> String {
    if p.job_type.is_empty() {
        format!("target {}", p.target)
    } else {
        format!("job type {}", p.job_type)
    }
}

fn pause_json(p: &pb::Pause) -> Value {
    json!({
        "job_type": p.job_type,
        "target": p.target,
        "until": time_json(p.until.as_ref()),
        "created_at": time_json(p.created_at.as_ref()),
    })
}

pub async fn pauses(args: &ClientArgs) -> Result<String, CliError> {
    let mut c = connect(args).await?;
    let pauses = c
        .list_pauses(pb::ListPausesRequest {})
        .await?
        .into_inner()
        .pauses;
    if args.output == Output::Json {
        let rows: Vec<Value> = pauses.iter().map(pause_json).collect();
        return Ok(pretty(&json!({ "pauses": rows })));
    }
    if pauses.is_empty() {
        return Ok("no pauses in force\n".into());
    }
    let mut t = table(&["JOB TYPE", "TARGET", "UNTIL", "SINCE"]);
    for p in &pauses {
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        t.add_row(vec![
            dash(&p.job_type),
            dash(&p.target),
            match p.until {
                Some(_) => time_text(p.until.as_ref()),
                None => "resumed by hand".to_string(),
            },
            time_text(p.created_at.as_ref()),
        ]);
    }
    Ok(finish(t, &[]))
}

/// Streams events to stdout, one line (or JSON object) each, until the
/// sidecar stops or `--count` are shown.
pub async fn events(args: &ClientArgs, e: EventsArgs) -> Result<String, CliError> {
    let mut c = connect(args).await?;
    let mut stream = c
        .watch_events(pb::WatchEventsRequest {
            job_type: e.job_type.unwrap_or_default(),
            target: e.target.unwrap_or_default(),
            kinds: e.kind.iter().map(|k| k.kind() as i32).collect(),
        })
        .await?
        .into_inner();
    let mut shown = 0u64;
    while e.count.is_none_or(|n| shown < n) {
        let Some(ev) = stream.next().await else { break };
        let ev = ev?;
        let line = match args.output {
            Output::Json => {
                let mut s = serde_json::to_string(&event_json(&ev)).unwrap_or_default();
                s.push('\n');
                s
            }
            Output::Table => event_line(&ev),
        };
        print!("{line}");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        shown += 1;
    }
    Ok(String::new())
}

fn kind_name(v: i32) -> String {
    pb::EventKind::try_from(v)
        .map_or_else(|_| v.to_string(), |k| short(k.as_str_name(), "EVENT_KIND_"))
}

fn event_json(e: &pb::Event) -> Value {
    let mut v = json!({
        "kind": kind_name(e.kind),
        "at": time_json(e.at.as_ref()),
        "job_id": e.job_id,
        "job_type": e.job_type,
        "target": e.target,
        "dropped": e.dropped,
    });
    if let Some(d) = &e.decision {
        v["decision"] = json!({
            "action": short(super::render::action_name(d.action), "ACTION_"),
            "retry_after_seconds": super::render::duration(d.retry_after.as_ref()).as_secs_f64(),
            "failure_count": d.failure_count,
            "reason": pb::GiveUpReason::try_from(d.reason)
                .map_or_else(|_| d.reason.to_string(), |r| short(r.as_str_name(), "GIVE_UP_REASON_")),
            "policy": d.policy,
            "explanation": d.explanation,
        });
    }
    v
}

/// `2026-11-24T10:00:00Z gave_up job=j1 type=invoice: <explanation>`.
fn event_line(e: &pb::Event) -> String {
    let mut s = format!("{} {}", time_text(e.at.as_ref()), kind_name(e.kind));
    for (k, v) in [
        ("job", &e.job_id),
        ("type", &e.job_type),
        ("target", &e.target),
    ] {
        if !v.is_empty() {
            s.push_str(&format!(" {k}={v}"));
        }
    }
    if let Some(d) = &e.decision {
        if d.action == pb::Action::Retry as i32 {
            let after = super::render::duration(d.retry_after.as_ref());
            s.push_str(&format!(" after {}", Human(after)));
        }
        s.push_str(&format!(": {}", d.explanation));
    }
    if e.dropped > 0 {
        s.push_str(&format!(" ({} events missed before this one)", e.dropped));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_line_says_what_happened() {
        let e = pb::Event {
            kind: pb::EventKind::GaveUp as i32,
            at: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 0,
            }),
            job_id: "j1".into(),
            job_type: "invoice".into(),
            decision: Some(pb::Decision {
                action: pb::Action::GiveUp as i32,
                explanation: "permanent error".into(),
                ..Default::default()
            }),
            dropped: 3,
            ..Default::default()
        };
        let line = event_line(&e);
        assert_eq!(
            line,
            "2027-01-15T08:00:00Z gave_up job=j1 type=invoice: permanent error (3 events missed before this one)\n"
        );
        let j = event_json(&e);
        assert_eq!(j["kind"], "gave_up");
        assert_eq!(j["decision"]["action"], "give_up");
        assert_eq!(j["dropped"], 3);
    }
}
