//! HMAC signatures of request bodies, as webhook senders compute them: GitHub's
//! `X-Hub-Signature-256: sha256=<hex>`, Shopify's `X-Shopify-Hmac-Sha256: <base64>`. The header,
//! algorithm, prefix and encoding are configurable; the comparison is constant-time (ring's
//! `hmac::verify`). Timestamped schemes (Stripe's `t=...,v1=...`) are not supported yet.

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
}

impl Verifier {
    /// Whether `headers` carry the signature of `body`.
    ///
    /// # Errors
    /// [`SignatureError`] saying what is wrong.
    pub(crate) fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        let missing = || SignatureError::Missing(self.header.clone());
        let value = headers.get(self.header.as_str()).and_then(|v| v.to_str().ok()).ok_or_else(missing)?;
        let encoded = value.trim().strip_prefix(self.prefix.as_str()).ok_or_else(missing)?;
        let tag = match self.encoding {
            SignatureEncoding::Hex => from_hex(encoded).ok_or(SignatureError::Malformed("hexadecimal"))?,
            SignatureEncoding::Base64 => {
                base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| SignatureError::Malformed("base64"))?
            }
        };
        hmac::verify(&self.key, body, &tag).map_err(|_| SignatureError::Mismatch)
    }
}

/// `text` as bytes, two hexadecimal digits each.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    text.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// The signature of `body` as `config` wants it in its header, prefix included (for tests and
/// for tools that send signed requests).
pub fn sign(config: &SignatureConfig, body: &[u8]) -> String {
    let tag = hmac::sign(&config.verifier().key, body);
    let encoded = match config.encoding {
        SignatureEncoding::Hex => tag.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag.as_ref()),
    };
    format!("{}{encoded}", config.prefix)
}
