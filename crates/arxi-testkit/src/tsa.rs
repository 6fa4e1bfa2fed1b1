//! A timestamp authority for tests: a CA and a TSA certificate it issues,
//! both with fixed ECDSA P-256 keys, that signs RFC 3161 tokens over any
//! imprint at any time. Deterministic (RFC 6979 signatures, fixed
//! validity), so the conformance suite regenerates byte for byte.
//!
//! The system tests use a real TSA (`openssl ts -reply`); this one is for
//! suites that need tokens over hashes only known when they run, and for
//! the certificates a token must not be accepted with (no timestamping
//! usage, another CA).

use std::str::FromStr as _;
use std::time::Duration;

use arxi_format::Hash32;
use arxi_format::tsp::{ID_CT_TST_INFO, unsigned_integer};
use cms::cert::x509::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{
    BitString, GeneralizedTime, Int, ObjectIdentifier, OctetString, SetOfVec, UtcTime,
};
use der::oid::AssociatedOid;
use der::oid::db::{rfc5280, rfc5911, rfc5912};
use der::{Any, Encode};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use sha2::Digest as _;
use x509_cert::attr::Attribute;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_tsp::{MessageImprint, TspVersion};

/// The TSA policy of the test tokens.
pub const POLICY: &str = "1.3.6.1.4.1.59522.1.1";

/// The test certificates' validity: 2000-01-01 to 2049-12-31 (UTCTime).
const NOT_BEFORE: u64 = 946_684_800;
const NOT_AFTER: u64 = 2_524_607_999;

/// What the TSA certificate allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A critical extended key usage of `id-kp-timeStamping` (RFC 3161).
    Timestamping,
    /// Server authentication only: not a TSA certificate.
    ServerAuth,
}

/// A CA and the TSA it certifies.
#[derive(Debug)]
pub struct TestTsa {
    root: Certificate,
    certificate: Certificate,
    key: SigningKey,
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).expect("a fixed scalar below the order")
}

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: rfc5912::ECDSA_WITH_SHA_256,
        parameters: None,
    }
}

fn sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: Some(Any::null()),
    }
}

fn extension<E: Encode + AssociatedOid>(value: &E, critical: bool) -> Extension {
    Extension {
        extn_id: E::OID,
        critical,
        extn_value: OctetString::new(value.to_der().expect("encodes")).expect("octets"),
    }
}

fn time(unix: u64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(unix)).expect("before 2050"))
}

/// A certificate for `subject`'s key, issued under `issuer` by
/// `issuer_key`.
fn certificate(
    (issuer, issuer_key): (&Name, &SigningKey),
    subject: &Name,
    subject_key: &SigningKey,
    serial: u8,
    extensions: Vec<Extension>,
) -> Certificate {
    let point = subject_key.verifying_key().to_encoded_point(false);
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[serial]).expect("serial"),
        signature: ecdsa_sha256(),
        issuer: issuer.clone(),
        validity: Validity {
            not_before: time(NOT_BEFORE),
            not_after: time(NOT_AFTER),
        },
        subject: subject.clone(),
        subject_public_key_info: SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: rfc5912::ID_EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&rfc5912::SECP_256_R_1).expect("oid")),
            },
            subject_public_key: BitString::from_bytes(point.as_bytes()).expect("bits"),
        },
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature: DerSignature = issuer_key.sign(&tbs.to_der().expect("encodes"));
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(signature.as_bytes()).expect("bits"),
    }
}

impl TestTsa {
    /// The TSA `name` (its keys derive from `seed`), certified for
    /// `usage` by its own CA.
    pub fn new(name: &str, seed: u8, usage: Usage) -> Self {
        let root_name = Name::from_str(&format!("CN={name} root CA,O=arxi tests")).expect("name");
        let tsa_name = Name::from_str(&format!("CN={name},O=arxi tests")).expect("name");
        let root_key = key(seed);
        let ca = BasicConstraints {
            ca: true,
            path_len_constraint: None,
        };
        let root = certificate(
            (&root_name, &root_key),
            &root_name,
            &root_key,
            1,
            vec![
                extension(&ca, true),
                extension(&KeyUsage(KeyUsages::KeyCertSign.into()), true),
            ],
        );
        let purpose = match usage {
            Usage::Timestamping => rfc5280::ID_KP_TIME_STAMPING,
            Usage::ServerAuth => rfc5280::ID_KP_SERVER_AUTH,
        };
        let key = key(seed.wrapping_add(1));
        let certificate = certificate(
            (&root_name, &root_key),
            &tsa_name,
            &key,
            2,
            vec![
                extension(&ExtendedKeyUsage(vec![purpose]), true),
                extension(&KeyUsage(KeyUsages::DigitalSignature.into()), true),
            ],
        );
        Self {
            root,
            certificate,
            key,
        }
    }

    /// The CA certificate, PEM (what an auditor passes as `--tsa-cert`).
    pub fn root_pem(&self) -> String {
        pem("CERTIFICATE", &self.root.to_der().expect("encodes"))
    }

    /// The CA certificate, DER.
    pub fn root_der(&self) -> Vec<u8> {
        self.root.to_der().expect("encodes")
    }

    /// The TSA's own certificate, PEM (trusting it alone also serves).
    pub fn certificate_pem(&self) -> String {
        pem("CERTIFICATE", &self.certificate.to_der().expect("encodes"))
    }

    /// A token (DER `ContentInfo`) over the SHA-256 hash `imprint` at
    /// `gen_time` (Unix seconds), with serial `serial`; the TSA's
    /// certificate is in the token.
    pub fn token(&self, imprint: &Hash32, gen_time: u64, serial: u64) -> Vec<u8> {
        let tst = x509_tsp::TstInfo {
            version: TspVersion::V1,
            policy: ObjectIdentifier::new(POLICY).expect("oid"),
            message_imprint: MessageImprint {
                hash_algorithm: sha256(),
                hashed_message: OctetString::new(imprint.as_bytes().to_vec()).expect("octets"),
            },
            serial_number: Int::new(&unsigned_integer(serial)).expect("int"),
            gen_time: GeneralizedTime::from_unix_duration(Duration::from_secs(gen_time))
                .expect("time"),
            accuracy: None,
            ordering: false,
            nonce: None,
            tsa: None,
            extensions: None,
        };
        let tst_der = tst.to_der().expect("encodes");
        let attributes = signed_attributes(&tst_der);
        let signature: DerSignature = self.key.sign(&attributes.to_der().expect("encodes"));
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: self.certificate.tbs_certificate.issuer.clone(),
                serial_number: self.certificate.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: sha256(),
            signed_attrs: Some(attributes),
            signature_algorithm: ecdsa_sha256(),
            signature: OctetString::new(signature.as_bytes().to_vec()).expect("octets"),
            unsigned_attrs: None,
        };
        let signed = SignedData {
            version: CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![sha256()]).expect("one"),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_CT_TST_INFO,
                econtent: Some(
                    Any::encode_from(&OctetString::new(tst_der).expect("octets")).expect("any"),
                ),
            },
            certificates: Some(CertificateSet(
                SetOfVec::try_from(vec![CertificateChoices::Certificate(
                    self.certificate.clone(),
                )])
                .expect("one"),
            )),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).expect("one")),
        };
        ContentInfo {
            content_type: rfc5911::ID_SIGNED_DATA,
            content: Any::encode_from(&signed).expect("encodes"),
        }
        .to_der()
        .expect("encodes")
    }
}

/// The signed attributes of a token over the DER `TSTInfo` `tst_der`: its
/// content type and SHA-256 digest (RFC 5652 §11.1, §11.2).
fn signed_attributes(tst_der: &[u8]) -> SetOfVec<Attribute> {
    let digest = sha2::Sha256::digest(tst_der).to_vec();
    let attribute = |oid, value: Any| Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).expect("one value"),
    };
    SetOfVec::try_from(vec![
        attribute(
            rfc5911::ID_CONTENT_TYPE,
            Any::encode_from(&ID_CT_TST_INFO).expect("oid"),
        ),
        attribute(
            rfc5911::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest).expect("octets")).expect("octets"),
        ),
    ])
    .expect("two attributes")
}

/// `bytes` as one PEM block of `label`.
fn pem(label: &str, bytes: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
