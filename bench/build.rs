//! Compiles the echo service retryd-bench measures retryd against (protox:
//! no system `protoc`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let echo = "proto/bench/v1/echo.proto";
    println!("cargo:rerun-if-changed={echo}");
    tonic_prost_build::configure().compile_fds(protox::compile([echo], ["proto"])?)?;
    Ok(())
}
