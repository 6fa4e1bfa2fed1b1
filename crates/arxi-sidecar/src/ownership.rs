//! Start-up errors about files that say whose they are.
//!
//! "unable to open database file" tells an operator nothing; a bind-mounted
//! data folder created by root, or a backup restored with the wrong owner,
//! is the usual cause. These checks run before the database opens and name
//! the path, its owner, group and mode, the user the sidecar runs as, and
//! the fix. Not here: changing any ownership (the operator decides).

use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

/// This process's effective user and group ids, from `/proc/self/status`
/// (no unsafe call); `None` where that file is not readable.
fn effective_ids() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u32> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        // Real, effective, saved, filesystem: the second is the effective.
        line.split_whitespace().nth(2)?.parse().ok()
    };
    Some((field("Uid:")?, field("Gid:")?))
}

/// Explains an IO error on `path`, with ownership facts when it is a
/// permission problem.
pub fn explain(path: &Path, error: &std::io::Error) -> String {
    if error.kind() != std::io::ErrorKind::PermissionDenied {
        return format!("{}: {error}", path.display());
    }
    let who = match effective_ids() {
        Some((uid, gid)) => format!("uid {uid}, gid {gid}"),
        None => "this user".to_owned(),
    };
    // The path itself, or the folder it would be created in.
    let owner = match std::fs::metadata(path).or_else(|_| {
        path.parent()
            .map_or_else(|| std::fs::metadata("."), std::fs::metadata)
    }) {
        Ok(meta) => format!(
            " (owned by uid {}, gid {}, mode {:04o})",
            meta.uid(),
            meta.gid(),
            meta.mode() & 0o7777
        ),
        Err(_) => String::new(),
    };
    let fix = match effective_ids() {
        Some((uid, gid)) => format!("chown -R {uid}:{gid} on the host folder mounted there"),
        None => "give the sidecar's user ownership of it".to_owned(),
    };
    format!(
        "{}{owner} is not writable by the sidecar, which runs as {who}: {error}; {fix}, or run the sidecar as its owner",
        path.display()
    )
}

/// Checks that the data directory and (when it exists) the database can be
/// written by this process, before SQLite reports "unable to open database
/// file".
pub fn check_writable(data_dir: &Path, database: &Path) -> Result<(), String> {
    let probe = data_dir.join(format!(".arxi-write-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(error) => return Err(explain(data_dir, &error)),
    }
    if database.exists() {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(database)
            .map_err(|error| explain(database, &error))?;
    }
    Ok(())
}

/// The widest modes the sidecar leaves on what it owns: files 0640 and
/// folders 0750 (owner; the operators' group reads; nobody else). Secrets
/// (the signing key, token files) are 0600 and checked as such elsewhere.
const FILE_MODE_MAX: u32 = 0o640;
const DIR_MODE_MAX: u32 = 0o750;

/// Creates the database file (empty: SQLite makes it a database) with mode
/// 0640 before SQLite would create it 0644; SQLite gives its `-wal` and
/// `-shm` files the database's mode.
pub fn create_database_file(database: &Path) -> Result<(), String> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE_MAX)
        .open(database)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(explain(database, &error)),
    }
}

/// Removes group write and every "other" permission from `paths` that
/// exist and are this process's (a data folder made with `mkdir`, a
/// database from an older version or a restore). A path it cannot change
/// is logged, not fatal: the owner check above already passed.
pub fn tighten(paths: &[std::path::PathBuf]) {
    use std::os::unix::fs::PermissionsExt as _;
    for path in paths {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        let widest = if meta.is_dir() {
            DIR_MODE_MAX
        } else {
            FILE_MODE_MAX
        };
        let mode = meta.mode() & 0o7777;
        if mode & !widest == 0 {
            continue;
        }
        let tightened = mode & widest;
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(tightened)) {
            Ok(()) => tracing::info!(
                path = %path.display(),
                from = format!("{mode:04o}"),
                to = format!("{tightened:04o}"),
                "tightened the mode of evidence on disk"
            ),
            Err(error) => tracing::warn!(
                path = %path.display(),
                %error,
                mode = format!("{mode:04o}"),
                "could not tighten the mode; other local users may read evidence"
            ),
        }
    }
}
