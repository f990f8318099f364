//! Shadow policies: a candidate policy decides every failure beside the
//! live one, and the two decisions are compared, so that a new policy is
//! tried on live traffic before it decides anything (docs/decisions.md,
//! "Shadow policies").

use std::time::Duration;

use super::{Action, Decision};

/// How a shadow decision differs from the live one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// The same action (and, for a retry, the same delay).
    Same,
    /// Live retries, the shadow gives up.
    RetryVsGiveUp,
    /// Live gives up, the shadow retries.
    GiveUpVsRetry,
    /// Both retry; the shadow waits longer.
    DelayLonger,
    /// Both retry; the shadow waits less.
    DelayShorter,
}

impl Comparison {
    pub fn of(live: &Decision, shadow: &Decision) -> Comparison {
        match (live.action, shadow.action) {
            (Action::Retry, Action::GiveUp) => Comparison::RetryVsGiveUp,
            (Action::GiveUp, Action::Retry) => Comparison::GiveUpVsRetry,
            (Action::GiveUp, Action::GiveUp) => Comparison::Same,
            (Action::Retry, Action::Retry) => {
                let (l, s): (Duration, Duration) = (live.delay, shadow.delay);
                match s.cmp(&l) {
                    std::cmp::Ordering::Equal => Comparison::Same,
                    std::cmp::Ordering::Greater => Comparison::DelayLonger,
                    std::cmp::Ordering::Less => Comparison::DelayShorter,
                }
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Same => "same",
            Comparison::RetryVsGiveUp => "retry_vs_give_up",
            Comparison::GiveUpVsRetry => "give_up_vs_retry",
            Comparison::DelayLonger => "delay_longer",
            Comparison::DelayShorter => "delay_shorter",
        }
    }
}
