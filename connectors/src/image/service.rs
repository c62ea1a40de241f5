//! The image services the block can use, their configuration, and how each names a variant of
//! an image it holds.

use serde::Deserialize;

use super::cloudinary::{self, Delivering, Delivery};
use super::config::VariantConfig;
use super::thumbor;

/// The image service.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceConfig {
    /// A thumbor server.
    Thumbor(ThumborConfig),
    /// Cloudinary (or a server that speaks its API).
    Cloudinary(CloudinaryConfig),
}

/// A thumbor server: variant URLs signed with its security key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumborConfig {
    /// The server's base URL (`http://127.0.0.1:8888`).
    pub url: String,
    /// thumbor's `SECURITY_KEY`, which signs URLs (`"${THUMBOR_KEY}"`); unset, URLs are
    /// `unsafe`, which needs `allow_unsafe` here and `ALLOW_UNSAFE_URL` on the server.
    #[serde(default)]
    pub security_key: Option<String>,
    /// Allows unsigned (`/unsafe/`) URLs when no `security_key` is set.
    #[serde(default)]
    pub allow_unsafe: bool,
}

/// Cloudinary: variants as delivery URLs with transformations; uploaded bytes through the
/// signed upload API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudinaryConfig {
    /// The cloud name.
    pub cloud_name: String,
    /// The API key (needed to upload bytes).
    #[serde(default)]
    pub api_key: Option<String>,
    /// The API secret (`"${CLOUDINARY_API_SECRET}"`): signs uploads and, with `sign_urls`,
    /// delivery URLs.
    #[serde(default)]
    pub api_secret: Option<String>,
    /// The upload API's base URL.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The delivery host's base URL.
    #[serde(default = "default_delivery_url")]
    pub delivery_url: String,
    /// Whether delivery URLs are signed (`s--…--`), as accounts with strict transformations
    /// need.
    #[serde(default)]
    pub sign_urls: bool,
    /// Signed delivery URLs carry the long signature (32 characters of SHA-256).
    #[serde(default)]
    pub long_url_signature: bool,
    /// The hash of upload signatures: the account's setting.
    #[serde(default)]
    pub signature_algorithm: cloudinary::Algorithm,
    /// The folder uploads go to, if any.
    #[serde(default)]
    pub folder: Option<String>,
}

fn default_api_url() -> String {
    "https://api.cloudinary.com".to_owned()
}

fn default_delivery_url() -> String {
    "https://res.cloudinary.com".to_owned()
}

impl ServiceConfig {
    /// Every problem with the service's configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check_url = |field: &str, url: &str| {
            if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(url).is_err() {
                problems.push(format!("`service.{field}`: `{url}` is not an http:// or https:// URL"));
            }
        };
        match self {
            Self::Thumbor(thumbor) => {
                check_url("url", &thumbor.url);
                match &thumbor.security_key {
                    Some(key) if key.is_empty() => problems.push("`service.security_key` must not be empty".to_owned()),
                    None if !thumbor.allow_unsafe => {
                        problems.push("`service.security_key` must be set, or `allow_unsafe = true` for unsigned URLs".to_owned());
                    }
                    _ => {}
                }
            }
            Self::Cloudinary(cloud) => {
                check_url("api_url", &cloud.api_url);
                check_url("delivery_url", &cloud.delivery_url);
                if cloud.cloud_name.is_empty() || !cloud.cloud_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    problems.push("`service.cloud_name` must be letters, digits, `-` and `_`".to_owned());
                }
                if cloud.sign_urls && cloud.api_secret.as_deref().is_none_or(str::is_empty) {
                    problems.push("`service.sign_urls` needs `service.api_secret`".to_owned());
                }
                if cloud.api_key.is_some() != cloud.api_secret.is_some() && !cloud.sign_urls {
                    problems.push("`service.api_key` and `service.api_secret` go together (uploads need both)".to_owned());
                }
            }
        }
        problems
    }
}

/// Where a service holds an image, once its bytes are uploaded or its URL is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    /// A URI the service loads: thumbor's image URI (a URL, or the path of an upload), or the
    /// remote URL Cloudinary fetches.
    Uri(String),
    /// An image uploaded to Cloudinary.
    Upload {
        /// Its public ID.
        public_id: String,
        /// Its version.
        version: Option<u64>,
        /// Its format (the file extension of delivery URLs without a format of their own).
        format: Option<String>,
    },
}

/// The URL of `variant` of the image at `located`.
pub fn variant_url(service: &ServiceConfig, located: &Located, variant: &VariantConfig) -> String {
    match service {
        ServiceConfig::Thumbor(config) => {
            let image = match located {
                Located::Uri(uri) => uri,
                Located::Upload { public_id, .. } => public_id,
            };
            thumbor::url(&config.url, config.security_key.as_deref().map(str::as_bytes), &thumbor::path(variant, image))
        }
        ServiceConfig::Cloudinary(config) => {
            let at = Delivering {
                host: &config.delivery_url,
                cloud: &config.cloud_name,
                secret: config.api_secret.as_deref().filter(|_| config.sign_urls),
                long_signature: config.long_url_signature,
            };
            let image = match located {
                Located::Upload { public_id, version, format } => {
                    Delivery::Upload { public_id, version: *version, extension: if variant.format.is_some() { None } else { format.as_deref() } }
                }
                Located::Uri(url) => Delivery::Fetch(url),
            };
            cloudinary::delivery_url(&at, &cloudinary::transformation(variant), image)
        }
    }
}
