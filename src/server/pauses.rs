//! Pauses at the edge: `PauseRetries`, `ResumeRetries`, `ListPauses`, and
//! the task that keeps pauses current (their events go out through
//! `observe`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::app::{App, now};
use super::convert::timestamp;
use super::observe::{Subject, event};
use super::validate;
use crate::engine::Timestamp;
use crate::pb::{self, EventKind};
use crate::state::pauses::{Pause, Scope};

/// How often pauses are checked: expiry, and in fleet mode the fleet's.
const PAUSE_TICK: Duration = Duration::from_secs(1);

fn pause_pb(p: &Pause) -> pb::Pause {
    pb::Pause {
        job_type: p.scope.job_type().to_string(),
        target: p.scope.target().to_string(),
        until: p.until.map(timestamp),
        created_at: Some(timestamp(p.created_at)),
    }
}

impl App {
    pub async fn pause_retries(
        &self,
        r: pb::PauseRetriesRequest,
    ) -> Result<pb::PauseRetriesResponse, Status> {
        let scope = validate::pause_scope(&r.job_type, &r.target)?;
        let length = validate::pause_duration(r.duration.as_ref())?;
        let at = now();
        let pause = Pause {
            scope,
            until: length.map(|d| at.saturating_add(d)),
            created_at: at,
        };
        self.state.pause(pause.clone()).await?;
        tracing::warn!(
            pause = pause.scope.describe(),
            until = pause.until.map_or("resumed".to_string(), |t| format!(
                "{}",
                crate::engine::Human(t.since(at))
            )),
            "retries paused"
        );
        self.pauses_changed(at);
        self.emit(EventKind::Paused, of_scope(&pause.scope), None);
        Ok(pb::PauseRetriesResponse {
            pause: Some(pause_pb(&pause)),
        })
    }

    pub async fn resume_retries(
        &self,
        r: pb::ResumeRetriesRequest,
    ) -> Result<pb::ResumeRetriesResponse, Status> {
        let scope = validate::pause_scope(&r.job_type, &r.target)?;
        let at = now();
        let was = self.state.resume(&scope, at).await?;
        if !was {
            return Err(Status::not_found(format!(
                "no pause of {} is in force",
                scope.describe()
            )));
        }
        tracing::warn!(pause = scope.describe(), "retries resumed");
        self.pauses_changed(at);
        self.emit(EventKind::Resumed, of_scope(&scope), None);
        Ok(pb::ResumeRetriesResponse {})
    }

    pub async fn list_pauses(&self) -> Result<pb::ListPausesResponse, Status> {
        let at = now();
        let pauses = self.state.list_pauses(at).await?;
        Ok(pb::ListPausesResponse {
            pauses: pauses.iter().map(pause_pb).collect(),
        })
    }

    /// `retryd_pauses` from the pauses in force.
    fn pauses_changed(&self, at: Timestamp) {
        self.metrics.pauses(self.state.pauses().live(at).len());
    }
}

fn of_scope(scope: &Scope) -> Subject<'_> {
    Subject {
        job_id: "",
        job_type: scope.job_type(),
        target: scope.target(),
    }
}

/// Keeps the pauses current until `stop`: in fleet mode the mirror of the
/// fleet's, refreshed; a pause whose time ran out ends with a `RESUMED`
/// event to this sidecar's watchers (every sidecar sees the end itself).
pub async fn keep_pauses(app: Arc<App>, stop: CancellationToken) {
    let mut live: Vec<Scope> = Vec::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(PAUSE_TICK) => {}
        }
        if let Err(e) = app.state.refresh_pauses().await {
            tracing::debug!(error = %e, "cannot read the fleet's pauses");
            continue;
        }
        let at = now();
        let now_live: Vec<Scope> = app
            .state
            .pauses()
            .live(at)
            .into_iter()
            .map(|p| p.scope)
            .collect();
        let ended = app.state.pauses().ended(at);
        for scope in live.iter().filter(|s| !now_live.contains(s)) {
            if ended.contains(scope) {
                tracing::info!(pause = scope.describe(), "pause over: retries resume");
                if app.events.watchers() > 0 {
                    app.events.deliver(Arc::new(event(
                        EventKind::Resumed,
                        &of_scope(scope),
                        None,
                        at,
                    )));
                }
            }
        }
        app.metrics.pauses(now_live.len());
        app.metrics
            .events(app.events.watchers(), app.events.dropped());
        live = now_live;
    }
}
