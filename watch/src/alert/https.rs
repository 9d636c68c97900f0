//! The watch's outgoing HTTP(S) client, for alert sinks and actions: hyper with rustls and the
//! `ring` provider (the SDK's, so every build has one crypto provider), verifying certificates
//! against the system's roots or only a configured CA file. Nothing turns verification off.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A client for `http://` and `https://` URLs, one request at a time per call, bounded.
#[derive(Clone)]
pub(crate) struct HttpsClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// A client trusting the system's roots, or only the certificates in `ca_file`.
    ///
    /// # Errors
    /// What is wrong with the CA file or the TLS set-up, in words.
    pub(crate) fn new(ca_file: Option<&Path>, timeout: Duration) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let pem =
                    std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert =
                        cert.map_err(|_| format!("ca_file {}: not valid PEM", path.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "ca_file {}: no PEM CERTIFICATE block",
                        path.display()
                    ));
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// POSTs `body` with `headers` (a `content-type` is added when none is given); the status
    /// and the answer's text.
    ///
    /// # Errors
    /// Why the request failed, with the chain of causes (a refused connection, a certificate
    /// that does not verify, a timeout).
    pub(crate) async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<(u16, String), String> {
        let mut request = hyper::Request::post(url);
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        request = request.header(
            "user-agent",
            concat!("heartbeat-watch/", env!("CARGO_PKG_VERSION")),
        );
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("invalid request: {e}"))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| chain(&e))?;
            let status = response.status().as_u16();
            let text = response
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            Ok((status, text))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {}s", self.timeout.as_secs()))?
    }
}

/// An error with its causes: "client error (Connect): tcp connect error: Connection refused".
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
