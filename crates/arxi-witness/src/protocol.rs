//! The bytes of C2SP tlog-witness `add-checkpoint`: the request body (an old
//! size line, up to 63 consistency proof lines, a blank line, the signed
//! checkpoint) and the answers (cosignature lines, or the witness's size).

use std::fmt;

use arxi_format::Hash32;
use arxi_format::note::{self, Note, NoteError, SignatureLine};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The request path under the witness's submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";
/// The content type of a 409 answer that states the witness's size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// The largest request body: the proof lines and the largest note.
pub const MAX_REQUEST_BYTES: usize = 32 + MAX_PROOF_LINES * 45 + note::MAX_NOTE_BYTES;

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the proof starts from (0: none).
    pub old_size: u64,
    /// The RFC 6962 consistency proof from `old_size` to the checkpoint.
    pub proof: Vec<Hash32>,
    /// The checkpoint, signed by the log.
    pub checkpoint: Note,
}

/// Why a request or answer body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

impl From<NoteError> for ProtocolError {
    fn from(error: NoteError) -> Self {
        Self(error.to_string())
    }
}

impl AddCheckpoint {
    /// The request body.
    pub fn encode(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&BASE64.encode(hash.as_bytes()));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint.to_string());
        body
    }

    /// Parses a request body. The checkpoint's signatures are not checked
    /// here.
    pub fn parse(body: &[u8]) -> Result<Self, ProtocolError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(ProtocolError("request body too large".into()));
        }
        let text = std::str::from_utf8(body).map_err(|_| ProtocolError("not UTF-8".into()))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| ProtocolError("no blank line after the proof".into()))?;
        let mut lines = head.split('\n');
        let old_size = lines
            .next()
            .and_then(|line| line.strip_prefix("old "))
            .and_then(note::parse_decimal)
            .ok_or_else(|| ProtocolError("first line is not `old <size>`".into()))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(ProtocolError("more than 63 proof lines".into()));
            }
            let hash = BASE64
                .decode(line)
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| ProtocolError("a proof line is not a base64 hash".into()))?;
            proof.push(Hash32(hash));
        }
        let checkpoint = Note::parse(checkpoint.as_bytes())?;
        Ok(Self {
            old_size,
            proof,
            checkpoint,
        })
    }
}

/// Parses a 409 answer body: the witness's size in decimal and a newline.
pub fn parse_size(body: &str) -> Option<u64> {
    body.strip_suffix('\n').and_then(note::parse_decimal)
}

/// Parses a 200 answer body: one or more signature lines.
pub fn parse_cosignatures(body: &str) -> Result<Vec<SignatureLine>, ProtocolError> {
    let lines = body
        .strip_suffix('\n')
        .ok_or_else(|| ProtocolError("answer does not end in a newline".into()))?;
    let lines: Vec<&str> = lines.split('\n').collect();
    if lines.len() > note::MAX_SIGNATURES {
        return Err(ProtocolError("too many signature lines".into()));
    }
    lines
        .into_iter()
        .map(|line| SignatureLine::parse(line).map_err(ProtocolError::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use arxi_format::SecretKey;
    use arxi_format::note::{Checkpoint, NoteSigner, SignatureType};

    use super::*;

    fn request(proof: usize) -> AddCheckpoint {
        let log = NoteSigner::new(
            "example.org/log",
            SignatureType::Ed25519,
            SecretKey::from_seed(&[1; 32]).unwrap(),
        )
        .unwrap();
        let mut checkpoint =
            Note::new(Checkpoint::new("example.org/log", 9, Hash32([3; 32])).text()).unwrap();
        checkpoint.sign(&log, 0).unwrap();
        AddCheckpoint {
            old_size: 4,
            proof: (0..proof)
                .map(|i| Hash32([u8::try_from(i % 256).unwrap(); 32]))
                .collect(),
            checkpoint,
        }
    }

    #[test]
    fn requests_round_trip() {
        for proof in [0, 1, 5, MAX_PROOF_LINES] {
            let request = request(proof);
            assert_eq!(
                AddCheckpoint::parse(request.encode().as_bytes()).unwrap(),
                request
            );
        }
    }

    #[test]
    fn malformed_requests_are_refused() {
        let good = request(2).encode();
        let too_long = request(MAX_PROOF_LINES + 1).encode();
        for bad in [
            good.replacen("old 4", "old 04", 1),
            good.replacen("old 4", "old -4", 1),
            good.replacen("old 4", "olde 4", 1),
            good.replacen("old 4\n", "old 4\nnot-base64!\n", 1),
            good.replacen("\n\n", "\n", 1),
            too_long,
        ] {
            assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn answers_parse() {
        assert_eq!(parse_size("20852014\n"), Some(20_852_014));
        assert_eq!(parse_size("0\n"), Some(0));
        for bad in ["", "12", "012\n", "1 \n"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        let line = request(0).checkpoint.signatures()[0].to_string();
        assert_eq!(parse_cosignatures(&line).unwrap().len(), 1);
        assert!(parse_cosignatures(line.trim_end()).is_err());
        assert!(parse_cosignatures("").is_err());
    }
}
