//! `ReportFailure`, the call every failed attempt makes, answered before the
//! router.
//!
//! Through the generated service a call is routed by the router (a boxed
//! service per method), boxed again by the generated code and a third time
//! by `#[async_trait]`, and its request's texts are copied into `String`s.
//! Here one future, boxed once, decodes the request in place
//! (`server::wire`) and runs the same handler (`Coordinator::answer_report_failure`):
//! same validation, decision, metrics, status codes, and the same
//! `CallSettings` (message size limits) as the generated service.
//! Every other path goes on to the router; load shedding (the layer
//! outside this one) and tonic's transport settings apply to both.

use std::task::{Context, Poll};

use futures_util::future::Either;

use tonic::body::Body;
use tower::{Layer, Service};

use super::CallSettings;
use super::overload::{BoxFuture, ready_one};
use super::service::Coordinator;
use super::wire::{ReportFailureRequest, WireCodec};

/// The generated service's route of `ReportFailure` (a test keeps them equal).
pub const PATH: &str = "/retryd.v1.RetryCoordinator/ReportFailure";

#[derive(Clone)]
pub struct HotPathLayer {
    coordinator: Coordinator,
    settings: CallSettings,
}

impl HotPathLayer {
    /// `settings`: those the generated service is given.
    pub fn new(coordinator: Coordinator, settings: CallSettings) -> Self {
        HotPathLayer {
            coordinator,
            settings,
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
        let settings = self.layer.settings;
        Either::Right(Box::pin(async move {
            let handler = tower::service_fn(|r: tonic::Request<ReportFailureRequest>| {
                let coordinator = &coordinator;
                async move {
                    let w = r.into_inner();
                    // Checked before the handler: a text that is not
                    // UTF-8 fails as the generated decoding fails it.
                    coordinator.answer_report_failure(w.request()?).await
                }
            });
            let mut grpc = settings.grpc(WireCodec);
            Ok(grpc.unary(handler, req).await)
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;
    use prost::Message;
    use prost::bytes::Bytes;

    use super::*;
    use crate::pb;

    /// `PATH` is the route tonic generates for `ReportFailure`, of the
    /// method the proto declares (unary, its request and response types).
    #[test]
    fn path_is_the_generated_route_of_report_failure() {
        assert_eq!(
            PATH,
            format!(
                "/{}/ReportFailure",
                pb::retry_coordinator_server::SERVICE_NAME
            )
        );
        let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        let method = set
            .file
            .iter()
            .filter(|f| f.package() == "retryd.v1")
            .flat_map(|f| &f.service)
            .filter(|s| s.name() == "RetryCoordinator")
            .flat_map(|s| &s.method)
            .find(|m| m.name() == "ReportFailure")
            .expect("RetryCoordinator.ReportFailure in the proto");
        assert_eq!(method.input_type(), ".retryd.v1.ReportFailureRequest");
        assert_eq!(method.output_type(), ".retryd.v1.ReportFailureResponse");
        assert!(!method.client_streaming() && !method.server_streaming());
    }

    fn grpc_request(path: &str, message: &impl Message) -> http::Request<Body> {
        let bytes = message.encode_to_vec();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&u32::try_from(bytes.len()).expect("small").to_be_bytes());
        frame.extend_from_slice(&bytes);
        http::Request::post(path)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Body::new(http_body_util::Full::new(Bytes::from(frame))))
            .expect("request")
    }

    /// The layer answers `ReportFailure` itself, with a decision, and hands
    /// every other path to the router behind it.
    #[tokio::test]
    async fn the_layer_answers_report_failure_and_passes_the_rest_on() {
        let app = crate::server::test_app("");
        let layer = HotPathLayer::new(Coordinator::new(app), CallSettings::SERVED);
        let routed = Arc::new(AtomicUsize::new(0));
        let router = {
            let routed = routed.clone();
            tower::service_fn(move |_req: http::Request<Body>| {
                routed.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(http::Response::new(Body::empty())) }
            })
        };
        let mut svc = layer.layer(router);
        let report = pb::ReportFailureRequest {
            job_id: "hot-1".into(),
            error: Some(pb::ErrorInfo {
                r#type: "TimeoutError".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let answer = svc
            .call(grpc_request(PATH, &report))
            .await
            .expect("an answer");
        assert_eq!(
            routed.load(Ordering::SeqCst),
            0,
            "ReportFailure went to the router"
        );
        let body = answer.into_body().collect().await.expect("body");
        let trailers = body.trailers().cloned().unwrap_or_default();
        assert_eq!(
            trailers.get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"0"[..]),
            "{trailers:?}"
        );
        let data = body.to_bytes();
        let reply = pb::ReportFailureResponse::decode(&data[5..]).expect("a response");
        let decision = reply.decision.expect("a decision");
        assert_eq!(decision.action, pb::Action::Retry as i32);

        let explain = pb::ExplainRequest::default();
        svc.call(grpc_request(
            "/retryd.v1.RetryCoordinator/Explain",
            &explain,
        ))
        .await
        .expect("routed");
        assert_eq!(routed.load(Ordering::SeqCst), 1);
    }
}
