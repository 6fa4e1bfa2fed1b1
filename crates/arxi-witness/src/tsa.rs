//! The recorder's side of RFC 3161 over HTTP (RFC 3161 section 3.4): POST
//! a `TimeStampReq` (`application/timestamp-query`) for one hash, read
//! the `TimeStampResp` (`application/timestamp-reply`), and keep the token
//! only when it is over that hash, carries the request's nonce, and its
//! signer chains to the TSA's configured certificates. Blocking (ureq),
//! for a thread of its own; every call is bounded by the TSA's timeout.

use std::fmt;
use std::time::Duration;

use arxi_format::Hash32;
use arxi_format::tsp::{self, Token, TsaTrust, TspError};

/// Largest answer read from a TSA.
pub const ANSWER_BYTES_MAX: u64 = tsp::TOKEN_MAX_BYTES as u64;

/// The media type of a request.
pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";

/// The media type of an answer.
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

/// Why no token was had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StampError {
    /// No answer: refused, reset, timed out.
    Transport(String),
    /// An answer other than 200 `application/timestamp-reply`.
    Status {
        /// The HTTP status.
        status: u16,
        /// What the TSA said (at most 256 bytes, lossy UTF-8).
        detail: String,
    },
    /// The TSA refused the request (its `PKIStatus`).
    Refused(String),
    /// The token is malformed, over another hash, without the nonce, does
    /// not verify, or its signer does not chain to the certificates.
    BadToken(TspError),
}

impl StampError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Transport(_) => "unreachable",
            Self::Status { .. } => "http_status",
            Self::Refused(_) => "refused",
            Self::BadToken(TspError::Untrusted(_) | TspError::Certificate(_)) => "untrusted",
            Self::BadToken(_) => "bad_token",
        }
    }
}

impl fmt::Display for StampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Status { status, detail } => write!(f, "HTTP {status}: {detail}"),
            Self::Refused(e) => write!(f, "{e}"),
            Self::BadToken(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StampError {}

/// A client for one TSA (keeps its connections alive between calls).
#[derive(Debug)]
pub struct TsaClient {
    url: String,
    trust: TsaTrust,
    agent: ureq::Agent,
}

impl TsaClient {
    /// A client for the TSA at `url` whose tokens must chain to `trust`.
    pub fn new(url: &str, trust: TsaTrust, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Self {
            url: url.to_owned(),
            trust,
            agent,
        }
    }

    /// Asks for a token over `imprint` (a SHA-256 hash) and checks it.
    pub fn stamp(&self, imprint: &Hash32) -> Result<Token, StampError> {
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| StampError::Transport(e.to_string()))?;
        let nonce = u64::from_be_bytes(nonce);
        let mut response = self
            .agent
            .post(&self.url)
            .header("content-type", QUERY_CONTENT_TYPE)
            .send(&tsp::request(imprint, nonce)[..])
            .map_err(|e| StampError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(|value| {
                value
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let body = response
            .body_mut()
            .with_config()
            .limit(ANSWER_BYTES_MAX)
            .read_to_vec()
            .map_err(|e| StampError::Transport(format!("reading the answer: {e}")))?;
        if status != 200 || content_type.as_deref() != Some(REPLY_CONTENT_TYPE) {
            let shown = &body[..body.len().min(256)];
            return Err(StampError::Status {
                status,
                detail: format!(
                    "{} ({})",
                    String::from_utf8_lossy(shown).trim(),
                    content_type.as_deref().unwrap_or("no content type")
                ),
            });
        }
        let token = tsp::read_response(&body, imprint, nonce).map_err(|error| match error {
            TspError::Refused(why) => StampError::Refused(why),
            other => StampError::BadToken(other),
        })?;
        token.verify(&self.trust).map_err(StampError::BadToken)?;
        Ok(token)
    }
}
