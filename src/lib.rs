pub mod cli;
pub mod config;
pub mod engine;
pub mod error_chain;
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
