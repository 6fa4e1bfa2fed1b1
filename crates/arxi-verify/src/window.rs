//! Key validity windows: the range of sequence numbers an auditor trusts a
//! key for (`--key KEY@FIRST..LAST`, `Docs/format.md` §11.8).
//!
//! A window is inclusive at both ends and may be open at either:
//! `3..17`, `3..` (from 3 on), `..17` (up to 17). This module parses the
//! text and answers whether a sequence number or a range lies in a window;
//! what a record outside its key's window means is the verifier's
//! (`key_outside_window`). It does not load keys.

use std::collections::BTreeMap;
use std::fmt;

use arxi_format::KeyId;

/// The windows of the trusted keys that have one; a trusted key without
/// an entry is trusted for every sequence number.
pub type KeyWindows = BTreeMap<KeyId, SeqWindow>;

/// An inclusive range of sequence numbers, open at either end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqWindow {
    /// The first sequence number in the window (`None`: from the first).
    pub first: Option<u64>,
    /// The last sequence number in the window (`None`: no end).
    pub last: Option<u64>,
}

/// Why a window's text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowError {
    /// The text has no `..` between its bounds.
    NoRange { text: String },
    /// Neither bound is given (`..`): say no window instead.
    NoBound,
    /// A bound is not a decimal sequence number from 1 to 2^53-1.
    BadBound { bound: String },
    /// The first bound is above the last.
    Reversed { first: u64, last: u64 },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRange { text } => write!(
                f,
                "key window {text:?}: expected FIRST..LAST, FIRST.. or ..LAST"
            ),
            Self::NoBound => f.write_str("key window \"..\": give FIRST, LAST or both"),
            Self::BadBound { bound } => write!(
                f,
                "key window bound {bound:?}: not a sequence number (1 to {SEQ_MAX})"
            ),
            Self::Reversed { first, last } => {
                write!(f, "key window {first}..{last}: the first is above the last")
            }
        }
    }
}

impl std::error::Error for WindowError {}

/// The highest sequence number (the format's integer bound, 2^53-1).
const SEQ_MAX: u64 = (1 << 53) - 1;

impl SeqWindow {
    /// Every sequence number.
    pub const ALL: SeqWindow = SeqWindow {
        first: None,
        last: None,
    };

    /// Parses `FIRST..LAST`, `FIRST..` or `..LAST` (decimal, inclusive).
    pub fn parse(text: &str) -> Result<Self, WindowError> {
        let Some((first, last)) = text.split_once("..") else {
            return Err(WindowError::NoRange { text: text.into() });
        };
        let bound = |bound: &str| -> Result<Option<u64>, WindowError> {
            if bound.is_empty() {
                return Ok(None);
            }
            let bad = || WindowError::BadBound {
                bound: bound.into(),
            };
            if !bound.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(bad());
            }
            match bound.parse::<u64>() {
                Ok(seq) if (1..=SEQ_MAX).contains(&seq) => Ok(Some(seq)),
                _ => Err(bad()),
            }
        };
        let window = Self {
            first: bound(first)?,
            last: bound(last)?,
        };
        match (window.first, window.last) {
            (None, None) => Err(WindowError::NoBound),
            (Some(first), Some(last)) if first > last => Err(WindowError::Reversed { first, last }),
            _ => Ok(window),
        }
    }

    /// `seq` lies in the window.
    pub fn contains(&self, seq: u64) -> bool {
        self.first.is_none_or(|first| first <= seq) && self.last.is_none_or(|last| seq <= last)
    }

    /// Every sequence number from `first` to `last` lies in the window.
    pub fn covers(&self, first: u64, last: u64) -> bool {
        self.contains(first) && self.contains(last)
    }

    /// The window a delegation grants its key (`Docs/format.md` §11.4 rule
    /// D5): `first..=last`, cut at the end of its root's window when the
    /// root was given with one. The root's window is the error when it
    /// does not hold `first` (rule D4: the delegation is not used).
    pub fn delegated(
        first: u64,
        last: u64,
        root: Option<SeqWindow>,
    ) -> Result<SeqWindow, SeqWindow> {
        let root_last = match root {
            Some(window) if !window.contains(first) => return Err(window),
            Some(window) => window.last,
            None => None,
        };
        Ok(SeqWindow {
            first: Some(first),
            last: Some(root_last.map_or(last, |root_last| root_last.min(last))),
        })
    }
}

impl fmt::Display for SeqWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(first) = self.first {
            write!(f, "{first}")?;
        }
        f.write_str("..")?;
        if let Some(last) = self.last {
            write!(f, "{last}")?;
        }
        Ok(())
    }
}

/// Splits a `--key` argument into the key (hex or a file path) and its
/// window. The text after the last `@` is a window when the text before
/// it is 64 hex digits or the text after it holds `..`; otherwise the
/// whole argument is the key (a file path may hold `@`).
pub fn split_key_argument(argument: &str) -> Result<(&str, Option<SeqWindow>), WindowError> {
    let Some((key, window)) = argument.rsplit_once('@') else {
        return Ok((argument, None));
    };
    let hex_key = key.len() == 64 && key.bytes().all(|byte| byte.is_ascii_hexdigit());
    if hex_key || window.contains("..") {
        return Ok((key, Some(SeqWindow::parse(window)?)));
    }
    Ok((argument, None))
}

#[cfg(test)]
mod tests {
    use super::{SeqWindow, WindowError, split_key_argument};

    fn window(first: Option<u64>, last: Option<u64>) -> SeqWindow {
        SeqWindow { first, last }
    }

    fn check(text: &str, expected: Result<SeqWindow, WindowError>) {
        assert_eq!(SeqWindow::parse(text), expected, "{text:?}");
        if let Ok(parsed) = expected {
            assert_eq!(parsed.to_string(), text, "written back");
        }
    }

    #[test]
    fn window_syntax() {
        check("3..17", Ok(window(Some(3), Some(17))));
        check("17..17", Ok(window(Some(17), Some(17))));
        check("3..", Ok(window(Some(3), None)));
        check("..17", Ok(window(None, Some(17))));
        check("..", Err(WindowError::NoBound));
        check("17", Err(WindowError::NoRange { text: "17".into() }));
        check(
            "",
            Err(WindowError::NoRange {
                text: String::new(),
            }),
        );
        check(
            "3-17",
            Err(WindowError::NoRange {
                text: "3-17".into(),
            }),
        );
        let bad = |bound: &str| {
            Err(WindowError::BadBound {
                bound: bound.into(),
            })
        };
        check("0..5", bad("0"));
        check("+3..5", bad("+3"));
        check("3..=5", bad("=5"));
        check("3...5", bad(".5"));
        check(" 3..5", bad(" 3"));
        check("3..x", bad("x"));
        check("..9007199254740992", bad("9007199254740992"));
        check("..9007199254740991", Ok(window(None, Some((1 << 53) - 1))));
        check("..99999999999999999999", bad("99999999999999999999"));
        check("17..3", Err(WindowError::Reversed { first: 17, last: 3 }));
    }

    #[test]
    fn windows_contain_and_cover() {
        let up_to = window(None, Some(17));
        assert!(up_to.contains(1) && up_to.contains(17) && !up_to.contains(18));
        let from = window(Some(5), None);
        assert!(!from.contains(4) && from.contains(5) && from.contains(u64::MAX));
        let both = window(Some(5), Some(9));
        assert!(both.covers(5, 9) && both.covers(6, 6));
        assert!(!both.covers(4, 9) && !both.covers(5, 10) && !both.covers(1, 20));
        assert!(SeqWindow::ALL.covers(1, u64::MAX));
    }

    #[test]
    fn key_arguments() {
        let hex = "ab".repeat(32);
        let hex_up_to = format!("{hex}@..17");
        assert_eq!(
            split_key_argument(&hex_up_to),
            Ok((hex.as_str(), Some(window(None, Some(17)))))
        );
        assert_eq!(split_key_argument(&hex), Ok((hex.as_str(), None)));
        let hex_bad = format!("{hex}@17");
        assert_eq!(
            split_key_argument(&hex_bad),
            Err(WindowError::NoRange { text: "17".into() })
        );
        assert_eq!(
            split_key_argument("keys/a.pub@3.."),
            Ok(("keys/a.pub", Some(window(Some(3), None))))
        );
        assert_eq!(
            split_key_argument("keys/a.pub@3..x"),
            Err(WindowError::BadBound { bound: "x".into() })
        );
        // A path that holds `@` and no window is a path.
        assert_eq!(
            split_key_argument("keys/ops@example.pub"),
            Ok(("keys/ops@example.pub", None))
        );
        assert_eq!(
            split_key_argument("keys/a@b/c.pub@..4"),
            Ok(("keys/a@b/c.pub", Some(window(None, Some(4)))))
        );
    }
}
