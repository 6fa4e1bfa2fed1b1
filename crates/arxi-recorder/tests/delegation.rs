//! Delegated envelope keys on a real recorder history (`Docs/format.md`
//! §3.1): the configured key is the root; it certifies a key made in
//! memory at every start and rotation, which signs envelopes and seals.
//! A bundle verifies under the root alone, across rotations and restarts;
//! a root that cannot sign when a rotation is due leaves the key in force
//! signing while its window lasts, and only then are writes refused; a
//! revocation of the key in force is signed by the next one; the database
//! verifies whole at every open.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arxi_format::delegation::{Delegation, KEY_DELEGATED, KeyDelegated};
use arxi_format::revocation::KeyRevocation;
use arxi_format::{ExternalKey, PublicKey, SecretKey, Signer, SignerError};
use arxi_recorder::{CommandError, DelegationPolicy, Outcome, RecorderEngine};
use arxi_verify::{Options, Report, verify_bundle};
use serde_json::json;
use support::*;

/// A root held "elsewhere" that can be told to refuse: `key(1)`.
struct Root {
    key: SecretKey,
    dalek: ed25519_dalek::SigningKey,
    refuses: AtomicBool,
}

impl ExternalKey for Root {
    fn public(&self) -> &PublicKey {
        self.key.public()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        if self.refuses.load(Ordering::SeqCst) {
            return Err(SignerError("root token removed".into()));
        }
        Ok(ed25519_dalek::Signer::sign(&self.dalek, message).to_bytes())
    }

    fn check(&self) -> Result<(), SignerError> {
        Ok(())
    }
}

fn delegating(rotate_envelopes: u64, dir: &Path) -> arxi_recorder::RecorderConfig {
    let mut config = config();
    config.bundle_dir = Some(dir.join("bundles"));
    config.batch_commands_max = 4;
    config.batch_envelopes_max = 4;
    config.delegation = Some(DelegationPolicy {
        rotate_envelopes,
        rotate_after: Duration::from_secs(600),
    });
    config
}

fn open_root(
    path: &Path,
    config: arxi_recorder::RecorderConfig,
    root: impl Into<Signer>,
    clock: &Arc<ManualClock>,
) -> RecorderEngine {
    RecorderEngine::open(path, config, root, clock.clone()).expect("opens")
}

fn verify(bytes: &[u8], trusted: &[PublicKey]) -> Report {
    verify_bundle(bytes, trusted, &Options::default(), None)
}

fn codes(report: &Report) -> Vec<&'static str> {
    report.codes().iter().map(|code| code.as_str()).collect()
}

/// The delegations of the `arxi.key.delegated` envelopes of a bundle, in
/// chain order.
fn delegations(bytes: &[u8]) -> Vec<Delegation> {
    let mut reader = arxi_verify::reader::BundleReader::open(bytes).expect("a bundle");
    let mut found = Vec::new();
    while let Some(record) = reader.next_record().expect("reads") {
        if let arxi_verify::reader::Record::Json {
            tag: arxi_format::bundle::Tag::Envelope,
            payload,
        } = record
        {
            let envelope = arxi_format::Envelope::parse(&payload).expect("envelope");
            if envelope.body.event_type == KEY_DELEGATED {
                let payload = envelope.body.payload.inline().expect("inline").to_value();
                found.push(
                    KeyDelegated::from_payload(&payload)
                        .expect("payload")
                        .delegation,
                );
            }
        }
    }
    found
}

#[test]
fn delegated_keys_rotate_by_count_and_at_restart_and_verify_under_the_root_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let root = key(1);
    let engine = open_root(&path, delegating(10, dir.path()), root.clone(), &clock);
    assert_eq!(engine.key_id(), root.id(), "the engine names its root");
    let mut last_of_first_run = 0;
    for n in 0..25 {
        last_of_first_run = append(&engine, "orders.placed", json!({"n": n})).seq;
    }
    engine.seal(None).expect("queued").wait().expect("sealed");
    engine.shutdown().expect("shutdown");
    verify_all(&path);
    // A restart makes another delegated key; time rotates too.
    let engine = open_root(&path, delegating(1_000, dir.path()), root.clone(), &clock);
    let restarted = append(&engine, "orders.placed", json!({"n": 25}));
    clock.advance(Duration::from_secs(601));
    let after_time = append(&engine, "orders.placed", json!({"n": 26}));
    append(&engine, "orders.placed", json!({"n": 27}));
    engine.seal(None).expect("queued").wait().expect("sealed");
    let bundle = build_all(&engine);
    engine.shutdown().expect("shutdown");
    verify_all(&path);

    let bytes = std::fs::read(&bundle.path).expect("bundle");
    assert!(
        bytes.starts_with(b"ARXI-BUNDLE 4\n"),
        "a bundle with D records"
    );
    let report = verify(&bytes, &[root.public().clone()]);
    assert!(report.is_valid(), "{:#?}", report.findings);
    let chain = delegations(&bytes);
    // 25 data envelopes and the start records at 10 envelopes per key in
    // the first run (the start's key and at least two rotations), then
    // the restart's key and the time rotation's.
    let first_run = chain
        .iter()
        .filter(|d| d.body.first_seq <= last_of_first_run)
        .count();
    assert!(first_run >= 3, "{chain:#?}");
    let signer_of = |seq: u64| {
        chain
            .iter()
            .rev()
            .find(|d| d.body.first_seq <= seq)
            .expect("a delegation before")
    };
    let restart_key = signer_of(restarted.seq);
    assert_eq!(restart_key.body.key_id(), &restarted.key_id);
    assert!(restart_key.body.first_seq > last_of_first_run);
    let time_key = signer_of(after_time.seq);
    assert_eq!(time_key.body.key_id(), &after_time.key_id);
    assert_ne!(time_key.body.key_id(), restart_key.body.key_id());
    assert!(time_key.body.not_before > restart_key.body.not_before);
    for (earlier, later) in chain.iter().zip(&chain[1..]) {
        assert!(earlier.body.first_seq < later.body.first_seq);
        assert_ne!(earlier.body.key_id(), later.body.key_id());
        assert!(
            later.body.first_seq <= earlier.body.last_seq,
            "windows overlap"
        );
    }
    assert!(chain.iter().all(|d| d.body.root_key_id == *root.id()));
    // An inclusion proof cut from the bundle carries its key's delegation
    // and holds under the root with it, not without.
    let proof = arxi_verify::prove_from_bundle(bytes.as_slice(), after_time.seq).expect("proof");
    assert_eq!(proof.delegations, vec![time_key.clone()]);
    let proof_bytes = proof.to_canonical_bytes();
    let mut trusted = arxi_verify::trusted_keys(&[root.public().to_hex()]).expect("root");
    trusted
        .delegate(&proof.delegations[0])
        .expect("delegated by the root");
    let no_policy = arxi_verify::TimestampPolicy::default();
    let held =
        arxi_verify::check_proof_file(&proof_bytes, &trusted.keys, &trusted.windows, &no_policy)
            .expect("checks");
    assert!(held.is_valid(), "{:?}", held.failures);
    let alone = arxi_verify::check_proof_file(
        &proof_bytes,
        &[root.public().clone()],
        &arxi_verify::KeyWindows::new(),
        &no_policy,
    )
    .expect("checks");
    assert!(!alone.is_valid());
    let mut other_root = arxi_verify::trusted_keys(&[key(9).public().to_hex()]).expect("key");
    assert!(other_root.delegate(&proof.delegations[0]).is_err());
    // A bundle trusted under another root: every delegated key untrusted.
    let report = verify(&bytes, &[key(9).public().clone()]);
    assert!(
        codes(&report).contains(&"envelope_untrusted_key"),
        "{report:#?}"
    );
    assert!(
        codes(&report).contains(&"seal_untrusted_key"),
        "{report:#?}"
    );
}

#[test]
fn a_root_that_cannot_sign_leaves_the_key_in_force_until_its_window_is_spent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let root = Arc::new(Root {
        key: key(1),
        dalek: ed25519_dalek::SigningKey::from_bytes(&arxi_format::Hash32::of(&[1]).0),
        refuses: AtomicBool::new(false),
    });
    let signer = Signer::External(Arc::clone(&root) as Arc<dyn ExternalKey>);
    let engine = open_root(&path, delegating(5, dir.path()), signer, &clock);
    append(&engine, "orders.placed", json!({"n": 0}));
    root.refuses.store(true, Ordering::SeqCst);
    // The rotation is due after 5; the window is 2 x 5 plus the most one
    // plan can add, so the key in force signs on for a while.
    let mut accepted = 0_u64;
    let refused = loop {
        let outcome = engine
            .append(request("orders.placed", json!({"n": accepted + 1})))
            .expect("queued")
            .wait();
        match outcome {
            Ok(_) => accepted += 1,
            Err(error) => break error,
        }
        assert!(accepted < 1_000, "the key in force signs forever");
    };
    assert!(accepted >= 5, "signed on past the rotation: {accepted}");
    assert!(
        matches!(refused, CommandError::SignerUnavailable(_)),
        "{refused:?}"
    );
    root.refuses.store(false, Ordering::SeqCst);
    append(&engine, "orders.placed", json!({"n": "back"}));
    engine.seal(None).expect("queued").wait().expect("sealed");
    let bundle = build_all(&engine);
    engine.shutdown().expect("shutdown");
    verify_all(&path);
    let bytes = std::fs::read(&bundle.path).expect("bundle");
    let report = verify(&bytes, &[root.key.public().clone()]);
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert_eq!(
        delegations(&bytes).len(),
        2,
        "the start's and the one after"
    );
}

#[test]
fn revoking_the_delegated_key_in_force_rotates_first_and_the_revocation_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let root = key(1);
    let engine = open_root(&path, delegating(1_000, dir.path()), root.clone(), &clock);
    let receipt = append(&engine, "orders.placed", json!({"n": 0}));
    let in_force = receipt.key_id.clone();
    assert_ne!(&in_force, root.id());
    let revoked = engine
        .revoke_key(
            &KeyRevocation {
                key_id: in_force.clone(),
                from_seq: receipt.seq + 1,
                reason: "the host was compromised".into(),
            },
            None,
        )
        .expect("queued")
        .wait()
        .expect("recorded");
    let Outcome::Done { value, .. } = revoked else {
        panic!("{revoked:?}");
    };
    assert_ne!(value.key_id, in_force, "signed by the next key");
    let after = append(&engine, "orders.placed", json!({"n": 1}));
    assert_eq!(after.key_id, value.key_id);
    engine.seal(None).expect("queued").wait().expect("sealed");
    let bundle = build_all(&engine);
    engine.shutdown().expect("shutdown");
    let bytes = std::fs::read(&bundle.path).expect("bundle");
    let report = verify(&bytes, &[root.public().clone()]);
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert!(report.revoked.contains_key(&in_force));
    // Revoking the root from the first delegation on revokes every key it
    // delegated: what they signed from there is reported.
    let options = Options {
        revoked: [(root.id().clone(), 1)].into_iter().collect(),
        ..Options::default()
    };
    let report = verify_bundle(bytes.as_slice(), &[root.public().clone()], &options, None);
    assert!(
        codes(&report).contains(&"key_revoked_signature"),
        "{:#?}",
        report.findings
    );
}

#[test]
fn a_delegation_the_root_did_not_sign_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let root = key(1);
    // The root signed the first envelopes itself, then delegated.
    let mut plain = delegating(1_000, dir.path());
    plain.delegation = None;
    let engine = open_root(&path, plain, root.clone(), &clock);
    append(&engine, "orders.placed", json!({"n": 0}));
    engine.shutdown().expect("shutdown");
    let engine = open_root(&path, delegating(1_000, dir.path()), root.clone(), &clock);
    append(&engine, "orders.placed", json!({"n": 1}));
    engine.seal(None).expect("queued").wait().expect("sealed");
    let bundle = build_all(&engine);
    engine.shutdown().expect("shutdown");
    let bytes = std::fs::read(&bundle.path).expect("bundle");
    // The D record's window widened: its hash no longer matches.
    let original = delegations(&bytes).remove(0);
    let mut widened = original.clone();
    widened.body.last_seq += 1_000;
    let tampered = replace(
        &bytes,
        &original.to_canonical_bytes(),
        &widened.to_canonical_bytes(),
    );
    let report = verify(&tampered, &[root.public().clone()]);
    assert!(
        codes(&report).contains(&"key_delegation_invalid"),
        "{:#?}",
        report.findings
    );
    assert!(!report.is_valid());
    // The root trusted only up to before the delegation: not used.
    let options = Options {
        windows: [(
            root.id().clone(),
            arxi_verify::SeqWindow::parse("..3").expect("window"),
        )]
        .into_iter()
        .collect(),
        ..Options::default()
    };
    let first_seq = original.body.first_seq;
    assert!(
        first_seq > 3,
        "the delegation starts after seq 3: {first_seq}"
    );
    let report = verify_bundle(bytes.as_slice(), &[root.public().clone()], &options, None);
    assert!(
        codes(&report).contains(&"key_outside_window"),
        "{:#?}",
        report.findings
    );
    assert!(codes(&report).contains(&"envelope_untrusted_key"));
    // A delegation signed by another key that claims to be the root.
    let mut forged_body = original.body.clone();
    forged_body.last_seq += 1;
    let forged = Delegation {
        hash: forged_body.compute_hash(),
        signature: key(7).sign(arxi_format::Domain::Delegation, &forged_body.compute_hash()),
        body: forged_body,
    };
    let tampered = replace(
        &bytes,
        &original.to_canonical_bytes(),
        &forged.to_canonical_bytes(),
    );
    let report = verify(&tampered, &[root.public().clone()]);
    assert!(codes(&report).contains(&"key_delegation_invalid"));
}

/// `bytes` with the first occurrence of `from` replaced by `to`, the
/// record header's length fixed (a bundle's trailer then no longer
/// matches: the verifier reports that too).
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|window| window == from)
        .expect("present");
    let header_start = bytes[..at - 1]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .expect("a header")
        + 1;
    let mut out = bytes[..header_start].to_vec();
    out.extend_from_slice(format!("D {}\n", to.len()).as_bytes());
    out.extend_from_slice(to);
    out.extend_from_slice(&bytes[at + from.len()..]);
    out
}

/// Root A delegates, the recorder restarts under root A2 and revokes A from
/// a seq A's delegated key signed past: that key is reported once, at the
/// revocation, for what it signed before it was read (rule D6), and
/// nothing else is.
#[test]
fn a_former_root_revoked_reports_what_its_delegated_keys_signed_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let clock = ManualClock::new(START_US);
    let engine = open_root(&path, delegating(1_000, dir.path()), key(1), &clock);
    let mut last_of_a = 0;
    for n in 0..5 {
        last_of_a = append(&engine, "orders.placed", json!({"n": n})).seq;
    }
    engine.shutdown().expect("shutdown");
    let engine = open_root(&path, delegating(1_000, dir.path()), key(2), &clock);
    // Root A signed nothing itself; it delegated the first run's key.
    let revoked = engine
        .revoke_key(
            &KeyRevocation {
                key_id: key(1).id().clone(),
                from_seq: last_of_a - 1,
                reason: "the old root's token was lost".into(),
            },
            None,
        )
        .expect("queued")
        .wait()
        .expect("recorded");
    let Outcome::Done {
        value: revocation, ..
    } = revoked
    else {
        panic!("{revoked:?}");
    };
    append(&engine, "orders.placed", json!({"n": "after"}));
    engine.seal(None).expect("queued").wait().expect("sealed");
    let bundle = build_all(&engine);
    engine.shutdown().expect("shutdown");
    let bytes = std::fs::read(&bundle.path).expect("bundle");
    let report = verify(&bytes, &[key(1).public().clone(), key(2).public().clone()]);
    assert_eq!(
        codes(&report),
        ["key_revoked_signature"],
        "{:#?}",
        report.findings
    );
    let seqs: Vec<Option<u64>> = report.findings.iter().map(|f| f.seq).collect();
    assert_eq!(seqs, [Some(revocation.seq)], "{:#?}", report.findings);
}
