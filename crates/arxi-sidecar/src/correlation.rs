//! Correlation ids: the server's own id for every request (always sent back
//! as `x-arxi-correlation-id`), and the client's `x-correlation-id` (or the
//! legacy `x-request-id`), sanitized and echoed; and the caller's W3C
//! `traceparent` (Trace Context level 1), checked and logged beside them so
//! a trace in the caller's system finds the sidecar's lines. A malformed
//! `traceparent` is ignored, as the specification asks (never refused).

use std::sync::atomic::{AtomicU64, Ordering};

/// Longest client correlation id kept.
pub const CLIENT_ID_MAX: usize = 128;

/// Issues unique server ids: a random per-process prefix and a counter.
#[derive(Debug)]
pub struct IdSource {
    prefix: u32,
    counter: AtomicU64,
}

impl IdSource {
    /// A new source with a random prefix.
    pub fn new() -> Self {
        let mut bytes = [0_u8; 4];
        // Without randomness the ids are still unique within the process.
        let _ = getrandom::fill(&mut bytes);
        Self {
            prefix: u32::from_le_bytes(bytes),
            counter: AtomicU64::new(0),
        }
    }

    /// The next id, e.g. `srv-1a2b3c4d-0000000000000001`.
    pub fn next(&self) -> String {
        let count = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("srv-{:08x}-{count:016x}", self.prefix)
    }
}

impl Default for IdSource {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps `[A-Za-z0-9._:-]`, at most [`CLIENT_ID_MAX`] characters; `None` if
/// nothing remains.
pub fn sanitize(raw: &[u8]) -> Option<String> {
    let kept: String = raw
        .iter()
        .filter(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-'))
        .take(CLIENT_ID_MAX)
        .map(|&byte| char::from(byte))
        .collect();
    (!kept.is_empty()).then_some(kept)
}

/// A valid `traceparent`: the caller's trace and the span that called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: String,
    /// 16 lowercase hex digits, not all zero.
    pub parent_id: String,
    /// The `sampled` flag.
    pub sampled: bool,
}

/// Parses `traceparent` as W3C Trace Context level 1 reads it:
/// `version-traceid-parentid-flags` in lowercase hex; version `ff` is
/// invalid; version `00` is exactly 55 characters; a later version may be
/// longer only after a `-`. `None` for anything else.
pub fn traceparent(raw: &[u8]) -> Option<TraceParent> {
    let hex = |part: &[u8]| part.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let head = raw.get(..55)?;
    let (version, trace_id, parent_id, flags) =
        (&head[0..2], &head[3..35], &head[36..52], &head[53..55]);
    let dashes = head[2] == b'-' && head[35] == b'-' && head[52] == b'-';
    let valid = dashes
        && hex(version)
        && version != b"ff"
        && hex(trace_id)
        && trace_id.iter().any(|b| *b != b'0')
        && hex(parent_id)
        && parent_id.iter().any(|b| *b != b'0')
        && hex(flags)
        && match raw.get(55) {
            None => true,
            Some(b'-') => version != b"00",
            Some(_) => false,
        };
    let text = |part: &[u8]| String::from_utf8_lossy(part).into_owned();
    valid.then(|| TraceParent {
        trace_id: text(trace_id),
        parent_id: text(parent_id),
        // Flags are two hex digits (checked above); bit 0 is `sampled`.
        sampled: u8::from_str_radix(&text(flags), 16).is_ok_and(|flags| flags & 1 == 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        /// (trace id, parent id, sampled)
        type Parsed<'a> = Option<(&'a str, &'a str, bool)>;
        let cases: &[(&str, Parsed<'_>)] = &[
            (
                good,
                Some(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true)),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                Some((
                    "4bf92f3577b34da6a3ce929d0e0e4736",
                    "00f067aa0ba902b7",
                    false,
                )),
            ),
            (
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later",
                Some(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true)),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                None,
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                None,
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                None,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                None,
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                None,
            ),
            ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", None),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                None,
            ),
            ("", None),
        ];
        for (raw, expected) in cases {
            let parsed = traceparent(raw.as_bytes());
            let parsed = parsed
                .as_ref()
                .map(|t| (t.trace_id.as_str(), t.parent_id.as_str(), t.sampled));
            assert_eq!(parsed, *expected, "{raw}");
        }
        assert_eq!(traceparent(&[0xff; 60]), None);
    }

    #[test]
    fn sanitizes() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"abc-123", Some("abc-123")),
            (b"a b\r\nc", Some("abc")),
            (b"<script>", Some("script")),
            (b"\xff\xfe", None),
            (b"", None),
            (b"trace:1.2_3", Some("trace:1.2_3")),
        ];
        for (raw, expected) in cases {
            assert_eq!(sanitize(raw).as_deref(), *expected, "{raw:?}");
        }
        assert_eq!(sanitize(&[b'x'; 500]).map(|s| s.len()), Some(CLIENT_ID_MAX));
    }

    #[test]
    fn ids_are_unique() {
        let source = IdSource::new();
        let first = source.next();
        assert_ne!(first, source.next());
        assert!(first.starts_with("srv-"));
    }
}
