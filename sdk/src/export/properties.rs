//! Property tests of the configuration parsers and of redaction: what `OTEL_*` parsing,
//! percent-decoding and endpoint validation do with any input (never panic; round-trip what was
//! encoded), and that no secret planted in a header value, URL credential, query or ping path
//! survives into what the SDK shows. The fuzz targets (`sdk/fuzz`) run the same parsers through
//! the public API for much longer.

use super::config::HeartbeatBuilder;
use super::env::{self, endpoint_problem, parse_pairs, percent_decode};
use super::redact::Secrets;
use super::transport::split_userinfo;
use crate::{Heartbeat, PingConfig};
use proptest::prelude::*;

/// Planted in values; never generated elsewhere (the other strategies cannot spell it).
const SECRET: &str = "S3CR3T";

/// Percent-encodes every byte outside the URL-unreserved set.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn key() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9._-]{0,15}"
}

/// Text that cannot contain [`SECRET`] (no digits or upper case).
fn plain() -> impl Strategy<Value = String> {
    "[a-z._~-]{0,12}"
}

fn builder(vars: Vec<(String, String)>) -> HeartbeatBuilder {
    Heartbeat::builder().with_environment(vars)
}

proptest! {
    #[test]
    fn percent_encoded_pairs_parse_back_to_themselves(
        pairs in proptest::collection::vec((key(), any::<String>()), 0..6)
    ) {
        let text = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join(",");
        let parsed = parse_pairs(env::OTEL_EXPORTER_OTLP_HEADERS, &text).unwrap();
        prop_assert_eq!(parsed, pairs);
    }

    #[test]
    fn percent_decoding_inverts_encoding_and_never_panics(s in any::<String>(), junk in any::<String>()) {
        prop_assert_eq!(percent_decode(&encode(&s)), Some(s.clone()));
        let _ = percent_decode(&junk);
        if !junk.contains('%') {
            prop_assert_eq!(percent_decode(&junk), Some(junk));
        }
    }

    #[test]
    fn pair_parsing_and_endpoint_validation_never_panic(s in any::<String>()) {
        let _ = parse_pairs(env::OTEL_RESOURCE_ATTRIBUTES, &s);
        let _ = endpoint_problem(&s);
        let _ = heartbeat_core::redact::url(&s);
        let _ = split_userinfo(&s);
    }

    #[test]
    fn well_formed_endpoints_are_accepted(
        https in any::<bool>(),
        host in "[a-z][a-z0-9-]{0,20}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        port in proptest::option::of(any::<u16>()),
        path in "(/[a-zA-Z0-9._~-]{0,10}){0,4}",
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let url = format!("{}://{host}{port}{path}", if https { "https" } else { "http" });
        prop_assert_eq!(endpoint_problem(&url), None, "{}", url);
    }

    #[test]
    fn any_configuration_resolves_or_fails_without_panicking(
        vars in proptest::collection::vec((0usize..16, any::<String>()), 0..6)
    ) {
        const VARS: [&str; 16] = [
            env::OTEL_SDK_DISABLED,
            env::OTEL_SERVICE_NAME,
            env::OTEL_RESOURCE_ATTRIBUTES,
            env::OTEL_EXPORTER_OTLP_ENDPOINT,
            env::OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
            env::OTEL_EXPORTER_OTLP_HEADERS,
            env::OTEL_EXPORTER_OTLP_METRICS_HEADERS,
            env::OTEL_EXPORTER_OTLP_TIMEOUT,
            env::OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
            env::OTEL_EXPORTER_OTLP_COMPRESSION,
            env::OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
            env::OTEL_EXPORTER_OTLP_PROTOCOL,
            env::OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
            env::OTEL_METRIC_EXPORT_INTERVAL,
            env::OTEL_METRIC_EXPORT_TIMEOUT,
            env::OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
        ];
        let vars = vars
            .into_iter()
            .map(|(i, v)| (VARS[i].to_owned(), v))
            .collect();
        let b = builder(vars);
        let _ = format!("{b:?}");
        if let Err(e) = b.resolve() {
            let _ = format!("{e} {e:?}");
        }
    }

    #[test]
    fn header_values_never_show_in_errors_or_debug(
        items in proptest::collection::vec((key(), plain(), any::<String>(), any::<bool>()), 1..5),
        code_value in any::<String>(),
    ) {
        // Some values well-formed, some broken on purpose (raw, unencoded: `%`, `,`, `=`...).
        let text = items
            .iter()
            .map(|(k, v, raw, encoded)| {
                let value = format!("{v}{SECRET}{v}");
                if *encoded {
                    format!("{k}={}", encode(&value))
                } else {
                    format!("{k}={value}{}", raw.replace(SECRET, ""))
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        let b = builder(vec![(env::OTEL_EXPORTER_OTLP_HEADERS.to_owned(), text.clone())])
            .with_header("x-code", format!("{SECRET}{code_value}"));
        let shown = format!("{b:?}");
        prop_assert!(!shown.contains(SECRET), "{}", shown);
        if let Err(e) = b.resolve() {
            let shown = format!("{e} {e:?}");
            // A raw item may put the secret after a second `=`, in what parses as a value
            // still; only a name could show, and names here cannot spell the secret.
            prop_assert!(!shown.contains(SECRET), "{} -> {}", text, shown);
        }
    }

    #[test]
    fn url_credentials_and_queries_never_show(
        https in any::<bool>(),
        user in "[a-zA-Z0-9._~-]{1,10}",
        host in "[a-z][a-z0-9.-]{0,20}",
        port in proptest::option::of(any::<u16>()),
        path in "[a-zA-Z0-9/._~@-]{0,20}",
        query in "[a-z=&]{0,10}",
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let scheme = if https { "https" } else { "http" };
        let url = format!("{scheme}://{user}:{SECRET}@{host}{port}/{path}?{query}{SECRET}");
        let redacted = heartbeat_core::redact::url(&url);
        prop_assert!(!redacted.contains(SECRET), "{} -> {}", url, redacted);
        let (stripped, basic) = split_userinfo(&url);
        prop_assert!(!stripped.contains(&format!(":{SECRET}@")), "{}", stripped);
        prop_assert!(basic.is_some());

        let b = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_endpoint(url.clone());
        let shown = format!("{b:?}");
        prop_assert!(!shown.contains(SECRET), "{}", shown);
        if let Err(e) = b.resolve() {
            prop_assert!(!format!("{e} {e:?}").contains(SECRET), "{}", e);
        }
        // Through the environment too.
        let b = builder(vec![(env::OTEL_EXPORTER_OTLP_ENDPOINT.to_owned(), url.clone())]);
        if let Err(e) = b.resolve() {
            prop_assert!(!format!("{e} {e:?}").contains(SECRET), "{}", e);
        }
    }

    #[test]
    fn ping_url_tokens_never_show(
        host in "[a-z][a-z0-9.-]{0,20}",
        port in proptest::option::of(any::<u16>()),
        before in "[a-zA-Z0-9/._~-]{0,10}",
        after in "[a-zA-Z0-9/._~-]{0,10}",
        query in proptest::option::of("[a-z=&]{0,10}"),
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let query = query.map(|q| format!("?{q}{SECRET}")).unwrap_or_default();
        let url = format!("https://{host}{port}/{before}{SECRET}{after}{query}");
        match PingConfig::new(&url) {
            Ok(ping) => {
                let shown = format!("{ping:?}");
                prop_assert!(!shown.contains(SECRET), "{}", shown);
            }
            Err(e) => prop_assert!(!format!("{e} {e:?}").contains(SECRET), "{}", e),
        }
    }

    #[test]
    fn scrubbing_removes_every_configured_secret(
        noise in "[a-z ]{0,20}",
        value in "[a-zA-Z0-9]{4,20}",
    ) {
        let config = Heartbeat::builder()
            .with_environment(Vec::<(String, String)>::new())
            .with_endpoint(format!("http://user:{SECRET}@host:4318/v1/metrics?k={SECRET}"))
            .with_header("authorization", format!("Bearer {value}{SECRET}"))
            .resolve()
            .unwrap();
        let text = format!(
            "{noise} Bearer {value}{SECRET} {noise} http://user:{SECRET}@host:4318/v1/metrics?k={SECRET}"
        );
        let scrubbed = Secrets::new(&config.endpoint, &config.headers).scrub(&text, &config.endpoint);
        prop_assert!(!scrubbed.contains(SECRET), "{}", scrubbed);
    }
}
