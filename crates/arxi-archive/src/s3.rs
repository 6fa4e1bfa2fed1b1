//! A small blocking S3 client: the requests the archive needs, signed
//! with rusty-s3 (AWS Signature Version 4 in the query string, sans IO)
//! and sent with ureq on the calling thread.
//!
//! Every header that matters (`Content-MD5`, `x-amz-checksum-sha256`, the
//! Object Lock headers) is signed, so a proxy cannot strip or change one
//! without the request being refused. The payload itself is not part of
//! the signature (`UNSIGNED-PAYLOAD`, as for any presigned request); its
//! integrity is the checksums' job, which the server verifies.
//!
//! Not here: what is uploaded, retried or checked afterwards
//! (`upload.rs`), and object names (`keys.rs`).

use std::fmt;
use std::io::Read;
use std::time::Duration;

use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, GetObject, HeadObject,
    ListObjectsV2, PutObject, UploadPart,
};
use rusty_s3::{Bucket, Credentials, Method, S3Action, UrlStyle};

/// Where the bucket is and how to sign for it.
#[derive(Clone)]
pub struct S3Settings {
    /// `http://host:port` or `https://host`.
    pub endpoint: String,
    /// The signing region (`us-east-1`, `garage`, ...).
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// Path-style URLs (`endpoint/bucket/key`) instead of virtual hosts
    /// (`bucket.endpoint/key`).
    pub path_style: bool,
    /// The access key.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// A session token (temporary credentials), if any.
    pub session_token: Option<String>,
    /// Time one request may take, connecting and transferring included.
    pub request_timeout: Duration,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// Why an S3 request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Error {
    /// The settings cannot make a request (a bad endpoint URL).
    Settings(String),
    /// No answer: connection refused or reset, timeout, TLS.
    Transport(String),
    /// The server answered with an error status.
    Status {
        /// What was asked.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The S3 error code (`NoSuchKey`, `BadDigest`, ...), if given.
        code: Option<String>,
    },
    /// An answer that breaks the S3 API (a missing header, bad XML).
    Protocol(String),
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Settings(why) => write!(f, "S3 settings: {why}"),
            Self::Transport(why) => write!(f, "S3 unreachable: {why}"),
            Self::Status {
                operation,
                status,
                code,
            } => match code {
                Some(code) => write!(f, "S3 {operation} answered {status} {code}"),
                None => write!(f, "S3 {operation} answered {status}"),
            },
            Self::Protocol(why) => write!(f, "S3 protocol: {why}"),
        }
    }
}

impl std::error::Error for S3Error {}

/// What `HEAD` says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// Bytes.
    pub size: u64,
    /// The ETag, without quotes.
    pub etag: String,
    /// The stored SHA-256 checksum (base64), when the server keeps one.
    pub checksum_sha256: Option<String>,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key.
    pub key: String,
    /// Bytes.
    pub size: u64,
}

/// The longest error answer read (S3 error documents are small).
const ERROR_BODY_BYTES_MAX: u64 = 64 * 1024;
/// The longest XML answer read (a listing page of 1,000 keys is ~300 KB).
const XML_BODY_BYTES_MAX: u64 = 8 << 20;

/// A client for one bucket.
pub struct S3Client {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
    signature_lifetime: Duration,
}

impl fmt::Debug for S3Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Client")
            .field("bucket", &self.bucket.name())
            .finish_non_exhaustive()
    }
}

/// Lowercase header names and their values, all signed.
pub type Headers = Vec<(&'static str, String)>;

impl S3Client {
    /// A client for `settings.bucket`.
    pub fn new(settings: &S3Settings) -> Result<Self, S3Error> {
        let endpoint = url::Url::parse(&settings.endpoint)
            .map_err(|e| S3Error::Settings(format!("endpoint {:?}: {e}", settings.endpoint)))?;
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            settings.bucket.clone(),
            settings.region.clone(),
        )
        .map_err(|e| S3Error::Settings(format!("bucket {:?}: {e}", settings.bucket)))?;
        let credentials = match &settings.session_token {
            Some(token) => Credentials::new_with_token(
                settings.access_key_id.clone(),
                settings.secret_access_key.clone(),
                token.clone(),
            ),
            None => Credentials::new(
                settings.access_key_id.clone(),
                settings.secret_access_key.clone(),
            ),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.request_timeout))
            .build()
            .into();
        Ok(Self {
            bucket,
            credentials,
            agent,
            signature_lifetime: settings.request_timeout + Duration::from_secs(60),
        })
    }

    fn sign<'a>(&self, mut action: impl S3Action<'a>, headers: &'a Headers) -> String {
        for (name, value) in headers {
            action.headers_mut().insert(*name, value.as_str());
        }
        action.sign(self.signature_lifetime).to_string()
    }

    /// `PUT` of a whole object.
    pub fn put_object(&self, key: &str, body: &[u8], headers: &Headers) -> Result<String, S3Error> {
        let url = self.sign(
            PutObject::new(&self.bucket, Some(&self.credentials), key),
            headers,
        );
        let mut request = self.agent.put(&url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = check("PutObject", request.send(body))?;
        etag(&response)
    }

    /// Starts a multipart upload; returns its id.
    pub fn create_multipart(&self, key: &str, headers: &Headers) -> Result<String, S3Error> {
        let url = self.sign(
            CreateMultipartUpload::new(&self.bucket, Some(&self.credentials), key),
            headers,
        );
        let mut request = self.agent.post(&url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = check("CreateMultipartUpload", request.send_empty())?;
        let xml = read_xml(&mut response)?;
        let parsed = CreateMultipartUpload::parse_response(&xml)
            .map_err(|e| S3Error::Protocol(format!("CreateMultipartUpload answer: {e}")))?;
        Ok(parsed.upload_id().to_owned())
    }

    /// Uploads part `number` (from 1); returns its ETag.
    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        body: &[u8],
        headers: &Headers,
    ) -> Result<String, S3Error> {
        let url = self.sign(
            UploadPart::new(
                &self.bucket,
                Some(&self.credentials),
                key,
                number,
                upload_id,
            ),
            headers,
        );
        let mut request = self.agent.put(&url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = check("UploadPart", request.send(body))?;
        etag(&response)
    }

    /// Completes a multipart upload from its parts' ETags and SHA-256
    /// checksums (base64), in part order.
    pub fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(String, String)],
    ) -> Result<(), S3Error> {
        let no_headers = Headers::new();
        let url = self.sign(
            CompleteMultipartUpload::new(
                &self.bucket,
                Some(&self.credentials),
                key,
                upload_id,
                std::iter::empty::<&str>(),
            ),
            &no_headers,
        );
        let mut body = String::from("<CompleteMultipartUpload>");
        for (index, (etag, checksum)) in parts.iter().enumerate() {
            body.push_str(&format!(
                "<Part><ChecksumSHA256>{checksum}</ChecksumSHA256><ETag>\"{etag}\"</ETag><PartNumber>{}</PartNumber></Part>",
                index + 1
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let mut response = check(
            "CompleteMultipartUpload",
            self.agent.post(&url).send(body.as_bytes()),
        )?;
        // S3 may answer 200 with an error document once the parts are
        // combined: the body says which.
        let xml = read_xml(&mut response)?;
        if xml.contains("<Error>") {
            return Err(S3Error::Status {
                operation: "CompleteMultipartUpload",
                status: 200,
                code: xml_element(&xml, "Code"),
            });
        }
        Ok(())
    }

    /// Abandons a multipart upload (its parts are deleted).
    pub fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        let no_headers = Headers::new();
        let url = self.sign(
            AbortMultipartUpload::new(&self.bucket, Some(&self.credentials), key, upload_id),
            &no_headers,
        );
        check("AbortMultipartUpload", self.agent.delete(&url).call())?;
        Ok(())
    }

    /// `HEAD` of an object; `None` when there is none.
    pub fn head_object(&self, key: &str) -> Result<Option<ObjectHead>, S3Error> {
        let headers = vec![("x-amz-checksum-mode", "ENABLED".to_owned())];
        let url = self.sign(
            HeadObject::new(&self.bucket, Some(&self.credentials), key),
            &headers,
        );
        let response = self
            .agent
            .head(&url)
            .header("x-amz-checksum-mode", "ENABLED")
            .call()
            .map_err(|e| S3Error::Transport(e.to_string()))?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        let response = check("HeadObject", Ok(response))?;
        let size = header(&response, "content-length")?
            .parse::<u64>()
            .map_err(|e| S3Error::Protocol(format!("HeadObject Content-Length: {e}")))?;
        Ok(Some(ObjectHead {
            size,
            etag: etag(&response)?,
            checksum_sha256: header(&response, "x-amz-checksum-sha256").ok(),
        }))
    }

    /// One page of the objects under `prefix`, in key order, and the token
    /// of the next page.
    pub fn list(
        &self,
        prefix: &str,
        continuation: Option<&str>,
    ) -> Result<(Vec<ListedObject>, Option<String>), S3Error> {
        let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
        action.with_prefix(prefix);
        if let Some(token) = continuation {
            action.with_continuation_token(token);
        }
        let no_headers = Headers::new();
        let url = self.sign(action, &no_headers);
        let mut response = check("ListObjectsV2", self.agent.get(&url).call())?;
        let xml = read_xml(&mut response)?;
        let parsed = ListObjectsV2::parse_response(&xml)
            .map_err(|e| S3Error::Protocol(format!("ListObjectsV2 answer: {e}")))?;
        // rusty-s3 asks for `encoding-type=url`, so keys come
        // percent-encoded; a key that does not decode to UTF-8 is not one
        // the archive wrote, and is kept as listed.
        // An object without its size is an answer the archive cannot
        // judge: refused, not read as empty.
        let objects = parsed
            .contents
            .into_iter()
            .map(|object| {
                let size = object.size.ok_or_else(|| {
                    S3Error::Protocol(format!(
                        "ListObjectsV2 answer: object {:?} without a Size",
                        object.key
                    ))
                })?;
                Ok(ListedObject {
                    key: percent_encoding::percent_decode_str(&object.key)
                        .decode_utf8()
                        .map_or_else(|_| object.key.clone(), |key| key.into_owned()),
                    size,
                })
            })
            .collect::<Result<Vec<_>, S3Error>>()?;
        Ok((objects, parsed.next_continuation_token))
    }

    /// Every object under `prefix`, in key order (page by page).
    pub fn list_all(&self, prefix: &str) -> Result<Vec<ListedObject>, S3Error> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let (page, next) = self.list(prefix, token.as_deref())?;
            objects.extend(page);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(objects),
            }
        }
    }

    /// `GET` of an object, as a stream.
    pub fn get_object(&self, key: &str) -> Result<impl Read + use<>, S3Error> {
        let no_headers = Headers::new();
        let url = self.sign(
            GetObject::new(&self.bucket, Some(&self.credentials), key),
            &no_headers,
        );
        let response = check("GetObject", self.agent.get(&url).call())?;
        Ok(response.into_body().into_reader())
    }

    /// A presigned `GET` of the bucket itself with `query`, for the
    /// requests rusty-s3 has no action for.
    fn sign_bucket_get(&self, query: &[(&str, &str)]) -> url::Url {
        rusty_s3::signing::sign(
            &jiff_now(),
            Method::Get,
            self.bucket.base_url().clone(),
            self.credentials.key(),
            self.credentials.secret(),
            self.credentials.token(),
            self.bucket.region(),
            self.signature_lifetime.as_secs(),
            query.iter().copied(),
            std::iter::empty(),
        )
    }

    /// The multipart uploads in progress under `prefix`: (key, upload
    /// id), at most one page (1,000), oldest first as the server lists them.
    pub fn multipart_uploads(&self, prefix: &str) -> Result<Vec<(String, String)>, S3Error> {
        let url = self.sign_bucket_get(&[("prefix", prefix), ("uploads", "")]);
        let mut response = check("ListMultipartUploads", self.agent.get(url.as_str()).call())?;
        let xml = read_xml(&mut response)?;
        let mut uploads = Vec::new();
        for upload in xml.split("<Upload>").skip(1) {
            if let (Some(key), Some(id)) =
                (xml_element(upload, "Key"), xml_element(upload, "UploadId"))
            {
                uploads.push((key, id));
            }
        }
        Ok(uploads)
    }

    /// Whether the bucket has Object Lock enabled
    /// (`GetObjectLockConfiguration`). A server that does not implement
    /// it, or a bucket without it, answers with an error: `false`.
    pub fn object_lock_enabled(&self) -> Result<bool, S3Error> {
        let url = self.sign_bucket_get(&[("object-lock", "")]);
        let mut response = self
            .agent
            .get(url.as_str())
            .call()
            .map_err(|e| S3Error::Transport(e.to_string()))?;
        if !response.status().is_success() {
            return Ok(false);
        }
        let xml = read_xml(&mut response)?;
        Ok(xml_element(&xml, "ObjectLockEnabled").as_deref() == Some("Enabled"))
    }
}

fn jiff_now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

type Response = http::Response<ureq::Body>;

/// Turns an error status into [`S3Error::Status`] with the S3 code.
fn check(
    operation: &'static str,
    sent: Result<Response, ureq::Error>,
) -> Result<Response, S3Error> {
    let mut response = sent.map_err(|e| S3Error::Transport(format!("{operation}: {e}")))?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(ERROR_BODY_BYTES_MAX)
        .read_to_string()
        .ok();
    Err(S3Error::Status {
        operation,
        status,
        code: body.as_deref().and_then(|xml| xml_element(xml, "Code")),
    })
}

fn read_xml(response: &mut Response) -> Result<String, S3Error> {
    response
        .body_mut()
        .with_config()
        .limit(XML_BODY_BYTES_MAX)
        .read_to_string()
        .map_err(|e| S3Error::Transport(format!("reading the answer: {e}")))
}

fn header(response: &Response, name: &str) -> Result<String, S3Error> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| S3Error::Protocol(format!("no {name} header")))
}

fn etag(response: &Response) -> Result<String, S3Error> {
    Ok(header(response, "etag")?.trim_matches('"').to_owned())
}

/// The text of the first `<name>` element (S3 answers are small, flat
/// documents; a full XML parser is rusty-s3's job where structure
/// matters).
pub(crate) fn xml_element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(xml[start..end].trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::xml_element;

    #[test]
    fn reads_flat_elements() {
        let xml = "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
        assert_eq!(xml_element(xml, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(xml_element(xml, "Missing"), None);
        assert_eq!(xml_element("<Code>", "Code"), None);
    }
}
