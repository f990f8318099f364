//! Compiles `proto/` with protox (pure Rust), so no system `protoc` is needed.

use std::path::PathBuf;

use protox::prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let api = "proto/retryd/v1/retryd.proto";
    println!("cargo:rerun-if-changed={api}");

    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let fds = protox::compile([api], ["proto"])?;
    // Server reflection serves this set, so grpcurl works without the proto file.
    std::fs::write(out.join("retryd_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
