//! The `bundle_series` suite: consecutive bundles built over HTTP from a
//! real history, verified together offline with `arxi bundle verify B1 B2
//! ...` (Docs/format.md §11.5).
//!
//! The history has a clean stop, a restart with a new key inside an open
//! segment, a kill, and a restart with another new key that opens a segment
//! (so a bundle starts with the segment opened by a key change). Bundles of
//! segments 1-2, 3-4 and 5-5 form a valid series; 1-2 with 4-5 has a gap,
//! 1-3 with 3-5 an overlap.

use std::path::{Path, PathBuf};
use std::process::Command;

use arxi_system_tests::{Sidecar, binary, build_bundle, http, test_config};

fn record(sidecar: &Sidecar, count: u64) {
    for n in 0..count {
        let body = format!(r#"{{"type":"orders.placed","payload":{{"n":{n}}}}}"#);
        let response = http(
            &sidecar.tcp,
            "POST",
            "/v1/envelopes",
            &[],
            Some(body.as_bytes()),
        )
        .expect("record");
        assert_eq!(
            response.status,
            201,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
    }
}

fn seal(sidecar: &Sidecar) {
    let sealed = http(&sidecar.tcp, "POST", "/v1/segments/seal", &[], None).expect("seal");
    assert_eq!(
        sealed.status,
        200,
        "{}",
        String::from_utf8_lossy(&sealed.body)
    );
}

/// Every key the recorder has used, as key files in `dir`.
fn key_files(sidecar: &Sidecar, dir: &Path) -> Vec<PathBuf> {
    let keys = http(&sidecar.tcp, "GET", "/v1/keys", &[], None)
        .expect("keys")
        .json();
    keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let path = dir.join(format!("recorder-{index}.pub"));
            let hex = key["public_key"].as_str().expect("public key");
            std::fs::write(&path, format!("{hex}\n")).expect("write key");
            path
        })
        .collect()
}

/// `arxi bundle verify FILES --key ... --json`: the exit code, the codes
/// and the series' codes.
fn verify(files: &[&PathBuf], keys: &[PathBuf]) -> (i32, Vec<String>, Vec<String>) {
    let mut command = Command::new(binary("arxi"));
    command.args(["bundle", "verify"]);
    command.args(files);
    for key in keys {
        command.arg("--key").arg(key);
    }
    let output = command.arg("--json").output().expect("arxi runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    let strings = |value: &serde_json::Value| -> Vec<String> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|v| v.as_str().expect("code").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    (
        output.status.code().expect("exit code"),
        strings(&report["codes"]),
        strings(&report["series"]["codes"]),
    )
}

#[test]
fn consecutive_bundles_over_http_verify_as_a_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(dir.path(), "", "auto");
    let signer_key = dir.path().join("signer.key");
    // Key A: segments 1 and 2, then a clean stop (which opens segment 3).
    let sidecar = Sidecar::start(&config, None);
    for _ in 0..2 {
        record(&sidecar, 3);
        seal(&sidecar);
    }
    assert_eq!(sidecar.terminate().code(), Some(0));
    // Key B, inside the open segment 3; segment 4; then killed.
    assert!(
        signer_key.is_file(),
        "the generated key is {}",
        signer_key.display()
    );
    std::fs::remove_file(&signer_key).expect("remove key");
    let sidecar = Sidecar::start(&config, None);
    for _ in 0..2 {
        record(&sidecar, 3);
        seal(&sidecar);
    }
    sidecar.kill();
    // Key C: its key event opens segment 5.
    std::fs::remove_file(&signer_key).expect("remove key");
    let sidecar = Sidecar::start(&config, None);
    record(&sidecar, 3);
    seal(&sidecar);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    let keys = key_files(&sidecar, &out);
    assert_eq!(keys.len(), 3, "keys A, B and C");
    let [one_two, three_four, five] =
        [(1, 2), (3, 4), (5, 5)].map(|(first, last)| build_bundle(&sidecar, &out, first, last));
    let (one_three, three_five, four_five) = (
        build_bundle(&sidecar, &out, 1, 3),
        build_bundle(&sidecar, &out, 3, 5),
        build_bundle(&sidecar, &out, 4, 5),
    );
    assert_eq!(sidecar.terminate().code(), Some(0));

    for single in [
        &one_two,
        &three_four,
        &five,
        &one_three,
        &three_five,
        &four_five,
    ] {
        assert_eq!(
            verify(&[single], &keys),
            (0, vec![], vec![]),
            "{}",
            single.display()
        );
    }
    assert_eq!(
        verify(&[&one_two, &three_four, &five], &keys),
        (0, vec![], vec![])
    );
    let gap = vec!["bundles_gap".to_owned()];
    assert_eq!(
        verify(&[&one_two, &four_five], &keys),
        (1, gap.clone(), gap)
    );
    let overlap = vec!["bundles_overlap".to_owned()];
    assert_eq!(
        verify(&[&one_three, &three_five], &keys),
        (1, overlap.clone(), overlap)
    );
    // In the wrong order the second bundle starts before the first ends.
    let (exit, _, series) = verify(&[&three_four, &one_two], &keys);
    assert_eq!((exit, series), (1, vec!["bundles_overlap".to_owned()]));
}
