//! HMAC signatures of request bodies, as webhook senders compute them: GitHub's
//! `X-Hub-Signature-256: sha256=<hex>`, Shopify's `X-Shopify-Hmac-Sha256: <base64>`. The header,
//! algorithm, prefix and encoding are configurable; the comparison is constant-time (ring's
//! `hmac::verify`). Stripe's timestamped scheme (`Stripe-Signature: t=<unix time>,v1=<hex>`, the
//! HMAC of `<t>.<body>`) is `scheme = "stripe"`: a signature whose time is outside the tolerance
//! is refused, so a captured request cannot be replayed later.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName};
use base64::Engine as _;
use ring::hmac;
use serde::Deserialize;

/// The signature every request must carry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureConfig {
    /// The header that carries it, such as `X-Hub-Signature-256`.
    pub header: String,
    /// The HMAC's hash function.
    #[serde(default)]
    pub algorithm: SignatureAlgorithm,
    /// The shared secret (use `${VAR}` to keep it out of the file); at least 16 bytes.
    pub secret: String,
    /// Text before the signature in the header, such as `sha256=`.
    #[serde(default)]
    pub prefix: String,
    /// How the signature is written.
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// What is signed, and how the header reads: `hmac` (the body; the header holds the
    /// signature after `prefix`) or `stripe` (`t=<unix time>,v1=<signature>`, of `<t>.<body>`).
    #[serde(default)]
    pub scheme: SignatureScheme,
    /// With `scheme = "stripe"`: how far from now the signature's time may be, in seconds; a
    /// request signed earlier (a replay) or later is refused.
    #[serde(default = "default_tolerance_secs")]
    pub tolerance_secs: u64,
}

fn default_tolerance_secs() -> u64 {
    300
}

/// What a signature signs, and how its header reads.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// The HMAC of the body, after `prefix` in the header (GitHub, Shopify). The default.
    #[default]
    Hmac,
    /// Stripe's: the header is `t=<unix time>,v1=<signature>[,v1=...]`, the HMAC of
    /// `<t>.<body>`; any `v1` may match (while a secret is rolled), and `t` must be within
    /// `tolerance_secs` of now.
    Stripe,
}

/// The hash function of an HMAC signature.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureAlgorithm {
    /// HMAC-SHA1, for senders that still use it (GitHub's older `X-Hub-Signature`).
    Sha1,
    /// HMAC-SHA256. The default.
    #[default]
    Sha256,
    /// HMAC-SHA384.
    Sha384,
    /// HMAC-SHA512.
    Sha512,
}

/// How a signature is written in its header.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureEncoding {
    /// Hexadecimal, in either case. The default.
    #[default]
    Hex,
    /// Standard base64, with padding.
    Base64,
}

/// Why a request's signature was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is missing, or does not start with the prefix.
    #[error("a signature is required in header `{0}`")]
    Missing(String),
    /// The signature is not hexadecimal or base64.
    #[error("the signature is not {0}")]
    Malformed(&'static str),
    /// The signature does not match the body.
    #[error("the signature does not match the body")]
    Mismatch,
    /// A timestamped signature made too long ago (a replay?) or in the future.
    #[error("the signature's time is {age} s from now, past the tolerance of {tolerance} s")]
    Stale {
        /// Seconds between the signature's time and now.
        age: u64,
        /// The tolerance, in seconds.
        tolerance: u64,
    },
}

impl SignatureConfig {
    /// Problems with the configuration.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if HeaderName::try_from(self.header.as_str()).is_err() {
            problems.push(format!("`signature.header`: `{}` is not a header name", self.header));
        }
        if self.secret.len() < 16 {
            problems.push("`signature.secret` must be at least 16 bytes long".to_owned());
        }
        if self.scheme == SignatureScheme::Stripe {
            if self.tolerance_secs == 0 {
                problems.push("`signature.tolerance_secs` must be at least 1".to_owned());
            }
            if !self.prefix.is_empty() || self.encoding != SignatureEncoding::Hex {
                problems.push(
                    "`signature.prefix` and `signature.encoding` do not apply to `scheme = \"stripe\"` (its header is `t=...,v1=<hex>`)".to_owned(),
                );
            }
        }
        problems
    }

    /// The verifier of this configuration.
    pub(crate) fn verifier(&self) -> Verifier {
        let algorithm = match self.algorithm {
            SignatureAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            SignatureAlgorithm::Sha256 => hmac::HMAC_SHA256,
            SignatureAlgorithm::Sha384 => hmac::HMAC_SHA384,
            SignatureAlgorithm::Sha512 => hmac::HMAC_SHA512,
        };
        Verifier {
            header: self.header.clone(),
            prefix: self.prefix.clone(),
            encoding: self.encoding,
            key: hmac::Key::new(algorithm, self.secret.as_bytes()),
            scheme: self.scheme,
            tolerance: self.tolerance_secs,
        }
    }
}

/// Checks bodies against their signature header.
#[derive(Debug)]
pub(crate) struct Verifier {
    header: String,
    prefix: String,
    encoding: SignatureEncoding,
    key: hmac::Key,
    scheme: SignatureScheme,
    tolerance: u64,
}

impl Verifier {
    /// Whether `headers` carry the signature of `body`.
    ///
    /// # Errors
    /// [`SignatureError`] saying what is wrong.
    pub(crate) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        self.verify_at(headers, body, unix_now())
    }

    /// As [`Verifier::verify`], at `now` (seconds since the Unix epoch).
    ///
    /// # Errors
    /// [`SignatureError`] saying what is wrong.
    pub(crate) fn verify_at(&self, headers: &HeaderMap, body: &[u8], now: u64) -> Result<(), SignatureError> {
        let missing = || SignatureError::Missing(self.header.clone());
        let value = headers.get(self.header.as_str()).and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
        if self.scheme == SignatureScheme::Stripe {
            return self.verify_stripe(value, body, now);
        }
        let encoded = value.trim().strip_prefix(self.prefix.as_str()).ok_or_else(missing)?;
        let tag = match self.encoding {
            SignatureEncoding::Hex => from_hex(encoded).ok_or(SignatureError::Malformed("hexadecimal"))?,
            SignatureEncoding::Base64 => {
                base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| SignatureError::Malformed("base64"))?
            }
        };
        hmac::verify(&self.key, body, &tag).map_err(|_| SignatureError::Mismatch)
    }

    /// Stripe's scheme: `t=<time>` and one or more `v1=<hex>` (other schemes' entries, such as
    /// test-mode `v0`, are ignored); the signature is checked before the time, as Stripe does.
    fn verify_stripe(&self, value: &str, body: &[u8], now: u64) -> Result<(), SignatureError> {
        const MALFORMED: SignatureError = SignatureError::Malformed("a `t=<unix time>,v1=<hex>` list");
        let mut time = None;
        let mut tags = Vec::new();
        for entry in value.split(',') {
            match entry.trim().split_once('=') {
                Some(("t", t)) => time = Some(t.parse::<u64>().map_err(|_| MALFORMED)?),
                Some(("v1", tag)) => tags.push(from_hex(tag).ok_or(MALFORMED)?),
                Some(_) => {}
                None => return Err(MALFORMED),
            }
        }
        let (Some(time), false) = (time, tags.is_empty()) else { return Err(MALFORMED) };
        let signed = signed_payload(time, body);
        if !tags.iter().any(|tag| hmac::verify(&self.key, &signed, tag).is_ok()) {
            return Err(SignatureError::Mismatch);
        }
        let age = now.abs_diff(time);
        if age > self.tolerance {
            return Err(SignatureError::Stale { age, tolerance: self.tolerance });
        }
        Ok(())
    }
}

/// What Stripe's scheme signs: `<time>.<body>`.
fn signed_payload(time: u64, body: &[u8]) -> Vec<u8> {
    let mut signed = format!("{time}.").into_bytes();
    signed.extend_from_slice(body);
    signed
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `text` as bytes, two hexadecimal digits each.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    text.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// The signature of `body` as `config` wants it in its header, prefix included (for tests and
/// for tools that send signed requests); a timestamped one is made now.
pub fn sign(config: &SignatureConfig, body: &[u8]) -> String {
    sign_at(config, body, unix_now())
}

/// As [`sign`], a timestamped signature (`scheme = "stripe"`) made at `time` (seconds since
/// the Unix epoch).
pub fn sign_at(config: &SignatureConfig, body: &[u8], time: u64) -> String {
    let key = config.verifier().key;
    if config.scheme == SignatureScheme::Stripe {
        let tag = hmac::sign(&key, &signed_payload(time, body));
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        return format!("t={time},v1={hex}");
    }
    let tag = hmac::sign(&key, body);
    let encoded = match config.encoding {
        SignatureEncoding::Hex => tag.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
    };
    format!("{}{encoded}", config.prefix)
}
