//! C2SP signed notes and cosignatures against the Go sumdb note test vectors
//! and the C2SP tlog-cosignature example (`c2sp-note/vectors.json`).

use arxi_format::note::{Checkpoint, Note, NoteError, NoteSigner, SignatureType, VerifierKey};

fn vectors() -> serde_json::Value {
    super::read_json("c2sp-note/vectors.json")
}

fn text(value: &serde_json::Value) -> &str {
    value.as_str().expect("vector field is a string")
}

#[test]
fn go_signer_reproduces_the_published_signature_byte_for_byte() {
    let v = vectors();
    let note = &v["signed_note"];
    let signer = NoteSigner::parse(text(&note["signer_key"])).unwrap();
    assert_eq!(signer.verifier().kind(), SignatureType::Ed25519);
    assert_eq!(
        signer.verifier().to_string(),
        text(&note["verifier_keys"]["PeterNeumann"])
    );
    let line = signer.sign(text(&note["text"]), 0).unwrap();
    assert_eq!(
        line.to_string(),
        text(&note["signature_lines"]["PeterNeumann"])
    );
    let mut signed = Note::new(text(&note["text"]).to_owned()).unwrap();
    signed.add_signature(line).unwrap();
    assert_eq!(signed.to_string(), text(&note["signed_by_peter"]));
    assert_eq!(
        signer.to_private_text().as_deref(),
        Some(text(&note["signer_key"]))
    );
}

#[test]
fn published_notes_verify_under_their_keys_only() {
    let v = vectors();
    let note = &v["signed_note"];
    let peter = VerifierKey::parse(text(&note["verifier_keys"]["PeterNeumann"])).unwrap();
    let enoch = VerifierKey::parse(text(&note["verifier_keys"]["EnochRoot"])).unwrap();
    assert_eq!(format!("{:08x}", peter.id()), "c74f20a3");
    assert_eq!(format!("{:08x}", enoch.id()), "af0cfe78");

    let both = format!(
        "{}\n{}{}",
        text(&note["text"]),
        text(&note["signature_lines"]["PeterNeumann"]),
        text(&note["signature_lines"]["EnochRoot"])
    );
    let parsed = Note::parse(both.as_bytes()).unwrap();
    assert_eq!(parsed.text(), text(&note["text"]));
    let verified = parsed.verify(&[peter.clone(), enoch.clone()]).unwrap();
    let names: Vec<&str> = verified.iter().map(|v| v.key.name()).collect();
    assert_eq!(names, ["PeterNeumann", "EnochRoot"]);
    assert_eq!(
        parsed.verify(std::slice::from_ref(&enoch)).unwrap().len(),
        1
    );

    let only_peter = Note::parse(text(&note["signed_by_peter"]).as_bytes()).unwrap();
    assert_eq!(
        only_peter.verify(&[enoch]),
        Err(NoteError::NoKnownSignature)
    );
    let tampered = text(&note["signed_by_peter"]).replacen("cryptography", "cryptographY", 1);
    assert!(matches!(
        Note::parse(tampered.as_bytes()).unwrap().verify(&[peter]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn malformed_verifier_keys_are_rejected() {
    let v = vectors();
    let bad = v["signed_note"]["must_reject_verifier_keys"]
        .as_array()
        .unwrap();
    assert!(!bad.is_empty());
    for key in bad {
        assert!(VerifierKey::parse(text(key)).is_err(), "{key}");
    }
}

#[test]
fn published_cosignature_has_the_c2sp_layout() {
    let v = vectors();
    let example = text(&v["cosignature_example"]["checkpoint_with_cosignature"]);
    let note = Note::parse(example.as_bytes()).unwrap();
    let checkpoint = Checkpoint::parse(note.text()).unwrap();
    assert_eq!(checkpoint.origin, "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size, 20_852_163);
    assert_eq!(checkpoint.text(), note.text());
    let [log, witness] = note.signatures() else {
        panic!("two signature lines expected");
    };
    assert_eq!(log.name(), "example.com/behind-the-sofa");
    assert_eq!(log.signature().len(), 64);
    assert_eq!(witness.name(), "witness.example.com/w1");
    // 4-byte key ID || 8-byte big-endian timestamp || 64-byte signature; the
    // timestamp is the one the specification's signed-message example shows.
    assert_eq!(witness.signature().len(), 8 + 64);
    assert_eq!(witness.cosignature_time(), Some(1_679_315_147));
}
