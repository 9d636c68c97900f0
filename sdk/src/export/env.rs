//! The standard `OTEL_*` environment variables, and Heartbeat's own
//! [`HEARTBEAT_TENANT_HASH_SALT`], parsed strictly: a bad value is an error that names the
//! variable, the value and what is allowed.

use super::error::BuildError;
use std::collections::HashMap;
use std::time::Duration;

/// `true` disables the SDK: every outcome handle is a no-op and nothing is exported.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// The `service.name` resource attribute.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Extra resource attributes as `key=value,key2=value2` (values percent-decoded).
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// The base OTLP endpoint for every signal (`/v1/metrics` is appended for HTTP).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The full OTLP metrics endpoint, used as given.
pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// Headers for every signal as `key=value,...` (values percent-decoded).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Headers for metrics, merged over [`OTEL_EXPORTER_OTLP_HEADERS`].
pub const OTEL_EXPORTER_OTLP_METRICS_HEADERS: &str = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
/// A PEM file of the CA certificates to trust for an `https://` endpoint, for every signal
/// (instead of the system's roots).
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// A PEM file of the CA certificates to trust for an `https://` metrics endpoint.
pub const OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE";
/// The export request timeout in milliseconds, for every signal.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// The export request timeout in milliseconds, for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT";
/// `gzip` or `none`, for every signal.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// `gzip` or `none`, for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION";
/// `grpc`, `http/protobuf` or `http/json`, for every signal.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `grpc`, `http/protobuf` or `http/json`, for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
/// Milliseconds between two periodic exports.
pub const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// Milliseconds one export (with its retries) may take.
pub const OTEL_METRIC_EXPORT_TIMEOUT: &str = "OTEL_METRIC_EXPORT_TIMEOUT";
/// `cumulative`, `delta` or `lowmemory`.
pub const OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: &str =
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
/// Heartbeat's own: hash tenant ids with this salt before they are exported (see
/// `HeartbeatBuilder::with_tenant_hashing`). Used as given, not trimmed; set but empty is an
/// error, not "off".
pub const HEARTBEAT_TENANT_HASH_SALT: &str = "HEARTBEAT_TENANT_HASH_SALT";

/// Where environment values come from: the process environment, or a fixed map.
#[derive(Clone, Default)]
pub(crate) enum EnvSource {
    #[default]
    Process,
    Fixed(HashMap<String, String>),
}

impl EnvSource {
    /// A variable's value; unset and empty both read as absent (per the OpenTelemetry spec).
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let value = match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Fixed(map) => map.get(name).cloned(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// A variable's value as set, even empty (for settings where empty must not mean unset).
    pub(crate) fn get_as_set(&self, name: &str) -> Option<String> {
        match self {
            EnvSource::Process => std::env::var(name).ok(),
            EnvSource::Fixed(map) => map.get(name).cloned(),
        }
    }

    /// The first of the variables that is set, with its name.
    pub(crate) fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names
            .iter()
            .find_map(|name| self.get(name).map(|value| (*name, value)))
    }
}

pub(crate) fn bad(var: &'static str, value: &str, expected: &'static str) -> BuildError {
    BuildError::InvalidEnv {
        var,
        value: value.to_owned(),
        expected,
    }
}

/// `OTEL_SDK_DISABLED` as the specification reads it: `true` (any case) disables; anything
/// else is false, and a value other than `false` or empty is warned about (a `tracing` event
/// naming the variable and the value), never an error.
pub(crate) fn sdk_disabled(value: &str) -> bool {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => true,
        "false" | "" => false,
        _ => {
            tracing::warn!(
                target: "heartbeat::config",
                var = OTEL_SDK_DISABLED,
                value = %value,
                "unrecognised value for {OTEL_SDK_DISABLED}: treated as false (the SDK stays enabled); expected true or false",
            );
            false
        }
    }
}

pub(crate) fn parse_millis(var: &'static str, value: &str) -> Result<Duration, BuildError> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(bad(var, value, "a positive whole number of milliseconds")),
    }
}

/// Parses `key=value,key2=value2` with percent-decoded values, as used by the headers and
/// resource attribute variables.
pub(crate) fn parse_pairs(
    var: &'static str,
    value: &str,
) -> Result<Vec<(String, String)>, BuildError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(bad(var, value, "comma-separated key=value pairs"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(bad(
                var,
                value,
                "comma-separated key=value pairs with non-empty keys",
            ));
        }
        let Some(v) = percent_decode(v.trim()) else {
            return Err(bad(
                var,
                value,
                "percent-encoded values (%XX with hex digits)",
            ));
        };
        out.push((k.to_owned(), v));
    }
    Ok(out)
}

pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Checks that an endpoint is an absolute `http` or `https` URL with a host and a valid port.
pub(crate) fn endpoint_problem(url: &str) -> Option<&'static str> {
    let rest = if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else {
        return Some("it must start with http:// or https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => return Some("it has an unclosed IPv6 address"),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Some("it has no host");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("its host contains white space");
    }
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Some("its port is not a number from 0 to 65535");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_split_trimmed_and_percent_decoded() {
        let pairs = parse_pairs(
            OTEL_EXPORTER_OTLP_HEADERS,
            " authorization=Bearer%20abc , x-tenant=acme,",
        )
        .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("authorization".to_owned(), "Bearer abc".to_owned()),
                ("x-tenant".to_owned(), "acme".to_owned())
            ]
        );
    }

    #[test]
    fn a_pair_without_equals_names_the_variable_and_value() {
        let err = parse_pairs(OTEL_RESOURCE_ATTRIBUTES, "team=core,oops").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"team=core,oops\" for OTEL_RESOURCE_ATTRIBUTES: expected comma-separated key=value pairs"
        );
    }

    #[test]
    fn bad_percent_encoding_is_refused() {
        assert!(parse_pairs(OTEL_EXPORTER_OTLP_HEADERS, "a=%zz").is_err());
        assert!(parse_pairs(OTEL_EXPORTER_OTLP_HEADERS, "a=%2").is_err());
    }

    #[test]
    fn milliseconds_must_be_positive_integers() {
        assert_eq!(
            parse_millis(OTEL_METRIC_EXPORT_INTERVAL, "1500").unwrap(),
            Duration::from_millis(1500)
        );
        let err = parse_millis(OTEL_METRIC_EXPORT_INTERVAL, "1.5s").unwrap_err();
        assert!(err.to_string().contains("\"1.5s\""), "{err}");
        assert!(parse_millis(OTEL_METRIC_EXPORT_INTERVAL, "0").is_err());
    }

    #[test]
    fn endpoints_must_be_http_urls_with_a_host() {
        assert_eq!(endpoint_problem("http://127.0.0.1:4318"), None);
        assert_eq!(
            endpoint_problem("https://otel.example.com/v1/metrics"),
            None
        );
        assert_eq!(endpoint_problem("http://[::1]:4317"), None);
        assert!(endpoint_problem("127.0.0.1:4317").is_some());
        assert!(endpoint_problem("http://").is_some());
        assert!(endpoint_problem("http://host:99999").is_some());
        assert!(endpoint_problem("http://ho st:1").is_some());
    }

    #[test]
    fn empty_variables_read_as_unset() {
        let env = EnvSource::Fixed(HashMap::from([(
            OTEL_SERVICE_NAME.to_owned(),
            "  ".to_owned(),
        )]));
        assert_eq!(env.get(OTEL_SERVICE_NAME), None);
    }
}
