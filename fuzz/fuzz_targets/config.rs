#![no_main]
//! The configuration parser and validator on arbitrary text.
libfuzzer_sys::fuzz_target!(|data: &[u8]| retryd::fuzzing::config(data));
