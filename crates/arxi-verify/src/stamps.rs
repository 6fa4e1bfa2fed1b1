//! Rules T2 to T5 of `Docs/format.md` §11.9 for one timestamp token over
//! one seal, shared by the bundle verifier (`T` records) and the proof
//! file check (a proof's `timestamps`), and over one checkpoint (rule TC:
//! the token an `arxi.log.timestamped` envelope carries).
//!
//! Where the token sits (rule T1) and what a policy requires of a seal
//! (rule T6) are the callers'.

use arxi_format::tsp::{Token, TsaTrust, TspError};
use arxi_format::{Hash32, Timestamp};

use crate::report::Code;

/// The default of `--timestamp-tolerance`: how far a token's `genTime`
/// may be from the seal's `sealed_at`.
pub const TOLERANCE_DEFAULT_SECONDS: u64 = 300;

/// What an auditor asks of timestamp tokens.
#[derive(Debug, Clone)]
pub struct TimestampPolicy {
    /// The TSA certificates trusted (`--tsa-cert`): TSA certificates or
    /// CA certificates that issue them.
    pub trust: TsaTrust,
    /// How far `genTime` may be from `sealed_at`, in seconds.
    pub tolerance_seconds: u64,
    /// Every seal must carry a trusted token (`--require-timestamp`).
    pub required: bool,
}

impl Default for TimestampPolicy {
    fn default() -> Self {
        Self {
            trust: TsaTrust::new(),
            tolerance_seconds: TOLERANCE_DEFAULT_SECONDS,
            required: false,
        }
    }
}

/// One finding about a token: its code, what is wrong, and the expected
/// and found values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFinding {
    /// The code.
    pub code: Code,
    /// What is wrong, in words.
    pub message: String,
    /// The expected value, when there is one.
    pub expected: Option<String>,
    /// The found value, when there is one.
    pub found: Option<String>,
}

impl TokenFinding {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            expected: None,
            found: None,
        }
    }
}

/// What checking one token found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCheck {
    /// Every rule broken (empty: it holds T2 to T5).
    pub findings: Vec<TokenFinding>,
    /// The token's `genTime`, when it was read.
    pub gen_time: Option<Timestamp>,
    /// The signer's certificate subject, when its signature verified.
    pub signer: Option<String>,
    /// It holds every rule and its signer chains to a trusted certificate.
    pub trusted: bool,
}

impl TokenCheck {
    /// True when it broke no rule.
    pub fn holds(&self) -> bool {
        self.findings.is_empty()
    }
}

/// What a token stamps, for the words of its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamped {
    /// A seal: the token is over its stored hash, near its `sealed_at`.
    Seal,
    /// A checkpoint (rule TC): the token is over the SHA-256 of its text,
    /// near the `received_at` of the envelope that records it.
    Checkpoint,
}

impl Stamped {
    fn hash_name(self) -> &'static str {
        match self {
            Self::Seal => "the seal's",
            Self::Checkpoint => "the checkpoint text's SHA-256",
        }
    }

    fn time_name(self) -> &'static str {
        match self {
            Self::Seal => "the seal's sealed_at",
            Self::Checkpoint => "the received_at of the envelope recording it",
        }
    }
}

/// Checks the DER token `token` against the seal whose stored hash is
/// `seal_hash` and whose `sealed_at` is `sealed_at`, under `policy`.
pub fn check_token(
    token: &[u8],
    seal_hash: &Hash32,
    sealed_at: Timestamp,
    policy: &TimestampPolicy,
) -> TokenCheck {
    check_stamp(token, (Stamped::Seal, seal_hash, sealed_at), policy)
}

/// Checks the DER token `token` over `stamped`, whose hash is `hash` and
/// whose time (by the recorder's clock) is `time`, under `policy`.
pub fn check_stamp(
    token: &[u8],
    (stamped, seal_hash, sealed_at): (Stamped, &Hash32, Timestamp),
    policy: &TimestampPolicy,
) -> TokenCheck {
    let mut check = TokenCheck::default();
    let token = match Token::parse(token) {
        Ok(token) => token,
        Err(error) => {
            let code = match &error {
                TspError::Imprint(_) => Code::TimestampImprintMismatch,
                TspError::Signature(_) => Code::TimestampSignatureInvalid,
                _ => Code::TimestampMalformed,
            };
            check
                .findings
                .push(TokenFinding::new(code, error.to_string()));
            return check;
        }
    };
    let info = token.info();
    check.gen_time = Timestamp::from_unix_micros(info.gen_time_micros);
    if info.imprint != *seal_hash {
        check.findings.push(TokenFinding {
            expected: Some(seal_hash.to_hex()),
            found: Some(info.imprint.to_hex()),
            ..TokenFinding::new(
                Code::TimestampImprintMismatch,
                format!(
                    "the token is over another hash than {}",
                    stamped.hash_name()
                ),
            )
        });
        return check;
    }
    if let Some(skew) = skew(&token, (stamped, sealed_at), policy.tolerance_seconds) {
        check.findings.push(skew);
    }
    match token.verify(&policy.trust) {
        Ok(subject) => {
            check.signer = Some(subject);
            check.trusted = !policy.trust.is_empty() && check.findings.is_empty();
        }
        Err(TspError::Signature(why)) => {
            let finding = TokenFinding::new(Code::TimestampSignatureInvalid, why);
            check.findings.push(finding);
        }
        Err(error @ (TspError::Certificate(_) | TspError::Untrusted(_))) => {
            if !policy.trust.is_empty() {
                check.findings.push(TokenFinding {
                    found: Some(error.to_string()),
                    ..TokenFinding::new(
                        Code::TimestampUntrusted,
                        "the token's signer is not a trusted TSA",
                    )
                });
            }
        }
        Err(error) => {
            let finding = TokenFinding::new(Code::TimestampMalformed, error.to_string());
            check.findings.push(finding);
        }
    }
    check
}

/// Rule T5: the finding when `genTime` is further from `sealed_at` than
/// the tolerance plus the token's accuracy.
fn skew(
    token: &Token,
    (stamped, sealed_at): (Stamped, Timestamp),
    tolerance_seconds: u64,
) -> Option<TokenFinding> {
    let info = token.info();
    let allowed = i128::from(tolerance_seconds) * 1_000_000 + i128::from(info.accuracy_micros);
    let skew = i128::from(info.gen_time_micros) - i128::from(sealed_at.unix_micros());
    if skew.abs() <= allowed {
        return None;
    }
    let gen_time = Timestamp::from_unix_micros(info.gen_time_micros).map_or_else(
        || format!("{} µs", info.gen_time_micros),
        |time| time.to_string(),
    );
    let seconds = skew.unsigned_abs() / 1_000_000;
    let millis = skew.unsigned_abs() % 1_000_000 / 1_000;
    let side = if skew < 0 { "before" } else { "after" };
    Some(TokenFinding {
        expected: Some(format!("{sealed_at} ± {tolerance_seconds} s")),
        found: Some(gen_time),
        ..TokenFinding::new(
            Code::TimestampTimeSkew,
            format!(
                "genTime is {seconds}.{millis:03} s {side} {}",
                stamped.time_name()
            ),
        )
    })
}
