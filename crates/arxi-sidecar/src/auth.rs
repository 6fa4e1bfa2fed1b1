//! Bearer authentication (RFC 6750) with a constant-time comparison.
//!
//! The privilege planes (control, data, read) and per-plane token files come
//! with the planes feature; here one token grants every plane.

use arxi_sidecar_config::Secret;

/// The outcome of checking an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The token matches.
    Allowed,
    /// No credentials were sent.
    Missing,
    /// Credentials were sent but are not valid.
    Invalid,
}

/// Checks `Authorization: Bearer <token>` against `expected`.
pub fn check(header: Option<&[u8]>, expected: &Secret) -> AuthOutcome {
    let Some(header) = header else {
        return AuthOutcome::Missing;
    };
    let Some(token) = strip_bearer(header) else {
        return AuthOutcome::Invalid;
    };
    if constant_time_eq(token, expected.expose().as_bytes()) {
        AuthOutcome::Allowed
    } else {
        AuthOutcome::Invalid
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive).
fn strip_bearer(header: &[u8]) -> Option<&[u8]> {
    let scheme = header.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = header[7..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Compares in time that depends only on the lengths.
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    let mut difference = u8::from(left.len() != right.len());
    for index in 0..left.len().max(right.len()) {
        let a = left.get(index).copied().unwrap_or(0);
        let b = right.get(index).copied().unwrap_or(0xff);
        difference |= a ^ b;
    }
    difference == 0
}

/// The `WWW-Authenticate` challenge for a 401 (RFC 6750 §3).
pub fn challenge(outcome: AuthOutcome) -> &'static str {
    match outcome {
        AuthOutcome::Invalid => {
            "Bearer realm=\"arxi\", error=\"invalid_token\", error_description=\"the bearer token is not valid\""
        }
        AuthOutcome::Missing | AuthOutcome::Allowed => "Bearer realm=\"arxi\"",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_checks() {
        let secret = Secret::new("s3cret-token-0123456789".into());
        let cases: &[(Option<&[u8]>, AuthOutcome)] = &[
            (None, AuthOutcome::Missing),
            (
                Some(b"Bearer s3cret-token-0123456789"),
                AuthOutcome::Allowed,
            ),
            (
                Some(b"bearer s3cret-token-0123456789"),
                AuthOutcome::Allowed,
            ),
            (
                Some(b"Bearer  s3cret-token-0123456789 "),
                AuthOutcome::Allowed,
            ),
            (Some(b"Bearer s3cret-token-012345678"), AuthOutcome::Invalid),
            (
                Some(b"Bearer s3cret-token-01234567890"),
                AuthOutcome::Invalid,
            ),
            (Some(b"Basic czNjcmV0"), AuthOutcome::Invalid),
            (Some(b"Bearer "), AuthOutcome::Invalid),
            (Some(b""), AuthOutcome::Invalid),
        ];
        for (header, expected) in cases {
            assert_eq!(check(*header, &secret), *expected, "{header:?}");
        }
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
    }
}
