//! `retryd.v1.RetryCoordinator`: the service, and the handlers of the calls
//! workers make (the operator's are in `jobs`). Each validates its request
//! (`validate`), calls the state, and translates the answer (`convert`);
//! what a call tells metrics, events and logs is in `observe`, the status
//! of an error in `status`.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};

use super::app::{App, now};
use super::convert;
use super::observe;
use super::status::CallError;
use super::validate::{self, FailureRequest};
use crate::engine::Engine;
use crate::pb;
use crate::pb::retry_coordinator_server::RetryCoordinator;
use crate::state::FailureCall;

/// Appended to the explanation of a decision made while the fleet's state
/// could not be reached (`on_unavailable = "local"`).
const LOCAL: &str = " (decided from this sidecar's own state: the fleet state is unavailable)";

#[derive(Clone)]
pub struct Coordinator {
    app: Arc<App>,
}

impl Coordinator {
    pub fn new(app: Arc<App>) -> Self {
        Coordinator { app }
    }

    /// Runs one handler and records its duration and status code.
    async fn observe<T>(
        &self,
        method: &'static str,
        f: impl Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let start = Instant::now();
        let result = f.await;
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.app.metrics.rpc(method, code, start.elapsed());
        result.map(Response::new)
    }

    /// `observe` for a call that may change state.
    async fn mutate<T>(
        &self,
        method: &'static str,
        f: impl Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let result = self.observe(method, f).await;
        self.app.state.changed();
        result
    }

    /// `ReportFailure`, from the generated service or the hot path
    /// (`server::hot_path`), which reads the request in place.
    pub async fn answer_report_failure(
        &self,
        r: FailureRequest<'_>,
    ) -> Result<Response<pb::ReportFailureResponse>, Status> {
        self.mutate(
            "ReportFailure",
            self.app
                .reloading(|engine| self.app.report_failure(engine, r)),
        )
        .await
    }

    /// An operator's change to one job: the admin token checked first.
    async fn admin<'a, T, R, F>(
        &'a self,
        method: &'static str,
        request: Request<T>,
        call: impl FnOnce(&'a App, T) -> F,
    ) -> Result<Response<R>, Status>
    where
        F: Future<Output = Result<R, Status>> + 'a,
    {
        let app = &*self.app;
        self.mutate(method, async move {
            app.authorize(request.metadata())?;
            call(app, request.into_inner()).await
        })
        .await
    }
}

impl App {
    /// A validated failure as the state takes it: its policy selected, and
    /// the pause that covers it, if one does.
    fn failure_call<'a>(
        &self,
        engine: &'a Engine,
        f: &validate::Failure<'a>,
        at: crate::engine::Timestamp,
    ) -> Result<FailureCall<'a>, Status> {
        Ok(FailureCall {
            job_id: f.job_id,
            job_type: f.job_type,
            target: f.target,
            policy: Self::select_policy(engine, f)?,
            report: f.report,
            pause: self
                .state
                .pauses()
                .covering(f.job_type, f.target, at, engine.pause_recheck),
            carry: f.carry,
        })
    }

    fn select_policy<'e>(
        engine: &'e Engine,
        f: &validate::Failure<'_>,
    ) -> Result<&'e Arc<crate::engine::Policy>, Status> {
        engine
            .policies
            .select(f.policy, f.job_type, f.priority)
            .map_err(|e| {
                let known: Vec<_> = engine
                    .policies
                    .policies()
                    .iter()
                    .map(|p| p.name.to_string())
                    .collect();
                validate::invalid("policy", format!("{e} (known: {})", known.join(", ")))
            })
    }

    async fn report_failure(
        &self,
        engine: Arc<Engine>,
        r: FailureRequest<'_>,
    ) -> Result<pb::ReportFailureResponse, CallError> {
        let engine = &*engine;
        let f = validate::failure(r)?;
        self.check_carry(&f.carry)?;
        let at = now();
        let call = self.failure_call(engine, &f, at)?;
        let out = self.state.report_failure(engine, &call, at).await?;
        let d = &out.decision;
        if !out.duplicate
            && let Some(lease) = f.carry.lease
        {
            self.flights.settled(lease);
        }
        let labels = observe::labels(engine, &self.state, out.label, d);
        // A duplicate's decision was about the error the job kept.
        let error = out
            .kept_error
            .as_ref()
            .map_or(f.report.error, |e| e.report());
        let mut decision = convert::decision(engine, d, &error, labels.target.map(|t| t.name));
        if out.local {
            decision.explanation.push_str(LOCAL);
        }
        if out.duplicate {
            observe::decided(f.job_id, d, true);
        } else {
            self.failure_observed(engine, &labels, &f, &out, &decision);
        }
        Ok(pb::ReportFailureResponse {
            decision: Some(decision),
        })
    }

    async fn explain(
        &self,
        engine: Arc<Engine>,
        r: &pb::ExplainRequest,
    ) -> Result<pb::ExplainResponse, CallError> {
        let engine = &*engine;
        let f = validate::failure(r.into())?;
        let at = now();
        let call = self.failure_call(engine, &f, at)?;
        let (d, local) = self.state.explain(engine, &call, at).await?;
        let target = |d: &crate::engine::Decision| d.target.map(|t| self.state.target_name(t));
        let mut decision = convert::decision(engine, &d, &f.report.error, target(&d));
        if local {
            decision.explanation.push_str(LOCAL);
        }
        // The shadow decides from the same job state, changing nothing.
        let shadow = match engine.policies.shadow_of(call.policy) {
            Some(q) => {
                let call = FailureCall { policy: q, ..call };
                let (s, _) = self.state.explain(engine, &call, now()).await?;
                Some(convert::decision(engine, &s, &f.report.error, target(&s)))
            }
            None => None,
        };
        Ok(pb::ExplainResponse {
            decision: Some(decision),
            shadow,
        })
    }

    async fn report_success(
        &self,
        engine: Arc<Engine>,
        r: &pb::ReportSuccessRequest,
    ) -> Result<pb::ReportSuccessResponse, CallError> {
        let engine = &*engine;
        validate::report_success(r)?;
        let lease = (!r.lease_id.is_empty()).then_some(r.lease_id.as_str());
        if lease.is_some() {
            self.check_carry(&crate::state::Carry {
                lease,
                ..Default::default()
            })?;
        }
        let out = self
            .state
            .report_success(engine, &r.job_id, &r.job_type, &r.target, lease, now())
            .await?;
        if let Some(l) = lease {
            self.flights.settled(l);
        }
        self.success_observed(r, &out);
        Ok(pb::ReportSuccessResponse {
            failures_before_success: out.failures_before_success,
            known: out.known,
        })
    }
}

#[tonic::async_trait]
impl RetryCoordinator for Coordinator {
    async fn report_failure(
        &self,
        request: Request<pb::ReportFailureRequest>,
    ) -> Result<Response<pb::ReportFailureResponse>, Status> {
        let r = request.into_inner();
        self.answer_report_failure((&r).into()).await
    }

    async fn report_success(
        &self,
        request: Request<pb::ReportSuccessRequest>,
    ) -> Result<Response<pb::ReportSuccessResponse>, Status> {
        let r = request.into_inner();
        self.mutate(
            "ReportSuccess",
            self.app
                .reloading(|engine| self.app.report_success(engine, &r)),
        )
        .await
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::GetJobResponse>, Status> {
        let r = request.into_inner();
        self.observe(
            "GetJob",
            self.app.reloading(|engine| self.app.get_job(engine, &r)),
        )
        .await
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let r = request.into_inner();
        self.observe(
            "ListJobs",
            self.app.reloading(|engine| self.app.list_jobs(engine, &r)),
        )
        .await
    }

    async fn retry_job(
        &self,
        request: Request<pb::RetryJobRequest>,
    ) -> Result<Response<pb::RetryJobResponse>, Status> {
        self.admin("RetryJob", request, App::retry_job).await
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        self.admin("CancelJob", request, App::cancel_job).await
    }

    async fn delete_job(
        &self,
        request: Request<pb::DeleteJobRequest>,
    ) -> Result<Response<pb::DeleteJobResponse>, Status> {
        self.admin("DeleteJob", request, App::delete_job).await
    }

    async fn get_stats(
        &self,
        _request: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::GetStatsResponse>, Status> {
        self.observe("GetStats", self.app.get_stats()).await
    }

    async fn explain(
        &self,
        request: Request<pb::ExplainRequest>,
    ) -> Result<Response<pb::ExplainResponse>, Status> {
        let r = request.into_inner();
        self.observe(
            "Explain",
            self.app.reloading(|engine| self.app.explain(engine, &r)),
        )
        .await
    }

    async fn list_budgets(
        &self,
        _request: Request<pb::ListBudgetsRequest>,
    ) -> Result<Response<pb::ListBudgetsResponse>, Status> {
        self.observe("ListBudgets", self.app.list_budgets()).await
    }

    async fn start_pass(
        &self,
        request: Request<pb::StartPassRequest>,
    ) -> Result<Response<pb::StartPassResponse>, Status> {
        self.mutate("StartPass", self.app.start_pass(request.into_inner()))
            .await
    }

    async fn end_pass(
        &self,
        request: Request<pb::EndPassRequest>,
    ) -> Result<Response<pb::EndPassResponse>, Status> {
        self.mutate("EndPass", self.app.end_pass(request.into_inner()))
            .await
    }

    async fn get_batch(
        &self,
        request: Request<pb::GetBatchRequest>,
    ) -> Result<Response<pb::GetBatchResponse>, Status> {
        self.observe("GetBatch", self.app.get_batch(request.into_inner()))
            .await
    }

    async fn pause_retries(
        &self,
        request: Request<pb::PauseRetriesRequest>,
    ) -> Result<Response<pb::PauseRetriesResponse>, Status> {
        self.admin("PauseRetries", request, App::pause_retries)
            .await
    }

    async fn resume_retries(
        &self,
        request: Request<pb::ResumeRetriesRequest>,
    ) -> Result<Response<pb::ResumeRetriesResponse>, Status> {
        self.admin("ResumeRetries", request, App::resume_retries)
            .await
    }

    async fn list_pauses(
        &self,
        _request: Request<pb::ListPausesRequest>,
    ) -> Result<Response<pb::ListPausesResponse>, Status> {
        self.observe("ListPauses", self.app.list_pauses()).await
    }

    async fn claim_due(
        &self,
        request: Request<pb::ClaimDueRequest>,
    ) -> Result<Response<pb::ClaimDueResponse>, Status> {
        self.mutate("ClaimDue", self.app.claim_due(request.into_inner()))
            .await
    }

    type WatchDueStream = super::delivery::DueStream;

    async fn watch_due(
        &self,
        request: Request<pb::WatchDueRequest>,
    ) -> Result<Response<Self::WatchDueStream>, Status> {
        self.observe("WatchDue", async {
            self.app.watch_due(request.into_inner())
        })
        .await
    }

    async fn extend_lease(
        &self,
        request: Request<pb::ExtendLeaseRequest>,
    ) -> Result<Response<pb::ExtendLeaseResponse>, Status> {
        self.mutate("ExtendLease", self.app.extend_lease(request.into_inner()))
            .await
    }

    async fn release_job(
        &self,
        request: Request<pb::ReleaseJobRequest>,
    ) -> Result<Response<pb::ReleaseJobResponse>, Status> {
        self.mutate("ReleaseJob", self.app.release_job(request.into_inner()))
            .await
    }

    async fn list_queues(
        &self,
        _request: Request<pb::ListQueuesRequest>,
    ) -> Result<Response<pb::ListQueuesResponse>, Status> {
        self.observe("ListQueues", self.app.list_queues()).await
    }

    type WatchEventsStream = super::observe::EventStream;

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        self.observe("WatchEvents", async {
            self.app.watch_events(request.into_inner())
        })
        .await
    }
}
