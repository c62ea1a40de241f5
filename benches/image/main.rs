//! The cost of naming one variant: building its thumbor URL and signing it (HMAC-SHA1), and its
//! Cloudinary transformation and signed delivery URL (SHA-1), next to a baseline written by hand
//! in the same run: the same URL text formatted directly from constants, with the same
//! signature computed on it. What is left is the cost of reading the variant's configuration.
//!
//! `cargo bench --bench image` (criterion).

use std::hint::black_box;

use base64::Engine as _;
use criterion::Criterion;
use hmac::{Hmac, Mac};
use runnel_connectors::image::cloudinary::{self, Delivering, Delivery};
use runnel_connectors::image::{VariantConfig, thumbor};
use sha1::Digest as _;

fn variant() -> VariantConfig {
    toml::from_str("name = \"thumb\"\nwidth = 150\nheight = 150\nfit = \"crop\"\ngravity = \"auto\"\nformat = \"webp\"\nquality = 80")
        .expect("a variant")
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`; only `cargo bench` measures.
    if !std::env::args().any(|a| a == "--bench") {
        println!("image: run with `cargo bench --bench image`");
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    let variant = variant();
    let image = "rooms/r1/2026/12/01/photo-1234.jpg";
    let mut group = criterion.benchmark_group("image/thumbor");
    group.bench_function("runnel", |b| {
        b.iter(|| thumbor::url("http://127.0.0.1:8888", Some(b"a-security-key"), &thumbor::path(black_box(&variant), black_box(image))))
    });
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let path = format!("{}x{}/smart/filters:format(webp):quality({})/{}", black_box(150), 150, black_box(80), black_box(image));
            let mut mac = <Hmac<sha1::Sha1> as hmac::digest::KeyInit>::new_from_slice(b"a-security-key").expect("any key");
            mac.update(path.as_bytes());
            let signature = base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes());
            format!("http://127.0.0.1:8888/{signature}/{path}")
        })
    });
    group.finish();
    let mut group = criterion.benchmark_group("image/cloudinary");
    let at = Delivering { host: "https://res.cloudinary.com", cloud: "demo", secret: Some("an-api-secret"), long_signature: false };
    let upload = Delivery::Upload { public_id: "rooms/r1/photo-1234", version: Some(1_700_000_000), extension: None };
    group.bench_function("runnel", |b| b.iter(|| cloudinary::delivery_url(&at, &cloudinary::transformation(black_box(&variant)), black_box(upload))));
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let transformation = format!("c_fill,f_webp,g_auto,h_{},q_{},w_{}", black_box(150), black_box(80), 150);
            let source = black_box("rooms/r1/photo-1234");
            let digest = sha1::Sha1::digest(format!("{transformation}/{source}an-api-secret").as_bytes());
            let signature = base64::engine::general_purpose::URL_SAFE.encode(digest);
            format!("https://res.cloudinary.com/demo/image/upload/s--{}--/{transformation}/v1700000000/{source}", &signature[..8])
        })
    });
    group.finish();
    criterion.final_summary();
}
