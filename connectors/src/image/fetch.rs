//! Fetching a variant from the service and measuring what came back: the dimensions and format
//! read from the image's own header (`imagesize`), the size counted, the content type as the
//! service labelled it.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::error::ImageError;
use super::metrics::ImageMetrics;
use crate::http::client::{describe, excerpt};

/// A variant as the service delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured {
    /// The URL it was fetched from.
    pub url: String,
    /// Its width in pixels, from its header.
    pub width: usize,
    /// Its height in pixels, from its header.
    pub height: usize,
    /// Its size in bytes.
    pub bytes: usize,
    /// The answer's `Content-Type`.
    pub content_type: String,
    /// The format its header shows (`jpeg`, `png`, `webp`, `avif`, `gif`, `heif`).
    pub format: &'static str,
}

impl Measured {
    /// The variant as it appears in the output, named `name`.
    pub fn to_json(&self, name: &str) -> Value {
        json!({
            "name": name,
            "url": self.url,
            "width": self.width,
            "height": self.height,
            "bytes": self.bytes,
            "content_type": self.content_type,
            "format": self.format,
        })
    }
}

/// What one request is for, to name it in errors and count it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asking<'a> {
    /// `variant `thumb``, `upload`.
    pub(crate) what: &'a str,
    /// `thumbor`, `Cloudinary`.
    pub(crate) service: &'static str,
    /// The block's metrics.
    pub(crate) metrics: &'a ImageMetrics,
}

impl Asking<'_> {
    /// Sends `request`, counting it (by the kind `upload` or `variant`) and timing it up to its
    /// answer's headers.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, ImageError> {
        let kind = if self.what == "upload" { "upload" } else { "variant" };
        let started = Instant::now();
        let sent = request.send().await;
        self.metrics.duration.observe(started.elapsed().as_secs_f64());
        self.metrics.request(kind, sent.as_ref().ok().map(|answer| answer.status().as_u16()));
        sent.map_err(|e| self.unanswered(&e))
    }

    pub(crate) fn unanswered(&self, error: &reqwest::Error) -> ImageError {
        ImageError::Request { what: self.what.to_owned(), service: self.service, reason: describe(error) }
    }

    /// The error for a non-2xx `answer`, with an excerpt of its body.
    pub(crate) async fn refused(&self, answer: reqwest::Response) -> ImageError {
        let status = answer.status().as_u16();
        ImageError::Status { what: self.what.to_owned(), service: self.service, status, body: excerpt(answer).await }
    }
}

/// Fetches `url` and measures the image it answers with.
///
/// # Errors
/// [`ImageError`] when the service does not answer, answers an error status, answers more than
/// `max_bytes`, or answers something that is not an image.
pub(crate) async fn fetch(http: &reqwest::Client, url: String, asking: Asking<'_>, max_bytes: usize) -> Result<Measured, ImageError> {
    let answer = asking.send(http.get(&url)).await?;
    let status = answer.status();
    if !status.is_success() {
        return Err(asking.refused(answer).await);
    }
    let content_type = answer.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = read_limited(answer, asking, max_bytes).await?;
    let not_image = || ImageError::NotImage {
        what: asking.what.to_owned(),
        service: asking.service,
        status: status.as_u16(),
        content_type: content_type.clone(),
        bytes: body.len(),
    };
    let format = image_format(&body).ok_or_else(not_image)?;
    let size = imagesize::blob_size(&body).map_err(|_| not_image())?;
    Ok(Measured { url, width: size.width, height: size.height, bytes: body.len(), content_type, format })
}

/// Reads `answer`'s body, failing past `max_bytes` without reading further.
///
/// # Errors
/// [`ImageError::TooLarge`], or [`ImageError::Request`] when the body breaks off.
pub(crate) async fn read_limited(mut answer: reqwest::Response, asking: Asking<'_>, max_bytes: usize) -> Result<Bytes, ImageError> {
    let too_large = || ImageError::TooLarge { what: asking.what.to_owned(), service: asking.service, limit: max_bytes };
    if answer.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = answer.chunk().await.map_err(|e| asking.unanswered(&e))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The format of an image, from its first bytes, if it is one the services produce.
pub fn image_format(bytes: &[u8]) -> Option<&'static str> {
    Some(match imagesize::image_type(bytes).ok()? {
        imagesize::ImageType::Jpeg => "jpeg",
        imagesize::ImageType::Png => "png",
        imagesize::ImageType::Webp => "webp",
        imagesize::ImageType::Gif => "gif",
        imagesize::ImageType::Heif(imagesize::Compression::Av1) => "avif",
        imagesize::ImageType::Heif(_) => "heif",
        _ => return None,
    })
}
