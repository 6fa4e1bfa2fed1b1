//! Faults against the real binary, each ending in the same checks: every
//! envelope acknowledged with 2xx is present after a restart, an
//! idempotent retry of a request that was not acknowledged is recorded at
//! most once, and the chain still verifies (seal, build, `arxi bundle
//! verify`).
//!
//! - SIGKILL under HTTP load, repeated at seeded moments
//!   (`ARXI_CRASH_SEED`, `ARXI_CRASH_ITERATIONS`, default 5);
//! - a full disk (a small tmpfs filled by a ballast file; needs root, as
//!   the suite runs): typed 503, then recovery once space returns;
//! - failing fsync (strace fault injection: EIO from every `fsync` and
//!   `fdatasync` after the first few): typed 503, readiness 503, no
//!   corruption after a restart;
//! - a database corrupted under a running sidecar: readiness 503 with a
//!   clear log; a restart refuses once with a clear error, no panic;
//! - SIGKILL in the two windows of a bundle build: while the file is
//!   written (a watcher kills as soon as the temporary file appears), and
//!   after the finished file is renamed but before its `arxi.bundle.built`
//!   envelope commits (the test holds the database's write lock so the
//!   commit waits, and kills at the rename). After the restart no
//!   temporary file is left and no unrecorded bundle is served.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arxi_system_tests::{Sidecar, assert_bundle_verifies, http, test_config};

const TYPE: &str = "fault.test";

/// What the clients saw.
#[derive(Debug, Default)]
struct Ledger {
    acknowledged: BTreeSet<String>,
    unanswered: BTreeSet<String>,
}

fn record(address: &str, id: &str) -> Result<u16, String> {
    let body = format!(r#"{{"type":"{TYPE}","payload":{{"id":"{id}"}}}}"#);
    http(
        address,
        "POST",
        "/v1/envelopes",
        &[("Idempotency-Key", id)],
        Some(body.as_bytes()),
    )
    .map(|response| response.status)
    .map_err(|error| error.to_string())
}

/// Runs `clients` writers against `address` until `stop`; ids are
/// `{prefix}-{client}-{n}`.
fn writers(
    address: &str,
    prefix: &str,
    clients: usize,
    stop: &Arc<AtomicBool>,
    ledger: &Arc<Mutex<Ledger>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|client| {
            let (address, prefix) = (address.to_owned(), prefix.to_owned());
            let (stop, ledger) = (Arc::clone(stop), Arc::clone(ledger));
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = format!("{prefix}-{client}-{n}");
                    let outcome = record(&address, &id);
                    let mut ledger = ledger.lock().expect("ledger");
                    match outcome {
                        Ok(201) => {
                            ledger.acknowledged.insert(id);
                        }
                        Ok(_) => {
                            ledger.unanswered.insert(id);
                        }
                        Err(_) => {
                            ledger.unanswered.insert(id);
                            drop(ledger);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect()
}

/// Every `fault.test` id recorded, with how many times.
fn recorded_ids(address: &str) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let body = match &cursor {
            None => format!(r#"{{"type":"{TYPE}","limit":1000}}"#),
            Some(cursor) => format!(r#"{{"type":"{TYPE}","limit":1000,"cursor":"{cursor}"}}"#),
        };
        let page = http(
            address,
            "POST",
            "/v1/query/envelopes",
            &[],
            Some(body.as_bytes()),
        )
        .expect("query");
        assert_eq!(page.status, 200, "{:?}", page.json());
        let page = page.json();
        for envelope in page["envelopes"].as_array().expect("envelopes") {
            let id = envelope["payload"]["id"].as_str().expect("id").to_owned();
            *ids.entry(id).or_insert(0) += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
}

/// Retries every unanswered id (same key), then checks the ledger against
/// the store: acknowledged present, everything at most once.
fn settle(address: &str, ledger: &Ledger) {
    for id in &ledger.unanswered {
        let status = record(address, id).unwrap_or_else(|e| panic!("retry {id}: {e}"));
        assert_eq!(status, 201, "the retry of {id}");
    }
    let recorded = recorded_ids(address);
    for id in &ledger.acknowledged {
        assert_eq!(
            recorded.get(id),
            Some(&1),
            "acknowledged {id} must be present once"
        );
    }
    for id in &ledger.unanswered {
        assert_eq!(
            recorded.get(id),
            Some(&1),
            "retried {id} must be present once"
        );
    }
    if let Some((id, count)) = recorded.iter().find(|(_, count)| **count > 1) {
        panic!("{id} recorded {count} times");
    }
}

/// Seals, builds a bundle of everything, verifies it with the CLI.
fn verify_chain(sidecar: &Sidecar, data_dir: &Path, work: &Path) {
    let sealed = http(&sidecar.tcp, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert!([200, 409].contains(&sealed.status), "{:?}", sealed.json());
    let built = http(&sidecar.tcp, "POST", "/v1/bundles/build", &[], Some(b"{}")).expect("build");
    assert_eq!(built.status, 201, "{:?}", built.json());
    let id = built.json()["bundle"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let keys = http(&sidecar.tcp, "GET", "/v1/keys", &[], None)
        .expect("keys")
        .json();
    let key_file = work.join("recorder.pub");
    let key = keys["current_public_key"].as_str().expect("key");
    std::fs::write(&key_file, format!("{key}\n")).expect("key file");
    let bundle = data_dir.join("bundles").join(format!("{id}.arxb"));
    assert_bundle_verifies(&bundle, &key_file);
}

/// A small deterministic generator (xorshift64*).
struct Seeded(u64);

impl Seeded {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_under_http_load_loses_nothing_acknowledged() {
    let seed = env_u64("ARXI_CRASH_SEED", 0x5eed_0001);
    let iterations = env_u64("ARXI_CRASH_ITERATIONS", 5);
    println!("ARXI_CRASH_SEED={seed} ARXI_CRASH_ITERATIONS={iterations}");
    let mut random = Seeded(seed.max(1));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    for iteration in 0..iterations {
        let sidecar = Sidecar::start(&config, None);
        let stop = Arc::new(AtomicBool::new(false));
        let clients = writers(&sidecar.tcp, &format!("kill{iteration}"), 8, &stop, &ledger);
        let delay = 100 + random.next(400);
        std::thread::sleep(Duration::from_millis(delay));
        sidecar.kill();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().expect("client");
        }
    }
    let sidecar = Sidecar::start(&config, None);
    let ledger = ledger.lock().expect("ledger");
    assert!(
        ledger.acknowledged.len() >= 50,
        "load ran before the kills ({} acknowledged)",
        ledger.acknowledged.len()
    );
    println!(
        "{} kills: {} acknowledged, {} unanswered and retried",
        iterations,
        ledger.acknowledged.len(),
        ledger.unanswered.len()
    );
    settle(&sidecar.tcp, &ledger);
    verify_chain(&sidecar, &dir.path().join("data"), dir.path());
    assert_eq!(sidecar.terminate().code(), Some(0));
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Self {
        assert!(
            is_root(),
            "the disk-full test mounts a tmpfs: run the suite as root"
        );
        let dir = std::env::temp_dir().join(format!("arxi-sidecar-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount");
        assert!(status.success(), "mount tmpfs: {status}");
        Self(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn fill(path: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).expect("ballast");
    let block = vec![0_u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

fn wait_ready(address: &str, status: u16) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = http(address, "GET", "/ready", &[], None).expect("ready");
        if ready.status == status {
            return ready.json();
        }
        assert!(Instant::now() < deadline, "/ready stayed {}", ready.status);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_full_disk_answers_503_and_recovers() {
    let disk = Tmpfs::mount("24m");
    let config = test_config(&disk.0, "", "auto");
    let sidecar = Sidecar::start(&config, None);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    for n in 0..20 {
        assert_eq!(record(&sidecar.tcp, &format!("before-{n}")), Ok(201));
        ledger
            .lock()
            .expect("ledger")
            .acknowledged
            .insert(format!("before-{n}"));
    }
    let ballast = disk.0.join("ballast");
    fill(&ballast);
    let mut refused = 0;
    for n in 0..200 {
        let id = format!("full-{n}");
        let body = format!(
            r#"{{"type":"{TYPE}","payload":{{"id":"{id}","pad":"{}"}}}}"#,
            "x".repeat(2000)
        );
        let answer = http(
            &sidecar.tcp,
            "POST",
            "/v1/envelopes",
            &[("Idempotency-Key", &id)],
            Some(body.as_bytes()),
        )
        .expect("answer");
        let mut ledger = ledger.lock().expect("ledger");
        if answer.status == 201 {
            ledger.acknowledged.insert(id);
        } else {
            assert_eq!(answer.status, 503, "{:?}", answer.json());
            // With an Idempotency-Key the first store access is the key's
            // record: `idempotency_unavailable` (R-IDEM fails closed).
            let code = answer.json()["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                ["storage_unavailable", "idempotency_unavailable"].contains(&code.as_str()),
                "{code}"
            );
            assert!(answer.header("retry-after").is_some());
            ledger.unanswered.insert(id);
            refused += 1;
        }
        if refused >= 3 {
            break;
        }
    }
    assert!(refused >= 3, "the full disk was never reported");
    std::fs::remove_file(&ballast).expect("remove ballast");
    // Writes work again once space returns (the recorder reopens its
    // state from the database).
    let deadline = Instant::now() + Duration::from_secs(10);
    while record(&sidecar.tcp, "after-space") != Ok(201) {
        assert!(Instant::now() < deadline, "writes did not resume");
        std::thread::sleep(Duration::from_millis(100));
    }
    ledger
        .lock()
        .expect("ledger")
        .acknowledged
        .insert("after-space".into());
    wait_ready(&sidecar.tcp, 200);
    assert_eq!(sidecar.terminate().code(), Some(0));
    let sidecar = Sidecar::start(&config, None);
    settle(&sidecar.tcp, &ledger.lock().expect("ledger"));
    verify_chain(&sidecar, &disk.0.join("data"), &disk.0);
    assert_eq!(sidecar.terminate().code(), Some(0));
}

/// Starts the sidecar once a killed one has let go of the database's
/// lock: the kernel releases it only when the last thread of the killed
/// process has exited (for a traced one, after its tracer went), which
/// may come after its main thread shows as a zombie. A start refused for
/// the lock is tried again; any other failure fails the test.
fn start_once_unlocked(config: &Path) -> Sidecar {
    arxi_system_tests::wait_for(
        "the killed sidecar lets go of the database",
        Duration::from_secs(20),
        || match Sidecar::try_start(config, None) {
            Ok(sidecar) => Some(sidecar),
            Err((_, log)) if log.iter().any(|line| line.contains("database in use")) => None,
            Err((status, log)) => panic!(
                "the sidecar did not start ({status:?}):\n{}",
                log.join("\n")
            ),
        },
    )
}

#[test]
fn failing_fsync_answers_503_and_corrupts_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    // Start once without faults so the key and schema exist.
    let sidecar = Sidecar::start(&config, None);
    assert_eq!(sidecar.terminate().code(), Some(0));
    let wrapper = dir.path().join("eio-after-startup.sh");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\n# EIO from every fsync/fdatasync after the 30th of each thread.\n\
         exec strace -f -qq -o /dev/null -e trace=fsync,fdatasync \
         -e inject=fsync,fdatasync:error=EIO:when=30+ \"$@\"\n",
    )
    .expect("wrapper");
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let sidecar = Sidecar::start(&config, Some(&wrapper));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut refused = None;
    for n in 0..300 {
        let id = format!("fsync-{n}");
        let status = record(&sidecar.tcp, &id).expect("answer");
        let mut ledger = ledger.lock().expect("ledger");
        if status == 201 {
            ledger.acknowledged.insert(id);
        } else {
            ledger.unanswered.insert(id);
            refused = Some(status);
            break;
        }
    }
    assert_eq!(refused, Some(503), "a failing fsync must be a typed 503");
    let after = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes",
        &[],
        Some(br#"{"type":"fault.test","payload":{"id":"x"}}"#),
    )
    .expect("answer");
    assert_eq!(after.status, 503);
    assert_eq!(after.json()["code"], "storage_unavailable");
    let ready = wait_ready(&sidecar.tcp, 503);
    assert_eq!(ready["reason"], "storage_unavailable", "{ready}");
    // The child is strace; SIGKILL the traced sidecar itself first (a
    // killed tracer would only detach it).
    let strace = sidecar.pid();
    let children = std::fs::read_to_string(format!("/proc/{strace}/task/{strace}/children"))
        .expect("strace's children");
    for child in children.split_whitespace() {
        let killed = Command::new("kill")
            .args(["-KILL", child])
            .status()
            .expect("kill");
        assert!(killed.success());
    }
    sidecar.kill();
    let log_has = |sidecar: &Sidecar, text: &str| {
        sidecar
            .log
            .lock()
            .expect("log")
            .iter()
            .any(|line| line.contains(text))
    };
    // Without the fault: the store opens (its tail verified), nothing
    // acknowledged is missing, nothing is doubled.
    let sidecar = start_once_unlocked(&config);
    assert!(!log_has(&sidecar, "panicked"));
    let ledger = ledger.lock().expect("ledger");
    assert!(
        ledger.acknowledged.len() >= 5,
        "{} acknowledged before the fault",
        ledger.acknowledged.len()
    );
    settle(&sidecar.tcp, &ledger);
    verify_chain(&sidecar, &dir.path().join("data"), dir.path());
    assert_eq!(sidecar.terminate().code(), Some(0));
}

#[test]
fn a_corrupted_database_fails_readiness_then_start_up_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let sidecar = Sidecar::start(&config, None);
    for n in 0..10 {
        assert_eq!(record(&sidecar.tcp, &format!("c-{n}")), Ok(201));
    }
    wait_ready(&sidecar.tcp, 200);
    // Overwrite the database and its WAL in place (same inodes, as a
    // failing disk or a stray writer would).
    for name in ["arxi.db", "arxi.db-wal"] {
        let path = dir.path().join("data").join(name);
        let length = std::fs::metadata(&path).map_or(0, |meta| meta.len());
        std::fs::write(
            &path,
            vec![0xA5_u8; usize::try_from(length.max(4096)).expect("size")],
        )
        .expect("corrupt");
    }
    let ready = wait_ready(&sidecar.tcp, 503);
    assert_eq!(ready["reason"], "storage_unavailable", "{ready}");
    let logged = sidecar
        .log
        .lock()
        .expect("log")
        .iter()
        .any(|line| line.contains("storage check failed"));
    assert!(logged, "the failure is logged");
    assert_eq!(
        http(&sidecar.tcp, "GET", "/health", &[], None)
            .expect("health")
            .status,
        200,
        "the process stays up and answers liveness"
    );
    sidecar.kill();
    match Sidecar::try_start(&config, None) {
        Ok(_) => panic!("a corrupted database must not start"),
        Err((status, log)) => {
            assert_eq!(status.and_then(|s| s.code()), Some(1), "{log:?}");
            let text = log.join("\n");
            assert!(
                text.contains("start-up failed") && text.contains("recorder"),
                "{text}"
            );
            assert!(!text.contains("panicked"), "{text}");
        }
    }
}

fn bundle_dir(work: &Path) -> PathBuf {
    work.join("data").join("bundles")
}

/// Names of the files in the bundle directory (not in `quarantine/`).
fn bundle_files(work: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(bundle_dir(work)) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.expect("entry"))
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}

/// The bundle id a finished bundle file carries in its name, whatever the
/// stage: `<id>.arxb`, or a staged `.staged-<id>-<build>`.
fn bundle_id_in(name: &str) -> Option<String> {
    let id = name.strip_suffix(".arxb").or_else(|| {
        name.strip_prefix(".staged-")
            .and_then(|rest| rest.split_once('-'))
            .map(|(id, _build)| id)
    })?;
    let hex = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then(|| id.to_owned())
}

/// Polls the bundle directory (every millisecond, up to a minute) until
/// `pick` finds a name.
fn watch_bundles(work: &Path, mut pick: impl FnMut(&str) -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = bundle_files(work).iter().find_map(|name| pick(name)) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "nothing appeared in the bundle directory"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Records `envelopes` events that each carry two 2 MiB attachments (the
/// same bytes, stored once, written into a bundle once per reference),
/// then seals: a small database whose bundle takes a while to write.
fn record_bulky_segment(address: &str, envelopes: usize) {
    // 699,051 zero-byte triples: "AAAA" each in base64.
    let content = "AAAA".repeat(699_051);
    for n in 0..envelopes {
        let body = format!(
            r#"{{"type":"bulk.test","payload":{{"n":{n}}},"attachments":[{{"name":"a.bin","media_type":"application/octet-stream","content_base64":"{content}"}},{{"name":"b.bin","media_type":"application/octet-stream","content_base64":"{content}"}}]}}"#
        );
        let answer = http(
            address,
            "POST",
            "/v1/envelopes/with-attachments",
            &[],
            Some(body.as_bytes()),
        )
        .expect("record");
        assert_eq!(answer.status, 201, "{:?}", answer.json());
    }
    let sealed = http(address, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert_eq!(sealed.status, 200, "{:?}", sealed.json());
}

/// Starts `POST /v1/bundles/build` with `key` on its own thread (the
/// answer is lost when the sidecar is killed).
fn build_in_background(address: &str, key: &'static str) -> std::thread::JoinHandle<()> {
    let address = address.to_owned();
    std::thread::spawn(move || {
        let _ = http(
            &address,
            "POST",
            "/v1/bundles/build",
            &[("Idempotency-Key", key)],
            Some(b"{}"),
        );
    })
}

/// After a restart: the build retried with its key is recorded once and
/// its bundle downloads.
fn retried_build_works(address: &str, key: &str) {
    let built = http(
        address,
        "POST",
        "/v1/bundles/build",
        &[("Idempotency-Key", key)],
        Some(b"{}"),
    )
    .expect("build");
    assert_eq!(built.status, 201, "{:?}", built.json());
    let id = built.json()["bundle"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let download = http(
        address,
        "GET",
        &format!("/v1/bundles/download?id={id}"),
        &[],
        None,
    )
    .expect("download");
    assert_eq!(download.status, 200);
}

#[test]
fn sigkill_during_a_bundle_build_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let sidecar = Sidecar::start(&config, None);
    record_bulky_segment(&sidecar.tcp, 6);
    let build = build_in_background(&sidecar.tcp, "build-killed-while-writing");
    let temporary = watch_bundles(dir.path(), |name| {
        name.starts_with(".building-").then(|| name.to_owned())
    });
    sidecar.kill();
    build.join().expect("client");
    let temporary = bundle_dir(dir.path()).join(temporary);
    assert!(
        temporary.exists(),
        "the kill landed while the bundle was written"
    );
    let sidecar = Sidecar::start(&config, None);
    assert!(
        !temporary.exists(),
        "the restart removed {}",
        temporary.display()
    );
    let left: Vec<String> = bundle_files(dir.path());
    assert!(left.is_empty(), "nothing else is left: {left:?}");
    retried_build_works(&sidecar.tcp, "build-killed-while-writing");
    assert_eq!(sidecar.terminate().code(), Some(0));
}

#[test]
fn sigkill_between_the_rename_and_the_record_serves_no_unrecorded_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let sidecar = Sidecar::start(&config, None);
    for n in 0..5 {
        assert_eq!(record(&sidecar.tcp, &format!("r-{n}")), Ok(201));
    }
    let sealed = http(&sidecar.tcp, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert_eq!(sealed.status, 200);
    // The build's `arxi.bundle.built` cannot commit while the test holds
    // the write lock, so the kill at the rename lands before it.
    let lock = arxi_store::fault::hold_write_lock(&dir.path().join("data").join("arxi.db"))
        .expect("write lock");
    let build = build_in_background(&sidecar.tcp, "build-killed-at-rename");
    let id = watch_bundles(dir.path(), bundle_id_in);
    sidecar.kill();
    build.join().expect("client");
    drop(lock);
    let sidecar = Sidecar::start(&config, None);
    let download = http(
        &sidecar.tcp,
        "GET",
        &format!("/v1/bundles/download?id={id}"),
        &[],
        None,
    )
    .expect("download");
    assert_eq!(download.status, 404, "bundle {id} was never recorded");
    let left = bundle_files(dir.path());
    assert!(
        left.is_empty(),
        "no bundle file is left in the directory: {left:?}"
    );
    let quarantined = bundle_dir(dir.path())
        .join("quarantine")
        .join(format!("{id}.arxb"));
    assert!(
        quarantined.is_file(),
        "{} is kept aside",
        quarantined.display()
    );
    retried_build_works(&sidecar.tcp, "build-killed-at-rename");
    assert_eq!(sidecar.terminate().code(), Some(0));
}
