#![no_main]
//! The snapshot loader on arbitrary files (checksum and lengths fixed up so
//! that the records and metadata are reached), then reads and reports on
//! what it loaded.
libfuzzer_sys::fuzz_target!(|data: &[u8]| retryd::fuzzing::snapshot(data));
