//! `arxi bundle inspect`: what a bundle holds, read without verifying
//! signatures (use `verify` for that).

use std::io::Read;

use arxi_format::bundle::{KeyRecord, Manifest, Tag, Trailer};
use arxi_format::delegation::Delegation;
use serde_json::{Value, json};

use crate::reader::{BundleReader, Record};

/// A bundle's contents, as read.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The manifest, when it parsed.
    pub manifest: Option<Manifest>,
    /// Key records.
    pub keys: Vec<KeyRecord>,
    /// Delegation records.
    pub delegations: Vec<Delegation>,
    /// Envelope records.
    pub envelopes: u64,
    /// Envelopes by kind: (data, control).
    pub by_kind: (u64, u64),
    /// Seal records.
    pub seals: u64,
    /// Attachment records and their total bytes.
    pub attachments: (u64, u64),
    /// The trailer, when present and parsed.
    pub trailer: Option<Trailer>,
    /// Bytes read.
    pub bytes: u64,
    /// Problems met while reading (inspect does not judge validity).
    pub problems: Vec<String>,
}

/// Reads a bundle and summarizes it.
pub fn inspect_bundle<R: Read>(source: R) -> Summary {
    let mut summary = Summary::default();
    let mut reader = match BundleReader::open(source) {
        Ok(reader) => reader,
        Err(error) => {
            summary.problems.push(error.to_string());
            return summary;
        }
    };
    loop {
        match reader.next_record() {
            Ok(None) => break,
            Err(error) => {
                summary.problems.push(error.to_string());
                break;
            }
            Ok(Some(Record::Attachment { size, .. })) => {
                summary.attachments.0 += 1;
                summary.attachments.1 += size;
            }
            Ok(Some(Record::Json { tag, payload })) => match tag {
                Tag::Manifest => match Manifest::parse(&payload) {
                    Ok(manifest) => summary.manifest = Some(manifest),
                    Err(error) => summary.problems.push(format!("manifest: {error}")),
                },
                Tag::Key => match KeyRecord::parse(&payload) {
                    Ok(key) => summary.keys.push(key),
                    Err(error) => summary.problems.push(format!("key record: {error}")),
                },
                Tag::Envelope => {
                    summary.envelopes += 1;
                    match arxi_format::Envelope::parse(&payload) {
                        Ok(envelope) if envelope.body.kind == arxi_format::Kind::Control => {
                            summary.by_kind.1 += 1;
                        }
                        Ok(_) => summary.by_kind.0 += 1,
                        Err(error) => summary
                            .problems
                            .push(format!("envelope record {}: {error}", summary.envelopes)),
                    }
                }
                Tag::Delegation => match Delegation::parse(&payload) {
                    Ok(delegation) => summary.delegations.push(delegation),
                    Err(error) => summary.problems.push(format!("delegation record: {error}")),
                },
                Tag::Seal => summary.seals += 1,
                Tag::Trailer => match Trailer::parse(&payload) {
                    Ok(trailer) => summary.trailer = Some(trailer),
                    Err(error) => summary.problems.push(format!("trailer: {error}")),
                },
                Tag::Attachment | Tag::Payload | Tag::Anchor | Tag::Timestamp => {}
            },
        }
    }
    if summary.trailer.is_none() {
        summary
            .problems
            .push("no trailer: the bundle is incomplete".into());
    }
    summary.bytes = reader.offset();
    summary
}

impl Summary {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        let manifest = self.manifest.as_ref().map(|m| {
            json!({
                "recorder_id": m.recorder_id,
                "created_at": m.created_at.to_string(),
                "first_seq": m.first_seq,
                "last_seq": m.last_seq,
                "envelope_count": m.envelope_count,
                "segments": m.segments.iter().map(|s| json!({
                    "segment_id": s.segment_id,
                    "first_seq": s.first_seq,
                    "last_seq": s.last_seq,
                    "count": s.count,
                    "merkle_root": s.merkle_root.to_hex(),
                    "seal_hash": s.seal_hash.to_hex(),
                })).collect::<Vec<_>>(),
                "key_id": m.key_id.as_str(),
            })
        });
        json!({
            "format": "arxi.bundle",
            "version": arxi_format::bundle::BUNDLE_VERSION,
            "manifest": manifest,
            "keys": self.keys.iter().map(|k| json!({
                "key_id": k.public_key.id().as_str(),
                "public_key": k.public_key.to_hex(),
                "first_seq": k.first_seq,
            })).collect::<Vec<_>>(),
            "delegations": self.delegations.iter().map(|d| json!({
                "key_id": d.body.key_id().as_str(),
                "public_key": d.body.public_key.to_hex(),
                "root_key_id": d.body.root_key_id.as_str(),
                "first_seq": d.body.first_seq,
                "last_seq": d.body.last_seq,
                "not_before": d.body.not_before.to_string(),
                "not_after": d.body.not_after.to_string(),
            })).collect::<Vec<_>>(),
            "records": {
                "envelopes": self.envelopes,
                "data_envelopes": self.by_kind.0,
                "control_envelopes": self.by_kind.1,
                "seals": self.seals,
                "attachments": self.attachments.0,
                "attachment_bytes": self.attachments.1,
            },
            "signed_by": self.trailer.as_ref().map(|t| t.body.key_id.as_str().to_owned()),
            "bytes": self.bytes,
            "problems": self.problems,
        })
    }

    /// Human-readable text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        match &self.manifest {
            Some(m) => {
                out.push_str(&format!(
                    "arxi bundle, format version {}\n",
                    arxi_format::bundle::BUNDLE_VERSION
                ));
                out.push_str(&format!("  recorder       {}\n", m.recorder_id));
                out.push_str(&format!("  built          {}\n", m.created_at));
                out.push_str(&format!(
                    "  sequence       {} to {} ({} envelopes)\n",
                    m.first_seq, m.last_seq, m.envelope_count
                ));
                out.push_str(&format!("  segments       {}\n", m.segments.len()));
                for segment in &m.segments {
                    out.push_str(&format!(
                        "    segment {:>6}  seq {}..={}  {} envelopes  root {}\n",
                        segment.segment_id,
                        segment.first_seq,
                        segment.last_seq,
                        segment.count,
                        segment.merkle_root
                    ));
                }
            }
            None => out.push_str("no readable manifest\n"),
        }
        out.push_str(&format!(
            "  records        {} envelopes ({} data, {} control), {} seals, {} attachments ({} bytes)\n",
            self.envelopes, self.by_kind.0, self.by_kind.1, self.seals, self.attachments.0, self.attachments.1
        ));
        for key in &self.keys {
            out.push_str(&format!(
                "  key            {} from seq {}\n",
                key.public_key.id(),
                key.first_seq
            ));
        }
        for delegation in &self.delegations {
            let body = &delegation.body;
            out.push_str(&format!(
                "  delegated key  {} by {} for seq {}..={}, {} to {}\n",
                body.key_id(),
                body.root_key_id,
                body.first_seq,
                body.last_seq,
                body.not_before,
                body.not_after
            ));
        }
        if let Some(trailer) = &self.trailer {
            out.push_str(&format!("  signed by      {}\n", trailer.body.key_id));
        }
        out.push_str(&format!("  size           {} bytes\n", self.bytes));
        for problem in &self.problems {
            out.push_str(&format!("  problem        {problem}\n"));
        }
        out.push_str("(inspect does not verify; run `arxi bundle verify` with the trusted key)\n");
        out
    }
}
