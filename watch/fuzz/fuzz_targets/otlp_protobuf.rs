//! An OTLP/HTTP protobuf body through the receiver's decoding and validation, the store and the judge.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = heartbeat_watch::fuzz::fuzz_otlp_protobuf(data) {
        panic!("{broken}");
    }
});
