//! Replays the committed seed corpus and every past finding through the
//! fuzz targets' bodies, in the ordinary test suite: `corpus/<target>/*`
//! and `regressions/<target>/*`. A target with no inputs fails the test.

use std::path::Path;

#[test]
fn every_committed_input_runs_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, target) in arxi_fuzz_targets::TARGETS {
        let mut inputs = 0;
        for kind in ["corpus", "regressions"] {
            let dir = root.join(kind).join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("entry").path();
                let data = std::fs::read(&path).expect("read input");
                target(&data);
                inputs += 1;
            }
        }
        assert!(inputs > 0, "no inputs for the {name} target");
    }
}
