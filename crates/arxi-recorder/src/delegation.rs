//! Delegated envelope keys (`Docs/format.md` §3.1): the configured key is
//! the root; it certifies a short-lived key made in memory, which signs
//! envelopes and seals, and signs only the delegations, checkpoints,
//! bundle trailers and the signed head itself. So a root held in a token
//! is asked for a signature per rotation and per seal, not per envelope.
//!
//! A delegated key is made at every start (its secret never leaves this
//! process: a restart makes a new one) and again when the policy says
//! (envelopes signed or time since it took over). Each delegation is
//! recorded in the chain by an `arxi.key.delegated` key event the new key
//! signs, with the key's row and the delegation itself (for bundles) in
//! the same plan. The window it grants is twice the rotation's, plus the
//! most one plan can hold: a root that cannot sign when a rotation is due
//! leaves the current key signing until its window is nearly spent, and
//! only then are writes refused (`signer_unavailable`).

use std::time::Duration;

use arxi_format::delegation::{Delegation, DelegationBody, KeyDelegated};
use arxi_format::{CanonicalJson, KeyId, SecretKey, Signer, SignerError, Timestamp};
use arxi_store::{KeyRow, namespace};

use crate::RecorderConfig;
use crate::plan::Op;

/// When the recorder makes a new delegated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelegationPolicy {
    /// After the current key signed this many envelopes (at least 1).
    pub rotate_envelopes: u64,
    /// After the current key has signed for this long (at least 1 s).
    pub rotate_after: Duration,
}

impl DelegationPolicy {
    /// The policy's own rules.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.rotate_envelopes == 0 || self.rotate_envelopes > 1 << 40 {
            return Err("delegation rotate_envelopes must be 1 to 2^40".into());
        }
        if self.rotate_after < Duration::from_secs(1)
            || self.rotate_after > Duration::from_secs(366 * 86_400)
        {
            return Err("delegation rotate_after must be 1 s to 366 days".into());
        }
        Ok(())
    }
}

/// Time a delegation's window lasts beyond twice the rotation period, so
/// that a plan begun just before the current key's limit still fits.
const TIME_MARGIN: Duration = Duration::from_secs(60);

/// The delegated key signing now.
#[derive(Debug, Clone)]
struct Delegated {
    delegation: Delegation,
    /// When it took over, microseconds since the epoch.
    since_us: i64,
}

/// A new delegated key and what records it: its key row, its stored
/// delegation and the signer key id (`ops`), and the payload of its
/// `arxi.key.delegated` key event.
pub(crate) struct NewKey {
    pub(crate) key: SecretKey,
    pub(crate) ops: Vec<Op>,
    pub(crate) event: CanonicalJson,
}

/// Makes the delegated keys of one chain and knows when the next is due.
#[derive(Debug)]
pub(crate) struct Delegator {
    /// `None`: no delegation, the configured key signs everything.
    policy: Option<DelegationPolicy>,
    /// Most envelopes one plan can add (`plan_envelopes_max`).
    plan_max: u64,
    current: Option<Delegated>,
    /// The key the last key event planned names (from the database at
    /// open and after a reload).
    recorded_key: Option<KeyId>,
}

/// Most envelopes one plan can add: every command a batch of the largest
/// size, plus the control envelopes a plan may write around them.
fn plan_envelopes_max(config: &RecorderConfig) -> u64 {
    (config.batch_commands_max as u64).saturating_mul(config.batch_envelopes_max as u64 + 2) + 64
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// `at` plus `micros`, or the last time a timestamp can say.
fn later(at: Timestamp, by: i64) -> Timestamp {
    Timestamp::from_unix_micros(at.unix_micros().saturating_add(by))
        .or_else(|| Timestamp::parse("9999-12-31T23:59:59.999999Z").ok())
        .expect("the last timestamp parses")
}

/// A fresh Ed25519 key from the operating system's random source.
fn fresh_key() -> Result<SecretKey, SignerError> {
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|error| SignerError(format!("random source for a delegated key: {error}")))?;
    SecretKey::from_seed(&seed)
        .map_err(|error| SignerError(format!("a delegated key from a fresh seed: {error}")))
}

impl Delegator {
    pub(crate) fn new(config: &RecorderConfig) -> Self {
        Self {
            policy: config.delegation,
            plan_max: plan_envelopes_max(config),
            current: None,
            recorded_key: None,
        }
    }

    /// Whether a new delegated key is due before the next envelope, with
    /// `in_force` signing and the chain at `head_seq`: the key in force is
    /// not the one the chain last recorded (none yet, or a plan that
    /// delegated was refused), or the policy's count or time is reached.
    pub(crate) fn due(&self, in_force: &KeyId, head_seq: u64, now_us: i64) -> bool {
        let Some(policy) = self.policy else {
            return false;
        };
        let Some(current) = &self.current else {
            return true;
        };
        if self.recorded_key.as_ref() != Some(in_force) {
            return true;
        }
        let signed = (head_seq + 1).saturating_sub(current.delegation.body.first_seq);
        signed >= policy.rotate_envelopes
            || now_us.saturating_sub(current.since_us) >= micros(policy.rotate_after)
    }

    /// Whether the delegated key `in_force` may still sign one more plan:
    /// recorded, and its window holds the most one plan can add.
    pub(crate) fn lasts(&self, in_force: &KeyId, head_seq: u64, now_us: i64) -> bool {
        let Some(current) = &self.current else {
            return false;
        };
        let body = &current.delegation.body;
        self.recorded_key.as_ref() == Some(in_force)
            && body.key_id() == in_force
            && head_seq.saturating_add(self.plan_max) <= body.last_seq
            && now_us.saturating_add(micros(TIME_MARGIN)) <= body.not_after.unix_micros()
    }

    /// A new delegated key from `first_seq` on, its delegation signed by
    /// `root`. When the root refuses, nothing changes.
    pub(crate) fn delegate(
        &mut self,
        root: &Signer,
        first_seq: u64,
        now: Timestamp,
    ) -> Result<NewKey, SignerError> {
        let policy = self
            .policy
            .expect("delegate is called only with a delegation policy");
        let key = fresh_key()?;
        let window = policy
            .rotate_envelopes
            .saturating_mul(2)
            .saturating_add(self.plan_max);
        let body = DelegationBody {
            root_key_id: root.id().clone(),
            public_key: key.public().clone(),
            first_seq,
            last_seq: first_seq
                .saturating_add(window - 1)
                .min(arxi_format::json::MAX_SAFE_INTEGER),
            not_before: now,
            not_after: later(now, micros(policy.rotate_after * 2 + TIME_MARGIN)),
        };
        let delegation = body.try_sign(root)?;
        let key_id = delegation.body.key_id().clone();
        let at = now.unix_micros();
        let ops = vec![
            Op::InsertKey(KeyRow {
                key_id: key_id.as_str().to_owned(),
                public_key: delegation.body.public_key.to_bytes(),
                first_seq,
                added_at_us: at,
            }),
            Op::MetaPut {
                namespace: namespace::DELEGATION,
                key: key_id.as_str().to_owned(),
                value: delegation.to_canonical_bytes(),
                created_at_us: at,
            },
            Op::MetaPut {
                namespace: namespace::RECORDER,
                key: "signer_key_id".into(),
                value: key_id.as_str().as_bytes().to_vec(),
                created_at_us: at,
            },
        ];
        let event = KeyDelegated {
            previous_key_id: self.recorded_key.replace(key_id),
            delegation: delegation.clone(),
        }
        .to_canonical();
        self.current = Some(Delegated {
            delegation,
            since_us: at,
        });
        Ok(NewKey { key, ops, event })
    }

    /// The key the last durable key event names.
    pub(crate) fn reloaded(&mut self, recorded: Option<KeyId>) {
        self.recorded_key = recorded;
    }
}
