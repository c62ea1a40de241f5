//! The `image` block's Cloudinary URLs and signatures against Cloudinary's official Python SDK
//! (1.46.3) as the oracle, and its upload client against `tools.py fake-cloudinary`: a local
//! stand-in written for these tests (no Cloudinary server can run here), which checks each
//! upload's signature by Cloudinary's documented rules and answers in Cloudinary's shape.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use runnel_connectors::image::{Fit, Gravity, ImageConfig, Located, VariantConfig, cloudinary, service};
use serde_json::{Value, json};

use super::{config, python, run, tool};
use crate::support::root;

/// Variants whose transformations cover every parameter the block writes.
const VARIANTS: &str = r#"
variants = [
  { name = "thumb", width = 150, height = 150, fit = "crop", gravity = "auto", format = "webp", quality = 80 },
  { name = "medium", width = 300 },
  { name = "banner", width = 600, height = 100, fit = "pad", background = "ff8800", gravity = "north_west", format = "jpeg" },
  { name = "square", width = 64, height = 64, fit = "scale", quality = 35 },
  { name = "corner", width = 90, height = 40, fit = "crop", gravity = "south_east", format = "avif" },
]"#;

/// The SDK's options for `variant`, as its users would write them.
fn sdk_options(variant: &VariantConfig) -> Value {
    let crop = match variant.fit {
        Fit::Fit => "fit",
        Fit::Crop => "fill",
        Fit::Pad => "pad",
        Fit::Scale => "scale",
    };
    let mut options = json!({"crop": crop, "width": variant.width, "height": variant.height});
    if matches!(variant.fit, Fit::Crop | Fit::Pad) && variant.gravity != Gravity::Center {
        options["gravity"] = json!(match variant.gravity {
            Gravity::Auto => "auto",
            Gravity::NorthWest => "north_west",
            Gravity::SouthEast => "south_east",
            other => panic!("add {other:?} to the test's gravities"),
        });
    }
    if variant.fit == Fit::Pad {
        options["background"] = json!(format!("#{}", variant.background));
    }
    if let Some(format) = variant.format {
        options["fetch_format"] = json!(cloudinary::extension(format));
    }
    if let Some(quality) = variant.quality {
        options["quality"] = json!(quality);
    }
    options.as_object_mut().expect("an object").retain(|_, v| !v.is_null());
    options
}

fn oracle(python: &Path, cases: &Value) -> Vec<String> {
    serde_json::from_str(&tool(python, &["oracle"], Some(&cases.to_string()))).expect("a JSON list")
}

/// Every variant's delivery URL (upload with a version, and fetch), signed short, signed long
/// and unsigned, and API signatures (SHA-1 and SHA-256, an `&` in a value), as the SDK makes them.
#[test]
fn delivery_urls_and_api_signatures_match_cloudinarys_sdk() {
    let Some(python) = python("RUNNEL_CLOUDINARY_PYTHON") else { return };
    let base: ImageConfig = config(&format!("service = {{ kind = \"cloudinary\", cloud_name = \"demo\" }}\nurl_field = \"u\"\n{VARIANTS}"));
    let images = [
        Located::Upload { public_id: "rooms/r1/photo one".to_owned(), version: Some(1_700_000_123), format: Some("jpg".to_owned()) },
        Located::Upload { public_id: "sample".to_owned(), version: None, format: Some("png".to_owned()) },
        Located::Uri("https://example.org/cats/a cat.jpg?size=big".to_owned()),
    ];
    let (mut ours, mut cases) = (Vec::new(), Vec::new());
    for (sign, long) in [(false, false), (true, false), (true, true)] {
        let service: runnel_connectors::image::ServiceConfig = toml::from_str(&format!(
            "kind = \"cloudinary\"\ncloud_name = \"demo\"\napi_key = \"k\"\napi_secret = \"abcd\"\nsign_urls = {sign}\nlong_url_signature = {long}"
        ))
        .expect("a service");
        for image in &images {
            for variant in &base.variants {
                ours.push(service::variant_url(&service, image, variant));
                let mut options = sdk_options(variant);
                options["cloud_name"] = json!("demo");
                options["secure"] = json!(true);
                options["sign_url"] = json!(sign);
                options["long_url_signature"] = json!(long);
                options["api_secret"] = json!("abcd");
                let public_id = match image {
                    Located::Upload { public_id, version, format } => {
                        options["version"] = json!(version);
                        if variant.format.is_none() {
                            options["format"] = json!(format);
                        }
                        public_id
                    }
                    Located::Uri(url) => {
                        options["type"] = json!("fetch");
                        url
                    }
                };
                cases.push(json!({"public_id": public_id, "options": options}));
            }
        }
    }
    let params: [&[(&str, &str)]; 3] = [
        &[("timestamp", "1700000000")],
        &[("timestamp", "1700000000"), ("folder", "rooms/r1"), ("public_id", "a&b")],
        &[("timestamp", "1315060510"), ("public_id", "sample_image"), ("eager", "w_400,h_300,c_pad|w_260,h_200,c_crop")],
    ];
    for pairs in params {
        for algorithm in [cloudinary::Algorithm::Sha1, cloudinary::Algorithm::Sha256] {
            ours.push(cloudinary::api_signature(pairs, "s3cr3t", algorithm));
            let map: serde_json::Map<String, Value> = pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
            let name = if algorithm == cloudinary::Algorithm::Sha1 { "sha1" } else { "sha256" };
            cases.push(json!({"params": map, "secret": "s3cr3t", "algorithm": name}));
        }
    }
    let expected = oracle(&python, &Value::Array(cases));
    assert_eq!(ours.len(), expected.len());
    for (ours, sdk) in ours.iter().zip(&expected) {
        assert_eq!(ours, sdk);
    }
    assert!(expected.iter().any(|u| u.contains("/s--") && u.contains("/fetch/")), "signed fetch URLs were compared");
}

/// The stand-in for Cloudinary's hosts, stopped when dropped.
struct Fake {
    child: Child,
    url: String,
}

impl Fake {
    fn start(python: &Path, secret: &str, algorithm: &str) -> Self {
        let mut child = Command::new(python)
            .arg(root().join("tests/image/tools.py"))
            .args(["fake-cloudinary", secret, algorithm])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the stand-in starts");
        // Read byte by byte: a buffered reader could keep the lines logged after the first.
        let stdout = child.stdout.as_mut().expect("stdout");
        let mut first = Vec::new();
        let mut byte = [0_u8];
        while stdout.read(&mut byte).expect("its port") == 1 && byte[0] != b'\n' {
            first.push(byte[0]);
        }
        let port = serde_json::from_slice::<Value>(&first).expect("JSON")["port"].as_u64().expect("a port");
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// Stops it and returns the requests it logged.
    fn requests(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let mut rest = String::new();
        self.child.stdout.take().expect("stdout").read_to_string(&mut rest).expect("reads");
        let _ = self.child.wait();
        rest.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn photo(python: &Path) -> (Vec<u8>, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir").keep();
    let path = dir.join("photo.png");
    tool(python, &["make", path.to_str().expect("UTF-8"), "640", "480"], None);
    (std::fs::read(&path).expect("the photo"), path)
}

fn service(fake: &Fake, secret: &str, extra: &str) -> String {
    format!(
        "service = {{ kind = \"cloudinary\", cloud_name = \"demo\", api_key = \"key-1\", api_secret = \"{secret}\", api_url = \"{0}\", delivery_url = \"{0}\", sign_urls = true{extra} }}",
        fake.url
    )
}

/// Bytes are uploaded with a signed request (SHA-1, then SHA-256 into a folder) and the variants'
/// signed delivery URLs are the SDK's; each variant is measured from what the delivery host
/// served: the stand-in does not transform, so the reported size is the original's, not the
/// size asked for.
#[tokio::test]
async fn uploads_are_signed_and_variants_measured_from_what_was_delivered() {
    let Some(python) = python("RUNNEL_CLOUDINARY_PYTHON") else { return };
    let (bytes, _) = photo(&python);
    let base64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    for (algorithm, extra, public_id) in [("sha1", "", "up1"), ("sha256", ", signature_algorithm = \"sha256\", folder = \"rooms\"", "rooms/up1")] {
        let fake = Fake::start(&python, "s3cr3t", algorithm);
        let image = config(&format!("{}\nbytes_field = \"photo\"\n{VARIANTS}", service(&fake, "s3cr3t", extra)));
        let (out, errors) = run(image.clone(), vec![json!({"photo": base64, "room": "r1"})]).await;
        assert_eq!(errors, Vec::<Value>::new());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].get("photo"), None);
        let variants = out[0]["variants"].as_array().expect("variants");
        let mut cases = Vec::new();
        for (variant, config) in variants.iter().zip(&image.variants) {
            assert_eq!((&variant["name"], &variant["width"], &variant["height"]), (&json!(config.name), &json!(640), &json!(480)));
            assert_eq!((&variant["format"], &variant["content_type"], &variant["bytes"]), (&json!("png"), &json!("image/png"), &json!(bytes.len())));
            let mut options = sdk_options(config);
            let sdk = json!({"cloud_name": "demo", "secure": true, "sign_url": true, "api_secret": "s3cr3t", "version": 1_700_000_001});
            options.as_object_mut().expect("an object").extend(sdk.as_object().expect("an object").clone());
            if config.format.is_none() {
                options["format"] = json!("png");
            }
            cases.push(json!({"public_id": public_id, "options": options}));
        }
        let expected = oracle(&python, &Value::Array(cases));
        for (variant, sdk) in variants.iter().zip(&expected) {
            let sdk = sdk.replacen("https://res.cloudinary.com", &fake.url, 1);
            assert_eq!(variant["url"], sdk);
        }
        let requests = fake.requests();
        let uploads: Vec<&Value> = requests.iter().filter(|r| r.get("signature_ok").is_some()).collect();
        assert_eq!(uploads.len(), 1, "{requests:#?}");
        assert_eq!(uploads[0]["signature_ok"], true);
        assert_eq!(uploads[0]["path"], "/v1_1/demo/image/upload");
        assert_eq!(requests.len(), 1 + variants.len(), "one upload and one fetch per variant");
    }
}

/// A wrong secret: the stand-in answers 401 as Cloudinary does, and the message goes to the
/// errors port with the status and Cloudinary's reason; nothing is fetched.
#[tokio::test]
async fn a_wrong_secret_is_refused_with_401_on_the_errors_port() {
    let Some(python) = python("RUNNEL_CLOUDINARY_PYTHON") else { return };
    let (bytes, _) = photo(&python);
    let fake = Fake::start(&python, "s3cr3t", "sha1");
    let image = config(&format!("{}\nbytes_field = \"photo\"\nvariants = [{{ name = \"a\", width = 10 }}]", service(&fake, "wrong", "")));
    let (out, errors) = run(image, vec![json!({"photo": base64::engine::general_purpose::STANDARD.encode(&bytes)})]).await;
    assert_eq!(out, Vec::<Value>::new());
    assert_eq!(errors.len(), 1);
    let error = errors[0]["error"].as_str().expect("an error");
    assert!(error.starts_with("upload: Cloudinary answered HTTP 401: {\"error\": {\"message\": \"Invalid Signature"), "{error}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "no delivery URL fetched: {requests:#?}");
}
