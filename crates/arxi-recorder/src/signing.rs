//! Signing off the chain's critical path.
//!
//! Numbering, linking and hashing stay serial in the chain (`chain.rs`):
//! the hash an envelope is chained and committed by is over its body
//! without the signature, so the next envelope never waits for a
//! signature. The Ed25519 signature over that hash (most of the CPU an
//! envelope costs) and the signed canonical bytes are made here, for a
//! whole plan at once, spread over `signing_threads` threads (the
//! sequencer thread is one of them), before the plan goes to the committer.
//! The order of the plan, the chain and what a caller is told are decided
//! before this stage and do not change in it; nothing is durable before it
//! ends, so a crash during signing loses nothing acknowledged.
//!
//! Scoped threads per plan instead of a standing pool: a plan worth
//! splitting holds at least [`SPLIT_ENVELOPES_MIN`] envelopes (some 0.3 ms
//! of signing), against some 15 µs to start a thread; and a standing pool
//! would hold the signing key in more long-lived places.

use crate::plan::{Op, Plan, Signatures, Unsigned};
use arxi_format::envelope::Envelope;
use arxi_format::{Domain, Sign as _, Signature, Signer, SignerError};

/// What the `hash` and `signature` members add to an envelope's canonical
/// bytes: two members of fixed length (`"hash":"<64 hex>"`,
/// `"signature":"<128 hex>"`) and their two commas. The chain counts a
/// segment's bytes before the signature exists; signing checks the sum.
pub(crate) const AUTH_MEMBERS_BYTES: u64 = 2 + (8 + 64 + 1) + (13 + 128 + 1);

/// Fewer envelopes than this in a plan are signed on the sequencer thread
/// alone.
pub(crate) const SPLIT_ENVELOPES_MIN: usize = 16;

/// Signs every envelope of `plan` in place (each unsigned
/// `Op::InsertEnvelope` gets its signed bytes), on up to `threads` threads;
/// answers the signatures made, or why one could not be made (the plan
/// must then not be written: some envelopes stay unsigned).
pub(crate) fn sign_plan(
    plan: &mut Plan,
    key: &Signer,
    threads: usize,
) -> Result<Signatures, SignerError> {
    let waiting = plan
        .ops
        .iter()
        .filter(|op| {
            matches!(
                op,
                Op::InsertEnvelope {
                    unsigned: Some(_),
                    ..
                }
            )
        })
        .count();
    let threads = threads.clamp(1, (waiting / SPLIT_ENVELOPES_MIN).max(1));
    let retired = std::mem::take(&mut plan.retired);
    let keys: Vec<&Signer> = std::iter::once(key).chain(&retired).collect();
    let keys = keys.as_slice();
    if threads == 1 {
        return sign_ops_with(&mut plan.ops, keys);
    }
    // Chunks of about equal envelope counts (other ops are cheap).
    let chunk = plan.ops.len().div_ceil(threads);
    let results = std::thread::scope(|scope| {
        let mut chunks = plan.ops.chunks_mut(chunk);
        let own = chunks.next().expect("a plan with envelopes has ops");
        let others: Vec<_> = chunks
            .map(|other| {
                std::thread::Builder::new()
                    .name("arxi-signer".into())
                    .spawn_scoped(scope, move || sign_ops_with(other, keys))
                    .expect("a signing thread starts")
            })
            .collect();
        let mut results = vec![sign_ops_with(own, keys)];
        for other in others {
            results.push(other.join().expect("a signing thread does not panic"));
        }
        results
    });
    let mut made = Vec::new();
    for result in results {
        made.extend(result?.0);
    }
    made.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(Signatures(made))
}

/// Signs the unsigned envelopes among `ops`, in order. After an error the
/// ops are partly signed and must not be written (the plan fails whole).
pub(crate) fn sign_ops(ops: &mut [Op], key: &Signer) -> Result<Signatures, SignerError> {
    sign_ops_with(ops, &[key])
}

/// [`sign_ops`], each envelope signed by the one of `keys` it names (the
/// current key first, then any the plan gave up).
fn sign_ops_with(ops: &mut [Op], keys: &[&Signer]) -> Result<Signatures, SignerError> {
    let mut made = Vec::new();
    for op in ops {
        if let Op::InsertEnvelope { row, unsigned } = op
            && let Some(pending) = unsigned.take()
        {
            let key = keys
                .iter()
                .find(|key| key.id() == &pending.body.key_id)
                .unwrap_or(&keys[0]);
            let (bytes, signature) = sign(*pending, key)?;
            row.body = bytes;
            made.push((row.seq, signature));
        }
    }
    Ok(Signatures(made))
}

/// The signed canonical bytes of `pending`'s body and the signature.
fn sign(pending: Unsigned, key: &Signer) -> Result<(Vec<u8>, Signature), SignerError> {
    let Unsigned {
        body,
        hash,
        unsigned_length,
    } = pending;
    assert_eq!(
        &body.key_id,
        key.id(),
        "the chain names the key it signs with, so the ids agree"
    );
    let signature = key.sign_hash(Domain::Envelope, &hash)?;
    let envelope = Envelope {
        body,
        hash,
        signature,
    };
    let bytes = envelope.to_canonical_bytes();
    assert_eq!(
        bytes.len() as u64,
        unsigned_length + AUTH_MEMBERS_BYTES,
        "the hash and signature members have a fixed length, so segment byte counts hold"
    );
    Ok((bytes, envelope.signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    use arxi_format::envelope::{EnvelopeBody, Kind};
    use arxi_format::{CanonicalJson, ChainHead, Hash32, Timestamp};
    use arxi_store::EnvelopeRow;

    use crate::status::EngineStatus;

    /// A plan of `count` chained envelopes with mixed other ops, unsigned.
    fn plan(count: u64, key: &Signer) -> Plan {
        let status = EngineStatus {
            head_seq: 0,
            head_hash: Hash32::ZERO,
            open_segment: None,
            last_seal_hash: Hash32::ZERO,
            tree_root: None,
            failure: None,
        };
        let mut plan = Plan::new(1, 1, status);
        let mut head = ChainHead::GENESIS;
        for seq in 1..=count {
            let body = EnvelopeBody {
                recorder_id: "signing-test".into(),
                segment_id: 1,
                seq,
                received_at: Timestamp::from_unix_micros(1_700_000_000_000_000 + seq.cast_signed())
                    .expect("in range"),
                kind: Kind::Data,
                event_type: "a.b".into(),
                actor: (seq % 3 == 0).then(|| "actor".to_owned()),
                subject: None,
                payload: arxi_format::Payload::Inline(
                    CanonicalJson::from_value(
                        &serde_json::json!({"n": seq, "pad": "x".repeat(usize::try_from(seq % 50).expect("small"))}),
                    )
                    .expect("canonical"),
                ),
                attachments: Vec::new(),
                prev_hash: head.hash,
                key_id: key.id().clone(),
            };
            let unsigned = body.canonical_bytes();
            let hash = Hash32::of(&unsigned);
            head = ChainHead { seq, hash };
            plan.ops.push(Op::InsertEnvelope {
                row: EnvelopeRow {
                    seq,
                    segment_id: 1,
                    received_at_us: 0,
                    kind: 0,
                    event_type: "a.b".into(),
                    actor: None,
                    hash: hash.0,
                    body: Vec::new(),
                },
                unsigned: Some(Box::new(Unsigned {
                    body,
                    hash,
                    unsigned_length: unsigned.len() as u64,
                })),
            });
            if seq % 7 == 0 {
                plan.ops.push(Op::Progress {
                    segment_id: 1,
                    last_seq: seq,
                    envelope_count: seq,
                    bytes: 0,
                });
            }
        }
        plan
    }

    fn signed_rows(plan: &Plan) -> Vec<Vec<u8>> {
        plan.ops
            .iter()
            .filter_map(|op| match op {
                Op::InsertEnvelope { row, unsigned } => {
                    assert!(unsigned.is_none(), "every envelope is signed");
                    Some(row.body.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// However many threads sign, every envelope gets the same bytes (Ed25519
    /// is deterministic) in the same place, each verifies under the key, and
    /// its hash is the one the chain linked.
    #[test]
    fn threads_change_nothing_but_the_time() {
        let key = Signer::from(arxi_format::SecretKey::from_seed(&[7; 32]).expect("seed"));
        for count in [1, 15, 16, 33, 200] {
            let mut alone = plan(count, &key);
            sign_plan(&mut alone, &key, 1).expect("a key in memory signs");
            let expected = signed_rows(&alone);
            assert_eq!(expected.len() as u64, count);
            for threads in [2, 3, 8] {
                let mut split = plan(count, &key);
                sign_plan(&mut split, &key, threads).expect("a key in memory signs");
                assert_eq!(
                    signed_rows(&split),
                    expected,
                    "{count} envelopes on {threads} threads"
                );
            }
            let mut previous = Hash32::ZERO;
            for bytes in &expected {
                let envelope = Envelope::parse(bytes).expect("parses");
                assert_eq!(envelope.check_hash(), Ok(()));
                assert!(envelope.verify_signature(key.public()).is_ok());
                assert_eq!(envelope.body.prev_hash, previous);
                previous = envelope.hash;
            }
        }
    }

    /// A key held elsewhere that refuses every signature.
    struct Gone(arxi_format::PublicKey);

    impl arxi_format::ExternalKey for Gone {
        fn public(&self) -> &arxi_format::PublicKey {
            &self.0
        }

        fn sign(&self, _message: &[u8]) -> Result<[u8; 64], SignerError> {
            Err(SignerError("token gone".into()))
        }

        fn check(&self) -> Result<(), SignerError> {
            Err(SignerError("token gone".into()))
        }
    }

    /// A signer that refuses fails the plan however many threads sign.
    #[test]
    fn a_refusing_signer_fails_the_plan_on_any_number_of_threads() {
        let secret = arxi_format::SecretKey::from_seed(&[7; 32]).expect("seed");
        let gone = Signer::External(std::sync::Arc::new(Gone(secret.public().clone())));
        for threads in [1, 3] {
            let mut plan = plan(200, &gone);
            assert_eq!(
                sign_plan(&mut plan, &gone, threads).map(|signatures| signatures.0.len()),
                Err(SignerError("token gone".into())),
                "{threads} threads"
            );
        }
    }
}
