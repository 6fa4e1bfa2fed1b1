//! RFC 3161 timestamp tokens (`Docs/format.md` §11.9): the request the
//! recorder sends a timestamp authority (TSA), the reading of its answer,
//! and the checks a verifier makes of a token against the TSA certificates
//! it trusts.
//!
//! A token is a CMS `SignedData` (RFC 5652) whose content is a `TSTInfo`
//! (RFC 3161 §2.4.2): the TSA signs, with a key whose certificate is for
//! timestamping only, that it saw a hash (the message imprint) at a time
//! (`genTime`). arxi asks for SHA-256 imprints of its own hashes, so the
//! imprint of a token over an arxi seal is the seal's hash itself.
//!
//! The ASN.1 is read by the RustCrypto types (`der`, `cms`, `x509-cert`,
//! `x509-tsp`); signatures are checked with ECDSA P-256/P-384 (`p256`,
//! `p384`), RSA PKCS#1 v1.5 (`rsa`) and Ed25519. Only `genTime` is read as
//! text, because the `der` 0.7 time type refuses the fractional seconds
//! many TSAs send.
//!
//! What is checked, in order ([`Token::parse`], then [`Token::verify`]):
//! the token is a `SignedData` holding a `TSTInfo` of version 1, with one
//! signer whose signed attributes name the `TSTInfo` content type and hold
//! its digest; the signer's certificate (from the token or the trusted set)
//! verifies the signature over those attributes; it allows timestamping
//! (a critical extended key usage naming `id-kp-timeStamping`, and a key
//! usage, if present, allowing signatures); it chains, through at most
//! [`CHAIN_MAX`] certificates of the token, each signed by the next and
//! each issuer a CA, to a trusted certificate; and every certificate on the
//! way was valid at `genTime`.
//!
//! Not checked: revocation (CRL, OCSP) of the TSA certificate, which an
//! offline verifier cannot ask about; the ESS signing-certificate
//! attribute (the certificate is the one whose key verifies the signature);
//! RSA-PSS signatures (refused as an unsupported algorithm).

use std::fmt;

use cms::cert::CertificateChoices;
use cms::cert::x509::ext::pkix::name::GeneralName;
use cms::cert::x509::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use cms::cert::x509::spki::SubjectPublicKeyInfoOwned;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::oid::db::{rfc5280, rfc5911, rfc5912, rfc8410};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use sha2::Digest;
use x509_cert::Certificate;
use x509_cert::ext::Extensions;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

use crate::digest::Hash32;

/// `id-ct-TSTInfo` (RFC 3161 §2.4.2), the content type of a token.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Most certificates between a token's signer and a trusted certificate.
pub const CHAIN_MAX: usize = 4;

/// Largest token read (a token with a few certificates is 2-6 KiB).
pub const TOKEN_MAX_BYTES: usize = 64 * 1024;

/// Most certificates read from one trusted-certificate file.
pub const TRUSTED_MAX: usize = 64;

/// Why a token, an answer or a certificate file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TspError {
    /// Not a well-formed token (or answer): what is wrong.
    Malformed(String),
    /// The TSA refused the request: its status and text.
    Refused(String),
    /// The token is over another hash than the one asked for (or another
    /// hash algorithm than SHA-256).
    Imprint(String),
    /// The answer's nonce is not the request's.
    Nonce,
    /// The signature or the content digest does not verify.
    Signature(String),
    /// The signer's certificate does not allow timestamping, or was not
    /// valid at the token's time.
    Certificate(String),
    /// The signer does not chain to a trusted certificate.
    Untrusted(String),
}

impl fmt::Display for TspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed timestamp token: {why}"),
            Self::Refused(why) => write!(f, "the timestamp authority refused: {why}"),
            Self::Imprint(why) => write!(f, "the token is over another hash: {why}"),
            Self::Nonce => f.write_str("the answer's nonce is not the request's"),
            Self::Signature(why) => write!(f, "the token's signature does not verify: {why}"),
            Self::Certificate(why) => write!(f, "the TSA certificate does not serve: {why}"),
            Self::Untrusted(why) => write!(f, "the TSA is not trusted: {why}"),
        }
    }
}

impl std::error::Error for TspError {}

fn malformed(what: &str, error: impl fmt::Display) -> TspError {
    TspError::Malformed(format!("{what}: {error}"))
}

/// `TSTInfo` (RFC 3161 §2.4.2) with `genTime` kept as its encoding (see the
/// module documentation).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// What a token says, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The SHA-256 hash the TSA signed.
    pub imprint: Hash32,
    /// `genTime`, in microseconds since the Unix epoch.
    pub gen_time_micros: i64,
    /// The stated accuracy of `genTime`, in microseconds (0: none stated).
    pub accuracy_micros: u64,
    /// The token's serial number (hex, as encoded).
    pub serial: String,
    /// The TSA's policy.
    pub policy: String,
}

/// A parsed token whose structure and content digest were checked (its
/// signer and trust are checked by [`Token::verify`]).
#[derive(Debug, Clone)]
pub struct Token {
    der: Vec<u8>,
    signed: SignedData,
    info: TokenInfo,
    nonce: Option<Vec<u8>>,
}

/// The certificates a verifier (or the recorder) trusts to sign tokens:
/// TSA certificates or CA certificates that issue them.
#[derive(Debug, Clone, Default)]
pub struct TsaTrust {
    anchors: Vec<Certificate>,
}

impl TsaTrust {
    /// No certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the certificates of `bytes`: PEM (one or more `CERTIFICATE`
    /// blocks) or one DER certificate. Returns how many were added.
    pub fn add(&mut self, bytes: &[u8]) -> Result<usize, TspError> {
        let text = bytes.trim_ascii_start();
        let certificates = if text.starts_with(b"-----BEGIN") {
            Certificate::load_pem_chain(text).map_err(|e| malformed("PEM certificates", e))?
        } else {
            vec![Certificate::from_der(bytes).map_err(|e| malformed("DER certificate", e))?]
        };
        if certificates.is_empty() {
            return Err(TspError::Malformed("no certificate in the file".into()));
        }
        if self.anchors.len() + certificates.len() > TRUSTED_MAX {
            return Err(TspError::Malformed(format!(
                "more than {TRUSTED_MAX} trusted TSA certificates"
            )));
        }
        let added = certificates.len();
        self.anchors.extend(certificates);
        Ok(added)
    }

    /// Whether no certificate is trusted.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// How many certificates are trusted.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }
}

/// A `TimeStampReq` (RFC 3161 §2.4.1) for the SHA-256 hash `imprint`,
/// asking for the TSA's certificate in the token, with `nonce`.
pub fn request(imprint: &Hash32, nonce: u64) -> Vec<u8> {
    let request = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: sha256_imprint(imprint),
        req_policy: None,
        nonce: Some(
            Int::new(&unsigned_integer(nonce)).expect("a positive integer of at most 9 bytes"),
        ),
        cert_req: true,
        extensions: None,
    };
    request.to_der().expect("a request of fixed shape encodes")
}

/// `value` as the content of a DER INTEGER: minimal, with a leading zero
/// when the high bit is set (nonces, serial numbers).
pub fn unsigned_integer(nonce: u64) -> Vec<u8> {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&nonce.to_be_bytes());
    let first = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len() - 1);
    let start = if bytes[first] & 0x80 != 0 {
        first - 1
    } else {
        first
    };
    bytes.split_off(start)
}

fn sha256_imprint(imprint: &Hash32) -> MessageImprint {
    MessageImprint {
        hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
            oid: rfc5912::ID_SHA_256,
            parameters: Some(Any::null()),
        },
        hashed_message: OctetString::new(imprint.as_bytes().to_vec())
            .expect("32 bytes are an octet string"),
    }
}

/// Reads a TSA's `TimeStampResp` to the request [`request`]`(imprint,
/// nonce)`: the status grants it, the token is well formed, over `imprint`,
/// and carries `nonce`. Returns the token (whose signer the caller checks
/// with [`Token::verify`]).
pub fn read_response(der: &[u8], imprint: &Hash32, nonce: u64) -> Result<Token, TspError> {
    if der.len() > TOKEN_MAX_BYTES {
        return Err(TspError::Malformed(format!(
            "the answer is larger than {TOKEN_MAX_BYTES} bytes"
        )));
    }
    let response = TimeStampResp::from_der(der).map_err(|e| malformed("TimeStampResp", e))?;
    let status = response.status.status as u8;
    if status > 1 {
        let text = response
            .status
            .status_string
            .map_or_else(String::new, |texts| {
                texts
                    .iter()
                    .map(|text| text.as_str().to_owned())
                    .collect::<Vec<_>>()
                    .join("; ")
            });
        return Err(TspError::Refused(format!("status {status}: {text}")));
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| TspError::Malformed("a granted answer without a token".into()))?;
    let token = Token::parse(&token.to_der().map_err(|e| malformed("token", e))?)?;
    if token.info.imprint != *imprint {
        return Err(TspError::Imprint(format!(
            "asked for {imprint}, the token holds {}",
            token.info.imprint
        )));
    }
    if token.nonce.as_deref() != Some(unsigned_integer(nonce).as_slice()) {
        return Err(TspError::Nonce);
    }
    Ok(token)
}

impl Token {
    /// Reads a token (the DER of its `ContentInfo`) and checks its
    /// structure and content digest.
    pub fn parse(der: &[u8]) -> Result<Self, TspError> {
        if der.len() > TOKEN_MAX_BYTES {
            return Err(TspError::Malformed(format!(
                "larger than {TOKEN_MAX_BYTES} bytes"
            )));
        }
        let content = ContentInfo::from_der(der).map_err(|e| malformed("ContentInfo", e))?;
        if content.content_type != rfc5911::ID_SIGNED_DATA {
            return Err(TspError::Malformed(format!(
                "content type {} is not SignedData",
                content.content_type
            )));
        }
        let signed: SignedData = content
            .content
            .decode_as()
            .map_err(|e| malformed("SignedData", e))?;
        if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
            return Err(TspError::Malformed("the content is not a TSTInfo".into()));
        }
        let tst_der = signed
            .encap_content_info
            .econtent
            .as_ref()
            .ok_or_else(|| TspError::Malformed("no TSTInfo in the token".into()))?
            .decode_as::<OctetString>()
            .map_err(|e| malformed("TSTInfo octets", e))?
            .into_bytes();
        let tst = TstInfo::from_der(&tst_der).map_err(|e| malformed("TSTInfo", e))?;
        let signer = only_signer(&signed)?;
        check_signed_attributes(signer, &tst_der)?;
        let (info, nonce) = read_tst_info(&tst)?;
        Ok(Self {
            der: der.to_vec(),
            signed,
            info,
            nonce,
        })
    }

    /// The token's encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// What the token says.
    pub fn info(&self) -> &TokenInfo {
        &self.info
    }

    /// Checks the signer: its certificate verifies the signature, allows
    /// timestamping, and chains to a certificate of `trust`, every
    /// certificate valid at `genTime`. Returns the signer's subject.
    pub fn verify(&self, trust: &TsaTrust) -> Result<String, TspError> {
        let signer = only_signer(&self.signed)?;
        let pool = self.certificates();
        let certificate = find_signer(&signer.sid, &pool, &trust.anchors)?;
        let attributes = signer
            .signed_attrs
            .as_ref()
            .expect("parse refused a signer without signed attributes")
            .to_der()
            .map_err(|e| malformed("signed attributes", e))?;
        verify_signature(
            &certificate.tbs_certificate.subject_public_key_info,
            &signer.signature_algorithm.oid,
            Some(&signer.digest_alg.oid),
            &attributes,
            signer.signature.as_bytes(),
        )
        .map_err(TspError::Signature)?;
        check_timestamping_use(certificate)?;
        let at = self.info.gen_time_micros;
        chain_to_trusted(certificate, &pool, &trust.anchors, at)?;
        Ok(certificate.tbs_certificate.subject.to_string())
    }

    fn certificates(&self) -> Vec<Certificate> {
        self.signed
            .certificates
            .as_ref()
            .map_or_else(Vec::new, |set| {
                set.0
                    .iter()
                    .filter_map(|choice| match choice {
                        CertificateChoices::Certificate(certificate) => Some(certificate.clone()),
                        CertificateChoices::Other(_) => None,
                    })
                    .collect()
            })
    }
}

fn only_signer(signed: &SignedData) -> Result<&SignerInfo, TspError> {
    match signed.signer_infos.0.as_slice() {
        [signer] => Ok(signer),
        signers => Err(TspError::Malformed(format!(
            "{} signers; a token has exactly one",
            signers.len()
        ))),
    }
}

/// The signed attributes name the `TSTInfo` content type and hold the
/// digest of `tst_der` (RFC 5652 §5.4, §11.1, §11.2).
fn check_signed_attributes(signer: &SignerInfo, tst_der: &[u8]) -> Result<(), TspError> {
    let attributes = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TspError::Malformed("the signer has no signed attributes".into()))?;
    let single = |oid: ObjectIdentifier, name: &str| -> Result<&Any, TspError> {
        let mut found = attributes.iter().filter(|attribute| attribute.oid == oid);
        match (found.next(), found.next()) {
            (Some(attribute), None) if attribute.values.len() == 1 => {
                Ok(attribute.values.get(0).expect("one value"))
            }
            _ => Err(TspError::Malformed(format!(
                "the signed attributes need exactly one {name}"
            ))),
        }
    };
    let content_type: ObjectIdentifier = single(rfc5911::ID_CONTENT_TYPE, "content-type")?
        .decode_as()
        .map_err(|e| malformed("content-type attribute", e))?;
    if content_type != ID_CT_TST_INFO {
        return Err(TspError::Malformed(
            "the content-type attribute is not TSTInfo".into(),
        ));
    }
    let digest: OctetString = single(rfc5911::ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as()
        .map_err(|e| malformed("message-digest attribute", e))?;
    let expected = hash(&signer.digest_alg.oid, tst_der).map_err(TspError::Signature)?;
    if digest.as_bytes() != expected.as_slice() {
        return Err(TspError::Signature(
            "the message-digest attribute is not the TSTInfo's digest".into(),
        ));
    }
    Ok(())
}

fn read_tst_info(tst: &TstInfo) -> Result<(TokenInfo, Option<Vec<u8>>), TspError> {
    let imprint = &tst.message_imprint;
    if imprint.hash_algorithm.oid != rfc5912::ID_SHA_256 {
        return Err(TspError::Imprint(format!(
            "hash algorithm {} is not SHA-256",
            imprint.hash_algorithm.oid
        )));
    }
    let hashed: [u8; 32] = imprint
        .hashed_message
        .as_bytes()
        .try_into()
        .map_err(|_| TspError::Imprint("a SHA-256 imprint of another length".into()))?;
    if tst.gen_time.tag() != Tag::GeneralizedTime {
        return Err(TspError::Malformed(
            "genTime is not a GeneralizedTime".into(),
        ));
    }
    let gen_time_micros = generalized_time_micros(tst.gen_time.value())?;
    let accuracy_micros = tst.accuracy.as_ref().map_or(0, |accuracy| {
        accuracy.seconds.unwrap_or(0).saturating_mul(1_000_000)
            + u64::from(accuracy.millis.unwrap_or(0).unsigned_abs()) * 1_000
            + u64::from(accuracy.micros.unwrap_or(0).unsigned_abs())
    });
    let info = TokenInfo {
        imprint: Hash32(hashed),
        gen_time_micros,
        accuracy_micros,
        serial: crate::digest::encode_hex(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
    };
    Ok((
        info,
        tst.nonce.as_ref().map(|nonce| nonce.as_bytes().to_vec()),
    ))
}

/// `YYYYMMDDHHMMSS[.f...]Z` (X.690 §11.7: UTC, no trailing zeros in the
/// fraction) to microseconds since the epoch; digits past the sixth of the
/// fraction are dropped.
pub fn generalized_time_micros(text: &[u8]) -> Result<i64, TspError> {
    let bad = || {
        TspError::Malformed(format!(
            "genTime {:?} is not YYYYMMDDHHMMSS[.fff]Z",
            String::from_utf8_lossy(text)
        ))
    };
    let (whole, rest) = text.split_at_checked(14).ok_or_else(bad)?;
    if !whole.iter().all(u8::is_ascii_digit) || rest.last() != Some(&b'Z') {
        return Err(bad());
    }
    let fraction = &rest[..rest.len() - 1];
    let micros = match fraction {
        [] => 0,
        [b'.', digits @ ..]
            if !digits.is_empty()
                && digits.iter().all(u8::is_ascii_digit)
                && digits.last() != Some(&b'0') =>
        {
            let mut micros: i64 = 0;
            for place in 0..6 {
                micros = micros * 10 + digits.get(place).map_or(0, |digit| i64::from(digit - b'0'));
            }
            micros
        }
        _ => return Err(bad()),
    };
    let number = |range: std::ops::Range<usize>| {
        whole[range]
            .iter()
            .fold(0u32, |value, digit| value * 10 + u32::from(digit - b'0'))
    };
    let year = u16::try_from(number(0..4)).map_err(|_| bad())?;
    let field = |range| u8::try_from(number(range)).map_err(|_| bad());
    let date = der::DateTime::new(
        year,
        field(4..6)?,
        field(6..8)?,
        field(8..10)?,
        field(10..12)?,
        field(12..14)?,
    )
    .map_err(|_| bad())?;
    let seconds = i64::try_from(date.unix_duration().as_secs()).map_err(|_| bad())?;
    Ok(seconds * 1_000_000 + micros)
}

fn find_signer<'a>(
    sid: &SignerIdentifier,
    pool: &'a [Certificate],
    anchors: &'a [Certificate],
) -> Result<&'a Certificate, TspError> {
    let matches = |certificate: &&Certificate| match sid {
        SignerIdentifier::IssuerAndSerialNumber(named) => {
            certificate.tbs_certificate.issuer == named.issuer
                && certificate.tbs_certificate.serial_number == named.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(key_id) => matches!(
            certificate.tbs_certificate.get::<SubjectKeyIdentifier>(),
            Ok(Some((_, found))) if found == *key_id
        ),
    };
    pool.iter().chain(anchors).find(matches).ok_or_else(|| {
        TspError::Untrusted("the signer's certificate is neither in the token nor trusted".into())
    })
}

/// RFC 3161 §2.3: the certificate's extended key usage is critical and
/// names `id-kp-timeStamping`; a key usage, if present, allows signatures.
fn check_timestamping_use(certificate: &Certificate) -> Result<(), TspError> {
    let tbs = &certificate.tbs_certificate;
    match tbs.get::<ExtendedKeyUsage>() {
        Ok(Some((true, usage))) if usage.0.contains(&rfc5280::ID_KP_TIME_STAMPING) => {}
        Ok(Some((false, _))) => {
            return Err(TspError::Certificate(
                "its extended key usage is not critical".into(),
            ));
        }
        Ok(_) => {
            return Err(TspError::Certificate(
                "its extended key usage does not name timeStamping".into(),
            ));
        }
        Err(e) => return Err(malformed("extended key usage", e)),
    }
    match tbs.get::<KeyUsage>() {
        Ok(None) => Ok(()),
        Ok(Some((_, usage))) if usage.digital_signature() || usage.non_repudiation() => Ok(()),
        Ok(Some(_)) => Err(TspError::Certificate(
            "its key usage does not allow signatures".into(),
        )),
        Err(e) => Err(malformed("key usage", e)),
    }
}

fn check_valid_at(certificate: &Certificate, at_micros: i64) -> Result<(), TspError> {
    let validity = &certificate.tbs_certificate.validity;
    let micros = |time: &x509_cert::time::Time| {
        i64::try_from(time.to_unix_duration().as_micros()).unwrap_or(i64::MAX)
    };
    if at_micros < micros(&validity.not_before) || at_micros > micros(&validity.not_after) {
        return Err(TspError::Certificate(format!(
            "{} was not valid at the token's genTime",
            certificate.tbs_certificate.subject
        )));
    }
    Ok(())
}

fn is_ca(certificate: &Certificate) -> bool {
    matches!(
        certificate.tbs_certificate.get::<BasicConstraints>(),
        Ok(Some((_, constraints))) if constraints.ca
    )
}

/// Walks from `certificate` to a trusted one: itself trusted, or issued
/// (name and signature) by a trusted CA, or by a CA of the token that is
/// itself so issued, at most [`CHAIN_MAX`] steps.
fn chain_to_trusted(
    certificate: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at_micros: i64,
) -> Result<(), TspError> {
    let mut current = certificate;
    for _ in 0..=CHAIN_MAX {
        check_valid_at(current, at_micros)?;
        if anchors.contains(current) {
            return Ok(());
        }
        let issued = |issuer: &&Certificate| {
            issuer.tbs_certificate.subject == current.tbs_certificate.issuer
                && *issuer != current
                && is_ca(issuer)
                && verify_certificate(current, issuer).is_ok()
        };
        if let Some(anchor) = anchors.iter().find(issued) {
            return check_valid_at(anchor, at_micros);
        }
        current = pool.iter().find(issued).ok_or_else(|| {
            TspError::Untrusted(format!(
                "{} is not issued by a trusted certificate",
                current.tbs_certificate.subject
            ))
        })?;
    }
    Err(TspError::Untrusted(format!(
        "no trusted certificate within {CHAIN_MAX} issuers"
    )))
}

fn verify_certificate(certificate: &Certificate, issuer: &Certificate) -> Result<(), String> {
    let tbs = certificate
        .tbs_certificate
        .to_der()
        .map_err(|e| e.to_string())?;
    let signature = certificate
        .signature
        .as_bytes()
        .ok_or("a signature of unused bits")?;
    verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        &certificate.signature_algorithm.oid,
        None,
        &tbs,
        signature,
    )
}

fn hash(algorithm: &ObjectIdentifier, message: &[u8]) -> Result<Vec<u8>, String> {
    Ok(match *algorithm {
        rfc5912::ID_SHA_256 => sha2::Sha256::digest(message).to_vec(),
        rfc5912::ID_SHA_384 => sha2::Sha384::digest(message).to_vec(),
        rfc5912::ID_SHA_512 => sha2::Sha512::digest(message).to_vec(),
        other => return Err(format!("unsupported digest algorithm {other}")),
    })
}

/// Verifies `signature` over `message` with the key of `key` under the
/// signature algorithm `algorithm` (a bare `rsaEncryption` or
/// `id-ecPublicKey`, as CMS allows, takes its hash from `digest`).
fn verify_signature(
    key: &SubjectPublicKeyInfoOwned,
    algorithm: &ObjectIdentifier,
    digest: Option<&ObjectIdentifier>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let key_bytes = key
        .subject_public_key
        .as_bytes()
        .ok_or("a public key of unused bits")?;
    let hash_of = |algorithm: &ObjectIdentifier| hash(algorithm, message);
    let bare_hash = || digest.ok_or("no digest algorithm for a bare signature algorithm");
    match (key.algorithm.oid, *algorithm) {
        (rfc8410::ID_ED_25519, rfc8410::ID_ED_25519) => {
            verify_ed25519(key_bytes, message, signature)
        }
        (rfc5912::ID_EC_PUBLIC_KEY, signature_algorithm) => {
            let digest_oid = match signature_algorithm {
                rfc5912::ECDSA_WITH_SHA_256 => rfc5912::ID_SHA_256,
                rfc5912::ECDSA_WITH_SHA_384 => rfc5912::ID_SHA_384,
                rfc5912::ECDSA_WITH_SHA_512 => rfc5912::ID_SHA_512,
                rfc5912::ID_EC_PUBLIC_KEY => *bare_hash()?,
                other => return Err(format!("unsupported signature algorithm {other}")),
            };
            let curve: ObjectIdentifier = key
                .algorithm
                .parameters
                .as_ref()
                .ok_or("an EC key without a named curve")?
                .decode_as()
                .map_err(|e| e.to_string())?;
            verify_ecdsa(curve, key_bytes, &hash_of(&digest_oid)?, signature)
        }
        (rfc5912::RSA_ENCRYPTION, signature_algorithm) => {
            let digest_oid = match signature_algorithm {
                rfc5912::SHA_256_WITH_RSA_ENCRYPTION => rfc5912::ID_SHA_256,
                rfc5912::SHA_384_WITH_RSA_ENCRYPTION => rfc5912::ID_SHA_384,
                rfc5912::SHA_512_WITH_RSA_ENCRYPTION => rfc5912::ID_SHA_512,
                rfc5912::RSA_ENCRYPTION => *bare_hash()?,
                other => return Err(format!("unsupported signature algorithm {other}")),
            };
            verify_rsa(key_bytes, digest_oid, &hash_of(&digest_oid)?, signature)
        }
        (key_algorithm, signature_algorithm) => Err(format!(
            "unsupported key {key_algorithm} with signature algorithm {signature_algorithm}"
        )),
    }
}

fn verify_ed25519(key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), String> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(
        key.try_into()
            .map_err(|_| "an Ed25519 key of another length")?,
    )
    .map_err(|e| e.to_string())?;
    let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|e| e.to_string())?;
    key.verify_strict(message, &signature)
        .map_err(|_| "the Ed25519 signature does not verify".to_owned())
}

fn verify_ecdsa(
    curve: ObjectIdentifier,
    key: &[u8],
    prehash: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let refused = |_| "the ECDSA signature does not verify".to_owned();
    match curve {
        rfc5912::SECP_256_R_1 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|e| e.to_string())?;
            let signature =
                p256::ecdsa::Signature::from_der(signature).map_err(|e| e.to_string())?;
            key.verify_prehash(prehash, &signature).map_err(refused)
        }
        rfc5912::SECP_384_R_1 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|e| e.to_string())?;
            let signature =
                p384::ecdsa::Signature::from_der(signature).map_err(|e| e.to_string())?;
            key.verify_prehash(prehash, &signature).map_err(refused)
        }
        other => Err(format!("unsupported curve {other}")),
    }
}

fn verify_rsa(
    key: &[u8],
    digest: ObjectIdentifier,
    hashed: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    let key = rsa::RsaPublicKey::from_pkcs1_der(key).map_err(|e| e.to_string())?;
    let scheme = match digest {
        rfc5912::ID_SHA_256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        rfc5912::ID_SHA_384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
        _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
    };
    key.verify(scheme, hashed, signature)
        .map_err(|_| "the RSA signature does not verify".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time() {
        assert_eq!(generalized_time_micros(b"19700101000000Z"), Ok(0));
        assert_eq!(
            generalized_time_micros(b"20261202131415Z"),
            Ok(1_796_217_255_000_000)
        );
        assert_eq!(
            generalized_time_micros(b"20261202131415.25Z"),
            Ok(1_796_217_255_250_000)
        );
        assert_eq!(
            generalized_time_micros(b"20261202131415.1234567Z"),
            Ok(1_796_217_255_123_456)
        );
        for bad in [
            &b"20261202131415"[..],
            b"20261202131415.Z",
            b"20261202131415.10Z",
            b"2026120213141Z",
            b"20261302131415Z",
            b"20261202131415+0100",
            b"2026120213141aZ",
        ] {
            assert!(generalized_time_micros(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nonces_are_positive_minimal_integers() {
        assert_eq!(unsigned_integer(0), vec![0]);
        assert_eq!(unsigned_integer(1), vec![1]);
        assert_eq!(unsigned_integer(0x7f), vec![0x7f]);
        assert_eq!(unsigned_integer(0x80), vec![0, 0x80]);
        assert_eq!(
            unsigned_integer(u64::MAX),
            vec![0, 255, 255, 255, 255, 255, 255, 255, 255]
        );
        for nonce in [0, 1, 0x80, 0x1234, u64::MAX] {
            assert!(Int::new(&unsigned_integer(nonce)).is_ok());
        }
    }

    #[test]
    fn requests_are_rfc_3161() {
        let imprint = Hash32::of(b"arxi");
        let der = request(&imprint, 0x0102);
        let read = TimeStampReq::from_der(&der).expect("a TimeStampReq");
        assert_eq!(read.version, TspVersion::V1);
        assert!(read.cert_req);
        assert_eq!(read.message_imprint.hash_algorithm.oid, rfc5912::ID_SHA_256);
        assert_eq!(
            read.message_imprint.hashed_message.as_bytes(),
            imprint.as_bytes()
        );
        assert_eq!(read.nonce.expect("nonce").as_bytes(), &[1, 2]);
    }
}
