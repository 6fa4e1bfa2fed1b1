//! `arxi-tsa-stub`: the system tests' local RFC 3161 timestamp authority
//! (`openssl ts -reply` behind a small HTTP server, `arxi_system_tests::tsa`)
//! as a process, for the benchmarks (never shipped).
//!
//! ```text
//! arxi-tsa-stub --dir DIR [--rsa]
//! ```
//!
//! Makes a CA and a TSA certificate in DIR (ECDSA P-384, or RSA 2048 with
//! `--rsa`), prints `listening http://127.0.0.1:PORT/` and `ca DIR/ca.pem`
//! on stdout, and serves until killed.

use std::path::PathBuf;
use std::sync::Arc;

use arxi_system_tests::tsa::{KeyType, OpensslTsa, TsaServer};

fn main() {
    let mut dir: Option<PathBuf> = None;
    let mut key = KeyType::EcP384;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "--rsa" => key = KeyType::Rsa2048,
            other => {
                eprintln!("arxi-tsa-stub: unknown argument {other:?}; usage: --dir DIR [--rsa]");
                std::process::exit(64);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("arxi-tsa-stub: --dir DIR is required");
        std::process::exit(64);
    };
    let tsa = Arc::new(OpensslTsa::new(&dir, "arxi bench TSA", key));
    let ca = tsa.ca_pem();
    let server = TsaServer::start(tsa);
    println!("listening {}", server.url);
    println!("ca {}", ca.display());
    loop {
        std::thread::park();
    }
}
