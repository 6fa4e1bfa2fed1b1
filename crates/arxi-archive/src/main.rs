//! `arxi-archive`: the archive commands an auditor or operator runs.
//! `arxi archive verify ...` in the documentation is this binary:
//!
//! ```text
//! arxi-archive verify s3://BUCKET/PREFIX --recorder ID --endpoint URL
//!     --key PUBKEY[@FIRST..LAST] [--key ...] [--region REGION] [--path-style]
//! ```
//!
//! It lists the recorder's archived bundles under `PREFIX`, verifies each
//! against the trusted keys (a key given with a window, as `arxi bundle
//! verify --key`, only for those sequence numbers), carries the key
//! revocations it meets from one bundle to the next, checks that they chain from segment 1 to the
//! last with no gap or overlap, draws a progress bar on a terminal
//! (stderr), and prints the JSON report on stdout. Credentials come from
//! the standard AWS environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), the region from
//! `--region` or `AWS_REGION`.
//!
//! Exit codes, as `arxi`'s: 0 the archive is valid, 1 evidence invalid, 2
//! it could not be checked (bad usage, bucket unreachable).
//!
//! Why a binary of its own: the `arxi` CLI lives in `arxi-verify`, which
//! depends on the evidence format only (no network client); this one adds
//! the S3 client and nothing else (no SQLite, no recorder).

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use arxi_archive::s3::{S3Client, S3Settings};
use arxi_archive::verify::verify_archive;
use arxi_verify::TrustedKeys;

const USAGE: &str = "usage: arxi-archive verify s3://BUCKET/PREFIX --recorder ID --endpoint URL --key PUBKEY[@FIRST..LAST] [--key ...] [--region REGION] [--path-style]";

/// What `verify` was asked.
struct VerifyArgs {
    bucket: String,
    prefix: String,
    recorder: String,
    endpoint: String,
    region: String,
    path_style: bool,
    trusted: TrustedKeys,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.first().map(String::as_str) {
        Some("verify") => parse_verify(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match parsed {
        Ok(verify) => run_verify(&verify),
        Err(problem) => {
            eprintln!("arxi-archive: {problem}");
            ExitCode::from(2)
        }
    }
}

fn parse_verify(args: &[String]) -> Result<VerifyArgs, String> {
    let mut location = None;
    let (mut recorder, mut endpoint, mut region) = (None, None, std::env::var("AWS_REGION").ok());
    let mut key_arguments = Vec::new();
    let mut path_style = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--recorder" => recorder = Some(value()?),
            "--endpoint" => endpoint = Some(value()?),
            "--region" => region = Some(value()?),
            "--key" => key_arguments.push(value()?),
            "--path-style" => path_style = true,
            other if other.starts_with("s3://") && location.is_none() => {
                location = Some(other.to_owned());
            }
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let location = location.ok_or(USAGE)?;
    let (bucket, prefix) = location["s3://".len()..]
        .split_once('/')
        .unwrap_or((&location["s3://".len()..], ""));
    if key_arguments.is_empty() {
        return Err(format!("at least one --key is needed\n{USAGE}"));
    }
    let trusted = arxi_verify::trusted_keys(&key_arguments)?;
    Ok(VerifyArgs {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        recorder: recorder.ok_or(format!("--recorder is needed\n{USAGE}"))?,
        endpoint: endpoint.ok_or(format!("--endpoint is needed\n{USAGE}"))?,
        region: region.ok_or(format!("--region (or AWS_REGION) is needed\n{USAGE}"))?,
        path_style,
        trusted,
    })
}

fn run_verify(args: &VerifyArgs) -> ExitCode {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let credentials =
        env("AWS_ACCESS_KEY_ID").and_then(|id| Ok((id, env("AWS_SECRET_ACCESS_KEY")?)));
    let (access_key_id, secret_access_key) = match credentials {
        Ok(pair) => pair,
        Err(problem) => {
            eprintln!("arxi-archive: {problem}");
            return ExitCode::from(2);
        }
    };
    let settings = S3Settings {
        endpoint: args.endpoint.clone(),
        region: args.region.clone(),
        bucket: args.bucket.clone(),
        path_style: args.path_style,
        access_key_id,
        secret_access_key,
        session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
        request_timeout: Duration::from_secs(300),
    };
    let client = match S3Client::new(&settings) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("arxi-archive: {error}");
            return ExitCode::from(2);
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if terminal {
            let width = 40;
            let filled = done * width / total.max(1);
            eprint!(
                "\r[{}{}] {done}/{total} bundles",
                "#".repeat(filled),
                ".".repeat(width - filled)
            );
            let _ = std::io::stderr().flush();
        }
    };
    let result = verify_archive(
        &client,
        &args.prefix,
        &args.recorder,
        &args.trusted,
        &mut progress,
    );
    if terminal {
        eprintln!();
    }
    match result {
        Ok(report) => {
            println!("{}", report.to_json());
            if report.is_valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(error) => {
            eprintln!("arxi-archive: listing the archive failed: {error}");
            ExitCode::from(2)
        }
    }
}
