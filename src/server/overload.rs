//! Load shedding: a bound on the calls in flight.
//!
//! Past `max_in_flight` calls being handled, a new call is answered at once
//! with `RESOURCE_EXHAUSTED` instead of waiting: under a retry storm the
//! sidecar's memory and latency stay bounded, and the caller learns to back
//! off (a gRPC client treats RESOURCE_EXHAUSTED as retryable with backoff).
//! Health checks are never shed, so probes see a live sidecar during a flood.
//! Queued work is bounded by HTTP/2 itself (`max_concurrent_streams` per
//! connection, set in `server::start`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::body::Body;
use tower::{Layer, Service};

const EXEMPT: &str = "/grpc.health.v1.Health/";

#[derive(Clone)]
pub struct ShedLayer {
    permits: Arc<Semaphore>,
    limit: usize,
    shed: Arc<AtomicU64>,
}

impl ShedLayer {
    /// `shed` counts the calls answered RESOURCE_EXHAUSTED.
    pub fn new(max_in_flight: usize, shed: Arc<AtomicU64>) -> Self {
        ShedLayer {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            limit: max_in_flight,
            shed,
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    layer: ShedLayer,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pin_project_lite::pin_project! {
    /// A call's future: the inner service's, holding the call's permit until
    /// it ends. Only a shed call's answer is boxed (it is rare).
    #[project = ShedProj]
    pub enum ShedFuture<F, T> {
        Called {
            #[pin]
            call: F,
            permit: Option<OwnedSemaphorePermit>,
        },
        Shed {
            answer: BoxFuture<T>,
        },
    }
}

impl<F, T> Future for ShedFuture<F, T>
where
    F: Future<Output = T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.project() {
            ShedProj::Called { call, permit } => {
                let out = std::task::ready!(call.poll(cx));
                // The permit is given back as the call ends, as before.
                drop(permit.take());
                Poll::Ready(out)
            }
            ShedProj::Shed { answer } => answer.as_mut().poll(cx),
        }
    }
}

impl<S> Service<http::Request<Body>> for Shed<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = ShedFuture<S::Future, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let mut inner = ready_one(&mut self.inner);
        if req.uri().path().starts_with(EXEMPT) {
            return ShedFuture::Called {
                call: inner.call(req),
                permit: None,
            };
        }
        match self.layer.permits.clone().try_acquire_owned() {
            Ok(permit) => ShedFuture::Called {
                call: inner.call(req),
                permit: Some(permit),
            },
            Err(_) => {
                self.layer.shed.fetch_add(1, Relaxed);
                let status = tonic::Status::resource_exhausted(format!(
                    "retryd is overloaded: {} calls in flight; retry with backoff",
                    self.layer.limit
                ));
                ShedFuture::Shed {
                    answer: Box::pin(async move {
                        // Read the request to its end (it is small, and capped)
                        // before answering: an answer that lands before the
                        // client's END_STREAM makes h2 reset the stream, and h2
                        // closes a connection that collects too many of those
                        // resets (ENHANCE_YOUR_CALM) — every call on it would
                        // fail, not just the shed ones.
                        let body =
                            http_body_util::Limited::new(req.into_body(), super::MAX_REQUEST_BYTES);
                        let _ = http_body_util::BodyExt::collect(body).await;
                        Ok(status.into_http())
                    }),
                }
            }
        }
    }
}

/// The service a layer calls: the clone that was polled ready takes the
/// call, a fresh clone stays for the next `poll_ready`.
pub fn ready_one<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}
