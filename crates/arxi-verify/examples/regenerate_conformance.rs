//! Rewrites `crates/arxi-verify/testdata/bundles/` from the deterministic
//! generator. Run through `scripts/regenerate-golden.sh`; the `bundles` test
//! fails whenever the committed files and the generator disagree.

#![allow(clippy::cast_possible_truncation)]

#[path = "../tests/bundles/generate.rs"]
mod generate;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bundles");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    for (name, bytes) in generate::generate() {
        let path = dir.join(&name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &bytes)?;
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
