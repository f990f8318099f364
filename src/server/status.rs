//! Errors as gRPC statuses: the state's typed errors mapped to their codes
//! (a lease refused with its precondition violation), and `CallError`, what
//! a handler's body fails with.

use tonic::Status;
use tonic_types::StatusExt;

use super::validate;
use crate::state::{BatchError, StateError};

impl From<BatchError> for Status {
    fn from(e: BatchError) -> Status {
        match e {
            BatchError::NotFound(_) => Status::not_found(e.to_string()),
            BatchError::Pass(_) => Status::failed_precondition(e.to_string()),
            BatchError::JobInOtherBatch { .. } => Status::already_exists(e.to_string()),
            BatchError::TooManyJobs(_) => validate::invalid("job_ids", e.to_string()),
        }
    }
}

impl From<StateError> for Status {
    fn from(e: StateError) -> Status {
        match e {
            StateError::Lease(msg) => Status::with_error_details(
                tonic::Code::FailedPrecondition,
                msg.clone(),
                tonic_types::ErrorDetails::with_precondition_failure(vec![
                    tonic_types::PreconditionViolation::new("LEASE", "lease_id", msg),
                ]),
            ),
            StateError::Full(_) => Status::resource_exhausted(e.to_string()),
            StateError::DeliveryOff(_) => Status::failed_precondition(e.to_string()),
            StateError::NotFound(_) => Status::not_found(e.to_string()),
            StateError::Dead(_) => Status::failed_precondition(e.to_string()),
            StateError::Batch(b) => b.into(),
            StateError::Unavailable(_) | StateError::NotReplicated(_) => {
                Status::unavailable(e.to_string())
            }
            StateError::Malformed(_) => Status::data_loss(e.to_string()),
            StateError::Reloaded => Status::unavailable(e.to_string()),
        }
    }
}

/// What a handler's body fails with: a refusal already worded as a status
/// (bad input, a missing token), or the state's typed error, which the
/// reload retry (`App::reloading`) looks at before it becomes a status.
#[derive(Debug)]
pub enum CallError {
    Refused(Status),
    State(StateError),
}

impl From<Status> for CallError {
    fn from(s: Status) -> CallError {
        CallError::Refused(s)
    }
}

impl From<StateError> for CallError {
    fn from(e: StateError) -> CallError {
        CallError::State(e)
    }
}

impl From<CallError> for Status {
    fn from(e: CallError) -> Status {
        match e {
            CallError::Refused(s) => s,
            CallError::State(e) => e.into(),
        }
    }
}
