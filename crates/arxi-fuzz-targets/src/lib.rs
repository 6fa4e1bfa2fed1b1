//! The fuzz targets' bodies. Each takes arbitrary bytes, must never panic,
//! and asserts the properties that must hold for every input.
//!
//! - [`http_request`]: the request path below the handlers: the framing
//!   gate (the same verdict however the bytes are split), then the head
//!   parsed as hyper parses it and the pipeline's IO-free checks for every
//!   route.
//! - [`http_framing`]: the framing gate against hyper's own server on
//!   generated pipelines: both must agree on every request boundary
//!   (`framing.rs`).
//! - [`json_canonical`]: the strict JSON parser and the RFC 8785 writer:
//!   canonical output parses back to the same canonical bytes, and the
//!   one-pass canonical check agrees with parse-and-rewrite.
//! - [`bundle_reader`]: the offline verifier (batched and strict signature
//!   checks must agree) and `inspect` on arbitrary bundle bytes.
//! - [`proof_verify`]: parsing and verifying an inclusion proof.

#![forbid(unsafe_code)]

use std::sync::OnceLock;

mod framing;

pub use framing::{assemble, http_framing};

use arxi_format::CanonicalJson;
use arxi_sidecar::framing::Gate;
use arxi_sidecar::routes::ROUTES;
use arxi_sidecar_config::ValidConfig;

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets by name (the `fuzz/fuzz_targets` files and the corpus
/// directories use these names).
pub const TARGETS: [(&str, Target); 5] = [
    ("http_request", http_request),
    ("http_framing", http_framing),
    ("json_canonical", json_canonical),
    ("bundle_reader", bundle_reader),
    ("proof_verify", proof_verify),
];

fn config() -> &'static ValidConfig {
    static CONFIG: OnceLock<ValidConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        arxi_sidecar_config::parse(
            arxi_sidecar::EMBEDDED_DEV_CONFIG,
            std::path::Path::new("."),
            "fuzz",
        )
        .unwrap_or_else(|errors| panic!("the embedded configuration: {errors}"))
    })
}

/// The request path: framing, then the head checks.
pub fn http_request(data: &[u8]) {
    let mut whole = Gate::default();
    let mut whole_out = Vec::new();
    let verdict = whole.push(data, &mut whole_out);
    let split = data
        .first()
        .map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut parts = Gate::default();
    let mut parts_out = Vec::new();
    let split_verdict = parts
        .push(&data[..split], &mut parts_out)
        .and_then(|()| parts.push(&data[split..], &mut parts_out));
    assert_eq!(
        verdict.map_err(|(place, _)| place),
        split_verdict.map_err(|(place, _)| place),
        "the framing verdict depends on how the bytes arrive"
    );
    assert_eq!(
        whole_out, parts_out,
        "the passed bytes depend on how they arrive"
    );

    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = request.parse(data) else {
        return;
    };
    let (Some(method), Some(path)) = (request.method, request.path) else {
        return;
    };
    let mut builder = http::Request::builder().method(method).uri(path);
    for header in request.headers.iter() {
        builder = builder.header(header.name, header.value);
    }
    let Ok(built) = builder.body(()) else {
        return;
    };
    let (parts, ()) = built.into_parts();
    for route in ROUTES {
        let _ = arxi_sidecar::pipeline::precheck(&parts, route, config());
    }
}

/// Strict JSON to canonical bytes and back; the one-pass canonical check
/// answers as parse-and-rewrite does.
pub fn json_canonical(data: &[u8]) {
    let by_rewrite = arxi_format::canonical::canonicalize(data).is_ok_and(|again| again == data);
    assert_eq!(
        arxi_format::canonical::is_canonical(data),
        by_rewrite,
        "the canonical check and parse-and-rewrite disagree"
    );
    // The verifier's one-pass envelope parse succeeds only on an
    // envelope's canonical form, and agrees with the full parse.
    if let Some(fast) = arxi_format::Envelope::parse_canonical(data) {
        let full = arxi_format::Envelope::parse(data);
        match (fast, full) {
            (Ok((envelope, content_hash)), Ok(full)) => {
                assert_eq!(envelope, full, "one-pass and full parse disagree");
                assert_eq!(
                    envelope.to_canonical_bytes(),
                    data,
                    "accepted a non-canonical envelope"
                );
                assert_eq!(
                    content_hash,
                    envelope.body.compute_hash(),
                    "content hash differs"
                );
            }
            (Err(fast), Err(full)) => {
                assert_eq!(fast.to_string(), full.to_string(), "different refusals");
            }
            (fast, full) => panic!("one-pass {fast:?} but full parse {full:?}"),
        }
    }
    let Ok(value) = arxi_format::json::parse(data) else {
        return;
    };
    let Ok(canonical) = CanonicalJson::from_value(&value) else {
        return;
    };
    let again = CanonicalJson::parse(canonical.as_bytes())
        .unwrap_or_else(|error| panic!("canonical output does not parse: {error}"));
    assert_eq!(
        again.as_bytes(),
        canonical.as_bytes(),
        "canonicalization is not idempotent"
    );
}

/// The golden bundle's trusted keys, so that inputs near the golden bundle
/// (the seed corpus) reach the deep checks.
fn golden_keys() -> &'static [arxi_format::PublicKey] {
    static KEYS: OnceLock<Vec<arxi_format::PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            include_str!("../../../Docs/conformance/keys/a.pub"),
            include_str!("../../../Docs/conformance/keys/b.pub"),
        ]
        .iter()
        .map(|hex| {
            arxi_format::PublicKey::from_hex(hex.trim())
                .unwrap_or_else(|error| panic!("golden key: {error}"))
        })
        .collect()
    })
}

/// The verifier and the summary on arbitrary bundle bytes: batched
/// signature checks reach exactly the report strict one-by-one checks do.
pub fn bundle_reader(data: &[u8]) {
    let batched =
        arxi_verify::verify_bundle(data, golden_keys(), &arxi_verify::Options::default(), None);
    let strict = arxi_verify::verify_bundle(
        data,
        golden_keys(),
        &arxi_verify::Options {
            batch_size: 1,
            threads: 1,
            ..arxi_verify::Options::default()
        },
        None,
    );
    assert_eq!(batched, strict, "batched and strict verification disagree");
    assert!(
        !(batched.is_valid() && data.is_empty()),
        "an empty bundle is never valid"
    );
    let _ = arxi_verify::inspect_bundle(data);
    let _ = arxi_verify::prove_from_bundle(data, 1);
}

/// An inclusion proof from arbitrary bytes, verified.
pub fn proof_verify(data: &[u8]) {
    let Ok(proof) = arxi_format::proof::InclusionProof::parse(data) else {
        return;
    };
    let _ = proof.verify(golden_keys());
    // What parses re-encodes to bytes that parse to the same proof.
    let again = arxi_format::proof::InclusionProof::parse(&proof.to_canonical_bytes())
        .unwrap_or_else(|error| panic!("a parsed proof does not re-parse: {error}"));
    assert_eq!(again.to_canonical_bytes(), proof.to_canonical_bytes());
}
