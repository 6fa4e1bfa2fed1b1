//! A bundle being crafted: the records of a [`Story`], edits on them, and
//! the framing with a trailer signed by a chosen key.
//!
//! Edits of the story itself ([`Bundle::rewrite`], [`Bundle::rewrite_seals`],
//! [`Bundle::restart_with`]) re-make every record from the simulation, so
//! they come before edits of single records.

use std::rc::Rc;

use arxi_format::bundle::{
    BUNDLE_VERSION, CONTAINER_VERSION_ANCHOR, CONTAINER_VERSION_DELEGATIONS,
    CONTAINER_VERSION_DISCLOSURES, CONTAINER_VERSION_TIMESTAMPS, Encoder, KeyRecord, Manifest, Tag,
    record_header,
};
use arxi_format::envelope::EnvelopeBody;
use arxi_format::keys::SecretKey;
use arxi_format::seal::SealBody;
use arxi_format::{Hash32, PublicKey};

use super::history::{Rec, Story, key, records};

/// Records, the story they came from, and the trailer's signer.
#[derive(Clone)]
pub(crate) struct Bundle {
    pub(crate) story: Story,
    pub(crate) records: Vec<Rec>,
    pub(crate) signer: SecretKey,
    /// The trailer's `manifest_hash`, when not the manifest's.
    manifest_hash: Option<Hash32>,
}

impl Bundle {
    /// The golden bundle.
    pub(crate) fn golden() -> Self {
        Self::of(Story::default())
    }

    fn of(story: Story) -> Self {
        let (records, signer) = records(&story);
        Self {
            story,
            records,
            signer,
            manifest_hash: None,
        }
    }

    /// The history with `edit` applied to every envelope body before it is
    /// signed (and everything after it re-chained and re-signed).
    pub(crate) fn rewrite(mut self, edit: impl Fn(&mut EnvelopeBody) + 'static) -> Self {
        self.story.envelope_edits.push(Rc::new(edit));
        Self::of(self.story)
    }

    /// The history with `edit` applied to every seal body before it is
    /// signed.
    pub(crate) fn rewrite_seals(mut self, edit: impl Fn(&mut SealBody) + 'static) -> Self {
        self.story.seal_edits.push(Rc::new(edit));
        Self::of(self.story)
    }

    /// The history with the restart in segment 4 made with key `name`.
    pub(crate) fn restart_with(mut self, name: &'static str) -> Self {
        self.story.restart_key = name;
        Self::of(self.story)
    }

    /// The history with the restart key delegated by key `root` (the
    /// delegation edited by `edit` before the root signs it).
    pub(crate) fn delegated_by(
        mut self,
        root: &'static str,
        edit: impl Fn(&mut arxi_format::delegation::DelegationBody) + 'static,
    ) -> Self {
        self.story.restart_event = "arxi.key.delegated";
        self.story.delegated = Some(super::history::Delegated {
            root,
            edit: Rc::new(edit),
        });
        Self::of(self.story)
    }

    /// The history with the restart recording `event` as its key event.
    pub(crate) fn restart_event(mut self, event: &'static str) -> Self {
        self.story.restart_event = event;
        Self::of(self.story)
    }

    /// The trailer signed by key `name` (the manifest unchanged).
    pub(crate) fn signed_by(mut self, name: &str) -> Self {
        self.signer = key(name);
        self
    }

    /// The trailer naming another manifest hash.
    pub(crate) fn trailer_manifest_hash(mut self, hash: Hash32) -> Self {
        self.manifest_hash = Some(hash);
        self
    }

    pub(crate) fn edit_manifest(mut self, edit: impl FnOnce(&mut Manifest)) -> Self {
        let mut manifest = Manifest::parse(&self.records[0].payload).expect("manifest");
        edit(&mut manifest);
        self.records[0].payload = manifest.to_canonical_bytes();
        self
    }

    /// The seal of segment `segment` re-signed by key `name`.
    pub(crate) fn reseal(self, segment: u64, name: &str) -> Self {
        self.reseal_with(segment, name, |_| {})
    }

    /// The seal of segment `segment` edited and re-signed by key `name`.
    pub(crate) fn reseal_with(
        mut self,
        segment: u64,
        name: &str,
        edit: impl FnOnce(&mut SealBody),
    ) -> Self {
        let signer = key(name);
        let index = self.seal_index(segment);
        let mut body = self.records[index].seal().body;
        edit(&mut body);
        body.key_id = signer.id().clone();
        self.records[index].payload = body.sign(&signer).to_canonical_bytes();
        self
    }

    pub(crate) fn edit_record(&mut self, index: usize, edit: impl FnOnce(&mut Vec<u8>)) {
        edit(&mut self.records[index].payload);
    }

    /// A copy of record `from` inserted at `to`.
    pub(crate) fn insert_copy(&mut self, from: usize, to: usize) {
        let copy = self.records[from].clone();
        self.records.insert(to, copy);
    }

    /// Index of the `n`th record with `tag` (from 0).
    pub(crate) fn nth(&self, tag: Tag, n: usize) -> usize {
        self.records
            .iter()
            .enumerate()
            .filter(|(_, record)| record.tag == tag)
            .nth(n)
            .map(|(index, _)| index)
            .expect("record exists")
    }

    /// Index of the envelope record with `seq`.
    pub(crate) fn envelope_index(&self, seq: u64) -> usize {
        self.records
            .iter()
            .position(|r| r.tag == Tag::Envelope && r.envelope().body.seq == seq)
            .expect("envelope exists")
    }

    /// Index of the seal record of segment `segment`.
    pub(crate) fn seal_index(&self, segment: u64) -> usize {
        self.records
            .iter()
            .position(|r| r.tag == Tag::Seal && r.seal().body.segment_id == segment)
            .expect("seal exists")
    }

    /// Index of the key record of `key`.
    pub(crate) fn key_record_index(&self, key: &PublicKey) -> usize {
        self.records
            .iter()
            .position(|r| {
                r.tag == Tag::Key
                    && KeyRecord::parse_stated(&r.payload).expect("key").1 == *key.id()
            })
            .expect("key record exists")
    }

    /// Records of segment `id`: from its first envelope through its seal.
    pub(crate) fn segment_span(&self, id: u64) -> std::ops::Range<usize> {
        let start = self
            .records
            .iter()
            .position(|r| r.tag == Tag::Envelope && r.envelope().body.segment_id == id)
            .expect("segment");
        start..self.seal_index(id) + 1
    }

    /// The bundle a recorder builds of segments `first..=last` of this
    /// history, signed by this bundle's signer: the key records of every key
    /// first used up to the last envelope, the manifest anchored to the
    /// envelope and seal before.
    pub(crate) fn segments(&self, first: u64, last: u64) -> Self {
        let full = Manifest::parse(&self.records[0].payload).expect("manifest");
        let range = self.segment_span(first).start..self.segment_span(last).end;
        let body: Vec<Rec> = self.records[range].to_vec();
        let segments: Vec<_> = full
            .segments
            .iter()
            .filter(|s| (first..=last).contains(&s.segment_id))
            .cloned()
            .collect();
        let (first_seq, last_seq) = (segments[0].first_seq, segments[segments.len() - 1].last_seq);
        let prev_hash = if first_seq > 1 {
            self.records[self.envelope_index(first_seq - 1)]
                .envelope()
                .hash
        } else {
            Hash32::ZERO
        };
        let prev_seal_hash = if first > 1 {
            self.records[self.seal_index(first - 1)].seal().hash
        } else {
            Hash32::ZERO
        };
        let keys: Vec<Rec> = self
            .records
            .iter()
            .filter(|r| r.tag == Tag::Key)
            .filter(|r| KeyRecord::parse(&r.payload).expect("key").first_seq <= last_seq)
            .cloned()
            .collect();
        let manifest = Manifest {
            first_seq,
            last_seq,
            envelope_count: segments.iter().map(|s| s.count).sum(),
            prev_hash,
            prev_seal_hash,
            segments,
            keys: keys
                .iter()
                .map(|r| {
                    KeyRecord::parse(&r.payload)
                        .expect("key")
                        .public_key
                        .id()
                        .clone()
                })
                .collect(),
            ..full
        };
        // The delegations whose window meets the range, as a recorder
        // writes them.
        let delegations = self.records.iter().filter(|r| {
            r.tag == Tag::Delegation
                && arxi_format::delegation::Delegation::parse(&r.payload)
                    .is_ok_and(|d| d.body.first_seq <= last_seq && d.body.last_seq >= first_seq)
        });
        let mut records = vec![Rec::new(Tag::Manifest, manifest.to_canonical_bytes())];
        records.extend(keys);
        records.extend(delegations.cloned());
        records.extend(body);
        Self {
            story: self.story.clone(),
            records,
            signer: self.signer.clone(),
            manifest_hash: None,
        }
    }

    /// Frames the records and appends a trailer signed by the signer.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        // The container version of what the records need: 5 with a `T`
        // record, 4 with a `D` record, 3 with a `W` record, 2 with a `P`
        // record, else 1.
        let has = |tag: Tag| self.records.iter().any(|record| record.tag == tag);
        let container = if has(Tag::Timestamp) {
            CONTAINER_VERSION_TIMESTAMPS
        } else if has(Tag::Delegation) {
            CONTAINER_VERSION_DELEGATIONS
        } else if has(Tag::Anchor) {
            CONTAINER_VERSION_ANCHOR
        } else if has(Tag::Payload) {
            CONTAINER_VERSION_DISCLOSURES
        } else {
            BUNDLE_VERSION
        };
        let (mut encoder, preamble) = Encoder::start_version(container);
        let mut out = preamble.to_vec();
        for record in &self.records {
            encoder.encode(record.tag, &record.payload, &mut out);
        }
        let manifest_hash = self.manifest_hash.unwrap_or_else(|| {
            self.records
                .iter()
                .find(|record| record.tag == Tag::Manifest)
                .map(|record| Hash32::of(&record.payload))
                .unwrap_or(Hash32::ZERO)
        });
        let (trailer, _) = encoder.finish(manifest_hash, &self.signer);
        out.extend_from_slice(&trailer);
        out
    }

    /// Frames the records, signs the trailer, then applies `edit` to the
    /// trailer's payload (for trailers the encoder would not write).
    pub(crate) fn bytes_with_trailer(&self, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let signed = self.bytes();
        let at = signed
            .windows(3)
            .rposition(|w| w == b"\nZ ")
            .expect("trailer")
            + 1;
        let header_end = at
            + signed[at..]
                .iter()
                .position(|&b| b == b'\n')
                .expect("header");
        let mut payload = signed[header_end + 1..signed.len() - 1].to_vec();
        edit(&mut payload);
        let mut out = signed[..at].to_vec();
        out.extend_from_slice(&record_header(Tag::Trailer, payload.len()));
        out.extend_from_slice(&payload);
        out.push(b'\n');
        out
    }
}
