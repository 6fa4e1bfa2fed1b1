//! arxi-sidecar-config: the sidecar's TOML configuration.
//!
//! A configuration is read whole and validated whole before anything else
//! happens (no socket is bound on a bad configuration): TOML syntax, unknown
//! keys (all of them), value types, then every rule of R-CFG. Every problem
//! is reported at once, each naming its key path. The result, a
//! [`ValidConfig`], holds the checked model, the paths resolved against the
//! configuration file's directory, and the secrets read from token files.
//!
//! Not here: acting on the configuration (binding, loading the signer key,
//! creating directories). That is the sidecar's job.

#![forbid(unsafe_code)]

mod archive;
pub mod limits;
pub mod model;
pub mod timestamp;
mod validate;
pub mod witness;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

pub use archive::{ArchiveCredentials, parse_credentials};
pub use model::{Config, Plane};
pub use validate::{check_hardened_file, parse_mode};

/// The hard cap on any request body limit (`max_request_body_bytes` is
/// capped lower, at 64 MiB): 256 MiB.
pub const BODY_BYTES_CAP: u64 = 256 << 20;

/// One problem with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key path (`limits.request_timeout_ms`), or `(file)` / `(toml)`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problems):", self.0.len())?;
        for error in &self.0 {
            writeln!(f, "  {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A secret value (token). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself (for comparison and outbound headers only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted])")
    }
}

/// What a bearer token may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's name (`default` for `security.token_file`).
    pub name: String,
    /// The planes it reaches.
    pub planes: Vec<Plane>,
    /// Event-type patterns it may write (empty: every type).
    pub namespaces: Vec<String>,
}

impl Grant {
    /// Whether the token reaches `plane` (see [`Plane::reaches`]).
    pub fn allows_plane(&self, plane: Plane) -> bool {
        self.planes.iter().any(|granted| granted.reaches(plane))
    }

    /// Whether the token may write an envelope of `event_type`:
    /// `approvals.*` matches every type that starts with `approvals.`;
    /// any other pattern matches itself only.
    pub fn allows_type(&self, event_type: &str) -> bool {
        self.namespaces.is_empty()
            || self
                .namespaces
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => {
                        event_type.starts_with(prefix) && event_type.len() > prefix.len()
                    }
                    None => event_type == pattern,
                })
    }
}

/// A bearer token and its grant.
#[derive(Debug, Clone)]
pub struct Credential {
    /// What it may reach.
    pub grant: Grant,
    /// The token.
    pub secret: Secret,
}

/// A configuration that passed every rule.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    config: Config,
    base_dir: PathBuf,
    source: String,
    path: Option<PathBuf>,
    credentials: Vec<Credential>,
    enterprise_token: Option<Secret>,
    witness: witness::WitnessPolicy,
    timestamps: Vec<timestamp::TimestampAuthority>,
    archive_credentials: Option<ArchiveCredentials>,
}

impl ValidConfig {
    /// The checked model.
    pub fn model(&self) -> &Config {
        &self.config
    }

    /// Where the configuration came from (a path, or "embedded").
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The file it was read from (`None` for configuration text, such as
    /// the embedded development configuration): what a reload re-reads.
    pub fn file(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Resolves a path of the configuration (relative paths are relative to
    /// the configuration file's directory, or to the working directory for
    /// the embedded configuration).
    pub fn resolve(&self, path: &Path) -> PathBuf {
        validate::resolve(&self.base_dir, path)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.resolve(&self.config.recorder.data_dir)
    }

    /// The bundle directory (`recorder.bundle_dir`, else
    /// `<data_dir>/bundles`).
    pub fn bundle_dir(&self) -> PathBuf {
        match &self.config.recorder.bundle_dir {
            Some(dir) => self.resolve(dir),
            None => self.data_dir().join("bundles"),
        }
    }

    /// The browser verifier page's file, when `web.verifier_page_file` is set.
    pub fn verifier_page_path(&self) -> Option<PathBuf> {
        self.config
            .web
            .verifier_page_file
            .as_deref()
            .map(|path| self.resolve(path))
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir().join("arxi.db")
    }

    /// The subject key file (crypto-shredding), when configured.
    pub fn subject_keys_path(&self) -> Option<PathBuf> {
        self.config
            .recorder
            .subject_keys_file
            .as_deref()
            .map(|path| self.resolve(path))
    }

    /// The signer key file (none when the key is in a PKCS#11 token).
    pub fn signer_key_path(&self) -> Option<PathBuf> {
        self.config
            .signer
            .key_file
            .as_deref()
            .map(|path| self.resolve(path))
    }

    /// The key in a PKCS#11 token, when the configuration names one (its
    /// PIN file resolved).
    pub fn pkcs11_signer(&self) -> Option<model::Pkcs11Signer> {
        let mut token = self.config.signer.pkcs11()?;
        token.pin_file = self.resolve(&token.pin_file);
        Some(token)
    }

    /// The Unix socket path, if configured.
    pub fn unix_socket_path(&self) -> Option<PathBuf> {
        self.config
            .transport
            .unix
            .as_ref()
            .map(|unix| self.resolve(&unix.path))
    }

    /// The bearer tokens and their grants (empty unless `security.mode =
    /// "token"`).
    pub fn credentials(&self) -> &[Credential] {
        &self.credentials
    }

    /// The probe socket, resolved: (path, mode).
    pub fn probe_socket(&self) -> Option<(PathBuf, u32)> {
        self.config.transport.probe_socket.as_ref().map(|socket| {
            (
                self.resolve(&socket.path),
                parse_mode(&socket.mode).unwrap_or(0o600),
            )
        })
    }

    /// The plane sockets, resolved: (plane, path, mode).
    pub fn plane_sockets(&self) -> Vec<(Plane, PathBuf, u32)> {
        self.config
            .transport
            .plane_sockets
            .iter()
            .map(|socket| {
                (
                    socket.plane,
                    self.resolve(&socket.path),
                    parse_mode(&socket.mode).unwrap_or(0o600),
                )
            })
            .collect()
    }

    /// The control plane's bearer token.
    pub fn enterprise_token(&self) -> Option<&Secret> {
        self.enterprise_token.as_ref()
    }

    /// The origin of the log's checkpoints (`log.origin`, else
    /// `arxi/<recorder.id>`).
    pub fn log_origin(&self) -> String {
        self.config
            .log
            .origin
            .clone()
            .unwrap_or_else(|| witness::default_origin(&self.config.recorder.id))
    }

    /// The timestamp authorities, checked (their certificates read).
    pub fn timestamp_authorities(&self) -> &[timestamp::TimestampAuthority] {
        &self.timestamps
    }

    /// The witnesses and the quorum, checked.
    pub fn witness_policy(&self) -> &witness::WitnessPolicy {
        &self.witness
    }

    /// The archive's access keys (with `[archive]`).
    pub fn archive_credentials(&self) -> Option<&ArchiveCredentials> {
        self.archive_credentials.as_ref()
    }

    /// The effective configuration as JSON, with every secret-bearing path
    /// replaced by `"[redacted]"`.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(&self.config).unwrap_or(serde_json::Value::Null);
        for (section, key) in [
            ("security", "token_file"),
            ("enterprise", "token_file"),
            ("signer", "key_file"),
            ("signer", "pkcs11_pin_file"),
            ("archive", "credentials_file"),
            ("recorder", "subject_keys_file"),
        ] {
            if let Some(slot) = value
                .get_mut(section)
                .and_then(|s| s.get_mut(key))
                .filter(|slot| !slot.is_null())
            {
                *slot = serde_json::Value::String("[redacted]".into());
            }
        }
        if let Some(tokens) = value
            .get_mut("security")
            .and_then(|s| s.get_mut("tokens"))
            .and_then(serde_json::Value::as_array_mut)
        {
            for token in tokens {
                if let Some(slot) = token.get_mut("file") {
                    *slot = serde_json::Value::String("[redacted]".into());
                }
            }
        }
        value
    }
}

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<ValidConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigErrors(vec![ConfigError {
            path: "(file)".into(),
            message: format!("{}: {error}", path.display()),
        }])
    })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut config = parse(&text, &base_dir, &path.display().to_string())?;
    config.path = Some(path.to_path_buf());
    Ok(config)
}

/// Parses and validates configuration text; relative paths resolve against
/// `base_dir`.
pub fn parse(text: &str, base_dir: &Path, source: &str) -> Result<ValidConfig, ConfigErrors> {
    let mut problems = validate::Problems::default();
    let table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(error) => {
            problems.add("(toml)", error.to_string().trim().replace('\n', " "));
            return Err(ConfigErrors(problems.0));
        }
    };
    let known = known_keys();
    let mut unknown = Vec::new();
    collect_unknown(&toml::Value::Table(table.clone()), "", &known, &mut unknown);
    for path in &unknown {
        problems.add(path.clone(), "unknown key");
    }
    if !unknown.is_empty() {
        return Err(ConfigErrors(problems.0));
    }
    let config: Config = match Config::deserialize_table(table) {
        Ok(config) => config,
        Err(errors) => {
            problems.0.extend(errors);
            return Err(ConfigErrors(problems.0));
        }
    };
    let loaded = validate::validate(&config, base_dir, &mut problems);
    let witness = witness::check_witness(&config, &mut problems);
    let timestamps = timestamp::check_timestamps(&config, base_dir, &mut problems);
    let archive_credentials = archive::check_archive(&config, base_dir, &mut problems);
    archive::check_retention(&config, &mut problems);
    if problems.0.is_empty() {
        Ok(ValidConfig {
            config,
            base_dir: base_dir.to_path_buf(),
            source: source.to_owned(),
            path: None,
            credentials: loaded.credentials,
            enterprise_token: loaded.enterprise_token,
            witness,
            timestamps,
            archive_credentials,
        })
    } else {
        Err(ConfigErrors(problems.0))
    }
}

impl Config {
    /// Deserializes each section on its own so that type errors in several
    /// sections are all reported.
    fn deserialize_table(table: toml::Table) -> Result<Self, Vec<ConfigError>> {
        let whole = toml::Value::Table(table.clone()).try_into::<Config>();
        match whole {
            Ok(config) => Ok(config),
            Err(first) => {
                let mut errors = Vec::new();
                for (section, value) in &table {
                    let result = match section.as_str() {
                        "api" => value.clone().try_into::<model::Api>().map(drop),
                        "recorder" => value.clone().try_into::<model::Recorder>().map(drop),
                        "transport" => value.clone().try_into::<model::Transport>().map(drop),
                        "security" => value.clone().try_into::<model::Security>().map(drop),
                        "signer" => value.clone().try_into::<model::Signer>().map(drop),
                        "limits" => value.clone().try_into::<model::Limits>().map(drop),
                        "probes" => value.clone().try_into::<model::Probes>().map(drop),
                        "enterprise" => value.clone().try_into::<model::Enterprise>().map(drop),
                        "shutdown" => value.clone().try_into::<model::Shutdown>().map(drop),
                        "archive" => value.clone().try_into::<model::Archive>().map(drop),
                        "retention" => value.clone().try_into::<model::Retention>().map(drop),
                        "web" => value.clone().try_into::<model::Web>().map(drop),
                        "timestamp" => value
                            .clone()
                            .try_into::<Vec<model::TimestampAuthority>>()
                            .map(drop),
                        _ => Ok(()),
                    };
                    if let Err(error) = result {
                        errors.push(ConfigError {
                            path: section.clone(),
                            message: error.to_string().trim().replace('\n', " "),
                        });
                    }
                }
                for required in ["config_version", "api", "recorder", "transport", "signer"] {
                    if !table.contains_key(required) {
                        errors.push(ConfigError {
                            path: required.into(),
                            message: "is required".into(),
                        });
                    }
                }
                if errors.is_empty() {
                    errors.push(ConfigError {
                        path: "(toml)".into(),
                        message: first.to_string().trim().replace('\n', " "),
                    });
                }
                Err(errors)
            }
        }
    }
}

/// Every key path the model accepts (arrays of tables as `name[]`), derived
/// from the reference configuration so it cannot drift from the structs.
pub fn known_keys() -> BTreeSet<String> {
    let value = toml::Value::try_from(Config::reference()).unwrap_or(toml::Value::Boolean(false));
    let mut keys = BTreeSet::new();
    collect_keys(&value, "", &mut keys);
    keys
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn collect_keys(value: &toml::Value, prefix: &str, keys: &mut BTreeSet<String>) {
    if let toml::Value::Table(table) = value {
        for (key, child) in table {
            let path = join(prefix, key);
            keys.insert(path.clone());
            match child {
                toml::Value::Array(items)
                    if items.iter().all(toml::Value::is_table) && !items.is_empty() =>
                {
                    for item in items {
                        collect_keys(item, &format!("{path}[]"), keys);
                    }
                }
                _ => collect_keys(child, &path, keys),
            }
        }
    }
}

fn collect_unknown(
    value: &toml::Value,
    prefix: &str,
    known: &BTreeSet<String>,
    unknown: &mut Vec<String>,
) {
    if let toml::Value::Table(table) = value {
        for (key, child) in table {
            let path = join(prefix, key);
            if !known.contains(&path) {
                unknown.push(path);
                continue;
            }
            match child {
                toml::Value::Array(items) if items.iter().any(toml::Value::is_table) => {
                    for item in items {
                        collect_unknown(item, &format!("{path}[]"), known, unknown);
                    }
                }
                toml::Value::Table(_) => collect_unknown(child, &path, known, unknown),
                _ => {}
            }
        }
    }
}
