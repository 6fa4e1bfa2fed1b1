//! The primitives RFC 8785 defines that both the canonical writer
//! (`canonical.rs`) and the one-pass canonical check (`canonical_check.rs`)
//! apply: member order by UTF-16 code units, the ECMAScript text of a
//! double, and which doubles that text would turn into integers no strict
//! reader accepts. A leaf: it names no other module of the crate but the
//! parser's integer bound.

use std::cmp::Ordering;

use crate::json::MAX_SAFE_INTEGER;

/// Orders two strings by their UTF-16 code units, as RFC 8785 §3.2.3 requires.
pub fn utf16_cmp(left: &str, right: &str) -> Ordering {
    left.encode_utf16().cmp(right.encode_utf16())
}

/// 2^53: the first double written as an integer literal beyond ±(2^53-1).
#[allow(clippy::cast_precision_loss)] // 2^53 is exact in a double.
const EXACT_LIMIT: f64 = (MAX_SAFE_INTEGER + 1) as f64;

/// ECMAScript writes `float` as an integer literal beyond ±(2^53-1) (every
/// double from 2^53 up to 1e21): bytes the strict parser refuses.
pub(crate) fn written_as_unsafe_integer(float: f64) -> bool {
    (EXACT_LIMIT..1e21).contains(&float.abs())
}

/// Appends a finite double in ECMAScript `Number.prototype.toString` form.
///
/// serde_json numbers are always finite; a non-finite input writes `null`,
/// which is what ECMAScript's `JSON.stringify` does.
pub fn write_f64(out: &mut Vec<u8>, float: f64) {
    if !float.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if float == 0.0 {
        // Both +0 and -0 are "0".
        out.push(b'0');
        return;
    }
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format_finite(float).as_bytes());
}
