#![no_main]
//! Request decoding, validation, decision, state update and explanation.
libfuzzer_sys::fuzz_target!(|data: &[u8]| retryd::fuzzing::report_failure(data));
