//! What a version 2 envelope commits to (issue 21, `Docs/format.md` §6.1):
//! the recorder's payload policy (which envelope version data envelopes
//! are written in, which labels are committed instead of written in
//! clear) and the commitment made for one append.
//!
//! The commitment is made on the caller's thread when an append is
//! prepared (a salt from the operating system's random source, taken from
//! a per-thread buffer refilled one system call per 64 salts, the
//! committed content's canonical bytes and its hash), so the sequencer only
//! places it. A leaf: the plan, the chain and erasure use it; it uses none
//! of them.
//!
//! Not here: which envelopes an erasure selects (`erasure`), the bytes of
//! the commitment (`arxi_format::payload`).

use arxi_format::payload::{Committed, SALT_BYTES, Salt};
use arxi_format::{CanonicalJson, Hash32};
use serde_json::json;

/// Which envelope version data envelopes are written in, and which labels
/// a version 2 envelope commits to instead of carrying them in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadPolicy {
    /// 1 (the payload in the envelope) or 2 (a commitment to it).
    pub version: u64,
    /// Version 2: commit to the actor instead of writing it in clear.
    pub commit_actor: bool,
    /// Version 2: commit to the subject instead of writing it in clear.
    pub commit_subject: bool,
}

impl Default for PayloadPolicy {
    fn default() -> Self {
        Self {
            version: arxi_format::envelope::ENVELOPE_VERSION,
            commit_actor: false,
            commit_subject: false,
        }
    }
}

impl PayloadPolicy {
    /// Checks the combination: version 1 or 2, labels committed only in
    /// version 2.
    pub fn validate(&self) -> Result<(), String> {
        match self.version {
            1 if self.commit_actor || self.commit_subject => {
                Err("committing actor or subject needs envelope version 2".into())
            }
            1 | 2 => Ok(()),
            other => Err(format!("envelope version {other}: 1 or 2")),
        }
    }

    /// The labels committed instead of written in clear, in this order:
    /// `actor`, `subject`.
    pub(crate) fn committed_labels(self) -> &'static [&'static str] {
        match (self.commit_actor, self.commit_subject) {
            (false, false) => &[],
            (true, false) => &["actor"],
            (false, true) => &["subject"],
            (true, true) => &["actor", "subject"],
        }
    }

    /// What the switch record and the recorder's state say about it.
    pub(crate) fn to_json(self) -> serde_json::Value {
        json!({"version": self.version, "committed_labels": self.committed_labels()})
    }
}

/// A version 2 commitment made for an append, before it is numbered.
#[derive(Debug, Clone)]
pub(crate) struct Commitment {
    pub(crate) salt: Salt,
    /// The committed content's canonical bytes.
    pub(crate) content: Vec<u8>,
    pub(crate) commitment: Hash32,
    /// The envelope's subject, committed or in clear (for erasure).
    pub(crate) subject: Option<String>,
    /// The labels the policy commits (for the receipt).
    pub(crate) committed_labels: &'static [&'static str],
}

/// Commits to `payload` (and to the labels the policy commits),
/// returning the commitment and the labels left in clear.
pub(crate) fn commit(
    policy: PayloadPolicy,
    actor: Option<String>,
    subject: Option<String>,
    payload: CanonicalJson,
) -> Result<(Commitment, Option<String>, Option<String>), getrandom::Error> {
    let salt = Salt(fresh_salt()?);
    let index_subject = subject.clone();
    let (committed_actor, clear_actor) = split(policy.commit_actor, actor);
    let (committed_subject, clear_subject) = split(policy.commit_subject, subject);
    let content = Committed {
        actor: committed_actor,
        payload,
        subject: committed_subject,
    }
    .canonical_bytes();
    let commitment = arxi_format::payload::commitment(&salt, &content);
    Ok((
        Commitment {
            salt,
            content,
            commitment,
            subject: index_subject,
            committed_labels: policy.committed_labels(),
        },
        clear_actor,
        clear_subject,
    ))
}

/// Salts taken from one buffer per thread, refilled from the operating
/// system's random source once per [`SALTS_PER_FILL`] salts (one system
/// call instead of one per append). Each salt is used once: the buffer is
/// zeroed where a salt was taken.
const SALTS_PER_FILL: usize = 64;

struct SaltBuffer {
    bytes: [u8; SALT_BYTES * SALTS_PER_FILL],
    /// Salts left, taken from the end.
    left: usize,
}

thread_local! {
    static SALTS: std::cell::RefCell<SaltBuffer> = const {
        std::cell::RefCell::new(SaltBuffer {
            bytes: [0; SALT_BYTES * SALTS_PER_FILL],
            left: 0,
        })
    };
}

/// A new salt from the operating system's random source.
fn fresh_salt() -> Result<[u8; SALT_BYTES], getrandom::Error> {
    SALTS.with(|cell| {
        let mut buffer = cell.borrow_mut();
        if buffer.left == 0 {
            getrandom::fill(&mut buffer.bytes)?;
            buffer.left = SALTS_PER_FILL;
        }
        buffer.left -= 1;
        let at = buffer.left * SALT_BYTES;
        let mut salt = [0_u8; SALT_BYTES];
        salt.copy_from_slice(&buffer.bytes[at..at + SALT_BYTES]);
        buffer.bytes[at..at + SALT_BYTES].fill(0);
        Ok(salt)
    })
}

/// (committed, in clear).
fn split(commit: bool, label: Option<String>) -> (Option<String>, Option<String>) {
    if commit { (label, None) } else { (None, label) }
}
