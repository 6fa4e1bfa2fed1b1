//! `arxi_format::tsp` against tokens of the test TSA: certificates given
//! as PEM or DER, and each reason a token is refused (another CA, a
//! certificate not for timestamping, a genTime outside the certificates'
//! validity, a token over another hash algorithm's imprint length, an
//! altered token).

use arxi_format::Hash32;
use arxi_format::tsp::{Token, TsaTrust, TspError};
use arxi_testkit::tsa::{TestTsa, Usage};

/// 2026-12-01T00:00:00Z.
const NOW: u64 = 1_796_083_200;

fn trust(bytes: &[u8]) -> TsaTrust {
    let mut trust = TsaTrust::new();
    assert_eq!(trust.add(bytes), Ok(1));
    trust
}

#[test]
fn certificates_are_read_as_pem_or_der_and_nothing_else() {
    let tsa = TestTsa::new("arxi test TSA", 0x41, Usage::Timestamping);
    let token = Token::parse(&tsa.token(&Hash32::of(b"seal"), NOW, 7)).expect("a token");
    for certificate in [
        tsa.root_pem().into_bytes(),
        format!("\n  {}", tsa.root_pem()).into_bytes(),
        tsa.root_der(),
        tsa.certificate_pem().into_bytes(),
    ] {
        let subject = token.verify(&trust(&certificate)).expect("trusted");
        assert!(subject.contains("arxi test TSA"), "{subject}");
    }
    let mut both = TsaTrust::new();
    let chain = format!("{}{}", tsa.certificate_pem(), tsa.root_pem());
    assert_eq!(both.add(chain.as_bytes()), Ok(2));
    assert_eq!(both.len(), 2);
    for garbage in [
        &b""[..],
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"\x30\x03\x02\x01\x01",
    ] {
        assert!(
            matches!(TsaTrust::new().add(garbage), Err(TspError::Malformed(_))),
            "{garbage:?}"
        );
    }
}

#[test]
fn each_reason_to_refuse_a_token() {
    let tsa = TestTsa::new("arxi test TSA", 0x41, Usage::Timestamping);
    let imprint = Hash32::of(b"seal");
    let root = trust(&tsa.root_der());
    let info = Token::parse(&tsa.token(&imprint, NOW, 7)).expect("a token");
    assert_eq!(info.info().imprint, imprint);
    assert_eq!(
        info.info().gen_time_micros,
        i64::try_from(NOW).expect("fits") * 1_000_000
    );
    assert_eq!(info.info().serial, "07");
    assert_eq!(info.info().policy, arxi_testkit::tsa::POLICY);

    let other = TestTsa::new("other TSA", 0x51, Usage::Timestamping);
    let foreign = Token::parse(&other.token(&imprint, NOW, 1)).expect("a token");
    assert!(matches!(foreign.verify(&root), Err(TspError::Untrusted(_))));
    assert!(matches!(
        foreign.verify(&TsaTrust::new()),
        Err(TspError::Untrusted(_))
    ));

    let server = TestTsa::new("server TSA", 0x61, Usage::ServerAuth);
    let not_for_timestamping = Token::parse(&server.token(&imprint, NOW, 1)).expect("a token");
    assert!(matches!(
        not_for_timestamping.verify(&trust(&server.root_der())),
        Err(TspError::Certificate(why)) if why.contains("timeStamping")
    ));

    // The test certificates are valid 2000 to 2049.
    let late = Token::parse(&tsa.token(&imprint, 2_600_000_000, 1)).expect("a token");
    assert!(
        matches!(late.verify(&root), Err(TspError::Certificate(why)) if why.contains("not valid"))
    );

    let mut altered = tsa.token(&imprint, NOW, 7);
    let last = altered.len() - 1;
    altered[last] ^= 1;
    let altered = Token::parse(&altered).expect("still well formed");
    assert!(matches!(altered.verify(&root), Err(TspError::Signature(_))));
    assert!(matches!(
        Token::parse(b"\x30\x00"),
        Err(TspError::Malformed(_))
    ));
}
