//! thumbor's URLs: `/<signature|unsafe>/[fit-in/]WxH/[halign/][valign/][smart/][filters:…/]<image>`,
//! signed with the urlsafe base64 of HMAC-SHA1(security key, the path after the signature).
//!
//! ```
//! use runnel_connectors::image::{thumbor, VariantConfig};
//!
//! let variant: VariantConfig = toml::from_str("name = \"t\"\nwidth = 320\nheight = 240\nfit = \"crop\"\ngravity = \"auto\"").unwrap();
//! let path = thumbor::path(&variant, "cat.jpg");
//! assert_eq!(path, "320x240/smart/cat.jpg");
//! assert_eq!(thumbor::sign(b"test-secret-key", &path), "-PXB3dBBm8dHtDhKIkCyR-pE95A=");
//! ```

use std::fmt::Write as _;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::config::{Fit, Gravity, VariantConfig};

/// What is percent-encoded in an image's URI: all but unreserved characters and the `/` and
/// `:` of a URL (thumbor decodes the URI once, so an `%` already there is encoded again).
const ENCODED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/').remove(b':');

/// The path of `variant` of the image at `image` (a URL, or a name thumbor's loader knows),
/// without the signature segment: what is signed.
pub fn path(variant: &VariantConfig, image: &str) -> String {
    let mut path = String::with_capacity(64 + image.len());
    if matches!(variant.fit, Fit::Fit | Fit::Pad) {
        path.push_str("fit-in/");
    }
    let _ = write!(path, "{}x{}/", variant.width.unwrap_or(0), variant.height.unwrap_or(0));
    if variant.fit == Fit::Crop {
        path.push_str(alignment(variant.gravity));
    }
    let filter = |path: &mut String, name: &str| {
        path.push_str(if path.ends_with('/') { "filters:" } else { ":" });
        path.push_str(name);
    };
    match variant.fit {
        Fit::Pad => {
            filter(&mut path, "fill(");
            path.push_str(&variant.background);
            path.push(')');
        }
        Fit::Scale => filter(&mut path, "stretch()"),
        Fit::Fit | Fit::Crop => {}
    }
    if let Some(format) = variant.format {
        filter(&mut path, "format(");
        path.push_str(format.name());
        path.push(')');
    }
    if let Some(quality) = variant.quality {
        filter(&mut path, "quality(");
        let _ = write!(path, "{quality})");
    }
    if !path.ends_with('/') {
        path.push('/');
    }
    path.extend(utf8_percent_encode(image, ENCODED));
    path
}

/// The segments of a crop's gravity.
fn alignment(gravity: Gravity) -> &'static str {
    match gravity {
        Gravity::Center => "",
        Gravity::Auto => "smart/",
        Gravity::North => "top/",
        Gravity::South => "bottom/",
        Gravity::East => "right/",
        Gravity::West => "left/",
        Gravity::NorthEast => "right/top/",
        Gravity::NorthWest => "left/top/",
        Gravity::SouthEast => "right/bottom/",
        Gravity::SouthWest => "left/bottom/",
    }
}

/// thumbor's signature of `path`: urlsafe base64 (padded) of HMAC-SHA1(`key`, `path`).
pub fn sign(key: &[u8], path: &str) -> String {
    let mut out = String::with_capacity(28);
    push_signature(&mut out, key, path);
    out
}

/// Appends [`sign`]'s signature to `out`.
fn push_signature(out: &mut String, key: &[u8], path: &str) {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<sha1::Sha1> as hmac::digest::KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(path.as_bytes());
    base64::engine::general_purpose::URL_SAFE.encode_string(mac.finalize().into_bytes(), out);
}

/// The full URL of `path` on the server at `base`: signed with `key`, or `unsafe` without one.
pub fn url(base: &str, key: Option<&[u8]>, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let mut url = String::with_capacity(base.len() + path.len() + 30);
    url.push_str(base);
    url.push('/');
    match key {
        Some(key) => push_signature(&mut url, key, path),
        None => url.push_str("unsafe"),
    }
    url.push('/');
    url.push_str(path);
    url
}
