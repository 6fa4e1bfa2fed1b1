//! The operator's view of the process beside the HTTP and recorder
//! counters (`metrics.rs`): `arxi_build_info`, the standard `process_*`
//! metrics read from `/proc/self` (CPU, resident and virtual memory, open
//! and allowed file descriptors, start time), and the recorder's timing
//! histograms (commit, COMMIT statement with its fsync, checkpoint,
//! envelopes per commit). Kept apart from `metrics.rs`'s functions so each
//! can change alone. Reading `/proc` is file IO: callers run
//! [`read_process`] on the read pool, never on a runtime thread.

use std::fmt::Write as _;

use arxi_recorder::{HistogramSnapshot, TimingsSnapshot};

/// The kernel's clock ticks per second as `/proc` reports CPU time
/// (`USER_HZ`: 100 on every architecture Linux runs this on).
const USER_HZ: f64 = 100.0;

/// `arxi_build_info`: always 1, its labels name the build.
pub fn write_build_info(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP arxi_build_info The running build: version, commit and build profile.\n\
         # TYPE arxi_build_info gauge\n\
         arxi_build_info{{version=\"{}\",commit=\"{}\",profile=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        env!("ARXI_BUILD_COMMIT"),
        env!("ARXI_BUILD_PROFILE"),
    );
}

/// What `/proc/self` says about the process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time.
    pub cpu_seconds: f64,
    /// Resident set.
    pub resident_bytes: u64,
    /// Virtual memory.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open file descriptors.
    pub max_fds: u64,
    /// Start time, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

/// Reads the process's statistics from `/proc`.
pub fn read_process() -> Result<ProcessStats, String> {
    let read = |path: &str| std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"));
    let stat = read("/proc/self/stat")?;
    let fields = parse_stat(&stat).ok_or("/proc/self/stat: unexpected layout")?;
    let boot_seconds = read("/proc/stat")?
        .lines()
        .find_map(|line| line.strip_prefix("btime ")?.trim().parse::<u64>().ok())
        .ok_or("/proc/stat: no btime")?;
    let resident_kib = read("/proc/self/status")?
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("VmRSS:")?.trim();
            rest.strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
        .ok_or("/proc/self/status: no VmRSS")?;
    let max_fds = read("/proc/self/limits")?
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("Max open files")?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .ok_or("/proc/self/limits: no Max open files")?;
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("/proc/self/fd: {e}"))?
        .count() as u64;
    #[allow(clippy::cast_precision_loss)]
    Ok(ProcessStats {
        cpu_seconds: (fields.utime + fields.stime) as f64 / USER_HZ,
        resident_bytes: resident_kib * 1024,
        virtual_bytes: fields.vsize,
        open_fds,
        max_fds,
        start_time_seconds: boot_seconds as f64 + fields.starttime as f64 / USER_HZ,
    })
}

/// The fields of `/proc/self/stat` used here.
#[derive(Debug, PartialEq, Eq)]
struct StatFields {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
}

/// Fields 14, 15, 22 and 23 of `/proc/[pid]/stat`, counted after the
/// command name (which may hold spaces and parentheses, so the split is
/// at its last `)`).
fn parse_stat(text: &str) -> Option<StatFields> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is field 3 (state).
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(StatFields {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        vsize: field(23)?,
    })
}

/// The `process_*` metrics, or a comment saying why they are missing.
pub fn write_process(out: &mut String, stats: &Result<ProcessStats, String>) {
    let stats = match stats {
        Ok(stats) => stats,
        Err(reason) => {
            let _ = writeln!(out, "# process metrics unavailable: {reason}");
            return;
        }
    };
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent, in seconds.",
        stats.cpu_seconds.to_string(),
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size, in bytes.",
        stats.resident_bytes.to_string(),
    );
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size, in bytes.",
        stats.virtual_bytes.to_string(),
    );
    metric(
        "process_open_fds",
        "gauge",
        "Open file descriptors.",
        stats.open_fds.to_string(),
    );
    metric(
        "process_max_fds",
        "gauge",
        "The limit on open file descriptors.",
        stats.max_fds.to_string(),
    );
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, in seconds.",
        stats.start_time_seconds.to_string(),
    );
}

/// `arxi_ready`: 1 when `/ready` would answer 200 on its storage and
/// shutdown checks, 0 otherwise (what an alert on readiness watches).
pub fn write_readiness(out: &mut String, ready: bool) {
    let _ = writeln!(
        out,
        "# HELP arxi_ready 1 while the storage watchdog's last check passed and no shutdown has begun.\n\
         # TYPE arxi_ready gauge\narxi_ready {}",
        u8::from(ready)
    );
}

/// The database and its WAL on disk, in bytes (what a disk-growth alert
/// watches).
pub fn database_bytes(database: &std::path::Path) -> Result<u64, String> {
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    let size = |path: &std::path::Path| match std::fs::metadata(path) {
        Ok(metadata) => Ok(metadata.len()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(error) => Err(format!("{}: {error}", path.display())),
    };
    Ok(size(database)? + size(std::path::Path::new(&wal))?)
}

/// `arxi_storage_database_bytes`, or a comment saying why it is missing.
pub fn write_database_bytes(out: &mut String, bytes: &Result<u64, String>) {
    match bytes {
        Ok(bytes) => {
            let _ = writeln!(
                out,
                "# HELP arxi_storage_database_bytes The database file and its WAL, in bytes.\n\
                 # TYPE arxi_storage_database_bytes gauge\narxi_storage_database_bytes {bytes}"
            );
        }
        Err(reason) => {
            let _ = writeln!(out, "# database size unavailable: {reason}");
        }
    }
}

/// The recorder's timing histograms.
pub fn write_timings(out: &mut String, timings: &TimingsSnapshot) {
    histogram(
        out,
        "arxi_recorder_commit_duration_seconds",
        "A write transaction, begin to durable commit (one per group commit).",
        &timings.commit_micros,
        1e6,
    );
    histogram(
        out,
        "arxi_recorder_commit_sync_duration_seconds",
        "SQLite's COMMIT statement alone: writing the WAL frames and the fsync that makes them durable (synchronous=FULL).",
        &timings.commit_sync_micros,
        1e6,
    );
    histogram(
        out,
        "arxi_recorder_checkpoint_duration_seconds",
        "WAL checkpoints, by the committer and the background copier.",
        &timings.checkpoint_micros,
        1e6,
    );
    histogram(
        out,
        "arxi_recorder_envelopes_per_commit",
        "Envelopes written by one committed transaction.",
        &timings.envelopes_per_commit,
        1.0,
    );
}

/// One histogram in the exposition format, its bounds and sum divided by
/// `per_unit` (1e6 turns microseconds into seconds; a division, so that
/// 50 µs prints as 0.00005).
fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    snapshot: &HistogramSnapshot,
    per_unit: f64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut cumulative = 0;
    for (bound, count) in snapshot.bounds.iter().zip(&snapshot.counts) {
        cumulative += count;
        #[allow(clippy::cast_precision_loss)]
        let bound = *bound as f64 / per_unit;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let total = snapshot.count();
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
    #[allow(clippy::cast_precision_loss)]
    let sum = snapshot.sum as f64 / per_unit;
    let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_whatever_the_command_name() {
        let line = "4242 (arxi (side) car) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 75 0 0 20 0 9 0 123456 987654321 5000 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(StatFields {
                utime: 250,
                stime: 75,
                starttime: 123456,
                vsize: 987654321
            })
        );
        assert_eq!(parse_stat("4242 (no closing"), None);
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
    }

    #[test]
    fn this_process_reads() {
        let stats = read_process().expect("/proc/self");
        assert!(stats.resident_bytes > 0 && stats.open_fds > 0 && stats.max_fds >= stats.open_fds);
        let mut out = String::new();
        write_process(&mut out, &Ok(stats));
        assert!(out.contains("\nprocess_open_fds "), "{out}");
        write_build_info(&mut out);
        assert!(out.contains("arxi_build_info{version=\""), "{out}");
    }

    #[test]
    fn histograms_are_cumulative_and_scaled() {
        let mut out = String::new();
        write_timings(&mut out, &TimingsSnapshot::default());
        assert!(
            out.contains("arxi_recorder_commit_duration_seconds_bucket{le=\"0.00005\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("arxi_recorder_envelopes_per_commit_bucket{le=\"+Inf\"} 0"),
            "{out}"
        );
        let snapshot = HistogramSnapshot {
            bounds: &[1, 2],
            counts: vec![1, 0, 2],
            sum: 9,
        };
        let mut one = String::new();
        histogram(&mut one, "x", "help", &snapshot, 1.0);
        assert_eq!(
            one,
            "# HELP x help\n# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_bucket{le=\"2\"} 1\nx_bucket{le=\"+Inf\"} 3\nx_sum 9\nx_count 3\n"
        );
    }
}
