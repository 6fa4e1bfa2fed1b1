//! Prometheus text metrics: requests by route and status, latency
//! histograms by route, connections, admission, and the recorder's own
//! counters (queue depth, appends, commits, batch sizes, seals).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Status codes with their own counter; everything else counts as "other".
const STATUSES: &[u16] = &[
    200, 201, 400, 401, 403, 404, 405, 406, 409, 410, 411, 413, 415, 422, 428, 429, 431, 500, 501,
    502, 503,
];

/// Latency bucket bounds, in seconds.
const BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Debug)]
struct RouteMetrics {
    by_status: Vec<AtomicU64>,
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl RouteMetrics {
    fn new() -> Self {
        Self {
            by_status: (0..=STATUSES.len()).map(|_| AtomicU64::new(0)).collect(),
            buckets: (0..BUCKETS.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

/// The sidecar's HTTP metrics.
#[derive(Debug)]
pub struct HttpMetrics {
    /// Each route's label (its operation id), in route-table order.
    route_names: Vec<&'static str>,
    /// One entry per route, plus one for unmatched requests.
    routes: Vec<RouteMetrics>,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections refused at the connection cap.
    pub connections_refused: AtomicU64,
}

impl HttpMetrics {
    /// Metrics for these routes (their labels, in route-table order), plus
    /// one slot for requests that matched none.
    pub fn new(route_names: Vec<&'static str>) -> Self {
        Self {
            routes: (0..=route_names.len())
                .map(|_| RouteMetrics::new())
                .collect(),
            route_names,
            connections_open: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
        }
    }

    /// Records one finished request (`route` from `routes::index_of`, or
    /// the number of routes when no route matched).
    pub fn record(&self, route: usize, status: u16, elapsed: Duration) {
        let Some(metrics) = self.routes.get(route) else {
            return;
        };
        let slot = STATUSES
            .iter()
            .position(|&known| known == status)
            .unwrap_or(STATUSES.len());
        metrics.by_status[slot].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            metrics.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        metrics.count.fetch_add(1, Ordering::Relaxed);
        metrics.sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Requests counted for a route and status (tests).
    pub fn requests(&self, route: usize, status: u16) -> u64 {
        let slot = STATUSES
            .iter()
            .position(|&known| known == status)
            .unwrap_or(STATUSES.len());
        self.routes
            .get(route)
            .map_or(0, |metrics| metrics.by_status[slot].load(Ordering::Relaxed))
    }

    /// Writes the HTTP part of the exposition.
    pub fn write(&self, out: &mut String) {
        let route_name = |index: usize| self.route_names.get(index).copied().unwrap_or("unmatched");
        out.push_str("# HELP arxi_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE arxi_http_requests_total counter\n");
        for (index, metrics) in self.routes.iter().enumerate() {
            for (slot, counter) in metrics.by_status.iter().enumerate() {
                let value = counter.load(Ordering::Relaxed);
                if value == 0 {
                    continue;
                }
                let status = STATUSES
                    .get(slot)
                    .map_or_else(|| "other".to_owned(), u16::to_string);
                let _ = writeln!(
                    out,
                    "arxi_http_requests_total{{route=\"{}\",status=\"{status}\"}} {value}",
                    route_name(index)
                );
            }
        }
        out.push_str("# HELP arxi_http_request_duration_seconds Time from request head to response, by route.\n");
        out.push_str("# TYPE arxi_http_request_duration_seconds histogram\n");
        for (index, metrics) in self.routes.iter().enumerate() {
            let count = metrics.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let name = route_name(index);
            let mut cumulative = 0;
            for (bucket, bound) in BUCKETS.iter().enumerate() {
                cumulative += metrics.buckets[bucket].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "arxi_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "arxi_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {count}"
            );
            #[allow(clippy::cast_precision_loss)]
            let sum = metrics.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "arxi_http_request_duration_seconds_sum{{route=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "arxi_http_request_duration_seconds_count{{route=\"{name}\"}} {count}"
            );
        }
        gauge(
            out,
            "arxi_http_connections_open",
            "Open connections.",
            self.connections_open.load(Ordering::Relaxed),
        );
        counter(
            out,
            "arxi_http_connections_refused_total",
            "Connections closed at once because max_connections was reached.",
            self.connections_refused.load(Ordering::Relaxed),
        );
    }
}

/// Writes one gauge.
pub fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// Writes one counter.
pub fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
    );
}

/// Writes the recorder's metrics.
pub fn write_recorder(out: &mut String, metrics: &arxi_recorder::MetricsSnapshot, head_seq: u64) {
    gauge(
        out,
        "arxi_recorder_queue_depth",
        "Commands waiting for the sequencer.",
        metrics.queue_depth,
    );
    gauge(
        out,
        "arxi_recorder_queue_bytes",
        "Payload and attachment bytes waiting.",
        metrics.queued_bytes,
    );
    gauge(
        out,
        "arxi_recorder_wal_pages",
        "WAL pages after the last commit.",
        metrics.wal_pages,
    );
    gauge(
        out,
        "arxi_recorder_head_seq",
        "Sequence number of the last envelope.",
        head_seq,
    );
    let counters = [
        (
            "arxi_recorder_appends_total",
            "Data envelopes submitted.",
            metrics.appends_total,
        ),
        (
            "arxi_recorder_envelopes_total",
            "Envelopes written (data and control).",
            metrics.envelopes_total,
        ),
        (
            "arxi_recorder_commits_total",
            "Transactions committed.",
            metrics.commits_total,
        ),
        (
            "arxi_recorder_commit_failures_total",
            "Transactions that failed.",
            metrics.commit_failures_total,
        ),
        (
            "arxi_recorder_signer_failures_total",
            "Batches refused because the signing key made no signature (nothing of them was recorded).",
            metrics.signer_failures_total,
        ),
        (
            "arxi_recorder_seals_total",
            "Segments sealed.",
            metrics.seals_total,
        ),
        (
            "arxi_recorder_replays_total",
            "Idempotent replays answered.",
            metrics.replays_total,
        ),
        (
            "arxi_recorder_overloaded_total",
            "Submissions refused because the queue was full.",
            metrics.overloaded_total,
        ),
        (
            "arxi_recorder_checkpoints_total",
            "WAL checkpoints run.",
            metrics.checkpoints_total,
        ),
        (
            "arxi_recorder_checkpoint_failures_total",
            "WAL checkpoints that failed.",
            metrics.checkpoint_failures_total,
        ),
        (
            "arxi_recorder_checkpoint_retries_total",
            "Background checkpoint attempts that met a commit in flight and were tried again.",
            metrics.checkpoint_retries_total,
        ),
    ];
    for (name, help, value) in counters {
        counter(out, name, help, value);
    }
    write_batch_histogram(out, metrics);
}

/// `arxi_recorder_batch_commands`: commands per committed transaction.
fn write_batch_histogram(out: &mut String, metrics: &arxi_recorder::MetricsSnapshot) {
    out.push_str(
        "# HELP arxi_recorder_batch_commands Commands per committed transaction (group commit).\n",
    );
    out.push_str("# TYPE arxi_recorder_batch_commands histogram\n");
    let mut cumulative = 0;
    let mut count = 0;
    for (bound, value) in &metrics.batch_buckets {
        cumulative += value;
        count = cumulative;
        if *bound == u64::MAX {
            let _ = writeln!(
                out,
                "arxi_recorder_batch_commands_bucket{{le=\"+Inf\"}} {cumulative}"
            );
        } else {
            let _ = writeln!(
                out,
                "arxi_recorder_batch_commands_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
    }
    let _ = writeln!(
        out,
        "arxi_recorder_batch_commands_sum {}",
        metrics.batch_commands_sum
    );
    let _ = writeln!(out, "arxi_recorder_batch_commands_count {count}");
}

/// Writes the archiver's and retention's metrics.
pub fn write_archive(out: &mut String, archive: &crate::archiver::ArchiveMetrics) {
    let load = |value: &AtomicU64| value.load(Ordering::Relaxed);
    gauge(
        out,
        "arxi_archive_lag_segments",
        "Sealed segments not archived yet.",
        load(&archive.lag_segments),
    );
    counter(
        out,
        "arxi_archive_segments_total",
        "Segments archived (confirmed in the bucket and recorded) since start.",
        load(&archive.segments_total),
    );
    counter(
        out,
        "arxi_archive_objects_total",
        "Objects written or adopted since start.",
        load(&archive.objects_total),
    );
    counter(
        out,
        "arxi_archive_adopted_total",
        "Objects an earlier attempt had uploaded, adopted instead of uploaded again.",
        load(&archive.adopted_total),
    );
    counter(
        out,
        "arxi_archive_bytes_total",
        "Bytes archived since start.",
        load(&archive.bytes_total),
    );
    counter(
        out,
        "arxi_archive_failures_total",
        "Archive attempts that failed (each is retried).",
        load(&archive.failures_total),
    );
    gauge(
        out,
        "arxi_archive_last_success_timestamp_seconds",
        "Unix time of the last archived run (0: none since start).",
        load(&archive.last_success_unix_seconds),
    );
    gauge(
        out,
        "arxi_retention_pruned_through_segment",
        "Segments 1..=n are pruned locally (their seals stay).",
        load(&archive.pruned_through_segment),
    );
    gauge(
        out,
        "arxi_database_bytes",
        "Size of the database file.",
        load(&archive.database_bytes),
    );
    gauge(
        out,
        "arxi_database_free_bytes",
        "Free pages in the database file (reused, or given back after a pruning).",
        load(&archive.database_free_bytes),
    );
}
