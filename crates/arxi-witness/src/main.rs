//! `arxi-witness`: a C2SP tlog-witness.
//!
//! ```text
//! arxi-witness keygen --name NAME --key FILE     new key; prints its vkey
//! arxi-witness vkey --key FILE                   prints the key's vkey
//! arxi-witness serve --key FILE --state DIR --listen ADDR --log VKEY...
//!                    [--address-file FILE]
//! ```
//!
//! A log's origin is the name of its key (`--log`, repeatable; several keys
//! may share an origin). `--address-file` receives the bound address once
//! the witness accepts connections (for `--listen 127.0.0.1:0`).

use std::fs;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arxi_format::SecretKey;
use arxi_format::note::{NoteSigner, SignatureType, VerifierKey};
use arxi_witness::witness::Witness;

const USAGE: &str = "usage:
  arxi-witness keygen --name NAME --key FILE
  arxi-witness vkey --key FILE
  arxi-witness serve --key FILE --state DIR --listen ADDR --log VKEY... [--address-file FILE]";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("arxi-witness: {message}");
            ExitCode::from(2)
        }
    }
}

/// The options after the subcommand: `--name value` pairs (repeatable).
struct Options(Vec<(String, String)>);

impl Options {
    fn parse(args: &[String], known: &[&str]) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let name = flag
                .strip_prefix("--")
                .filter(|name| known.contains(name))
                .ok_or_else(|| format!("unknown argument {flag}\n{USAGE}"))?;
            let value = rest
                .next()
                .ok_or_else(|| format!("--{name} needs a value\n{USAGE}"))?;
            pairs.push((name.to_owned(), value.clone()));
        }
        Ok(Self(pairs))
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn one(&self, name: &str) -> Result<&str, String> {
        match self.all(name)[..] {
            [value] => Ok(value),
            [] => Err(format!("--{name} is required\n{USAGE}")),
            _ => Err(format!("--{name} given more than once")),
        }
    }

    fn optional(&self, name: &str) -> Result<Option<&str>, String> {
        match self.all(name)[..] {
            [] => Ok(None),
            [value] => Ok(Some(value)),
            _ => Err(format!("--{name} given more than once")),
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or(USAGE)?;
    match command.as_str() {
        "keygen" => keygen(&Options::parse(rest, &["name", "key"])?),
        "vkey" => {
            let options = Options::parse(rest, &["key"])?;
            let signer = read_key(Path::new(options.one("key")?))?;
            println!("{}", signer.verifier());
            Ok(())
        }
        "serve" => serve(&Options::parse(
            rest,
            &["key", "state", "listen", "log", "address-file"],
        )?),
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    }
}

fn keygen(options: &Options) -> Result<(), String> {
    let path = PathBuf::from(options.one("key")?);
    let mut seed = [0_u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("randomness: {e}"))?;
    let secret = SecretKey::from_seed(&seed).map_err(|e| e.to_string())?;
    let signer = NoteSigner::new(options.one("name")?, SignatureType::Cosignature, secret)
        .map_err(|e| e.to_string())?;
    let text = signer
        .to_private_text()
        .ok_or("a key made here is in memory")?;
    write_secret(&path, &text)?;
    println!("{}", signer.verifier());
    Ok(())
}

/// Creates `path` with mode 0600; refuses to replace a file.
fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_key(path: &Path) -> Result<NoteSigner, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    NoteSigner::parse(text.trim()).map_err(|e| format!("{}: {e}", path.display()))
}

fn serve(options: &Options) -> Result<(), String> {
    let signer = read_key(Path::new(options.one("key")?))?;
    let logs = options
        .all("log")
        .into_iter()
        .map(|vkey| VerifierKey::parse(vkey).map_err(|e| format!("--log {vkey}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if logs.is_empty() {
        return Err(format!("at least one --log is required\n{USAGE}"));
    }
    let state = PathBuf::from(options.one("state")?);
    let witness = Arc::new(Witness::open(signer, logs, &state).map_err(|e| e.to_string())?);
    let listen = options.one("listen")?;
    let listener = TcpListener::bind(listen).map_err(|e| format!("--listen {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(file) = options.optional("address-file")? {
        let temporary = format!("{file}.tmp");
        fs::write(&temporary, format!("{address}\n"))
            .and_then(|()| fs::rename(&temporary, file))
            .map_err(|e| format!("--address-file {file}: {e}"))?;
    }
    tracing::info!(%address, witness = %witness.verifier(), "witness serving");
    arxi_witness::http::serve(&listener, &witness).map_err(|e| e.to_string())
}
