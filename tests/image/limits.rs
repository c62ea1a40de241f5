//! The `image` block's limits against a local server scripted for them (a real service cannot be
//! made to hold requests, or to answer HTML, on cue): variants fetched at most
//! `variant_concurrency` at once, answers that are not images, answers over `max_bytes`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::{config, run};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// What the server saw: requests at once (now and at most) and in all.
#[derive(Default)]
struct Seen {
    now: AtomicUsize,
    most: AtomicUsize,
    started: AtomicUsize,
    /// Requests up to this one (in arrival order) may be answered.
    released: AtomicUsize,
    changed: Notify,
}

/// Serves every request: a PNG after `hold` requests are in flight at once (or the `total`th
/// has come), HTML for paths with `html`, a large body for paths with `large`.
async fn serve(hold: usize, total: usize) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let seen = Arc::new(Seen::default());
    let shared = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = Arc::clone(&shared);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0_u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let now = seen.now.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most.fetch_max(now, Ordering::SeqCst);
                let started = seen.started.fetch_add(1, Ordering::SeqCst) + 1;
                if now >= hold || started >= total {
                    // A request past the limit would come now, while these are held: give it a
                    // moment to show up (the absence of an event has no event to await), then
                    // let every request in so far be answered.
                    let more = seen.changed.notified();
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(100), more).await;
                    seen.released.fetch_max(seen.started.load(Ordering::SeqCst), Ordering::SeqCst);
                }
                seen.changed.notify_waiters();
                loop {
                    let changed = seen.changed.notified();
                    if seen.released.load(Ordering::SeqCst) >= started {
                        break;
                    }
                    changed.await;
                }
                let path = String::from_utf8_lossy(&head).split_whitespace().nth(1).unwrap_or_default().to_owned();
                let (kind, body) = if path.contains("html") {
                    ("text/html", b"<html>not found</html>".to_vec())
                } else if path.contains("large") {
                    ("image/png", [PNG, &[0_u8; 4096]].concat())
                } else {
                    ("image/png", PNG.to_vec())
                };
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                // Out of the count before the answer leaves: the client may start its next
                // request as soon as it has read this one.
                seen.now.fetch_sub(1, Ordering::SeqCst);
                seen.changed.notify_waiters();
                let _ = socket.write_all(&[head.as_bytes(), &body].concat()).await;
            });
        }
    });
    (url, seen)
}

fn variants(count: usize) -> String {
    let list: Vec<String> = (0..count).map(|n| format!("{{ name = \"v{n}\", width = {} }}", 10 + n)).collect();
    format!("variants = [{}]", list.join(", "))
}

/// Five variants with `variant_concurrency = 2`: the server holds each request until two are in
/// flight (and 100 ms more, for a third to show up if the limit were not kept), so a block
/// fetching one at a time would never finish, and it never sees three (it does with a limit of 3).
#[tokio::test]
async fn variants_of_an_image_are_fetched_at_once_up_to_the_limit() {
    let (url, seen) = serve(2, 5).await;
    let image = config(&format!(
        "service = {{ kind = \"thumbor\", url = \"{url}\", allow_unsafe = true }}\nurl_field = \"u\"\nvariant_concurrency = 2\n{}",
        variants(5)
    ));
    let run = run(image, vec![json!({"u": "a.png"})]);
    let (out, errors) = tokio::time::timeout(std::time::Duration::from_secs(20), run).await.expect("variants are fetched two at a time");
    assert_eq!(errors, Vec::<Value>::new());
    let names: Vec<&Value> = out[0]["variants"].as_array().expect("variants").iter().map(|v| &v["name"]).collect();
    assert_eq!(names, ["v0", "v1", "v2", "v3", "v4"], "in the configured order");
    assert_eq!((seen.most.load(Ordering::SeqCst), seen.started.load(Ordering::SeqCst)), (2, 5));
    assert_eq!(out[0]["variants"][0]["width"], 1, "measured, not the 10 asked for");
}

/// A 200 answer that is HTML, and one over `max_bytes`, fail their messages with the reason.
#[tokio::test]
async fn answers_that_are_not_images_or_too_large_go_to_the_errors_port() {
    let (url, _) = serve(1, 1).await;
    let image = config(&format!(
        "service = {{ kind = \"thumbor\", url = \"{url}\", allow_unsafe = true }}\nurl_field = \"u\"\nmax_bytes = 1000\n{}",
        variants(1)
    ));
    let (out, errors) = run(image, vec![json!({"u": "html.png"}), json!({"u": "large.png"}), json!({"u": "fine.png"})]).await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["u"], "fine.png");
    let reasons: Vec<&str> = errors.iter().map(|e| e["error"].as_str().expect("an error")).collect();
    assert_eq!(
        reasons,
        [
            "variant `v0`: thumbor answered HTTP 200 with no image it can read (content type `text/html`, 22 bytes)",
            "variant `v0`: thumbor answered more than `max_bytes` (1000 bytes)",
        ]
    );
}
