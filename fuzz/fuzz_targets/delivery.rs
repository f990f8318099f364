#![no_main]
//! The delivery calls' requests: decoding, validation, claims and leases.
libfuzzer_sys::fuzz_target!(|data: &[u8]| retryd::fuzzing::delivery(data));
