//! From a route template (`/users/{id}`) or a gRPC path (`/pkg.Service/Method`) to an outcome
//! name.
//!
//! Outcome names allow ASCII letters, digits, `_`, `.`, `-` and `/`, and start with a letter.
//! A route becomes `<prefix><route>` with:
//! - a parameter, `{id}` (axum 0.8) or `:id` (axum 0.7), written `_id`; a wildcard, `{*rest}` or
//!   `*rest`, written `_rest` (the template itself stays exact in the `http.route` attribute);
//! - any other character the syntax does not allow written `_`.
//!
//! So `/users/{id}/posts` is `http/users/_id/posts` under the default prefix `http`, and `/` is
//! `http/`. A gRPC path drops its leading `/`: `/chat.Messenger/Send` is `chat.Messenger/Send`.
//! The result must still be a valid name (at most 255 bytes, a letter first).

use heartbeat_core::OutcomeError;
use heartbeat_core::validate;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

/// Appends `text` with every character the name syntax does not allow written `_`.
fn push_sanitized(name: &mut String, text: &str) {
    name.extend(text.chars().map(|c| if allowed(c) { c } else { '_' }));
}

/// The outcome name of an HTTP route template under `prefix`.
///
/// # Errors
/// [`OutcomeError::InvalidName`] naming the mapped name when it is still invalid (too long,
/// or a prefix that does not start with a letter).
pub(crate) fn http_name(prefix: &str, route: &str) -> Result<String, OutcomeError> {
    let mut name = String::with_capacity(prefix.len() + route.len());
    name.push_str(prefix);
    for (i, segment) in route.split('/').enumerate() {
        if i > 0 {
            name.push('/');
        }
        let param = segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .or_else(|| segment.strip_prefix(':'))
            .or_else(|| segment.strip_prefix('*'));
        match param {
            Some(p) => {
                name.push('_');
                push_sanitized(&mut name, p.strip_prefix('*').unwrap_or(p));
            }
            None => push_sanitized(&mut name, segment),
        }
    }
    validate::outcome_name(&name)?;
    Ok(name)
}

/// The outcome name of a gRPC request path (`/pkg.Service/Method` is `pkg.Service/Method`).
///
/// # Errors
/// As for [`http_name`].
pub(crate) fn grpc_name(prefix: &str, path: &str) -> Result<String, OutcomeError> {
    let mut name = String::with_capacity(prefix.len() + path.len());
    name.push_str(prefix);
    push_sanitized(&mut name, path.strip_prefix('/').unwrap_or(path));
    validate::outcome_name(&name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_underscored_segments() {
        assert_eq!(
            http_name("http", "/users/{id}/posts").as_deref(),
            Ok("http/users/_id/posts")
        );
        assert_eq!(
            http_name("http", "/files/{*path}").as_deref(),
            Ok("http/files/_path")
        );
        assert_eq!(
            http_name("http", "/users/:id").as_deref(),
            Ok("http/users/_id")
        );
        assert_eq!(
            http_name("http", "/assets/*rest").as_deref(),
            Ok("http/assets/_rest")
        );
    }

    #[test]
    fn the_root_and_odd_characters_map_to_valid_names() {
        assert_eq!(http_name("http", "/").as_deref(), Ok("http/"));
        assert_eq!(http_name("api", "/a b/é~x").as_deref(), Ok("api/a_b/__x"));
    }

    #[test]
    fn grpc_paths_drop_the_leading_slash() {
        assert_eq!(
            grpc_name("", "/chat.Messenger/Send").as_deref(),
            Ok("chat.Messenger/Send")
        );
    }

    #[test]
    fn a_name_still_invalid_after_mapping_is_refused_by_name() {
        let long = format!("/{}", "a".repeat(300));
        let err = http_name("http", &long).unwrap_err();
        assert!(
            err.to_string().contains("it is longer than 255 bytes"),
            "{err}"
        );
        let err = grpc_name("", "/9lives/Get").unwrap_err();
        assert_eq!(
            err.to_string().split(';').next(),
            Some("invalid outcome name \"9lives/Get\": it must start with an ASCII letter")
        );
    }
}
