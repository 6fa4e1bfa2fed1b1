//! A signing key held outside the process (`arxi_format::Signer::External`,
//! what a PKCS#11 token is to the recorder) that refuses mid-run: every
//! command whose plan needs a signature is refused with
//! `CommandError::SignerUnavailable`, nothing of it is written (no sequence
//! number is used up, no unsigned or half-signed row lands), and the
//! recorder signs again as soon as the key answers, with the chain whole.
//! A key that answers with a signature that does not verify counts as a
//! refusal. A stop while the key is gone still stops the engine.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use arxi_format::{ExternalKey, PublicKey, Signer, SignerError};
use arxi_recorder::{CommandError, Outcome, RecorderEngine};
use ed25519_dalek::Signer as _;
use serde_json::json;
use support::*;

/// What the test key does when asked to sign.
const ANSWERS: u8 = 0;
const REFUSES: u8 = 1;
const ANSWERS_GARBAGE: u8 = 2;
/// Refuses the next signature, then answers.
const REFUSES_ONCE: u8 = 3;

struct TestToken {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
    mode: AtomicU8,
}

impl TestToken {
    fn new(seed: u8) -> Arc<Self> {
        let secret = key(seed);
        Arc::new(Self {
            key: ed25519_dalek::SigningKey::from_bytes(&arxi_format::Hash32::of(&[seed]).0),
            public: secret.public().clone(),
            mode: AtomicU8::new(ANSWERS),
        })
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

impl ExternalKey for TestToken {
    fn public(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        let refused_once = self
            .mode
            .compare_exchange(REFUSES_ONCE, ANSWERS, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if refused_once {
            return Err(SignerError("token busy".into()));
        }
        match self.mode.load(Ordering::SeqCst) {
            ANSWERS => Ok(self.key.sign(message).to_bytes()),
            ANSWERS_GARBAGE => Ok([7; 64]),
            _ => Err(SignerError("token removed".into())),
        }
    }

    fn check(&self) -> Result<(), SignerError> {
        match self.mode.load(Ordering::SeqCst) {
            REFUSES => Err(SignerError("token removed".into())),
            _ => Ok(()),
        }
    }
}

fn open_with(path: &std::path::Path, token: &Arc<TestToken>) -> RecorderEngine {
    let signer = Signer::External(Arc::clone(token) as Arc<dyn ExternalKey>);
    RecorderEngine::open(path, config(), signer, Arc::new(arxi_recorder::SystemClock))
        .expect("opens")
}

fn refused<T: std::fmt::Debug>(result: Result<T, CommandError>) {
    match result {
        Err(CommandError::SignerUnavailable(reason)) => assert!(!reason.is_empty()),
        other => panic!("expected SignerUnavailable, got {other:?}"),
    }
}

fn done<T: std::fmt::Debug>(outcome: Outcome<T>) -> T {
    match outcome {
        Outcome::Done { value, .. } => value,
        other => panic!("expected a fresh result, got {other:?}"),
    }
}

#[test]
fn a_refusing_key_records_nothing_and_the_chain_goes_on_when_it_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let token = TestToken::new(9);
    let engine = open_with(&path, &token);
    assert_eq!(engine.key_id(), token.public.id());
    let last = append(&engine, "orders.placed", json!({"n": 1})).seq;

    for mode in [REFUSES, ANSWERS_GARBAGE] {
        token.set(mode);
        refused(
            engine
                .append(request("orders.placed", json!({"n": 2})))
                .expect("queued")
                .wait(),
        );
        let batch = (0..20)
            .map(|n| request("orders.placed", json!({"batch": n})))
            .collect();
        refused(engine.append_batch(batch, None).expect("queued").wait());
        let mut keyed = request("orders.placed", json!({"n": 3}));
        keyed.idempotency = Some(idempotent("retry-me", b"n=3"));
        refused(engine.append(keyed).expect("queued").wait());
        refused(engine.seal(None).expect("queued").wait());
    }

    token.set(ANSWERS);
    let next = append(&engine, "orders.placed", json!({"n": 4}));
    assert_eq!(next.seq, last + 1, "the refused commands used no seq");
    // The idempotency key of a refused request was never recorded: the
    // same key now records fresh.
    let mut keyed = request("orders.placed", json!({"n": 3}));
    keyed.idempotency = Some(idempotent("retry-me", b"n=3"));
    let receipt = done(
        engine
            .append(keyed)
            .expect("queued")
            .wait()
            .expect("recorded"),
    );
    assert_eq!(receipt.seq, last + 2);
    done(engine.seal(None).expect("queued").wait().expect("sealed"));
    engine.shutdown().expect("shutdown");
    drop(engine);
    let (envelopes, seals) = verify_all(&path);
    assert!(envelopes > receipt.seq && seals == 1, "{envelopes} {seals}");
}

#[test]
fn a_stop_while_the_key_is_gone_stops_and_the_next_start_signs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let token = TestToken::new(11);
    let engine = open_with(&path, &token);
    let last = append(&engine, "orders.placed", json!({"n": 1})).seq;
    token.set(REFUSES);
    refused(engine.shutdown());
    assert!(!engine.is_running());
    drop(engine);

    // Opening needs signatures too (the start is recorded).
    assert!(
        matches!(
            RecorderEngine::open(
                &path,
                config(),
                Signer::External(Arc::clone(&token) as Arc<dyn ExternalKey>),
                Arc::new(arxi_recorder::SystemClock),
            ),
            Err(arxi_recorder::OpenError::Signer(_))
        ),
        "no start without a signature"
    );
    token.set(ANSWERS);
    let engine = open_with(&path, &token);
    let next = append(&engine, "orders.placed", json!({"n": 2}));
    assert!(next.seq > last);
    engine.shutdown().expect("shutdown");
    drop(engine);
    verify_all(&path);
}

/// The stop's own signature is refused, the signatures after it are made:
/// the engine stops without its stop record, and nothing it writes on the
/// way out (the signed head above all) names the refused state, so the
/// next start opens (a head beyond the database would refuse it).
#[test]
fn a_stop_refused_once_leaves_a_head_the_database_reaches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("arxi.db");
    let token = TestToken::new(12);
    let engine = open_with(&path, &token);
    for n in 0..5 {
        append(&engine, "orders.placed", json!({"n": n}));
    }
    token.set(REFUSES_ONCE);
    refused(engine.shutdown());
    drop(engine);
    let engine = open_with(&path, &token);
    append(&engine, "orders.placed", json!({"n": 5}));
    engine.shutdown().expect("shutdown");
    drop(engine);
    verify_all(&path);
}
