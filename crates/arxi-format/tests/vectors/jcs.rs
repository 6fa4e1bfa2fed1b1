//! RFC 8785 canonicalization against the cyberphone reference files, the RFC
//! appendices, the extra edge cases and the ES6 number-formatting file, with
//! serde_jcs measured beside ours for byte equality; plus a property test
//! over generated JSON.

use std::io::BufRead as _;

use arxi_format::canonical::{self, CanonicalJson};
use arxi_format::json::{self, JsonErrorKind, ParseOptions};
use proptest::prelude::*;
use serde_json::Value;

use super::{hex, read, read_json, vectors_dir};

/// Our canonical bytes. Strict parsing goes with the strict writer (what
/// evidence uses); ECMAScript number parsing with the plain RFC 8785 writer.
fn ours(input: &[u8], options: ParseOptions) -> Result<Vec<u8>, json::JsonError> {
    let value = json::parse_with(input, options)?;
    let mut out = Vec::new();
    if options == ParseOptions::STRICT {
        canonical::write_value(&mut out, &value).expect("parsed values are canonicalizable");
    } else {
        canonical::write_value_rfc8785(&mut out, &value)
            .expect("parsed values are canonicalizable");
    }
    Ok(out)
}

fn serde_jcs_of(input: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(input).expect("serde_json parses the vector");
    serde_jcs::to_vec(&value).expect("serde_jcs serializes")
}

#[test]
fn cyberphone_reference_files() {
    let dir = vectors_dir().join("jcs/cyberphone/input");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("input dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "expected the six cyberphone files");
    for name in &names {
        let input = read(&format!("jcs/cyberphone/input/{name}"));
        let expected = read(&format!("jcs/cyberphone/output/{name}"));
        let stem = name.trim_end_matches(".json");
        let outhex = String::from_utf8(read(&format!("jcs/cyberphone/outhex/{stem}.txt")))
            .expect("hex text");
        let expected_from_hex = hex(&outhex.split_whitespace().collect::<String>());
        assert_eq!(
            expected, expected_from_hex,
            "{name}: output and outhex agree"
        );
        let actual = ours(&input, ParseOptions::STRICT).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&actual),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
        assert_eq!(serde_jcs_of(&input), expected, "{name}: serde_jcs agrees");
    }
    println!(
        "cyberphone: {} of {} files byte-equal",
        names.len(),
        names.len()
    );
}

#[test]
fn rfc8785_appendix_examples() {
    for name in ["appendix_c.json", "appendix_e.json"] {
        let input = read(&format!("jcs/rfc8785-appendix/input/{name}"));
        let expected = read(&format!("jcs/rfc8785-appendix/output/{name}"));
        let expected = expected.strip_suffix(b"\n").unwrap_or(&expected).to_vec();
        let actual = ours(&input, ParseOptions::STRICT).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&actual),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
        assert_eq!(serde_jcs_of(&input), expected, "{name}: serde_jcs agrees");
    }
    println!("rfc8785 appendix: 2 of 2 byte-equal");
}

/// The edge cases encode ECMAScript behaviour; arxi's strict profile refuses
/// integer literals beyond 2^53-1 instead of rounding them.
#[test]
fn edge_cases() {
    let cases = read_json("jcs/edge/edge-cases.json");
    let cases = cases.as_array().expect("array");
    let mut strict_refusals = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let input = case["input"].as_str().expect("input").as_bytes();
        match case["expected"].as_str() {
            None => {
                assert!(
                    ours(input, ParseOptions::ECMASCRIPT_NUMBERS).is_err(),
                    "{name}: must be rejected"
                );
                assert!(
                    ours(input, ParseOptions::STRICT).is_err(),
                    "{name}: must be rejected"
                );
            }
            Some(expected) => {
                let ecmascript = ours(input, ParseOptions::ECMASCRIPT_NUMBERS)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(String::from_utf8_lossy(&ecmascript), expected, "{name}");
                match ours(input, ParseOptions::STRICT) {
                    Ok(strict) => assert_eq!(String::from_utf8_lossy(&strict), expected, "{name}"),
                    Err(error) => {
                        assert_eq!(error.kind, JsonErrorKind::IntegerOutOfRange, "{name}");
                        strict_refusals.push(name.to_owned());
                    }
                }
            }
        }
    }
    assert_eq!(
        strict_refusals,
        [
            "int > 2^53 rounds to double",
            "u64 max",
            "i64 min",
            "30-digit integer",
            "1e21 boundary"
        ],
        "exactly the integer literals beyond 2^53-1 are refused in strict mode"
    );
    println!(
        "edge cases: {} of {} pass ({} refused by the strict integer rule, as intended)",
        cases.len(),
        cases.len(),
        strict_refusals.len()
    );
}

#[test]
fn es6_number_serialization_first_100k() {
    let file =
        std::fs::File::open(vectors_dir().join("jcs/es6-numbers/es6testfile-first100k.txt.gz"))
            .expect("es6 number file");
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(file));
    let mut count = 0;
    let mut out = Vec::with_capacity(32);
    for line in reader.lines() {
        let line = line.expect("line");
        let (bits, expected) = line.split_once(',').expect("hex,expected");
        let bits = u64::from_str_radix(bits, 16).expect("hex bits");
        let float = f64::from_bits(bits);
        out.clear();
        canonical::write_f64(&mut out, float);
        assert_eq!(
            std::str::from_utf8(&out).expect("utf8"),
            expected,
            "bits {bits:016x}"
        );
        // Parsing the canonical text must give back the same double (-0 aside).
        let reparsed = json::parse_with(expected.as_bytes(), ParseOptions::ECMASCRIPT_NUMBERS)
            .expect("canonical number parses");
        let reparsed = reparsed.as_f64().expect("number");
        assert!(
            reparsed.to_bits() == bits || (float == 0.0 && reparsed == 0.0),
            "{expected} parsed to {reparsed:e}, expected bits {bits:016x}"
        );
        count += 1;
    }
    assert_eq!(count, 100_000);
    println!("es6 numbers: {count} of {count} lines match");
}

/// A double from 2^53 up to 1e21 anywhere in the value.
fn holds_unreadable_double(value: &Value) -> bool {
    match value {
        Value::Number(number) => {
            number.is_f64()
                && number
                    .as_f64()
                    .is_some_and(|f| (9_007_199_254_740_992.0..1e21).contains(&f.abs()))
        }
        Value::Array(items) => items.iter().any(holds_unreadable_double),
        Value::Object(members) => members.values().any(holds_unreadable_double),
        _ => false,
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let safe_integer = -(1_i64 << 53) + 1..(1_i64 << 53);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        safe_integer.prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Our writer and serde_jcs agree byte for byte on generated values;
    /// our strict parser reads both the canonical bytes and any serde_json
    /// text of the value back to the same canonical bytes. The only values
    /// refused are those holding a double from 2^53 up to 1e21 (written as
    /// an integer literal the strict parser would refuse).
    #[test]
    fn equals_serde_jcs_on_generated_json(value in arbitrary_json()) {
        let reference = serde_jcs::to_vec(&value).expect("serde_jcs");
        let mut rfc8785 = Vec::new();
        canonical::write_value_rfc8785(&mut rfc8785, &value).expect("canonicalizable");
        prop_assert_eq!(&rfc8785, &reference);
        match CanonicalJson::from_value(&value) {
            Ok(ours) => {
                prop_assert_eq!(ours.as_bytes(), &reference[..]);
                prop_assert!(canonical::is_canonical(ours.as_bytes()));
                let again = CanonicalJson::parse(ours.as_bytes()).expect("canonical bytes re-parse");
                prop_assert_eq!(again.as_bytes(), &reference[..]);
                let pretty = serde_json::to_vec_pretty(&value).expect("serializes");
                let reparsed = CanonicalJson::parse(&pretty).expect("strict parser accepts");
                prop_assert_eq!(reparsed.as_bytes(), &reference[..]);
            }
            Err(canonical::CanonicalError::IntegerOutOfRange(_)) => {
                prop_assert!(!canonical::is_canonical(&reference));
                prop_assert!(holds_unreadable_double(&value), "refused without cause");
            }
            Err(error) => prop_assert!(false, "unexpected refusal: {error}"),
        }
    }

    /// The one-pass check answers as parse-and-rewrite does, on canonical
    /// text with one byte changed, inserted or removed (near misses are
    /// where a shortcut would go wrong).
    #[test]
    fn canonical_check_agrees_with_rewriting(
        value in arbitrary_json(),
        edit in 0_usize..3,
        at in any::<prop::sample::Index>(),
        byte in prop_oneof![
            Just(b'"'), Just(b'\\'), Just(b','), Just(b' '), Just(b'0'), Just(b'-'),
            Just(b'.'), Just(b'e'), Just(b'u'), Just(b'{'), Just(b'['), any::<u8>(),
        ],
    ) {
        let Ok(canonical) = CanonicalJson::from_value(&value) else {
            return Ok(());
        };
        let mut text = canonical.into_bytes();
        let index = at.index(text.len() + 1);
        match edit {
            0 if index < text.len() => text[index] = byte,
            1 => text.insert(index, byte),
            _ if index < text.len() => {
                text.remove(index);
            }
            _ => {}
        }
        let by_rewrite = canonical::canonicalize(&text).is_ok_and(|again| again == text);
        prop_assert_eq!(canonical::is_canonical(&text), by_rewrite, "{:?}", String::from_utf8_lossy(&text));
    }
}
