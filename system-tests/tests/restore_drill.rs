//! The restore drill of `Docs/reliability.md` ("Backup and restore"), run
//! with the real binary as an operator would: an online backup with
//! `arxi-sidecar backup` while the sidecar records, more evidence after it,
//! a stop, the restore of the older copy, `verify-data` on the copy and on
//! the restored database, the refusal to start (exit 65, naming the lost
//! range and the flag), the start with `--accept-rollback SEQ` recording
//! `arxi.recorder.rolled_back`, and a clean check at the end.

use std::path::Path;
use std::process::{Command, Output};

use arxi_system_tests::{Sidecar, binary, http, test_config};
use serde_json::{Value, json};

fn sidecar_command(arguments: &[&str], config: &Path) -> Output {
    Command::new(binary("arxi-sidecar"))
        .args(arguments)
        .arg("--config")
        .arg(config)
        .output()
        .expect("run arxi-sidecar")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn record(sidecar: &Sidecar, count: u32) {
    for index in 0..count {
        let body = json!({"type": "drill.event", "payload": {"n": index}}).to_string();
        let answer = http(
            &sidecar.tcp,
            "POST",
            "/v1/envelopes",
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        )
        .expect("record");
        assert_eq!(answer.status, 201, "{}", answer.text());
    }
    let sealed = http(&sidecar.tcp, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert_eq!(sealed.status, 200, "{}", sealed.text());
}

fn query(sidecar: &Sidecar, event_type: &str) -> Vec<Value> {
    let body = json!({"type": event_type}).to_string();
    let answer = http(
        &sidecar.tcp,
        "POST",
        "/v1/query/envelopes",
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
    .expect("query");
    answer.json()["envelopes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn head_seq(sidecar: &Sidecar) -> u64 {
    let answer = http(
        &sidecar.tcp,
        "POST",
        "/v1/query/envelopes",
        &[("Content-Type", "application/json")],
        Some(br#"{"limit":1000}"#),
    )
    .expect("query");
    answer.json()["envelopes"]
        .as_array()
        .and_then(|envelopes| envelopes.last())
        .and_then(|last| last["seq"].as_u64())
        .expect("a last envelope")
}

#[test]
fn an_older_backup_is_refused_then_recorded_as_a_rollback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let data = dir.path().join("data");
    let backup = dir.path().join("arxi-backup.db");

    let sidecar = Sidecar::start(&config, None);
    record(&sidecar, 5);
    // A second sidecar on the same data is refused before it writes.
    let second = sidecar_command(&[], &config);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(
        text(&second).contains("database in use"),
        "{}",
        text(&second)
    );
    let online = sidecar_command(&["backup", "--to", backup.to_str().expect("utf8")], &config);
    assert_eq!(online.status.code(), Some(0), "{}", text(&online));
    let again = sidecar_command(&["backup", "--to", backup.to_str().expect("utf8")], &config);
    assert_eq!(
        again.status.code(),
        Some(1),
        "never overwrites: {}",
        text(&again)
    );
    assert!(
        text(&again).contains("arxi-backup.db"),
        "names the path: {}",
        text(&again)
    );
    record(&sidecar, 5);
    assert_eq!(sidecar.terminate().code(), Some(0));

    // The copy checks on its own; the live database reaches its head.
    let copy = Command::new(binary("arxi-sidecar"))
        .args(["verify-data", "--database"])
        .arg(&backup)
        .output()
        .expect("verify-data");
    assert_eq!(copy.status.code(), Some(0), "{}", text(&copy));
    assert!(
        text(&copy).contains("global Merkle tree"),
        "{}",
        text(&copy)
    );
    let live = sidecar_command(&["verify-data"], &config);
    assert_eq!(live.status.code(), Some(0), "{}", text(&live));
    assert!(
        text(&live).contains("signed head: reached"),
        "{}",
        text(&live)
    );

    // The restore: stopped, WAL files of the newer database removed, the
    // copy put in place, the signed head left alone.
    for name in ["arxi.db-wal", "arxi.db-shm"] {
        let _ = std::fs::remove_file(data.join(name));
    }
    std::fs::copy(&backup, data.join("arxi.db")).expect("restore");
    let behind = sidecar_command(&["verify-data"], &config);
    assert_eq!(behind.status.code(), Some(1), "{}", text(&behind));

    let refused = sidecar_command(&[], &config);
    let log = text(&refused);
    assert_eq!(refused.status.code(), Some(65), "{log}");
    let flag = log
        .split("--accept-rollback ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the refusal names the flag and the seq: {log}"));
    let signed_seq: u64 = flag.parse().expect("a sequence number");
    assert!(log.contains("are not in this database"), "{log}");

    let wrong = (signed_seq + 1).to_string();
    let mismatch = sidecar_command(&["--accept-rollback", &wrong], &config);
    assert_eq!(mismatch.status.code(), Some(65), "{}", text(&mismatch));
    assert!(text(&mismatch).contains("acknowledged is for signed head seq"));

    let acknowledged = signed_seq.to_string();
    let sidecar = Sidecar::try_start_with(&config, None, &["--accept-rollback", &acknowledged])
        .unwrap_or_else(|(status, log)| panic!("{status:?}\n{}", log.join("\n")));
    let rolled_back = query(&sidecar, "arxi.recorder.rolled_back");
    assert_eq!(rolled_back.len(), 1, "{rolled_back:?}");
    let payload = &rolled_back[0]["payload"];
    assert_eq!(payload["lost_to_seq"], json!(signed_seq));
    assert_eq!(payload["kind"], "behind");
    let restored_seq = payload["database_head_seq"].as_u64().expect("seq");
    assert_eq!(payload["lost_from_seq"], json!(restored_seq + 1));
    assert!(restored_seq < signed_seq);
    record(&sidecar, 2);
    assert!(head_seq(&sidecar) > restored_seq);
    assert_eq!(sidecar.terminate().code(), Some(0));

    let after = sidecar_command(&["verify-data"], &config);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    let sidecar = Sidecar::start(&config, None);
    assert_eq!(
        sidecar.terminate().code(),
        Some(0),
        "no acknowledgement needed any more"
    );
}
