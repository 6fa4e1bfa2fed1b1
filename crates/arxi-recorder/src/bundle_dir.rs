//! The bundle directory: where bundle files are written, when they become
//! downloadable, and how a restart cleans up after a build that a crash
//! interrupted.
//!
//! A bundle file goes through three names, each reached by a rename that
//! is made durable (file synced, then the directory) before the next step:
//!
//! 1. `.building-<pid>-<n>` while it is written;
//! 2. `.staged-<id>-<pid>-<n>` once complete, while its `arxi.bundle.built`
//!    envelope is recorded (two builds of the same bytes never share a
//!    staged file);
//! 3. `<id>.arxb` (published) only after that envelope committed.
//!
//! So a published file always has its envelope (the invariant of
//! `Docs/ARCHITECTURE.md`), and what a crash leaves is recognisable: at
//! open, [`recover`] removes temporary files (incomplete, never named),
//! publishes a staged file whose envelope committed, and moves any complete
//! file no envelope records (staged, or published by a build older than the
//! staging step) to `quarantine/`, with a log line: such files look like
//! evidence, so they are kept aside for an operator, never deleted silently.
//! Serving reads [`recorded`] (the store's bundle index, checked against
//! the envelope it points to) before it opens a file.
//!
//! Not here: the bundle bytes (`bundle.rs`), recording the envelope (the
//! engine), HTTP (the sidecar).

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arxi_format::{Signer, Timestamp};
use arxi_store::{Reader, ReaderPool, StoreError};

use crate::OpenError;
use crate::bundle::{
    BundleError, BundleFile, BundleSelection, PayloadSelection, RecordedBundle, bundle_file_name,
    is_bundle_id, resolve_selection, write_bundle,
};
use crate::control;

/// The subdirectory unrecorded bundle files are moved to.
pub const QUARANTINE_DIR: &str = "quarantine";

const BUILDING_PREFIX: &str = ".building-";
const STAGED_PREFIX: &str = ".staged-";

/// Most files of one name `quarantine/` holds (`<id>.arxb`, `<id>.1.arxb`,
/// ...): the same bundle quarantined by that many crashes.
const QUARANTINE_COPIES_MAX: u32 = 1_000;

static BUILDS: AtomicU64 = AtomicU64::new(0);

/// A complete bundle file under its staged name, not downloadable yet.
/// Record its `arxi.bundle.built` envelope, then publish it
/// (`RecorderEngine::publish_bundle`); dropped unpublished, the file is
/// removed (a build that was not recorded leaves no file).
#[derive(Debug)]
pub struct StagedBundle {
    file: BundleFile,
    staged: PathBuf,
    /// False once published, or once a failed publication left the file
    /// for the next start to finish.
    remove_on_drop: bool,
}

impl StagedBundle {
    /// The bundle: its id, the path it will be published at, what it
    /// holds.
    pub fn file(&self) -> &BundleFile {
        &self.file
    }

    /// Where the staged file is now (readable until published or dropped).
    pub fn staged_path(&self) -> &Path {
        &self.staged
    }

    /// Renames the staged file to `<id>.arxb` and syncs the directory. The
    /// caller has checked that its envelope committed. When the rename
    /// fails the staged file stays: the next start publishes it.
    pub(crate) fn publish(mut self) -> Result<BundleFile, BundleError> {
        self.remove_on_drop = false;
        std::fs::rename(&self.staged, &self.file.path).map_err(BundleError::Write)?;
        sync_parent(&self.file.path).map_err(BundleError::Write)?;
        Ok(self.file.clone())
    }
}

impl Drop for StagedBundle {
    fn drop(&mut self) {
        if self.remove_on_drop
            && let Err(error) = std::fs::remove_file(&self.staged)
        {
            tracing::warn!(
                %error,
                path = %self.staged.display(),
                "could not remove an unrecorded bundle; the next start quarantines it"
            );
        }
    }
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = path
        .parent()
        .expect("bundle files are named inside the bundle directory");
    std::fs::File::open(parent)?.sync_all()
}

/// Builds a bundle into `dir` (created if missing) and stages it: written
/// under a temporary name, synced, renamed to its staged name, the
/// directory synced. A failed build leaves no file. `anchor`: the
/// witnessed checkpoint to anchor it to, when it covers the bundle.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_staged(
    readers: &ReaderPool,
    key: &Signer,
    created_at: Timestamp,
    dir: &Path,
    selection: BundleSelection,
    payloads: &PayloadSelection,
    anchor: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> Result<StagedBundle, BundleError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .map_err(BundleError::Write)?;
    let build = format!(
        "{}-{}",
        std::process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    );
    let temporary = dir.join(format!("{BUILDING_PREFIX}{build}"));
    let result = (|| {
        // Evidence: the owner and the operators' group may read it, nobody
        // else (Docker profile README, "File modes").
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&temporary)
            .map_err(BundleError::Write)?;
        let built = readers.with(|reader| {
            Ok(resolve_selection(&reader, selection).and_then(|segments| {
                write_bundle(
                    &reader, segments, payloads, anchor, key, created_at, &file, progress,
                )
            }))
        })??;
        file.sync_all().map_err(BundleError::Write)?;
        let id = built.sha256.to_hex()[..32].to_owned();
        let staged = dir.join(format!("{STAGED_PREFIX}{id}-{build}"));
        std::fs::rename(&temporary, &staged).map_err(BundleError::Write)?;
        let staged = StagedBundle {
            file: BundleFile {
                path: dir.join(bundle_file_name(&id)),
                id,
                built,
            },
            staged,
            remove_on_drop: true,
        };
        // Durable before the envelope can commit: recovery must find a
        // recorded bundle under its staged name, not its temporary one.
        sync_parent(&staged.staged).map_err(BundleError::Write)?;
        Ok(staged)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// What `arxi.bundle.built` recorded for bundle `id`, if any: the store's
/// bundle index, checked against the envelope it points to (rows read back
/// are not trusted).
pub(crate) fn recorded(
    reader: &Reader<'_>,
    id: &str,
) -> Result<Option<RecordedBundle>, StoreError> {
    let Some(seq) = reader.bundle_seq(id)? else {
        return Ok(None);
    };
    let bad = |why: String| StoreError::BadRow(format!("bundles: seq {seq} (bundle {id}): {why}"));
    let row = reader
        .envelope(seq)?
        .ok_or_else(|| bad("no such envelope".into()))?;
    let record = control::parse_bundle_built(&row).map_err(bad)?;
    if record.id != id {
        return Err(bad(format!("the envelope names bundle {}", record.id)));
    }
    Ok(Some(record))
}

/// Opens the published file of bundle `id` if an envelope records it and
/// the file has the recorded size.
pub(crate) fn open_recorded(
    reader: &Reader<'_>,
    dir: &Path,
    id: &str,
) -> Result<(std::fs::File, u64), BundleError> {
    let not_found = || BundleError::NotFound(format!("bundle {id}"));
    if !is_bundle_id(id) {
        return Err(not_found());
    }
    let record = recorded(reader, id)?.ok_or_else(not_found)?;
    let path = dir.join(bundle_file_name(id));
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(error) => return Err(BundleError::Read(error)),
    };
    let metadata = file.metadata().map_err(BundleError::Read)?;
    if !metadata.is_file() {
        return Err(not_found());
    }
    if metadata.len() != record.size {
        return Err(BundleError::Inconsistent(format!(
            "{} holds {} bytes, its arxi.bundle.built (seq {}) records {}",
            path.display(),
            metadata.len(),
            record.seq,
            record.size
        )));
    }
    Ok((file, metadata.len()))
}

/// What [`recover`] did to the bundle directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BundleDirReport {
    /// Temporary files of builds that never finished, removed.
    pub removed_temporary: u64,
    /// Their bytes.
    pub removed_bytes: u64,
    /// Recorded bundles whose publication a crash interrupted, published.
    pub published: Vec<String>,
    /// Complete bundle files that no envelope records (or duplicates of a
    /// published one), moved to `quarantine/`: their new paths.
    pub quarantined: Vec<PathBuf>,
}

/// A file in the bundle directory, by its name.
enum Entry {
    Temporary,
    Staged(String),
    Published(String),
    Foreign,
}

fn classify(name: &str) -> Entry {
    if name.starts_with(BUILDING_PREFIX) {
        return Entry::Temporary;
    }
    let staged = name
        .strip_prefix(STAGED_PREFIX)
        .and_then(|rest| rest.split_once('-'))
        .map(|(id, _build)| id)
        .filter(|id| is_bundle_id(id));
    let published = name.strip_suffix(".arxb").filter(|id| is_bundle_id(id));
    match (staged, published) {
        (Some(id), _) => Entry::Staged(id.to_owned()),
        (None, Some(id)) => Entry::Published(id.to_owned()),
        (None, None) => Entry::Foreign,
    }
}

fn dir_error(path: &Path, error: &std::io::Error) -> OpenError {
    OpenError::BundleDir(format!("{}: {error}", path.display()))
}

/// Cleans the bundle directory at open, before anything is served (see the
/// module comment). A missing directory is empty.
pub(crate) fn recover(reader: &Reader<'_>, dir: &Path) -> Result<BundleDirReport, OpenError> {
    let mut report = BundleDirReport::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(error) => return Err(dir_error(dir, &error)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| dir_error(dir, &error))?;
        let is_file = entry
            .file_type()
            .map_err(|error| dir_error(&entry.path(), &error))?
            .is_file();
        if let (true, Some(name)) = (is_file, entry.file_name().to_str()) {
            files.push(name.to_owned());
        }
    }
    files.sort();
    for name in &files {
        recover_file(reader, dir, name, &mut report)?;
    }
    let changed = report.removed_temporary > 0
        || !report.published.is_empty()
        || !report.quarantined.is_empty();
    if changed {
        std::fs::File::open(dir)
            .and_then(|handle| handle.sync_all())
            .map_err(|error| dir_error(dir, &error))?;
    }
    Ok(report)
}

fn recover_file(
    reader: &Reader<'_>,
    dir: &Path,
    name: &str,
    report: &mut BundleDirReport,
) -> Result<(), OpenError> {
    let path = dir.join(name);
    match classify(name) {
        Entry::Temporary => {
            let bytes = std::fs::metadata(&path)
                .map_err(|error| dir_error(&path, &error))?
                .len();
            std::fs::remove_file(&path).map_err(|error| dir_error(&path, &error))?;
            tracing::warn!(path = %path.display(), bytes, "removed the temporary file of a bundle build that did not finish");
            report.removed_temporary += 1;
            report.removed_bytes += bytes;
        }
        Entry::Staged(id) => {
            let published = dir.join(bundle_file_name(&id));
            if recorded(reader, &id)?.is_none() {
                quarantine(
                    dir,
                    &path,
                    &id,
                    "its arxi.bundle.built was never recorded",
                    report,
                )?;
            } else if published.exists() {
                quarantine(
                    dir,
                    &path,
                    &id,
                    "a duplicate of the published bundle",
                    report,
                )?;
            } else {
                std::fs::rename(&path, &published).map_err(|error| dir_error(&path, &error))?;
                tracing::warn!(bundle_id = %id, "published a recorded bundle whose publication a crash interrupted");
                report.published.push(id);
            }
        }
        Entry::Published(id) => {
            if recorded(reader, &id)?.is_none() {
                quarantine(dir, &path, &id, "no arxi.bundle.built records it", report)?;
            }
        }
        Entry::Foreign => {
            tracing::debug!(path = %path.display(), "not a bundle file; left alone");
        }
    }
    Ok(())
}

/// Moves `path` (bundle `id`) to `quarantine/<id>.arxb`, or `<id>.N.arxb`
/// when that name is taken.
fn quarantine(
    dir: &Path,
    path: &Path,
    id: &str,
    reason: &str,
    report: &mut BundleDirReport,
) -> Result<(), OpenError> {
    let quarantine = dir.join(QUARANTINE_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(&quarantine)
        .map_err(|error| dir_error(&quarantine, &error))?;
    let target = (0..QUARANTINE_COPIES_MAX)
        .map(|copy| match copy {
            0 => quarantine.join(bundle_file_name(id)),
            _ => quarantine.join(format!("{id}.{copy}.arxb")),
        })
        .find(|candidate| !candidate.exists())
        .ok_or_else(|| {
            OpenError::BundleDir(format!(
                "{}: {QUARANTINE_COPIES_MAX} copies of bundle {id} are already quarantined",
                quarantine.display()
            ))
        })?;
    std::fs::rename(path, &target).map_err(|error| dir_error(path, &error))?;
    std::fs::File::open(&quarantine)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| dir_error(&quarantine, &error))?;
    tracing::warn!(
        from = %path.display(),
        to = %target.display(),
        reason,
        "quarantined a bundle file that is not served"
    );
    report.quarantined.push(target);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Entry, classify};

    fn check(name: &str, expected: &str) {
        let found = match classify(name) {
            Entry::Temporary => "temporary".to_owned(),
            Entry::Staged(id) => format!("staged {id}"),
            Entry::Published(id) => format!("published {id}"),
            Entry::Foreign => "foreign".to_owned(),
        };
        assert_eq!(found, expected, "{name}");
    }

    #[test]
    fn names_are_classified() {
        let id = "0123456789abcdef0123456789abcdef";
        check(".building-12-0", "temporary");
        check(&format!(".staged-{id}-12-0"), &format!("staged {id}"));
        check(&format!(".staged-{id}"), "foreign");
        check(&format!("{id}.arxb"), &format!("published {id}"));
        check(".staged-0123-12-0", "foreign");
        check(&format!(".staged-{}-12-0", id.to_uppercase()), "foreign");
        check("0123.arxb", "foreign");
        check(&format!("{id}.arxb.tmp"), "foreign");
        check("notes.txt", "foreign");
        check(super::QUARANTINE_DIR, "foreign");
    }
}
