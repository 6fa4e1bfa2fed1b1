//! The restore drill of `Docs/reliability.md` ("Backup and restore"), run
//! with the real binary as an operator would: an online backup with
//! `arxi-sidecar backup` while the sidecar records, more evidence after it,
//! a stop, the restore of the older copy, `verify-data` on the copy and on
//! the restored database, the refusal to start (exit 65, naming the lost
//! range and the flag), the start with `--accept-rollback SEQ` recording
//! `arxi.recorder.rolled_back`, and a clean check at the end.

use std::process::Command;

use arxi_system_tests::{
    Sidecar, binary, http, output_text, query_by_type, run_sidecar, test_config,
};
use serde_json::json;

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
    let second = run_sidecar(&config, &[]);
    assert_eq!(second.status.code(), Some(1), "{}", output_text(&second));
    assert!(
        output_text(&second).contains("database in use"),
        "{}",
        output_text(&second)
    );
    let online = run_sidecar(&config, &["backup", "--to", backup.to_str().expect("utf8")]);
    assert_eq!(online.status.code(), Some(0), "{}", output_text(&online));
    let again = run_sidecar(&config, &["backup", "--to", backup.to_str().expect("utf8")]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "never overwrites: {}",
        output_text(&again)
    );
    assert!(
        output_text(&again).contains("arxi-backup.db"),
        "names the path: {}",
        output_text(&again)
    );
    record(&sidecar, 5);
    assert_eq!(sidecar.terminate().code(), Some(0));

    // The copy checks on its own; the live database reaches its head.
    let copy = Command::new(binary("arxi-sidecar"))
        .args(["verify-data", "--database"])
        .arg(&backup)
        .output()
        .expect("verify-data");
    assert_eq!(copy.status.code(), Some(0), "{}", output_text(&copy));
    assert!(
        output_text(&copy).contains("checked: the log tree over every envelope"),
        "{}",
        output_text(&copy)
    );
    let live = run_sidecar(&config, &["verify-data"]);
    assert_eq!(live.status.code(), Some(0), "{}", output_text(&live));
    assert!(
        output_text(&live).contains("signed head: reached"),
        "{}",
        output_text(&live)
    );

    // The restore: stopped, WAL files of the newer database removed, the
    // copy put in place, the signed head left alone.
    for name in ["arxi.db-wal", "arxi.db-shm"] {
        let _ = std::fs::remove_file(data.join(name));
    }
    std::fs::copy(&backup, data.join("arxi.db")).expect("restore");
    let behind = run_sidecar(&config, &["verify-data"]);
    assert_eq!(behind.status.code(), Some(1), "{}", output_text(&behind));

    let refused = run_sidecar(&config, &[]);
    let log = output_text(&refused);
    assert_eq!(refused.status.code(), Some(65), "{log}");
    let flag = log
        .split("--accept-rollback ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the refusal names the flag and the seq: {log}"));
    let signed_seq: u64 = flag.parse().expect("a sequence number");
    assert!(log.contains("are not in this database"), "{log}");

    let wrong = (signed_seq + 1).to_string();
    let mismatch = run_sidecar(&config, &["--accept-rollback", &wrong]);
    assert_eq!(
        mismatch.status.code(),
        Some(65),
        "{}",
        output_text(&mismatch)
    );
    assert!(output_text(&mismatch).contains("acknowledged is for signed head seq"));

    let acknowledged = signed_seq.to_string();
    let sidecar = Sidecar::try_start_with(&config, None, &["--accept-rollback", &acknowledged])
        .unwrap_or_else(|(status, log)| panic!("{status:?}\n{}", log.join("\n")));
    let rolled_back = query_by_type(&sidecar, "arxi.recorder.rolled_back");
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

    let after = run_sidecar(&config, &["verify-data"]);
    assert_eq!(after.status.code(), Some(0), "{}", output_text(&after));
    let sidecar = Sidecar::start(&config, None);
    assert_eq!(
        sidecar.terminate().code(),
        Some(0),
        "no acknowledgement needed any more"
    );
}
