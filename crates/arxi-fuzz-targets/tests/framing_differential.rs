//! The differential framing target on generated pipelines, in the ordinary
//! test suite: the framing gate and hyper's server must agree on every
//! request boundary of 3,000 pipelines assembled from HTTP pieces (and
//! of their raw bytes mutated). The seed is printed; set
//! `ARXI_FRAMING_SEED` to replay one run, `ARXI_FRAMING_CASES` for more.

#[test]
fn gate_and_hyper_agree_on_generated_pipelines() {
    let seed: u64 = std::env::var("ARXI_FRAMING_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |elapsed| {
                    u64::from(elapsed.subsec_nanos()) ^ elapsed.as_secs() | 1
                })
        });
    let cases: usize = std::env::var("ARXI_FRAMING_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(3_000);
    println!("ARXI_FRAMING_SEED={seed}");
    let mut state = seed;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for case in 0..cases {
        let length = 1 + next() % 96;
        let plan: Vec<u8> = (0..length).map(|_| next().to_le_bytes()[0]).collect();
        let mut data = vec![1_u8];
        data.extend_from_slice(&plan);
        let outcome = std::panic::catch_unwind(|| arxi_fuzz_targets::http_framing(&data));
        assert!(
            outcome.is_ok(),
            "case {case} (seed {seed}) disagrees; plan {plan:?}"
        );
        // The same pipeline as raw bytes with one byte changed.
        let mut raw = vec![0_u8];
        raw.extend(arxi_fuzz_targets::assemble(&plan));
        if raw.len() > 1 {
            let at = 1 + usize::try_from(next()).unwrap_or(0) % (raw.len() - 1);
            raw[at] = next().to_le_bytes()[0];
        }
        let outcome = std::panic::catch_unwind(|| arxi_fuzz_targets::http_framing(&raw));
        assert!(
            outcome.is_ok(),
            "case {case} (seed {seed}) disagrees on raw bytes {raw:?}"
        );
    }
}
