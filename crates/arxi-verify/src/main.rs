//! `arxi`: the offline verifier's command line (clap, derive).
//!
//! The command tree is declared here; each command's work is in a module
//! of `cli/` (bundles, proofs, keys, the generated completions and manual
//! pages). It holds no verification logic of its own: that is the library.
//!
//! Exit codes: 0 the evidence is valid (or the command succeeded), 1 the
//! evidence is invalid, 2 it could not be checked (bad usage, unreadable
//! file, not a bundle, unknown format version). clap's own usage errors
//! exit 2 as well, and `--help` / `--version` exit 0.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use arxi_verify::VERSION;
use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  valid (or done)
  1  invalid evidence: the report names every finding and the first bad record
  2  could not check: bad usage, unreadable input, not a bundle, unknown version";

/// Verify arxi evidence offline.
#[derive(Debug, Parser)]
#[command(name = "arxi", version = VERSION, after_help = EXIT_CODES, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Audit bundles: verify, inspect, export
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Envelopes in a bundle: cut an inclusion proof
    #[command(subcommand)]
    Envelope(EnvelopeCommand),
    /// Inclusion proofs: a proof file cut from a bundle, or a log proof from GET /v1/envelopes/proof
    #[command(subcommand)]
    Proof(ProofCommand),
    /// Receipts: check one against the request it answers
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Keys: derive a public key from a secret key file
    #[command(subcommand)]
    Key(KeyCommand),
    /// Make a new Ed25519 signing key pair (two new files)
    Keygen(KeygenArgs),
    /// Print every finding code the verifier reports (JSON, or the Markdown table)
    Findings {
        /// The Markdown table of Docs/format.md instead of JSON
        #[arg(long)]
        markdown: bool,
    },
    /// Print a shell completion script for `arxi`
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Write the manual pages of `arxi` and every subcommand (roff) into a directory
    ManPages {
        /// Directory to write into (created when missing)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum BundleCommand {
    /// Verify one bundle, or several in chain order (each must continue the one before)
    Verify(VerifyArgs),
    /// Summarize a bundle without judging it (no key needed)
    Inspect {
        /// The bundle (- for standard input)
        file: String,
        /// JSON output
        #[arg(long)]
        json: bool,
    },
    /// Verify a bundle, then write its envelopes as JSON lines and its attachments as files
    Export(ExportArgs),
}

/// The public keys an auditor trusts.
#[derive(Debug, Args)]
struct TrustedKeys {
    /// A trusted Ed25519 public key: a file holding 64 hex digits, or the hex itself (repeat to trust several); `PUBKEY@FIRST..LAST`, `@FIRST..` or `@..LAST` trusts it only for those sequence numbers (inclusive; Docs/format.md §11.8)
    #[arg(long = "key", value_name = "PUBKEY[@FIRST..LAST]", required = true)]
    keys: Vec<String>,
    /// A delegation record (JSON, as GET /v1/keys shows it under `delegation`) by which a --key root delegated a key (Docs/format.md §3.1): that key is trusted inside its windows (repeat for several; bundles carry their own)
    #[arg(long = "delegation", value_name = "FILE")]
    delegations: Vec<String>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Bundles in chain order (- for standard input, once)
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    #[command(flatten)]
    trusted: TrustedKeys,
    /// JSON output
    #[arg(long)]
    json: bool,
    /// Check each signature alone instead of in batches of 4,096 (same verdict)
    #[arg(long)]
    no_batch: bool,
    /// Signature worker threads (default: one per CPU)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: Option<u16>,
    #[command(flatten)]
    witnesses: WitnessArgs,
    #[command(flatten)]
    timestamps: TimestampArgs,
}

/// Which timestamp authorities an auditor trusts (RFC 3161 tokens of
/// seals, `T` records).
#[derive(Debug, Args)]
struct TimestampArgs {
    /// A trusted TSA: a PEM (or DER) file of its certificate or of the CA certificate that issues it (repeat for several); tokens from other TSAs are then findings
    #[arg(long = "tsa-cert", value_name = "FILE")]
    tsa_certs: Vec<PathBuf>,
    /// How far a token's genTime may be from the seal's sealed_at, in seconds (plus the token's stated accuracy)
    #[arg(long, value_name = "SECONDS", default_value_t = arxi_verify::TOLERANCE_DEFAULT_SECONDS,
        value_parser = clap::value_parser!(u64).range(0..=31_622_400))]
    timestamp_tolerance: u64,
    /// Every seal must carry a token of a trusted TSA (needs --tsa-cert)
    #[arg(long, requires = "tsa_certs")]
    require_timestamp: bool,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The bundle (a regular file: it is read twice)
    file: PathBuf,
    /// Directory to write into: created, or empty
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    trusted: TrustedKeys,
    /// Export even when the bundle does not verify (the report is written beside the export)
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Subcommand)]
enum EnvelopeCommand {
    /// Cut the inclusion proof of one envelope out of a bundle
    Prove {
        /// The bundle (- for standard input)
        bundle: String,
        /// The envelope's sequence number
        #[arg(long, value_name = "N")]
        seq: u64,
        /// Write the proof to a new file instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ProofCommand {
    /// Verify a proof under trusted keys: a proof file of `arxi envelope prove`, or a log proof (the answer of GET /v1/envelopes/proof) under a witness policy
    Verify {
        /// The proof file (- for standard input)
        file: String,
        #[command(flatten)]
        trusted: TrustedKeys,
        #[command(flatten)]
        witnesses: WitnessArgs,
        #[command(flatten)]
        timestamps: TimestampArgs,
        /// JSON output
        #[arg(long)]
        json: bool,
    },
}

/// Who an auditor trusts besides the recorder key (log proofs, and the
/// witnessed anchor of bundles).
#[derive(Debug, Args)]
struct WitnessArgs {
    /// A trusted witness: its C2SP verifier key (name+hash+base64) or a file holding it (repeat for several)
    #[arg(long = "witness", value_name = "VKEY")]
    witnesses: Vec<String>,
    /// Cosignatures of trusted witnesses required (default: every --witness)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    quorum: Option<u16>,
}

#[derive(Debug, Subcommand)]
enum ReceiptCommand {
    /// Check that a receipt (the answer to POST /v1/envelopes) and the request body it answers rebuild an envelope a trusted key signed
    Verify {
        /// The stored receipt (JSON; - for standard input)
        receipt: String,
        /// The request body that was sent (JSON)
        #[arg(long, value_name = "FILE")]
        request: String,
        #[command(flatten)]
        trusted: TrustedKeys,
        /// JSON output
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print the public key (64 hex digits) of a secret key file; its key id goes to standard error
    Public {
        /// The secret key file (64 hex digits, as `arxi keygen` and the sidecar write it)
        #[arg(long, value_name = "FILE")]
        secret: PathBuf,
    },
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// The new secret key file (mode 0600; never overwritten)
    #[arg(long, value_name = "FILE")]
    secret: PathBuf,
    /// The new public key file (give it to auditors)
    #[arg(long, value_name = "FILE")]
    public: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bundle(BundleCommand::Verify(args)) => cli::bundle::verify(
            &args.files,
            &args.trusted,
            &cli::bundle::VerifyOutput {
                json: args.json,
                no_batch: args.no_batch,
                threads: args.threads,
                witnesses: args.witnesses.witnesses,
                quorum: args.witnesses.quorum.map(usize::from),
                tsa_certs: args.timestamps.tsa_certs,
                timestamp_tolerance: args.timestamps.timestamp_tolerance,
                require_timestamp: args.timestamps.require_timestamp,
            },
        ),
        Command::Bundle(BundleCommand::Inspect { file, json }) => cli::bundle::inspect(&file, json),
        Command::Bundle(BundleCommand::Export(args)) => {
            cli::export::export(&args.file, &args.out, &args.trusted, args.force)
        }
        Command::Envelope(EnvelopeCommand::Prove { bundle, seq, out }) => {
            cli::proof::prove(&bundle, seq, out.as_deref())
        }
        Command::Proof(ProofCommand::Verify {
            file,
            trusted,
            witnesses,
            timestamps,
            json,
        }) => cli::timestamp_policy(
            &timestamps.tsa_certs,
            timestamps.timestamp_tolerance,
            timestamps.require_timestamp,
        )
        .and_then(|policy| {
            cli::proof::verify(
                &file,
                &trusted,
                (&witnesses.witnesses, witnesses.quorum.map(usize::from)),
                &policy,
                json,
            )
        }),
        Command::Receipt(ReceiptCommand::Verify {
            receipt,
            request,
            trusted,
            json,
        }) => cli::witnessed::receipt(&receipt, &request, &trusted, json),
        Command::Key(KeyCommand::Public { secret }) => cli::keys::public(&secret),
        Command::Keygen(args) => cli::keys::keygen(&args.secret, &args.public),
        Command::Findings { markdown } => cli::findings(markdown),
        Command::Completions { shell } => cli::generated::completions::<Cli>(shell, "arxi"),
        Command::ManPages { out } => cli::generated::man_pages::<Cli>(&out),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(cli::CouldNotCheck(message)) => {
            eprintln!("arxi: {message}");
            ExitCode::from(2)
        }
    }
}
