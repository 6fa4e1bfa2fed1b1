//! What the page asks of the verifier, as plain Rust over any
//! [`RandomAccess`] source, so the host tests run exactly the code the
//! WebAssembly module runs: verify under trusted keys, inspect, and read
//! records at byte offsets for browsing (envelopes, seals, where each
//! attachment's bytes lie so the page can cut them out of the file).
//!
//! It holds no bundle in memory: every function reads the source in
//! slices. It does not judge anything itself; verification is
//! `arxi_verify::verify_bundle`, unchanged.

use std::io::Read;

use arxi_format::PublicKey;
use arxi_format::bundle::{self, PREAMBLE, Tag};
use arxi_verify::reader::HEADER_BYTES_MAX;
use arxi_verify::{Counts, Options};
use serde_json::{Value, json};

/// Bytes of one record's JSON shown when browsing; a larger record is
/// listed with its size only (the format allows 256 MiB).
pub const BROWSE_RECORD_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Records returned by one [`records`] call at most.
pub const BROWSE_PAGE_RECORDS_MAX: u32 = 1_000;

/// Most trusted keys accepted (as the `arxi` command line).
pub const TRUSTED_KEYS_MAX: usize = 256;

/// A file the page reads in slices (a `File` in the browser, bytes in
/// tests).
pub trait RandomAccess {
    /// The size in bytes.
    fn size(&self) -> u64;
    /// Up to `buffer.len()` bytes at `offset`; fewer only at the end.
    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<usize>;
}

impl RandomAccess for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<usize> {
        let start = usize::try_from(offset).map_or(self.len(), |o| o.min(self.len()));
        let take = buffer.len().min(self.len() - start);
        buffer[..take].copy_from_slice(&self[start..start + take]);
        Ok(take)
    }
}

/// A [`Read`] over a [`RandomAccess`] from an offset.
#[derive(Debug)]
pub struct Cursor<'a, S: ?Sized> {
    source: &'a S,
    offset: u64,
}

impl<'a, S: RandomAccess + ?Sized> Cursor<'a, S> {
    /// Reads from `offset` on.
    pub fn new(source: &'a S, offset: u64) -> Self {
        Self { source, offset }
    }
}

impl<S: RandomAccess + ?Sized> Read for Cursor<'_, S> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.source.read_at(self.offset, buffer)?;
        self.offset += read as u64;
        Ok(read)
    }
}

/// The trusted keys in `text`: 64 hex digits each, separated by white
/// space (the page concatenates the key files the auditor chose).
pub fn parse_keys(text: &str) -> Result<Vec<PublicKey>, String> {
    let keys: Vec<&str> = text.split_whitespace().collect();
    if keys.is_empty() {
        return Err("no trusted key: choose the recorder's public key file".into());
    }
    if keys.len() > TRUSTED_KEYS_MAX {
        return Err(format!("at most {TRUSTED_KEYS_MAX} trusted keys"));
    }
    keys.iter()
        .enumerate()
        .map(|(index, key)| {
            PublicKey::from_hex(key).map_err(|e| format!("trusted key {}: {e}", index + 1))
        })
        .collect()
}

/// Verifies the bundle under the keys in `keys_text`: the report as the
/// `arxi bundle verify --json` command prints it, or `{"error": ...}` when
/// the keys cannot be read. One thread (a Web Worker is one).
pub fn verify<S: RandomAccess + ?Sized>(
    source: &S,
    keys_text: &str,
    progress: &mut dyn FnMut(&Counts),
) -> Value {
    let trusted = match parse_keys(keys_text) {
        Ok(keys) => keys,
        Err(error) => return json!({ "error": error }),
    };
    let options = Options {
        threads: 1,
        ..Options::default()
    };
    arxi_verify::verify_bundle(Cursor::new(source, 0), &trusted, &options, Some(progress)).to_json()
}

/// The bundle's summary (manifest, segments and their seals, keys, counts)
/// as `arxi bundle inspect --json` prints it.
pub fn inspect<S: RandomAccess + ?Sized>(source: &S) -> Value {
    arxi_verify::inspect_bundle(Cursor::new(source, 0)).to_json()
}

/// The offset of the first record (just after the preamble).
pub fn first_record_offset() -> u64 {
    PREAMBLE.len() as u64
}

/// Up to `count` records from the record header at `offset`:
/// `{"records": [...], "next_offset": N | null, "error": ... | null}`.
/// Each record names its tag, offset and length; a JSON record carries its
/// text (up to [`BROWSE_RECORD_BYTES_MAX`]), an attachment where its bytes
/// lie. Browsing checks nothing: the verdict is [`verify`]'s.
pub fn records<S: RandomAccess + ?Sized>(source: &S, offset: u64, count: u32) -> Value {
    let container = match container_version(source) {
        Ok(container) => container,
        Err(why) => {
            return json!({ "records": [], "next_offset": null, "error": format!("at byte 0: {why}") });
        }
    };
    let mut listed = Vec::new();
    let mut next = Some(offset);
    let mut error = None;
    for _ in 0..count.min(BROWSE_PAGE_RECORDS_MAX) {
        let Some(at) = next.filter(|at| *at < source.size()) else {
            next = None;
            break;
        };
        match record_at(source, at, container) {
            Ok((record, after)) => {
                listed.push(record);
                next = Some(after);
            }
            Err(why) => {
                error = Some(format!("at byte {at}: {why}"));
                next = None;
                break;
            }
        }
    }
    let next = next.filter(|at| *at < source.size());
    json!({ "records": listed, "next_offset": next, "error": error })
}

/// The container version the preamble names (1, or 2 with `P` records).
fn container_version<S: RandomAccess + ?Sized>(source: &S) -> Result<u64, String> {
    let mut preamble = vec![0_u8; PREAMBLE.len()];
    Cursor::new(source, 0)
        .read_exact(&mut preamble)
        .map_err(|e| e.to_string())?;
    bundle::check_preamble(&preamble[..PREAMBLE.len() - 1]).map_err(|e| e.to_string())
}

/// One record at `offset` in a container of version `container`, and the
/// offset after it.
fn record_at<S: RandomAccess + ?Sized>(
    source: &S,
    offset: u64,
    container: u64,
) -> Result<(Value, u64), String> {
    let mut head = vec![0_u8; HEADER_BYTES_MAX + 1];
    let read = source
        .read_at(offset, &mut head)
        .map_err(|e| e.to_string())?;
    let line_end = head[..read]
        .iter()
        .position(|byte| *byte == b'\n')
        .ok_or("no record header here")?;
    let (tag, length) =
        bundle::parse_header(&head[..line_end], container).map_err(|e| e.to_string())?;
    let payload_offset = offset + line_end as u64 + 1;
    let after = payload_offset
        .checked_add(length)
        .and_then(|end| end.checked_add(1))
        .filter(|end| *end <= source.size())
        .ok_or("the record runs past the end of the file")?;
    let mut record = json!({
        "tag": char::from(tag.byte()).to_string(),
        "kind": tag_name(tag),
        "offset": offset,
        "payload_offset": payload_offset,
        "length": length,
    });
    if tag != Tag::Attachment && length <= BROWSE_RECORD_BYTES_MAX {
        let size = usize::try_from(length).expect("at most BROWSE_RECORD_BYTES_MAX, a usize");
        let mut payload = vec![0_u8; size];
        Cursor::new(source, payload_offset)
            .read_exact(&mut payload)
            .map_err(|e| e.to_string())?;
        record["text"] = Value::String(String::from_utf8_lossy(&payload).into_owned());
    }
    Ok((record, after))
}

fn tag_name(tag: Tag) -> &'static str {
    match tag {
        Tag::Manifest => "manifest",
        Tag::Key => "key",
        Tag::Delegation => "delegation",
        Tag::Envelope => "envelope",
        Tag::Attachment => "attachment",
        Tag::Payload => "payload",
        Tag::Anchor => "anchor",
        Tag::Timestamp => "timestamp",
        Tag::Seal => "seal",
        Tag::Trailer => "trailer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conformance(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Docs/conformance/");
        std::fs::read(format!("{path}{name}")).expect("a conformance file")
    }

    fn keys() -> String {
        format!(
            "{}\n{}",
            String::from_utf8(conformance("keys/a.pub")).expect("text"),
            String::from_utf8(conformance("keys/b.pub")).expect("text")
        )
    }

    #[test]
    fn the_golden_bundle_verifies_as_the_command_line_says() {
        let bundle = conformance("bundles/golden.arxb");
        let mut calls = 0;
        let report = verify(bundle.as_slice(), &keys(), &mut |_| calls += 1);
        assert_eq!(report["valid"], true, "{report}");
        let summary = inspect(bundle.as_slice());
        assert!(
            summary["manifest"]["segments"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
        );
    }

    #[test]
    fn a_tampered_bundle_is_reported_with_its_codes() {
        let bundle = conformance("bundles/tampered/segment-dropped.arxb");
        let report = verify(bundle.as_slice(), &keys(), &mut |_| {});
        assert_eq!(report["valid"], false);
        assert_eq!(report["first_bad_record"]["seq"], 13, "{report}");
    }

    #[test]
    fn keys_are_refused_with_a_reason() {
        for (text, expected) in [
            ("", "no trusted key"),
            ("abcd", "trusted key 1"),
            (&"00".repeat(32), "trusted key 1"),
        ] {
            let error = parse_keys(text).expect_err(text);
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn browsing_walks_every_record_to_the_end() {
        let bundle = conformance("bundles/golden.arxb");
        let mut offset = Some(first_record_offset());
        let mut kinds = Vec::new();
        while let Some(at) = offset {
            let page = records(bundle.as_slice(), at, 3);
            assert_eq!(page["error"], Value::Null, "{page}");
            for record in page["records"].as_array().expect("records") {
                kinds.push(record["kind"].as_str().expect("kind").to_owned());
            }
            offset = page["next_offset"].as_u64();
        }
        assert_eq!(kinds.first().map(String::as_str), Some("manifest"));
        assert_eq!(kinds.last().map(String::as_str), Some("trailer"));
        assert!(kinds.iter().any(|kind| kind == "envelope"));
    }

    #[test]
    fn browsing_untrusted_bytes_answers_with_an_error() {
        for bytes in [
            &b"ARXI-BUNDLE 1\nE 99999999\n{}"[..],
            b"ARXI-BUNDLE 1\nnonsense",
            b"",
        ] {
            let page = records(bytes, first_record_offset(), 10);
            assert!(
                page["records"].as_array().is_some_and(Vec::is_empty),
                "{page}"
            );
        }
        let page = records(&b"ARXI-BUNDLE 1\nE 2\n{}\n"[..], u64::MAX - 3, 10);
        assert_eq!(page["next_offset"], Value::Null);
    }
}
