//! Cloudinary's delivery URLs and API signatures.
//!
//! A delivery URL is `<host>/<cloud>/image/<upload|fetch>/[s--SIG--/]<transformation>/[v<version>/]<public id>[.<ext>]`.
//! A transformation is comma-separated `key_value` parameters (`c_fill,h_200,w_300`), sorted as
//! Cloudinary's SDKs sort them. A signed URL's `SIG` is the first 8 characters (32 with a long
//! signature, then SHA-256) of the urlsafe base64 of SHA-1(`<transformation>/<public id>[.<ext>]`
//! followed by the API secret). API calls are signed with the hex SHA-1 (or SHA-256) of their
//! parameters, sorted, as `k=v` joined by `&`, followed by the secret.
//!
//! ```
//! use runnel_connectors::image::cloudinary::{self, Algorithm};
//!
//! let signed = cloudinary::api_signature(&[("timestamp", "1315060510"), ("public_id", "sample_image")], "abcd", Algorithm::Sha1);
//! assert_eq!(signed, "b4ad47fb4e25c7bf5f92a20089f9db59bc302313");
//! assert_eq!(cloudinary::url_signature("c_scale,w_300/sample.jpg", "abcd", false), "s--SAZ8L8hz--");
//! ```

use std::fmt::Write as _;

use base64::Engine as _;
use serde::Deserialize;
use sha1::Digest as _;

use super::config::{Fit, Format, Gravity, VariantConfig};

/// The hash of an API signature.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// SHA-1 (Cloudinary's default).
    #[default]
    Sha1,
    /// SHA-256 (for accounts set to it).
    Sha256,
}

/// The transformation of `variant`: its parameters, sorted. Their keys start with distinct
/// letters, so writing them in the order `b c f g h q w` sorts them without a sort.
pub fn transformation(variant: &VariantConfig) -> String {
    let mut out = String::with_capacity(48);
    let key = |out: &mut String, key: &str| {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(key);
    };
    let number = |out: &mut String, name: &str, value: Option<u32>| {
        if let Some(value) = value {
            key(out, name);
            let _ = write!(out, "{value}");
        }
    };
    if variant.fit == Fit::Pad {
        key(&mut out, "b_");
        let _ = write!(out, "{}", Background(&variant.background));
    }
    key(&mut out, "c_");
    out.push_str(match variant.fit {
        Fit::Fit => "fit",
        Fit::Crop => "fill",
        Fit::Pad => "pad",
        Fit::Scale => "scale",
    });
    if let Some(format) = variant.format {
        key(&mut out, "f_");
        out.push_str(extension(format));
    }
    if matches!(variant.fit, Fit::Crop | Fit::Pad) && variant.gravity != Gravity::Center {
        key(&mut out, "g_");
        out.push_str(gravity(variant.gravity));
    }
    number(&mut out, "h_", variant.height);
    number(&mut out, "q_", variant.quality.map(u32::from));
    number(&mut out, "w_", variant.width);
    out
}

fn gravity(gravity: Gravity) -> &'static str {
    match gravity {
        Gravity::Center => "center",
        Gravity::Auto => "auto",
        Gravity::North => "north",
        Gravity::South => "south",
        Gravity::East => "east",
        Gravity::West => "west",
        Gravity::NorthEast => "north_east",
        Gravity::NorthWest => "north_west",
        Gravity::SouthEast => "south_east",
        Gravity::SouthWest => "south_west",
    }
}

/// A background's value: `rgb:ff8800` for six hex digits, the colour's name otherwise.
struct Background<'a>(&'a str);

impl std::fmt::Display for Background<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() == 6 && self.0.bytes().all(|b| b.is_ascii_hexdigit()) { write!(f, "rgb:{}", self.0) } else { f.write_str(self.0) }
    }
}

/// Cloudinary's name of a format, as a `f_` value and a file extension.
pub fn extension(format: Format) -> &'static str {
    match format {
        Format::Jpeg => "jpg",
        other => other.name(),
    }
}

/// Escapes a public ID or a fetched URL as Cloudinary's SDKs do: every byte but ASCII letters,
/// digits and `_.-/:` becomes `%XX`.
pub fn escape(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    escape_into(source, &mut out);
    out
}

/// [`escape`], appended to `out`.
fn escape_into(source: &str, out: &mut String) {
    let plain = |byte: u8| byte.is_ascii_alphanumeric() || b"_.-/:".contains(&byte);
    if source.bytes().all(plain) {
        out.push_str(source);
        return;
    }
    for byte in source.bytes() {
        if plain(byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// What a delivery URL delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// An uploaded image: its public ID, version and, if the URL should name one, extension.
    Upload {
        /// The public ID.
        public_id: &'a str,
        /// The version Cloudinary gave it at upload.
        version: Option<u64>,
        /// The file extension to deliver (the format), if any.
        extension: Option<&'a str>,
    },
    /// A remote image, fetched by Cloudinary from its URL.
    Fetch(&'a str),
}

/// The parts of a delivery URL besides the image.
#[derive(Clone, Copy, Debug)]
pub struct Delivering<'a> {
    /// The delivery host, with scheme (`https://res.cloudinary.com`).
    pub host: &'a str,
    /// The cloud name.
    pub cloud: &'a str,
    /// The API secret to sign with, if URLs are signed.
    pub secret: Option<&'a str>,
    /// Whether a signature is the long one (32 characters of SHA-256).
    pub long_signature: bool,
}

/// The delivery URL of `image` with `transformation`.
pub fn delivery_url(at: &Delivering<'_>, transformation: &str, image: Delivery<'_>) -> String {
    let (kind, raw, extension, version) = match image {
        Delivery::Upload { public_id, version, extension } => ("upload", public_id, extension, version),
        Delivery::Fetch(url) => ("fetch", url, None, None),
    };
    let host = at.host.trim_end_matches('/');
    // One buffer: the source is escaped at its end and signed there, then moved into place.
    let mut url = String::with_capacity(host.len() + at.cloud.len() + transformation.len() + 2 * raw.len() + 80);
    let _ = write!(url, "{host}/{}/image/{kind}/", at.cloud);
    let prefix = url.len();
    escape_into(raw, &mut url);
    if let Some(extension) = extension {
        url.push('.');
        url.push_str(extension);
    }
    let source_len = url.len() - prefix;
    let mut rest = String::with_capacity(transformation.len() + 48);
    if let Some(secret) = at.secret {
        let source = &url[prefix..];
        let parts: &[&str] = if transformation.is_empty() { &[source, secret] } else { &[transformation, "/", source, secret] };
        push_signature(&mut rest, parts, at.long_signature);
        rest.push('/');
    }
    if !transformation.is_empty() {
        rest.push_str(transformation);
        rest.push('/');
    }
    if let Some(version) = version {
        let _ = write!(rest, "v{version}/");
    }
    url.insert_str(prefix, &rest);
    debug_assert_eq!(url.len(), prefix + rest.len() + source_len);
    url
}

/// The `s--…--` segment of a signed delivery URL for `to_sign` (`<transformation>/<image>`).
pub fn url_signature(to_sign: &str, secret: &str, long: bool) -> String {
    let mut out = String::with_capacity(40);
    push_signature(&mut out, &[to_sign, secret], long);
    out
}

/// Appends the `s--…--` segment signing the concatenation of `parts` (the secret last).
fn push_signature(out: &mut String, parts: &[&str], long: bool) {
    // 8 base64 characters are the first 6 bytes of the digest, 32 the first 24.
    out.push_str("s--");
    if long {
        let digest = parts.iter().fold(sha2::Sha256::new(), |hash, part| hash.chain_update(part)).finalize();
        base64::engine::general_purpose::URL_SAFE.encode_string(&digest[..24], out);
    } else {
        let digest = parts.iter().fold(sha1::Sha1::new(), |hash, part| hash.chain_update(part)).finalize();
        base64::engine::general_purpose::URL_SAFE.encode_string(&digest[..6], out);
    }
    out.push_str("--");
}

/// The signature of an API call's `params` (those signed: not `file`, `cloud_name`,
/// `resource_type` or `api_key`; empty values are left out): the hex digest of the sorted
/// `k=v` pairs joined by `&` (an `&` inside a value written `%26`), followed by `secret`.
pub fn api_signature(params: &[(&str, &str)], secret: &str, algorithm: Algorithm) -> String {
    let mut pairs: Vec<String> = params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={v}").replace('&', "%26")).collect();
    pairs.sort_unstable();
    let mut text = pairs.join("&");
    text.push_str(secret);
    let digest = match algorithm {
        Algorithm::Sha1 => sha1::Sha1::digest(text.as_bytes()).to_vec(),
        Algorithm::Sha256 => sha2::Sha256::digest(text.as_bytes()).to_vec(),
    };
    digest.iter().fold(String::with_capacity(digest.len() * 2), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}
