//! The keys an auditor trusts, as the `--key` options of `arxi` and
//! `arxi-archive verify` give them: `PUBKEY` (64 hex digits or a file
//! holding them) or `PUBKEY@FIRST..LAST` (trusted only for those sequence
//! numbers, [`crate::window`]), loaded once for every command.

use std::collections::BTreeMap;

use arxi_format::{KeyId, PublicKey};

use crate::window::{KeyWindows, SeqWindow, split_key_argument};

/// Most `--key` options accepted.
pub const TRUSTED_KEYS_MAX: usize = 256;

/// The keys of `--key` options, loaded, with the windows given with them.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    /// Each key once, in the order first given.
    pub keys: Vec<PublicKey>,
    /// The windows of the keys given with one.
    pub windows: KeyWindows,
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
