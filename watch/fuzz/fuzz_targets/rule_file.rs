//! A rule file through the parser, every rule generator and the judge.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = heartbeat_watch::fuzz::fuzz_rule_file(data) {
        panic!("{broken}");
    }
});
