//! Rewrites the conformance suite in `Docs/conformance/` (everything but
//! its hand-written README) from the deterministic generator. Run through
//! `scripts/regenerate-golden.sh`; the `conformance_suite` test fails
//! whenever the committed files and the generator disagree.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

#[path = "../tests/conformance/mod.rs"]
mod conformance;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Docs/conformance");
    for entry in std::fs::read_dir(&dir).into_iter().flatten() {
        let entry = entry?;
        if entry.file_name() == "README.md" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    let (files, cases) = conformance::generate();
    for (name, bytes) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
    }
    println!(
        "wrote {} files, {} cases, to {}",
        files.len(),
        cases.len(),
        dir.display()
    );
    Ok(())
}
