//! The image block app (pipelines/image-block.toml with its page) end to end: the pipeline
//! file run against the thumbor that scripts/test.sh starts, the page in headless Chromium
//! (tests/browser/image-block.mjs) uploading a photo that a second page in the room sees turned
//! into its three variants, sized as thumbor delivered them.

use std::process::Command;

use crate::support::{free_addr, peers_required, root};

/// An 800×600 PNG, drawn with the Pillow that comes with thumbor.
fn photo(python: &str, path: &std::path::Path) {
    let script = "import sys\nfrom PIL import Image, ImageDraw\nimage = Image.new('RGB', (800, 600), (40, 90, 160))\nImageDraw.Draw(image).ellipse((200, 100, 600, 500), fill=(240, 200, 40))\nimage.save(sys.argv[1])\n";
    let status = Command::new(python).args(["-c", script, path.to_str().expect("utf-8")]).status().expect("python runs");
    assert!(status.success(), "Pillow draws the photo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_uploaded_in_the_page_reaches_the_room_as_three_measured_variants() {
    let (Ok(thumbor), Ok(key), Ok(python)) =
        (std::env::var("RUNNEL_THUMBOR_URL"), std::env::var("RUNNEL_THUMBOR_KEY"), std::env::var("RUNNEL_THUMBOR_PYTHON"))
    else {
        assert!(!peers_required(), "RUNNEL_THUMBOR_URL, _KEY and _PYTHON must be set: scripts/test.sh starts thumbor");
        eprintln!("skipping: no thumbor (run scripts/test.sh)");
        return;
    };
    if !crate::chat::browser_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("a folder");
    let png = dir.path().join("cat.png");
    photo(&python, &png);
    let (page, upload) = (free_addr(), free_addr());
    let file = root().join("pipelines/image-block.toml");
    let text = std::fs::read_to_string(&file).expect("the pipeline");
    let env = |name: &str| -> Option<String> {
        match name {
            "IMAGE_PAGE_ADDR" => Some(page.to_string()),
            "IMAGE_UPLOAD_ADDR" => Some(upload.to_string()),
            "IMAGE_PAGE_ORIGIN" => Some(format!("http://{page}")),
            "THUMBOR_URL" => Some(thumbor.clone()),
            "THUMBOR_KEY" => Some(key.clone()),
            _ => None,
        }
    };
    let running = runnel::Pipeline::parse(&text, Some(file), &runnel::registry(), env).expect("valid").start().await.expect("starts");
    let browser = tokio::process::Command::new("node")
        .arg(root().join("tests/browser/image-block.mjs"))
        .args([format!("http://{page}"), format!("http://{upload}/rooms/r1/photos"), png.display().to_string()])
        .output()
        .await
        .expect("node runs");
    running.shutdown_token().cancel();
    running.wait().await.expect("stops cleanly");
    let report = String::from_utf8_lossy(&browser.stdout);
    assert!(browser.status.success(), "the browser checks failed:\n{report}\n{}", String::from_utf8_lossy(&browser.stderr));
    let variants: Vec<serde_json::Value> = serde_json::from_str(report.trim()).expect("one JSON line");
    let sizes: Vec<(String, u64, u64)> = variants
        .iter()
        .map(|v| (v["name"].as_str().expect("a name").to_owned(), v["width"].as_u64().expect("w"), v["height"].as_u64().expect("h")))
        .collect();
    assert_eq!(sizes, [("thumbnail".to_owned(), 160, 160), ("medium".to_owned(), 640, 480), ("webp".to_owned(), 640, 480)]);
    for variant in &variants {
        // What the service measured is what the browser decoded.
        assert_eq!(variant["loaded"], serde_json::json!([variant["width"], variant["height"]]), "{variant}");
    }
    assert!(variants[2]["caption"].as_str().expect("a caption").contains("image/webp"), "{}", variants[2]);
}
