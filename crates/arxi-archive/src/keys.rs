//! Object keys: `{prefix}{recorder_id}/{first_segment}-{last_segment}-{sha256}.arxb`,
//! segment numbers as 12 zero-padded digits so that key order is segment
//! order, and the SHA-256 of the bundle in lowercase hex.
//!
//! A key is a pure function of what the object holds (the recorder, its
//! segment range and its bytes), so uploading the same bundle again
//! overwrites nothing new and never makes a second object; and the
//! archiver looks for any object of a run (`run_prefix`) before it
//! uploads, so a restart adopts what an earlier run left instead of
//! uploading the run under another name.

use arxi_format::Hash32;

/// The file extension of archived bundles.
pub const EXTENSION: &str = ".arxb";

/// Digits of a segment number in a key.
const SEGMENT_DIGITS: usize = 12;

/// The largest segment number a key can carry.
pub const SEGMENT_MAX: u64 = 999_999_999_999;

/// What a key says about its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    /// First segment.
    pub first_segment: u64,
    /// Last segment.
    pub last_segment: u64,
    /// SHA-256 of the object's bytes.
    pub sha256: Hash32,
}

/// The prefix holding every object of one recorder.
pub fn recorder_prefix(key_prefix: &str, recorder_id: &str) -> String {
    format!("{key_prefix}{recorder_id}/")
}

/// The prefix of every object starting at `first_segment`.
pub fn run_prefix(key_prefix: &str, recorder_id: &str, first_segment: u64) -> String {
    format!(
        "{}{first_segment:0width$}-",
        recorder_prefix(key_prefix, recorder_id),
        width = SEGMENT_DIGITS
    )
}

/// The key of a bundle.
pub fn object_key(key_prefix: &str, recorder_id: &str, name: &ObjectName) -> String {
    assert!(
        name.last_segment <= SEGMENT_MAX && name.first_segment <= name.last_segment,
        "segment ids stay below 10^12 and runs are ordered"
    );
    format!(
        "{}{:0width$}-{}{EXTENSION}",
        run_prefix(key_prefix, recorder_id, name.first_segment),
        name.last_segment,
        name.sha256,
        width = SEGMENT_DIGITS
    )
}

/// Reads a key back (the part after the recorder prefix). Anything else
/// is `None`: an object the archive did not write.
pub fn parse_object_name(file_name: &str) -> Option<ObjectName> {
    let stem = file_name.strip_suffix(EXTENSION)?;
    let mut parts = stem.split('-');
    let (first, last, sha) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || first.len() != SEGMENT_DIGITS || last.len() != SEGMENT_DIGITS {
        return None;
    }
    let digits = |text: &str| {
        text.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    let name = ObjectName {
        first_segment: digits(first)?,
        last_segment: digits(last)?,
        sha256: Hash32::from_hex(sha).ok()?,
    };
    (name.first_segment >= 1 && name.first_segment <= name.last_segment).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(file_name: &str, expected: Option<(u64, u64)>) {
        let parsed = parse_object_name(file_name);
        assert_eq!(
            parsed.map(|name| (name.first_segment, name.last_segment)),
            expected,
            "{file_name}"
        );
    }

    #[test]
    fn keys_round_trip_and_sort_by_segment() {
        let name = ObjectName {
            first_segment: 9,
            last_segment: 10,
            sha256: Hash32::of(b"x"),
        };
        let key = object_key("arxi/", "rec-1", &name);
        assert!(key.starts_with("arxi/rec-1/000000000009-000000000010-"));
        assert!(key.starts_with(&run_prefix("arxi/", "rec-1", 9)));
        let file = key
            .strip_prefix(&recorder_prefix("arxi/", "rec-1"))
            .expect("prefix");
        assert_eq!(parse_object_name(file), Some(name.clone()));
        let later = object_key(
            "arxi/",
            "rec-1",
            &ObjectName {
                first_segment: 11,
                last_segment: 11,
                ..name
            },
        );
        assert!(key < later);
    }

    #[test]
    fn foreign_names_are_refused() {
        let sha = Hash32::of(b"x").to_hex();
        check(
            &format!("000000000001-000000000002-{sha}.arxb"),
            Some((1, 2)),
        );
        check(&format!("000000000002-000000000001-{sha}.arxb"), None);
        check(&format!("000000000000-000000000001-{sha}.arxb"), None);
        check(&format!("1-2-{sha}.arxb"), None);
        check(&format!("000000000001-000000000002-{sha}.txt"), None);
        check("000000000001-000000000002-zz.arxb", None);
        check(&format!("00000000000+-000000000002-{sha}.arxb"), None);
        check(&format!("000000000001-000000000002-{sha}-x.arxb"), None);
    }
}
