//! SHA-256 digests and the lowercase-hex text form every digest, key and
//! signature takes in evidence records.
//!
//! Hex is parsed strictly: exactly the expected length, lowercase only, so a
//! value has one text form and a record has one canonical byte form.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A 32-byte SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// All zero bytes: the `prev_hash` of the first envelope and the
    /// `prev_seal_hash` of the first seal.
    pub const ZERO: Self = Self([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// SHA-256 over the concatenation of `parts` (no separators).
    pub fn of_parts(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Self(hasher.finalize().into())
    }

    /// Parses exactly 64 lowercase hex digits.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        let mut bytes = [0_u8; 32];
        decode_hex_into(text, &mut bytes)?;
        Ok(Self(bytes))
    }

    /// The 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

/// Why a hex string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HexError {
    /// Wrong number of digits.
    Length {
        /// Digits required.
        expected: usize,
        /// Digits found.
        found: usize,
    },
    /// A character other than `0-9a-f` at this index.
    Digit(usize),
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { expected, found } => {
                write!(f, "expected {expected} hex digits, found {found}")
            }
            Self::Digit(index) => write!(f, "not a lowercase hex digit at index {index}"),
        }
    }
}

impl std::error::Error for HexError {}

/// Lowercase hex of `bytes`.
pub fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Decodes exactly `2 * out.len()` lowercase hex digits into `out`.
pub fn decode_hex_into(text: &str, out: &mut [u8]) -> Result<(), HexError> {
    let digits = text.as_bytes();
    if digits.len() != out.len() * 2 {
        return Err(HexError::Length {
            expected: out.len() * 2,
            found: digits.len(),
        });
    }
    for (index, slot) in out.iter_mut().enumerate() {
        let high = hex_value(digits[2 * index]).ok_or(HexError::Digit(2 * index))?;
        let low = hex_value(digits[2 * index + 1]).ok_or(HexError::Digit(2 * index + 1))?;
        *slot = (high << 4) | low;
    }
    Ok(())
}

/// Decodes lowercase hex of any even length.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, HexError> {
    if !text.len().is_multiple_of(2) {
        return Err(HexError::Length {
            expected: text.len() + 1,
            found: text.len(),
        });
    }
    let mut out = vec![0; text.len() / 2];
    decode_hex_into(text, &mut out)?;
    Ok(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    // A table: hashes and signatures are decoded by the million.
    const INVALID: u8 = 0xff;
    const TABLE: [u8; 256] = {
        let mut table = [INVALID; 256];
        let mut value = 0_u8;
        while value < 10 {
            table[(b'0' + value) as usize] = value;
            value += 1;
        }
        let mut value = 0_u8;
        while value < 6 {
            table[(b'a' + value) as usize] = 10 + value;
            value += 1;
        }
        table
    };
    let value = TABLE[usize::from(digit)];
    (value != INVALID).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_and_abc() {
        assert_eq!(
            Hash32::of(b"").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Hash32::of(b"abc"), Hash32::of_parts(&[b"a", b"bc"]));
    }

    #[test]
    fn hex_is_strict() {
        let hash = Hash32::of(b"x");
        assert_eq!(Hash32::from_hex(&hash.to_hex()), Ok(hash));
        assert_eq!(
            Hash32::from_hex(&hash.to_hex().to_uppercase())
                .map_err(|e| matches!(e, HexError::Digit(_))),
            Err(true)
        );
        assert_eq!(
            Hash32::from_hex("00"),
            Err(HexError::Length {
                expected: 64,
                found: 2
            })
        );
        assert_eq!(decode_hex("0g"), Err(HexError::Digit(1)));
        assert_eq!(
            decode_hex("abc"),
            Err(HexError::Length {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(decode_hex("00ff"), Ok(vec![0, 255]));
    }
}
