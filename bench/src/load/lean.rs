//! The lean client: every request encoded before the run, sent through
//! `tonic::client::Grpc` with a pass-through codec, the answer's bytes
//! counted, not decoded.

use std::sync::Arc;
use std::time::Instant;

use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes, BytesMut};
use retryd::pb;
use tonic::client::Grpc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use super::{Counted, ERRORS, ID_LEN, Target, failure_request, job_id, target_of, write_digits};
use crate::LoadOpts;
use crate::bench_pb::EchoRequest;

/// A request encoded once; `id_at` is where the job id's bytes start.
struct Template {
    bytes: Vec<u8>,
    id_at: Option<usize>,
}

impl Template {
    fn new(bytes: Vec<u8>) -> Template {
        let needle = job_id(0);
        let id_at = bytes.windows(ID_LEN).position(|w| w == needle.as_bytes());
        Template { bytes, id_at }
    }

    /// The request for job `job`: a copy of the template with the job id's
    /// digits written in.
    fn with_job(&self, job: usize) -> Bytes {
        let mut b = BytesMut::from(&self.bytes[..]);
        if let Some(at) = self.id_at {
            write_digits(&mut b[at..at + ID_LEN], job);
        }
        b.freeze()
    }
}

/// Every call a run can make, encoded before it starts. Call `k` of a
/// worker is index `i = (start + k * stride) % n` over
/// `n = jobs × ERRORS.len()`, `stride` prime to `n`: each worker walks every
/// (job, error) pair once before repeating, with no RNG per call. As in
/// the generated client, index `i` is job `i % jobs`, error
/// `i % ERRORS.len()`, target `i % targets`.
pub(crate) struct Calls {
    failure: Vec<Template>,
    success: Vec<Template>,
    echo: Template,
    jobs: usize,
    targets: usize,
    n: usize,
    stride: usize,
    success_ratio: f64,
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Calls {
    pub(crate) fn new(target: Target, o: &LoadOpts) -> Calls {
        let jobs = o.jobs.max(1);
        let targets = o.targets;
        let e = ERRORS.len();
        let mut failure = Vec::new();
        for err in 0..e {
            for t in 0..targets.max(1) {
                let mut r = failure_request(err, 1);
                r.target = target_of(t, targets);
                failure.push(Template::new(r.encode_to_vec()));
            }
        }
        let success = (0..targets.max(1))
            .map(|t| {
                Template::new(
                    pb::ReportSuccessRequest {
                        job_id: job_id(0),
                        job_type: "invoice".into(),
                        target: target_of(t, targets),
                        lease_id: String::new(),
                    }
                    .encode_to_vec(),
                )
            })
            .collect();
        let echo = match target {
            Target::Echo { request, response } => EchoRequest {
                payload: vec![b'x'; request.saturating_sub(5)],
                response_size: response as u32,
            },
            Target::Retryd => EchoRequest::default(),
        };
        let n = jobs.saturating_mul(e);
        // About n × 0.618, moved up to the first value prime to n.
        let mut stride = (n as f64 * 0.618) as usize | 1;
        while gcd(stride, n) != 1 {
            stride += 1;
        }
        Calls {
            failure,
            success,
            echo: Template::new(echo.encode_to_vec()),
            jobs,
            targets,
            n,
            stride,
            success_ratio: o.success_ratio,
        }
    }

    /// Where worker `w` starts its walk.
    fn start(&self, w: usize) -> usize {
        (w.wrapping_mul(7919)) % self.n
    }

    fn next(&self, i: usize) -> usize {
        (i + self.stride) % self.n
    }

    fn failure(&self, i: usize) -> Bytes {
        let t = if self.targets == 0 {
            0
        } else {
            i % self.targets
        };
        self.failure[(i % ERRORS.len()) * self.targets.max(1) + t].with_job(i % self.jobs)
    }

    fn success(&self, i: usize) -> Bytes {
        let t = if self.targets == 0 {
            0
        } else {
            i % self.targets
        };
        self.success[t].with_job(i % self.jobs)
    }

    fn echo(&self) -> Bytes {
        // Copied like a retryd request, so both cost the client the same.
        self.echo.with_job(0)
    }
}

/// Sends bytes encoded beforehand and counts the answer's bytes.
#[derive(Clone, Copy, Default)]
pub(crate) struct RawCodec;

pub(crate) struct RawEncoder;
pub(crate) struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = usize;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = usize;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<usize>, tonic::Status> {
        let n = src.remaining();
        src.advance(n);
        Ok(Some(n))
    }
}

pub(crate) const REPORT_FAILURE: &str = "/retryd.v1.RetryCoordinator/ReportFailure";
pub(crate) const REPORT_SUCCESS: &str = "/retryd.v1.RetryCoordinator/ReportSuccess";
pub(crate) const ECHO: &str = "/bench.v1.Echo/Echo";

/// One lean caller: a channel, the calls, and where it is in its walk.
pub(crate) struct Lean {
    grpc: Grpc<Channel>,
    calls: Arc<Calls>,
    target: Target,
    i: usize,
    credit: f64,
}

impl Lean {
    pub(crate) fn new(ch: Channel, calls: Arc<Calls>, target: Target, w: usize) -> Lean {
        let i = calls.start(w);
        Lean {
            grpc: Grpc::new(ch),
            calls,
            target,
            i,
            credit: 0.0,
        }
    }

    /// One call; true if it was answered OK.
    pub(crate) async fn call(&mut self) -> bool {
        let (path, body) = match self.target {
            Target::Echo { .. } => (ECHO, self.calls.echo()),
            Target::Retryd => {
                let i = self.i;
                self.i = self.calls.next(i);
                // A deterministic share of successes: no RNG per call.
                self.credit += self.calls.success_ratio;
                if self.credit >= 1.0 {
                    self.credit -= 1.0;
                    (REPORT_SUCCESS, self.calls.success(i))
                } else {
                    (REPORT_FAILURE, self.calls.failure(i))
                }
            }
        };
        if self.grpc.ready().await.is_err() {
            return false;
        }
        self.grpc
            .unary(
                tonic::Request::new(body),
                PathAndQuery::from_static(path),
                RawCodec,
            )
            .await
            .is_ok()
    }
}

/// One worker's loop with the lean client, until the window ends.
pub(super) async fn worker(
    ch: Channel,
    calls: Arc<Calls>,
    target: Target,
    w: usize,
    c: &mut Counted,
) {
    let mut lean = Lean::new(ch, calls, target, w);
    loop {
        let t0 = Instant::now();
        if t0 >= c.stop {
            break;
        }
        let ok = lean.call().await;
        c.done(t0, ok);
    }
}
