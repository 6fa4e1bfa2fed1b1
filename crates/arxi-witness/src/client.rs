//! The log's side of `add-checkpoint`: send a checkpoint with its
//! consistency proof to one witness and classify the answer. Blocking (ureq),
//! for a thread of its own; every call is bounded by the witness's timeout.

use std::fmt;
use std::time::Duration;

use arxi_format::note::{Note, SignatureLine, SignatureType, VerifierKey};

use crate::protocol::{self, ADD_CHECKPOINT_PATH, AddCheckpoint, SIZE_CONTENT_TYPE};

/// Largest answer read from a witness.
pub const ANSWER_BYTES_MAX: u64 = 64 * 1024;

/// One configured witness.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The witness's cosignature key (type 0x04); its name names the witness.
    pub key: VerifierKey,
    /// The submission prefix (`http://host:port[/prefix]`).
    pub url: String,
    /// Bound on one call, connect to last byte.
    pub timeout: Duration,
}

/// What the witness answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with a cosignature by the configured key that verifies over the
    /// checkpoint: the checkpoint's signature lines now include it.
    Cosigned {
        /// The checkpoint with the cosignature added.
        checkpoint: Note,
        /// The cosignature line.
        line: SignatureLine,
        /// The time the cosignature states.
        time: u64,
    },
    /// 409 `text/x.tlog.size`: the witness last cosigned another size.
    SizeConflict(u64),
    /// Any other answer: the status and the start of the body.
    Refused {
        /// The HTTP status.
        status: u16,
        /// What the witness said (at most 512 bytes of it).
        detail: String,
    },
}

/// The call did not produce a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No answer: refused, reset, timed out.
    Transport(String),
    /// A 200 whose body is not a cosignature by the configured key over
    /// this checkpoint.
    BadCosignature(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::BadCosignature(e) => write!(f, "bad cosignature: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

/// A client for one witness (keeps its connections alive between calls).
#[derive(Debug)]
pub struct Client {
    endpoint: Endpoint,
    agent: ureq::Agent,
}

impl Client {
    /// A client for `endpoint`; its key must be a cosignature key.
    pub fn new(endpoint: Endpoint) -> Self {
        assert_eq!(
            endpoint.key.kind(),
            SignatureType::Cosignature,
            "witness keys are cosignature/v1 keys (checked when configured)"
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(endpoint.timeout))
            .build()
            .into();
        Self { endpoint, agent }
    }

    /// The witness's key.
    pub fn key(&self) -> &VerifierKey {
        &self.endpoint.key
    }

    /// Sends `request` and classifies the answer.
    pub fn add_checkpoint(&self, request: &AddCheckpoint) -> Result<Outcome, CallError> {
        let url = format!(
            "{}{ADD_CHECKPOINT_PATH}",
            self.endpoint.url.trim_end_matches('/')
        );
        let mut response = self
            .agent
            .post(&url)
            .header("content-type", "text/plain; charset=utf-8")
            .send(request.encode().as_bytes())
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .body_mut()
            .with_config()
            .limit(ANSWER_BYTES_MAX)
            .read_to_string()
            .map_err(|e| CallError::Transport(format!("reading the answer: {e}")))?;
        if status == 200 {
            return self.cosigned(&request.checkpoint, &body);
        }
        let is_size = content_type.as_deref().is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|t| t.trim() == SIZE_CONTENT_TYPE)
        });
        if status == 409
            && is_size
            && let Some(size) = protocol::parse_size(&body)
        {
            return Ok(Outcome::SizeConflict(size));
        }
        let mut detail = body.trim_end().to_owned();
        if detail.len() > 512 {
            let mut end = 512;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
        }
        Ok(Outcome::Refused { status, detail })
    }

    /// Keeps the configured witness's cosignature from a 200 answer, after
    /// verifying it over the checkpoint (lines by other keys are ignored).
    fn cosigned(&self, checkpoint: &Note, body: &str) -> Result<Outcome, CallError> {
        let lines = protocol::parse_cosignatures(body)
            .map_err(|e| CallError::BadCosignature(e.to_string()))?;
        let key = &self.endpoint.key;
        let line = lines
            .into_iter()
            .find(|line| line.name() == key.name() && line.key_id() == key.id())
            .ok_or_else(|| CallError::BadCosignature("no line by the configured key".into()))?;
        let mut alone = Note::new(checkpoint.text().to_owned())
            .map_err(|e| CallError::BadCosignature(e.to_string()))?;
        alone
            .add_signature(line.clone())
            .map_err(|e| CallError::BadCosignature(e.to_string()))?;
        let verified = alone
            .verify(std::slice::from_ref(key))
            .map_err(|e| CallError::BadCosignature(e.to_string()))?;
        let time = verified
            .first()
            .and_then(|v| v.time)
            .ok_or_else(|| CallError::BadCosignature("no timestamp".into()))?;
        let mut checkpoint = checkpoint.clone();
        checkpoint
            .add_signature(line.clone())
            .map_err(|e| CallError::BadCosignature(e.to_string()))?;
        Ok(Outcome::Cosigned {
            checkpoint,
            line,
            time,
        })
    }
}
