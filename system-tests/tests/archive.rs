//! The archive suites against real storage (Garage, `src/garage.rs`),
//! driving the real `arxi-sidecar` and `arxi-archive` binaries:
//!
//! - `archive_and_retention_on_one_garage_node`: every sealed segment
//!   archived (one with a 6 MiB attachment, so a multipart upload),
//!   retention prunes archived segments, a query of the pruned part answers
//!   `410 range_pruned` naming the objects, and `arxi-archive verify`
//!   checks the whole archive from the bucket.
//! - `kill_during_uploads_and_a_full_outage_lose_nothing`: SIGKILL of the
//!   sidecar while a run is being uploaded (three times), then the bucket
//!   down while writes go on; afterwards every sealed segment is archived
//!   exactly once and verifies.
//! - `a_garage_node_lost_during_uploads`: three nodes, replication factor
//!   3; one is killed while uploads run; uploads continue and every object
//!   verifies after.
//! - `a_restored_backup_is_brought_forward_from_the_archive`: the restore
//!   drill with the archive: an old backup put back, `arxi-sidecar
//!   restore-archive` brings it to the last archived seal, only the
//!   unarchived tail is acknowledged as lost, and the archive stays one
//!   object per segment.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use arxi_system_tests::garage::Garage;
use arxi_system_tests::{Sidecar, binary, eventually, http, output_text, run_sidecar, test_config};
use serde_json::Value;

/// The sidecar's settings for these suites: small segments, fast retries,
/// 5 MiB parts, retention keeping two segments.
fn sidecar_config(dir: &Path, garage: &Garage, retention: bool) -> std::path::PathBuf {
    let mut extra = garage.archive_section(dir, "suite/");
    extra.push_str(
        "[recorder.auto_seal]\nenvelopes_max = 12\n\
         [limits]\narchive_part_bytes = 5242880\nbatch_envelopes_max = 10\narchive_retry_min_ms = 100\n\
         archive_retry_max_ms = 1000\narchive_request_timeout_ms = 20000\n",
    );
    if retention {
        extra.push_str(
            "[retention]\nkeep_segments_min = 2\nkeep_days_min = 0\ncheck_interval_seconds = 1\n",
        );
    }
    test_config(dir, &extra, "auto")
}

fn append(sidecar: &Sidecar, n: u64) {
    let body = format!(r#"{{"type":"orders.placed","actor":"svc","payload":{{"order":{n}}}}}"#);
    let response = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes",
        &[],
        Some(body.as_bytes()),
    )
    .expect("append");
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
}

/// One envelope with an attachment of `bytes` (a bundle above 5 MiB is a
/// multipart upload).
fn append_large(sidecar: &Sidecar, bytes: usize) {
    use base64::Engine as _;
    let raw: Vec<u8> = (0..bytes)
        .map(|i| u8::try_from(i % 251).expect("small"))
        .collect();
    let content = base64::engine::general_purpose::STANDARD.encode(raw);
    let body = format!(
        r#"{{"type":"docs.filed","payload":{{}},"attachments":[{{"name":"big.bin","media_type":"application/octet-stream","content_base64":"{content}"}}]}}"#
    );
    let response = http(
        &sidecar.tcp,
        "POST",
        "/v1/envelopes/with-attachments",
        &[],
        Some(body.as_bytes()),
    )
    .expect("append");
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
}

fn seal(sidecar: &Sidecar) {
    let response = http(&sidecar.tcp, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert!(
        matches!(response.status, 200 | 201 | 409),
        "{}",
        response.status
    );
}

/// One value of `/metrics`.
fn metric(sidecar: &Sidecar, name: &str) -> Option<u64> {
    let response = http(&sidecar.tcp, "GET", "/metrics", &[], None).ok()?;
    String::from_utf8_lossy(&response.body)
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} "))?.trim().parse().ok())
}

fn ready_archive(sidecar: &Sidecar) -> Value {
    let response = http(&sidecar.tcp, "GET", "/ready", &[], None).expect("ready");
    response.json()["archive"].clone()
}

fn public_key(sidecar: &Sidecar) -> String {
    let response = http(&sidecar.tcp, "GET", "/v1/keys", &[], None).expect("keys");
    response.json()["current_public_key"]
        .as_str()
        .expect("a key")
        .to_owned()
}

/// The newest sealed segment the sidecar reports.
fn sealed_through(sidecar: &Sidecar) -> u64 {
    let response =
        http(&sidecar.tcp, "GET", "/v1/segments?limit=1000", &[], None).expect("segments");
    let list = response.json();
    let segments = list["segments"].as_array().expect("segments");
    segments
        .iter()
        .filter(|segment| !segment["sealed_at"].is_null())
        .filter_map(|segment| segment["segment_id"].as_u64())
        .max()
        .expect("a sealed segment")
}

/// Waits until every sealed segment is archived.
/// Waits until every segment sealed when the wait starts is recorded as
/// archived (the lag gauge alone is not enough: the archiver updates it
/// on its next look, so right after a seal it may still read 0).
fn wait_archived(sidecar: &Sidecar, timeout: Duration) {
    let sealed = sealed_through(sidecar);
    eventually("every sealed segment is archived", timeout, || {
        archived_through(sidecar) >= sealed
            && metric(sidecar, "arxi_archive_lag_segments") == Some(0)
            && ready_archive(sidecar)["state"] == "ok"
    });
}

/// The last segment the recorder has recorded as archived: the highest
/// `last_segment` of its `arxi.segment.archived` envelopes (0 when none).
/// Pruned envelopes are skipped (a query reaching them answers `410
/// range_pruned` with the last pruned seq).
fn archived_through(sidecar: &Sidecar) -> u64 {
    let mut through = 0;
    let mut query = serde_json::json!({"type": "arxi.segment.archived", "limit": 1000});
    loop {
        let response = http(
            &sidecar.tcp,
            "POST",
            "/v1/query/envelopes",
            &[],
            Some(query.to_string().as_bytes()),
        )
        .expect("query");
        let page = response.json();
        if response.status == 410 {
            let pruned = page["pruned_through_seq"].as_u64().expect("pruned through");
            query["seq_from"] = (pruned + 1).into();
            continue;
        }
        assert_eq!(response.status, 200, "{page}");
        for envelope in page["envelopes"].as_array().expect("envelopes") {
            let last = envelope["payload"]["last_segment"].as_u64();
            through = through.max(last.expect("an archive record names its last segment"));
        }
        match page["next_cursor"].as_str() {
            Some(next) => query["cursor"] = next.into(),
            None => return through,
        }
    }
}

/// Waits until the archive has caught up with a sealed count that holds
/// still across the wait (archiving and pruning record envelopes of their
/// own, which may seal more), and returns that count.
fn settle(sidecar: &Sidecar) -> u64 {
    arxi_system_tests::wait_for("the archive settles", Duration::from_secs(120), || {
        wait_archived(sidecar, Duration::from_secs(120));
        let before = sealed_through(sidecar);
        wait_archived(sidecar, Duration::from_secs(120));
        (sealed_through(sidecar) == before).then_some(before)
    })
}

/// Every segment sealed when the archive had caught up (`sealed`) is in
/// the bucket, exactly once: the report is valid (no gap, no overlap,
/// chained from segment 1), it reaches at least `sealed` (the recorder's
/// own `arxi.segment.archived` and `.pruned` envelopes may have sealed
/// more since), and there is one object per segment.
fn check_exactly_once(report: &Value, sealed: u64) {
    let last = report["last_segment"].as_u64().expect("a last segment");
    assert!(
        last >= sealed,
        "archived through {last}, {sealed} were sealed"
    );
    assert_eq!(
        report["objects"], last,
        "one object per segment: {report:#}"
    );
}

/// `arxi-archive verify` of the suite's prefix, valid; returns the JSON
/// report.
fn verify_from_bucket(garage: &Garage, key: &str) -> Value {
    let (code, report) = archive_verify(garage, &[key.to_owned()]);
    assert_eq!(code, Some(0), "arxi-archive verify: {report:#}");
    report
}

/// `arxi-archive verify` of the suite's prefix with one `--key` per entry
/// of `keys`: its exit code and JSON report.
fn archive_verify(garage: &Garage, keys: &[String]) -> (Option<i32>, Value) {
    let mut command = Command::new(binary("arxi-archive"));
    command.args([
        "verify",
        &format!("s3://{}/suite/", arxi_system_tests::garage::BUCKET),
        "--recorder",
        "system-test",
        "--endpoint",
        garage.endpoint(),
        "--region",
        arxi_system_tests::garage::REGION,
        "--path-style",
    ]);
    for key in keys {
        command.args(["--key", key]);
    }
    let output = command
        .env(
            "AWS_ACCESS_KEY_ID",
            arxi_system_tests::garage::ACCESS_KEY_ID,
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            arxi_system_tests::garage::SECRET_ACCESS_KEY,
        )
        .output()
        .expect("arxi-archive runs");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        Value::String(format!(
            "no report; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    });
    (output.status.code(), report)
}

#[test]
fn archive_and_retention_on_one_garage_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garage = Garage::single_node(dir.path());
    let config = sidecar_config(dir.path(), &garage, true);
    let sidecar = Sidecar::start(&config, None);
    for n in 0..60 {
        append(&sidecar, n);
    }
    append_large(&sidecar, 6 << 20);
    for n in 60..90 {
        append(&sidecar, n);
    }
    seal(&sidecar);
    wait_archived(&sidecar, Duration::from_secs(60));
    eventually(
        "retention prunes archived segments",
        Duration::from_secs(30),
        || metric(&sidecar, "arxi_retention_pruned_through_segment").is_some_and(|n| n > 0),
    );
    // The pruned part answers with the objects that hold it.
    let response = http(
        &sidecar.tcp,
        "POST",
        "/v1/query/envelopes",
        &[("content-type", "application/json")],
        Some(br#"{"seq_from":1}"#),
    )
    .expect("query");
    assert_eq!(response.status, 410, "{}", response.text());
    let problem = response.json();
    assert_eq!(problem["code"], "range_pruned");
    assert!(
        problem["object_keys"][0]
            .as_str()
            .is_some_and(|key| key.starts_with("suite/system-test/000000000001-")),
        "{problem}"
    );
    // So does one pruned envelope read by its sequence number.
    let one = http(&sidecar.tcp, "GET", "/v1/envelopes?seq=1", &[], None).expect("GET");
    assert_eq!(one.status, 410, "{}", one.text());
    assert_eq!(one.json()["object_keys"], problem["object_keys"]);
    let sealed = settle(&sidecar);
    let key = public_key(&sidecar);
    let report = verify_from_bucket(&garage, &key);
    assert_eq!(report["valid"], true, "{report:#}");
    check_exactly_once(&report, sealed);
    let listed = garage.client().list_all("suite/").expect("list");
    assert!(
        listed.iter().any(|object| object.size > 5 << 20),
        "the large segment went up as a multipart upload"
    );
    assert_eq!(sidecar.terminate().code(), Some(0));
}

/// The restore drill with the archive (`Docs/reliability.md`, "Backup
/// and restore"): a backup taken while the sidecar records, much more
/// recorded, archived and pruned after it, the backup put back, and
/// `restore-archive` bringing it forward to the last archived seal; only
/// what was never archived (the stop record) is then acknowledged as lost,
/// and the archiver goes on without a second object for any segment.
#[test]
fn a_restored_backup_is_brought_forward_from_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garage = Garage::single_node(dir.path());
    let config = sidecar_config(dir.path(), &garage, true);
    let data = dir.path().join("data");
    let backup = dir.path().join("arxi-backup.db");
    let sidecar = Sidecar::start(&config, None);
    for n in 0..30 {
        append(&sidecar, n);
    }
    let online = run_sidecar(&config, &["backup", "--to", backup.to_str().expect("utf8")]);
    assert_eq!(online.status.code(), Some(0), "{}", output_text(&online));
    for n in 30..100 {
        append(&sidecar, n);
    }
    seal(&sidecar);
    eventually(
        "retention prunes archived segments",
        Duration::from_secs(30),
        || metric(&sidecar, "arxi_retention_pruned_through_segment").is_some_and(|n| n > 0),
    );
    settle(&sidecar);
    let key = public_key(&sidecar);
    let running = run_sidecar(&config, &["restore-archive"]);
    assert_eq!(running.status.code(), Some(2), "{}", output_text(&running));
    assert_eq!(sidecar.terminate().code(), Some(0));
    // Read once the sidecar is stopped: its archiver may have uploaded one
    // more run (sealed by its own archive and pruning records) until then.
    let archived = verify_from_bucket(&garage, &key);
    let archived_seq = archived["last_seq"].as_u64().expect("a last seq");

    for name in ["arxi.db-wal", "arxi.db-shm"] {
        let _ = std::fs::remove_file(data.join(name));
    }
    std::fs::copy(&backup, data.join("arxi.db")).expect("restore");
    let restored = run_sidecar(&config, &["restore-archive"]);
    let log = output_text(&restored);
    assert_eq!(restored.status.code(), Some(0), "{log}");
    assert!(log.contains("prunings"), "{log}");
    let signed_seq: u64 = log
        .split("--accept-rollback ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|seq| seq.parse().ok())
        .unwrap_or_else(|| panic!("names what was never archived: {log}"));
    let again = run_sidecar(&config, &["restore-archive"]);
    assert_eq!(again.status.code(), Some(0), "{}", output_text(&again));
    assert!(
        output_text(&again).contains("restored 0 segments, 0 envelopes"),
        "{}",
        output_text(&again)
    );

    let sidecar = Sidecar::try_start_with(
        &config,
        None,
        &["--accept-rollback", &signed_seq.to_string()],
    )
    .unwrap_or_else(|(status, log)| panic!("{status:?}\n{}", log.join("\n")));
    // After the restored head (what is before it may be pruned here).
    let query = format!(
        r#"{{"type":"arxi.recorder.rolled_back","seq_from":{}}}"#,
        archived_seq + 1
    );
    let rolled_back = http(
        &sidecar.tcp,
        "POST",
        "/v1/query/envelopes",
        &[("content-type", "application/json")],
        Some(query.as_bytes()),
    )
    .expect("query")
    .json();
    let payload = &rolled_back["envelopes"][0]["payload"];
    assert_eq!(
        payload["database_head_seq"].as_u64(),
        Some(archived_seq),
        "only what followed the last archived seal is lost: {rolled_back:#}"
    );
    let sealed = settle(&sidecar);
    let report = verify_from_bucket(&garage, &key);
    assert_eq!(report["valid"], true, "{report:#}");
    check_exactly_once(&report, sealed);
    assert_eq!(sidecar.terminate().code(), Some(0));
    let checked = run_sidecar(&config, &["verify-data"]);
    assert_eq!(checked.status.code(), Some(0), "{}", output_text(&checked));
}

/// Watches the spool directory from another thread and kills `pid` (the
/// sidecar, or a Garage node)
/// (SIGKILL) the moment a run of at least 1 MiB is being built or
/// uploaded (its spool file exists). Returns whether it killed.
fn kill_during_upload(dir: &Path, pid: u32) -> std::thread::JoinHandle<bool> {
    let spool = dir.join("data/archive-spool");
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            let in_flight = std::fs::read_dir(&spool).ok().is_some_and(|entries| {
                entries
                    .flatten()
                    .any(|entry| entry.metadata().is_ok_and(|meta| meta.len() >= 1 << 20))
            });
            if in_flight {
                let killed = Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status()
                    .is_ok_and(|status| status.success());
                return killed;
            }
            std::thread::park_timeout(Duration::from_millis(1));
        }
        false
    })
}

#[test]
fn kill_during_uploads_and_a_full_outage_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut garage = Garage::single_node(dir.path());
    let config = sidecar_config(dir.path(), &garage, false);
    let mut order = 0;
    for round in 0..3 {
        let sidecar = Sidecar::start(&config, None);
        let watcher = kill_during_upload(dir.path(), sidecar.pid());
        // A run above the part size, so the kill lands in a long upload;
        // writes after the kill fail, as they should.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            append_large(&sidecar, 6 << 20);
            for _ in 0..15 {
                append(&sidecar, order);
                order += 1;
            }
            seal(&sidecar);
        }));
        assert!(
            watcher.join().expect("watcher"),
            "round {round}: no upload was caught"
        );
        sidecar.kill();
    }
    // The bucket goes down while writes go on: the archive retries and
    // /ready says so; the recorder keeps recording.
    let sidecar = Sidecar::start(&config, None);
    garage.nodes[0].kill();
    for _ in 0..30 {
        append(&sidecar, order);
        order += 1;
    }
    seal(&sidecar);
    eventually(
        "the archive reports the outage",
        Duration::from_secs(30),
        || ready_archive(&sidecar)["state"] == "retrying",
    );
    assert!(metric(&sidecar, "arxi_archive_failures_total").is_some_and(|n| n > 0));
    assert!(metric(&sidecar, "arxi_archive_lag_segments").is_some_and(|n| n > 0));
    garage.nodes[0].start();
    garage.wait_until_serving();
    wait_archived(&sidecar, Duration::from_secs(120));
    let sealed = settle(&sidecar);
    let key = public_key(&sidecar);
    let report = verify_from_bucket(&garage, &key);
    assert_eq!(report["valid"], true, "{report:#}");
    check_exactly_once(&report, sealed);
    assert_eq!(sidecar.terminate().code(), Some(0));
}

#[test]
fn a_garage_node_lost_during_uploads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut garage = Garage::cluster(dir.path());
    let config = sidecar_config(dir.path(), &garage, false);
    let sidecar = Sidecar::start(&config, None);
    // The third node goes while a run is uploaded; the other two hold a
    // quorum, so uploads go on.
    let node = garage.nodes[2].pid().expect("running");
    let watcher = kill_during_upload(dir.path(), node);
    append_large(&sidecar, 6 << 20);
    for n in 0..24 {
        append(&sidecar, n);
    }
    seal(&sidecar);
    assert!(watcher.join().expect("watcher"), "no upload was caught");
    garage.nodes[2].kill();
    append_large(&sidecar, 6 << 20);
    for n in 24..60 {
        append(&sidecar, n);
    }
    seal(&sidecar);
    wait_archived(&sidecar, Duration::from_secs(180));
    let sealed = settle(&sidecar);
    let key = public_key(&sidecar);
    let report = verify_from_bucket(&garage, &key);
    assert_eq!(report["valid"], true, "{report:#}");
    check_exactly_once(&report, sealed);
    assert_eq!(sidecar.terminate().code(), Some(0));
}

/// Seals the open segment and waits until the bucket holds it (the lag
/// metric is the archiver's last look, so it may still read 0 right after
/// a seal).
fn seal_and_archive(sidecar: &Sidecar, garage: &Garage) {
    seal(sidecar);
    let sealed = sealed_through(sidecar);
    let prefix = "suite/system-test/";
    eventually(
        "the bucket holds the segment just sealed",
        Duration::from_secs(60),
        || {
            garage
                .client()
                .list_all(prefix)
                .expect("list")
                .iter()
                .filter_map(|object| {
                    arxi_archive::keys::parse_object_name(&object.key[prefix.len()..])
                })
                .any(|name| name.last_segment >= sealed)
        },
    );
}

/// Records `arxi.key.revoked` for `key_id` from `from_seq` on.
fn revoke(sidecar: &Sidecar, key_id: &str, from_seq: u64) {
    let body = serde_json::json!({"key_id": key_id, "from_seq": from_seq, "reason": "suite"});
    let response = http(
        &sidecar.tcp,
        "POST",
        "/v1/keys/revoke",
        &[],
        Some(body.to_string().as_bytes()),
    )
    .expect("revoke");
    assert_eq!(response.status, 201, "{}", response.text());
}

/// The findings of `report` with `code`: their object keys.
fn finding_objects(report: &Value, code: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|finding| finding["code"] == code)
        .filter_map(|finding| finding["object_key"].as_str().map(str::to_owned))
        .collect()
}

/// Keys across the archive (`Docs/format.md` §11.8 and rule R): the
/// recorder restarted with a new key; windows that fit what each key
/// signed verify, a window that ends before the old key's last signature
/// is `key_outside_window` in the first object; a revocation of the old
/// key from after its last signature verifies, and one from a seq it
/// signed makes the objects verified before it `key_revoked_signature`.
#[test]
fn key_windows_and_revocations_across_the_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garage = Garage::single_node(dir.path());
    let config = sidecar_config(dir.path(), &garage, false);
    let sidecar = Sidecar::start(&config, None);
    for n in 0..5 {
        append(&sidecar, n);
    }
    seal_and_archive(&sidecar, &garage);
    let old_key = public_key(&sidecar);
    assert_eq!(sidecar.terminate().code(), Some(0));
    std::fs::remove_file(dir.path().join("signer.key")).expect("the old key file goes");
    let sidecar = Sidecar::start(&config, None);
    let keys = http(&sidecar.tcp, "GET", "/v1/keys", &[], None).expect("keys");
    let keys = keys.json()["keys"].as_array().expect("keys").clone();
    let old = keys
        .iter()
        .find(|key| key["public_key"] == old_key.as_str())
        .expect("the old key is listed");
    let new = keys
        .iter()
        .find(|key| key["public_key"] != old_key.as_str())
        .expect("the new key is listed");
    let old_id = old["key_id"].as_str().expect("key_id").to_owned();
    let new_key = new["public_key"].as_str().expect("hex").to_owned();
    let new_first = new["first_seq"].as_u64().expect("first_seq");
    let old_last = new_first - 1;

    revoke(&sidecar, &old_id, new_first);
    seal_and_archive(&sidecar, &garage);
    let fitting = [
        format!("{old_key}@..{old_last}"),
        format!("{new_key}@{new_first}.."),
    ];
    let (code, report) = archive_verify(&garage, &fitting);
    assert_eq!(code, Some(0), "{report:#}");
    let (code, report) = archive_verify(&garage, &[format!("{old_key}@..2"), new_key.clone()]);
    assert_eq!(code, Some(1), "{report:#}");
    let first = report["findings"][0].clone();
    assert_eq!(first["code"], "bundle_invalid", "{report:#}");
    assert!(
        first["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("key_outside_window")),
        "{report:#}"
    );
    assert!(
        first["object_key"]
            .as_str()
            .is_some_and(|key| key.starts_with("suite/system-test/000000000001-")),
        "{report:#}"
    );

    revoke(&sidecar, &old_id, 3);
    seal_and_archive(&sidecar, &garage);
    let (code, report) = archive_verify(&garage, &[old_key, new_key]);
    assert_eq!(code, Some(1), "{report:#}");
    let revoked = finding_objects(&report, "key_revoked_signature");
    assert!(
        revoked
            .iter()
            .any(|key| key.starts_with("suite/system-test/000000000001-")),
        "the first object holds the old key's signatures from seq 3: {report:#}"
    );
    assert!(
        finding_objects(&report, "bundle_invalid").is_empty(),
        "each object verifies alone, as it did when archived: {report:#}"
    );
    assert_eq!(sidecar.terminate().code(), Some(0));
}
