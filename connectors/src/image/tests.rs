//! URL building and signing against the known vectors of ../shared/reference/peers.md §3 (from
//! thumbor 7.8.0 and Cloudinary's Python SDK 1.46.3), and the configuration's checks.

use serde_json::json;

use super::cloudinary::{self, Algorithm, Delivering, Delivery};
use super::config::{FieldPath, ImageConfig, VariantConfig};
use super::thumbor;

fn variant(toml: &str) -> VariantConfig {
    toml::from_str(&format!("name = \"v\"\n{toml}")).expect("a variant")
}

#[test]
fn thumbor_paths_follow_its_url_grammar() {
    let cases = [
        ("width = 300\nheight = 200\nfit = \"crop\"", "300x200/cat.jpg"),
        ("width = 300\nheight = 300\nquality = 50", "fit-in/300x300/filters:quality(50)/cat.jpg"),
        ("width = 150\nformat = \"webp\"", "fit-in/150x0/filters:format(webp)/cat.jpg"),
        ("width = 320\nheight = 240\nfit = \"crop\"\ngravity = \"auto\"", "320x240/smart/cat.jpg"),
        ("width = 100\nheight = 50\nfit = \"crop\"\ngravity = \"north_east\"", "100x50/right/top/cat.jpg"),
        (
            "width = 100\nheight = 50\nfit = \"pad\"\nbackground = \"ff0000\"\nformat = \"png\"",
            "fit-in/100x50/filters:fill(ff0000):format(png)/cat.jpg",
        ),
        ("width = 100\nheight = 50\nfit = \"scale\"\nformat = \"avif\"\nquality = 60", "100x50/filters:stretch():format(avif):quality(60)/cat.jpg"),
    ];
    for (toml, expected) in cases {
        assert_eq!(thumbor::path(&variant(toml), "cat.jpg"), expected, "{toml}");
    }
}

#[test]
fn thumbor_image_uris_are_percent_encoded_but_keep_a_urls_shape() {
    let path = thumbor::path(&variant("height = 10"), "http://h:81/a b/c.png?x=1&y=%20");
    assert_eq!(path, "fit-in/0x10/http://h:81/a%20b/c.png%3Fx%3D1%26y%3D%2520");
}

#[test]
fn thumbor_signatures_match_the_measured_vector() {
    // peers.md §3b: the signed URL thumbor 7.8.0 answered with a 320×240 JPEG.
    let path = thumbor::path(&variant("width = 320\nheight = 240\nfit = \"crop\"\ngravity = \"auto\""), "cat.jpg");
    let url = thumbor::url("http://127.0.0.1:18888/", Some(b"test-secret-key"), &path);
    assert_eq!(url, "http://127.0.0.1:18888/-PXB3dBBm8dHtDhKIkCyR-pE95A=/320x240/smart/cat.jpg");
    assert_eq!(thumbor::url("http://t", None, &path), "http://t/unsafe/320x240/smart/cat.jpg");
    assert_ne!(thumbor::sign(b"another-key", &path), "-PXB3dBBm8dHtDhKIkCyR-pE95A=");
}

#[test]
fn cloudinary_api_signatures_match_the_documented_vectors() {
    let sign = |params: &[(&str, &str)]| cloudinary::api_signature(params, "abcd", Algorithm::Sha1);
    assert_eq!(sign(&[("public_id", "sample_image"), ("timestamp", "1315060510")]), "b4ad47fb4e25c7bf5f92a20089f9db59bc302313");
    assert_eq!(
        sign(&[("timestamp", "1315060510"), ("public_id", "sample_image"), ("eager", "w_400,h_300,c_pad|w_260,h_200,c_crop")]),
        "bfd09f95f331f558cbd1320e67aa8d488770583e"
    );
    // Empty values are not signed; SHA-256 is 64 hex digits.
    assert_eq!(sign(&[("public_id", "sample_image"), ("timestamp", "1315060510"), ("folder", "")]), "b4ad47fb4e25c7bf5f92a20089f9db59bc302313");
    assert_eq!(cloudinary::api_signature(&[("timestamp", "1")], "abcd", Algorithm::Sha256).len(), 64);
}

#[test]
fn cloudinary_transformations_are_sorted_parameters() {
    let cases = [
        ("width = 300\nheight = 200\nfit = \"crop\"\ngravity = \"auto\"\nformat = \"webp\"\nquality = 80", "c_fill,f_webp,g_auto,h_200,q_80,w_300"),
        ("width = 400\nfit = \"scale\"\nheight = 1", "c_scale,h_1,w_400"),
        ("width = 100", "c_fit,w_100"),
        ("width = 100\nheight = 80\nfit = \"pad\"\nbackground = \"ff8800\"\nformat = \"jpeg\"", "b_rgb:ff8800,c_pad,f_jpg,h_80,w_100"),
        ("width = 100\nheight = 80\nfit = \"pad\"\ngravity = \"south_west\"", "b_white,c_pad,g_south_west,h_80,w_100"),
    ];
    for (toml, expected) in cases {
        assert_eq!(cloudinary::transformation(&variant(toml)), expected, "{toml}");
    }
}

#[test]
fn cloudinary_delivery_urls_match_the_sdks() {
    let plain = Delivering { host: "https://res.cloudinary.com", cloud: "demo", secret: None, long_signature: false };
    let upload = |public_id, version| Delivery::Upload { public_id, version, extension: Some("jpg") };
    assert_eq!(
        cloudinary::delivery_url(&plain, "c_fill,f_auto,g_auto,h_200,q_auto,w_300", upload("sample", None)),
        "https://res.cloudinary.com/demo/image/upload/c_fill,f_auto,g_auto,h_200,q_auto,w_300/sample.jpg"
    );
    assert_eq!(
        cloudinary::delivery_url(&plain, "c_scale,w_400/e_grayscale", upload("sample", Some(1_312_461_204))),
        "https://res.cloudinary.com/demo/image/upload/c_scale,w_400/e_grayscale/v1312461204/sample.jpg"
    );
    let signed = Delivering { secret: Some("abcd"), ..plain };
    assert_eq!(
        cloudinary::delivery_url(&signed, "c_scale,w_300", upload("sample", None)),
        "https://res.cloudinary.com/demo/image/upload/s--SAZ8L8hz--/c_scale,w_300/sample.jpg"
    );
    let long = Delivering { long_signature: true, ..signed };
    assert_eq!(
        cloudinary::delivery_url(&long, "c_scale,w_300", upload("sample", None)),
        "https://res.cloudinary.com/demo/image/upload/s--7WhZrhM7e-KUHF63VouyFw13ufm646y3--/c_scale,w_300/sample.jpg"
    );
    assert_eq!(
        cloudinary::delivery_url(&plain, "c_fit,w_100", Delivery::Fetch("https://example.org/cat.jpg")),
        "https://res.cloudinary.com/demo/image/fetch/c_fit,w_100/https://example.org/cat.jpg"
    );
    assert_eq!(cloudinary::escape("a b/ç?.jpg"), "a%20b/%C3%A7%3F.jpg");
}

#[test]
fn field_paths_read_write_and_remove() {
    let path = FieldPath::try_from(".a.b".to_owned()).expect("a path");
    let mut value = json!({"a": {"b": 1, "c": 2}});
    assert_eq!(path.get(&value), Some(&json!(1)));
    path.remove(&mut value);
    assert_eq!(value, json!({"a": {"c": 2}}));
    FieldPath::try_from("x.y".to_owned()).expect("a path").set(&mut value, json!([1]));
    assert_eq!(value, json!({"a": {"c": 2}, "x": {"y": [1]}}));
    assert_eq!(FieldPath::try_from(".".to_owned()).expect("the root").get(&value), Some(&value));
    assert!(FieldPath::try_from("a..b".to_owned()).is_err());
}

#[test]
fn validation_names_every_problem() {
    let config: ImageConfig = toml::from_str(
        r#"
service = { kind = "cloudinary", cloud_name = "demo", sign_urls = true, api_url = "ftp://x" }
bytes_field = "upload"
variants = [
  { name = "a", fit = "crop", width = 10 },
  { name = "a", width = 0, quality = 101 },
  { name = "b" },
]
concurrency = 0
"#,
    )
    .expect("parses");
    let problems = config.problems();
    for expected in [
        "`service.api_url`: `ftp://x` is not an http:// or https:// URL",
        "`service.sign_urls` needs `service.api_secret`",
        "`bytes_field`: uploading to Cloudinary needs `service.api_key` and `service.api_secret`",
        "`variants[0]` (`a`): `fit = \"crop\"` needs both `width` and `height`",
        "`variants[1]`: the name `a` is used twice",
        "`variants[1]` (`a`): `width` and `height` must be at least 1",
        "`variants[1]` (`a`): `quality` must be between 1 and 100",
        "`variants[2]` (`b`): `width` or `height` must be set",
        "`concurrency` must be at least 1",
    ] {
        assert!(problems.iter().any(|p| p.starts_with(expected)), "missing {expected:?} in {problems:#?}");
    }
    let nowhere: ImageConfig =
        toml::from_str("service = { kind = \"thumbor\", url = \"http://t\" }\nvariants = [{ name = \"a\", width = 1 }]").expect("parses");
    assert_eq!(
        nowhere.problems(),
        [
            "`service.security_key` must be set, or `allow_unsafe = true` for unsigned URLs",
            "`url_field` or `bytes_field` must be set: where the image is"
        ]
    );
    let unsafe_thumbor: Result<ImageConfig, _> =
        toml::from_str("service = { kind = \"thumbor\", url = \"http://t\", secret = \"x\" }\nvariants = []");
    assert!(unsafe_thumbor.expect_err("unknown field").to_string().contains("unknown field `secret`"));
}
