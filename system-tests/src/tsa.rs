//! A local RFC 3161 timestamp authority for the system tests: OpenSSL's
//! `openssl ts -reply` behind a small HTTP server (RFC 3161 section 3.4:
//! POST `application/timestamp-query`, answer
//! `application/timestamp-reply`).
//!
//! [`OpensslTsa::new`] makes a CA and a TSA certificate it issues (a
//! critical extended key usage of `timeStamping`) with `openssl req` and
//! `openssl x509`; [`OpensslTsa::reply`] answers one query through
//! `openssl ts -reply`; [`TsaServer`] serves it over HTTP on 127.0.0.1,
//! and can be switched to answer 503 (a TSA that is down).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The key type of a test TSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA over P-384.
    EcP384,
    /// RSA, 2048 bits (PKCS #1 v1.5 signatures).
    Rsa2048,
}

impl KeyType {
    fn newkey(self) -> [&'static str; 4] {
        match self {
            Self::EcP384 => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            Self::Rsa2048 => ["-newkey", "rsa:2048", "-pkeyopt", "rsa_keygen_bits:2048"],
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs (Debian package openssl; scripts/install-test-deps.sh)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The CA (`ca.key`, `ca.pem`) and the TSA certificate it issues
/// (`tsa.key`, `tsa.pem`: a critical extended key usage of
/// `timeStamping`), made with `openssl req` and `openssl x509` in `dir`.
fn make_certificates(dir: &Path, name: &str, key: KeyType) {
    let [newkey, kind, opt, value] = key.newkey();
    let ca_subject = format!("/CN={name} CA/O=arxi system tests");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            newkey,
            kind,
            opt,
            value,
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            &ca_subject,
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let subject = format!("/CN={name}/O=arxi system tests");
    openssl(
        dir,
        &[
            "req", newkey, kind, opt, value, "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
            "-subj", &subject,
        ],
    );
    std::fs::write(
        dir.join("tsa-ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
    )
    .expect("extensions");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tsa.pem",
            "-days",
            "3650",
            "-extfile",
            "tsa-ext.cnf",
        ],
    );
}

/// A CA, a TSA certificate it issues, and OpenSSL's TSA configuration, in
/// a directory of their own.
#[derive(Debug)]
pub struct OpensslTsa {
    dir: PathBuf,
    /// Queries answered so far (names the query files).
    served: AtomicU64,
}

impl OpensslTsa {
    /// Makes the CA `"{name} CA"` and the TSA `name` under `dir`.
    pub fn new(dir: &Path, name: &str, key: KeyType) -> Self {
        std::fs::create_dir_all(dir).expect("tsa dir");
        make_certificates(dir, name, key);
        std::fs::write(dir.join("serial"), "01\n").expect("serial");
        std::fs::write(
            dir.join("ts.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = local\n[ local ]\ndir = {}\nserial = $dir/serial\n\
                 crypto_device = builtin\nsigner_cert = $dir/tsa.pem\ncerts = $dir/ca.pem\n\
                 signer_key = $dir/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1, millisecs:500\n\
                 clock_precision_digits = 0\nordering = no\ntsa_name = yes\n\
                 ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                dir.display()
            ),
        )
        .expect("ts.cnf");
        Self {
            dir: dir.to_path_buf(),
            served: AtomicU64::new(0),
        }
    }

    /// The CA certificate (PEM): what the recorder and auditors trust.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The TSA's own certificate (PEM).
    pub fn tsa_pem(&self) -> PathBuf {
        self.dir.join("tsa.pem")
    }

    /// `openssl ts -reply` to the DER `TimeStampReq` `query`: the DER
    /// `TimeStampResp`.
    pub fn reply(&self, query: &[u8]) -> Vec<u8> {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        let query_file = self.dir.join(format!("query-{n}.tsq"));
        let reply_file = self.dir.join(format!("reply-{n}.tsr"));
        std::fs::write(&query_file, query).expect("query file");
        let output = Command::new("openssl")
            .args(["ts", "-reply", "-config"])
            .arg(self.dir.join("ts.cnf"))
            .arg("-queryfile")
            .arg(&query_file)
            .arg("-out")
            .arg(&reply_file)
            .output()
            .expect("openssl ts runs");
        assert!(
            output.status.success(),
            "openssl ts -reply: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(&reply_file).expect("openssl ts -reply wrote its answer")
    }

    /// `openssl ts -verify -token_in` of the DER token `token` against the
    /// SHA-256 hash `digest_hex` under the CA (as `Docs/reliability.md`
    /// tells auditors to check a `T` record's token).
    pub fn openssl_verifies_token(&self, token: &[u8], digest_hex: &str) -> bool {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        let token_file = self.dir.join(format!("token-{n}.der"));
        std::fs::write(&token_file, token).expect("token file");
        Command::new("openssl")
            .args(["ts", "-verify", "-token_in", "-in"])
            .arg(&token_file)
            .args(["-digest", digest_hex, "-CAfile"])
            .arg(self.ca_pem())
            .output()
            .expect("openssl ts runs")
            .status
            .success()
    }

    /// `openssl ts -verify` of the answer `reply` to `query` under the CA:
    /// whether OpenSSL accepts the pair.
    pub fn openssl_verifies(&self, query: &[u8], reply: &[u8]) -> bool {
        let n = self.served.fetch_add(1, Ordering::Relaxed);
        let query_file = self.dir.join(format!("check-{n}.tsq"));
        let reply_file = self.dir.join(format!("check-{n}.tsr"));
        std::fs::write(&query_file, query).expect("query file");
        std::fs::write(&reply_file, reply).expect("reply file");
        Command::new("openssl")
            .args(["ts", "-verify", "-queryfile"])
            .arg(&query_file)
            .arg("-in")
            .arg(&reply_file)
            .arg("-CAfile")
            .arg(self.ca_pem())
            .output()
            .expect("openssl ts runs")
            .status
            .success()
    }
}

/// What the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `openssl ts -reply`'s answer.
    Serve,
    /// 503, as a TSA that is down.
    Unavailable,
}

/// [`OpensslTsa`] served over HTTP/1.1 on 127.0.0.1 until dropped.
#[derive(Debug)]
pub struct TsaServer {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    mode: Arc<Mutex<Mode>>,
    /// Requests received, in any mode.
    pub requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TsaServer {
    /// Serves `tsa`.
    pub fn start(tsa: Arc<OpensslTsa>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let mode = Arc::new(Mutex::new(Mode::Serve));
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (mode, requests, stop) =
                (Arc::clone(&mode), Arc::clone(&requests), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    requests.fetch_add(1, Ordering::Relaxed);
                    let current = *mode.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = answer(stream, &tsa, current);
                }
            })
        };
        Self {
            url,
            mode,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Switches what it answers.
    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }
}

impl Drop for TsaServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let address = self.url.trim_start_matches("http://").trim_end_matches('/');
        let _ = TcpStream::connect(address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (head, then `Content-Length` bytes) and answers it;
/// one request per connection.
fn answer(stream: TcpStream, tsa: &OpensslTsa, mode: Mode) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "content-type" => value.trim().clone_into(&mut content_type),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let mut stream = stream;
    let (status, kind, bytes) = match mode {
        Mode::Unavailable => ("503 Service Unavailable", "text/plain", b"down\n".to_vec()),
        Mode::Serve if content_type != "application/timestamp-query" => (
            "415 Unsupported Media Type",
            "text/plain",
            b"not a query\n".to_vec(),
        ),
        Mode::Serve => ("200 OK", "application/timestamp-reply", tsa.reply(&body)),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        bytes.len()
    )?;
    stream.write_all(&bytes)?;
    stream.flush()
}
