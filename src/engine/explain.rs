//! Explanations: one human sentence saying which rule and which limit
//! decided, for `ReportFailure`, `Explain`, `GetJob` and the CLI.

use std::fmt::Write as _;
use std::time::Duration;

use super::budget::Exhausted;
use super::decide::Engine;
use super::policy::UNLIMITED;
use super::{Decision, ErrorClass, ErrorReport, GiveUpReason, HintUse, Human, Why};

impl Engine {
    /// "target s3: 48/100 tokens, at or below half".
    fn budget_state(&self, limit: Exhausted, target: &str) -> String {
        let c = self.budgets.for_target(target).copied().unwrap_or_default();
        match limit {
            Exhausted::Tokens(t) => format!(
                "target {target}: {t}/{} tokens, at or below half",
                c.max_tokens
            ),
            Exhausted::Retrying(n) => format!(
                "target {target}: {n}/{} jobs already waiting in backoff (max_retrying)",
                c.max_retrying
            ),
        }
    }

    /// One human sentence: which rule and which limit decided. `error` is
    /// the error the decision was about (the report, or the job's kept
    /// error); `target` the name of the decision's target, if it has one.
    pub fn explanation(
        &self,
        d: &Decision,
        error: &ErrorReport<'_>,
        target: Option<&str>,
    ) -> String {
        let policy = self.policies.by_id(d.policy);
        let p = &policy.name;
        let cls = self.classifier.describe_stored(d.rule, d.matched, error);
        let class = d.error_class.as_str();
        let mut s = String::with_capacity(160);
        // Writing to a String cannot fail.
        let _ = match d.why {
            Why::Retry {
                jittered,
                hint,
                capped,
            } => {
                let unknown = if d.error_class == ErrorClass::Unknown {
                    ", retried as on_unknown = retry"
                } else {
                    ""
                };
                let of = match self.retry_limit(d) {
                    UNLIMITED => "unlimited".to_string(),
                    l => l.to_string(),
                };
                let curve = policy.curve_for(self.category_name(d));
                let ms = |h: u32| Human(Duration::from_millis(u64::from(h)));
                let mut how = match hint {
                    HintUse::Exact(h) => format!("the server's retry-after {} exactly", ms(h)),
                    _ => curve.backoff.describe(),
                };
                if curve.by_category {
                    let _ = write!(how, ", the `{}` category's", self.category_name(d));
                }
                if jittered {
                    let _ = write!(how, ", {} jitter", curve.jitter.describe());
                }
                let _ = match hint {
                    HintUse::None | HintUse::Exact(_) => Ok(()),
                    HintUse::Raised(h) => write!(how, ", raised to the retry-after hint {}", ms(h)),
                    HintUse::Ignored(h) => write!(
                        how,
                        ", retry-after hint {} ignored (retry_after_hint = ignore)",
                        ms(h)
                    ),
                    HintUse::TooLong(h) => write!(
                        how,
                        ", retry-after hint {} disregarded: over max_retry_after_hint {}",
                        ms(h),
                        Human(policy.max_retry_after_hint.unwrap_or_default())
                    ),
                };
                if capped {
                    let _ = write!(how, ", capped at max_delay {}", Human(curve.max_delay));
                }
                write!(
                    s,
                    "{class} error ({cls}){unknown}: retry {} of {of} after {} ({how}) under policy `{p}`",
                    d.failure_count,
                    Human(d.delay)
                )
            }
            Why::BreakerOpen { probe } => write!(
                s,
                "{class} error ({cls}): target {}'s circuit breaker is open; retry {} after {}, {} under policy `{p}`",
                target.unwrap_or("?"),
                d.failure_count,
                Human(d.delay),
                if probe {
                    "one of the probes at its close"
                } else {
                    "once the probes at its close have answered"
                }
            ),
            Why::Paused {
                open_ended,
                by_target,
            } => write!(
                s,
                "{class} error ({cls}): retries of the job's {} are paused by an operator; retry after {}{}, and this failure does not count ({} counted) under policy `{p}`",
                if by_target { "target" } else { "type" },
                Human(d.delay),
                if open_ended {
                    " (pause_recheck: the pause has no end, so the job asks again then)"
                } else {
                    ", when the pause ends"
                },
                d.failure_count
            ),
            Why::Pushback => write!(
                s,
                "{class} error ({cls}), but the server said not to retry (negative gRPC pushback); policy `{p}` honors it"
            ),
            Why::Permanent => write!(s, "permanent error ({cls}): policy `{p}` never retries it"),
            Why::UnknownGivesUp => write!(
                s,
                "unknown error ({cls}) and policy `{p}` has on_unknown = give_up"
            ),
            Why::Exhausted { by_category } => {
                let limit = self.retry_limit(d);
                let which = if by_category {
                    format!(
                        "the `{}` category limit of {limit} retries",
                        self.category_name(d)
                    )
                } else {
                    format!("max_retries {limit}")
                };
                write!(
                    s,
                    "{class} error ({cls}), but failure {} is past {which} of policy `{p}`",
                    d.failure_count
                )
            }
            Why::Deadline { lands_s } => write!(
                s,
                "{class} error ({cls}), but a retry after {} would land {} after the first failure, \
                 past max_retry_duration {} of policy `{p}`",
                Human(d.delay),
                Human(Duration::from_secs(u64::from(lands_s))),
                Human(policy.max_retry_duration.unwrap_or_default())
            ),
            Why::Cancelled => write!(
                s,
                "the job was cancelled; it gets no retries until RetryJob"
            ),
            Why::AlreadyDead => write!(
                s,
                "the job already gave up ({}); it gets no retries until RetryJob",
                d.reason.unwrap_or(GiveUpReason::RetriesExhausted).as_str()
            ),
            Why::ManualRetry { reset: true } => {
                write!(s, "manual retry: due now, failure count reset to 0")
            }
            Why::ManualRetry { reset: false } => {
                write!(
                    s,
                    "manual retry: due now, failure count kept at {}",
                    d.failure_count
                )
            }
            Why::OperatorCancel => write!(s, "the job was cancelled by an operator"),
            Why::BudgetExhausted { limit } => write!(
                s,
                "{class} error ({cls}), but retries are throttled: {}; policy `{p}` gives up",
                self.budget_state(limit, target.unwrap_or("?"))
            ),
            Why::BudgetDeferred { limit } => write!(
                s,
                "{class} error ({cls}): retries are throttled: {}; retry {} deferred to max_delay {} under policy `{p}`",
                self.budget_state(limit, target.unwrap_or("?")),
                d.failure_count,
                Human(d.delay)
            ),
        };
        s
    }
}
