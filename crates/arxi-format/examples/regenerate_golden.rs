//! Rewrites `crates/arxi-format/testdata/golden/` from the deterministic
//! generator. Run through `scripts/regenerate-golden.sh`; the `golden` test
//! fails whenever the committed files and the generator disagree.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

#[path = "../tests/golden/generate.rs"]
mod generate;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden");
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in generate::generate() {
        std::fs::write(dir.join(name), &bytes)?;
        println!("wrote {} ({} bytes)", dir.join(name).display(), bytes.len());
    }
    Ok(())
}
