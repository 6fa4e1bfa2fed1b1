//! The operator's `restore-archive` subcommand: after a restore of an older
//! backup (`Docs/reliability.md`, "Backup and restore"), brings the
//! database forward with the sealed segments the archive holds after it,
//! so the recorder starts where its archive ends instead of losing them.
//!
//! With the sidecar stopped (the recorder's lock is taken): the
//! configuration's `[archive]` bucket is listed, each bundle after the
//! database's last seal is downloaded to a temporary file, its SHA-256
//! checked against its name, verified under the keys the database knows
//! (and `--key`), and written by `arxi_recorder::Restorer`, which checks
//! every record again against the database it continues. One line per
//! bundle on stderr; the summary and what to do next on stdout.
//!
//! Exit codes: 0 restored (or nothing newer in the archive), 1 refused
//! (an object does not verify, the archive has a gap, or it does not
//! continue this database: a fork), 2 could not run (no `[archive]`, the
//! bucket or the database unreachable, the sidecar running).

use std::io::Read;

use arxi_archive::verify::{ListedBundle, fetch_verified, list_bundles};
use arxi_format::PublicKey;
use arxi_format::bundle::Tag;
use arxi_recorder::{RestoreError, RestoreRecord, Restorer};
use arxi_sidecar_config::ValidConfig;
use arxi_verify::reader::{BundleReader, Record};

/// Refused: the archive does not continue the database, or does not verify.
const EXIT_REFUSED: u8 = 1;
/// Could not run.
const EXIT_FAILED: u8 = 2;

/// `restore-archive`: returns the process exit code. `trusted`: keys the
/// database may not know (the configured signing key's is added when its
/// file can be read); `new_database`: make the database, which must not
/// exist, from the archive alone.
pub fn restore_archive(config: &ValidConfig, trusted: &[PublicKey], new_database: bool) -> u8 {
    let mut trusted = trusted.to_vec();
    if let Some(key) = configured_public_key(config) {
        trusted.push(key);
    }
    let failed = |message: String| {
        eprintln!("arxi-sidecar: restore-archive: {message}");
        EXIT_FAILED
    };
    let client = match crate::archiver::connect(config) {
        Ok(Some(client)) => client,
        Ok(None) => return failed("the configuration has no [archive] to restore from".into()),
        Err(error) => return failed(format!("the archive: {error}")),
    };
    let Some(archive) = &config.model().archive else {
        unreachable!("connect answers None without [archive]");
    };
    let mut restorer = match open_restorer(config, &trusted, new_database) {
        Ok(restorer) => restorer,
        Err(message) => return failed(message),
    };
    let database = config.database_path();
    let point = restorer.point();
    println!(
        "database {}: recorder {}, sealed through segment {}, last envelope {}",
        database.display(),
        point.recorder_id,
        point.sealed_through,
        point.head_seq
    );
    let bundles = match list_bundles(&client, &archive.key_prefix, &point.recorder_id) {
        Ok(bundles) => bundles,
        Err(error) => return failed(format!("listing the archive: {error}")),
    };
    let newer: Vec<ListedBundle> = bundles
        .into_iter()
        .filter(|bundle| bundle.name.last_segment > point.sealed_through)
        .collect();
    if let Err(reason) = check_contiguous(&newer, point.sealed_through) {
        eprintln!("arxi-sidecar: restore-archive refused: {reason}");
        return EXIT_REFUSED;
    }
    let outcome = restore_each(&client, &mut restorer, &newer);
    let report = restorer.report();
    println!(
        "restored {} segments, {} envelopes ({} already held), {} prunings and {} erasures replayed",
        report.segments, report.envelopes, report.already_held, report.prunings, report.erasures
    );
    if let Err(reason) = outcome {
        eprintln!(
            "arxi-sidecar: restore-archive stopped: {reason}; the segments restored before it \
             stay, and a second run (without --new-database) goes on from them; do not start the \
             sidecar before the archive is restored as far as it can be"
        );
        return EXIT_REFUSED;
    }
    next_step(restorer)
}

/// The restorer over the configured database: opened, or made new from
/// the archive alone (`new_database`).
fn open_restorer(
    config: &ValidConfig,
    trusted: &[PublicKey],
    new_database: bool,
) -> Result<Restorer, String> {
    let database = config.database_path();
    let recorder_id = &config.model().recorder.id;
    if !new_database && !database.exists() {
        return Err(format!(
            "no database at {}: put a backup there, or pass --new-database to make it from \
             the archive alone",
            database.display()
        ));
    }
    let opened = if new_database {
        println!(
            "making a new database at {} from the archive alone",
            database.display()
        );
        Restorer::create(&database, recorder_id, trusted)
    } else {
        Restorer::open(&database, recorder_id, trusted)
    };
    let opened = match config.subject_keys_path() {
        Some(keys) => opened.and_then(|restorer| restorer.with_subject_keys(&keys)),
        None => opened,
    };
    opened.map_err(|error| match error {
        RestoreError::Refused(reason) => reason,
        RestoreError::Open(error) => format!("{}: {error}", database.display()),
    })
}

/// The public key of the configured signing key, when its file or token
/// can be read (it is usually the key that signed the newest segments).
fn configured_public_key(config: &ValidConfig) -> Option<PublicKey> {
    if let Some(token) = config.pkcs11_signer() {
        let key = crate::token::TokenKey::open(&token).ok()?;
        return Some(arxi_format::ExternalKey::public(&key).clone());
    }
    let text = std::fs::read_to_string(config.signer_key_path()?).ok()?;
    arxi_format::SecretKey::from_hex(&text)
        .ok()
        .map(|key| key.public().clone())
}

/// The bundles after `sealed_through` start right after it and follow
/// each other with no gap or overlap.
fn check_contiguous(bundles: &[ListedBundle], sealed_through: u64) -> Result<(), String> {
    let mut next = sealed_through + 1;
    for bundle in bundles {
        let name = &bundle.name;
        // The first may begin inside the database (a run of segments of
        // which the backup holds the first ones).
        if name.first_segment > next || (next > sealed_through + 1 && name.first_segment < next) {
            return Err(format!(
                "{} holds segments {}..={}, the segment to restore next is {next}: \
                 the archive has a gap or an overlap there (check it with arxi-archive verify)",
                bundle.key, name.first_segment, name.last_segment
            ));
        }
        next = name.last_segment + 1;
    }
    Ok(())
}

/// Downloads, verifies and restores each bundle in order.
fn restore_each(
    client: &arxi_archive::s3::S3Client,
    restorer: &mut Restorer,
    bundles: &[ListedBundle],
) -> Result<(), String> {
    for (index, bundle) in bundles.iter().enumerate() {
        let file = fetch_verified(client, bundle, &restorer.keys())?;
        let before = restorer.report();
        let reader = BundleReader::open(std::io::BufReader::new(file))
            .map_err(|error| format!("{}: {error}", bundle.key))?;
        restorer
            .restore_bundle(Records { reader })
            .map_err(|error| format!("{}: {error}", bundle.key))?;
        let after = restorer.report();
        eprintln!(
            "[{}/{}] restored segments {}..={} from {} ({} envelopes)",
            index + 1,
            bundles.len(),
            bundle.name.first_segment,
            bundle.name.last_segment,
            bundle.key,
            after.envelopes - before.envelopes
        );
    }
    Ok(())
}

/// Says whether the recorder will start: the database now reaches its
/// signed head, or the envelopes after the last archived seal are lost.
fn next_step(restorer: Restorer) -> u8 {
    let behind = restorer.behind_head();
    if let Err(error) = restorer.finish() {
        eprintln!("arxi-sidecar: restore-archive: {error}");
        return EXIT_FAILED;
    }
    match behind {
        Ok(None) => {
            println!("the database reaches its signed head: start the sidecar");
            0
        }
        Ok(Some(rollback)) => {
            println!(
                "the archive ends before the signed head: {rollback}. Those envelopes were \
                 never archived and are lost; to accept that, start once with \
                 --accept-rollback {}",
                rollback.signed.seq
            );
            0
        }
        Err(error) => {
            eprintln!("arxi-sidecar: restore-archive: the signed head: {error}");
            EXIT_FAILED
        }
    }
}

/// A bundle's records as the restorer takes them (the manifest, the
/// trailer and a witnessed anchor are left out: the bundle was verified
/// whole).
struct Records<R: Read> {
    reader: BundleReader<R>,
}

impl<R: Read> Iterator for Records<R> {
    type Item = Result<RestoreRecord, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut attachment = Vec::new();
            let record = match self.reader.next_record_copying(&mut attachment) {
                Ok(Some(record)) => record,
                Ok(None) => return None,
                Err(error) => return Some(Err(error.to_string())),
            };
            let record = match record {
                Record::Attachment { .. } => RestoreRecord::Attachment(attachment),
                Record::Json { tag, payload } => match tag {
                    Tag::Key => RestoreRecord::Key(payload),
                    Tag::Delegation => RestoreRecord::Delegation(payload),
                    Tag::Envelope => RestoreRecord::Envelope(payload),
                    Tag::Payload => RestoreRecord::Payload(payload),
                    Tag::Seal => RestoreRecord::Seal(payload),
                    Tag::Timestamp => RestoreRecord::Timestamp(payload),
                    // The witnessed anchor says what witnesses saw, not
                    // what the recorder stored (archive bundles carry none).
                    Tag::Manifest | Tag::Trailer | Tag::Attachment | Tag::Anchor => continue,
                },
            };
            return Some(Ok(record));
        }
    }
}
