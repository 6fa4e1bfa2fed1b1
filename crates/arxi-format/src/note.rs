//! C2SP signed notes, checkpoints and cosignatures: the text forms a
//! transparency-log witness understands.
//!
//! * signed-note v1.0.0: a text ending in a newline, a blank line, then one
//!   or more lines `— <key name> base64(key ID || signature)`. The key ID is
//!   `SHA-256(name || 0x0A || type || public key)[:4]`, big-endian. A
//!   verifier key ("vkey") is `name+<8 hex digits of the key ID>+base64(type
//!   || public key)`.
//! * tlog-checkpoint v1.0.0: the note text `origin\nsize\nbase64(root)\n`
//!   followed by optional extension lines.
//! * tlog-cosignature v1 (Ed25519, type `0x04`): the signature is an 8-byte
//!   big-endian POSIX timestamp followed by an Ed25519 signature over
//!   `cosignature/v1\ntime <T>\n` and the whole checkpoint text.
//!
//! Signatures are checked under arxi's one rule ([`crate::ed25519`]), which
//! accepts every signature RFC 8032 signers make.
//!
//! The recorder signs its checkpoints with the recorder key itself (type
//! `0x01`, key name = log origin). That key's other signatures are over
//! `context || 0x00 || hash` ([`crate::keys::Domain`]); a note text may not
//! contain 0x00, so no note signature is ever also an envelope, seal or
//! bundle signature, nor the other way round.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};

use crate::digest::Hash32;
use crate::keys::{Message, PublicKey, SecretKey, Sign, Signature, Signer};

/// The most signature lines a note may carry (the Go implementation's limit;
/// the specification asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The most bytes a note may have; a checkpoint with a hundred cosignatures
/// is under 16 KiB.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The em dash and space that start every signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The header line of an Ed25519 cosignature's signed message.
const COSIGNATURE_HEADER: &str = "cosignature/v1\n";

/// The signature types arxi implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureType {
    /// `0x01`: Ed25519 over the note text (the log's own signature).
    Ed25519,
    /// `0x04`: a timestamped Ed25519 witness cosignature (cosignature/v1).
    Cosignature,
}

impl SignatureType {
    /// The identifier byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::Ed25519 => 0x01,
            Self::Cosignature => 0x04,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Ed25519),
            0x04 => Some(Self::Cosignature),
            _ => None,
        }
    }

    /// Bytes of signature after the key ID.
    fn signature_len(self) -> usize {
        match self {
            Self::Ed25519 => 64,
            Self::Cosignature => 8 + 64,
        }
    }
}

/// Why a note, key, checkpoint or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// A key name is empty or holds a space, a `+` or a control character.
    BadKeyName,
    /// A verifier key or signer key text is malformed.
    BadKey(&'static str),
    /// The key ID written in a key text is not the one its key has.
    KeyIdMismatch,
    /// The note is not a well-formed signed note.
    Malformed(&'static str),
    /// The note's text is not a well-formed checkpoint.
    BadCheckpoint(&'static str),
    /// A signature from a known key does not verify.
    InvalidSignature {
        /// The key's name.
        name: String,
    },
    /// No signature from a known key is on the note.
    NoKnownSignature,
    /// The signer made no signature (a key held in a token refused or is
    /// gone).
    Signer(String),
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadKeyName => f.write_str("key name is empty or holds a space, '+' or control"),
            Self::BadKey(why) => write!(f, "malformed key: {why}"),
            Self::KeyIdMismatch => f.write_str("key ID does not match the key"),
            Self::Malformed(why) => write!(f, "malformed note: {why}"),
            Self::BadCheckpoint(why) => write!(f, "malformed checkpoint: {why}"),
            Self::InvalidSignature { name } => write!(f, "signature by {name} does not verify"),
            Self::NoKnownSignature => f.write_str("no signature from a known key"),
            Self::Signer(why) => write!(f, "signer unavailable: {why}"),
        }
    }
}

impl std::error::Error for NoteError {}

/// Key names: non-empty, no Unicode space, no `+`, no control character.
pub fn check_name(name: &str) -> Result<(), NoteError> {
    let bad = |c: char| c.is_whitespace() || c == '+' || c.is_control();
    if name.is_empty() || name.chars().any(bad) {
        return Err(NoteError::BadKeyName);
    }
    Ok(())
}

/// `SHA-256(name || 0x0A || type || key)[:4]` as a big-endian integer.
pub fn key_id(name: &str, kind: SignatureType, public_key: &[u8; 32]) -> u32 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', kind.byte()])
        .chain_update(public_key)
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A verifier key: a name, a signature type and an Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    kind: SignatureType,
    key: PublicKey,
    id: u32,
}

impl VerifierKey {
    /// A key under `name` for signatures of `kind`.
    pub fn new(name: &str, kind: SignatureType, key: PublicKey) -> Result<Self, NoteError> {
        check_name(name)?;
        let id = key_id(name, kind, &key.to_bytes());
        Ok(Self {
            name: name.to_owned(),
            kind,
            key,
            id,
        })
    }

    /// Parses `name+hash+base64(type || key)`; the hash must be the key's.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        // The base64 key may itself hold '+': split at the first two only.
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::BadKey("not name+hash+key"));
        };
        let written_id = parse_key_id(hash)?;
        let material = decode_base64(key).ok_or(NoteError::BadKey("key is not base64"))?;
        let Some((&kind, key)) = material.split_first() else {
            return Err(NoteError::BadKey("empty key"));
        };
        let kind = SignatureType::from_byte(kind).ok_or(NoteError::BadKey("unknown key type"))?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| NoteError::BadKey("an Ed25519 key is 32 bytes"))?;
        let key = PublicKey::from_bytes(&key).map_err(|_| NoteError::BadKey("not a usable key"))?;
        let parsed = Self::new(name, kind, key)?;
        if parsed.id != written_id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(parsed)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The signature type.
    pub fn kind(&self) -> SignatureType {
        self.kind
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// Checks one signature line made by this key over `text`; for a
    /// cosignature, answers its timestamp.
    fn check(&self, text: &str, signature: &[u8]) -> Result<Option<u64>, ()> {
        if signature.len() != self.kind.signature_len() {
            return Err(());
        }
        let (time, raw) = match self.kind {
            SignatureType::Ed25519 => (None, signature),
            SignatureType::Cosignature => {
                let (time, raw) = signature.split_at(8);
                let time = u64::from_be_bytes(time.try_into().map_err(|_| ())?);
                (Some(time), raw)
            }
        };
        let raw = Signature(raw.try_into().map_err(|_| ())?);
        let verified = match time {
            None => self.key.verify_message(&[text.as_bytes()], &raw),
            Some(time) => {
                let header = cosignature_header(time);
                self.key
                    .verify_message(&[header.as_bytes(), text.as_bytes()], &raw)
            }
        };
        verified.map(|()| time).map_err(|_| ())
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = Vec::with_capacity(33);
        material.push(self.kind.byte());
        material.extend_from_slice(&self.key.to_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64.encode(material)
        )
    }
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

fn parse_key_id(hex: &str) -> Result<u32, NoteError> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::BadKey("key ID is not 8 hex digits"));
    }
    u32::from_str_radix(hex, 16).map_err(|_| NoteError::BadKey("key ID is not 8 hex digits"))
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text).ok()
}

fn cosignature_header(time: u64) -> String {
    format!("{COSIGNATURE_HEADER}time {time}\n")
}

/// A key that signs notes: the log's own signature (type `0x01`) or a
/// witness cosignature (type `0x04`).
#[derive(Clone)]
pub struct NoteSigner {
    verifier: VerifierKey,
    signer: Signer,
}

impl NoteSigner {
    /// A signer under `name` of `kind` with `secret`.
    pub fn new(name: &str, kind: SignatureType, secret: SecretKey) -> Result<Self, NoteError> {
        Self::with_signer(name, kind, Signer::from(secret))
    }

    /// A signer under `name` of `kind` with any [`Signer`] (a key held in
    /// a token included).
    pub fn with_signer(name: &str, kind: SignatureType, signer: Signer) -> Result<Self, NoteError> {
        let verifier = VerifierKey::new(name, kind, Sign::public(&signer).clone())?;
        Ok(Self { verifier, signer })
    }

    /// Parses the signer key text form of the Go implementation and
    /// `arxi-witness`: `PRIVATE+KEY+name+hash+base64(type || seed)`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let rest = text
            .trim_end_matches('\n')
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::BadKey("signer key does not start PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hash), Some(seed)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("not PRIVATE+KEY+name+hash+key"));
        };
        let written_id = parse_key_id(hash)?;
        let material = decode_base64(seed).ok_or(NoteError::BadKey("key is not base64"))?;
        let Some((&kind, seed)) = material.split_first() else {
            return Err(NoteError::BadKey("empty key"));
        };
        let kind = SignatureType::from_byte(kind).ok_or(NoteError::BadKey("unknown key type"))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::BadKey("an Ed25519 seed is 32 bytes"))?;
        let secret = SecretKey::from_seed(&seed).map_err(|_| NoteError::BadKey("unusable seed"))?;
        let signer = Self::new(name, kind, secret)?;
        if signer.verifier.id != written_id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(signer)
    }

    /// The signer key text form (handle with care); none for a key held
    /// outside this process.
    pub fn to_private_text(&self) -> Option<String> {
        let secret = self.signer.secret()?;
        let mut material = Vec::with_capacity(33);
        material.push(self.verifier.kind.byte());
        material.extend_from_slice(&secret.seed());
        Some(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.verifier.name,
            self.verifier.id,
            BASE64.encode(material)
        ))
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// Signs `text` (a note text, ending in a newline) and answers the
    /// signature line. For a cosigner, `time` is the POSIX timestamp the
    /// cosignature states; a plain signer ignores it.
    pub fn sign(&self, text: &str, time: u64) -> Result<SignatureLine, NoteError> {
        check_text(text)?;
        let mut signature = Vec::with_capacity(4 + self.verifier.kind.signature_len());
        signature.extend_from_slice(&self.verifier.id.to_be_bytes());
        match self.verifier.kind {
            SignatureType::Ed25519 => {
                let message = Message::note(text.as_bytes().to_vec());
                signature.extend_from_slice(&self.sign_message(&message)?.0);
            }
            SignatureType::Cosignature => {
                let message = [cosignature_header(time).as_bytes(), text.as_bytes()].concat();
                signature.extend_from_slice(&time.to_be_bytes());
                signature.extend_from_slice(&self.sign_message(&Message::note(message))?.0);
            }
        }
        Ok(SignatureLine {
            name: self.verifier.name.clone(),
            signature,
        })
    }
}

impl NoteSigner {
    fn sign_message(&self, message: &Message) -> Result<Signature, NoteError> {
        self.signer
            .sign_message(message)
            .map_err(|error| NoteError::Signer(error.0))
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({})", self.verifier)
    }
}

/// One signature line: key name and `key ID || signature`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLine {
    name: String,
    signature: Vec<u8>,
}

impl SignatureLine {
    /// Parses one line without its final newline: `— name base64`.
    pub fn parse(line: &str) -> Result<Self, NoteError> {
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::Malformed(
                "signature line does not start with an em dash",
            ))?;
        let (name, encoded) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line has no signature"))?;
        check_name(name).map_err(|_| NoteError::Malformed("bad key name on signature line"))?;
        let signature =
            decode_base64(encoded).ok_or(NoteError::Malformed("signature is not base64"))?;
        if signature.len() < 5 {
            return Err(NoteError::Malformed("signature too short"));
        }
        Ok(Self {
            name: name.to_owned(),
            signature,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        let id = &self.signature[..4];
        u32::from_be_bytes([id[0], id[1], id[2], id[3]])
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature[4..]
    }

    /// For a cosignature line, the timestamp it states (unverified).
    pub fn cosignature_time(&self) -> Option<u64> {
        let time = self.signature().get(..8)?;
        Some(u64::from_be_bytes(time.try_into().ok()?))
    }

    fn is_by(&self, key: &VerifierKey) -> bool {
        self.name == key.name && self.key_id() == key.id
    }
}

impl fmt::Display for SignatureLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{SIGNATURE_PREFIX}{} {}",
            self.name,
            BASE64.encode(&self.signature)
        )
    }
}

/// Note text: valid UTF-8 (given), ends in a newline, no control character
/// other than newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text does not end in a newline"));
    }
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::Malformed("control character in note"));
    }
    Ok(())
}

/// A signed note: its text and its signature lines, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<SignatureLine>,
}

/// A signature a verifier key vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key that made it.
    pub key: VerifierKey,
    /// For a cosignature, the time it states.
    pub time: Option<u64>,
}

impl Note {
    /// A note with `text` and no signature yet.
    pub fn new(text: String) -> Result<Self, NoteError> {
        check_text(&text)?;
        Ok(Self {
            text,
            signatures: Vec::new(),
        })
    }

    /// Parses a signed note: at most [`MAX_NOTE_BYTES`], UTF-8, the text up
    /// to the last blank line, then one to [`MAX_SIGNATURES`] signature lines.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("note too large"));
        }
        let all = std::str::from_utf8(bytes).map_err(|_| NoteError::Malformed("not UTF-8"))?;
        if all.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::Malformed("control character in note"));
        }
        let split = all
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let text = &all[..=split];
        let lines = &all[split + 2..];
        let lines = lines
            .strip_suffix('\n')
            .ok_or(NoteError::Malformed("signatures do not end in a newline"))?;
        let mut signatures = Vec::new();
        for line in lines.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
            signatures.push(SignatureLine::parse(line)?);
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text (ends in a newline).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines.
    pub fn signatures(&self) -> &[SignatureLine] {
        &self.signatures
    }

    /// Adds a signature line unless one with the same name and key ID is
    /// there already (a newer cosignature replaces an older one).
    pub fn add_signature(&mut self, line: SignatureLine) -> Result<(), NoteError> {
        if let Some(old) = self
            .signatures
            .iter_mut()
            .find(|old| old.name == line.name && old.key_id() == line.key_id())
        {
            *old = line;
            return Ok(());
        }
        if self.signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::Malformed("too many signatures"));
        }
        self.signatures.push(line);
        Ok(())
    }

    /// Signs with `signer` and adds the line.
    pub fn sign(&mut self, signer: &NoteSigner, time: u64) -> Result<(), NoteError> {
        let line = signer.sign(&self.text, time)?;
        self.add_signature(line)
    }

    /// Verifies every signature from a key in `keys` (matched by name and
    /// key ID; lines from other keys are ignored, as the specification
    /// requires). A known key whose signature fails rejects the whole note;
    /// a note with no verified signature is rejected. Each key counts once.
    pub fn verify(&self, keys: &[VerifierKey]) -> Result<Vec<Verified>, NoteError> {
        let mut verified: Vec<Verified> = Vec::new();
        for line in &self.signatures {
            let Some(key) = keys.iter().find(|key| line.is_by(key)) else {
                continue;
            };
            let time = key.check(&self.text, line.signature()).map_err(|()| {
                NoteError::InvalidSignature {
                    name: key.name.clone(),
                }
            })?;
            if !verified.iter().any(|seen| seen.key == *key) {
                verified.push(Verified {
                    key: key.clone(),
                    time,
                });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(verified)
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for line in &self.signatures {
            write!(f, "{line}")?;
        }
        Ok(())
    }
}

/// A tlog-checkpoint: the note text naming a tree state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash32,
    /// Extension lines, in order (without their newlines).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash32) -> Self {
        Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text: origin, decimal size, base64 root, extension lines,
    /// each ending in a newline.
    pub fn text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root.as_bytes())
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parses a checkpoint note text.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::BadCheckpoint("text does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|origin| !origin.is_empty())
            .ok_or(NoteError::BadCheckpoint("empty origin"))?;
        let size = lines
            .next()
            .and_then(parse_decimal)
            .ok_or(NoteError::BadCheckpoint(
                "size is not a decimal without leading zeros",
            ))?;
        let root = lines
            .next()
            .and_then(decode_base64)
            .and_then(|root| <[u8; 32]>::try_from(root).ok())
            .ok_or(NoteError::BadCheckpoint(
                "root is not a base64 32-byte hash",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::BadCheckpoint("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root: Hash32(root),
            extensions,
        })
    }
}

/// ASCII decimal with no leading zero (`0` itself allowed), fitting a u64.
pub fn parse_decimal(text: &str) -> Option<u64> {
    let well_formed = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if well_formed { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str, kind: SignatureType, seed: u8) -> NoteSigner {
        NoteSigner::new(name, kind, SecretKey::from_seed(&[seed; 32]).unwrap()).unwrap()
    }

    #[test]
    fn checkpoint_round_trips_and_refuses_malformed_sizes() {
        let checkpoint = Checkpoint::new("example.org/log", 42, Hash32([7; 32]));
        let text = checkpoint.text();
        assert_eq!(Checkpoint::parse(&text).unwrap(), checkpoint);
        for bad in ["example.org/log\n042\n", "example.org/log\n-1\n", "\n1\n"] {
            let root = BASE64.encode([7; 32]);
            assert!(
                Checkpoint::parse(&format!("{bad}{root}\n")).is_err(),
                "{bad:?}"
            );
        }
        assert!(Checkpoint::parse("o\n1\nAAAA\n").is_err(), "short root");
        assert!(Checkpoint::parse("o\n1\n").is_err(), "no root");
    }

    #[test]
    fn cosignature_states_its_time_and_binds_the_text() {
        let log = signer("example.org/log", SignatureType::Ed25519, 1);
        let witness = signer("witness.example/w1", SignatureType::Cosignature, 2);
        let text = Checkpoint::new("example.org/log", 5, Hash32([1; 32])).text();
        let mut note = Note::new(text).unwrap();
        note.sign(&log, 0).unwrap();
        note.sign(&witness, 1_700_000_000).unwrap();
        let parsed = Note::parse(note.to_string().as_bytes()).unwrap();
        let verified = parsed
            .verify(&[log.verifier().clone(), witness.verifier().clone()])
            .unwrap();
        assert_eq!(verified.len(), 2);
        assert_eq!(verified[1].time, Some(1_700_000_000));

        // The same signature under another time, or over another text, fails.
        let mut forged = parsed.clone();
        forged.signatures[1].signature[4 + 7] ^= 1;
        assert!(matches!(
            forged.verify(&[witness.verifier().clone()]),
            Err(NoteError::InvalidSignature { .. })
        ));
        let other = Checkpoint::new("example.org/log", 6, Hash32([1; 32])).text();
        let moved = Note {
            text: other,
            signatures: parsed.signatures.clone(),
        };
        assert!(moved.verify(&[log.verifier().clone()]).is_err());
    }

    #[test]
    fn unknown_keys_are_ignored_and_known_keys_count_once() {
        let log = signer("example.org/log", SignatureType::Ed25519, 1);
        let stranger = signer("example.org/log", SignatureType::Ed25519, 9);
        let mut note = Note::new("hello\n".to_owned()).unwrap();
        note.sign(&stranger, 0).unwrap();
        assert_eq!(
            note.verify(&[log.verifier().clone()]),
            Err(NoteError::NoKnownSignature)
        );
        note.sign(&log, 0).unwrap();
        let line = note.signatures[1].clone();
        note.signatures.push(line);
        assert_eq!(note.verify(&[log.verifier().clone()]).unwrap().len(), 1);
    }

    #[test]
    fn malformed_notes_are_refused() {
        let log = signer("n", SignatureType::Ed25519, 1);
        let mut note = Note::new("a\n".to_owned()).unwrap();
        note.sign(&log, 0).unwrap();
        let good = note.to_string();
        assert!(Note::parse(good.as_bytes()).is_ok());
        let cases = [
            good.trim_end().to_owned(),
            good.replace("\n\n", "\n"),
            good.replace('\u{2014}', "-"),
            good.replacen('a', "a\t", 1),
            format!("{good}\n"),
            good.replace("\u{2014} n ", "\u{2014} n+x "),
        ];
        for case in cases {
            assert!(Note::parse(case.as_bytes()).is_err(), "{case:?}");
        }
        let mut many = Note::new("a\n".to_owned()).unwrap();
        for seed in 0..=MAX_SIGNATURES {
            let key = signer(&format!("k{seed}"), SignatureType::Ed25519, seed as u8);
            let line = key.sign("a\n", 0).unwrap();
            many.signatures.push(line);
        }
        assert_eq!(
            Note::parse(many.to_string().as_bytes()),
            Err(NoteError::Malformed("too many signatures"))
        );
        assert!(Note::new("no newline".to_owned()).is_err());
        assert!(Note::new("nul\0\n".to_owned()).is_err());
    }

    #[test]
    fn keys_round_trip_and_names_are_checked() {
        let log = signer("example.org/log", SignatureType::Ed25519, 3);
        let vkey = log.verifier().to_string();
        assert_eq!(&VerifierKey::parse(&vkey).unwrap(), log.verifier());
        let private = log.to_private_text().expect("a key in memory");
        assert_eq!(
            NoteSigner::parse(&private).unwrap().verifier(),
            log.verifier()
        );
        for name in ["", "a b", "a+b", "a\u{a0}b"] {
            assert_eq!(
                VerifierKey::new(name, SignatureType::Ed25519, log.verifier().key.clone()),
                Err(NoteError::BadKeyName)
            );
        }
        assert!(matches!(
            VerifierKey::parse(&vkey.replacen("example", "exampel", 1)),
            Err(NoteError::KeyIdMismatch)
        ));
    }
}
