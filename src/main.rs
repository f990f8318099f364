//! `retryd`: the sidecar and its operator's CLI, all in the library's
//! `command` module.

#![forbid(unsafe_code)]

use std::process::ExitCode;

/// mimalloc: see BENCHMARKS.md for the measurement that chose it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    retryd::command::main()
}
