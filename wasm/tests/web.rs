//! The WebAssembly build itself, under `wasm-bindgen-test`: in node by default, and in headless
//! Chromium with `WASM_BINDGEN_USE_BROWSER=1` (scripts/test-wasm.sh runs both). Run with
//! `--tests`: doctests on wasm32 report ok without running.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use heartbeat_wasm::Sdk;
use wasm_bindgen_test::wasm_bindgen_test;

/// Sums the `asInt` of every point of `metric` whose attributes include each of `attrs`, by
/// reading the OTLP/JSON text (just enough of a reader for the encoder's fixed layout).
fn total(body: &str, metric: &str, attrs: &[(&str, &str)]) -> u64 {
    let Some(start) = body.find(&format!(r#"{{"name":"{metric}""#)) else {
        return 0;
    };
    let rest = &body[start..];
    let end = rest[1..].find(r#"{"name":"#).map_or(rest.len(), |i| i + 1);
    rest[..end]
        .split(r#"{"attributes":"#)
        .skip(1)
        .filter(|point| {
            let attributes = &point[..point.find("startTimeUnixNano").unwrap()];
            attrs.iter().all(|(k, v)| {
                attributes.contains(&format!(
                    r#"{{"key":"{k}","value":{{"stringValue":"{v}"}}}}"#
                ))
            })
        })
        .map(|point| {
            let at = point.find(r#""asInt":""#).unwrap() + 9;
            point[at..at + point[at..].find('"').unwrap()]
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

fn declared(sdk: &mut Sdk, name: &str, reasons: &[&str]) -> u32 {
    sdk.outcome(name);
    sdk.part("surface", "web_messenger");
    for r in reasons {
        sdk.part("", r);
    }
    let i = sdk.declare(0);
    assert!(i >= 0, "{}", sdk.error());
    i as u32
}

const OUTCOMES: &str = "heartbeat.outcomes";

#[wasm_bindgen_test]
fn the_first_batch_declares_every_series_at_zero() {
    let mut sdk = Sdk::new(0);
    declared(&mut sdk, "message.send", &["timeout"]);
    let body = sdk.collect(false).expect("first batch");
    for reason in ["unspecified", "abandoned", "panicked", "other", "timeout"] {
        assert!(
            body.contains(&format!(r#""stringValue":"{reason}""#)),
            "{reason}"
        );
    }
    assert_eq!(total(&body, OUTCOMES, &[]), 0);
    assert!(body.contains(r#""aggregationTemporality":1"#), "delta");
    assert!(body.contains(r#""unit":"{outcome}""#));
}

#[wasm_bindgen_test]
fn counts_arrive_exactly_once_across_acknowledged_batches() {
    let mut sdk = Sdk::new(0);
    let send = declared(&mut sdk, "message.send", &["timeout"]);
    for _ in 0..3 {
        sdk.success(send);
    }
    sdk.failure(send, "timeout");
    sdk.failure(send, "");
    sdk.failure(send, "undeclared");
    let first = sdk.collect(false).unwrap();
    assert!(sdk.ack(sdk.seq()));
    sdk.success(send);
    let second = sdk.collect(false).unwrap();
    assert!(sdk.ack(sdk.seq()));
    let success = [
        ("heartbeat.outcome", "message.send"),
        ("heartbeat.result", "success"),
    ];
    assert_eq!(total(&first, OUTCOMES, &success), 3);
    assert_eq!(total(&second, OUTCOMES, &success), 1);
    let reason = |r| [("heartbeat.result", "failure"), ("heartbeat.reason", r)];
    assert_eq!(total(&first, OUTCOMES, &reason("timeout")), 1);
    assert_eq!(total(&first, OUTCOMES, &reason("unspecified")), 1);
    assert_eq!(total(&first, OUTCOMES, &reason("other")), 1);
    assert_eq!(
        total(
            &first,
            "heartbeat.sdk.inputs.corrected",
            &[("heartbeat.reason", "undeclared_reason")]
        ),
        1
    );
}

#[wasm_bindgen_test]
fn a_forgotten_batch_is_carried_by_the_next_one() {
    let mut sdk = Sdk::new(0);
    let send = declared(&mut sdk, "message.send", &[]);
    sdk.success(send);
    sdk.collect(false).unwrap();
    assert!(sdk.forget(sdk.seq())); // the collector never answered: offline
    sdk.success(send);
    sdk.collect(false).unwrap();
    assert!(sdk.forget(sdk.seq()));
    sdk.success(send);
    let body = sdk.collect(false).unwrap();
    assert!(sdk.ack(sdk.seq()));
    assert_eq!(
        total(&body, OUTCOMES, &[("heartbeat.result", "success")]),
        3
    );
    assert_eq!(sdk.in_flight(), 0);
}

#[wasm_bindgen_test]
fn an_idle_page_has_nothing_to_send_after_the_first_acknowledgement() {
    let mut sdk = Sdk::new(0);
    declared(&mut sdk, "message.send", &[]);
    sdk.collect(false).unwrap();
    assert!(sdk.ack(sdk.seq()));
    assert_eq!(sdk.collect(false), None);
    assert!(sdk.collect(true).is_some(), "force sends zeros");
}

#[wasm_bindgen_test]
fn acknowledging_twice_or_an_unknown_batch_commits_nothing() {
    let mut sdk = Sdk::new(0);
    let send = declared(&mut sdk, "message.send", &[]);
    sdk.success(send);
    sdk.collect(false).unwrap();
    let seq = sdk.seq();
    assert!(sdk.ack(seq));
    assert!(!sdk.ack(seq));
    assert!(!sdk.ack(seq.wrapping_add(100)));
    assert!(!sdk.forget(seq));
}

#[wasm_bindgen_test]
fn tenants_have_their_own_series_and_overflow_past_the_limit() {
    let mut sdk = Sdk::new(1);
    let send = declared(&mut sdk, "message.send", &["timeout"]);
    sdk.tenant(send, "acme", false, "");
    sdk.tenant(send, "globex", false, ""); // past the limit of 1
    sdk.tenant(send, "", false, ""); // invalid
    sdk.tenant(send, "acme", true, "timeout");
    let body = sdk.collect(false).unwrap();
    let tenant = |t| [("heartbeat.result", "success"), ("heartbeat.tenant", t)];
    assert_eq!(total(&body, OUTCOMES, &tenant("acme")), 1);
    assert_eq!(total(&body, OUTCOMES, &tenant("_overflow")), 2);
    assert_eq!(
        total(
            &body,
            OUTCOMES,
            &[
                ("heartbeat.tenant", "acme"),
                ("heartbeat.reason", "timeout")
            ]
        ),
        1
    );
}

#[wasm_bindgen_test]
fn bad_declarations_are_refused_with_the_core_message() {
    let mut sdk = Sdk::new(0);
    sdk.outcome("1bad");
    assert_eq!(sdk.declare(0), -1);
    assert!(
        sdk.error()
            .starts_with("invalid outcome name \"1bad\": it must start with an ASCII letter"),
        "{}",
        sdk.error()
    );
    sdk.outcome("ok");
    sdk.part("", "Timeout");
    assert_eq!(sdk.declare(0), -1);
    assert!(sdk.error().contains("invalid failure reason"));
    sdk.outcome("ok");
    sdk.part("heartbeat.tenant", "x");
    assert_eq!(sdk.declare(0), -1);
    assert!(sdk.error().contains("is reserved"));
}

#[wasm_bindgen_test]
fn recording_on_an_unknown_index_records_nothing() {
    let mut sdk = Sdk::new(0);
    sdk.success(7);
    sdk.failure(7, "x");
    sdk.tenant(7, "acme", false, "");
    assert_eq!(sdk.beats(7), 0);
    assert!(!sdk.beat(7, false));
    let body = sdk.collect(false).unwrap();
    assert!(!body.contains(OUTCOMES));
}

#[wasm_bindgen_test]
fn beats_are_counted_per_emitter_and_survive_a_restart() {
    let mut sdk = Sdk::new(0);
    let web = sdk.emitter("web-messenger");
    assert!(web >= 0);
    assert_eq!(sdk.emitter("web-messenger"), -1);
    assert!(sdk.error().contains("is running"));
    assert_eq!(sdk.emitter("has space"), -1);
    let web = web as u32;
    assert!(sdk.beat(web, false) && sdk.beat(web, false));
    assert!(sdk.beat(web, true));
    assert!(!sdk.beat(web, false));
    assert_eq!(sdk.emitter("web-messenger"), web as i32);
    assert!(sdk.beat(web, false));
    assert_eq!(sdk.beats(web), 3);
    let body = sdk.collect(false).unwrap();
    let emitter = [("heartbeat.emitter", "web-messenger")];
    assert_eq!(total(&body, "heartbeat.beats", &emitter), 3);
    assert!(body.contains(r#""unit":"{beat}""#));
}

#[wasm_bindgen_test]
fn resource_attributes_are_fixed_once_the_first_batch_is_built() {
    let mut sdk = Sdk::new(0);
    assert!(sdk.resource("service.name", "web-messenger"));
    let body = sdk.collect(false).unwrap();
    assert!(body.contains(
        r#"{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web-messenger"}}]}"#
    ));
    assert!(!sdk.resource("late", "x"));
    assert!(sdk.error().contains("fixed"));
}

#[wasm_bindgen_test]
fn the_version_is_the_workspace_version() {
    assert_eq!(heartbeat_wasm::VERSION, env!("CARGO_PKG_VERSION"));
}

/// The vectors of `core/tests/data/tenant_hash_vectors.json` (computed with OpenSSL) as
/// (salt, tenant, wire): one per line, plain strings without escapes; at least ten of them.
fn tenant_hash_vectors() -> Vec<(String, String, String)> {
    let vectors: Vec<_> = include_str!("../../core/tests/data/tenant_hash_vectors.json")
        .lines()
        .filter(|l| l.contains(r#""wire": "#))
        .map(|l| {
            let v: Vec<&str> = l.split('"').collect();
            assert_eq!((v[1], v[5], v[9]), ("salt", "tenant", "wire"), "{l}");
            (v[3].to_owned(), v[7].to_owned(), v[11].to_owned())
        })
        .collect();
    assert!(vectors.len() >= 10);
    vectors
}

#[wasm_bindgen_test]
fn hashed_tenants_are_sent_as_the_vectors_say_and_raw_ids_are_not() {
    for (salt, tenant, wire) in tenant_hash_vectors() {
        let mut sdk = Sdk::new(0);
        assert!(sdk.hash_tenants(&salt), "{}", sdk.error());
        let send = declared(&mut sdk, "message.send", &[]);
        sdk.tenant(send, &tenant, false, "");
        sdk.tenant(send, &tenant, false, "");
        sdk.tenant(send, "", false, ""); // invalid: _overflow, as without hashing
        let body = sdk.collect(false).expect("first batch");
        assert_eq!(
            total(&body, OUTCOMES, &[("heartbeat.tenant", &wire)]),
            2,
            "{tenant:?}"
        );
        assert_eq!(
            total(&body, OUTCOMES, &[("heartbeat.tenant", "_overflow")]),
            1
        );
        assert!(
            !body.contains(&format!(r#""stringValue":"{tenant}""#)),
            "{body}"
        );
    }
}

#[wasm_bindgen_test]
fn a_bad_salt_is_refused_with_a_message() {
    let mut sdk = Sdk::new(0);
    assert!(!sdk.hash_tenants(""));
    assert_eq!(
        sdk.error(),
        "invalid tenant hashing salt \"\": it is empty; allowed: 1 to 255 bytes of UTF-8"
    );
}
