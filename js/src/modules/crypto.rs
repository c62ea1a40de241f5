//! `crypto`, as PubNub's where it has the function: `hmac(key, message, algorithm, encoding)`,
//! `sha1`/`sha256`/`sha512(message, encoding)` (promises, as PubNub's), `randomUUID()` (a
//! value, as WHATWG's) and `ALGORITHM`. Keys and messages are text, used as UTF-8; an HMAC is
//! base64 by default (PubNub's), a digest hex; `encoding` chooses `"hex"`, `"base64"` or
//! `"base64url"`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rquickjs::prelude::{Async, Opt};
use rquickjs::{Ctx, Function, Object};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::type_error;

/// The hash functions there are.
#[derive(Clone, Copy, Debug)]
enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// `HMAC_SHA256` (PubNub's `crypto.ALGORITHM.HMAC_SHA256`), `sha256` or `SHA-256`.
    fn named(name: &str) -> Result<Self, String> {
        let bare = name.trim_start_matches("HMAC_").trim_start_matches("hmac_").replace('-', "").to_ascii_lowercase();
        match bare.as_str() {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            _ => Err(format!("`{name}` is not an algorithm here: use HMAC_SHA1, HMAC_SHA256 or HMAC_SHA512 (crypto.ALGORITHM)")),
        }
    }

    fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => Sha1::digest(message).to_vec(),
            Self::Sha256 => Sha256::digest(message).to_vec(),
            Self::Sha512 => Sha512::digest(message).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            // An HMAC takes a key of any length; `new_from_slice` cannot fail for it.
            <M as Mac>::new_from_slice(key).map(|m| m.chain_update(message).finalize().into_bytes().to_vec()).unwrap_or_default()
        }
        match self {
            Self::Sha1 => mac::<Hmac<Sha1>>(key, message),
            Self::Sha256 => mac::<Hmac<Sha256>>(key, message),
            Self::Sha512 => mac::<Hmac<Sha512>>(key, message),
        }
    }
}

/// Bytes as text: `hex`, `base64` or `base64url` (no padding).
fn encode(bytes: &[u8], encoding: &str) -> Result<String, String> {
    match encoding {
        "hex" => Ok(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        "base64" => Ok(STANDARD.encode(bytes)),
        "base64url" => Ok(URL_SAFE_NO_PAD.encode(bytes)),
        other => Err(format!("`{other}` is not an encoding here: use \"hex\", \"base64\" or \"base64url\"")),
    }
}

/// The `crypto` object of one engine.
pub(super) fn object<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    let hmac = Async(|ctx: Ctx<'js>, key: String, message: String, algorithm: Opt<String>, encoding: Opt<String>| async move {
        let algorithm = Algorithm::named(algorithm.0.as_deref().unwrap_or("HMAC_SHA256")).map_err(|e| type_error(&ctx, &e))?;
        let mac = algorithm.hmac(key.as_bytes(), message.as_bytes());
        encode(&mac, encoding.0.as_deref().unwrap_or("base64")).map_err(|e| type_error(&ctx, &e))
    });
    object.set("hmac", Function::new(ctx.clone(), hmac)?.with_name("hmac")?)?;
    for (name, algorithm) in [("sha1", Algorithm::Sha1), ("sha256", Algorithm::Sha256), ("sha512", Algorithm::Sha512)] {
        let digest = Async(move |ctx: Ctx<'js>, message: String, encoding: Opt<String>| async move {
            encode(&algorithm.digest(message.as_bytes()), encoding.0.as_deref().unwrap_or("hex")).map_err(|e| type_error(&ctx, &e))
        });
        object.set(name, Function::new(ctx.clone(), digest)?.with_name(name)?)?;
    }
    let uuid = Function::new(ctx.clone(), || uuid::Uuid::new_v4().to_string())?.with_name("randomUUID")?;
    object.set("randomUUID", uuid)?;
    let algorithms = Object::new(ctx.clone())?;
    for name in ["HMAC_SHA1", "HMAC_SHA256", "HMAC_SHA512"] {
        algorithms.set(name, name)?;
    }
    object.set("ALGORITHM", algorithms)?;
    Ok(object)
}
