//! Fail-closed validation: every rule of R-CFG, every problem collected (not
//! just the first), each naming the key it concerns.
//!
//! Validation reads the files the configuration names (token files, the
//! signer key) because "the token file must be hardened" and "the signer key
//! must parse" are facts about those files. It never writes anything.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::model::{Config, EnterpriseMode, Plane, ReadinessMode, SecurityMode};
use crate::{ConfigError, Credential, Grant, Secret};

/// Most `[[security.tokens]]`.
const TOKENS_MAX: usize = 64;
/// Most namespace patterns per token.
const NAMESPACES_MAX: usize = 64;

/// Collects problems.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) Vec<ConfigError>);

impl Problems {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Secrets read while validating.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub(crate) credentials: Vec<Credential>,
    pub(crate) enterprise_token: Option<Secret>,
}

/// Resolves a path from the configuration against the base directory.
pub(crate) fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

pub(crate) fn validate(config: &Config, base: &Path, problems: &mut Problems) -> Loaded {
    check_versions(config, problems);
    check_recorder(config, problems);
    let non_loopback = check_transport(config, base, problems);
    let credentials = check_security(config, base, non_loopback, problems);
    check_signer(config, base, problems);
    check_limits(config, problems);
    check_probes(config, problems);
    let enterprise_token = check_enterprise(config, base, problems);
    check_shutdown(config, problems);
    check_web(config, base, problems);
    Loaded {
        credentials,
        enterprise_token,
    }
}

/// `config_version` and `[api]`.
fn check_versions(config: &Config, problems: &mut Problems) {
    if config.config_version != 1 {
        problems.add(
            "config_version",
            format!("is {}, this build reads version 1", config.config_version),
        );
    }
    if config.api.major_version != 1 {
        problems.add(
            "api.major_version",
            format!(
                "is {}, this build serves API version 1",
                config.api.major_version
            ),
        );
    }
}

/// `[recorder]`.
fn check_recorder(config: &Config, problems: &mut Problems) {
    if let Err(reason) = arxi_format::record::check_recorder_id(&config.recorder.id) {
        problems.add("recorder.id", reason);
    }
    if config.recorder.data_dir.as_os_str().is_empty() {
        problems.add("recorder.data_dir", "must not be empty");
    }
    if config
        .recorder
        .bundle_dir
        .as_ref()
        .is_some_and(|dir| dir.as_os_str().is_empty())
    {
        problems.add("recorder.bundle_dir", "must not be empty when set");
    }
    if config
        .recorder
        .signing_threads
        .is_some_and(|threads| !(1..=64).contains(&threads))
    {
        problems.add("recorder.signing_threads", "must be 1 to 64");
    }
    match config.recorder.envelope_version {
        1 if config.recorder.commit_actor || config.recorder.commit_subject => problems.add(
            "recorder.envelope_version",
            "commit_actor and commit_subject need envelope version 2",
        ),
        1 | 2 => {}
        _ => problems.add("recorder.envelope_version", "must be 1 or 2"),
    }
    if config
        .recorder
        .subject_keys_file
        .as_ref()
        .is_some_and(|file| file.as_os_str().is_empty())
    {
        problems.add("recorder.subject_keys_file", "must not be empty when set");
    }
    if config.recorder.startup_verification_depth > 10_000_000 {
        problems.add(
            "recorder.startup_verification_depth",
            "must be at most 10000000",
        );
    }
    let seal = &config.recorder.auto_seal;
    if !(3..=10_000_000).contains(&seal.envelopes_max) {
        problems.add("recorder.auto_seal.envelopes_max", "must be 3 to 10000000");
    }
    if !(4_096..=64 << 30).contains(&seal.bytes_max) {
        problems.add(
            "recorder.auto_seal.bytes_max",
            "must be 4096 to 68719476736",
        );
    }
    if !(1..=30 * 86_400).contains(&seal.age_seconds) {
        problems.add(
            "recorder.auto_seal.age_seconds",
            "must be 1 to 2592000 (30 days)",
        );
    }
}

/// `[transport]`. Returns whether TCP listens beyond loopback (then
/// `[security]` must demand tokens).
fn check_transport(config: &Config, base: &Path, problems: &mut Problems) -> bool {
    let mut non_loopback = false;
    let transport = &config.transport;
    if transport.tcp.is_none() && transport.unix.is_none() && transport.plane_sockets.is_empty() {
        problems.add(
            "transport",
            "configure at least one of transport.tcp, transport.unix and transport.plane_sockets",
        );
    }
    if !(1..=64).contains(&transport.workers) {
        problems.add("transport.workers", "must be 1 to 64");
    }
    if let Some(tcp) = &transport.tcp {
        match tcp.host.parse::<IpAddr>() {
            Ok(address) => non_loopback = !address.is_loopback(),
            Err(_) => problems.add(
                "transport.tcp.host",
                format!("{:?} is not an IP address literal", tcp.host),
            ),
        }
    }
    if let Some(unix) = &transport.unix {
        if unix.path.as_os_str().is_empty() {
            problems.add("transport.unix.path", "must not be empty");
        } else if unix.path.as_os_str().len() > 100 {
            problems.add(
                "transport.unix.path",
                "is longer than a Unix socket path can be (100 bytes here)",
            );
        }
        if parse_mode(&unix.mode).is_none() {
            problems.add(
                "transport.unix.mode",
                format!(
                    "{:?} is not an octal file mode from 0000 to 0777",
                    unix.mode
                ),
            );
        }
    }
    check_plane_sockets(config, base, problems);
    for (index, host) in transport.allowed_hosts.iter().enumerate() {
        let valid = !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
            });
        if !valid {
            problems.add(
                format!("transport.allowed_hosts[{index}]"),
                format!("{host:?} is not a host name"),
            );
        }
    }
    non_loopback
}

/// `[security]`: tokens wherever TCP is not loopback, and the credentials.
fn check_security(
    config: &Config,
    base: &Path,
    non_loopback: bool,
    problems: &mut Problems,
) -> Vec<Credential> {
    let security = &config.security;
    if non_loopback {
        if security.mode != SecurityMode::Token {
            problems.add(
                "security.mode",
                "must be \"token\": transport.tcp.host is not a loopback address",
            );
        }
        if !security.require_token_for_non_loopback {
            problems.add(
                "security.require_token_for_non_loopback",
                "must be true: transport.tcp.host is not a loopback address",
            );
        }
    }
    check_tokens(config, base, problems)
}

/// `[limits]`: each within its row of the limits table, plus the rules
/// between settings.
fn check_limits(config: &Config, problems: &mut Problems) {
    for limit in crate::limits::LIMITS {
        let value = (limit.get)(&config.limits);
        if value < limit.min || value > limit.max {
            problems.add(
                format!("limits.{}", limit.key),
                format!("is {value}, must be {} to {}", limit.min, limit.max),
            );
        }
    }
    let limits = &config.limits;
    if limits.attachment_bytes_max > limits.attachment_request_bytes_max {
        problems.add(
            "limits.attachment_bytes_max",
            "must not exceed limits.max_attachment_request_bytes",
        );
    }
    // A batch fits in one fresh segment, between its opened and sealed
    // envelopes, so its sequence numbers are consecutive.
    if limits.batch_envelopes_max.saturating_add(2) > config.recorder.auto_seal.envelopes_max {
        problems.add(
            "limits.batch_envelopes_max",
            "must be at most recorder.auto_seal.envelopes_max - 2",
        );
    }
}

/// `[probes]`.
fn check_probes(config: &Config, problems: &mut Problems) {
    let probes = &config.probes;
    if !is_safe_absolute_path(&probes.enterprise_health_path) {
        problems.add(
            "probes.enterprise_health_path",
            "must be an absolute path of [A-Za-z0-9/_.-] without '..' or '//', at most 256 bytes",
        );
    }
    if probes.readiness_mode == ReadinessMode::StorageAndEnterprise
        && config.enterprise.mode == EnterpriseMode::Disabled
    {
        problems.add(
            "probes.readiness_mode",
            "\"storage_and_enterprise\" needs enterprise.mode other than \"disabled\"",
        );
    }
}

/// `[enterprise]`: an enabled mode needs tokens, a control-plane URL and
/// its token file (read here). Returns that token.
fn check_enterprise(config: &Config, base: &Path, problems: &mut Problems) -> Option<Secret> {
    let security = &config.security;
    let mut token = None;
    let enterprise = &config.enterprise;
    if enterprise.mode != EnterpriseMode::Disabled {
        if security.mode != SecurityMode::Token {
            problems.add(
                "enterprise.mode",
                "an enabled enterprise mode needs security.mode = \"token\"",
            );
        }
        match &enterprise.control_plane_url {
            None => problems.add(
                "enterprise.control_plane_url",
                "is required when enterprise.mode is enabled",
            ),
            Some(url) => {
                if let Err(reason) = check_control_plane_url(url) {
                    problems.add("enterprise.control_plane_url", reason);
                }
            }
        }
        match &enterprise.token_file {
            None => problems.add(
                "enterprise.token_file",
                "is required when enterprise.mode is enabled",
            ),
            Some(file) => {
                token = read_secret_file(&resolve(base, file), "enterprise.token_file", problems);
            }
        }
        if !(50..=60_000).contains(&enterprise.timeout_ms) {
            problems.add("enterprise.timeout_ms", "must be 50 to 60000");
        }
    }
    if enterprise.require_writer_lease_header && enterprise.mode != EnterpriseMode::ManagedCloud {
        problems.add(
            "enterprise.require_writer_lease_header",
            "applies only when enterprise.mode is \"managed_cloud\"",
        );
    }
    token
}

/// `[shutdown]`.
fn check_shutdown(config: &Config, problems: &mut Problems) {
    if !(1..=600).contains(&config.shutdown.shutdown_drain_seconds) {
        problems.add("shutdown.shutdown_drain_seconds", "must be 1 to 600");
    }
}

/// `security.token_file` and `[[security.tokens]]`: the credentials, each
/// from a hardened file, every token distinct.
fn check_tokens(config: &Config, base: &Path, problems: &mut Problems) -> Vec<Credential> {
    let security = &config.security;
    if security.mode == SecurityMode::None {
        if security.token_file.is_some() {
            problems.add(
                "security.token_file",
                "is set but security.mode is \"none\"; set mode = \"token\" or remove it",
            );
        }
        if !security.tokens.is_empty() {
            problems.add(
                "security.tokens",
                "are set but security.mode is \"none\"; set mode = \"token\" or remove them",
            );
        }
        return Vec::new();
    }
    if security.token_file.is_none() && security.tokens.is_empty() {
        problems.add(
            "security.token_file",
            "security.mode is \"token\": set security.token_file (every plane) or at least one [[security.tokens]]",
        );
    }
    if security.tokens.len() > TOKENS_MAX {
        problems.add(
            "security.tokens",
            format!("{} tokens; at most {TOKENS_MAX}", security.tokens.len()),
        );
    }
    let mut credentials: Vec<(String, Credential)> = Vec::new();
    if let Some(file) = &security.token_file
        && let Some(secret) =
            read_secret_file(&resolve(base, file), "security.token_file", problems)
    {
        credentials.push((
            "security.token_file".into(),
            Credential {
                grant: Grant {
                    name: "default".into(),
                    planes: Plane::ALL.to_vec(),
                    namespaces: Vec::new(),
                },
                secret,
            },
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    if security.token_file.is_some() {
        names.insert("default");
    }
    for (index, token) in security.tokens.iter().enumerate() {
        credentials.extend(check_scoped_token(index, token, base, &mut names, problems));
    }
    for (index, (key, credential)) in credentials.iter().enumerate() {
        if let Some((first, _)) = credentials[..index]
            .iter()
            .find(|(_, earlier)| earlier.secret == credential.secret)
        {
            problems.add(
                key.clone(),
                format!("holds the same token as {first}; every token must be distinct"),
            );
        }
    }
    credentials
        .into_iter()
        .map(|(_, credential)| credential)
        .collect()
}

/// One `[[security.tokens]]` entry: its name (unique), planes, namespaces
/// and token file. Returns its credential when the file could be read.
fn check_scoped_token<'a>(
    index: usize,
    token: &'a crate::model::TokenGrant,
    base: &Path,
    names: &mut std::collections::BTreeSet<&'a str>,
    problems: &mut Problems,
) -> Option<(String, Credential)> {
    let key = format!("security.tokens[{index}]");
    if arxi_format::record::check_recorder_id(&token.name).is_err() {
        problems.add(
            format!("{key}.name"),
            format!("{:?} must be 1 to 64 bytes of [a-z0-9._-]", token.name),
        );
    } else if !names.insert(token.name.as_str()) {
        problems.add(
            format!("{key}.name"),
            format!(
                "{:?} is used twice (\"default\" is security.token_file's)",
                token.name
            ),
        );
    }
    let mut planes = token.planes.clone();
    planes.sort_unstable();
    planes.dedup();
    if token.planes.is_empty() {
        problems.add(
            format!("{key}.planes"),
            "must name at least one of \"control\", \"data\", \"read\"",
        );
    } else if planes.len() != token.planes.len() {
        problems.add(format!("{key}.planes"), "names a plane twice");
    }
    if !token.namespaces.is_empty() && !planes.contains(&Plane::Data) {
        problems.add(
            format!("{key}.namespaces"),
            "limit envelope writes, so they need the \"data\" plane",
        );
    }
    if token.namespaces.len() > NAMESPACES_MAX {
        problems.add(
            format!("{key}.namespaces"),
            format!("at most {NAMESPACES_MAX} patterns"),
        );
    }
    for (position, pattern) in token.namespaces.iter().enumerate() {
        if let Err(reason) = check_namespace(pattern) {
            problems.add(format!("{key}.namespaces[{position}]"), reason);
        }
    }
    let secret = read_secret_file(
        &resolve(base, &token.file),
        &format!("{key}.file"),
        problems,
    )?;
    Some((
        format!("{key}.file"),
        Credential {
            grant: Grant {
                name: token.name.clone(),
                planes,
                namespaces: token.namespaces.clone(),
            },
            secret,
        },
    ))
}

/// `approvals.*` or an exact event type.
fn check_namespace(pattern: &str) -> Result<(), String> {
    let exact = pattern.strip_suffix(".*").unwrap_or(pattern);
    if exact.contains('*') || arxi_format::record::check_event_type(exact).is_err() {
        return Err(format!(
            "{pattern:?} is neither an event type nor a prefix pattern such as \"approvals.*\""
        ));
    }
    Ok(())
}

/// `[[transport.plane_sockets]]` and `transport.probe_socket`: one socket
/// per plane at most, every path distinct.
fn check_plane_sockets(config: &Config, base: &Path, problems: &mut Problems) {
    let transport = &config.transport;
    let mut planes = Vec::new();
    let mut paths: Vec<PathBuf> = transport
        .unix
        .iter()
        .map(|unix| resolve(base, &unix.path))
        .collect();
    if let Some(probe) = &transport.probe_socket {
        let key = "transport.probe_socket";
        if probe.path.as_os_str().is_empty() {
            problems.add(format!("{key}.path"), "must not be empty");
        } else if probe.path.as_os_str().len() > 100 {
            problems.add(
                format!("{key}.path"),
                "is longer than a Unix socket path can be (100 bytes here)",
            );
        } else {
            let path = resolve(base, &probe.path);
            if paths.contains(&path) {
                problems.add(
                    format!("{key}.path"),
                    format!("{} is used by another listener", path.display()),
                );
            }
            paths.push(path);
        }
        if parse_mode(&probe.mode).is_none() {
            problems.add(
                format!("{key}.mode"),
                format!(
                    "{:?} is not an octal file mode from 0000 to 0777",
                    probe.mode
                ),
            );
        }
    }
    for (index, socket) in transport.plane_sockets.iter().enumerate() {
        let key = format!("transport.plane_sockets[{index}]");
        if planes.contains(&socket.plane) {
            problems.add(
                format!("{key}.plane"),
                format!("{:?} has a socket already", socket.plane.name()),
            );
        }
        planes.push(socket.plane);
        if socket.path.as_os_str().is_empty() {
            problems.add(format!("{key}.path"), "must not be empty");
        } else if socket.path.as_os_str().len() > 100 {
            problems.add(
                format!("{key}.path"),
                "is longer than a Unix socket path can be (100 bytes here)",
            );
        } else {
            let path = resolve(base, &socket.path);
            if paths.contains(&path) {
                problems.add(
                    format!("{key}.path"),
                    format!("{} is used by another listener", path.display()),
                );
            }
            paths.push(path);
        }
        if parse_mode(&socket.mode).is_none() {
            problems.add(
                format!("{key}.mode"),
                format!(
                    "{:?} is not an octal file mode from 0000 to 0777",
                    socket.mode
                ),
            );
        }
    }
}

/// `[web]`: the verifier page is a regular file within its limit. It is
/// read again at start; this only reports a bad path with every other
/// problem.
fn check_web(config: &Config, base: &Path, problems: &mut Problems) {
    let Some(page) = &config.web.verifier_page_file else {
        return;
    };
    let key = "web.verifier_page_file";
    let path = resolve(base, page);
    match std::fs::metadata(&path) {
        Err(error) => problems.add(key, format!("{}: {error}", path.display())),
        Ok(metadata) if !metadata.is_file() => {
            problems.add(key, format!("{} is not a regular file", path.display()));
        }
        Ok(metadata) if metadata.len() > config.limits.verifier_page_bytes_max => problems.add(
            key,
            format!(
                "{} has {} bytes, more than limits.verifier_page_bytes_max ({})",
                path.display(),
                metadata.len(),
                config.limits.verifier_page_bytes_max
            ),
        ),
        Ok(_) => {}
    }
}

/// Parses `"0660"`-style octal modes up to 0777.
pub fn parse_mode(text: &str) -> Option<u32> {
    if !(3..=4).contains(&text.len()) || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|mode| *mode <= 0o777)
}

fn is_safe_absolute_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 256
        && !path.contains("..")
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'))
}

fn check_control_plane_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(
            "must start with http:// (the bridge speaks plain HTTP to a local or sidecar proxy)"
                .into(),
        );
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err("has no host".into());
    }
    if rest.contains(['?', '#', ' ']) || url.len() > 512 {
        return Err(
            "must be a base URL without query, fragment or spaces, at most 512 bytes".into(),
        );
    }
    if let Some((_, port)) = authority
        .rsplit_once(':')
        .filter(|(_, port)| !authority.ends_with(']') && port.parse::<u16>().is_err())
    {
        return Err(format!("port {port:?} is not a number"));
    }
    Ok(())
}

/// Checks a file that holds a secret: regular, not a symlink, no group or
/// other permission bits, non-empty, at least 16 visible characters.
pub(crate) fn read_secret_file(path: &Path, key: &str, problems: &mut Problems) -> Option<Secret> {
    if let Err(reason) = check_hardened_file(path) {
        problems.add(key, reason);
        return None;
    }
    match std::fs::read_to_string(path) {
        Err(error) => {
            problems.add(key, format!("{}: {error}", path.display()));
            None
        }
        Ok(text) => {
            let token = text.trim();
            if token.len() < 16
                || token.len() > 4_096
                || !token.bytes().all(|b| b.is_ascii_graphic())
            {
                problems.add(
                    key,
                    format!(
                        "{}: must hold one token of 16 to 4096 visible ASCII characters",
                        path.display()
                    ),
                );
                None
            } else {
                Some(Secret::new(token.to_owned()))
            }
        }
    }
}

/// A regular file, not a symlink, without group or other permission bits.
pub fn check_hardened_file(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let metadata =
        std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file_type = metadata.file_type();
    if file_type.is_symlink() {
        return Err(format!(
            "{} is a symlink; point to the file itself",
            path.display()
        ));
    }
    if !file_type.is_file() || file_type.is_fifo() || file_type.is_socket() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} has mode {mode:04o}; remove group and other permissions (chmod 600)",
            path.display()
        ));
    }
    Ok(())
}

/// Longest token label (PKCS#11 pads labels to 32 bytes) and key label.
const TOKEN_LABEL_BYTES_MAX: usize = 32;
const KEY_LABEL_BYTES_MAX: usize = 256;

fn check_signer(config: &Config, base: &Path, problems: &mut Problems) {
    let signer = &config.signer;
    let token_keys = [
        signer.pkcs11_module.is_some(),
        signer.pkcs11_token_label.is_some(),
        signer.pkcs11_slot.is_some(),
        signer.pkcs11_key_label.is_some(),
        signer.pkcs11_pin_file.is_some(),
    ];
    let in_token = token_keys.contains(&true);
    match (&signer.key_file, in_token) {
        (Some(key_file), false) => check_key_file(config, &resolve(base, key_file), problems),
        (None, true) => {
            if signer.generate_if_missing {
                problems.add(
                    "signer.generate_if_missing",
                    "applies to a key_file only; a key in a token is made with the token's tools",
                );
            }
            check_pkcs11(signer, base, problems);
        }
        (Some(_), true) => problems.add(
            "signer",
            "set key_file or the pkcs11_ keys, not both: the recorder signs with one key",
        ),
        (None, false) => problems.add(
            "signer",
            "set key_file (a key file) or pkcs11_module and the other pkcs11_ keys (a key in a PKCS#11 token)",
        ),
    }
    if !(1..=1 << 40).contains(&signer.delegate_rotate_envelopes) {
        problems.add("signer.delegate_rotate_envelopes", "must be 1 to 2^40");
    }
    if !(1..=366 * 86_400).contains(&signer.delegate_rotate_seconds) {
        problems.add(
            "signer.delegate_rotate_seconds",
            "must be 1 to 31622400 (366 days)",
        );
    }
}

fn check_pkcs11(signer: &crate::model::Signer, base: &Path, problems: &mut Problems) {
    match &signer.pkcs11_module {
        None => problems.add(
            "signer.pkcs11_module",
            "is required with the other pkcs11_ keys: the token's PKCS#11 library",
        ),
        Some(module) if !module.is_absolute() => problems.add(
            "signer.pkcs11_module",
            "give the module's absolute path (a relative one would be searched for by the loader)",
        ),
        Some(module) if !module.is_file() => problems.add(
            "signer.pkcs11_module",
            format!("{} is not a file", module.display()),
        ),
        Some(_) => {}
    }
    match (&signer.pkcs11_token_label, signer.pkcs11_slot) {
        (Some(label), None) => {
            if label.is_empty() || label.len() > TOKEN_LABEL_BYTES_MAX {
                problems.add(
                    "signer.pkcs11_token_label",
                    format!("a token label is 1 to {TOKEN_LABEL_BYTES_MAX} bytes"),
                );
            }
        }
        (None, Some(_)) => {}
        _ => problems.add(
            "signer.pkcs11_token_label",
            "name the token by pkcs11_token_label or by pkcs11_slot (exactly one)",
        ),
    }
    let label_bytes = signer.pkcs11_key_label.as_ref().map_or(0, String::len);
    if label_bytes == 0 || label_bytes > KEY_LABEL_BYTES_MAX {
        problems.add(
            "signer.pkcs11_key_label",
            format!("is required: the key pair's label, 1 to {KEY_LABEL_BYTES_MAX} bytes"),
        );
    }
    match &signer.pkcs11_pin_file {
        None => problems.add(
            "signer.pkcs11_pin_file",
            "is required: the file with the user PIN",
        ),
        Some(pin) => {
            if let Err(reason) = check_hardened_file(&resolve(base, pin)) {
                problems.add("signer.pkcs11_pin_file", reason);
            }
        }
    }
}

fn check_key_file(config: &Config, path: &Path, problems: &mut Problems) {
    let path = path.to_path_buf();
    match std::fs::symlink_metadata(&path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if !config.signer.generate_if_missing {
                problems.add(
                    "signer.key_file",
                    format!(
                        "{} does not exist (create one with `arxi keygen`, or set generate_if_missing = true for development)",
                        path.display()
                    ),
                );
            }
        }
        Err(error) => problems.add("signer.key_file", format!("{}: {error}", path.display())),
        Ok(_) => {
            if let Err(reason) = check_hardened_file(&path) {
                problems.add("signer.key_file", reason);
                return;
            }
            match std::fs::read_to_string(&path) {
                Err(error) => {
                    problems.add("signer.key_file", format!("{}: {error}", path.display()));
                }
                Ok(text) => {
                    if let Err(error) = arxi_format::SecretKey::from_hex(&text) {
                        problems.add(
                            "signer.key_file",
                            format!("{}: not an Ed25519 secret key: {error}", path.display()),
                        );
                    }
                }
            }
        }
    }
}
