//! `arxi envelope prove`: cuts one envelope's inclusion proof out of a
//! bundle, streaming (only the hashes of one segment are held).

use std::io::Read;

use arxi_format::Hash32;
use arxi_format::bundle::{DELEGATION_RECORDS_MAX, Tag};
use arxi_format::delegation::Delegation;
use arxi_format::envelope::Envelope;
use arxi_format::proof::InclusionProof;
use arxi_format::seal::Seal;
use arxi_format::timestamp::{TIMESTAMPS_PER_SEAL_MAX, TimestampRecord};

use crate::reader::{BundleReader, Record};

/// Why no proof could be made.
#[derive(Debug)]
pub enum ProveError {
    /// The bundle could not be read.
    Read(String),
    /// No envelope with that sequence number is in a sealed segment of the
    /// bundle.
    NotFound(u64),
    /// The bundle's records disagree (verify it for the details).
    Inconsistent(String),
}

impl std::fmt::Display for ProveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(why) => write!(f, "reading the bundle: {why}"),
            Self::NotFound(seq) => write!(
                f,
                "no envelope with seq {seq} in a sealed segment of this bundle"
            ),
            Self::Inconsistent(why) => write!(
                f,
                "the bundle is inconsistent ({why}); run `arxi bundle verify`"
            ),
        }
    }
}

impl std::error::Error for ProveError {}

/// Builds the inclusion proof of envelope `seq` from a bundle. The proof's
/// audit path is checked against the seal's root before it is returned;
/// signatures are for the auditor to check (`arxi proof verify`).
pub fn prove_from_bundle<R: Read>(source: R, seq: u64) -> Result<InclusionProof, ProveError> {
    let mut reader = BundleReader::open(source).map_err(|e| ProveError::Read(e.to_string()))?;
    let mut hashes: Vec<Hash32> = Vec::new();
    let mut target: Option<(Envelope, u64)> = None;
    let mut delegations = Delegations::default();
    loop {
        let record = reader
            .next_record()
            .map_err(|e| ProveError::Read(e.to_string()))?;
        match record {
            None
            | Some(Record::Json {
                tag: Tag::Trailer, ..
            }) => return Err(ProveError::NotFound(seq)),
            Some(Record::Json {
                tag: Tag::Envelope,
                payload,
            }) => {
                let envelope = Envelope::parse(&payload)
                    .map_err(|e| ProveError::Inconsistent(format!("envelope record: {e}")))?;
                if envelope.body.seq == seq {
                    target = Some((envelope.clone(), hashes.len() as u64));
                }
                hashes.push(envelope.hash);
            }
            Some(Record::Json {
                tag: Tag::Seal,
                payload,
            }) => {
                if let Some((envelope, index)) = target.take() {
                    let seal = Seal::parse(&payload)
                        .map_err(|e| ProveError::Inconsistent(format!("seal record: {e}")))?;
                    let mut proof = InclusionProof::build(envelope, seal, &hashes, index)
                        .map_err(|e| ProveError::Inconsistent(e.to_string()))?;
                    proof.delegations = carried(&delegations.parsed, &proof);
                    let path_ok = arxi_format::merkle::verify_inclusion(
                        &arxi_format::seal::envelope_leaf(&proof.envelope.hash),
                        proof.leaf_index,
                        proof.tree_size,
                        &proof.audit_path,
                        &proof.seal.body.merkle_root,
                    );
                    if let Err(error) = path_ok {
                        return Err(ProveError::Inconsistent(format!(
                            "the segment's envelopes do not match its seal: {error}"
                        )));
                    }
                    if proof.seal.body.count != proof.tree_size {
                        return Err(ProveError::Inconsistent(
                            "the seal's count differs from the segment".into(),
                        ));
                    }
                    proof.timestamps = seal_timestamps(&mut reader)?;
                    return Ok(proof);
                }
                hashes.clear();
            }
            Some(Record::Json {
                tag: Tag::Delegation,
                payload,
            }) => delegations.read(&payload),
            Some(_) => {}
        }
    }
}

/// The `T` records right after a seal that parse (a record that does not
/// is the bundle verifier's to report), at most
/// [`TIMESTAMPS_PER_SEAL_MAX`]: the seal's timestamp tokens.
fn seal_timestamps<R: Read>(
    reader: &mut BundleReader<R>,
) -> Result<Vec<TimestampRecord>, ProveError> {
    let mut timestamps = Vec::new();
    while let Some(Record::Json {
        tag: Tag::Timestamp,
        payload,
    }) = reader
        .next_record()
        .map_err(|e| ProveError::Read(e.to_string()))?
    {
        if timestamps.len() < TIMESTAMPS_PER_SEAL_MAX
            && let Ok(record) = TimestampRecord::parse(&payload)
        {
            timestamps.push(record);
        }
    }
    Ok(timestamps)
}

/// The bundle's `D` records, as the bundle verifier takes them (rule D1):
/// those that parse among the first 1,024 read.
#[derive(Default)]
struct Delegations {
    read: usize,
    parsed: Vec<Delegation>,
}

impl Delegations {
    fn read(&mut self, payload: &[u8]) {
        self.read += 1;
        // One that does not parse, or beyond the 1,024th, is the bundle
        // verifier's to report.
        if self.read <= DELEGATION_RECORDS_MAX
            && let Ok(delegation) = Delegation::parse(payload)
        {
            self.parsed.push(delegation);
        }
    }
}

/// The bundle's delegations of the proof's envelope key and seal key.
fn carried(delegations: &[Delegation], proof: &InclusionProof) -> Vec<Delegation> {
    let mut carried: Vec<Delegation> = Vec::new();
    for key_id in [&proof.envelope.body.key_id, &proof.seal.body.key_id] {
        let found = delegations
            .iter()
            .find(|delegation| delegation.body.key_id() == key_id);
        if let Some(delegation) = found
            && !carried.contains(delegation)
        {
            carried.push(delegation.clone());
        }
    }
    carried
}
