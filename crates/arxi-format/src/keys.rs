//! Ed25519 keys, key ids and domain-separated signatures.
//!
//! Every signature in arxi is Ed25519 (RFC 8032, pure) over a short message:
//! an ASCII context string naming the record kind, one zero byte, and the
//! record's 32-byte SHA-256 hash (see [`Domain`]). The context keeps a
//! signature over an envelope from ever verifying as a seal or a bundle.
//!
//! Verification follows arxi's one rule ([`crate::ed25519`]: cofactored,
//! canonical `S`, `R` canonical and not of small order); public keys are
//! refused at load time when not on the curve, of small order or not
//! canonically encoded.
//!
//! Key text forms (files and records) are lowercase hex: 64 digits for a
//! secret seed or a public key, 128 for a signature. The key id is
//! `ed25519:` followed by the first 16 bytes of SHA-256(public key), in hex.

use std::fmt;
use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::digest::{Hash32, HexError, decode_hex_into, encode_hex};

/// What a signature is over; its context string is part of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// An envelope hash.
    Envelope,
    /// A seal hash.
    Seal,
    /// A bundle manifest hash.
    Bundle,
    /// A signed head (the recorder's latest durable chain head, kept
    /// outside its database).
    Head,
    /// A key delegation: a root key certifying an envelope-signing key.
    Delegation,
}

impl Domain {
    /// The ASCII context string.
    pub fn context(self) -> &'static str {
        match self {
            Self::Envelope => "arxi.envelope.v1",
            Self::Seal => "arxi.seal.v1",
            Self::Bundle => "arxi.bundle.v1",
            Self::Head => "arxi.head.v1",
            Self::Delegation => "arxi.delegation.v1",
        }
    }

    /// The exact bytes that get signed: context, 0x00, hash.
    pub fn message(self, hash: &Hash32) -> Vec<u8> {
        self.message_parts(hash).concat()
    }

    /// [`Self::message`] in its three pieces, for hashing it without
    /// building it.
    pub fn message_parts(self, hash: &Hash32) -> [&[u8]; 3] {
        [self.context().as_bytes(), &[0], hash.as_bytes()]
    }
}

/// `ed25519:` + 32 lowercase hex digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    const PREFIX: &'static str = "ed25519:";

    /// The id of a public key.
    pub fn of(public_key_bytes: &[u8; 32]) -> Self {
        let digest = Hash32::of(public_key_bytes);
        Self(format!("{}{}", Self::PREFIX, encode_hex(&digest.0[..16])))
    }

    /// Parses the text form (syntax only).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let Some(hex) = text.strip_prefix(Self::PREFIX) else {
            return Err(KeyError::KeyIdSyntax);
        };
        let mut bytes = [0_u8; 16];
        decode_hex_into(hex, &mut bytes).map_err(|_| KeyError::KeyIdSyntax)?;
        Ok(Self(text.to_owned()))
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// Why a key, key id or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not the expected hex text.
    Hex(HexError),
    /// The 32 bytes are not a point on the curve.
    NotAPoint,
    /// The point has small order (it would accept forged signatures).
    WeakKey,
    /// The point is valid but its encoding is not the canonical one.
    NonCanonicalKey,
    /// A key id that is not `ed25519:` + 32 hex digits.
    KeyIdSyntax,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hex(error) => write!(f, "key text: {error}"),
            Self::NotAPoint => write!(f, "public key is not a valid curve point"),
            Self::WeakKey => write!(f, "public key has small order"),
            Self::NonCanonicalKey => write!(f, "public key is not canonically encoded"),
            Self::KeyIdSyntax => write!(f, "key id is not 'ed25519:' + 32 hex digits"),
        }
    }
}

impl std::error::Error for KeyError {}

impl From<HexError> for KeyError {
    fn from(error: HexError) -> Self {
        Self::Hex(error)
    }
}

/// A verified-acceptable Ed25519 public key with its key id.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    /// Accepts a 32-byte public key that is a canonical, non-weak point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAPoint)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        if key.to_edwards().compress().as_bytes() != bytes {
            return Err(KeyError::NonCanonicalKey);
        }
        Ok(Self {
            key,
            id: KeyId::of(bytes),
        })
    }

    /// Parses 64 lowercase hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0_u8; 32];
        decode_hex_into(text.trim(), &mut bytes)?;
        Self::from_bytes(&bytes)
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The 32 public key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Lowercase hex of the public key.
    pub fn to_hex(&self) -> String {
        encode_hex(self.key.as_bytes())
    }

    /// Verifies a domain-separated signature over `hash` under arxi's rule
    /// ([`crate::ed25519`]).
    pub fn verify(
        &self,
        domain: Domain,
        hash: &Hash32,
        signature: &Signature,
    ) -> Result<(), SignatureInvalid> {
        self.verify_message(&domain.message_parts(hash), signature)
    }

    /// Verifies a signature over any message (given in pieces) under arxi's
    /// rule; [`Self::verify`] is this over `context || 0x00 || hash`.
    pub fn verify_message(
        &self,
        message: &[&[u8]],
        signature: &Signature,
    ) -> Result<(), SignatureInvalid> {
        let point = self.key.to_edwards();
        if crate::ed25519::verify(&point, self.key.as_bytes(), message, &signature.0) {
            Ok(())
        } else {
            Err(SignatureInvalid)
        }
    }

    /// The underlying dalek key (for batch verification).
    pub fn dalek(&self) -> &VerifyingKey {
        &self.key
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.id, self.to_hex())
    }
}

/// An Ed25519 signing key (the 32-byte seed) with its public half.
#[derive(Clone)]
pub struct SecretKey {
    key: SigningKey,
    public: PublicKey,
}

impl SecretKey {
    /// From a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::from_bytes(&key.verifying_key().to_bytes())?;
        Ok(Self { key, public })
    }

    /// Parses the secret key text form: 64 lowercase hex digits of the seed
    /// (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut seed = [0_u8; 32];
        decode_hex_into(text.trim(), &mut seed)?;
        Self::from_seed(&seed)
    }

    /// The secret key text form (handle with care).
    pub fn to_hex(&self) -> String {
        encode_hex(self.key.as_bytes())
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The key id of the public half.
    pub fn id(&self) -> &KeyId {
        self.public.id()
    }

    /// Signs `hash` in `domain`.
    pub fn sign(&self, domain: Domain, hash: &Hash32) -> Signature {
        Signature(self.key.sign(&domain.message(hash)).to_bytes())
    }

    /// The 32-byte seed (handle with care).
    pub(crate) fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, secret redacted)", self.public.id)
    }
}

/// The exact bytes one signature is made over: a [`Domain`] message, or a
/// note text (built only by [`crate::note`]: note texts never contain the
/// 0x00 every [`Domain`] message has). No other message can be made, so
/// whatever signs for arxi signs only domain-separated messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Message(Vec<u8>);

impl Message {
    /// `hash` in `domain` (see [`Domain::message`]).
    pub fn of(domain: Domain, hash: &Hash32) -> Self {
        Self(domain.message(hash))
    }

    /// A note text or a cosignature message (`crate::note`).
    pub(crate) fn note(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes to sign.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Message({} bytes)", self.0.len())
    }
}

/// What makes the Ed25519 signatures of one key: a key in memory
/// ([`SecretKey`], which cannot fail) or a [`Signer`] that may be held
/// outside the process and may refuse.
pub trait Sign {
    /// Why a signature could not be made.
    type Error: fmt::Display;

    /// The public half of the signing key.
    fn public(&self) -> &PublicKey;

    /// Signs `message`.
    fn sign_message(&self, message: &Message) -> Result<Signature, Self::Error>;

    /// Signs `hash` in `domain`.
    fn sign_hash(&self, domain: Domain, hash: &Hash32) -> Result<Signature, Self::Error> {
        self.sign_message(&Message::of(domain, hash))
    }
}

impl Sign for SecretKey {
    type Error = std::convert::Infallible;

    fn public(&self) -> &PublicKey {
        &self.public
    }

    fn sign_message(&self, message: &Message) -> Result<Signature, Self::Error> {
        Ok(Signature(self.key.sign(message.as_bytes()).to_bytes()))
    }
}

/// A signing key held outside this process (for example in a PKCS#11
/// token): it signs on request and may refuse or be gone.
pub trait ExternalKey: Send + Sync {
    /// The public half, as read from where the key is held.
    fn public(&self) -> &PublicKey;

    /// Signs `message` (pure Ed25519) and answers the 64 signature bytes.
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError>;

    /// Whether the key can be reached now, without signing (a cheap look,
    /// for readiness).
    fn check(&self) -> Result<(), SignerError>;
}

/// Why a signer made no signature: the message says what refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerError(pub String);

impl fmt::Display for SignerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signer unavailable: {}", self.0)
    }
}

impl std::error::Error for SignerError {}

/// The key a recorder signs with: in memory (a key file) or external (a
/// token). An external key's every signature is verified against its
/// public key before it is used, so a token that answers with another
/// key, or garbage, makes an error and never a bad signature.
#[derive(Clone)]
pub enum Signer {
    /// A key whose seed is in this process.
    Memory(Box<SecretKey>),
    /// A key held elsewhere.
    External(Arc<dyn ExternalKey>),
}

impl Signer {
    /// The public half.
    pub fn public(&self) -> &PublicKey {
        Sign::public(self)
    }

    /// The key id of the public half.
    pub fn id(&self) -> &KeyId {
        self.public().id()
    }

    /// Whether the key can be reached now (a key in memory always can).
    pub fn check(&self) -> Result<(), SignerError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::External(key) => key.check(),
        }
    }

    /// The key in memory, if it is one.
    pub fn secret(&self) -> Option<&SecretKey> {
        match self {
            Self::Memory(secret) => Some(secret),
            Self::External(_) => None,
        }
    }
}

impl From<SecretKey> for Signer {
    fn from(secret: SecretKey) -> Self {
        Self::Memory(Box::new(secret))
    }
}

impl Sign for Signer {
    type Error = SignerError;

    fn public(&self) -> &PublicKey {
        match self {
            Self::Memory(secret) => &secret.public,
            Self::External(key) => key.public(),
        }
    }

    fn sign_message(&self, message: &Message) -> Result<Signature, SignerError> {
        match self {
            Self::Memory(secret) => {
                let Ok(signature) = secret.sign_message(message);
                Ok(signature)
            }
            Self::External(key) => {
                let signature = Signature(key.sign(message.as_bytes())?);
                key.public()
                    .verify_message(&[message.as_bytes()], &signature)
                    .map_err(|_| {
                        SignerError(format!(
                            "the signature made does not verify under key {}",
                            key.public().id()
                        ))
                    })?;
                Ok(signature)
            }
        }
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory(secret) => write!(f, "Signer::Memory({secret:?})"),
            Self::External(key) => write!(f, "Signer::External({})", key.public().id()),
        }
    }
}

/// A 64-byte Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Parses 128 lowercase hex digits.
    pub fn from_hex(text: &str) -> Result<Self, HexError> {
        let mut bytes = [0_u8; 64];
        decode_hex_into(text, &mut bytes)?;
        Ok(Self(bytes))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        encode_hex(&self.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

/// A signature that does not verify under the key it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureInvalid;

impl fmt::Display for SignatureInvalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signature does not verify")
    }
}

impl std::error::Error for SignatureInvalid {}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_seed(&[byte; 32]).expect("valid seed")
    }

    #[test]
    fn sign_verify_and_domain_separation() {
        let secret = key(7);
        let hash = Hash32::of(b"evidence");
        let signature = secret.sign(Domain::Envelope, &hash);
        let public = secret.public();
        assert_eq!(public.verify(Domain::Envelope, &hash, &signature), Ok(()));
        assert_eq!(
            public.verify(Domain::Seal, &hash, &signature),
            Err(SignatureInvalid)
        );
        assert_eq!(
            public.verify(Domain::Envelope, &Hash32::of(b"other"), &signature),
            Err(SignatureInvalid)
        );
        assert_eq!(
            key(8).public().verify(Domain::Envelope, &hash, &signature),
            Err(SignatureInvalid)
        );
    }

    #[test]
    fn text_forms_round_trip() {
        let secret = key(9);
        let again = SecretKey::from_hex(&format!(" {}\n", secret.to_hex())).expect("parses");
        assert_eq!(again.public(), secret.public());
        let public = PublicKey::from_hex(&secret.public().to_hex()).expect("parses");
        assert_eq!(&public, secret.public());
        assert_eq!(KeyId::parse(public.id().as_str()), Ok(public.id().clone()));
        assert_eq!(public.id().as_str().len(), 8 + 32);
        let signature = secret.sign(Domain::Bundle, &Hash32::ZERO);
        assert_eq!(Signature::from_hex(&signature.to_hex()), Ok(signature));
    }

    #[test]
    fn refuses_bad_keys() {
        // The identity point (small order).
        let mut identity = [0_u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(&identity), Err(KeyError::WeakKey));
        assert!(matches!(PublicKey::from_hex("00"), Err(KeyError::Hex(_))));
        for text in ["ed25519:00", "rsa:00000000000000000000000000000000", ""] {
            assert_eq!(KeyId::parse(text), Err(KeyError::KeyIdSyntax), "{text}");
        }
    }

    #[test]
    fn message_layout_is_context_zero_hash() {
        let message = Domain::Seal.message(&Hash32([0xab; 32]));
        assert_eq!(&message[..12], b"arxi.seal.v1");
        assert_eq!(message[12], 0);
        assert_eq!(&message[13..], &[0xab; 32]);
    }

    /// An external key that signs with `signer` while claiming `public`.
    struct Held {
        public: PublicKey,
        signer: SecretKey,
        present: bool,
    }

    impl ExternalKey for Held {
        fn public(&self) -> &PublicKey {
            &self.public
        }

        fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
            if !self.present {
                return Err(SignerError("gone".into()));
            }
            Ok(self.signer.key.sign(message).to_bytes())
        }

        fn check(&self) -> Result<(), SignerError> {
            if self.present {
                Ok(())
            } else {
                Err(SignerError("gone".into()))
            }
        }
    }

    /// An external key's signature is used only when it verifies under the
    /// key's public half: a token answering with another key's signature
    /// is an error, like one that refuses.
    #[test]
    fn an_external_signature_is_checked_before_use() {
        let hash = Hash32::of(b"evidence");
        let held = |signer: u8, present: bool| {
            Signer::External(Arc::new(Held {
                public: key(7).public().clone(),
                signer: key(signer),
                present,
            }))
        };
        let good = held(7, true);
        let signature = good.sign_hash(Domain::Seal, &hash).expect("signs");
        assert_eq!(signature, key(7).sign(Domain::Seal, &hash));
        assert_eq!(good.check(), Ok(()));
        assert_eq!(good.id(), key(7).id());
        assert!(good.secret().is_none());
        let other = held(8, true).sign_hash(Domain::Seal, &hash);
        assert!(
            other.is_err_and(|error| error.0.contains("does not verify")),
            "another key's signature is refused"
        );
        assert_eq!(
            held(7, false).sign_hash(Domain::Seal, &hash),
            Err(SignerError("gone".into()))
        );
        assert_eq!(held(7, false).check(), Err(SignerError("gone".into())));
        let memory = Signer::from(key(7));
        assert_eq!(memory.check(), Ok(()));
        assert_eq!(memory.sign_hash(Domain::Seal, &hash), Ok(signature));
    }
}
