//! The archive's requests against the S3 API contract, on a local fake
//! that records every request and answers as S3 does: the Object Lock
//! headers (Garage does not implement Object Lock, so this is where they
//! are tested), the checksums on every body, the multipart sequence, that
//! every header that matters is signed, and the start-up refusal when the
//! bucket has no Object Lock.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arxi_archive::run::{RunSettings, Spooled, abort_stale_uploads, archive_run};
use arxi_archive::s3::{S3Client, S3Settings};
use arxi_archive::upload::{LockMode, ObjectLock, lock_headers};
use arxi_format::Hash32;
use base64::Engine as _;
use md5::{Digest as _, Md5};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A fake S3 bucket: objects by key, one multipart upload at a time.
#[derive(Default)]
struct Bucket {
    seen: Vec<Seen>,
    objects: HashMap<String, Vec<u8>>,
    parts: Vec<Vec<u8>>,
    lock_enabled: bool,
    /// Multipart uploads created and neither completed nor aborted.
    open_uploads: Vec<String>,
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap_or(0));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

/// True when the query string has parameter `name`.
fn has_param(target: &str, name: &str) -> bool {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .any(|pair| pair == name || pair.starts_with(&format!("{name}=")))
}

fn answer(bucket: &mut Bucket, request: &Seen) -> (u16, Vec<(String, String)>, String) {
    let path = request
        .target
        .split_once('?')
        .map_or(request.target.as_str(), |(p, _)| p);
    let param = |name: &str| has_param(&request.target, name);
    let key = path.trim_start_matches("/bucket/").to_owned();
    let etag = |bytes: &[u8]| format!("\"{}\"", hex(&Md5::digest(bytes)));
    match request.method.as_str() {
        "GET" if param("object-lock") => {
            if bucket.lock_enabled {
                let xml = "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>";
                (200, vec![], xml.into())
            } else {
                (
                    404,
                    vec![],
                    "<Error><Code>ObjectLockConfigurationNotFoundError</Code></Error>".into(),
                )
            }
        }
        "GET" if param("list-type") => {
            let mut xml = String::from(
                "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
            );
            let query = request.target.split_once('?').map_or("", |(_, q)| q);
            let prefix = query
                .split('&')
                .find_map(|pair| pair.strip_prefix("prefix="))
                .unwrap_or("")
                .replace("%2F", "/");
            let mut keys: Vec<_> = bucket
                .objects
                .iter()
                .filter(|(key, _)| key.starts_with(&prefix))
                .collect();
            keys.sort();
            for (key, bytes) in keys {
                xml.push_str(&format!(
                    "<Contents><Key>{key}</Key><ETag>&quot;x&quot;</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified><Size>{}</Size></Contents>",
                    bytes.len()
                ));
            }
            xml.push_str("<IsTruncated>false</IsTruncated></ListBucketResult>");
            (200, vec![], xml)
        }
        "GET" if param("uploads") => {
            let mut xml = String::from(
                "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
            );
            for key in &bucket.open_uploads {
                xml.push_str(&format!(
                    "<Upload><Key>{key}</Key><UploadId>up-1</UploadId></Upload>"
                ));
            }
            xml.push_str("</ListMultipartUploadsResult>");
            (200, vec![], xml)
        }
        "DELETE" if param("uploadId") => {
            bucket.open_uploads.retain(|open| *open != key);
            (204, vec![], String::new())
        }
        "POST" if param("uploads") => {
            bucket.parts.clear();
            bucket.open_uploads.push(key.clone());
            (200, vec![], "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>bucket</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>".into())
        }
        "PUT" if param("partNumber") => {
            bucket.parts.push(request.body.clone());
            (
                200,
                vec![("ETag".into(), etag(&request.body))],
                String::new(),
            )
        }
        "POST" if param("uploadId") => {
            bucket.open_uploads.retain(|open| *open != key);
            bucket.objects.insert(key, bucket.parts.concat());
            (
                200,
                vec![],
                "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></CompleteMultipartUploadResult>".into(),
            )
        }
        "PUT" => {
            bucket.objects.insert(key, request.body.clone());
            (
                200,
                vec![("ETag".into(), etag(&request.body))],
                String::new(),
            )
        }
        "HEAD" => match bucket.objects.get(&key) {
            // No checksum and no MD5 ETag: the client must read it back.
            Some(bytes) => (
                200,
                vec![
                    ("Content-Length".into(), bytes.len().to_string()),
                    ("ETag".into(), "\"opaque\"".into()),
                ],
                String::new(),
            ),
            None => (404, vec![], String::new()),
        },
        "GET" => match bucket.objects.get(&key) {
            Some(bytes) => {
                // Binary bodies travel as Latin-1 text here and back in
                // `serve` (one char per byte).
                (200, vec![], bytes.iter().map(|&b| char::from(b)).collect())
            }
            None => (404, vec![], "<Error><Code>NoSuchKey</Code></Error>".into()),
        },
        _ => (400, vec![], String::new()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves until the test ends; returns the endpoint.
fn serve(bucket: Arc<Mutex<Bucket>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let bucket = Arc::clone(&bucket);
            std::thread::spawn(move || {
                while let Some(request) = read_request(&mut stream) {
                    let mut bucket = bucket.lock().expect("lock");
                    let (status, headers, body) = answer(&mut bucket, &request);
                    bucket.seen.push(request.clone());
                    drop(bucket);
                    let mut head = format!("HTTP/1.1 {status} X\r\n");
                    let has_length = headers.iter().any(|(name, _)| name == "Content-Length");
                    for (name, value) in &headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    if !has_length {
                        head.push_str(&format!("Content-Length: {}\r\n", body.chars().count()));
                    }
                    head.push_str("\r\n");
                    let mut out = head.into_bytes();
                    if request.method != "HEAD" {
                        out.extend(
                            body.chars()
                                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
                        );
                    }
                    if stream.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    endpoint
}

fn client(endpoint: &str) -> S3Client {
    S3Client::new(&S3Settings {
        endpoint: endpoint.into(),
        region: "test".into(),
        bucket: "bucket".into(),
        path_style: true,
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "secret".into(),
        session_token: None,
        request_timeout: Duration::from_secs(10),
    })
    .expect("client")
}

fn spooled(content: &[u8]) -> Spooled {
    let path = std::env::temp_dir().join(format!(
        "arxi-s3-contract-{}-{}",
        std::process::id(),
        content.len()
    ));
    std::fs::write(&path, content).expect("write");
    let file = std::fs::File::open(&path).expect("open");
    std::fs::remove_file(&path).expect("unlink");
    Spooled {
        file,
        sha256: Hash32::of(content),
        size: content.len() as u64,
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The signed header names of a presigned request.
fn signed_headers(target: &str) -> Vec<String> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .map(|names| names.split("%3B").map(str::to_owned).collect())
        .unwrap_or_default()
}

#[test]
fn object_lock_and_checksums_follow_the_s3_contract() {
    let bucket = Arc::new(Mutex::new(Bucket {
        lock_enabled: true,
        ..Bucket::default()
    }));
    let endpoint = serve(Arc::clone(&bucket));
    let client = client(&endpoint);
    assert_eq!(client.object_lock_enabled(), Ok(true));
    let lock = lock_headers(
        &ObjectLock {
            mode: LockMode::Governance,
            retention_days: 10,
        },
        1_767_225_600_000_000,
    );
    let settings = RunSettings {
        key_prefix: "p/".into(),
        recorder_id: "rec".into(),
        part_bytes: 1_024,
    };
    // One PUT: the body's MD5 and SHA-256, and the lock, all signed.
    let small = b"ARXI-BUNDLE 1\nsmall".to_vec();
    let object =
        archive_run(&client, &settings, 1, 1, &mut spooled(&small), &lock).expect("archived");
    assert!(!object.adopted);
    assert_eq!(
        object.key,
        format!(
            "p/rec/000000000001-000000000001-{}.arxb",
            Hash32::of(&small)
        )
    );
    let seen = bucket.lock().expect("lock").seen.clone();
    let put = seen.iter().find(|r| r.method == "PUT").expect("a PUT");
    assert_eq!(put.headers["x-amz-object-lock-mode"], "GOVERNANCE");
    assert_eq!(
        put.headers["x-amz-object-lock-retain-until-date"],
        "2026-01-11T00:00:00Z"
    );
    assert_eq!(put.headers["content-md5"], b64(&Md5::digest(&small)));
    assert_eq!(
        put.headers["x-amz-checksum-sha256"],
        b64(&Hash32::of(&small).0)
    );
    let signed = signed_headers(&put.target);
    for name in [
        "content-md5",
        "x-amz-checksum-sha256",
        "x-amz-object-lock-mode",
        "x-amz-object-lock-retain-until-date",
    ] {
        assert!(
            signed.iter().any(|s| s == name),
            "{name} is not signed: {signed:?}"
        );
    }
    // The ETag the fake reports is not an MD5: the object was read back.
    assert!(
        seen.iter()
            .any(|r| r.method == "GET" && !r.target.contains("list-type"))
    );

    // Multipart: the lock and the checksum algorithm on the upload, each
    // part with its own checksums, the parts' checksums in the completion.
    let large: Vec<u8> = (0..2_600_u32).map(|n| (n % 251) as u8).collect();
    let object =
        archive_run(&client, &settings, 2, 3, &mut spooled(&large), &lock).expect("archived");
    let bucket = bucket.lock().expect("lock");
    assert!(!object.adopted);
    assert!(
        bucket.objects[object.key.as_str()] == large,
        "the object holds the bundle"
    );
    let create = bucket
        .seen
        .iter()
        .find(|r| has_param(&r.target, "uploads"))
        .expect("create");
    assert_eq!(create.headers["x-amz-object-lock-mode"], "GOVERNANCE");
    assert_eq!(create.headers["x-amz-checksum-algorithm"], "SHA256");
    let parts: Vec<&Seen> = bucket
        .seen
        .iter()
        .filter(|r| r.target.contains("partNumber"))
        .collect();
    assert_eq!(parts.len(), 3, "1024 + 1024 + 552 bytes");
    for part in &parts {
        assert_eq!(part.headers["content-md5"], b64(&Md5::digest(&part.body)));
        assert!(
            signed_headers(&part.target)
                .iter()
                .any(|s| s == "x-amz-checksum-sha256")
        );
    }
    let complete = bucket
        .seen
        .iter()
        .find(|r| r.method == "POST" && r.target.contains("uploadId"))
        .expect("complete");
    let body = String::from_utf8_lossy(&complete.body);
    assert_eq!(body.matches("<ChecksumSHA256>").count(), 3);
    assert!(body.contains("<PartNumber>3</PartNumber>"));
}

#[test]
fn a_run_left_in_the_bucket_is_adopted_and_a_bucket_without_lock_is_refused() {
    let bucket = Arc::new(Mutex::new(Bucket::default()));
    let endpoint = serve(Arc::clone(&bucket));
    let client = client(&endpoint);
    assert_eq!(client.object_lock_enabled(), Ok(false));
    let settings = RunSettings {
        key_prefix: String::new(),
        recorder_id: "rec".into(),
        part_bytes: 1 << 20,
    };
    let content = b"ARXI-BUNDLE 1\nfirst attempt".to_vec();
    let first = archive_run(
        &client,
        &settings,
        5,
        6,
        &mut spooled(&content),
        &Vec::new(),
    )
    .expect("first");
    // A second attempt with other bytes (another key signed the trailer,
    // say) finds the object and adopts it: still one object for the run.
    let other = b"ARXI-BUNDLE 1\nsecond attempt".to_vec();
    let second =
        archive_run(&client, &settings, 5, 6, &mut spooled(&other), &Vec::new()).expect("second");
    assert!(second.adopted);
    assert_eq!(second.key, first.key);
    let bucket = bucket.lock().expect("lock");
    assert_eq!(bucket.objects.len(), 1);
    assert_eq!(bucket.seen.iter().filter(|r| r.method == "PUT").count(), 1);
}

#[test]
fn uploads_a_killed_process_left_are_aborted() {
    let bucket = Arc::new(Mutex::new(Bucket::default()));
    let endpoint = serve(Arc::clone(&bucket));
    let client = client(&endpoint);
    let settings = RunSettings {
        key_prefix: "p/".into(),
        recorder_id: "rec".into(),
        part_bytes: 1 << 20,
    };
    client
        .create_multipart("p/rec/000000000001-000000000001-x.arxb", &Vec::new())
        .expect("created");
    assert_eq!(abort_stale_uploads(&client, &settings).expect("aborted"), 1);
    assert!(bucket.lock().expect("lock").open_uploads.is_empty());
    assert_eq!(
        abort_stale_uploads(&client, &settings).expect("none left"),
        0
    );
}
