//! The `image` block with a real thumbor 7.8.0: signed and unsafe URLs, uploads, errors.

use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Value, json};

use super::{config, probe, python, run, tool};

/// thumbor's address, key and image folder from scripts/test.sh, and its venv's Python.
struct Thumbor {
    url: String,
    key: String,
    images: PathBuf,
    python: PathBuf,
}

fn thumbor() -> Option<Thumbor> {
    let python = python("RUNNEL_THUMBOR_PYTHON")?;
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("scripts/test.sh sets {name} with RUNNEL_THUMBOR_PYTHON"));
    Some(Thumbor { url: var("RUNNEL_THUMBOR_URL"), key: var("RUNNEL_THUMBOR_KEY"), images: var("RUNNEL_THUMBOR_IMAGES").into(), python })
}

impl Thumbor {
    /// Makes an 800×600 image called `name` (unique per run) in thumbor's image folder.
    fn image(&self, name: &str) -> String {
        let name = format!("{}-{name}", std::process::id());
        let path = self.images.join(&name);
        tool(&self.python, &["make", path.to_str().expect("UTF-8"), "800", "600"], None);
        name
    }

    fn service(&self, signed: bool) -> String {
        if signed {
            format!("service = {{ kind = \"thumbor\", url = \"{}\", security_key = \"{}\" }}", self.url, self.key)
        } else {
            format!("service = {{ kind = \"thumbor\", url = \"{}\", allow_unsafe = true }}", self.url)
        }
    }
}

const VARIANTS: &str = r#"
variants = [
  { name = "thumb", width = 150, height = 150, fit = "crop", gravity = "auto", format = "webp", quality = 80 },
  { name = "medium", width = 300, height = 300 },
  { name = "banner", width = 200, height = 50, fit = "pad", background = "ff0000", format = "png" },
  { name = "tiny", width = 120, format = "avif" },
  { name = "stretched", width = 100, height = 100, fit = "scale" },
]"#;

/// What each variant of an 800×600 source comes to, as Pillow decodes it: (name, format, width,
/// height); `source` is the source's format (variants without a format keep it).
const EXPECTED: [(&str, &str, u64, u64); 5] = [
    ("thumb", "webp", 150, 150),
    ("medium", "source", 300, 225),
    ("banner", "png", 200, 50),
    ("tiny", "avif", 120, 90),
    ("stretched", "source", 100, 100),
];

/// Checks `variants` of a `source` image (`jpeg`, `png`) against [`EXPECTED`] and against what
/// Pillow decodes from each URL.
fn assert_measured(python: &std::path::Path, variants: &Value, source: &str) {
    let variants = variants.as_array().expect("an array of variants");
    assert_eq!(variants.len(), EXPECTED.len(), "{variants:#?}");
    let urls: Vec<&str> = variants.iter().map(|v| v["url"].as_str().expect("a URL")).collect();
    let decoded = probe(python, &urls);
    for ((variant, seen), (name, format, width, height)) in variants.iter().zip(&decoded).zip(EXPECTED) {
        let format = if format == "source" { source } else { format };
        assert_eq!(variant["name"], name);
        assert_eq!(
            (seen["format"].as_str(), seen["width"].as_u64(), seen["height"].as_u64()),
            (Some(format), Some(width), Some(height)),
            "{name}: {seen}"
        );
        assert_eq!((&variant["format"], &variant["width"], &variant["height"]), (&seen["format"], &seen["width"], &seen["height"]), "{name}");
        assert_eq!(variant["bytes"], seen["bytes"], "{name}");
        assert_eq!(variant["content_type"], seen["content_type"], "{name}");
        assert_eq!(seen["content_type"], format!("image/{format}"), "{name}");
    }
}

/// Signed URLs of an image thumbor loads by name: every variant's real size and format, as
/// Pillow decodes the bytes thumbor serves, is what the block reports.
#[tokio::test]
async fn signed_variants_are_measured_from_what_thumbor_delivers() {
    let Some(thumbor) = thumbor() else { return };
    let name = thumbor.image("signed.jpg");
    let image = config(&format!("{}\nurl_field = \"image.url\"\n{VARIANTS}", thumbor.service(true)));
    let (out, errors) = run(image, vec![json!({"id": 1, "image": {"url": name}})]).await;
    assert_eq!(errors, Vec::<Value>::new());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["id"], 1);
    let variants = &out[0]["variants"];
    assert!(variants[0]["url"].as_str().is_some_and(|u| u.starts_with(&format!("{}/", thumbor.url)) && !u.contains("/unsafe/")), "{variants}");
    assert_measured(&thumbor.python, variants, "jpeg");
}

/// Without a key and with `allow_unsafe`, URLs are `/unsafe/` and thumbor serves them; one
/// message per variant when `output = "messages"`.
#[tokio::test]
async fn unsafe_urls_and_one_message_per_variant() {
    let Some(thumbor) = thumbor() else { return };
    let name = thumbor.image("unsafe.png");
    let image = config(&format!("{}\nurl_field = \"url\"\noutput = \"messages\"\nfield = \"variant\"\n{VARIANTS}", thumbor.service(false)));
    let (out, errors) = run(image, vec![json!({"url": name, "room": "r1"})]).await;
    assert_eq!(errors, Vec::<Value>::new());
    assert_eq!(out.len(), EXPECTED.len());
    assert!(out.iter().all(|m| m["room"] == "r1" && m["variant"]["url"].as_str().is_some_and(|u| u.contains("/unsafe/"))), "{out:#?}");
    assert_measured(&thumbor.python, &Value::Array(out.iter().map(|m| m["variant"].clone()).collect()), "png");
}

/// Bytes in the shape the `http_server` source gives a binary body go through thumbor's upload
/// API; the emitted message no longer carries them.
#[tokio::test]
async fn uploaded_bytes_go_through_thumbors_upload_api() {
    let Some(thumbor) = thumbor() else { return };
    let name = thumbor.image("upload.png");
    let bytes = std::fs::read(thumbor.images.join(&name)).expect("the image");
    let base64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let image = config(&format!("{}\nurl_field = \"url\"\nbytes_field = \".\"\nfield = \"variants\"\n{VARIANTS}", thumbor.service(true)));
    let upload = json!({"base64": base64, "content_type": "image/png", "bytes": bytes.len()});
    let (out, errors) = run(image, vec![upload]).await;
    assert_eq!(errors, Vec::<Value>::new());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].get("base64"), None, "the upload's bytes are not passed on");
    assert_eq!((&out[0]["content_type"], &out[0]["bytes"]), (&json!("image/png"), &json!(bytes.len())), "what is said about them is");
    assert!(out[0]["variants"][0]["url"].as_str().is_some_and(|u| !u.contains(&name)), "an uploaded image, not the file: {}", out[0]);
    assert_measured(&thumbor.python, &out[0]["variants"], "png");
}

/// A wrong key gets thumbor's 400, a missing image its error status, bad base64 and a message
/// without an image are refused before any request: each message on the errors port with why.
#[tokio::test]
async fn service_errors_and_unreadable_sources_go_to_the_errors_port() {
    let Some(thumbor) = thumbor() else { return };
    let name = thumbor.image("errors.jpg");
    let variants = "variants = [{ name = \"small\", width = 50 }]";
    let service = format!("service = {{ kind = \"thumbor\", url = \"{}\", security_key = \"not-the-key\" }}", thumbor.url);
    let (out, errors) = run(config(&format!("{service}\nurl_field = \"url\"\n{variants}")), vec![json!({"url": name})]).await;
    assert_eq!(out, Vec::<Value>::new());
    let error = errors[0]["error"].as_str().expect("an error");
    assert!(error.contains("variant `small`: thumbor answered HTTP 400"), "{error}");
    assert_eq!(errors[0]["message"]["url"], name);

    let image = config(&format!("{}\nurl_field = \"url\"\nbytes_field = \"data\"\n{variants}", thumbor.service(true)));
    let messages =
        vec![json!({"url": "no-such-image.jpg", "n": 1}), json!({"data": "not base64!", "n": 2}), json!({"n": 3}), json!({"url": name, "n": 4})];
    let (out, errors) = run(image, messages).await;
    assert_eq!(out.len(), 1, "the good one: {out:?}");
    assert_eq!(out[0]["variants"][0]["width"], 50);
    let reasons: Vec<(&Value, &str)> = errors.iter().map(|e| (&e["message"]["n"], e["error"].as_str().expect("an error"))).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    // thumbor's status for an image its loaders cannot find (504 with the file loader's HTTP fallback).
    let status = reasons[0].1.strip_prefix("variant `small`: thumbor answered HTTP ").and_then(|rest| rest.get(..3)?.parse::<u16>().ok());
    assert!(reasons[0].0 == &json!(1) && status.is_some_and(|s| (400..600).contains(&s)), "{reasons:?}");
    assert_eq!(reasons[1], (&json!(2), "field `data` is not base64: Invalid symbol 32, offset 3."));
    assert_eq!(reasons[2], (&json!(3), "no image: fields `url` and `data` are missing or null"));
}
