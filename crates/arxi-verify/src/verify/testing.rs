//! Unit-test support: bundles crafted by the conformance generator
//! (`tests/conformance/`, the same code that writes `Docs/conformance/`)
//! and the one helper every verifier module's tests go through,
//! [`check`]`(bundle_bytes, expected_codes)`.

#[path = "../../tests/conformance/mod.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]
mod conformance;

use arxi_format::PublicKey;

pub(crate) use conformance::anchor::{anchored, anchored_by};
pub(crate) use conformance::bundle::Bundle;
pub(crate) use conformance::history::{earlier, json_payload, key};

use super::{Options, verify_bundle};
use crate::window::{KeyWindows, SeqWindow};
use crate::witnessed::WitnessPolicy;

/// The golden bundle, ready to be edited.
pub(crate) fn story() -> Bundle {
    Bundle::golden()
}

fn trusted() -> Vec<PublicKey> {
    vec![key("a").public().clone(), key("b").public().clone()]
}

/// Verifies `bytes` under keys A and B, one by one, batched and on worker
/// threads, and asserts that each reports exactly `expected` (as a set).
#[track_caller]
pub(crate) fn check(bytes: &[u8], expected: &[&str]) {
    check_with_policy(bytes, &WitnessPolicy::default(), expected);
}

/// The policy of test witnesses `names` with `quorum`.
pub(crate) fn witness_policy(names: &[&str], quorum: usize) -> WitnessPolicy {
    WitnessPolicy {
        witnesses: names
            .iter()
            .map(|name| conformance::anchor::witness_key(name))
            .collect(),
        quorum,
    }
}

/// As [`check`], under the witness policy `policy`.
#[track_caller]
pub(crate) fn check_with_policy(bytes: &[u8], policy: &WitnessPolicy, expected: &[&str]) {
    check_with(bytes, policy, &KeyWindows::new(), expected);
}

/// As [`check`], with keys A and B trusted within `windows` (test key
/// name and window text, e.g. `("b", "18..25")`).
#[track_caller]
pub(crate) fn check_with_windows(bytes: &[u8], windows: &[(&str, &str)], expected: &[&str]) {
    let windows: KeyWindows = windows
        .iter()
        .map(|(name, window)| {
            let window = SeqWindow::parse(window).expect("a valid window");
            (key(name).id().clone(), window)
        })
        .collect();
    check_with(bytes, &WitnessPolicy::default(), &windows, expected);
}

#[track_caller]
fn check_with(bytes: &[u8], policy: &WitnessPolicy, windows: &KeyWindows, expected: &[&str]) {
    let mut expected: Vec<&str> = expected.to_vec();
    expected.sort_unstable();
    for (batch_size, threads) in [(1, 1), (4_096, 1), (3, 2)] {
        let options = Options {
            batch_size,
            threads,
            witness: policy.clone(),
            windows: windows.clone(),
            ..Options::default()
        };
        let report = verify_bundle(bytes, &trusted(), &options, None);
        let mut found: Vec<&str> = report.codes().iter().map(|code| code.as_str()).collect();
        found.sort_unstable();
        assert_eq!(
            found, expected,
            "batch {batch_size}, {threads} thread(s): {:#?}",
            report.findings
        );
    }
}
