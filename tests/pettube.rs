//! PetTube (`pipelines/pettube.toml` and its page) end to end, as `runnel run` serves it: a
//! signed-in user uploads a short video (made here with ffmpeg's test sources); the upload is
//! stored; ffmpeg makes three sizes and a poster; ffprobe's measures go into the database; "My
//! media" returns the user's files and never another user's. In headless Chromium (the page
//! plays a video), and through the API on PostgreSQL; and bad input: a malicious file name, a
//! user name that would leave the folder, SQL injection in the token's subject, a corrupt video.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::chat::browser_ready;
use crate::support::{Killed, free_addr, http_get, peers_required, root, runnel_bin, wait_for};

const SECRET: &str = "a-pettube-test-secret-of-32-bytes";

/// Whether ffmpeg and ffprobe are installed; in CI they must be.
fn ffmpeg_ready() -> bool {
    let ready = ["ffmpeg", "ffprobe"].iter().all(|program| Command::new(program).arg("-version").output().is_ok_and(|o| o.status.success()));
    assert!(ready || !peers_required(), "ffmpeg is missing; scripts/test.sh installs it");
    if !ready {
        eprintln!("skipping: no ffmpeg (run scripts/test.sh)");
    }
    ready
}

/// A 2-second 640×360 video with sound, from ffmpeg's test sources (H.264 and AAC in MP4, what a
/// phone uploads).
fn make_video(path: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=2:size=640x360:rate=25", "-f", "lavfi"])
        .args(["-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made the test video");
}

/// A file's video width and height, and its duration, as ffprobe reads it.
fn probe(path: &Path) -> (u64, u64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "ffprobe reads {}", path.display());
    let probed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let video = probed["streams"].as_array().and_then(|s| s.iter().find(|s| s["codec_type"] == "video")).expect("a video stream").clone();
    let duration = probed["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0);
    (video["width"].as_u64().expect("a width"), video["height"].as_u64().expect("a height"), duration)
}

/// `runnel run pipelines/pettube.toml`, its files in a folder of its own.
pub(crate) struct App {
    _runnel: Killed,
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl App {
    /// Starts the app with its records in `db` (a `postgres://` URL), or in its SQLite file.
    pub(crate) fn start(db: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = free_addr();
        let mut command = Command::new(runnel_bin());
        command
            .args(["run", "--no-metrics"])
            .arg(root().join("pipelines/pettube.toml"))
            .env("PETTUBE_ADDRESS", addr.to_string())
            .env("PETTUBE_SECRET", SECRET)
            .env("PETTUBE_DIR", dir.path())
            .env("PETTUBE_DB", db.map_or_else(|| format!("sqlite:{}", dir.path().join("pettube.db").display()), str::to_owned))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let runnel = Killed(command.spawn().expect("runnel starts"));
        wait_for("the page", 60, || http_get(addr, "/").filter(|(status, _)| *status == 200));
        Self { _runnel: runnel, addr, dir, client: reqwest::Client::new() }
    }

    pub(crate) fn token(user: &str) -> String {
        runnel_connectors::websocket_server::sign_jwt(SECRET.as_bytes(), &json!({"sub": user, "exp": 4_000_000_000_u64}))
    }

    async fn upload(&self, user: &str, name: &str, content_type: &str, bytes: Vec<u8>) -> (u16, Value) {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()).mime_str(content_type).expect("a type");
        let answer = self
            .client
            .post(format!("http://{}/api/uploads", self.addr))
            .bearer_auth(Self::token(user))
            .multipart(reqwest::multipart::Form::new().part("video", part))
            .send()
            .await
            .expect("answered");
        (answer.status().as_u16(), answer.json().await.expect("JSON"))
    }

    async fn media(&self, user: &str) -> Vec<Value> {
        let answer = self.client.get(format!("http://{}/api/media", self.addr)).bearer_auth(Self::token(user)).send().await.expect("answered");
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.expect("JSON");
        body["media"].as_array().expect("a list").clone()
    }

    /// The user's files once there are `count` of them (the jobs run after the upload's answer:
    /// the database is asked until then).
    async fn media_once(&self, user: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let media = self.media(user).await;
            if media.len() >= count {
                return media;
            }
            assert!(tokio::time::Instant::now() < deadline, "{user} has {} of {count} files: {media:?}", media.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn failures(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("failures.ndjson"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("JSON lines"))
            .collect()
    }

    /// The file a URL of the app names.
    fn file(&self, url: &str) -> PathBuf {
        self.dir.path().join("media").join(url.strip_prefix("/media/").expect("a media URL"))
    }

    /// Checks the four outputs of a 2-second 640×360 video: their records and, as ffprobe reads
    /// the files, their sizes and durations.
    fn check_video_outputs(&self, media: &[Value], owner_files: &str) {
        let mut sizes: Vec<&str> = media.iter().map(|m| m["size"].as_str().expect("a size")).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, ["144p", "240p", "360p", "poster"], "{owner_files}");
        for file in media {
            let path = self.file(file["url"].as_str().expect("a url"));
            let (width, height, duration) = probe(&path);
            let expected = match file["size"].as_str() {
                Some("360p" | "poster") => (640, 360),
                Some("240p") => (426, 240),
                _ => (256, 144),
            };
            assert_eq!((width, height), expected, "{file}");
            assert_eq!((file["width"].as_u64(), file["height"].as_u64()), (Some(width), Some(height)), "the record says what the file is: {file}");
            assert_eq!(file["bytes"].as_u64(), Some(std::fs::metadata(&path).expect("the file").len()), "{file}");
            if file["kind"] == "video" {
                assert!((duration - 2.0).abs() < 0.2, "a 2 s video stays 2 s: {duration} ({file})");
                assert!((file["duration"].as_f64().expect("a duration") - duration).abs() < 0.01, "{file}");
            }
            assert!(file["original"].as_str().is_some_and(|o| o.ends_with("/original") && !o.contains("..")), "{file}");
        }
    }
}

#[test]
fn the_pettube_app_works_in_chromium() {
    if !ffmpeg_ready() || !browser_ready() {
        return;
    }
    let app = App::start(None);
    let video = app.dir.path().join("my-cat.mp4");
    make_video(&video);
    let run = Command::new("node")
        .arg(root().join("tests/browser/pettube.mjs"))
        .args([format!("http://{}", app.addr), App::token("ann"), App::token("bob")])
        .arg(&video)
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&run.stdout);
    println!("{report}{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "the browser checks failed:\n{report}");
    assert_eq!(report.lines().filter(|l| l.starts_with("ok - ")).count(), 5, "{report}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let media = app.media("ann").await;
        app.check_video_outputs(&media, "ann's files");
        assert!(media.iter().all(|m| m["name"] == "my-cat.mp4"));
        assert!(app.media("bob").await.is_empty(), "bob sees none of ann's files");
    });
}

/// The same app with its records in PostgreSQL, through its API; a photo too.
#[tokio::test]
async fn pettube_keeps_its_records_in_postgresql() {
    if !ffmpeg_ready() {
        return;
    }
    let Some(db) = crate::sql::pg::database("SELECT 1").await else { return };
    let app = App::start(Some(&db.url));
    let video = app.dir.path().join("dog.mp4");
    make_video(&video);
    let (status, answer) = app.upload("ann", "dog.mp4", "video/mp4", std::fs::read(&video).expect("the video")).await;
    assert_eq!(status, 201, "{answer}");
    let media = app.media_once("ann", 4).await;
    app.check_video_outputs(&media, "ann's files");
    let stored: i64 = db.client.query_one("SELECT count(*) FROM media WHERE owner = 'ann'", &[]).await.expect("a count").get(0);
    assert_eq!(stored, 4, "the records are in PostgreSQL");
    let photo = app.dir.path().join("photo.png");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=1", "-frames:v", "1"])
        .arg(&photo)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let (status, _) = app.upload("bob", "photo.png", "image/png", std::fs::read(&photo).expect("the photo")).await;
    assert_eq!(status, 201);
    let photos = app.media_once("bob", 3).await;
    let mut sizes: Vec<(String, u64, u64)> = photos
        .iter()
        .map(|p| {
            let (width, height, _) = probe(&app.file(p["url"].as_str().expect("a url")));
            (p["size"].as_str().expect("a size").to_owned(), width, height)
        })
        .collect();
    sizes.sort();
    assert_eq!(sizes, [("large".to_owned(), 1280, 720), ("medium".to_owned(), 640, 360), ("small".to_owned(), 256, 144)]);
    assert_eq!(app.media("ann").await.len(), 4, "ann's files are hers alone");
}

/// Bad input, each handled with a clear answer or record, and nothing run or written that
/// should not be.
#[tokio::test]
async fn bad_uploads_and_bad_names_are_refused_or_set_aside() {
    if !ffmpeg_ready() {
        return;
    }
    let app = App::start(None);
    let video = app.dir.path().join("clip.mp4");
    make_video(&video);
    let bytes = std::fs::read(&video).expect("the video");
    let outside = app.dir.path().join("pwned");

    // A file name made to leave the folder or to run a command is only text in the record.
    let evil = format!("../../{}; rm -rf ~ #.mp4", outside.display());
    let (status, answer) = app.upload("ann", &evil, "video/mp4", bytes.clone()).await;
    assert_eq!(status, 201, "{answer}");
    let media = app.media_once("ann", 4).await;
    app.check_video_outputs(&media, "the evil name's files");
    assert!(media.iter().all(|m| m["name"] == evil.as_str()));
    assert!(!outside.exists(), "nothing was written outside the folder");

    // A user whose name would leave the folder is refused, saying why.
    let (status, answer) = app.upload("../eve", "clip.mp4", "video/mp4", bytes.clone()).await;
    assert_eq!(status, 500, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("\"../eve\" cannot be part of a file name")), "{answer}");
    assert_eq!(answer["node"], "store");

    // SQL in the token's subject is a name nobody has.
    assert!(app.media("ann' OR '1'='1").await.is_empty());
    assert!(app.media("x' UNION SELECT url, original, name, size, kind, width, height, duration, bytes FROM media --").await.is_empty());

    // A corrupt video is stored, and each of its jobs fails with ffmpeg's own message.
    let (status, answer) = app.upload("cy", "broken.mp4", "video/mp4", b"not a video at all, just text".to_vec()).await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().expect("an id").to_owned();
    wait_for("the corrupt video's four failures", 60, || (app.failures().len() >= 4).then_some(()));
    let failures = app.failures();
    assert_eq!(failures.len(), 4, "{failures:?}");
    for failure in &failures {
        assert!(["transcode", "still"].contains(&failure["node"].as_str().expect("a node")), "{failure}");
        let error = failure["error"].as_str().expect("an error");
        assert!(error.contains("exited with status 1") && error.contains("Invalid data found when processing input"), "{failure}");
        assert!(failure["message"]["original"].as_str().is_some_and(|o| o.contains(&id)), "{failure}");
    }
    assert!(app.media("cy").await.is_empty(), "no record of a file that was not made");
}
