//! Explanations: one human sentence saying which rule and which limit
//! decided, for `ReportFailure`, `Explain`, `GetJob` and the CLI.

use std::fmt::Write as _;
use std::time::Duration;

use super::budget::Exhausted;
use super::decide::Engine;
use super::policy::UNLIMITED;
use super::{Decision, ErrorClass, ErrorReport, GiveUpReason, HintUse, Human, Why, push_u64};

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
        // Only the sentences about the error itself name the rule.
        let cls = || self.classifier.describe_stored(d.rule, d.matched, error);
        let class = d.error_class.as_str();
        let mut s = String::with_capacity(192);
        // Writing to a String cannot fail.
        let _ = match d.why {
            Why::Retry {
                jittered,
                hint,
                capped,
            } => {
                let ms = |h: u32| Human(Duration::from_millis(u64::from(h)));
                s.push_str(class);
                s.push_str(" error (");
                cls().push_to(&mut s);
                s.push(')');
                if d.error_class == ErrorClass::Unknown {
                    s.push_str(", retried as on_unknown = retry");
                }
                s.push_str(": retry ");
                push_u64(&mut s, u64::from(d.failure_count));
                s.push_str(" of ");
                match self.retry_limit(d) {
                    UNLIMITED => s.push_str("unlimited"),
                    l => push_u64(&mut s, u64::from(l)),
                }
                s.push_str(" after ");
                Human(d.delay).push_to(&mut s);
                s.push_str(" (");
                let curve = policy.curve_for(self.category_name(d));
                let text = self.curve_text(d);
                match hint {
                    HintUse::Exact(h) => {
                        s.push_str("the server's retry-after ");
                        ms(h).push_to(&mut s);
                        s.push_str(" exactly");
                    }
                    _ => match text {
                        Some(t) => s.push_str(&t.backoff),
                        None => s.push_str(&curve.backoff.describe()),
                    },
                }
                if curve.by_category {
                    s.push_str(", the `");
                    s.push_str(self.category_name(d));
                    s.push_str("` category's");
                }
                if jittered {
                    s.push_str(", ");
                    match text {
                        Some(t) => s.push_str(&t.jitter),
                        None => s.push_str(&curve.jitter.describe()),
                    }
                    s.push_str(" jitter");
                }
                match hint {
                    HintUse::None | HintUse::Exact(_) => {}
                    HintUse::Raised(h) => {
                        s.push_str(", raised to the retry-after hint ");
                        ms(h).push_to(&mut s);
                    }
                    HintUse::Ignored(h) => {
                        s.push_str(", retry-after hint ");
                        ms(h).push_to(&mut s);
                        s.push_str(" ignored (retry_after_hint = ignore)");
                    }
                    HintUse::TooLong(h) => {
                        s.push_str(", retry-after hint ");
                        ms(h).push_to(&mut s);
                        s.push_str(" disregarded: over max_retry_after_hint ");
                        Human(policy.max_retry_after_hint.unwrap_or_default()).push_to(&mut s);
                    }
                }
                if capped {
                    s.push_str(", capped at max_delay ");
                    Human(curve.max_delay).push_to(&mut s);
                }
                s.push_str(") under policy `");
                s.push_str(p);
                s.push('`');
                Ok(())
            }
            Why::BreakerOpen { probe } => write!(
                s,
                "{class} error ({}): target {}'s circuit breaker is open; retry {} after {}, {} under policy `{p}`",
                cls(),
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
                "{class} error ({}): retries of the job's {} are paused by an operator; retry after {}{}, and this failure does not count ({} counted) under policy `{p}`",
                cls(),
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
                "{class} error ({}), but the server said not to retry (negative gRPC pushback); policy `{p}` honors it",
                cls()
            ),
            Why::Permanent => write!(
                s,
                "permanent error ({}): policy `{p}` never retries it",
                cls()
            ),
            Why::UnknownGivesUp => write!(
                s,
                "unknown error ({}) and policy `{p}` has on_unknown = give_up",
                cls()
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
                    "{class} error ({}), but failure {} is past {which} of policy `{p}`",
                    cls(),
                    d.failure_count
                )
            }
            Why::Deadline { lands_s } => write!(
                s,
                "{class} error ({}), but a retry after {} would land {} after the first failure, \
                 past max_retry_duration {} of policy `{p}`",
                cls(),
                Human(d.delay),
                Human(Duration::from_secs(u64::from(lands_s))),
                Human(policy.max_retry_duration.unwrap_or_default())
            ),
            Why::Cancelled => {
                s.push_str("the job was cancelled; it gets no retries until RetryJob");
                Ok(())
            }
            Why::AlreadyDead => {
                s.push_str("the job already gave up (");
                s.push_str(d.reason.unwrap_or(GiveUpReason::RetriesExhausted).as_str());
                s.push_str("); it gets no retries until RetryJob");
                Ok(())
            }
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
            Why::DeliveryLimit { max } => write!(
                s,
                "handed out {max} times in a row and never settled before its lease ran out (max_deliveries {max}): given up as a poison job"
            ),
            Why::BudgetExhausted { limit } => write!(
                s,
                "{class} error ({}), but retries are throttled: {}; policy `{p}` gives up",
                cls(),
                self.budget_state(limit, target.unwrap_or("?"))
            ),
            Why::BudgetDeferred { limit } => write!(
                s,
                "{class} error ({}): retries are throttled: {}; retry {} deferred to max_delay {} under policy `{p}`",
                cls(),
                self.budget_state(limit, target.unwrap_or("?")),
                d.failure_count,
                Human(d.delay)
            ),
        };
        s
    }
}

/// The fixed parts of a retry's explanation for one policy and category:
/// the backoff curve and the jitter, described once rather than per call.
#[derive(Debug)]
pub struct CurveText {
    backoff: String,
    jitter: String,
}

/// `CurveText`s by policy id, then category id.
#[derive(Debug)]
pub struct CurveTexts(Vec<Vec<CurveText>>);

impl CurveTexts {
    fn new(engine: &Engine) -> Self {
        let categories = engine.classifier.categories();
        CurveTexts(
            engine
                .policies
                .policies()
                .iter()
                .map(|policy| {
                    categories
                        .iter()
                        .map(|category| {
                            let curve = policy.curve_for(category);
                            CurveText {
                                backoff: curve.backoff.describe(),
                                jitter: curve.jitter.describe(),
                            }
                        })
                        .collect()
                })
                .collect(),
        )
    }
}

impl Engine {
    /// The described curve of `d`'s policy and category (none for an id
    /// outside the configuration: the caller describes it then).
    fn curve_text(&self, d: &Decision) -> Option<&CurveText> {
        self.curve_texts
            .get_or_init(|| CurveTexts::new(self))
            .0
            .get(usize::from(d.policy.0))?
            .get(usize::from(d.category.0))
    }
}
