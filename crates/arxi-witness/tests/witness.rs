//! The witness over HTTP, driven by the client the recorder uses: every
//! answer tlog-witness defines, state that survives a restart, and the
//! check-and-persist that concurrent requests cannot roll back.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use arxi_format::note::{Checkpoint, Note, NoteSigner, SignatureType};
use arxi_format::{Hash32, SecretKey, merkle};
use arxi_witness::client::{Client, Endpoint, Outcome};
use arxi_witness::protocol::AddCheckpoint;
use arxi_witness::witness::Witness;

const ORIGIN: &str = "example.org/log";

fn signer(name: &str, kind: SignatureType, seed: u8) -> NoteSigner {
    NoteSigner::new(name, kind, SecretKey::from_seed(&[seed; 32]).unwrap()).unwrap()
}

fn leaves(count: u64) -> Vec<Hash32> {
    (0..count)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect()
}

/// A signed checkpoint of the first `size` of `leaves`.
fn checkpoint(log: &NoteSigner, leaves: &[Hash32], size: u64) -> Note {
    let root = merkle::root(&leaves[..usize::try_from(size).unwrap()]);
    let mut note = Note::new(Checkpoint::new(ORIGIN, size, root).text()).unwrap();
    note.sign(log, 0).unwrap();
    note
}

fn request(log: &NoteSigner, leaves: &[Hash32], old: u64, size: u64) -> AddCheckpoint {
    let proof = if old == 0 || old >= size {
        Vec::new()
    } else {
        merkle::consistency_proof(&leaves[..usize::try_from(size).unwrap()], old).unwrap()
    };
    AddCheckpoint {
        old_size: old,
        proof,
        checkpoint: checkpoint(log, leaves, size),
    }
}

struct Running {
    client: Client,
    state: tempfile::TempDir,
}

fn start(state: Option<tempfile::TempDir>) -> Running {
    let state = state.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let log = signer(ORIGIN, SignatureType::Ed25519, 1);
    let me = signer("witness.example/w1", SignatureType::Cosignature, 2);
    let witness =
        Arc::new(Witness::open(me.clone(), vec![log.verifier().clone()], state.path()).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || arxi_witness::http::serve(&listener, &witness));
    let client = Client::new(Endpoint {
        key: me.verifier().clone(),
        url,
        timeout: Duration::from_secs(10),
    });
    Running { client, state }
}

fn status(outcome: &Outcome) -> u16 {
    match outcome {
        Outcome::Cosigned { .. } => 200,
        Outcome::SizeConflict(_) => 409,
        Outcome::Refused { status, .. } => *status,
    }
}

#[test]
fn cosigns_a_growing_log_and_answers_every_refusal() {
    let log = signer(ORIGIN, SignatureType::Ed25519, 1);
    let all = leaves(40);
    let w = start(None);

    let first = w.client.add_checkpoint(&request(&log, &all, 0, 7)).unwrap();
    let Outcome::Cosigned {
        checkpoint, time, ..
    } = &first
    else {
        panic!("{first:?}");
    };
    assert!(*time > 1_700_000_000, "a POSIX timestamp: {time}");
    let verified = checkpoint
        .verify(&[w.client.key().clone(), log.verifier().clone()])
        .unwrap();
    assert_eq!(verified.len(), 2, "log signature and cosignature");

    // Growing with a proof; the same size again with the same root.
    assert_eq!(
        status(
            &w.client
                .add_checkpoint(&request(&log, &all, 7, 20))
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            &w.client
                .add_checkpoint(&request(&log, &all, 20, 20))
                .unwrap()
        ),
        200
    );

    // A wrong old size: 409 with the witness's size, for the log to resend.
    assert_eq!(
        w.client
            .add_checkpoint(&request(&log, &all, 7, 30))
            .unwrap(),
        Outcome::SizeConflict(20)
    );
    // A smaller tree than the old size.
    assert_eq!(
        status(
            &w.client
                .add_checkpoint(&request(&log, &all, 20, 10))
                .unwrap()
        ),
        400
    );
    // A proof that does not verify (another history of the same size).
    let forked: Vec<Hash32> = all
        .iter()
        .enumerate()
        .map(|(i, h)| if i == 3 { Hash32([9; 32]) } else { *h })
        .collect();
    let mut bad = request(&log, &forked, 20, 30);
    bad.proof = request(&log, &all, 20, 30).proof;
    assert_eq!(status(&w.client.add_checkpoint(&bad).unwrap()), 422);
    // The same size with another root.
    assert_eq!(
        status(
            &w.client
                .add_checkpoint(&request(&log, &forked, 20, 20))
                .unwrap()
        ),
        409
    );
    // A key the witness does not know for the origin, and an unknown origin.
    let impostor = signer(ORIGIN, SignatureType::Ed25519, 3);
    assert_eq!(
        status(
            &w.client
                .add_checkpoint(&request(&impostor, &all, 20, 30))
                .unwrap()
        ),
        403
    );
    let other = signer("other.example/log", SignatureType::Ed25519, 1);
    let mut unknown = Note::new(Checkpoint::new("other.example/log", 1, all[0]).text()).unwrap();
    unknown.sign(&other, 0).unwrap();
    let unknown = AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: unknown,
    };
    assert_eq!(status(&w.client.add_checkpoint(&unknown).unwrap()), 404);
    // None of the refusals moved the witness.
    assert_eq!(
        w.client
            .add_checkpoint(&request(&log, &all, 0, 30))
            .unwrap(),
        Outcome::SizeConflict(20)
    );
}

#[test]
fn state_survives_a_restart() {
    let log = signer(ORIGIN, SignatureType::Ed25519, 1);
    let all = leaves(12);
    let first = start(None);
    assert_eq!(
        status(
            &first
                .client
                .add_checkpoint(&request(&log, &all, 0, 5))
                .unwrap()
        ),
        200
    );
    let again = start(Some(first.state));
    assert_eq!(
        again
            .client
            .add_checkpoint(&request(&log, &all, 0, 12))
            .unwrap(),
        Outcome::SizeConflict(5)
    );
    assert_eq!(
        status(
            &again
                .client
                .add_checkpoint(&request(&log, &all, 5, 12))
                .unwrap()
        ),
        200
    );
    drop(again.state);
}

#[test]
fn concurrent_requests_from_one_old_size_cosign_exactly_one() {
    let log = signer(ORIGIN, SignatureType::Ed25519, 1);
    let all = Arc::new(leaves(64));
    let w = Arc::new(start(None));
    assert_eq!(
        status(&w.client.add_checkpoint(&request(&log, &all, 0, 4)).unwrap()),
        200
    );
    let answers: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (5..=20)
            .map(|size| {
                let (w, all, log) = (Arc::clone(&w), Arc::clone(&all), log.clone());
                scope.spawn(move || {
                    w.client
                        .add_checkpoint(&request(&log, &all, 4, size))
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won: Vec<u64> = answers
        .iter()
        .filter_map(|a| match a {
            Outcome::Cosigned { checkpoint, .. } => {
                Some(Checkpoint::parse(checkpoint.text()).unwrap().size)
            }
            _ => None,
        })
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for answer in &answers {
        if let Outcome::SizeConflict(size) = answer {
            assert_eq!(*size, won[0], "every loser learns the winner's size");
        }
    }
    assert_eq!(
        w.client
            .add_checkpoint(&request(&log, &all, 0, 30))
            .unwrap(),
        Outcome::SizeConflict(won[0])
    );
}

/// The status line of the answer to `raw`, sent on a fresh connection.
fn raw_status(url: &str, raw: &[u8]) -> String {
    use std::io::{Read as _, Write as _};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.write_all(raw).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn http_framing_is_strict_and_bounded() {
    let state = tempfile::tempdir().unwrap();
    let log = signer(ORIGIN, SignatureType::Ed25519, 1);
    let me = signer("witness.example/w1", SignatureType::Cosignature, 2);
    let witness = Arc::new(Witness::open(me, vec![log.verifier().clone()], state.path()).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || arxi_witness::http::serve(&listener, &witness));

    let cases: [(&[u8], &str); 6] = [
        (
            b"GET /health HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
        ),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "HTTP/1.1 501",
        ),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nHost: w\r\nContent-Length: 99999999\r\n\r\n",
            "HTTP/1.1 413",
        ),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            "HTTP/1.1 400",
        ),
        (
            b"GET /add-checkpoint HTTP/1.1\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 405",
        ),
        (
            b"POST /add-checkpoint HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nold 1",
            "HTTP/1.1 400",
        ),
    ];
    for (raw, expected) in cases {
        let got = raw_status(&url, raw);
        assert!(
            got.starts_with(expected),
            "{:?}: {got}",
            String::from_utf8_lossy(raw)
        );
    }
}
