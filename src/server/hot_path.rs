//! `ReportFailure`, the call every failed attempt makes, answered before the
//! router.
//!
//! Through the generated service a call is routed by the router (a boxed
//! service per method), boxed again by the generated code and a third time
//! by `#[async_trait]`, and its request's texts are copied into `String`s.
//! Here one future, boxed once, decodes the request in place
//! (`server::wire`) and runs the same handler (`Coordinator::report_failure_of`):
//! same validation, decision, metrics, status codes and message size limit.
//! Every other path goes on to the router; load shedding (the layer
//! outside this one) and tonic's transport settings apply to both.

use std::task::{Context, Poll};

use futures_util::future::Either;

use tonic::body::Body;
use tonic::server::Grpc;
use tower::{Layer, Service};

use super::overload::{BoxFuture, ready_one};
use super::service::Coordinator;
use super::wire::{ReportFailureRequest, WireCodec};

pub const PATH: &str = "/retryd.v1.RetryCoordinator/ReportFailure";

#[derive(Clone)]
pub struct HotPathLayer {
    coordinator: Coordinator,
    max_request_bytes: usize,
}

impl HotPathLayer {
    /// `max_request_bytes` as the generated service's
    /// `max_decoding_message_size`.
    pub fn new(coordinator: Coordinator, max_request_bytes: usize) -> Self {
        HotPathLayer {
            coordinator,
            max_request_bytes,
        }
    }
}

impl<S> Layer<S> for HotPathLayer {
    type Service = HotPath<S>;

    fn layer(&self, inner: S) -> HotPath<S> {
        HotPath {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct HotPath<S> {
    inner: S,
    layer: HotPathLayer,
}

impl<S> Service<http::Request<Body>> for HotPath<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    /// The router's future, or this path's one box.
    type Future = Either<S::Future, BoxFuture<Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if req.uri().path() != PATH {
            return Either::Left(ready_one(&mut self.inner).call(req));
        }
        let coordinator = self.layer.coordinator.clone();
        let max = self.layer.max_request_bytes;
        Either::Right(Box::pin(async move {
            let handler = tower::service_fn(|r: tonic::Request<ReportFailureRequest>| {
                let coordinator = &coordinator;
                async move {
                    let w = r.into_inner();
                    // Checked before the handler: a text that is not
                    // UTF-8 fails as the generated decoding fails it.
                    coordinator.report_failure_of(w.request()?).await
                }
            });
            let mut grpc = Grpc::new(WireCodec).apply_max_message_size_config(Some(max), None);
            Ok(grpc.unary(handler, req).await)
        }))
    }
}
