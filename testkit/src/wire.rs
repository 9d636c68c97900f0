//! The OTLP wire on the receiving side: undoing gzip, decoding OTLP/HTTP (protobuf, JSON) and
//! unary gRPC bodies, and building the answers (success, partial success, HTTP errors with
//! `Retry-After`, gRPC statuses with `RetryInfo`).

use std::convert::Infallible;
use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::Response;
use hyper::StatusCode;
use hyper::body::Frame;
use hyper::header::{self, HeaderMap, HeaderValue};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;

use crate::record::{DEFAULT_MAX_BODY, Recorded, Transport, code};

/// A response body.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// Closes the connection without an answer.
#[derive(Debug)]
pub(crate) struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection cut by the test receiver")
    }
}

impl std::error::Error for Cut {}

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// CORS headers for pages (the browser build posts cross-origin).
pub(crate) fn cors(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Retry-After"),
    );
}

fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(u64::try_from(limit).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("not valid gzip: {e}"))?;
    if out.len() > limit {
        return Err(format!("the decompressed body is over {limit} bytes"));
    }
    Ok(out)
}

fn is_gzip(raw: &[u8]) -> bool {
    raw.starts_with(&[0x1f, 0x8b])
}

/// Fills `r.body`, `r.compressed`, and `r.request` or `r.problem` from an OTLP/HTTP body.
pub(crate) fn decode_http(
    r: &mut Recorded,
    raw: &Bytes,
    content_type: &str,
    encoding: Option<String>,
    limit: usize,
) {
    let body = match encoding.as_deref() {
        None | Some("") | Some("identity") => {
            r.compressed = is_gzip(raw);
            raw.clone()
        }
        Some("gzip") => {
            r.compressed = true;
            match gunzip(raw, limit) {
                Ok(b) => Bytes::from(b),
                Err(e) => {
                    let problem = format!("Content-Encoding is gzip but the body is {e}");
                    r.encoding_problem = Some(problem.clone());
                    r.problem = Some(problem);
                    return;
                }
            }
        }
        Some(other) => {
            let problem = format!("unsupported Content-Encoding {other:?}");
            r.encoding_problem = Some(problem.clone());
            r.problem = Some(problem);
            return;
        }
    };
    r.body = body.clone();
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/x-protobuf" | "application/protobuf" => {
            match ExportMetricsServiceRequest::decode(&body[..]) {
                Ok(req) => r.request = Some(req),
                Err(e) => r.problem = Some(format!("invalid protobuf body: {e}")),
            }
        }
        "application/json" => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(value) => {
                match serde_json::from_value::<ExportMetricsServiceRequest>(value.clone()) {
                    Ok(req) => r.request = Some(req),
                    Err(e) => r.problem = Some(format!("invalid OTLP/JSON body: {e}")),
                }
                r.json = Some(value);
            }
            Err(e) => r.problem = Some(format!("invalid JSON: {e}")),
        },
        other => r.problem = Some(format!("unsupported Content-Type {other:?}")),
    }
}

/// Fills `r.body`, `r.compressed`, and `r.request` or `r.problem` from a unary gRPC body.
pub(crate) fn decode_grpc(r: &mut Recorded, raw: &Bytes, encoding: Option<String>) {
    if raw.len() < 5 {
        r.problem = Some(format!(
            "a gRPC message needs a 5-byte prefix; got {} bytes",
            raw.len()
        ));
        return;
    }
    let flag = raw[0];
    let len = u32::from_be_bytes([raw[1], raw[2], raw[3], raw[4]]) as usize;
    let Some(message) = raw.get(5..5 + len) else {
        r.problem = Some(format!(
            "the gRPC prefix announces {len} bytes; {} arrived",
            raw.len() - 5
        ));
        return;
    };
    let message = if flag == 1 {
        r.compressed = true;
        if encoding.as_deref() != Some("gzip") {
            r.problem = Some(format!(
                "a compressed gRPC message with grpc-encoding {encoding:?}"
            ));
        }
        match gunzip(message, DEFAULT_MAX_BODY) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                let problem = format!("the compressed gRPC message is {e}");
                r.encoding_problem = Some(problem.clone());
                r.problem = Some(problem);
                return;
            }
        }
    } else {
        Bytes::copy_from_slice(message)
    };
    r.body = message.clone();
    match ExportMetricsServiceRequest::decode(&message[..]) {
        Ok(req) => r.request = Some(req),
        Err(e) => r.problem = Some(format!("invalid protobuf message: {e}")),
    }
}

/// The HTTP status that stands for gRPC code `grpc`.
pub fn http_status_for(grpc: i32) -> u16 {
    match grpc {
        code::UNAVAILABLE => 503,
        code::RESOURCE_EXHAUSTED => 429,
        code::INVALID_ARGUMENT => 400,
        code::UNAUTHENTICATED => 401,
        code::PERMISSION_DENIED => 403,
        _ => 500,
    }
}

/// The gRPC code that stands for HTTP status `status`.
pub fn grpc_code_for(status: u16) -> i32 {
    match status {
        429 | 502 | 503 | 504 => code::UNAVAILABLE,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        413 => code::RESOURCE_EXHAUSTED,
        _ => code::INVALID_ARGUMENT,
    }
}

/// An accepted export: `200` (protobuf or JSON) or gRPC `OK`, with an optional partial success.
pub(crate) fn success(
    transport: Transport,
    json: bool,
    partial: Option<ExportMetricsPartialSuccess>,
) -> Response<Body> {
    let response = ExportMetricsServiceResponse {
        partial_success: partial,
    };
    match transport {
        Transport::Http => {
            let (content_type, body) = if json {
                // OTLP/JSON: 64-bit integers as decimal strings.
                let value = match &response.partial_success {
                    Some(p) => serde_json::json!({ "partialSuccess": {
                        "rejectedDataPoints": p.rejected_data_points.to_string(),
                        "errorMessage": p.error_message,
                    }}),
                    None => serde_json::json!({}),
                };
                ("application/json", Bytes::from(value.to_string()))
            } else {
                (
                    "application/x-protobuf",
                    Bytes::from(response.encode_to_vec()),
                )
            };
            let mut r = Response::new(full(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            cors(r.headers_mut());
            r
        }
        Transport::Grpc => {
            let message = response.encode_to_vec();
            let mut framed = Vec::with_capacity(message.len() + 5);
            framed.push(0);
            framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(0).to_be_bytes());
            framed.extend_from_slice(&message);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
                Ok(Frame::data(Bytes::from(framed))),
                Ok(Frame::trailers(trailers)),
            ];
            let mut r = Response::new(StreamBody::new(stream::iter(frames)).boxed());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            r
        }
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP errors and the gRPC status details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<prost_types::Duration>,
}

/// An OTLP/HTTP error: `status` with a `google.rpc.Status` body and `Retry-After` if given.
pub(crate) fn http_error(status: u16, retry_after: Option<&str>, json: bool) -> Response<Body> {
    let grpc = grpc_code_for(status);
    let message = format!("scripted answer {status} from the test receiver");
    let (content_type, body) = if json {
        (
            "application/json",
            Bytes::from(serde_json::json!({ "code": grpc, "message": message }).to_string()),
        )
    } else {
        let s = RpcStatus {
            code: grpc,
            message,
            details: Vec::new(),
        };
        ("application/x-protobuf", Bytes::from(s.encode_to_vec()))
    };
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert(header::RETRY_AFTER, v);
    }
    cors(h);
    r
}

/// A gRPC error in trailers-only form, with `RetryInfo` in the status details if given.
pub(crate) fn grpc_error(
    code: i32,
    message: &str,
    retry_delay: Option<Duration>,
) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
        h.insert("grpc-status", v);
    }
    if let Ok(v) = HeaderValue::from_str(message) {
        h.insert("grpc-message", v);
    }
    if let Some(delay) = retry_delay {
        let info = RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: i64::try_from(delay.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(delay.subsec_nanos()).unwrap_or(0),
            }),
        };
        let status = RpcStatus {
            code,
            message: message.to_owned(),
            details: vec![prost_types::Any {
                type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
                value: info.encode_to_vec(),
            }],
        };
        if let Ok(v) = HeaderValue::from_str(&base64(&status.encode_to_vec())) {
            h.insert("grpc-status-details-bin", v);
        }
    }
    r
}

/// Standard base64 without padding (gRPC binary metadata).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 63;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_without_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg");
        assert_eq!(base64(b"fo"), "Zm8");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8");
    }

    #[test]
    fn grpc_and_http_faults_map_onto_each_other() {
        assert_eq!(grpc_code_for(503), code::UNAVAILABLE);
        assert_eq!(grpc_code_for(400), code::INVALID_ARGUMENT);
        assert_eq!(http_status_for(code::UNAVAILABLE), 503);
        assert_eq!(http_status_for(code::RESOURCE_EXHAUSTED), 429);
    }
}
