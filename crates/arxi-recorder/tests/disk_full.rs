//! A full disk, for real: the database lives on a small tmpfs that a ballast
//! file fills up. Appends fail with a typed storage error, nothing half is
//! written, the engine keeps answering reads, and appends work again once
//! the ballast is removed. Needs root (to mount); the suite runs as root.

#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arxi_recorder::{CommandError, Outcome, SystemClock};
use arxi_store::StoreError;
use serde_json::json;
use support::*;

/// Mounts a tmpfs and unmounts it when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("arxi-disk-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(Self { dir })
        } else {
            Err(format!("mount exited with {status}"))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Writes zeros until the filesystem refuses more.
fn fill(path: &Path) -> u64 {
    let mut ballast = std::fs::File::create(path).expect("ballast");
    let block = vec![0_u8; 64 * 1024];
    let mut written = 0_u64;
    loop {
        match ballast.write(&block) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = ballast.sync_all();
    written
}

#[test]
fn full_disk_is_typed_consistent_and_recoverable() {
    if !is_root() {
        println!("SKIPPED: mounting a tmpfs needs root");
        return;
    }
    let tmpfs = Tmpfs::mount("16m").expect("running as root, a tmpfs mount must work");
    let path = tmpfs.dir.join("arxi.db");
    let engine = open(&path, config(), Arc::new(SystemClock));
    let mut acknowledged = Vec::new();
    for index in 0..20 {
        acknowledged.push(append(
            &engine,
            "before.full",
            json!({"index": index, "pad": "p".repeat(500)}),
        ));
    }
    let ballast = tmpfs.dir.join("ballast");
    let filled = fill(&ballast);
    assert!(filled > 0);

    let head_before = engine.status().head_seq;
    let mut failures = 0;
    for index in 0..20 {
        let result = engine
            .append(request(
                "during.full",
                json!({"index": index, "pad": "p".repeat(4000)}),
            ))
            .expect("queued")
            .wait();
        match result {
            Err(CommandError::Storage(StoreError::Full)) => failures += 1,
            Ok(Outcome::Done { value, .. }) => acknowledged.push(value),
            other => panic!("a full disk must be a typed storage error, got {other:?}"),
        }
    }
    assert!(failures > 0, "the disk was full, so appends must fail");
    let status = engine.status();
    assert!(
        status.failure.is_none(),
        "a full disk is recoverable: {:?}",
        status.failure
    );
    assert!(status.head_seq >= head_before);
    engine
        .ping_storage()
        .expect("reads still work on a full disk");

    std::fs::remove_file(&ballast).expect("free the space");
    for index in 0..20 {
        acknowledged.push(append(&engine, "after.full", json!({"index": index})));
    }
    engine.shutdown().expect("shutdown");
    let (envelopes, _) = verify_all(&path);
    assert!(envelopes >= acknowledged.len() as u64);
    let store = arxi_store::Store::open(&path, &arxi_store::StoreOptions::default()).expect("open");
    for receipt in &acknowledged {
        let row = store
            .reader()
            .envelope(receipt.seq)
            .expect("read")
            .expect("present");
        assert_eq!(row.hash, receipt.hash.0, "seq {}", receipt.seq);
    }
    println!(
        "disk full: {failures} appends refused with StoreError::Full, {} acknowledged all present",
        acknowledged.len()
    );
}
