//! retryd: a retry-coordinator sidecar. The library behind the `retryd`
//! binary: the state backends, the gRPC server, metrics, configuration and
//! the operator CLI, around the pure decision engine (`crates/retryd-engine`,
//! re-exported as [`engine`]).
//!
//! # Layers
//!
//! ```text
//!  gRPC (tonic)        server/     validate → translate → call State → observe
//!                        │          (metrics, events, tracing)
//!  the one seam        state::State  report_failure, claim_due, get, list, …
//!                        │
//!  backends            state/memory/ (sharded table, snapshots)
//!                      state/redis/  (fleet mode: Lua compare-and-set scripts)
//!                        │  both run state/step.rs between their read and write
//!  pure decisions      engine (its own crate: no I/O, no clock, no unsafe)
//! ```
//!
//! Each layer calls only the one below it. The engine takes "now" and a
//! random source as arguments and returns decisions; the state layer loads a
//! job, lets the engine decide (`state::step`), and stores the result with a
//! compare-and-set; the server validates what callers send, maps
//! `state::StateError` to gRPC statuses (`server/status.rs`), and tells
//! `metrics`, `events` and the logs what happened from one place
//! (`server/observe.rs`, which resolves the decision's names once and hands
//! them on as plain values). Backends are private to `state`: everything
//! outside it goes through `State`'s methods.
//!
//! # Where a request flows
//!
//! `ReportFailure` (the hot path): `server::hot_path` takes it before the
//! router and decodes it in place (`server::wire`) → `server::service`'s
//! handler → `server::validate` → `State::report_failure` → the backend runs
//! `state::step` (classify, policy, backoff, budgets, breakers: the engine)
//! → the decision goes back through `server::convert`, and
//! `server/observe.rs` counts it, publishes its events and logs it. Every
//! other RPC goes through tonic's router to the same
//! `server::service::Coordinator`. Every call that decides runs in
//! `App::reloading` (`server/app.rs`), which asks again when a reload
//! replaced the engine meanwhile.
//!
//! # Where to add
//!
//! - **An RPC**: the proto (`proto/retryd/v1/retryd.proto`, then the
//!   clients' generated code: CONTRIBUTING.md), its checks in
//!   `server::validate`, its handler in `server::service` (or the file of
//!   its family: `server::delivery`, `server::live`), the state call on
//!   `State` with one arm per backend, and its row in docs/api.md.
//! - **A backend**: a module under `state/` that stores and compares-and-sets
//!   records and runs `state::step` between its read and its write; one more
//!   variant of `State`'s backend enum; its settings in `config`.
//! - **A metric**: registered with its help text in `Metrics::new`
//!   (`metrics/registry.rs`, its name in `metrics/names.rs`), updated from the server or from `state::Observer`, and
//!   documented in docs/metrics.md (`tests/docs.rs` checks both ways).
//! - **A configuration key**: `config::raw` (the file as written) and
//!   `config::validate` (checked, naming the key), docs/configuration.md.
//!
//! # Modules
//!
//! | module | what it is |
//! | --- | --- |
//! | [`engine`] | classification, policies, backoff and jitter, budgets, breakers, the per-job state machine |
//! | [`state`] | where per-job state lives, behind `State`: memory or Redis |
//! | [`server`] | the gRPC edge: services, validation, conversion, load shedding, background tasks |
//! | [`metrics`] | the Prometheus registry and the `/metrics` endpoint |
//! | [`events`] | the `WatchEvents` stream (and its fleet-wide carriage) |
//! | [`labels`] | bounded label values for job types and targets |
//! | [`config`] | the TOML file, validated whole, every problem named by key |
//! | [`command`] | the command line: serve, check-config, flags over the file |
//! | [`cli`] | operator commands, a client of a running sidecar |
//! | [`pb`] | the generated protobuf messages and services |

// One module needs unsafe code (a job record behind a thin pointer, see
// state/memory/record/mod.rs); it allows it for itself, nothing else may.
#![deny(unsafe_code)]

pub mod cli;
pub mod command;
pub mod config;
/// The decision engine, a crate of its own (`crates/retryd-engine`).
pub use retryd_engine as engine;
pub mod error_chain;
pub mod events;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod labels;
pub mod metrics;
pub mod server;
pub mod state;

/// The API's messages and services, generated from `proto/retryd/v1/retryd.proto`.
pub mod pb {
    tonic::include_proto!("retryd.v1");
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("retryd_descriptor");
}
