//! retryd: a retry-coordinator sidecar. The library behind the `retryd`
//! binary: the pure decision engine, the state backends, the gRPC server,
//! metrics, configuration and the operator CLI.

// One module needs unsafe code (a job record behind a thin pointer, see
// state/memory/record.rs); it allows it for itself, nothing else may.
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

pub mod pb {
    tonic::include_proto!("retryd.v1");
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("retryd_descriptor");
}
