//! TLS for every connection the SDK makes (feature `tls`): rustls with the `ring` provider,
//! certificates always verified, against the system's roots or, when given, only the CA
//! certificates the application trusts. Nothing here turns verification off.

use super::transport::Resolver;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether `https://` is supported.
pub(crate) const TLS: bool = true;

/// The certificate authorities a connection trusts.
#[derive(Clone, Default)]
pub(crate) struct Trust {
    /// `None`: the system's roots. `Some`: only these CA certificates.
    custom: Option<Arc<[CertificateDer<'static>]>>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.custom {
            None => f.write_str("Trust(system roots)"),
            Some(certs) => write!(f, "Trust({} CA certificate(s))", certs.len()),
        }
    }
}

impl Trust {
    /// Trusts only the CA certificates in `pem` (one or more `CERTIFICATE` blocks).
    ///
    /// # Errors
    /// What is wrong with the PEM, in words.
    pub(crate) fn from_pem(pem: &[u8]) -> Result<Self, &'static str> {
        let mut certs = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem) {
            certs.push(cert.map_err(|_| "it is not valid PEM")?);
        }
        if certs.is_empty() {
            return Err("it holds no PEM CERTIFICATE block");
        }
        let mut check = RootCertStore::empty();
        for cert in &certs {
            check
                .add(cert.clone())
                .map_err(|_| "a certificate in it is not a valid X.509 CA certificate")?;
        }
        Ok(Self {
            custom: Some(certs.into()),
        })
    }

    fn roots(&self) -> Arc<RootCertStore> {
        match &self.custom {
            None => Arc::clone(system_roots()),
            Some(certs) => {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(certs.iter().cloned());
                Arc::new(roots)
            }
        }
    }

    /// The trust anchors, for tonic's TLS configuration.
    #[cfg(feature = "grpc")]
    pub(crate) fn trust_anchors(&self) -> Vec<rustls::pki_types::TrustAnchor<'static>> {
        self.roots().roots.clone()
    }

    /// The rustls configuration for this trust: ring, safe default versions, no client
    /// certificate, ALPN left to the connector.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(self.roots())
            .with_no_client_auth())
    }
}

/// The system's roots, loaded once (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured). If none
/// can be read, the store is empty and every `https://` connection fails verification, visibly.
fn system_roots() -> &'static Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        Arc::new(roots)
    })
}

/// TCP with TLS for `https://` URIs, verifying as its [`Trust`] says.
#[derive(Clone)]
pub(crate) struct Connector(HttpsConnector<HttpConnector<Resolver>>);

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector(tls)")
    }
}

impl Connector {
    pub(crate) fn new(tcp: HttpConnector<Resolver>, trust: &Trust) -> Result<Self, String> {
        // The builder requires a configuration without ALPN protocols (it asserts so); HTTP/1.1
        // leaves them empty.
        Ok(Self(
            HttpsConnectorBuilder::new()
                .with_tls_config(trust.client_config()?)
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp),
        ))
    }
}

type Io = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;

impl tower_service::Service<http::Uri> for Connector {
    type Response = Io;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Io, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        self.0.call(uri)
    }
}
