//! Attachment records (`A`) against the references of the envelope before
//! them.
//!
//! Rules (`Docs/format.md` §11.4): after every envelope that parses come
//! exactly its `attachments`, one record each, in their order. A record
//! whose SHA-256 or size differs from the reference in its position is
//! `attachment_mismatch`; a record beyond the references (or after a
//! malformed envelope, or before any envelope) is `attachment_unexpected`;
//! references left when the next `E`, `S` or `Z` record comes, or when the
//! contents end, are one `attachment_missing` at the envelope.

use std::collections::VecDeque;

use arxi_format::Hash32;
use arxi_format::envelope::{AttachmentRef, Envelope};

use super::{At, Verifier};
use crate::report::Code;

/// The references still expected, and the envelope they belong to.
#[derive(Debug, Default)]
pub(super) struct Pending {
    references: VecDeque<AttachmentRef>,
    owner: At,
}

impl Verifier<'_> {
    pub(super) fn expect_attachments(&mut self, envelope: &Envelope, at: At) {
        self.attachments.references = envelope.body.attachments.iter().cloned().collect();
        self.attachments.owner = at;
    }

    pub(super) fn settle_attachments(&mut self) {
        if self.attachments.references.is_empty() {
            return;
        }
        let at = self.attachments.owner;
        let missing: Vec<String> = self
            .attachments
            .references
            .drain(..)
            .map(|reference| format!("{} ({})", reference.name, reference.sha256))
            .collect();
        self.find(
            Code::AttachmentMissing,
            at,
            format!("{} referenced attachment(s) missing", missing.len()),
            Some(missing.join(", ")),
            None,
        );
    }

    pub(super) fn attachment(&mut self, sha256: Hash32, size: u64, at: At) {
        self.settle_disclosure("an A record");
        self.report.counts.attachments += 1;
        self.body_started = true;
        let owner = self.attachments.owner;
        let Some(reference) = self.attachments.references.pop_front() else {
            self.find(
                Code::AttachmentUnexpected,
                at,
                "no envelope references an attachment here",
                None,
                Some(sha256.to_hex()),
            );
            return;
        };
        if reference.sha256 != sha256 || reference.size != size {
            self.find(
                Code::AttachmentMismatch,
                At {
                    record: at.record,
                    offset: at.offset,
                    ..owner
                },
                format!(
                    "attachment {:?} does not match its reference",
                    reference.name
                ),
                Some(format!(
                    "sha256 {} size {}",
                    reference.sha256, reference.size
                )),
                Some(format!("sha256 {sha256} size {size}")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, story};
    use arxi_format::bundle::Tag;

    #[test]
    fn attachment_rules() {
        let mut replaced = story();
        let index = replaced.nth(Tag::Attachment, 0);
        replaced.edit_record(index, |payload| payload.push(b'!'));
        check(&replaced.bytes(), &["attachment_mismatch"]);
        let mut removed = story();
        removed.records.remove(index);
        check(&removed.bytes(), &["attachment_missing"]);
        let mut extra = story();
        extra.insert_copy(index, index + 1);
        check(&extra.bytes(), &["attachment_unexpected"]);
    }
}
