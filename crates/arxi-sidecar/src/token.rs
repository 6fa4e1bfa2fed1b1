//! The recorder's signing key held in a PKCS#11 token (`[signer]`
//! `pkcs11_module` and the other `pkcs11_` keys).
//!
//! The key never leaves the token: the sidecar loads the token's module,
//! logs in with the PIN from a hardened file, finds the Ed25519 key pair by
//! label, reads the public key once at start, and asks the token for every
//! signature (mechanism `CKM_EDDSA`, pure Ed25519). `arxi_format::Signer`
//! verifies each signature the token answers against that public key, so a
//! token that answers with another key, or garbage, makes an error and
//! never a bad signature.
//!
//! Sessions are pooled: a signing thread takes one (or opens one: find the
//! token, open a session, log in, find the key), signs, and gives it back.
//! A session whose call fails is closed, not given back; the call is tried
//! once more on a fresh session (a token that was unplugged and is back
//! answers again without a restart). When that fails too, the caller gets
//! a `SignerError` and the recorder refuses the batch (typed 503
//! `signer_unavailable`), with nothing of it recorded.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use arxi_format::{ExternalKey, PublicKey, SignerError};
use arxi_sidecar_config::model::Pkcs11Signer;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as TokenError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

/// Most idle sessions kept open (more callers than this open their own and
/// close them after).
const IDLE_SESSIONS_MAX: usize = 16;

/// Least time between two initializations of the module made to find a
/// token that was gone (a module lists the tokens it found at its
/// initialization; SoftHSM2, for one, finds a returned token only then).
const REINITIALIZE_INTERVAL: Duration = Duration::from_secs(1);

/// Longest PIN file read (PKCS#11 PINs are short).
const PIN_BYTES_MAX: u64 = 1024;

/// How the token is found.
#[derive(Debug, Clone)]
enum TokenId {
    Label(String),
    Slot(u64),
}

/// How to reach the key: the module, the token, the PIN and the label.
struct Token {
    context: Pkcs11,
    id: TokenId,
    key_label: String,
    pin: AuthPin,
    /// Counts the module's initializations; a session is used only with
    /// the initialization that opened it.
    generation: u64,
}

/// A session kept open between signatures.
struct Idle {
    session: Session,
    key: ObjectHandle,
    generation: u64,
}

/// An Ed25519 key in a PKCS#11 token.
pub struct TokenKey {
    token: RwLock<Token>,
    public: PublicKey,
    idle: Mutex<Vec<Idle>>,
    /// When the module was last initialized again (at most once per
    /// [`REINITIALIZE_INTERVAL`]).
    reinitialized: Mutex<Instant>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({})", self.public.id())
    }
}

impl TokenKey {
    /// Loads the module, logs in and finds the key pair (`config.pin_file`
    /// resolved already).
    pub fn open(config: &Pkcs11Signer) -> Result<Self, String> {
        let id = match (&config.token_label, config.slot) {
            (Some(label), None) => TokenId::Label(label.clone()),
            (None, Some(slot)) => TokenId::Slot(slot),
            _ => return Err("name the token by token_label or by slot".into()),
        };
        let pin = read_pin(&config.pin_file)?;
        let module = config.module.display();
        let context = Pkcs11::new(&config.module).map_err(|e| format!("loading {module}: {e}"))?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(TokenError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(error) => return Err(format!("initializing {module}: {error}")),
        }
        let token = Token {
            context,
            id,
            key_label: config.key_label.clone(),
            pin,
            generation: 0,
        };
        let (session, key) = token.open_session()?;
        let public = token.read_public(&session)?;
        let opened = Self {
            token: RwLock::new(token),
            public,
            idle: Mutex::new(Vec::new()),
            reinitialized: Mutex::new(Instant::now()),
        };
        opened.give_back(Idle {
            session,
            key,
            generation: 0,
        });
        Ok(opened)
    }

    /// An idle session of the current initialization, or a new one.
    fn session(&self, token: &Token) -> Result<Idle, String> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|kept| kept.generation == token.generation);
        if let Some(kept) = idle.pop() {
            return Ok(kept);
        }
        drop(idle);
        let (session, key) = token.open_session()?;
        Ok(Idle {
            session,
            key,
            generation: token.generation,
        })
    }

    fn give_back(&self, kept: Idle) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_SESSIONS_MAX {
            idle.push(kept);
        }
    }

    fn sign_once(&self, message: &[u8]) -> Result<[u8; 64], String> {
        let token = self.token.read().unwrap_or_else(|e| e.into_inner());
        let kept = self.session(&token)?;
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        // A failed session is dropped (closed), never given back.
        let signature = kept
            .session
            .sign(&mechanism, kept.key, message)
            .map_err(|e| format!("signing: {e}"))?;
        let signature: [u8; 64] = signature.try_into().map_err(|bytes: Vec<u8>| {
            format!("the token answered {} bytes, not 64", bytes.len())
        })?;
        self.give_back(kept);
        Ok(signature)
    }

    /// Finalizes and initializes the module again (so it lists the tokens
    /// present now), unless that was done less than
    /// [`REINITIALIZE_INTERVAL`] ago. Returns whether it was done.
    fn reinitialize(&self) -> bool {
        let mut last = self.reinitialized.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() < REINITIALIZE_INTERVAL {
            return false;
        }
        *last = Instant::now();
        let mut token = self.token.write().unwrap_or_else(|e| e.into_inner());
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        // Finalizing closes every session of the old initialization.
        let _already_finalized_is_fine = token.context.clone().finalize();
        token.generation += 1;
        match token
            .context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            Ok(()) | Err(TokenError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => true,
            Err(error) => {
                tracing::warn!(%error, "initializing the PKCS#11 module again failed");
                false
            }
        }
    }
}

impl Token {
    /// The slot holding the token.
    fn slot(&self) -> Result<Slot, String> {
        let slots = self
            .context
            .get_slots_with_token()
            .map_err(|e| format!("listing slots: {e}"))?;
        for slot in slots {
            let found = match &self.id {
                TokenId::Slot(id) => slot.id() == *id,
                TokenId::Label(label) => self
                    .context
                    .get_token_info(slot)
                    .is_ok_and(|info| info.label().trim_end() == label),
            };
            if found {
                return Ok(slot);
            }
        }
        Err(format!("no token {:?} is present", self.id))
    }

    /// A new session, logged in, with the private key found.
    fn open_session(&self) -> Result<(Session, ObjectHandle), String> {
        let session = self
            .context
            .open_ro_session(self.slot()?)
            .map_err(|e| format!("opening a session: {e}"))?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(TokenError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(error) => return Err(format!("logging in: {error}")),
        }
        let handle = self.find(&session, ObjectClass::PRIVATE_KEY)?;
        Ok((session, handle))
    }

    /// The one Ed25519 object of `class` labelled `key_label`.
    fn find(&self, session: &Session, class: ObjectClass) -> Result<ObjectHandle, String> {
        let template = [
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Label(self.key_label.as_bytes().to_vec()),
        ];
        let found = session
            .find_objects(&template)
            .map_err(|e| format!("finding key {:?}: {e}", self.key_label))?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!(
                "the token holds no Ed25519 {class} labelled {:?}",
                self.key_label
            )),
            _ => Err(format!(
                "the token holds {} Ed25519 {class} objects labelled {:?}; a label must name one key",
                found.len(),
                self.key_label
            )),
        }
    }

    /// The public key of the pair, from its public key object.
    fn read_public(&self, session: &Session) -> Result<PublicKey, String> {
        let object = self.find(session, ObjectClass::PUBLIC_KEY)?;
        let attributes = session
            .get_attributes(object, &[AttributeType::EcPoint])
            .map_err(|e| format!("reading the public key: {e}"))?;
        let Some(Attribute::EcPoint(point)) = attributes.into_iter().next() else {
            return Err("the public key object has no CKA_EC_POINT".into());
        };
        let bytes = ec_point_bytes(&point).ok_or_else(|| {
            format!(
                "CKA_EC_POINT of {} bytes is not an Ed25519 public key",
                point.len()
            )
        })?;
        PublicKey::from_bytes(&bytes).map_err(|e| format!("the token's public key: {e}"))
    }
}

impl ExternalKey for TokenKey {
    fn public(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        // A kept session may be stale (a token unplugged and back): once
        // more on a fresh one, then once more after initializing the
        // module again (at most once a second).
        let mut error = match self.sign_once(message) {
            Ok(signature) => return Ok(signature),
            Err(error) => error,
        };
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        for reinitialize in [false, true] {
            if reinitialize && !self.reinitialize() {
                break;
            }
            match self.sign_once(message) {
                Ok(signature) => return Ok(signature),
                Err(again) => error = again,
            }
        }
        tracing::warn!(%error, "the PKCS#11 token made no signature");
        Err(SignerError(format!("PKCS#11 token: {error}")))
    }

    fn check(&self) -> Result<(), SignerError> {
        let present = || self.token.read().unwrap_or_else(|e| e.into_inner()).slot();
        present()
            .or_else(|error| {
                // A returned token is listed only after an initialization.
                if self.reinitialize() {
                    present()
                } else {
                    Err(error)
                }
            })
            .map(drop)
            .map_err(|error| SignerError(format!("PKCS#11 token: {error}")))
    }
}

/// The 32 key bytes of a `CKA_EC_POINT`: a DER OCTET STRING around them
/// (PKCS#11 3.0) or, from some tokens, the raw bytes.
fn ec_point_bytes(point: &[u8]) -> Option<[u8; 32]> {
    match point {
        [0x04, 0x20, key @ ..] if key.len() == 32 => key.try_into().ok(),
        key if key.len() == 32 => key.try_into().ok(),
        _ => None,
    }
}

/// The PIN: the file's content without its trailing newline.
fn read_pin(path: &Path) -> Result<AuthPin, String> {
    use std::io::Read as _;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut text = String::new();
    file.take(PIN_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{shown}: {e}"))?;
    if text.len() as u64 > PIN_BYTES_MAX {
        return Err(format!("{shown}: longer than {PIN_BYTES_MAX} bytes"));
    }
    let pin = text.trim_end_matches(['\n', '\r']);
    if pin.is_empty() {
        return Err(format!("{shown}: empty"));
    }
    Ok(AuthPin::from(pin.to_owned()))
}

/// Where a token's key would be described in logs: module and labels.
pub fn describe(config: &Pkcs11Signer) -> String {
    let token = match (&config.token_label, config.slot) {
        (Some(label), _) => format!("token {label:?}"),
        (None, Some(slot)) => format!("slot {slot}"),
        (None, None) => "no token".into(),
    };
    format!(
        "{token}, key {:?}, module {}",
        config.key_label,
        PathBuf::from(&config.module).display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_points_in_both_encodings_give_the_key() {
        let key = [7_u8; 32];
        let mut der = vec![0x04, 0x20];
        der.extend_from_slice(&key);
        assert_eq!(ec_point_bytes(&der), Some(key));
        assert_eq!(ec_point_bytes(&key), Some(key));
        assert_eq!(ec_point_bytes(&der[..33]), None);
        assert_eq!(ec_point_bytes(&[0x04, 0x21, 1]), None);
    }

    #[test]
    fn a_pin_file_is_read_without_its_newline_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pin");
        std::fs::write(&path, "1234\n").expect("write");
        assert!(read_pin(&path).is_ok());
        std::fs::write(&path, "\n").expect("write");
        assert!(read_pin(&path).expect_err("empty").contains("empty"));
        std::fs::write(&path, "9".repeat(2000)).expect("write");
        assert!(read_pin(&path).expect_err("long").contains("longer"));
    }
}
