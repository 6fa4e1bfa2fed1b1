//! arxi-verify-web: the offline verifier compiled to WebAssembly, for the
//! one static page an auditor opens in a browser (`page/`, assembled by
//! `scripts/build-verify-web.sh` into a single HTML file with the module
//! inside it).
//!
//! The page runs this module in a Web Worker. The bundle stays a `File` on
//! the auditor's machine: the worker hands the module a [`Source`] whose
//! `read(offset, length)` cuts slices out of it (`FileReaderSync`), so
//! nothing is uploaded and nothing larger than a slice is held. Each export
//! answers JSON text; the work is in [`core`], which the host tests run.
//!
//! It adds no rule and no judgement of its own: the verdict is
//! `arxi_verify::verify_bundle`'s, the same as `arxi bundle verify --json`.

// The #[wasm_bindgen] attributes expand to the FFI glue between the module
// and JavaScript, which is unsafe code; this crate writes none itself.
#![allow(unsafe_code)]

pub mod core;

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
extern "C" {
    /// The page's view of the chosen file: `size()`, `read(offset,
    /// length)` returning a `Uint8Array`, and `progress(envelopes, seals,
    /// bytes)`.
    pub type Source;

    #[wasm_bindgen(method)]
    fn size(this: &Source) -> f64;

    #[wasm_bindgen(method)]
    fn read(this: &Source, offset: f64, length: u32) -> Vec<u8>;

    #[wasm_bindgen(method)]
    fn progress(this: &Source, envelopes: f64, seals: f64, bytes: f64);
}

/// Largest slice asked of the page at once.
const SLICE_BYTES_MAX: usize = 1024 * 1024;

/// Offsets cross into JavaScript as numbers: exact up to 2^53, which no
/// file a browser can hand us reaches.
#[allow(clippy::cast_precision_loss)]
fn number(value: u64) -> f64 {
    value as f64
}

impl core::RandomAccess for Source {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn size(&self) -> u64 {
        // A File's size is a non-negative integer below 2^53.
        Source::size(self) as u64
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> std::io::Result<usize> {
        let length = buffer.len().min(SLICE_BYTES_MAX);
        let length_u32 = u32::try_from(length).expect("at most SLICE_BYTES_MAX, a u32");
        let bytes = self.read(number(offset), length_u32);
        if bytes.len() > length {
            return Err(std::io::Error::other(format!(
                "the page returned {} bytes for a read of {length}",
                bytes.len()
            )));
        }
        buffer[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }
}

/// The verifier's version line: package version, commit, build profile.
#[wasm_bindgen]
pub fn version() -> String {
    arxi_verify::VERSION.to_owned()
}

/// Verifies the bundle under the trusted keys in `keys` (64 hex digits
/// each, white space between): the report's JSON.
#[wasm_bindgen]
pub fn verify(source: &Source, keys: &str) -> String {
    let mut progress = |counts: &arxi_verify::Counts| {
        source.progress(
            number(counts.envelopes),
            number(counts.seals),
            number(counts.bytes),
        );
    };
    core::verify(source, keys, &mut progress).to_string()
}

/// The bundle's summary: manifest, segments and seals, keys, counts.
#[wasm_bindgen]
pub fn inspect(source: &Source) -> String {
    core::inspect(source).to_string()
}

/// Up to `count` records from the record header at `offset` (the first is
/// at [`first_record_offset`]), for browsing.
#[wasm_bindgen]
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn records(source: &Source, offset: f64, count: u32) -> String {
    // An offset the page got from an earlier answer: a whole number.
    let offset = if offset.is_finite() && offset >= 0.0 {
        offset as u64
    } else {
        u64::MAX
    };
    core::records(source, offset, count).to_string()
}

/// Where the first record starts.
#[wasm_bindgen]
pub fn first_record_offset() -> f64 {
    number(core::first_record_offset())
}
