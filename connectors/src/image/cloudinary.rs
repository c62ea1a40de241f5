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

/// The transformation of `variant`: its parameters, sorted.
pub fn transformation(variant: &VariantConfig) -> String {
    let mut params: Vec<String> = Vec::with_capacity(7);
    if let Some(width) = variant.width {
        params.push(format!("w_{width}"));
    }
    if let Some(height) = variant.height {
        params.push(format!("h_{height}"));
    }
    params.push(
        match variant.fit {
            Fit::Fit => "c_fit",
            Fit::Crop => "c_fill",
            Fit::Pad => "c_pad",
            Fit::Scale => "c_scale",
        }
        .to_owned(),
    );
    if matches!(variant.fit, Fit::Crop | Fit::Pad) && variant.gravity != Gravity::Center {
        params.push(format!("g_{}", gravity(variant.gravity)));
    }
    if variant.fit == Fit::Pad {
        params.push(background(&variant.background));
    }
    if let Some(format) = variant.format {
        params.push(format!("f_{}", extension(format)));
    }
    if let Some(quality) = variant.quality {
        params.push(format!("q_{quality}"));
    }
    params.sort_unstable();
    params.join(",")
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

/// `b_rgb:ff8800` for six hex digits, `b_<name>` otherwise.
fn background(colour: &str) -> String {
    if colour.len() == 6 && colour.bytes().all(|b| b.is_ascii_hexdigit()) { format!("b_rgb:{colour}") } else { format!("b_{colour}") }
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
    for byte in source.bytes() {
        if byte.is_ascii_alphanumeric() || b"_.-/:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
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
    let (kind, source, version) = match image {
        Delivery::Upload { public_id, version, extension } => {
            let mut source = escape(public_id);
            if let Some(extension) = extension {
                source.push('.');
                source.push_str(extension);
            }
            ("upload", source, version)
        }
        Delivery::Fetch(url) => ("fetch", escape(url), None),
    };
    let mut url = format!("{}/{}/image/{kind}/", at.host.trim_end_matches('/'), at.cloud);
    if let Some(secret) = at.secret {
        let to_sign = if transformation.is_empty() { source.clone() } else { format!("{transformation}/{source}") };
        url.push_str(&url_signature(&to_sign, secret, at.long_signature));
        url.push('/');
    }
    if !transformation.is_empty() {
        url.push_str(transformation);
        url.push('/');
    }
    if let Some(version) = version {
        let _ = write!(url, "v{version}/");
    }
    url.push_str(&source);
    url
}

/// The `s--…--` segment of a signed delivery URL for `to_sign` (`<transformation>/<image>`).
pub fn url_signature(to_sign: &str, secret: &str, long: bool) -> String {
    let mut text = String::with_capacity(to_sign.len() + secret.len());
    text.push_str(to_sign);
    text.push_str(secret);
    let (digest, length) =
        if long { (sha2::Sha256::digest(text.as_bytes()).to_vec(), 32) } else { (sha1::Sha1::digest(text.as_bytes()).to_vec(), 8) };
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(digest);
    format!("s--{}--", &encoded[..length])
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
