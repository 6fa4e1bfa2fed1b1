//! The stored form of an envelope's canonical bytes: every run of at least
//! [`RUN_MIN`] lowercase hexadecimal digits is held as the bytes it spells.
//!
//! An envelope's canonical JSON spells its `hash` and `prev_hash` (64
//! digits each), its `signature` (128) and its key id (32) in hex: 288
//! digits that take 144 bytes as binary. Canonical JSON never holds a raw
//! byte below 0x20 (RFC 8785 escapes control characters and writes no
//! whitespace), so such a byte can mark a packed run unambiguously:
//!
//! ```text
//! MARK (0x01), n (1..=255), n bytes   =   the 2n lowercase hex digits of those bytes
//! ```
//!
//! Every other byte stands for itself. Unpacking is exact (any run of
//! lowercase hex digits, wherever it stands: in a hash, a payload string or
//! a long number) and needs no knowledge of the envelope's members, so the
//! canonical bytes and their hash are unchanged. A body written before
//! packing (schema version 8 and older) holds no mark and unpacks to
//! itself; a damaged mark unpacks to bytes that are not canonical JSON,
//! which the recorder's hash check refuses like any other damage.

use crate::StoreError;

/// The byte that opens a packed run.
const MARK: u8 = 0x01;

/// The shortest run of hex digits worth packing (a mark and a length byte
/// cost two bytes; 32 digits save 14).
const RUN_MIN: usize = 32;

/// The most bytes one mark holds.
const CHUNK_MAX: usize = 255;

/// Which bytes are lowercase hexadecimal digits, by value (one lookup per
/// byte in the scan).
const LOWER_HEX: [bool; 256] = {
    let mut table = [false; 256];
    let mut digit = b'0';
    while digit <= b'9' {
        table[digit as usize] = true;
        digit += 1;
    }
    let mut letter = b'a';
    while letter <= b'f' {
        table[letter as usize] = true;
        letter += 1;
    }
    table
};

fn hex_value(digit: u8) -> u8 {
    if digit.is_ascii_digit() {
        digit - b'0'
    } else {
        digit - b'a' + 10
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Packs canonical JSON bytes. Refuses bytes below 0x20, which canonical
/// JSON never holds (they would be taken for marks on the way back).
///
/// One pass: bytes are copied only where a run long enough to pack ends
/// (a handful per envelope), not at every short run of hex letters in
/// ordinary text.
pub(crate) fn pack(canonical: &[u8]) -> Result<Vec<u8>, StoreError> {
    let mut packed = Vec::with_capacity(canonical.len());
    // `canonical[..copied]` is in `packed`; the current run of hex digits
    // starts at `run_start` and is `run` digits long.
    let mut copied = 0;
    let mut run_start = 0;
    let mut run = 0;
    for (at, &byte) in canonical.iter().enumerate() {
        if LOWER_HEX[usize::from(byte)] {
            if run == 0 {
                run_start = at;
            }
            run += 1;
            continue;
        }
        if byte < 0x20 {
            return Err(StoreError::BadRow(format!(
                "an envelope's bytes hold the control byte {byte:#04x} at {at}: not canonical JSON"
            )));
        }
        if run >= RUN_MIN {
            packed.extend_from_slice(&canonical[copied..run_start]);
            pack_run(&mut packed, &canonical[run_start..at]);
            copied = at;
        }
        run = 0;
    }
    if run >= RUN_MIN {
        packed.extend_from_slice(&canonical[copied..run_start]);
        pack_run(&mut packed, &canonical[run_start..]);
        copied = canonical.len();
    }
    packed.extend_from_slice(&canonical[copied..]);
    Ok(packed)
}

/// Appends a run of at least [`RUN_MIN`] hex digits: its pairs as bytes
/// behind marks (at most [`CHUNK_MAX`] per mark), an odd last digit as
/// itself.
fn pack_run(packed: &mut Vec<u8>, digits: &[u8]) {
    let (pairs, odd) = digits.split_at(digits.len() - digits.len() % 2);
    for chunk in pairs.chunks(2 * CHUNK_MAX) {
        packed.push(MARK);
        packed.push(u8::try_from(chunk.len() / 2).expect("at most CHUNK_MAX"));
        packed.extend(
            chunk
                .chunks_exact(2)
                .map(|pair| (hex_value(pair[0]) << 4) | hex_value(pair[1])),
        );
    }
    packed.extend_from_slice(odd);
}

/// Unpacks stored bytes (see the module docs). Never fails: a mark whose
/// length byte is zero or runs past the end is kept as it is.
pub(crate) fn unpack(stored: &[u8]) -> Vec<u8> {
    let mut canonical = Vec::with_capacity(stored.len() + stored.len() / 2);
    let mut at = 0;
    while let Some(offset) = stored[at..].iter().position(|&byte| byte == MARK) {
        let mark = at + offset;
        canonical.extend_from_slice(&stored[at..mark]);
        let count = usize::from(stored.get(mark + 1).copied().unwrap_or(0));
        if count == 0 || mark + 2 + count > stored.len() {
            canonical.push(MARK);
            at = mark + 1;
            continue;
        }
        for &value in &stored[mark + 2..mark + 2 + count] {
            canonical.extend_from_slice(&[
                HEX_DIGITS[usize::from(value >> 4)],
                HEX_DIGITS[usize::from(value & 0x0f)],
            ]);
        }
        at = mark + 2 + count;
    }
    canonical.extend_from_slice(&stored[at..]);
    canonical
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(canonical: &[u8]) -> Vec<u8> {
        let packed = pack(canonical).expect("packs");
        assert_eq!(unpack(&packed), canonical, "{packed:?}");
        packed
    }

    #[test]
    fn an_envelopes_hex_members_take_half_the_bytes() {
        let hash = "ab".repeat(32);
        let signature = "0f".repeat(64);
        let envelope = format!(
            r#"{{"attachments":[],"hash":"{hash}","key_id":"ed25519:70dd7e9820f205e5d8a32cf5ba432ab7","kind":"data","payload":{{"n":1}},"prev_hash":"{}","signature":"{signature}","v":1}}"#,
            "0".repeat(64)
        );
        let packed = round_trip(envelope.as_bytes());
        // 288 hex digits in four runs become 144 bytes and four marks of
        // two bytes each.
        assert_eq!(envelope.len() - packed.len(), 288 - 144 - 8);
    }

    #[test]
    fn runs_of_every_length_and_place_round_trip() {
        for length in [0, 1, 31, 32, 33, 64, 509, 510, 511, 512, 1021, 2000] {
            let digits: String = (0..length)
                .map(|i| char::from(HEX_DIGITS[(i * 7 + 3) % 16]))
                .collect();
            for text in [
                digits.clone(),
                format!("\"{digits}\""),
                format!("{{\"n\":{}{digits}}}", 9),
                format!("x{digits}Ay{digits}"),
            ] {
                let packed = round_trip(text.as_bytes());
                if length >= RUN_MIN {
                    assert!(packed.len() < text.len(), "{length}: {text}");
                }
            }
        }
    }

    /// The module docs' rule spelled out run by run, slowly: every maximal
    /// run of lowercase hex digits, packed when long enough.
    fn pack_by_the_rule(canonical: &[u8]) -> Vec<u8> {
        let is_hex = |byte: &u8| matches!(byte, b'0'..=b'9' | b'a'..=b'f');
        let mut packed = Vec::new();
        let mut rest = canonical;
        while !rest.is_empty() {
            let run = rest.iter().take_while(|byte| is_hex(byte)).count();
            if run >= RUN_MIN {
                pack_run(&mut packed, &rest[..run]);
            } else {
                packed.extend_from_slice(&rest[..run]);
            }
            let other = rest[run..].iter().take_while(|byte| !is_hex(byte)).count();
            packed.extend_from_slice(&rest[run..run + other]);
            rest = &rest[run + other..];
        }
        packed
    }

    #[test]
    fn the_one_pass_packing_is_the_rule() {
        // Texts mixing runs of every length with other bytes, from a
        // small deterministic generator.
        let alphabet = b"0123456789abcdef\"g:,{}[]Az ";
        let mut state = 0x2545_f491_u32;
        for _ in 0..2_000 {
            let mut text = Vec::new();
            for _ in 0..(state % 9) {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let run = (state % 80) as usize;
                let hex = !(state >> 8).is_multiple_of(3);
                for i in 0..run {
                    let pick = (state as usize >> (i % 16)) + i * 7;
                    text.push(if hex {
                        HEX_DIGITS[pick % 16]
                    } else {
                        alphabet[pick % alphabet.len()]
                    });
                }
            }
            let packed = round_trip(&text);
            assert_eq!(
                packed,
                pack_by_the_rule(&text),
                "{}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    #[test]
    fn uppercase_short_runs_and_other_text_are_left_as_they_are() {
        for text in [
            "ABCDEF0123456789ABCDEF0123456789ABCDEF",
            // 31 digits between two letters that are not hex.
            "g0123456789abcdef0123456789abcdeg",
            "\\u00e9 caf\u{e9} 1.5e+21 {}[]",
            "",
        ] {
            assert_eq!(round_trip(text.as_bytes()).len(), text.len(), "{text}");
        }
    }

    #[test]
    fn control_bytes_are_refused() {
        for text in [&b"{\"a\":\"\x01\"}"[..], b"\x00", b"{\n}"] {
            assert!(matches!(pack(text), Err(StoreError::BadRow(_))), "{text:?}");
        }
    }

    /// A damaged mark leaves bytes that canonical JSON cannot hold, so the
    /// damage shows instead of turning into other valid text.
    #[test]
    fn a_damaged_mark_unpacks_to_its_own_bytes() {
        for stored in [&b"{\x01"[..], b"{\x01\x00}", b"{\x01\x05ab}"] {
            let unpacked = unpack(stored);
            assert!(unpacked.contains(&MARK), "{unpacked:?}");
        }
        assert_eq!(unpack(b"\x01\x01\x01"), b"01");
    }
}
