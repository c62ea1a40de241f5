//! The running `image` block: per message, finds the image (its URL, or its bytes uploaded to
//! the service), fetches every variant (up to `variant_concurrency` at once, each measured from
//! the answer) and emits the message with its variants, or one message per variant. Up to
//! `concurrency` images are handled at once by the engine's concurrent loop.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use runnel_engine::{AsyncFunctionBlock, BlockConfig, BuildContext, BuildError, BuiltBlock, Component, Emitter, Message, Role, async_trait};
use serde_json::Value;

use super::config::{FieldPath, ImageConfig, OutputMode, VariantConfig};
use super::error::ImageError;
use super::fetch::{Asking, Measured, fetch};
use super::metrics::ImageMetrics;
use super::service::{Located, ServiceConfig, variant_url};
use super::upload;

impl Component for ImageConfig {
    const TYPE: &'static str = "image";
    const ROLE: Role = Role::Transform;
    const DESCRIPTION: &'static str =
        "Produces the variants of an image (sizes, crops, formats) through thumbor or Cloudinary, each measured from the service's answer.";
    const EXAMPLE: &'static str = r#"service = { kind = "thumbor", url = "http://127.0.0.1:8888", security_key = "${THUMBOR_KEY:-secret}" }
url_field = "image_url"
bytes_field = "upload"
variants = [
  { name = "thumb", width = 150, height = 150, fit = "crop", gravity = "auto", format = "webp", quality = 80 },
  { name = "medium", width = 800, fit = "fit" },
]"#;
}

#[async_trait]
impl BlockConfig for ImageConfig {
    fn validate(&self) -> Vec<String> {
        self.problems()
    }

    async fn build(&self, cx: &BuildContext) -> Result<BuiltBlock, BuildError> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(BuildError::Invalid(problems.join("; ")));
        }
        // Redirects are followed (a CDN may redirect a delivery URL); each request has the timeout.
        let http = reqwest::Client::builder().timeout(Duration::from_millis(self.timeout_ms)).build().map_err(|e| BuildError::Other(Box::new(e)))?;
        let limit = NonZeroUsize::new(self.concurrency).unwrap_or(NonZeroUsize::MIN);
        Ok(BuiltBlock::concurrent(
            ImageBlock { config: Arc::new(self.clone()), http, metrics: ImageMetrics::register(&cx.metrics, &cx.name) },
            limit,
            self.ordered,
        ))
    }
}

/// The running `image` block.
#[derive(Debug)]
pub struct ImageBlock {
    config: Arc<ImageConfig>,
    http: reqwest::Client,
    metrics: ImageMetrics,
}

/// The image a message names.
enum Source {
    Url(String),
    Bytes { bytes: Bytes, content_type: Option<String> },
}

impl ImageBlock {
    /// The variants of the image `value` names, in the configured order.
    ///
    /// # Errors
    /// [`ImageError`] for the first part that failed: reading the source, the upload, a variant.
    async fn variants(&self, value: &Value) -> Result<Vec<Value>, ImageError> {
        let located = self.locate(self.source(value)?).await?;
        let requests: Vec<_> = self.config.variants.iter().map(|variant| self.fetch_variant(&located, variant)).collect();
        let measured: Vec<Measured> = futures::stream::iter(requests).buffered(self.config.variant_concurrency).try_collect().await?;
        Ok(measured.iter().zip(&self.config.variants).map(|(m, v)| m.to_json(&v.name)).collect())
    }

    async fn fetch_variant(&self, located: &Located, variant: &VariantConfig) -> Result<Measured, ImageError> {
        let service = match self.config.service {
            ServiceConfig::Thumbor(_) => "thumbor",
            ServiceConfig::Cloudinary(_) => "Cloudinary",
        };
        let url = variant_url(&self.config.service, located, variant);
        let what = format!("variant `{}`", variant.name);
        fetch(&self.http, url, Asking { what: &what, service, metrics: &self.metrics }, self.config.max_bytes).await
    }

    fn source(&self, value: &Value) -> Result<Source, ImageError> {
        if let Some(field) = &self.config.url_field {
            match field.get(value) {
                Some(Value::String(url)) if !url.is_empty() => return Ok(Source::Url(url.clone())),
                None | Some(Value::Null) => {}
                Some(_) => return Err(ImageError::NoSource(format!("field `{field}` is not a URL string"))),
            }
        }
        let Some(field) = &self.config.bytes_field else {
            let url = self.config.url_field.as_ref().map(ToString::to_string).unwrap_or_default();
            return Err(ImageError::NoSource(format!("field `{url}` is missing or null")));
        };
        let (text, content_type) = match field.get(value) {
            Some(Value::String(text)) => (text, None),
            Some(Value::Object(upload)) => match upload.get("base64") {
                Some(Value::String(text)) => (text, upload.get("content_type").and_then(Value::as_str).map(str::to_owned)),
                _ => return Err(ImageError::NoSource(format!("field `{field}` has no `base64` string"))),
            },
            _ => {
                let fields = match &self.config.url_field {
                    Some(url) => format!("fields `{url}` and `{field}` are"),
                    None => format!("field `{field}` is"),
                };
                return Err(ImageError::NoSource(format!("{fields} missing or null")));
            }
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| ImageError::Base64 { field: field.to_string(), reason: e.to_string() })?;
        Ok(Source::Bytes { bytes: Bytes::from(bytes), content_type })
    }

    async fn locate(&self, source: Source) -> Result<Located, ImageError> {
        match (source, &self.config.service) {
            (Source::Url(url), _) => Ok(Located::Uri(url)),
            (Source::Bytes { bytes, content_type }, ServiceConfig::Thumbor(thumbor)) => {
                upload::to_thumbor(&self.http, thumbor, bytes, content_type.as_deref(), &self.metrics).await
            }
            (Source::Bytes { bytes, .. }, ServiceConfig::Cloudinary(cloud)) => {
                upload::to_cloudinary(&self.http, cloud, bytes, self.config.max_bytes, &self.metrics).await
            }
        }
    }
}

#[async_trait]
impl AsyncFunctionBlock for ImageBlock {
    async fn process(&self, mut message: Message, out: &mut Emitter) {
        let variants = match self.variants(message.value()).await {
            Ok(variants) => variants,
            Err(error) => return out.fail(message, error),
        };
        let config = &self.config;
        if !config.keep_bytes {
            if let Some(field) = &config.bytes_field {
                drop_bytes(field, &mut message);
            }
        }
        match config.output {
            OutputMode::Field => {
                config.field.set(message.value_mut(), Value::Array(variants));
                out.emit(message);
            }
            OutputMode::Messages => {
                // Every variant but the last goes in a derived message; the last in the
                // message itself, which carries its acknowledgement on.
                let mut variants = variants.into_iter();
                let last = variants.next_back();
                for variant in variants {
                    let mut value = message.value().clone();
                    config.field.set(&mut value, variant);
                    out.emit(message.derive(value));
                }
                if let Some(variant) = last {
                    config.field.set(message.value_mut(), variant);
                    out.emit(message);
                }
            }
        }
    }
}

/// Removes the image's bytes from `message`: the field when it is a base64 string, the `base64`
/// of the object it holds otherwise (keeping what the `http_server` source says about the upload:
/// `content_type`, `bytes`, a form's `file_name` and fields).
fn drop_bytes(field: &FieldPath, message: &mut Message) {
    match field.get(message.value()) {
        Some(Value::String(_)) => field.remove(message.value_mut()),
        Some(Value::Object(upload)) if upload.contains_key("base64") => {
            if let Some(Value::Object(upload)) = field.get_mut(message.value_mut()) {
                upload.shift_remove("base64");
            }
        }
        _ => {}
    }
}
