//! Uploading an image's bytes to the service, so that its variants can be named: thumbor's
//! upload API (`POST /image`, the server needs `UPLOAD_ENABLED = True` and a storage) and
//! Cloudinary's signed upload API (`POST /v1_1/<cloud>/image/upload`).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde::Deserialize;

use super::cloudinary;
use super::error::ImageError;
use super::fetch::{Asking, image_format, read_limited};
use super::metrics::ImageMetrics;
use super::service::{CloudinaryConfig, Located, ThumborConfig};

/// Uploads `bytes` to thumbor; the image's URI is the path its answer's `Location` names after
/// `/image/`.
///
/// # Errors
/// [`ImageError`] when thumbor does not answer 201 with a `Location`.
pub(crate) async fn to_thumbor(
    http: &reqwest::Client,
    config: &ThumborConfig,
    bytes: Bytes,
    content_type: Option<&str>,
    metrics: &ImageMetrics,
) -> Result<Located, ImageError> {
    let asking = Asking { what: "upload", service: "thumbor", metrics };
    let format = image_format(&bytes).unwrap_or("jpeg");
    let content_type = content_type.map_or_else(|| format!("image/{format}"), str::to_owned);
    let url = format!("{}/image", config.url.trim_end_matches('/'));
    let answer = asking.send(http.post(url).header(CONTENT_TYPE, content_type).header("Slug", format!("upload.{format}")).body(bytes)).await?;
    if !answer.status().is_success() {
        return Err(asking.refused(answer).await);
    }
    let location = answer.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(path) = location.split_once("/image/").map(|(_, path)| path).filter(|p| !p.is_empty()) else {
        return Err(ImageError::Answer {
            what: "upload".to_owned(),
            service: "thumbor",
            reason: format!("`Location` is `{location}`, not /image/<id>"),
        });
    };
    Ok(Located::Uri(path.to_owned()))
}

/// The fields of Cloudinary's upload answer the block uses.
#[derive(Debug, Deserialize)]
struct Uploaded {
    public_id: String,
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    format: Option<String>,
}

/// Uploads `bytes` to Cloudinary with a signed request.
///
/// # Errors
/// [`ImageError`] when the upload is refused (a wrong secret is a 401) or its answer lacks a
/// `public_id`; [`ImageError::Unsupported`] without an API key and secret.
pub(crate) async fn to_cloudinary(
    http: &reqwest::Client,
    config: &CloudinaryConfig,
    bytes: Bytes,
    max_bytes: usize,
    metrics: &ImageMetrics,
) -> Result<Located, ImageError> {
    let asking = Asking { what: "upload", service: "Cloudinary", metrics };
    let (Some(key), Some(secret)) = (&config.api_key, &config.api_secret) else {
        return Err(ImageError::Unsupported("uploading bytes to Cloudinary needs `service.api_key` and `service.api_secret`".to_owned()));
    };
    let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
    let mut signed: Vec<(&str, &str)> = vec![("timestamp", &timestamp)];
    if let Some(folder) = &config.folder {
        signed.push(("folder", folder));
    }
    let signature = cloudinary::api_signature(&signed, secret, config.signature_algorithm);
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in signed {
        form = form.text(name.to_owned(), value.to_owned());
    }
    let file = reqwest::multipart::Part::stream(bytes).file_name("upload");
    form = form.text("api_key", key.clone()).text("signature", signature).part("file", file);
    let url = format!("{}/v1_1/{}/image/upload", config.api_url.trim_end_matches('/'), config.cloud_name);
    let answer = asking.send(http.post(url).multipart(form)).await?;
    if !answer.status().is_success() {
        return Err(asking.refused(answer).await);
    }
    let body = read_limited(answer, asking, max_bytes).await?;
    let uploaded: Uploaded = serde_json::from_slice(&body).map_err(|e| ImageError::Answer {
        what: "upload".to_owned(),
        service: "Cloudinary",
        reason: format!("no `public_id` in its JSON: {e}"),
    })?;
    Ok(Located::Upload { public_id: uploaded.public_id, version: uploaded.version, format: uploaded.format })
}
