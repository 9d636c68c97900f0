//! What must never be shown: a URL's credentials and query, header values. Errors from
//! dependencies pass through [`Secrets::scrub`] before a user sees them.

use super::transport::split_userinfo;

/// What of a configuration must never be shown: header values, and the endpoint's credentials
/// and query. Errors from dependencies pass through [`Secrets::scrub`] before a user sees them.
#[derive(Debug, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    /// Values shorter than this are not scrubbed: they would mangle messages, and are no
    /// credential.
    const SHORTEST: usize = 4;

    /// The secrets of an endpoint and its headers.
    pub(crate) fn new(url: &str, headers: &[(String, String)]) -> Self {
        let mut secrets: Vec<String> = headers.iter().map(|(_, v)| v.clone()).collect();
        let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
        let authority = after_scheme
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            secrets.push(userinfo.to_owned());
            secrets.extend(userinfo.split(':').map(str::to_owned));
            secrets.extend(split_userinfo(url).1);
        }
        if let Some((_, query)) = url.split_once(['?', '#']) {
            secrets.push(query.to_owned());
            secrets.extend(query.split(['&', '=', '#']).map(str::to_owned));
        }
        secrets.retain(|s| s.len() >= Self::SHORTEST);
        // Longest first, so a whole secret is replaced before a part of it.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Self(secrets)
    }

    /// `text` with the endpoint shown redacted and every secret replaced by `***`.
    pub(crate) fn scrub(&self, text: &str, endpoint: &str) -> String {
        let mut out = text.replace(endpoint, &heartbeat_core::redact::url(endpoint));
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

/// `text` (an error from a dependency) without the secrets of an endpoint and its headers.
#[cfg_attr(
    not(any(feature = "http-proto", feature = "http-json", feature = "tls")),
    allow(dead_code)
)]
pub(crate) fn scrub(text: &str, endpoint: &str, headers: &[(String, String)]) -> String {
    Secrets::new(endpoint, headers).scrub(text, endpoint)
}
