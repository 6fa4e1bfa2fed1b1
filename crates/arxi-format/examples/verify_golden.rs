//! Verifies the committed golden vectors (envelopes, chain, attachment, seal,
//! proofs) and prints what they hold. Exit code 0 when everything verifies,
//! 1 otherwise.

#[path = "../tests/golden/verify.rs"]
mod verify;

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
        });
    match verify::verify_committed(&dir) {
        Ok(summary) => {
            println!("golden vectors in {}: VALID", dir.display());
            println!("  key id              {}", summary.key_id);
            println!(
                "  envelopes           {} (hash, signature, chain)",
                summary.envelopes
            );
            println!("  seal merkle root    {}", summary.merkle_root);
            println!("  inclusion proofs    {}", summary.inclusion_proofs);
            println!("  consistency proofs  {}", summary.consistency_proofs);
        }
        Err(error) => {
            eprintln!("golden vectors in {}: INVALID: {error}", dir.display());
            std::process::exit(1);
        }
    }
}
