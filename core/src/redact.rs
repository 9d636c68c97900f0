//! URLs shown without their secrets, the same in every crate: in errors, logs, health reports
//! and alert delivery states. Credentials (`user:password@`) are always replaced by `***`.

/// `url` with its credentials replaced by `***@` and its query and fragment by `?***`; the
/// path is shown. For endpoints whose path is public (an OTLP collector's `/v1/metrics`).
pub fn url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = hide_userinfo(authority);
    let tail = if url.contains(['?', '#']) { "?***" } else { "" };
    if scheme.is_empty() {
        format!("{authority}{path}{tail}")
    } else {
        format!("{scheme}://{authority}{path}{tail}")
    }
}

/// `url` reduced to its scheme and host: credentials replaced by `***@`, and any path, query or
/// fragment by `/***`. For URLs whose path is the token (ping channels such as Healthchecks.io,
/// chat webhooks such as Slack's `/services/T0/B0/secret`).
pub fn origin(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = hide_userinfo(authority);
    let mut out = match scheme {
        Some(s) => format!("{s}://{host}"),
        None => host,
    };
    if tail.len() > 1 || tail.starts_with(['?', '#']) {
        out.push_str("/***");
    }
    out
}

fn hide_userinfo(authority: &str) -> String {
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_queries_are_hidden_and_a_public_path_shown() {
        assert_eq!(
            url("https://user:pw@host:1/p?token=abc"),
            "https://***@host:1/p?***"
        );
        assert_eq!(
            url("http://127.0.0.1:4318/v1/metrics"),
            "http://127.0.0.1:4318/v1/metrics"
        );
        assert_eq!(url("host/p#frag"), "host/p?***");
    }

    #[test]
    fn an_origin_hides_everything_after_the_host() {
        assert_eq!(
            origin("https://user:pw@hooks.example.com/services/T0/B0/secret?x=1"),
            "https://***@hooks.example.com/***"
        );
        assert_eq!(origin("https://hc-ping.com/"), "https://hc-ping.com");
        assert_eq!(
            origin("https://hc-ping.com/uuid"),
            "https://hc-ping.com/***"
        );
        assert_eq!(origin("hc-ping.com?k=v"), "hc-ping.com/***");
    }
}
