//! Bearer authentication (RFC 6750) with a constant-time comparison, and
//! the token's grant: which privilege planes it reaches.
//!
//! A presented token is compared with every configured token, always all
//! of them, so the time taken says nothing about which (if any) matched.

use arxi_sidecar_config::Credential;

/// The outcome of checking an `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The token matches the credential at this index.
    Allowed(usize),
    /// No credentials were sent.
    Missing,
    /// Credentials were sent but are not valid.
    Invalid,
    /// Credentials of another scheme (`Basic`, ...) were sent: as if none
    /// were (RFC 6750 §3.1: no error code in the challenge).
    OtherScheme,
}

/// Checks `Authorization: Bearer <token>` against every credential.
pub fn check(header: Option<&[u8]>, credentials: &[Credential]) -> AuthOutcome {
    let Some(header) = header else {
        return AuthOutcome::Missing;
    };
    let Some(token) = strip_bearer(header) else {
        let bearer = header
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer"));
        return if bearer || header.trim_ascii().is_empty() {
            AuthOutcome::Invalid
        } else {
            AuthOutcome::OtherScheme
        };
    };
    let mut matched = None;
    for (index, credential) in credentials.iter().enumerate() {
        // Tokens are distinct (validated), so at most one matches; every
        // comparison runs regardless.
        if constant_time_eq(token, credential.secret.expose().as_bytes()) {
            matched = Some(index);
        }
    }
    matched.map_or(AuthOutcome::Invalid, AuthOutcome::Allowed)
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
        AuthOutcome::Missing | AuthOutcome::OtherScheme | AuthOutcome::Allowed(_) => {
            "Bearer realm=\"arxi\""
        }
    }
}

/// The challenge for a malformed request (RFC 6750 §3.1): more than one
/// `Authorization` field.
pub const INVALID_REQUEST_CHALLENGE: &str = "Bearer realm=\"arxi\", error=\"invalid_request\", error_description=\"send one Authorization field\"";

#[cfg(test)]
mod tests {
    use super::*;

    use arxi_sidecar_config::{Grant, Plane, Secret};

    fn credential(name: &str, token: &str, planes: &[Plane]) -> Credential {
        Credential {
            grant: Grant {
                name: name.into(),
                planes: planes.to_vec(),
                namespaces: Vec::new(),
            },
            secret: Secret::new(token.into()),
        }
    }

    #[test]
    fn bearer_checks() {
        let credentials = [
            credential("read", "read-token-0123456789", &[Plane::Read]),
            credential("all", "s3cret-token-0123456789", &Plane::ALL),
        ];
        let cases: &[(Option<&[u8]>, AuthOutcome)] = &[
            (None, AuthOutcome::Missing),
            (
                Some(b"Bearer s3cret-token-0123456789"),
                AuthOutcome::Allowed(1),
            ),
            (
                Some(b"bearer s3cret-token-0123456789"),
                AuthOutcome::Allowed(1),
            ),
            (
                Some(b"Bearer  s3cret-token-0123456789 "),
                AuthOutcome::Allowed(1),
            ),
            (
                Some(b"Bearer read-token-0123456789"),
                AuthOutcome::Allowed(0),
            ),
            (Some(b"Bearer s3cret-token-012345678"), AuthOutcome::Invalid),
            (
                Some(b"Bearer s3cret-token-01234567890"),
                AuthOutcome::Invalid,
            ),
            (Some(b"Basic czNjcmV0"), AuthOutcome::OtherScheme),
            (Some(b"Bearer"), AuthOutcome::Invalid),
            (Some(b"Bearer "), AuthOutcome::Invalid),
            (Some(b""), AuthOutcome::Invalid),
        ];
        for (header, expected) in cases {
            assert_eq!(check(*header, &credentials), *expected, "{header:?}");
        }
        assert_eq!(
            check(Some(b"Bearer s3cret-token-0123456789"), &[]),
            AuthOutcome::Invalid
        );
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
    }
}
