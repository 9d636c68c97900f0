//! A gzip body (first byte even) through the receiver's bounded inflater and on, or (odd) a round trip through it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = heartbeat_watch::fuzz::fuzz_otlp_gzip(data) {
        panic!("{broken}");
    }
});
