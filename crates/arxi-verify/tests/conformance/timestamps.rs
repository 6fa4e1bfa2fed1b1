//! Timestamp tokens (`bundles/timestamps/`, format section 11.9, rule T):
//! the golden history with an RFC 3161 token after every seal (a version 5
//! container with `T` records), from the test TSAs of `keys/tsa/`.
//!
//! The test TSAs (`arxi_testkit::tsa`) are a CA and the TSA certificate
//! it issues, ECDSA P-256 with fixed keys, valid 2000 to 2049:
//! `arxi test TSA` (trusted in most cases: `keys/tsa/root.pem`, its CA;
//! `keys/tsa/tsa.pem`, the TSA's own certificate), `other TSA` (another
//! CA: untrusted), and `server TSA`, whose certificate allows server
//! authentication instead of timestamping. Tokens are issued 2 seconds
//! after each seal's `sealed_at` unless a case says otherwise.

use arxi_format::Hash32;
use arxi_format::bundle::Tag;
use arxi_format::checkpoint_stamp::{CheckpointStamp, LOG_TIMESTAMPED};
use arxi_format::envelope::{Kind, Payload};
use arxi_format::merkle;
use arxi_format::note::{Checkpoint, Note, NoteSigner, SignatureType};
use arxi_format::seal::{Seal, envelope_leaf};
use arxi_format::timestamp::TimestampRecord;
use arxi_testkit::tsa::{TestTsa, Usage};

use super::Suite;
use super::bundle::Bundle;
use super::history::{RECORDER_ID, Rec, key};
use super::proofs::{golden_proof, proof_case};

/// The trusted TSA, another CA's TSA, and a TSA certificate for another
/// purpose.
fn trusted() -> TestTsa {
    TestTsa::new("arxi test TSA", 0x41, Usage::Timestamping)
}

fn other() -> TestTsa {
    TestTsa::new("other TSA", 0x51, Usage::Timestamping)
}

fn server() -> TestTsa {
    TestTsa::new("server TSA", 0x61, Usage::ServerAuth)
}

/// The seal records of `bundle`: (index, seal).
fn seals(bundle: &Bundle) -> Vec<(usize, Seal)> {
    bundle
        .records
        .iter()
        .enumerate()
        .filter(|(_, record)| record.tag == Tag::Seal)
        .map(|(index, record)| (index, Seal::parse(&record.payload).expect("a seal")))
        .collect()
}

/// A `T` record of `tsa` over `imprint` at `gen_time` (Unix seconds).
fn record(tsa: &TestTsa, name: &str, imprint: &Hash32, gen_time: u64, serial: u64) -> Rec {
    let token = tsa.token(imprint, gen_time, serial);
    let record = TimestampRecord {
        tsa: name.to_owned(),
        token,
    };
    Rec::new(Tag::Timestamp, record.to_canonical_bytes())
}

fn seconds(seal: &Seal) -> u64 {
    u64::try_from(seal.body.sealed_at.unix_micros() / 1_000_000).expect("after 1970")
}

/// The golden bundle with a token after the seals `which` picks: `token`
/// makes it from the seal and its position.
fn stamped(which: impl Fn(u64) -> bool, token: impl Fn(usize, &Seal) -> Rec) -> Bundle {
    let mut bundle = Bundle::golden();
    let seals = seals(&bundle);
    for (position, (index, seal)) in seals.iter().enumerate().rev() {
        if which(seal.body.segment_id) {
            bundle.records.insert(index + 1, token(position, seal));
        }
    }
    bundle
}

/// Every seal stamped by `tsa`, `delay` seconds after its `sealed_at`.
fn all_by(tsa: &TestTsa, delay: u64) -> Bundle {
    stamped(
        |_| true,
        |position, seal| {
            let serial = position as u64 + 1;
            record(tsa, "tsa-1", &seal.hash, seconds(seal) + delay, serial)
        },
    )
}

/// A case of `bundles/timestamps/` under keys A and B and the TSA
/// certificates `tsa_certs` (names under `keys/tsa/`).
fn case(
    suite: &mut Suite,
    (name, description): (&str, &str),
    bytes: Vec<u8>,
    (tsa_certs, required, tolerance): (&[&str], bool, Option<u64>),
    codes: &[&'static str],
) {
    let path = format!("bundles/timestamps/{name}.arxb");
    if !suite.files.contains_key(&path) {
        suite.file(path.clone(), bytes);
    }
    suite.verify(name, description, &[path.as_str()], &["a", "b"], codes);
    let case = suite.cases.last_mut().expect("just added");
    case.tsa_certs = tsa_certs
        .iter()
        .map(|name| format!("keys/tsa/{name}.pem"))
        .collect();
    case.require_timestamp = required;
    case.timestamp_tolerance = tolerance;
}

/// The TSA certificates and the timestamp cases.
pub(crate) fn timestamps(suite: &mut Suite) {
    suite.file(
        "keys/tsa/root.pem".into(),
        trusted().root_pem().into_bytes(),
    );
    suite.file(
        "keys/tsa/tsa.pem".into(),
        trusted().certificate_pem().into_bytes(),
    );
    suite.file(
        "keys/tsa/other-root.pem".into(),
        other().root_pem().into_bytes(),
    );
    suite.file(
        "keys/tsa/server-root.pem".into(),
        server().root_pem().into_bytes(),
    );
    policies(suite);
    tokens(suite);
    records(suite);
    proofs(suite);
    checkpoints(suite);
}

/// A proof case: name, description, the proof file, TSA certificates,
/// `--require-timestamp`, codes.
type ProofCase = (
    &'static str,
    &'static str,
    Vec<u8>,
    &'static [&'static str],
    bool,
    &'static [&'static str],
);

/// The proof of envelope 10 (`proofs/`) carrying its seal's tokens.
fn proofs(suite: &mut Suite) {
    let golden = golden_proof();
    let stamp = |tsa: &TestTsa, imprint: &Hash32| TimestampRecord {
        tsa: "tsa-1".into(),
        token: tsa.token(imprint, seconds(&golden.seal) + 2, 1),
    };
    let with = |timestamps: Vec<TimestampRecord>| {
        let mut proof = golden.clone();
        proof.timestamps = timestamps;
        let mut bytes = proof.to_canonical_bytes();
        bytes.push(b'\n');
        bytes
    };
    let hash = golden.seal.hash;
    let cases: [ProofCase; 5] = [
        (
            "stamped",
            "the proof of envelope 10 with its seal's token from the trusted TSA, under --require-timestamp",
            with(vec![stamp(&trusted(), &hash)]),
            &["root"],
            true,
            &[],
        ),
        (
            "stamped-by-another-tsa",
            "the same proof checked against another CA only",
            with(vec![stamp(&trusted(), &hash)]),
            &["other-root"],
            false,
            &["timestamp_untrusted"],
        ),
        (
            "unstamped-required",
            "the proof of envelope 10 without tokens, under --require-timestamp",
            with(Vec::new()),
            &["root"],
            true,
            &["timestamp_missing"],
        ),
        (
            "token-over-another-hash",
            "the proof with a token over the previous seal's hash",
            with(vec![stamp(&trusted(), &golden.seal.body.prev_seal_hash)]),
            &["root"],
            false,
            &["timestamp_imprint_mismatch"],
        ),
        (
            "two-tokens-one-trusted",
            "the proof with a token from another TSA and one from the trusted TSA, under --require-timestamp",
            with(vec![stamp(&other(), &hash), stamp(&trusted(), &hash)]),
            &["root"],
            true,
            &["timestamp_untrusted"],
        ),
    ];
    for (name, description, bytes, certs, required, codes) in cases {
        let name = format!("timestamps-{name}");
        let exit = u8::from(!codes.is_empty());
        proof_case(suite, &name, description, bytes, &["a"], codes, exit);
        let case = suite.cases.last_mut().expect("just added");
        case.tsa_certs = certs
            .iter()
            .map(|name| format!("keys/tsa/{name}.pem"))
            .collect();
        case.require_timestamp = required;
    }
}

/// A case of the honest bundle: name, description, TSA certificates,
/// `--require-timestamp`, codes.
type PolicyCase = (
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    &'static [&'static str],
);

/// The honest bundle under each policy.
fn policies(suite: &mut Suite) {
    let honest = all_by(&trusted(), 2).bytes();
    let root: &[&str] = &["root"];
    let cases: [PolicyCase; 6] = [
        (
            "stamped",
            "every seal stamped by the trusted TSA, checked against its CA",
            root,
            false,
            &[],
        ),
        (
            "stamped-trusting-the-tsa-certificate",
            "the same bundle, the TSA's own certificate trusted instead of its CA",
            &["tsa"],
            false,
            &[],
        ),
        (
            "stamped-without-tsa-certificates",
            "the same bundle with no TSA certificate given: the tokens are checked (imprint, signature, time) but not judged on trust",
            &[],
            false,
            &[],
        ),
        (
            "stamped-required",
            "the same bundle under --require-timestamp: every seal carries a trusted token",
            root,
            true,
            &[],
        ),
        (
            "stamped-by-another-tsa",
            "the same bundle checked against another CA only: every token is from an untrusted TSA",
            &["other-root"],
            false,
            &["timestamp_untrusted"],
        ),
        (
            "stamped-required-by-another-tsa",
            "the same bundle under --require-timestamp with another CA only: no seal carries a trusted token",
            &["other-root"],
            true,
            &["timestamp_untrusted", "timestamp_missing"],
        ),
    ];
    for (name, description, certs, required, codes) in cases {
        case(
            suite,
            (name, description),
            honest.clone(),
            (certs, required, None),
            codes,
        );
    }
    // `T` is a tag of container version 5 (rule F2).
    let mut version_4 = honest.clone();
    let preamble = b"ARXI-BUNDLE 5\n";
    assert!(
        version_4.starts_with(preamble),
        "a stamped bundle is version 5"
    );
    version_4[preamble.len() - 2] = b'4';
    case(
        suite,
        (
            "stamped-as-version-4",
            "the stamped bundle with the preamble of container version 4, where T is no tag: reading stops at the first token",
        ),
        version_4,
        (root, false, None),
        &["bad_record", "manifest_mismatch"],
    );
    let unstamped = Bundle::golden().bytes();
    case(
        suite,
        (
            "unstamped-required",
            "the golden bundle (no T record) under --require-timestamp",
        ),
        unstamped,
        (root, true, None),
        &["timestamp_missing"],
    );
    let last_only = stamped(
        |segment| segment == 5,
        |_, seal| record(&trusted(), "tsa-1", &seal.hash, seconds(seal) + 2, 1),
    );
    case(
        suite,
        (
            "last-seal-stamped-required",
            "only the seal of segment 5 stamped, under --require-timestamp: segments 1 to 4 are not",
        ),
        last_only.bytes(),
        (root, true, None),
        &["timestamp_missing"],
    );
    let two = stamped(
        |_| true,
        |position, seal| {
            record(
                &other(),
                "tsa-2",
                &seal.hash,
                seconds(seal) + 1,
                position as u64 + 1,
            )
        },
    );
    let mut both = two.clone();
    let seals = seals(&both);
    for (position, (index, seal)) in seals.iter().enumerate().rev() {
        let token = record(
            &trusted(),
            "tsa-1",
            &seal.hash,
            seconds(seal) + 2,
            position as u64 + 1,
        );
        both.records.insert(index + 2, token);
    }
    case(
        suite,
        (
            "two-tsas-one-trusted",
            "every seal stamped by an untrusted TSA and by the trusted one: the untrusted tokens are findings, the requirement is met",
        ),
        both.bytes(),
        (root, true, None),
        &["timestamp_untrusted"],
    );
}

/// Tokens that break rules T2 to T5.
fn tokens(suite: &mut Suite) {
    let root: &[&str] = &["root"];
    let previous = stamped(
        |_| true,
        |position, seal| {
            let imprint = if position == 0 {
                Hash32::of(b"another seal")
            } else {
                seal.body.prev_seal_hash
            };
            record(&trusted(), "tsa-1", &imprint, seconds(seal) + 2, 1)
        },
    );
    case(
        suite,
        (
            "over-another-hash",
            "every token is over another hash than its seal's (the previous seal's, or another)",
        ),
        previous.bytes(),
        (root, false, None),
        &["timestamp_imprint_mismatch"],
    );
    let late = stamped(
        |segment| segment == 3,
        |_, seal| record(&trusted(), "tsa-1", &seal.hash, seconds(seal) + 301, 1),
    );
    case(
        suite,
        (
            "late-token",
            "the token of seal 3 is 301 seconds after its sealed_at (the tolerance is 300)",
        ),
        late.bytes(),
        (root, false, None),
        &["timestamp_time_skew"],
    );
    case(
        suite,
        (
            "late-token-tolerated",
            "the same bundle with a tolerance of 301 seconds",
        ),
        late.bytes(),
        (root, false, Some(301)),
        &[],
    );
    let early = stamped(
        |segment| segment == 3,
        |_, seal| record(&trusted(), "tsa-1", &seal.hash, seconds(seal) - 400, 1),
    );
    case(
        suite,
        (
            "early-token",
            "the token of seal 3 is 400 seconds before its sealed_at: the seal's time is not what the TSA saw",
        ),
        early.bytes(),
        (root, false, None),
        &["timestamp_time_skew"],
    );
    let server = stamped(
        |_| true,
        |position, seal| {
            record(
                &server(),
                "tsa-1",
                &seal.hash,
                seconds(seal) + 2,
                position as u64 + 1,
            )
        },
    );
    case(
        suite,
        (
            "not-a-timestamping-certificate",
            "every token signed under a certificate (issued by the trusted CA) that allows server authentication, not timestamping",
        ),
        server.bytes(),
        (&["server-root"], false, None),
        &["timestamp_untrusted"],
    );
    let mut signature = all_by(&trusted(), 2);
    let index = signature.nth(Tag::Timestamp, 1);
    signature.edit_record(index, |payload| {
        let mut record = TimestampRecord::parse(payload).expect("a T record");
        let last = record.token.len() - 1;
        record.token[last] ^= 0x01;
        *payload = record.to_canonical_bytes();
    });
    case(
        suite,
        (
            "token-signature-altered",
            "the last byte of the second token's signature altered",
        ),
        signature.bytes(),
        (root, false, None),
        &["timestamp_signature_invalid"],
    );
    let mut content = all_by(&trusted(), 2);
    let index = content.nth(Tag::Timestamp, 1);
    content.edit_record(index, |payload| {
        let mut record = TimestampRecord::parse(payload).expect("a T record");
        // The genTime: a GeneralizedTime of 15 bytes, YYYYMMDDHHMMSSZ; its
        // last digit moved by one second.
        let at = record
            .token
            .windows(17)
            .position(|w| {
                w[..2] == [0x18, 0x0f] && w[2..16].iter().all(u8::is_ascii_digit) && w[16] == b'Z'
            })
            .expect("a GeneralizedTime");
        record.token[at + 15] ^= 0x01;
        *payload = record.to_canonical_bytes();
    });
    case(
        suite,
        (
            "token-time-altered",
            "the second token's genTime altered after it was signed: its digest is not the signed one",
        ),
        content.bytes(),
        (root, false, None),
        &["timestamp_signature_invalid"],
    );
}

/// Records out of place or malformed.
fn records(suite: &mut Suite) {
    let root: &[&str] = &["root"];
    let mut misplaced = all_by(&trusted(), 2);
    let index = misplaced.nth(Tag::Timestamp, 0);
    let record = misplaced.records.remove(index);
    misplaced.records.insert(index - 1, record);
    case(
        suite,
        (
            "timestamp-before-its-seal",
            "the first T record moved before its seal (after an envelope)",
        ),
        misplaced.bytes(),
        (root, false, None),
        &["timestamp_out_of_place"],
    );
    let mut garbage = all_by(&trusted(), 2);
    let index = garbage.nth(Tag::Timestamp, 2);
    garbage.edit_record(index, |payload| {
        *payload = TimestampRecord {
            tsa: "tsa-1".into(),
            token: b"not a token".to_vec(),
        }
        .to_canonical_bytes();
    });
    case(
        suite,
        (
            "timestamp-not-a-token",
            "the third T record's token is not DER",
        ),
        garbage.bytes(),
        (root, false, None),
        &["timestamp_malformed"],
    );
    let mut loose = all_by(&trusted(), 2);
    let index = loose.nth(Tag::Timestamp, 3);
    loose.edit_record(index, |payload| {
        let text = String::from_utf8(payload.clone()).expect("utf-8");
        *payload = text.replace("\"v\":1", "\"v\":1,\"x\":0").into_bytes();
    });
    case(
        suite,
        (
            "timestamp-unknown-member",
            "the fourth T record has a member the format does not define",
        ),
        loose.bytes(),
        (root, false, None),
        &["timestamp_malformed"],
    );
}

/// The envelope the checkpoint cases turn into an `arxi.log.timestamped`
/// envelope (an `orders.placed` event of segment 3), and the size of the
/// checkpoint it stamps (segments 1 and 2).
const STAMP_SEQ: u64 = 15;
const STAMPED_SIZE: u64 = 12;

/// How a checkpoint case differs from the one that holds.
#[derive(Clone, Copy, Default)]
struct StampEdit {
    /// The checkpoint's size (default [`STAMPED_SIZE`]).
    size: Option<u64>,
    /// The root of another history of that size (another last envelope).
    other_root: bool,
    /// The token over another hash.
    other_imprint: bool,
    /// The token's genTime after the envelope's received_at, in seconds
    /// (default: 1 second before it).
    delay: Option<i64>,
    /// Issued by the other CA's TSA.
    other_tsa: bool,
}

/// The golden history with envelope [`STAMP_SEQ`] recording a token over
/// the checkpoint of its first envelopes, as `edit` says.
fn checkpoint_stamped(edit: StampEdit) -> Bundle {
    let golden = Bundle::golden();
    let hashes: Vec<Hash32> = golden
        .records
        .iter()
        .filter(|record| record.tag == Tag::Envelope)
        .map(|record| record.envelope().hash)
        .collect();
    let size = edit.size.unwrap_or(STAMPED_SIZE);
    let mut leaves: Vec<Hash32> = hashes[..usize::try_from(size).expect("small")]
        .iter()
        .map(envelope_leaf)
        .collect();
    if edit.other_root {
        *leaves.last_mut().expect("a leaf") = envelope_leaf(&Hash32::of(b"another last envelope"));
    }
    let origin = format!("arxi/{RECORDER_ID}");
    let signer = NoteSigner::new(&origin, SignatureType::Ed25519, key("a")).expect("name");
    let mut note =
        Note::new(Checkpoint::new(&origin, size, merkle::root(&leaves)).text()).expect("text");
    note.sign(&signer, 0).expect("signs");
    let imprint = if edit.other_imprint {
        Hash32::of(b"another checkpoint")
    } else {
        Hash32::of(note.text().as_bytes())
    };
    let received = golden.records[golden.envelope_index(STAMP_SEQ)]
        .envelope()
        .body
        .received_at;
    let seconds = received.unix_micros() / 1_000_000 + edit.delay.unwrap_or(-1);
    let tsa = if edit.other_tsa { other() } else { trusted() };
    let stamp = CheckpointStamp {
        checkpoint: note.to_string(),
        inclusion_proof: merkle::inclusion_proof(&leaves, size - 1).expect("proof"),
        token: tsa.token(&imprint, u64::try_from(seconds).expect("after 1970"), 7),
        tsa: "tsa-checkpoints".into(),
    };
    let payload = stamp.to_canonical();
    golden.rewrite(move |body| {
        if body.seq == STAMP_SEQ {
            body.kind = Kind::Control;
            body.event_type = LOG_TIMESTAMPED.into();
            body.actor = None;
            body.payload = Payload::Inline(payload.clone());
        }
    })
}

/// Checkpoint tokens (rule TC): one that holds, and one case per finding.
fn checkpoints(suite: &mut Suite) {
    let root: &[&str] = &["root"];
    let cases: [(&str, &str, StampEdit, &[&'static str]); 6] = [
        (
            "checkpoint-stamped",
            "envelope 15 records a token of a trusted TSA over the checkpoint of envelopes 1 to 12, issued a second before it",
            StampEdit::default(),
            &[],
        ),
        (
            "checkpoint-of-another-history",
            "the stamped checkpoint's tree ends in another envelope 12 than this chain's: the proof from this chain's envelope 12 does not lead to its root",
            StampEdit {
                other_root: true,
                ..StampEdit::default()
            },
            &["timestamp_checkpoint_mismatch"],
        ),
        (
            "checkpoint-token-over-another-hash",
            "the token recorded with the checkpoint is over another hash than the checkpoint text's",
            StampEdit {
                other_imprint: true,
                ..StampEdit::default()
            },
            &["timestamp_imprint_mismatch"],
        ),
        (
            "checkpoint-token-late",
            "the checkpoint's token is dated 301 seconds after the received_at of the envelope recording it",
            StampEdit {
                delay: Some(301),
                ..StampEdit::default()
            },
            &["timestamp_time_skew"],
        ),
        (
            "checkpoint-token-untrusted",
            "the checkpoint's token is signed by a TSA of another CA",
            StampEdit {
                other_tsa: true,
                ..StampEdit::default()
            },
            &["timestamp_untrusted"],
        ),
        (
            "checkpoint-not-before-its-record",
            "envelope 15 records a checkpoint of 15 envelopes: itself included",
            StampEdit {
                size: Some(STAMP_SEQ),
                ..StampEdit::default()
            },
            &["timestamp_malformed"],
        ),
    ];
    for (name, description, edit, codes) in cases {
        let bytes = checkpoint_stamped(edit).bytes();
        case(
            suite,
            (name, description),
            bytes,
            (root, false, None),
            codes,
        );
    }
}
