//! Ed25519 against RFC 8032 §7.1, djb's SUPERCOP KAT, Wycheproof and the
//! ed25519-speccheck edge cases. Signing is ed25519-dalek's; verification is
//! arxi's one rule (`arxi_format::ed25519`: cofactored, canonical `S`, `R`
//! canonical and not of small order) behind `PublicKey`, which also refuses
//! weak and non-canonical public keys at load time. Where the rule and
//! dalek's `verify_strict` differ is stated case by case.

use arxi_format::PublicKey;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::{hex, read, read_json};

fn array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    <[u8; N]>::try_from(bytes).ok()
}

/// `verify_strict` as arxi uses it: a key that loads, a 64-byte signature.
fn strict_accepts(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Some(public_key), Some(signature)) = (array::<32>(public_key), array::<64>(signature))
    else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&public_key) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&signature))
        .is_ok()
}

/// The full arxi acceptance path: `PublicKey::from_bytes`, then the rule.
fn arxi_accepts(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Some(public_key), Some(signature)) = (array::<32>(public_key), array::<64>(signature))
    else {
        return false;
    };
    let Ok(key) = PublicKey::from_bytes(&public_key) else {
        return false;
    };
    key.verify_message(&[message], &arxi_format::Signature(signature))
        .is_ok()
}

#[test]
fn rfc8032_section_7_1() {
    let file = read_json("ed25519/rfc8032/rfc8032-7.1-ed25519.json");
    let vectors = file["vectors"].as_array().expect("vectors");
    assert_eq!(vectors.len(), 5);
    for vector in vectors {
        let name = vector["name"].as_str().expect("name");
        let secret = array::<32>(&hex(vector["secret_key"].as_str().expect("sk"))).expect("32");
        let public = hex(vector["public_key"].as_str().expect("pk"));
        let message = hex(vector["message"].as_str().expect("msg"));
        let expected = hex(vector["signature"].as_str().expect("sig"));
        let key = SigningKey::from_bytes(&secret);
        assert_eq!(
            key.verifying_key().as_bytes().as_slice(),
            public,
            "{name}: public key"
        );
        assert_eq!(
            key.sign(&message).to_bytes().as_slice(),
            expected,
            "{name}: signature"
        );
        assert!(
            arxi_accepts(&public, &message, &expected),
            "{name}: verifies"
        );
        let mut altered = message.clone();
        altered.push(0);
        assert!(
            !arxi_accepts(&public, &altered, &expected),
            "{name}: altered message"
        );
    }
    println!("rfc8032: 5 of 5 sign and verify");
}

#[test]
fn djb_supercop_kat_1024() {
    let text = String::from_utf8(read("ed25519/djb-supercop/sign.input")).expect("utf8");
    let mut count = 0;
    for (number, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split(':').collect();
        assert_eq!(fields.len(), 5, "line {}", number + 1);
        let secret_and_public = hex(fields[0]);
        let public = hex(fields[1]);
        let message = hex(fields[2]);
        let signature_and_message = hex(fields[3]);
        let secret = array::<32>(&secret_and_public[..32]).expect("seed");
        let signature = &signature_and_message[..64];
        assert_eq!(
            &signature_and_message[64..],
            message.as_slice(),
            "line {}",
            number + 1
        );
        let key = SigningKey::from_bytes(&secret);
        assert_eq!(key.verifying_key().as_bytes().as_slice(), public.as_slice());
        assert_eq!(
            key.sign(&message).to_bytes().as_slice(),
            signature,
            "line {}",
            number + 1
        );
        assert!(
            arxi_accepts(&public, &message, signature),
            "line {}",
            number + 1
        );
        count += 1;
    }
    assert_eq!(count, 1024);
    println!("djb supercop: {count} of {count} sign and verify");
}

#[test]
fn wycheproof_ed25519() {
    let file = read_json("ed25519/wycheproof/ed25519_test.json");
    let mut total = 0;
    let mut valid = 0;
    for group in file["testGroups"].as_array().expect("groups") {
        let public = hex(group["publicKey"]["pk"].as_str().expect("pk"));
        for test in group["tests"].as_array().expect("tests") {
            let id = test["tcId"].as_u64().expect("id");
            let message = hex(test["msg"].as_str().expect("msg"));
            let signature = hex(test["sig"].as_str().expect("sig"));
            let expected_valid = match test["result"].as_str().expect("result") {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {id}: unexpected result {other}"),
            };
            assert_eq!(
                strict_accepts(&public, &message, &signature),
                expected_valid,
                "tcId {id} ({:?})",
                test["comment"]
            );
            assert_eq!(
                arxi_accepts(&public, &message, &signature),
                expected_valid,
                "tcId {id} via PublicKey"
            );
            total += 1;
            valid += usize::from(expected_valid);
        }
    }
    assert_eq!(total, 151);
    println!(
        "wycheproof: {total} of {total} as expected ({valid} valid accepted, {} invalid rejected)",
        total - valid
    );
}

/// The twelve cases of "Taming the many EdDSAs" (ed25519-speccheck). arxi's
/// rule is cofactored, requires S < L, and refuses small-order or
/// non-canonically encoded A and R. Under it cases 3, 4 and 5 (mixed-order
/// key, the cofactored equation holds) are valid signatures; dalek's
/// `verify_strict` (cofactorless) accepts case 3 only.
#[test]
fn speccheck_edge_cases() {
    let cases = read_json("ed25519/speccheck/cases.json");
    let cases = cases.as_array().expect("cases");
    assert_eq!(cases.len(), 12);
    let reasons = [
        "0: small-order A and R, S = 0",
        "1: small-order A",
        "2: small-order R",
        "3: mixed-order A and R, cofactorless equation holds (valid)",
        "4: only the cofactored equation holds (valid)",
        "5: only the cofactored equation holds, R of mixed order (valid)",
        "6: S >= L",
        "7: S much larger than L",
        "8: non-canonical R (small order)",
        "9: non-canonical R",
        "10: non-canonical A (small order)",
        "11: non-canonical A",
    ];
    let mut outcomes = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let message = hex(case["message"].as_str().expect("msg"));
        let public = hex(case["pub_key"].as_str().expect("pk"));
        let signature = hex(case["signature"].as_str().expect("sig"));
        let accepted = arxi_accepts(&public, &message, &signature);
        assert_eq!(
            accepted,
            (3..=5).contains(&index),
            "case {}",
            reasons[index]
        );
        assert_eq!(
            strict_accepts(&public, &message, &signature)
                && PublicKey::from_bytes(&array::<32>(&public).expect("32")).is_ok(),
            index == 3,
            "case {}: verify_strict",
            reasons[index]
        );
        // The raw primitive must never accept what arxi refuses, except
        // through keys arxi refuses to load.
        if strict_accepts(&public, &message, &signature) && !accepted {
            assert!(
                PublicKey::from_bytes(&array::<32>(&public).expect("32")).is_err(),
                "case {}: only key loading refuses it",
                reasons[index]
            );
        }
        outcomes.push(if accepted { 'V' } else { 'X' });
    }
    println!(
        "speccheck: 12 of 12 as expected: {}",
        outcomes.iter().collect::<String>()
    );
}
