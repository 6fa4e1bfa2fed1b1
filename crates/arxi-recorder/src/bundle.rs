//! Building audit bundles (`Docs/format.md` §11) from sealed segments.
//!
//! The builder streams: one envelope row and at most one attachment are in
//! memory at a time, whatever the bundle's size. It reads one consistent
//! snapshot (a single read transaction), so a bundle never mixes states.
//! Where the file is written, when it becomes downloadable and what a
//! restart does with the leftovers of a crash is `bundle_dir.rs`.
//!
//! A bundle given a witnessed checkpoint that covers its last envelope
//! carries it as its anchor (`W`, container version 3): the checkpoint
//! note with its cosignatures and the inclusion proof of the last envelope
//! in its tree, read from the stored log tree in the same snapshot. A
//! checkpoint smaller than the bundle anchors nothing (it cannot include
//! the last envelope), so such a bundle is written without an anchor and
//! [`BuiltBundle::anchor`] says so.

use std::io::Write;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use arxi_format::anchor::Anchor;
use arxi_format::bundle::{
    BUNDLE_VERSION, CONTAINER_VERSION_ANCHOR, CONTAINER_VERSION_DELEGATIONS,
    CONTAINER_VERSION_DISCLOSURES, CONTAINER_VERSION_TIMESTAMPS, DELEGATION_RECORDS_MAX, Encoder,
    KeyRecord, Manifest, ManifestSegment, SEGMENTS_MAX, Tag,
};
use arxi_format::delegation::Delegation;
use arxi_format::envelope::Envelope;
use arxi_format::log_tree::TILE_HEIGHT;
use arxi_format::payload::{Committed, Disclosure, Salt};
use arxi_format::seal::Seal;
use arxi_format::timestamp::{TIMESTAMPS_PER_SEAL_MAX, TimestampRecord};
use arxi_format::{Hash32, KeyId, PublicKey, Signer, Timestamp};
use arxi_store::{EnvelopeRow, Reader, SealRow, SegmentRow, StoreError, namespace};

use crate::control_types;
use sha2::{Digest as _, Sha256};

/// What to put in a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleSelection {
    /// Segments `first..=last` (all sealed).
    Segments {
        /// First segment id.
        first: u64,
        /// Last segment id.
        last: u64,
    },
    /// The sealed segments holding envelopes `first..=last`: a bundle always
    /// carries whole segments, since a seal covers its whole segment.
    Sequence {
        /// First sequence number.
        first: u64,
        /// Last sequence number.
        last: u64,
    },
    /// Every sealed segment, from segment 1.
    AllSealed,
}

/// Which committed payloads of version 2 envelopes a bundle discloses;
/// the others it withholds (erased ones it marks erased). The envelopes,
/// seals and everything else are always whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PayloadSelection {
    /// Every payload that is not erased.
    #[default]
    All,
    /// None (a bundle that proves the history without its content, e.g.
    /// for an archive).
    None,
    /// Only those of envelopes naming this subject (a data subject's
    /// access request).
    Subject(String),
    /// Only those of envelopes of this type.
    Type(String),
    /// Every payload not erased and not sealed under a subject key (an
    /// archive bundle of a recorder with subject keys: a payload that
    /// crypto-shredding must be able to erase never leaves the database).
    Unsealed,
}

impl PayloadSelection {
    fn discloses(&self, event_type: &str, subject: Option<&str>, sealed: bool) -> bool {
        match self {
            Self::All => true,
            Self::Unsealed => !sealed,
            Self::None => false,
            Self::Subject(wanted) => subject == Some(wanted.as_str()),
            Self::Type(wanted) => event_type == wanted,
        }
    }
}

/// Why a bundle was not built.
#[derive(Debug)]
pub enum BundleError {
    /// The selection is empty or reversed.
    InvalidSelection(String),
    /// A selected segment or envelope does not exist.
    NotFound(String),
    /// A selected segment is not sealed yet.
    NotSealed(u64),
    /// More segments than one bundle may hold.
    TooLarge(String),
    /// Stored rows that do not agree (damage; verify the database).
    Inconsistent(String),
    /// The store failed.
    Store(StoreError),
    /// Writing the bundle failed.
    Write(std::io::Error),
    /// Reading a stored bundle file failed.
    Read(std::io::Error),
    /// The engine was opened without a bundle directory.
    NoBundleDir,
    /// The selection reaches segments pruned locally; they are in the
    /// archive objects named.
    Pruned(crate::PrunedRange),
    /// The clock reads a time no manifest can carry.
    ClockOutOfRange {
        /// What the clock said, in microseconds since the Unix epoch.
        micros: i64,
    },
    /// The signing key made no signature (a key in a token refused or is
    /// gone); nothing was written as a bundle.
    Signer(arxi_format::SignerError),
}

impl From<arxi_format::SignerError> for BundleError {
    fn from(error: arxi_format::SignerError) -> Self {
        Self::Signer(error)
    }
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidSelection(why) => write!(f, "invalid selection: {why}"),
            Self::NotFound(what) => write!(f, "{what} not found"),
            Self::NotSealed(segment) => {
                write!(f, "segment {segment} is not sealed yet (seal it first)")
            }
            Self::TooLarge(why) => write!(f, "{why}"),
            Self::Inconsistent(why) => write!(f, "stored evidence is inconsistent: {why}"),
            Self::Signer(error) => write!(f, "{error}"),
            Self::ClockOutOfRange { micros } => write!(
                f,
                "the clock reads {micros} µs since 1970, outside what a manifest can carry"
            ),
            Self::Store(error) => write!(f, "store: {error}"),
            Self::Write(error) => write!(f, "writing the bundle: {error}"),
            Self::Read(error) => write!(f, "reading the bundle: {error}"),
            Self::NoBundleDir => write!(f, "no bundle directory is configured"),
            Self::Pruned(range) => write!(f, "{range}"),
        }
    }
}

impl std::error::Error for BundleError {}

impl From<StoreError> for BundleError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// What was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltBundle {
    /// Segments included.
    pub segments: RangeInclusive<u64>,
    /// Sequence numbers included.
    pub seqs: RangeInclusive<u64>,
    /// Envelopes.
    pub envelopes: u64,
    /// Attachment records.
    pub attachments: u64,
    /// Version 2 envelopes whose payload was disclosed, withheld, erased.
    pub payloads: (u64, u64, u64),
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the whole file.
    pub sha256: Hash32,
    /// The manifest's hash.
    pub manifest_hash: Hash32,
    /// The tree size of the checkpoint the bundle is anchored to (`None`:
    /// no anchor).
    pub anchor: Option<u64>,
}

/// Resolves a selection to a segment range, all sealed.
pub fn resolve_selection(
    reader: &Reader<'_>,
    selection: BundleSelection,
) -> Result<RangeInclusive<u64>, BundleError> {
    if let BundleSelection::Sequence { first, .. } = selection
        && let Some(range) = crate::pruned::pruned_from_seq(reader, first)?
    {
        return Err(BundleError::Pruned(range));
    }
    let (first, last) = match selection {
        BundleSelection::AllSealed => {
            let last = match reader.last_segment()? {
                Some(segment) if segment.is_sealed() => segment.segment_id,
                Some(segment) => segment.segment_id - 1,
                None => 0,
            };
            if last == 0 {
                return Err(BundleError::NotFound("a sealed segment".into()));
            }
            (1, last)
        }
        BundleSelection::Segments { first, last } => {
            if first == 0 || first > last {
                return Err(BundleError::InvalidSelection(format!(
                    "segments {first}..={last}"
                )));
            }
            // The last segment named exists and is sealed (so all before
            // it are): a range beyond the recorded ones is not found, not
            // too large.
            let row = reader
                .segment(last)?
                .ok_or_else(|| BundleError::NotFound(format!("segment {last}")))?;
            if !row.is_sealed() {
                return Err(BundleError::NotSealed(last));
            }
            (first, last)
        }
        BundleSelection::Sequence { first, last } => {
            if first == 0 || first > last {
                return Err(BundleError::InvalidSelection(format!(
                    "sequence {first}..={last}"
                )));
            }
            let segment_of = |seq: u64| -> Result<u64, BundleError> {
                Ok(reader
                    .envelope(seq)?
                    .ok_or_else(|| BundleError::NotFound(format!("envelope {seq}")))?
                    .segment_id)
            };
            (segment_of(first)?, segment_of(last)?)
        }
    };
    if let Some(range) = crate::pruned::pruned_from(reader, first)? {
        return Err(BundleError::Pruned(range));
    }
    if last - first >= SEGMENTS_MAX as u64 {
        return Err(BundleError::TooLarge(format!(
            "{} segments selected; one bundle holds at most {SEGMENTS_MAX}",
            last - first + 1
        )));
    }
    Ok(first..=last)
}

/// Counts bytes and hashes everything written through it.
struct Counting<W> {
    inner: W,
    digest: Sha256,
    bytes: u64,
}

impl<W: Write> Counting<W> {
    /// The `K` records, then the `D` records.
    fn key_records(
        &mut self,
        encoder: &mut Encoder,
        keys: &[KeyRecord],
        delegations: &[Delegation],
    ) -> Result<(), BundleError> {
        for key in keys {
            self.record(encoder, Tag::Key, &key.to_canonical_bytes())?;
        }
        for delegation in delegations {
            self.record(encoder, Tag::Delegation, &delegation.to_canonical_bytes())?;
        }
        Ok(())
    }

    /// A segment's seal (`S`), then its timestamp tokens (`T`).
    fn seal_records(
        &mut self,
        encoder: &mut Encoder,
        seal_row: &SealRow,
        timestamps: &[TimestampRecord],
    ) -> Result<(), BundleError> {
        self.record(encoder, Tag::Seal, &seal_row.body)?;
        for timestamp in timestamps {
            self.record(encoder, Tag::Timestamp, &timestamp.to_canonical_bytes())?;
        }
        Ok(())
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        self.inner.write_all(bytes).map_err(BundleError::Write)?;
        self.digest.update(bytes);
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn record(
        &mut self,
        encoder: &mut Encoder,
        tag: Tag,
        payload: &[u8],
    ) -> Result<(), BundleError> {
        let header = encoder.frame(tag, payload);
        self.put(&header)?;
        self.put(payload)?;
        self.put(b"\n")
    }
}

/// True when the canonical envelope bytes reference attachments. The
/// top-level `attachments` member is the first member named so in the
/// canonical form (members are sorted and only `actor`, a string, precedes
/// it), and it is always present.
fn has_attachments(canonical: &[u8]) -> bool {
    const MEMBER: &[u8] = b"\"attachments\":[";
    canonical
        .windows(MEMBER.len())
        .position(|window| window == MEMBER)
        .is_none_or(|at| canonical.get(at + MEMBER.len()) != Some(&b']'))
}

/// The `payload_commitment` a stored version 2 envelope carries, read
/// from its canonical bytes (where the member is written exactly once, at
/// the top level, right after `kind`).
fn stored_commitment(canonical: &[u8]) -> Option<Hash32> {
    const MEMBER: &[u8] = b"\"payload_commitment\":\"";
    let at = canonical
        .windows(MEMBER.len())
        .position(|window| window == MEMBER)?
        + MEMBER.len();
    let hex = std::str::from_utf8(canonical.get(at..at + 64)?).ok()?;
    Hash32::from_hex(hex).ok()
}

/// The `P` record of stored version 2 envelope `row` under `selection`,
/// checked against the envelope's commitment (the recorder never writes a
/// bundle the verifier would refuse).
fn disclosure(
    reader: &Reader<'_>,
    row: &EnvelopeRow,
    selection: &PayloadSelection,
) -> Result<Disclosure, BundleError> {
    let inconsistent =
        |why: String| BundleError::Inconsistent(format!("envelope {}: {why}", row.seq));
    let stored = reader
        .payload(row.seq)?
        .ok_or_else(|| inconsistent("a version 2 envelope without its payload row".into()))?;
    if stored.withheld {
        // Sealed under a subject key that is gone, or never held here
        // (restored from an archive that withheld it): this recorder
        // cannot disclose it, and holds no erasure record for it.
        return Ok(Disclosure::Withheld);
    }
    let (salt, content) = match (stored.content, stored.erased_by) {
        (None, Some(erased_by)) => return Ok(Disclosure::Erased { erased_by }),
        (Some(held), None) => held,
        _ => return Err(inconsistent("a payload row neither held nor erased".into())),
    };
    if !selection.discloses(&row.event_type, stored.subject.as_deref(), stored.sealed) {
        return Ok(Disclosure::Withheld);
    }
    let salt = Salt(salt);
    let content = Committed::parse(&content).map_err(|e| inconsistent(format!("content: {e}")))?;
    let commitment = stored_commitment(&row.body)
        .ok_or_else(|| inconsistent("no payload_commitment in the stored envelope".into()))?;
    if content.commitment(&salt) != commitment {
        return Err(inconsistent(
            "the stored content does not match its commitment".into(),
        ));
    }
    Ok(Disclosure::Disclosed { content, salt })
}

/// The keys that signed envelopes of a bundle: the first envelope's and
/// every key event's (the key in force changes only at key events), read
/// without parsing the other rows.
#[derive(Debug, Default)]
struct Signers {
    keys: Vec<KeyId>,
}

impl Signers {
    fn see(&mut self, row: &EnvelopeRow) -> Result<(), BundleError> {
        let key_event = row.event_type == control_types::KEY_LOADED
            || row.event_type == control_types::KEY_CHANGED
            || row.event_type == control_types::KEY_DELEGATED;
        if !self.keys.is_empty() && !key_event {
            return Ok(());
        }
        let envelope = Envelope::parse(&row.body)
            .map_err(|e| BundleError::Inconsistent(format!("envelope {}: {e}", row.seq)))?;
        if !self.keys.contains(&envelope.body.key_id) {
            self.keys.push(envelope.body.key_id);
        }
        Ok(())
    }

    /// The bundle's signer must be the key in force at its end (its last
    /// seal's key), the root that delegated that key, or a key that signed
    /// none of it: a verifier refuses a
    /// bundle signed by a key the recorder had given up before its end
    /// (`bundle_key_not_in_force`). That happens only when the recorder
    /// went back to a key it used before; build the segments before or
    /// after the change instead.
    fn check_signer(
        &self,
        key: &Signer,
        in_force_at_end: &KeyId,
        delegations: &[Delegation],
    ) -> Result<(), BundleError> {
        let root_of_end = delegations.iter().any(|delegation| {
            delegation.body.key_id() == in_force_at_end && delegation.body.root_key_id == *key.id()
        });
        if key.id() == in_force_at_end || root_of_end || !self.keys.contains(key.id()) {
            return Ok(());
        }
        Err(BundleError::InvalidSelection(format!(
            "the recorder's key {} signed records of these segments but {} is in force at their end; \
             a bundle signed by {} would not verify (bundle_key_not_in_force): select segments that end under it, or that it did not sign",
            key.id(),
            in_force_at_end,
            key.id()
        )))
    }
}

/// The selected segments (each sealed) as the manifest lists them, with
/// their rows and seal rows.
#[allow(clippy::type_complexity)]
fn sealed_segments(
    reader: &Reader<'_>,
    segments: RangeInclusive<u64>,
) -> Result<(Vec<ManifestSegment>, Vec<SealedSegment>), BundleError> {
    let mut manifest_segments = Vec::new();
    let mut rows = Vec::new();
    for segment_id in segments {
        let row = reader
            .segment(segment_id)?
            .ok_or_else(|| BundleError::NotFound(format!("segment {segment_id}")))?;
        if !row.is_sealed() {
            return Err(BundleError::NotSealed(segment_id));
        }
        let seal_row = reader.seal(segment_id)?.ok_or_else(|| {
            BundleError::Inconsistent(format!("sealed segment {segment_id} has no seal row"))
        })?;
        let seal = Seal::parse(&seal_row.body)
            .map_err(|e| BundleError::Inconsistent(format!("seal of segment {segment_id}: {e}")))?;
        manifest_segments.push(ManifestSegment {
            segment_id,
            first_seq: seal.body.first_seq,
            last_seq: seal.body.last_seq,
            count: seal.body.count,
            merkle_root: seal.body.merkle_root,
            seal_hash: seal.hash,
        });
        let timestamps = seal_timestamps(reader, &seal_row)?;
        rows.push((row, seal_row, timestamps));
    }
    Ok((manifest_segments, rows))
}

/// A sealed segment's rows: the segment, its seal, and the timestamp
/// tokens stored for the seal.
type SealedSegment = (SegmentRow, SealRow, Vec<TimestampRecord>);

/// The `T` records of a seal: every stored token over its hash, by TSA
/// name (at most [`TIMESTAMPS_PER_SEAL_MAX`], the first by name).
fn seal_timestamps(
    reader: &Reader<'_>,
    seal_row: &SealRow,
) -> Result<Vec<TimestampRecord>, BundleError> {
    let mut records = Vec::new();
    for row in reader.timestamps(seal_row.segment_id)? {
        if row.imprint != seal_row.hash {
            return Err(BundleError::Inconsistent(format!(
                "the timestamp of seal {} by {} is over another hash",
                seal_row.segment_id, row.tsa
            )));
        }
        if records.len() < TIMESTAMPS_PER_SEAL_MAX {
            records.push(TimestampRecord {
                tsa: row.tsa,
                token: row.token,
            });
        }
    }
    Ok(records)
}

/// What the bundle continues: the hash of the envelope before its first
/// and of the seal before its first segment (zeros for segment 1). The
/// envelope before the bundle is the previous segment's last, whose hash
/// that segment's seal carries, so the anchor holds even when the envelope
/// itself was pruned locally.
fn anchors(
    reader: &Reader<'_>,
    first_seq: u64,
    first_segment: u64,
) -> Result<(Hash32, Hash32), BundleError> {
    if first_segment == 1 {
        return Ok((Hash32::ZERO, Hash32::ZERO));
    }
    let previous = reader.seal(first_segment - 1)?.ok_or_else(|| {
        BundleError::Inconsistent(format!("seal {} is missing", first_segment - 1))
    })?;
    let seal = Seal::parse(&previous.body).map_err(|e| {
        BundleError::Inconsistent(format!("seal of segment {}: {e}", first_segment - 1))
    })?;
    if seal.body.last_seq + 1 != first_seq {
        return Err(BundleError::Inconsistent(format!(
            "segment {} ends at seq {}, segment {first_segment} starts at {first_seq}",
            first_segment - 1,
            seal.body.last_seq
        )));
    }
    Ok((seal.body.last_envelope_hash, Hash32(previous.hash)))
}

/// The key records of every key used up to `last_seq` that no delegation
/// vouches for, and the delegations (`D` records) of the delegated keys
/// whose window meets `first_seq..=last_seq` (a verifier needs only the
/// root for those; the bundle carries no record of a delegated key that
/// could not have signed any of it).
fn key_records(
    reader: &Reader<'_>,
    first_seq: u64,
    last_seq: u64,
) -> Result<(Vec<KeyRecord>, Vec<Delegation>), BundleError> {
    let mut plain = Vec::new();
    let mut delegations = Vec::new();
    for row in reader.keys()? {
        if row.first_seq > last_seq {
            continue;
        }
        match reader.meta_get(namespace::DELEGATION, &row.key_id)? {
            Some(entry) => {
                let delegation = Delegation::parse(&entry.value).map_err(|e| {
                    BundleError::Inconsistent(format!("delegation of {}: {e}", row.key_id))
                })?;
                if delegation.body.last_seq >= first_seq {
                    delegations.push(delegation);
                }
            }
            None => plain.push(row),
        }
    }
    if delegations.len() > DELEGATION_RECORDS_MAX {
        return Err(BundleError::InvalidSelection(format!(
            "these segments were signed by {} delegated keys, more than a bundle holds ({DELEGATION_RECORDS_MAX}): select fewer segments",
            delegations.len()
        )));
    }
    let plain = plain
        .into_iter()
        .map(|row| {
            let public_key = PublicKey::from_bytes(&row.public_key)
                .map_err(|e| BundleError::Inconsistent(format!("key {}: {e}", row.key_id)))?;
            Ok(KeyRecord {
                public_key,
                first_seq: row.first_seq,
            })
        })
        .collect::<Result<_, BundleError>>()?;
    Ok((plain, delegations))
}

/// The container version a bundle with `delegations` and the timestamp
/// tokens of `rows` needs: version 5, which holds `T` records, when it
/// carries any; else version 4, which holds `D` records, when it carries
/// any; else `container`.
fn container_with(container: u64, delegations: &[Delegation], rows: &[SealedSegment]) -> u64 {
    if rows.iter().any(|(_, _, timestamps)| !timestamps.is_empty()) {
        CONTAINER_VERSION_TIMESTAMPS
    } else if delegations.is_empty() {
        container
    } else {
        CONTAINER_VERSION_DELEGATIONS
    }
}

/// What the records written so far hold.
#[derive(Debug, Default)]
struct Counts {
    attachments: u64,
    /// Disclosed, withheld, erased.
    payloads: (u64, u64, u64),
}

/// One envelope's records: `E`, its `P` record when it is a version 2
/// envelope, its `A` records.
fn write_envelope<W: Write>(
    reader: &Reader<'_>,
    row: &EnvelopeRow,
    payloads: &PayloadSelection,
    out: &mut Counting<W>,
    encoder: &mut Encoder,
    counts: &mut Counts,
) -> Result<(), BundleError> {
    out.record(encoder, Tag::Envelope, &row.body)?;
    // A canonical envelope's last member is `v`.
    if row.body.ends_with(b"\"v\":2}") {
        let disclosure = disclosure(reader, row, payloads)?;
        match disclosure {
            Disclosure::Disclosed { .. } => counts.payloads.0 += 1,
            Disclosure::Withheld => counts.payloads.1 += 1,
            Disclosure::Erased { .. } => counts.payloads.2 += 1,
        }
        out.record(encoder, Tag::Payload, &disclosure.to_canonical_bytes())?;
    }
    if has_attachments(&row.body) {
        let envelope = Envelope::parse(&row.body)
            .map_err(|e| BundleError::Inconsistent(format!("envelope {}: {e}", row.seq)))?;
        for reference in &envelope.body.attachments {
            let bytes = reader.attachment(&reference.sha256.0)?.ok_or_else(|| {
                BundleError::Inconsistent(format!(
                    "attachment {} of envelope {} is missing",
                    reference.sha256, row.seq
                ))
            })?;
            out.record(encoder, Tag::Attachment, &bytes)?;
            counts.attachments += 1;
        }
    }
    Ok(())
}

/// The `W` record tying envelope `last_seq` (stored hash `last_hash`) to
/// the checkpoint `note` (a signed note with its cosignatures), or `None`
/// when the checkpoint does not cover it. The proof is checked before it
/// is written: the recorder never writes an anchor the verifier refuses.
fn anchor_record(
    reader: &Reader<'_>,
    note: &str,
    last_seq: u64,
    last_hash: &Hash32,
) -> Result<Option<Anchor>, BundleError> {
    let mut anchor = Anchor {
        checkpoint: note.to_owned(),
        leaf_index: last_seq - 1,
        tree_size: 0,
        inclusion_proof: Vec::new(),
    };
    let read = anchor
        .read_checkpoint()
        .map_err(|e| BundleError::Inconsistent(format!("the witnessed checkpoint: {e}")))?;
    if read.checkpoint.size < last_seq {
        return Ok(None);
    }
    // The proof's lowest levels are computed from the 16 leaves of the
    // last envelope's tile; when some were pruned (a bundle right after
    // the archived prefix) the proof cannot be made here.
    let tile_first_seq = ((last_seq - 1) >> TILE_HEIGHT << TILE_HEIGHT) + 1;
    if crate::pruned::pruned_from_seq(reader, tile_first_seq)?.is_some() {
        return Ok(None);
    }
    anchor.tree_size = read.checkpoint.size;
    anchor.inclusion_proof =
        crate::log_tree::inclusion_proof(*reader, last_seq - 1, read.checkpoint.size)?;
    anchor
        .check_inclusion(last_hash, &read.checkpoint.root)
        .map_err(|e| {
            BundleError::Inconsistent(format!(
                "envelope {last_seq} is not in the stored log tree of checkpoint {}: {e}",
                read.checkpoint.size
            ))
        })?;
    Ok(Some(anchor))
}

/// The anchor of the bundle of envelopes `first_seq` to the last of
/// `last_seal` (when `note` covers that envelope) and the container version its
/// records need: version 2 envelopes bring `P` records, which container
/// versions 2 and 3 have, an anchor the `W` record of version 3; a bundle
/// without either keeps version 1's bytes.
fn anchor_and_container(
    reader: &Reader<'_>,
    note: Option<&str>,
    first_seq: u64,
    last_seal: &Seal,
) -> Result<(Option<Anchor>, u64), BundleError> {
    let (last_seq, last_hash) = (last_seal.body.last_seq, &last_seal.body.last_envelope_hash);
    let anchor = match note {
        Some(note) => anchor_record(reader, note, last_seq, last_hash)?,
        None => None,
    };
    let container = if anchor.is_some() {
        CONTAINER_VERSION_ANCHOR
    } else if reader.has_payloads(first_seq, last_seq)? {
        CONTAINER_VERSION_DISCLOSURES
    } else {
        BUNDLE_VERSION
    };
    Ok((anchor, container))
}

/// Writes the bundle of `segments` (all sealed) to `out`, signed by `key`,
/// disclosing the committed payloads `payloads` selects, anchored to the
/// witnessed checkpoint `anchor` (a signed note, as `GET
/// /v1/log/checkpoint` serves it) when it covers the last envelope.
/// `progress` is called with the envelopes written so far, every 4096.
#[allow(clippy::too_many_arguments)]
pub fn write_bundle<W: Write>(
    reader: &Reader<'_>,
    segments: RangeInclusive<u64>,
    payloads: &PayloadSelection,
    anchor: Option<&str>,
    key: &Signer,
    created_at: Timestamp,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<BuiltBundle, BundleError> {
    let (manifest_segments, rows) = sealed_segments(reader, segments.clone())?;
    let (first_seq, last_seq) = match (manifest_segments.first(), manifest_segments.last()) {
        (Some(first), Some(last)) => (first.first_seq, last.last_seq),
        _ => return Err(BundleError::InvalidSelection("no segments".into())),
    };
    let first_segment = *segments.start();
    let (prev_hash, prev_seal_hash) = anchors(reader, first_seq, first_segment)?;
    let (keys, delegations) = key_records(reader, first_seq, last_seq)?;
    let last_seal = Seal::parse(&rows[rows.len() - 1].1.body)
        .map_err(|e| BundleError::Inconsistent(format!("last seal: {e}")))?;
    // A bundle is never dated before its last seal, even when the clock
    // stepped back since (Docs/format.md: manifest_time_regressed).
    let created_at = created_at.max(last_seal.body.sealed_at);
    let manifest = Manifest {
        recorder_id: String::new(),
        created_at,
        first_seq,
        last_seq,
        envelope_count: manifest_segments.iter().map(|s| s.count).sum(),
        prev_hash,
        prev_seal_hash,
        segments: manifest_segments,
        keys: keys.iter().map(|k| k.public_key.id().clone()).collect(),
        key_id: key.id().clone(),
    };
    let first_seal = Seal::parse(&rows[0].1.body)
        .map_err(|e| BundleError::Inconsistent(format!("seal of segment {first_segment}: {e}")))?;
    let manifest = Manifest {
        recorder_id: first_seal.body.recorder_id,
        ..manifest
    };

    let mut out = Counting {
        inner: std::io::BufWriter::with_capacity(256 * 1024, out),
        digest: Sha256::new(),
        bytes: 0,
    };
    let (anchor, container) = anchor_and_container(reader, anchor, first_seq, &last_seal)?;
    let container = container_with(container, &delegations, &rows);
    let (mut encoder, preamble) = Encoder::start_version(container);
    out.put(preamble)?;
    let manifest_bytes = manifest.to_canonical_bytes();
    out.record(&mut encoder, Tag::Manifest, &manifest_bytes)?;
    out.key_records(&mut encoder, &keys, &delegations)?;
    let mut envelopes = 0_u64;
    let mut counts = Counts::default();
    let mut signers = Signers::default();
    for (row, seal_row, timestamps) in &rows {
        let mut failure: Option<BundleError> = None;
        let mut written = 0_u64;
        reader.for_each_envelope(row.first_seq, row.last_seq, |envelope_row| {
            let step = (|| {
                signers.see(&envelope_row)?;
                write_envelope(
                    reader,
                    &envelope_row,
                    payloads,
                    &mut out,
                    &mut encoder,
                    &mut counts,
                )
            })();
            match step {
                Ok(()) => {
                    written += 1;
                    envelopes += 1;
                    if envelopes.is_multiple_of(4_096) {
                        progress(envelopes);
                    }
                    Ok(true)
                }
                Err(error) => {
                    failure = Some(error);
                    Ok(false)
                }
            }
        })?;
        if let Some(error) = failure {
            return Err(error);
        }
        if written != row.envelope_count {
            return Err(BundleError::Inconsistent(format!(
                "segment {} holds {written} envelopes, its row says {}",
                row.segment_id, row.envelope_count
            )));
        }
        out.seal_records(&mut encoder, seal_row, timestamps)?;
    }
    signers.check_signer(key, &last_seal.body.key_id, &delegations)?;
    if let Some(anchor) = &anchor {
        out.record(&mut encoder, Tag::Anchor, &anchor.to_canonical_bytes())?;
    }
    let (trailer, _) = encoder.try_finish(manifest.hash(), key)?;
    out.put(&trailer)?;
    out.inner.flush().map_err(BundleError::Write)?;
    progress(envelopes);
    Ok(BuiltBundle {
        segments,
        seqs: first_seq..=last_seq,
        envelopes,
        attachments: counts.attachments,
        payloads: counts.payloads,
        bytes: out.bytes,
        sha256: Hash32(out.digest.finalize().into()),
        manifest_hash: manifest.hash(),
        anchor: anchor.map(|anchor| anchor.tree_size),
    })
}

/// A bundle written to the bundle directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// The bundle id: the first 32 hex digits of the file's SHA-256.
    pub id: String,
    /// Where it is once published (`<dir>/<id>.arxb`).
    pub path: PathBuf,
    /// What it holds.
    pub built: BuiltBundle,
}

/// The file name of bundle `id` in the bundle directory.
pub fn bundle_file_name(id: &str) -> String {
    format!("{id}.arxb")
}

/// True for a well-formed bundle id (32 lowercase hex digits).
pub fn is_bundle_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What an `arxi.bundle.built` envelope records about a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBundle {
    /// The bundle id.
    pub id: String,
    /// The envelope's sequence number.
    pub seq: u64,
    /// The file's size.
    pub size: u64,
    /// The file's SHA-256.
    pub sha256: Hash32,
}

#[cfg(test)]
mod tests {
    use super::has_attachments;

    #[test]
    fn attachment_detection_reads_the_top_level_member() {
        assert!(!has_attachments(
            br#"{"actor":"a","attachments":[],"payload":{"attachments":[1]}}"#
        ));
        assert!(has_attachments(
            br#"{"attachments":[{"media_type":"x"}],"payload":{}}"#
        ));
        assert!(!has_attachments(
            br#"{"actor":"\"attachments\":[1]","attachments":[],"v":1}"#
        ));
    }
}
