//! `arxi keygen` (a new Ed25519 key pair in two new files) and
//! `arxi key public` (the public key of an existing secret key file, as
//! the README promises operators who only kept the secret).

use std::io::Read as _;
use std::path::Path;

use arxi_format::SecretKey;

use super::{CouldNotCheck, write_new};

/// Longest secret key file read: 64 hex digits with room for a line end
/// and stray whitespace; anything longer is not a key file.
const SECRET_FILE_BYTES_MAX: u64 = 256;

/// `arxi keygen --secret FILE --public FILE`.
pub(crate) fn keygen(secret_path: &Path, public_path: &Path) -> Result<u8, CouldNotCheck> {
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| CouldNotCheck(format!("no randomness from the OS: {e}")))?;
    let key = SecretKey::from_seed(&seed).map_err(|e| CouldNotCheck(e.to_string()))?;
    seed.fill(0);
    let mut secret = key.to_hex().into_bytes();
    secret.push(b'\n');
    write_new(secret_path, &secret, 0o600)?;
    secret.fill(0);
    write_new(
        public_path,
        format!("{}\n", key.public().to_hex()).as_bytes(),
        0o644,
    )?;
    println!("key id {}", key.id());
    println!(
        "secret key: {} (mode 0600; keep it private)",
        secret_path.display()
    );
    println!(
        "public key: {} (give it to auditors)",
        public_path.display()
    );
    Ok(0)
}

/// `arxi key public --secret FILE`: the public key's 64 hex digits on
/// standard output (so `> signer.pub` makes the file auditors need), the
/// key id on standard error.
pub(crate) fn public(secret_path: &Path) -> Result<u8, CouldNotCheck> {
    let fail = |e: std::io::Error| CouldNotCheck(format!("{}: {e}", secret_path.display()));
    let (file, _) = super::open_file(secret_path)?;
    let mut text = String::new();
    file.take(SECRET_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(fail)?;
    if text.len() as u64 > SECRET_FILE_BYTES_MAX {
        return Err(CouldNotCheck(format!(
            "{}: larger than {SECRET_FILE_BYTES_MAX} bytes, not a secret key file",
            secret_path.display()
        )));
    }
    let key = SecretKey::from_hex(text.trim())
        .map_err(|e| CouldNotCheck(format!("{}: {e}", secret_path.display())))?;
    // The text held the secret: wipe it before it is freed.
    text.into_bytes().fill(0);
    println!("{}", key.public().to_hex());
    eprintln!("arxi: key id {}", key.id());
    Ok(0)
}
