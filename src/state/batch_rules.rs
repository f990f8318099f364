//! What both backends' batch keepers share: the bounds of one batch, the
//! defaults of `StartPass`, and the errors of the batch calls.

use std::time::Duration;

use thiserror::Error;

use crate::engine::batch::PassError;

/// Most jobs one batch may hold.
pub const MAX_BATCH_JOBS: usize = 100_000;
pub const DEFAULT_MAX_PASSES: u32 = 3;
pub const DEFAULT_PASS_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error("no batch {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Pass(#[from] PassError),
    #[error("job {job_id:?} already belongs to the open batch {batch_id:?}")]
    JobInOtherBatch { job_id: String, batch_id: String },
    #[error("the batch would hold {0} jobs; at most {MAX_BATCH_JOBS}")]
    TooManyJobs(usize),
}
