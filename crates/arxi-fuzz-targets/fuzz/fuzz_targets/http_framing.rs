#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| arxi_fuzz_targets::http_framing(data));
