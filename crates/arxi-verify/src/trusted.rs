//! The keys an auditor trusts, as the `--key` options of `arxi` and
//! `arxi-archive verify` give them: `PUBKEY` (64 hex digits or a file
//! holding them) or `PUBKEY@FIRST..LAST` (trusted only for those sequence
//! numbers, [`crate::window`]), loaded once for every command; and the
//! keys a trusted root delegated (`--delegation FILE`, `Docs/format.md`
//! §3.1), for the answers checked outside bundles (receipts, proofs),
//! which carry no `D` record.

use std::collections::{BTreeMap, HashMap};

use arxi_format::delegation::Delegation;
use arxi_format::{KeyId, PublicKey, Timestamp};

use crate::window::{KeyWindows, SeqWindow, split_key_argument};

/// Most `--key` options accepted.
pub const TRUSTED_KEYS_MAX: usize = 256;

/// Most `--delegation` options accepted.
pub const DELEGATIONS_MAX: usize = 1_024;

/// Largest delegation file read.
const DELEGATION_FILE_BYTES_MAX: u64 = 4_096;

/// The keys of `--key` options, loaded, with the windows given with them.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    /// Each key once, in the order first given.
    pub keys: Vec<PublicKey>,
    /// The windows of the keys given with one.
    pub windows: KeyWindows,
    /// The time windows of delegated keys (`not_before`, `not_after`).
    pub times: HashMap<KeyId, (Timestamp, Timestamp)>,
    /// The root of each delegated key.
    pub roots: HashMap<KeyId, KeyId>,
}

/// Why a delegation was not used (`Docs/format.md` §11.4 rule D).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DelegationRefused {
    /// Its root is not among the keys given with `--key` (a delegated key
    /// is no root): the delegation is not used, and says nothing.
    RootNotTrusted(String),
    /// Its key is trusted already (given with `--key`, or delegated
    /// before): the trust given first stands.
    AlreadyTrusted(String),
    /// It does not verify under its root (`key_delegation_invalid`).
    Invalid(String),
    /// The root's window does not hold its `first_seq`
    /// (`key_outside_window`).
    OutsideRootWindow(String),
}

impl std::fmt::Display for DelegationRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RootNotTrusted(why)
            | Self::AlreadyTrusted(why)
            | Self::Invalid(why)
            | Self::OutsideRootWindow(why) => f.write_str(why),
        }
    }
}

impl TrustedKeys {
    /// Why a record signed by `key_id` and covering `first..=last` is not
    /// trusted under its key's window, if it is outside it.
    pub fn outside_window(&self, key_id: &KeyId, first: u64, last: u64) -> Option<String> {
        let window = self.windows.get(key_id)?;
        (!window.covers(first, last)).then(|| {
            let found = if first == last {
                format!("seq {first}")
            } else {
                format!("seq {first}..{last}")
            };
            format!("{found} signed by {key_id}, which is trusted only for seq {window}")
        })
    }

    /// Why an envelope received at `time` and signed by `key_id` is not
    /// trusted under its delegation's time window, if it is outside it.
    pub fn outside_time(&self, key_id: &KeyId, time: Timestamp) -> Option<String> {
        let &(not_before, not_after) = self.times.get(key_id)?;
        (!(not_before..=not_after).contains(&time)).then(|| {
            format!(
                "received at {time}, signed by {key_id}, which is delegated only from {not_before} to {not_after}"
            )
        })
    }

    /// Trusts the key `delegation` delegates, when a root among the keys
    /// given with `--key` signed it and the root's window holds its
    /// `first_seq`: with the window `first_seq..last_seq` (cut at the
    /// root's window's end) and its time window. Refused otherwise, with
    /// the reason.
    pub fn delegate(&mut self, delegation: &Delegation) -> Result<(), DelegationRefused> {
        let body = &delegation.body;
        let root = self
            .keys
            .iter()
            .find(|key| key.id() == &body.root_key_id && !self.roots.contains_key(key.id()))
            .ok_or_else(|| {
                DelegationRefused::RootNotTrusted(format!(
                    "the delegation of {} names root {}, which is not among the --key keys",
                    body.key_id(),
                    body.root_key_id
                ))
            })?;
        delegation.verify(root).map_err(|_| {
            DelegationRefused::Invalid(format!(
                "the delegation of {} does not verify under {} (key_delegation_invalid)",
                body.key_id(),
                body.root_key_id
            ))
        })?;
        let key_id = body.key_id().clone();
        if self.keys.iter().any(|key| key.id() == &key_id) {
            return Err(DelegationRefused::AlreadyTrusted(format!(
                "{key_id} is trusted already (--key, or an earlier delegation)"
            )));
        }
        let root_window = self.windows.get(&body.root_key_id).copied();
        let window = SeqWindow::delegated(body.first_seq, body.last_seq, root_window).map_err(
            |root_window| {
                DelegationRefused::OutsideRootWindow(format!(
                    "the delegation of {} is signed at seq {}, outside its root's window {root_window} (key_outside_window)",
                    body.key_id(),
                    body.first_seq
                ))
            },
        )?;
        self.windows.insert(key_id.clone(), window);
        self.times
            .insert(key_id.clone(), (body.not_before, body.not_after));
        self.roots.insert(key_id, body.root_key_id.clone());
        self.keys.push(body.public_key.clone());
        Ok(())
    }

    /// The key that signs the checkpoints of what `key_id` signed: its
    /// root when it is a delegated key, else itself.
    pub fn log_key(&self, key_id: &KeyId) -> Option<&PublicKey> {
        let signer = self.roots.get(key_id).unwrap_or(key_id);
        self.keys.iter().find(|key| key.id() == signer)
    }
}

/// The keys of `--key` arguments (as [`trusted_keys`]) and the keys the
/// delegation records in the files `delegation_files` delegate (each a
/// delegation record, section 3.1, as `GET /v1/keys` shows it under
/// `delegation`; at most [`DELEGATIONS_MAX`]).
pub fn trusted_keys_with(
    arguments: &[String],
    delegation_files: &[String],
) -> Result<TrustedKeys, String> {
    let mut trusted = trusted_keys(arguments)?;
    if delegation_files.len() > DELEGATIONS_MAX {
        return Err(format!("at most {DELEGATIONS_MAX} --delegation options"));
    }
    for file in delegation_files {
        let delegation = read_delegation(file).map_err(|e| format!("--delegation {file}: {e}"))?;
        trusted
            .delegate(&delegation)
            .map_err(|e| format!("--delegation {file}: {e}"))?;
    }
    Ok(trusted)
}

/// A delegation record from a file (JSON, surrounding whitespace allowed).
fn read_delegation(path: &str) -> Result<Delegation, String> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(DELEGATION_FILE_BYTES_MAX + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > DELEGATION_FILE_BYTES_MAX {
        return Err(format!("larger than {DELEGATION_FILE_BYTES_MAX} bytes"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
    Delegation::parse(text.trim().as_bytes()).map_err(|e| e.to_string())
}

/// The keys of `--key` arguments (`PUBKEY` or `PUBKEY@FIRST..LAST`),
/// loaded. A key given twice must be given with one window (or none) each
/// time; it is kept once. At most [`TRUSTED_KEYS_MAX`] arguments.
pub fn trusted_keys(arguments: &[String]) -> Result<TrustedKeys, String> {
    if arguments.len() > TRUSTED_KEYS_MAX {
        return Err(format!("at most {TRUSTED_KEYS_MAX} --key options"));
    }
    let mut trusted = TrustedKeys {
        keys: Vec::with_capacity(arguments.len()),
        windows: KeyWindows::new(),
        times: HashMap::new(),
        roots: HashMap::new(),
    };
    let mut seen: BTreeMap<KeyId, Option<SeqWindow>> = BTreeMap::new();
    for argument in arguments {
        let (text, window) =
            split_key_argument(argument).map_err(|e| format!("--key {argument}: {e}"))?;
        let key = crate::load_public_key(text).map_err(|e| format!("--key {e}"))?;
        let key_id = key.id().clone();
        match seen.get(&key_id) {
            Some(before) if *before != window => {
                return Err(format!(
                    "--key {argument}: key {key_id} is given more than once with different windows"
                ));
            }
            Some(_) => continue,
            None => {}
        }
        seen.insert(key_id.clone(), window);
        if let Some(window) = window {
            trusted.windows.insert(key_id, window);
        }
        trusted.keys.push(key);
    }
    Ok(trusted)
}
