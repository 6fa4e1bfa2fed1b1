//! Receipts and log proofs, checked offline.
//!
//! - A **receipt** (the answer to `POST /v1/envelopes`) and the request it
//!   answers rebuild the envelope the recorder signed: the request gives
//!   type, actor, subject, payload and attachments; the receipt gives
//!   recorder id, segment, sequence number, receive time, previous hash
//!   and key id. The rebuilt envelope's hash must be the receipt's hash,
//!   and the receipt's signature must verify over it under the recorder
//!   key the auditor trusts. Then the recorder provably accepted exactly
//!   this content, at that time, at that place in its chain.
//! - A **log proof** (`GET /v1/envelopes/proof`) ties an envelope to a
//!   checkpoint of the log tree: the envelope's hash and signature, its
//!   RFC 6962 inclusion proof up to the checkpoint's root, the checkpoint's
//!   signature by the recorder key, and, under a witness policy, a quorum
//!   of cosignatures by the witnesses the auditor trusts.

use arxi_format::envelope::{
    AttachmentRef, ENVELOPE_VERSION, ENVELOPE_VERSION_COMMITTED, Envelope, EnvelopeBody, Kind,
    Payload,
};
use arxi_format::note::{Checkpoint, Note, NoteError, SignatureType, VerifierKey};
use arxi_format::payload::{Committed, Salt};
use arxi_format::seal::envelope_leaf;
use arxi_format::{CanonicalJson, Domain, Hash32, KeyId, PublicKey, Signature, Timestamp, merkle};
use base64::Engine as _;
use serde_json::Value;

/// Who an auditor trusts: the witnesses' keys and how many must agree.
#[derive(Debug, Clone, Default)]
pub struct WitnessPolicy {
    /// Cosignature keys (C2SP vkeys of type 0x04).
    pub witnesses: Vec<VerifierKey>,
    /// Distinct cosignatures required (0: none).
    pub quorum: usize,
}

fn field<'a>(object: &'a Value, name: &str) -> Result<&'a Value, String> {
    object.get(name).ok_or_else(|| format!("missing `{name}`"))
}

fn text<'a>(object: &'a Value, name: &str) -> Result<&'a str, String> {
    field(object, name)?
        .as_str()
        .ok_or_else(|| format!("`{name}` is not a string"))
}

fn number(object: &Value, name: &str) -> Result<u64, String> {
    field(object, name)?
        .as_u64()
        .ok_or_else(|| format!("`{name}` is not a non-negative integer"))
}

fn hash(object: &Value, name: &str) -> Result<Hash32, String> {
    Hash32::from_hex(text(object, name)?).map_err(|e| format!("`{name}`: {e}"))
}

fn optional_text(object: &Value, name: &str) -> Result<Option<String>, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

/// The attachment references a request's attachments make.
fn attachments(request: &Value) -> Result<Vec<AttachmentRef>, String> {
    let Some(list) = request.get("attachments") else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or("`attachments` is not an array")?;
    list.iter()
        .map(|item| {
            let content = base64::engine::general_purpose::STANDARD
                .decode(text(item, "content_base64")?)
                .map_err(|e| format!("attachment content: {e}"))?;
            Ok(AttachmentRef {
                name: text(item, "name")?.to_owned(),
                media_type: text(item, "media_type")?.to_owned(),
                sha256: Hash32::of(&content),
                size: content.len() as u64,
            })
        })
        .collect()
}

/// The envelope's labels in clear and its payload member, from the
/// request's: a version 1 receipt carries the payload; a version 2 receipt
/// (`v` 2) commits to it, and its `payload_salt` and `committed_labels`
/// open `payload_commitment` with the request (`Docs/format.md` §14.5).
fn receipt_payload(
    receipt: &Value,
    actor: Option<String>,
    subject: Option<String>,
    payload: CanonicalJson,
) -> Result<(Option<String>, Option<String>, Payload), String> {
    match receipt.get("v") {
        None => return Ok((actor, subject, Payload::Inline(payload))),
        Some(v) if v.as_u64() == Some(ENVELOPE_VERSION) => {
            return Ok((actor, subject, Payload::Inline(payload)));
        }
        Some(v) if v.as_u64() == Some(ENVELOPE_VERSION_COMMITTED) => {}
        Some(v) => {
            return Err(format!(
                "`v` {v}: this verifier reads receipts of versions 1 and 2"
            ));
        }
    }
    let commitment = hash(receipt, "payload_commitment")?;
    let salt = Salt::from_hex(text(receipt, "payload_salt")?)
        .map_err(|e| format!("`payload_salt`: {e}"))?;
    let labels = field(receipt, "committed_labels")?
        .as_array()
        .ok_or("`committed_labels` is not an array")?;
    let committed = |name: &str| labels.iter().any(|label| label.as_str() == Some(name));
    if labels
        .iter()
        .any(|label| !matches!(label.as_str(), Some("actor" | "subject")))
    {
        return Err("`committed_labels` holds other than \"actor\" and \"subject\"".into());
    }
    let (committed_actor, clear_actor) = if committed("actor") {
        (actor, None)
    } else {
        (None, actor)
    };
    let (committed_subject, clear_subject) = if committed("subject") {
        (subject, None)
    } else {
        (None, subject)
    };
    let content = Committed {
        actor: committed_actor,
        payload,
        subject: committed_subject,
    };
    let computed = content.commitment(&salt);
    if computed != commitment {
        return Err(format!(
            "the request's payload and labels with the receipt's salt give the commitment {}, not the receipt's {}: the envelope did not commit to this content",
            computed.to_hex(),
            commitment.to_hex()
        ));
    }
    Ok((clear_actor, clear_subject, Payload::Committed(commitment)))
}

/// What a verified receipt established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptCheck {
    /// The envelope rebuilt from the request and the receipt.
    pub envelope: Envelope,
}

/// Checks a receipt against the request body it answers and the recorder
/// key the auditor trusts.
pub fn verify_receipt(
    receipt: &[u8],
    request: &[u8],
    key: &PublicKey,
) -> Result<ReceiptCheck, String> {
    let receipt = arxi_format::json::parse(receipt).map_err(|e| format!("receipt: {e}"))?;
    let request = arxi_format::json::parse(request).map_err(|e| format!("request: {e}"))?;
    let key_id = KeyId::parse(text(&receipt, "key_id")?).map_err(|e| format!("`key_id`: {e}"))?;
    if key.id() != &key_id {
        return Err(format!(
            "the receipt names key {key_id}; the key given is {}",
            key.id()
        ));
    }
    let payload = CanonicalJson::from_value(field(&request, "payload")?)
        .map_err(|e| format!("request payload: {e}"))?;
    let (actor, subject, payload) = receipt_payload(
        &receipt,
        optional_text(&request, "actor")?,
        optional_text(&request, "subject")?,
        payload,
    )?;
    let body = EnvelopeBody {
        recorder_id: text(&receipt, "recorder_id")?.to_owned(),
        segment_id: number(&receipt, "segment_id")?,
        seq: number(&receipt, "seq")?,
        received_at: Timestamp::parse(text(&receipt, "received_at")?)
            .map_err(|e| format!("`received_at`: {e}"))?,
        kind: Kind::Data,
        event_type: text(&request, "type")?.to_owned(),
        actor,
        subject,
        payload,
        attachments: attachments(&request)?,
        prev_hash: hash(&receipt, "prev_hash")?,
        key_id,
    };
    let computed = body.compute_hash();
    let claimed = hash(&receipt, "hash")?;
    if computed != claimed {
        return Err(format!(
            "the request and receipt rebuild an envelope whose hash is {}, not the receipt's {}: the recorder did not accept this content there",
            computed.to_hex(),
            claimed.to_hex()
        ));
    }
    let signature = Signature::from_hex(text(&receipt, "signature")?)
        .map_err(|e| format!("`signature`: {e}"))?;
    key.verify(Domain::Envelope, &computed, &signature)
        .map_err(|_| "the signature does not verify under the key given".to_owned())?;
    Ok(ReceiptCheck {
        envelope: Envelope {
            body,
            hash: computed,
            signature,
        },
    })
}

/// What a verified log proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogProofCheck {
    /// The envelope.
    pub envelope: Envelope,
    /// The checkpoint it is included in.
    pub checkpoint: Checkpoint,
    /// The trusted witnesses whose cosignatures verified, with the times
    /// they state.
    pub cosigners: Vec<(String, u64)>,
}

/// Checks a log proof (the JSON of `GET /v1/envelopes/proof`) under the
/// recorder key and a witness policy.
pub fn verify_log_proof(
    proof: &[u8],
    key: &PublicKey,
    policy: &WitnessPolicy,
) -> Result<LogProofCheck, String> {
    verify_log_proof_with(proof, key, key, policy)
}

/// [`verify_log_proof`] with the envelope's key and the key that signs the
/// checkpoints apart: a delegated key and its root (`Docs/format.md` §3.1).
pub fn verify_log_proof_with(
    proof: &[u8],
    key: &PublicKey,
    log_key: &PublicKey,
    policy: &WitnessPolicy,
) -> Result<LogProofCheck, String> {
    let proof = arxi_format::json::parse(proof).map_err(|e| format!("proof: {e}"))?;
    let envelope = Envelope::parse(text(&proof, "envelope")?.as_bytes())
        .map_err(|e| format!("envelope: {e}"))?;
    if envelope.body.compute_hash() != envelope.hash {
        return Err("the envelope's hash is not the hash of its content".into());
    }
    if &envelope.body.key_id != key.id() {
        return Err(format!(
            "the envelope is signed by {}; the key given is {}",
            envelope.body.key_id,
            key.id()
        ));
    }
    key.verify(Domain::Envelope, &envelope.hash, &envelope.signature)
        .map_err(|_| "the envelope's signature does not verify".to_owned())?;
    let note = Note::parse(text(&proof, "checkpoint")?.as_bytes())
        .map_err(|e| format!("checkpoint: {e}"))?;
    let checkpoint = Checkpoint::parse(note.text()).map_err(|e| format!("checkpoint: {e}"))?;
    let log_key = VerifierKey::new(&checkpoint.origin, SignatureType::Ed25519, log_key.clone())
        .map_err(|e| format!("checkpoint origin: {e}"))?;
    note.verify(std::slice::from_ref(&log_key))
        .map_err(|e| format!("the checkpoint is not signed by the recorder key: {e}"))?;
    let cosigners = cosigners(&note, policy)?;
    let seq = envelope.body.seq;
    let index = seq.checked_sub(1).ok_or("an envelope has seq 0")?;
    if number(&proof, "leaf_index")? != index || number(&proof, "tree_size")? != checkpoint.size {
        return Err("`leaf_index` or `tree_size` disagree with the envelope and checkpoint".into());
    }
    let path = field(&proof, "inclusion_proof")?
        .as_array()
        .ok_or("`inclusion_proof` is not an array")?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|h| Hash32::from_hex(h).ok())
                .ok_or_else(|| "an inclusion proof hash is not 64 hex digits".to_owned())
        })
        .collect::<Result<Vec<_>, _>>()?;
    merkle::verify_inclusion(
        &envelope_leaf(&envelope.hash),
        index,
        checkpoint.size,
        &path,
        &checkpoint.root,
    )
    .map_err(|e| format!("envelope {seq} is not in the checkpoint's tree: {e}"))?;
    Ok(LogProofCheck {
        envelope,
        checkpoint,
        cosigners,
    })
}

/// The trusted witnesses' cosignatures on `note`; an error below quorum.
pub fn cosigners(note: &Note, policy: &WitnessPolicy) -> Result<Vec<(String, u64)>, String> {
    if policy.quorum == 0 {
        return Ok(Vec::new());
    }
    let cosigners = trusted_cosigners(note, &policy.witnesses)?;
    if cosigners.len() < policy.quorum {
        return Err(format!(
            "{} trusted witness cosignatures; the policy needs {}",
            cosigners.len(),
            policy.quorum
        ));
    }
    Ok(cosigners)
}

/// The witnesses among `witnesses` whose cosignatures verify on `note`,
/// each once, with the times they state (none: empty). A line of one of
/// them that does not verify is an error: a trusted witness never signs
/// what it does not mean, so the note was altered.
pub fn trusted_cosigners(
    note: &Note,
    witnesses: &[VerifierKey],
) -> Result<Vec<(String, u64)>, String> {
    match note.verify(witnesses) {
        Ok(verified) => Ok(verified
            .into_iter()
            .map(|v| (v.key.name().to_owned(), v.time.unwrap_or(0)))
            .collect()),
        Err(NoteError::NoKnownSignature) => Ok(Vec::new()),
        Err(error) => Err(format!("witness cosignatures: {error}")),
    }
}
