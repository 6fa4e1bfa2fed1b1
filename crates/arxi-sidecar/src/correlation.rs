//! Correlation ids: the server's own id for every request (always sent back
//! as `x-arxi-correlation-id`), and the client's `x-correlation-id` (or the
//! legacy `x-request-id`), sanitized and echoed.

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

#[cfg(test)]
mod tests {
    use super::*;

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
