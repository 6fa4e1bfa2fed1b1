//! `[archive]` and `[retention]`: validation, and the archive's access
//! keys read from their hardened file (the same rules as token files) or
//! from the standard AWS environment variables, at validation time, so a
//! missing or unreadable credential stops start-up before anything is
//! bound.

use std::path::Path;

use crate::Secret;
use crate::model::{Config, CredentialsSource};
use crate::validate::{Problems, check_hardened_file, resolve};

/// The archive's access keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveCredentials {
    /// The access key id (not a secret, but kept out of logs all the same).
    pub access_key_id: Secret,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// A session token, for temporary credentials.
    pub session_token: Option<Secret>,
}

/// Checks `[archive]`; returns its credentials when they could be read.
pub(crate) fn check_archive(
    config: &Config,
    base: &Path,
    problems: &mut Problems,
) -> Option<ArchiveCredentials> {
    let archive = config.archive.as_ref()?;
    match url_scheme(&archive.endpoint) {
        Some("http" | "https") => {}
        _ => problems.add(
            "archive.endpoint",
            "must be an http:// or https:// URL with a host",
        ),
    }
    for (key, value) in [
        ("archive.region", &archive.region),
        ("archive.bucket", &archive.bucket),
    ] {
        if value.is_empty() || value.len() > 255 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            problems.add(key, "must be 1 to 255 visible ASCII characters");
        }
    }
    let prefix_ok = archive.key_prefix.len() <= 512
        && archive
            .key_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
        && !archive.key_prefix.starts_with('/');
    if !prefix_ok {
        problems.add(
            "archive.key_prefix",
            "must be at most 512 bytes of [A-Za-z0-9/._-], not starting with /",
        );
    }
    if !(1..=1_000).contains(&archive.segments_per_bundle) {
        problems.add("archive.segments_per_bundle", "must be 1 to 1000");
    }
    if !(1..=30 * 86_400).contains(&archive.run_wait_seconds) {
        problems.add("archive.run_wait_seconds", "must be 1 to 2592000 (30 days)");
    }
    match (archive.object_lock_mode, archive.object_lock_retention_days) {
        (Some(_), Some(days)) if !(1..=36_500).contains(&days) => {
            problems.add("archive.object_lock_retention_days", "must be 1 to 36500");
        }
        (Some(_), None) => problems.add(
            "archive.object_lock_retention_days",
            "is required with archive.object_lock_mode",
        ),
        (None, Some(_)) => problems.add(
            "archive.object_lock_mode",
            "is required with archive.object_lock_retention_days",
        ),
        _ => {}
    }
    credentials(archive, base, problems)
}

fn url_scheme(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', ':']).next()?;
    (!host.is_empty()).then_some(scheme)
}

fn credentials(
    archive: &crate::model::Archive,
    base: &Path,
    problems: &mut Problems,
) -> Option<ArchiveCredentials> {
    match (archive.credentials, &archive.credentials_file) {
        (CredentialsSource::File, None) => {
            problems.add(
                "archive.credentials_file",
                "is required with archive.credentials = \"file\"",
            );
            None
        }
        (CredentialsSource::File, Some(file)) => {
            let path = resolve(base, file);
            let read = check_hardened_file(&path)
                .and_then(|()| {
                    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
                })
                .and_then(|text| {
                    parse_credentials(&text).map_err(|e| format!("{}: {e}", path.display()))
                });
            read.map_err(|reason| problems.add("archive.credentials_file", reason))
                .ok()
        }
        (CredentialsSource::Environment, Some(_)) => {
            problems.add(
                "archive.credentials_file",
                "is read only with archive.credentials = \"file\"",
            );
            None
        }
        (CredentialsSource::Environment, None) => {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => Some(ArchiveCredentials {
                    access_key_id: Secret::new(id),
                    secret_access_key: Secret::new(secret),
                    session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
                }),
                _ => {
                    problems.add(
                        "archive.credentials",
                        "\"environment\" needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set",
                    );
                    None
                }
            }
        }
    }
}

/// Reads the AWS shared-credentials form: `key = value` lines, `#` and
/// `;` comments, at most one `[profile]` header. Unknown keys are refused.
pub fn parse_credentials(text: &str) -> Result<ArchiveCredentials, String> {
    let (mut id, mut secret, mut token) = (None, None, None);
    let mut profiles = 0;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            profiles += 1;
            if profiles > 1 {
                return Err("holds more than one profile".into());
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: not `key = value`", number + 1));
        };
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "line {}: the value must be visible ASCII",
                number + 1
            ));
        }
        let slot = match key.trim() {
            "aws_access_key_id" => &mut id,
            "aws_secret_access_key" => &mut secret,
            "aws_session_token" => &mut token,
            other => return Err(format!("line {}: unknown key {other:?}", number + 1)),
        };
        if slot.replace(Secret::new(value.to_owned())).is_some() {
            return Err(format!(
                "line {}: {} is given twice",
                number + 1,
                key.trim()
            ));
        }
    }
    Ok(ArchiveCredentials {
        access_key_id: id.ok_or("no aws_access_key_id")?,
        secret_access_key: secret.ok_or("no aws_secret_access_key")?,
        session_token: token,
    })
}

/// Checks `[retention]`: it deletes only what is archived, so it needs
/// `[archive]`.
pub(crate) fn check_retention(config: &Config, problems: &mut Problems) {
    let Some(retention) = &config.retention else {
        return;
    };
    if config.archive.is_none() {
        problems.add(
            "retention",
            "needs [archive]: only archived segments are pruned",
        );
    }
    if !(1..=10_000_000).contains(&retention.keep_segments_min) {
        problems.add("retention.keep_segments_min", "must be 1 to 10000000");
    }
    if retention.keep_days_min > 36_500 {
        problems.add("retention.keep_days_min", "must be 0 to 36500");
    }
    if !(1..=86_400).contains(&retention.check_interval_seconds) {
        problems.add("retention.check_interval_seconds", "must be 1 to 86400");
    }
}

#[cfg(test)]
mod tests {
    use super::parse_credentials;

    #[test]
    fn credentials_files_parse_strictly() {
        let parsed = parse_credentials(
            "# arxi\n[default]\naws_access_key_id = GK123\naws_secret_access_key=abc/def\n",
        )
        .expect("parses");
        assert_eq!(parsed.access_key_id.expose(), "GK123");
        assert_eq!(parsed.secret_access_key.expose(), "abc/def");
        assert!(parsed.session_token.is_none());
        for bad in [
            "aws_access_key_id = a\n",
            "aws_access_key_id = a\naws_secret_access_key = b\nregion = x\n",
            "aws_access_key_id = a\naws_access_key_id = a\naws_secret_access_key = b\n",
            "[a]\n[b]\naws_access_key_id = a\naws_secret_access_key = b\n",
            "aws_access_key_id a\n",
        ] {
            assert!(parse_credentials(bad).is_err(), "{bad:?}");
        }
    }
}
