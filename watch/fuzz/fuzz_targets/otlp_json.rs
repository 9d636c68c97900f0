//! An OTLP/HTTP JSON body through the receiver's decoding and validation, the store and the judge; what decodes validates as its protobuf re-encoding does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = heartbeat_watch::fuzz::fuzz_otlp_json(data) {
        panic!("{broken}");
    }
});
