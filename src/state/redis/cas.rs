//! The compare-and-set retry loop, written once.
//!
//! Every change to shared state in Redis — a job's record, a batch's pass
//! book, a target's breaker — is read, decided in Rust, and written only if
//! what was read is still there. When another sidecar changed it in
//! between, the write is refused with what is there now, and the change is
//! decided again on that. A change that keeps losing to other sidecars
//! gives up after `MAX_CONFLICTS` tries and answers `UNAVAILABLE`: it never
//! spins without bound, and never writes over a change it did not see.

use std::future::Future;

use crate::state::StateError;

/// Most tries of one change that other sidecars keep changing under it.
pub(super) const MAX_CONFLICTS: usize = 64;

/// How one try ended.
pub(super) enum Tried<T, S> {
    /// Written (or nothing to write): the answer.
    Applied(T),
    /// Refused: another sidecar changed it; `S` is what the next try
    /// starts from (what is there now).
    Conflict(S),
}

/// Runs `attempt` from `start` until it is applied or fails, each try
/// starting from what the last conflict returned. `what` names the thing
/// changed in the error after `MAX_CONFLICTS` tries.
///
/// What a try needs across tries goes in and out by value (`S`), so the
/// future of a try borrows nothing from the loop.
pub(super) async fn until_applied<S, T, F, Fut>(
    what: impl FnOnce() -> String,
    start: S,
    mut attempt: F,
) -> Result<T, StateError>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Result<Tried<T, S>, StateError>>,
{
    let mut next = start;
    for _ in 0..MAX_CONFLICTS {
        match attempt(next).await? {
            Tried::Applied(answer) => return Ok(answer),
            Tried::Conflict(s) => next = s,
        }
    }
    Err(StateError::Unavailable(format!(
        "{}: changed by other sidecars {MAX_CONFLICTS} times while this sidecar tried to commit; try again",
        what()
    )))
}
