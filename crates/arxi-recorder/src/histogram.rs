//! Histograms for `/metrics`: how long commits, their COMMIT statement (the
//! WAL write and its fsync) and checkpoints take, and how many envelopes
//! each commit carries. Fixed bucket bounds, atomic counters, no locks:
//! the committer and the checkpointer record, the metrics route reads a
//! snapshot. It renders nothing (the sidecar writes the exposition).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Duration bounds, in microseconds: 50 µs to 10 s.
pub const DURATION_BOUNDS_MICROS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Envelopes-per-commit bounds: powers of two to 4,096.
pub const COUNT_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 2_048, 4_096];

/// One histogram: a counter per bound and one above the last.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [u64],
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [u64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Counts one value.
    pub(crate) fn record(&self, value: u64) {
        let bucket = self
            .bounds
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(self.bounds.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Counts one duration, in microseconds.
    pub(crate) fn record_duration(&self, elapsed: Duration) {
        self.record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds,
            counts: self
                .buckets
                .iter()
                .map(|bucket| bucket.load(Ordering::Relaxed))
                .collect(),
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Upper bounds (inclusive), in the histogram's unit.
    pub bounds: &'static [u64],
    /// Values per bucket (not cumulative); one more than `bounds`, the
    /// last above every bound.
    pub counts: Vec<u64>,
    /// Sum of every value recorded.
    pub sum: u64,
}

impl HistogramSnapshot {
    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The recorder's timings.
#[derive(Debug)]
pub(crate) struct Timings {
    /// A plan's whole transaction: begin, rows, commit (µs).
    pub(crate) commit: Histogram,
    /// The COMMIT statement alone: the WAL frames written and fsynced (µs).
    pub(crate) commit_sync: Histogram,
    /// Checkpoints, by the committer and the background copier (µs).
    pub(crate) checkpoint: Histogram,
    /// Envelopes written per commit.
    pub(crate) envelopes_per_commit: Histogram,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            commit: Histogram::new(DURATION_BOUNDS_MICROS),
            commit_sync: Histogram::new(DURATION_BOUNDS_MICROS),
            checkpoint: Histogram::new(DURATION_BOUNDS_MICROS),
            envelopes_per_commit: Histogram::new(COUNT_BOUNDS),
        }
    }
}

impl Timings {
    pub(crate) fn snapshot(&self) -> TimingsSnapshot {
        TimingsSnapshot {
            commit_micros: self.commit.snapshot(),
            commit_sync_micros: self.commit_sync.snapshot(),
            checkpoint_micros: self.checkpoint.snapshot(),
            envelopes_per_commit: self.envelopes_per_commit.snapshot(),
        }
    }
}

/// A copy of the recorder's timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimingsSnapshot {
    /// A plan's whole transaction, in microseconds.
    pub commit_micros: HistogramSnapshot,
    /// The COMMIT statement (WAL write and fsync), in microseconds.
    pub commit_sync_micros: HistogramSnapshot,
    /// Checkpoints, in microseconds.
    pub checkpoint_micros: HistogramSnapshot,
    /// Envelopes per commit.
    pub envelopes_per_commit: HistogramSnapshot,
}

impl Default for TimingsSnapshot {
    fn default() -> Self {
        Timings::default().snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_their_buckets() {
        let histogram = Histogram::new(COUNT_BOUNDS);
        for value in [0, 1, 2, 3, 4, 5, 4_096, 4_097, u64::MAX / 2] {
            histogram.record(value);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts.len(), COUNT_BOUNDS.len() + 1);
        assert_eq!(snapshot.counts[0], 2, "0 and 1");
        assert_eq!(snapshot.counts[1], 1, "2");
        assert_eq!(snapshot.counts[2], 2, "3 and 4");
        assert_eq!(snapshot.counts[3], 1, "5");
        assert_eq!(snapshot.counts[12], 1, "4096");
        assert_eq!(snapshot.counts[13], 2, "above every bound");
        assert_eq!(snapshot.count(), 9);
        let durations = Histogram::new(DURATION_BOUNDS_MICROS);
        durations.record_duration(Duration::from_micros(700));
        assert_eq!(durations.snapshot().counts[4], 1, "700 µs is at most 1 ms");
        assert_eq!(durations.snapshot().sum, 700);
    }
}
