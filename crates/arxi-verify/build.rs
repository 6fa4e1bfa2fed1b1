//! Build script: the commit and build profile that `arxi --version` names
//! (and, as the sidecar's build script too, `arxi-sidecar --version` and
//! the `arxi_build_info` metric).
//!
//! The commit comes from `ARXI_BUILD_COMMIT` when set (the Docker build and
//! release scripts set it, since the image's build context has no `.git`),
//! else from `git rev-parse`; without either it is `unknown`, and the
//! version line says so. It reruns when HEAD or the branch it names moves,
//! not on every change of the index, so a commit rebuilds this crate and
//! an edit does not.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ARXI_BUILD_COMMIT");
    let profile = std::env::var("PROFILE").expect("cargo sets PROFILE for build scripts");
    let commit = match std::env::var("ARXI_BUILD_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => commit.trim().to_owned(),
        _ => git_commit().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=ARXI_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=ARXI_BUILD_PROFILE={profile}");
}

fn git(args: &[&str]) -> Option<String> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let output = Command::new("git")
        .args(args)
        .current_dir(manifest)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn watch(relative_to_manifest: &str) {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let path = manifest.join(relative_to_manifest);
    // A path that does not exist would make cargo rerun this every build.
    if Path::new(&path).exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        watch(&head);
    }
    if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"])
        && let Some(reference) = git(&["rev-parse", "--git-path", &branch])
    {
        watch(&reference);
    }
    if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
        watch(&packed);
    }
    Some(commit)
}
