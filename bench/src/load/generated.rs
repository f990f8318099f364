//! The generated client, as `retryd-bench` called before the lean one:
//! each request built per call (an RNG draw, the job id formatted, five
//! `String`s) and each answer decoded. Kept to measure what that costs.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use retryd::pb;
use retryd::pb::retry_coordinator_client::RetryCoordinatorClient;
use tonic::transport::Channel;

use super::{Counted, ERRORS, Target, failure_request, job_id, target_of};
use crate::LoadOpts;
use crate::bench_pb::EchoRequest;
use crate::bench_pb::echo_client::EchoClient;

/// One worker's loop with the generated client, until the window ends.
pub(super) async fn worker(ch: Channel, target: Target, o: &LoadOpts, w: usize, c: &mut Counted) {
    let mut rng = StdRng::seed_from_u64(w as u64);
    let mut retryd = RetryCoordinatorClient::new(ch.clone());
    let mut echo = EchoClient::new(ch);
    let payload = match target {
        Target::Echo { request, .. } => vec![b'x'; request.saturating_sub(5)],
        Target::Retryd => Vec::new(),
    };
    loop {
        let t0 = Instant::now();
        if t0 >= c.stop {
            break;
        }
        let i: usize = rng.random_range(0..o.jobs.max(1) * ERRORS.len());
        let ok = match target {
            Target::Retryd if rng.random::<f64>() < o.success_ratio => retryd
                .report_success(pb::ReportSuccessRequest {
                    job_id: job_id(i % o.jobs.max(1)),
                    job_type: "invoice".into(),
                    target: target_of(i, o.targets),
                    lease_id: String::new(),
                })
                .await
                .is_ok(),
            Target::Retryd => {
                let mut r = failure_request(i, o.jobs);
                r.target = target_of(i, o.targets);
                retryd.report_failure(r).await.is_ok()
            }
            Target::Echo { response, .. } => echo
                .echo(EchoRequest {
                    payload: payload.clone(),
                    response_size: response as u32,
                })
                .await
                .is_ok(),
        };
        c.done(t0, ok);
    }
}
