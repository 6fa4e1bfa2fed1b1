//! The trusted keys' validity windows against the records they sign.
//!
//! Rules (`Docs/format.md` §11.8): a trusted key given with a window
//! (`--key KEY@FIRST..LAST`) is trusted only for what it signed while the
//! chain was inside the window. Each record is placed on the chain by the
//! sequence numbers it covers:
//!
//! - an envelope by its `seq`;
//! - a seal by its `last_seq`: it is signed when the chain reaches its
//!   last envelope (its first envelopes may be another key's, when a key
//!   change landed inside the segment);
//! - the anchor's checkpoint by its tree size (the last envelope it
//!   covers), for each trusted key whose signature line on it verifies;
//! - the trailer, which names no sequence number and is signed when the
//!   bundle is built (after its last envelope, possibly by a key that took
//!   over later), by the `seq` of the last envelope taken into the chain:
//!   it must not be past the window's end (the window's start is not
//!   checked).
//!
//! A record outside its key's window is `key_outside_window` (expected the
//! window, found the sequence numbers); its signature is still checked
//! and every other rule still applies. Untrusted keys and keys without a
//! window are not concerned.

use arxi_format::KeyId;

use super::{At, Verifier};
use crate::report::Code;
use crate::window::SeqWindow;

/// What a record signed by a windowed key covers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Covered {
    /// An envelope's `seq`.
    Envelope(u64),
    /// A seal's `first_seq` and `last_seq` (judged by `last_seq`).
    Seal(u64, u64),
    /// A checkpoint's tree size.
    Checkpoint(u64),
    /// The trailer, with the last envelope of the chain's `seq`.
    Trailer(u64),
}

impl Covered {
    fn within(self, window: &SeqWindow) -> bool {
        match self {
            Self::Envelope(seq) | Self::Checkpoint(seq) | Self::Seal(_, seq) => {
                window.contains(seq)
            }
            Self::Trailer(seq) => window.last.is_none_or(|last| seq <= last),
        }
    }

    fn describe(self) -> (&'static str, String) {
        match self {
            Self::Envelope(seq) => ("an envelope", format!("seq {seq}")),
            Self::Seal(first, last) => ("a seal", format!("seq {first}..{last}")),
            Self::Checkpoint(size) => ("a checkpoint", format!("tree size {size}")),
            Self::Trailer(seq) => ("a bundle trailer", format!("last seq {seq}")),
        }
    }
}

impl Verifier<'_> {
    /// A record signed by a trusted key: reported when the key has a
    /// window and the record lies outside it.
    pub(super) fn within_window(&mut self, key_id: &KeyId, covered: Covered, at: At) {
        let Some(window) = self.windows.get(key_id).copied() else {
            return;
        };
        if covered.within(&window) {
            return;
        }
        let (what, found) = covered.describe();
        self.find(
            Code::KeyOutsideWindow,
            at,
            format!("{what} signed by {key_id}, which is trusted only for seq {window}"),
            Some(format!("{key_id}@{window}")),
            Some(found),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{anchored, check_with_windows, key, story};
    use super::super::{Options, verify_bundle};
    use super::Covered;
    use crate::window::SeqWindow;

    /// Findings placed at their records: each record a windowed key signed
    /// outside its window is named once.
    fn outside(bytes: &[u8], windows: &[(&str, &str)]) -> Vec<(Option<u64>, String)> {
        let trusted = vec![key("a").public().clone(), key("b").public().clone()];
        let options = Options {
            windows: windows
                .iter()
                .map(|(name, window)| {
                    let window = SeqWindow::parse(window).expect("window");
                    (key(name).id().clone(), window)
                })
                .collect(),
            ..Options::default()
        };
        let report = verify_bundle(bytes, &trusted, &options, None);
        report
            .findings
            .iter()
            .filter(|finding| finding.code.as_str() == "key_outside_window")
            .map(|finding| (finding.seq, finding.found.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn records_outside_their_keys_windows() {
        let golden = story().bytes();
        check_with_windows(&golden, &[("a", "..17"), ("b", "18..")], &[]);
        check_with_windows(&golden, &[("a", "1..17"), ("b", "18..27")], &[]);
        check_with_windows(&golden, &[("a", "..16")], &["key_outside_window"]);
        check_with_windows(&golden, &[("b", "19..")], &["key_outside_window"]);
        // A up to 16: envelope 17 and the seal of segment 3 (which ends
        // at 17).
        let found = outside(&golden, &[("a", "..16")]);
        let names: Vec<&str> = found.iter().map(|(_, found)| found.as_str()).collect();
        assert_eq!(names.len(), 2, "{found:?}");
        assert_eq!(names[0], "seq 17");
        assert!(
            names[1].starts_with("seq ") && names[1].ends_with("..17"),
            "{found:?}"
        );
        // B up to 26: envelope 27, the seal of segment 5 and the trailer.
        let found = outside(&golden, &[("b", "18..26")]);
        let names: Vec<&str> = found.iter().map(|(_, found)| found.as_str()).collect();
        assert_eq!(names.len(), 3, "{found:?}");
        assert_eq!((names[0], names[2]), ("seq 27", "last seq 27"));
    }

    #[test]
    fn the_anchor_checkpoint_is_judged_by_its_tree_size() {
        // The checkpoint of 30 envelopes (B signs it) covers the bundle's
        // last envelope, 27.
        let bytes = anchored(story(), 30, &[]).bytes();
        check_with_windows(&bytes, &[("b", "18..30")], &[]);
        check_with_windows(&bytes, &[("b", "18..29")], &["key_outside_window"]);
        let found = outside(&bytes, &[("b", "18..29")]);
        let names: Vec<&str> = found.iter().map(|(_, found)| found.as_str()).collect();
        assert_eq!(names, ["tree size 30"]);
    }

    #[test]
    fn what_lies_within_a_window() {
        let window = SeqWindow::parse("5..9").expect("window");
        let cases = [
            (Covered::Envelope(4), false),
            (Covered::Envelope(5), true),
            (Covered::Envelope(9), true),
            (Covered::Envelope(10), false),
            (Covered::Seal(5, 9), true),
            (Covered::Seal(1, 9), true),
            (Covered::Seal(9, 10), false),
            (Covered::Checkpoint(9), true),
            (Covered::Checkpoint(10), false),
            (Covered::Trailer(3), true),
            (Covered::Trailer(9), true),
            (Covered::Trailer(10), false),
        ];
        for (covered, expected) in cases {
            assert_eq!(covered.within(&window), expected, "{covered:?}");
        }
    }
}
