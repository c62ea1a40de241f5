//! The file source's parts on real files: identity and fingerprints, scans that notice
//! truncation and rotation, where reading starts, and the checkpoint file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::checkpoint::{Checkpoint, CheckpointError, CheckpointStore};
use super::identity::{FINGERPRINT_BYTES, FileId, Fingerprint};
use super::scan::{Known, Patterns, Report, scan};
use super::watched::{Placed, ReadFrom, place};
use crate::ndjson::Position;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("writes");
}

fn append(path: &Path, text: &str) {
    OpenOptions::new().append(true).open(path).expect("opens").write_all(text.as_bytes()).expect("appends");
}

/// What the source would know of `path` after reading `read` bytes of it.
fn known(key: u64, path: &Path, read: u64) -> Known {
    let handle = File::open(path).expect("opens");
    let meta = handle.metadata().expect("stat");
    let fingerprint = Fingerprint::read(&handle, meta.len()).expect("reads");
    Known { key, id: FileId::of(&meta), handle: Arc::new(handle), fingerprint, read }
}

fn patterns(dir: &Path, path: &str, exclude: &[&str]) -> Patterns {
    Patterns::new(dir, Path::new(path), &exclude.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).expect("valid patterns")
}

fn found_names(report: &Report) -> Vec<String> {
    report.found.iter().map(|f| f.path.file_name().expect("a name").to_string_lossy().into_owned()).collect()
}

#[test]
fn a_fingerprint_covers_the_first_bytes_and_grows_with_a_short_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.log");
    write(&path, "{\"n\":1}\n");
    let file = File::open(&path).expect("opens");
    let short = Fingerprint::read(&file, 8).expect("reads");
    assert_eq!(short.bytes, 8);
    append(&path, &"{\"n\":2}\n".repeat(500));
    assert!(short.matches(&file).expect("reads"), "appending keeps the first bytes");
    assert!(short.can_grow(4008));
    let long = Fingerprint::read(&file, 4008).expect("reads");
    assert_eq!(long.bytes, FINGERPRINT_BYTES);
    assert!(!long.can_grow(1 << 30));
    write(&path, "{\"other\":true}\n");
    assert!(!short.matches(&file).expect("reads"), "new first bytes");
}

#[test]
fn a_scan_finds_what_the_glob_matches_less_what_is_excluded() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["a.ndjson", "b.ndjson", "b.old.ndjson", "c.txt"] {
        write(&dir.path().join(name), "{}\n");
    }
    std::fs::create_dir(dir.path().join("d.ndjson")).expect("a folder that matches");
    let report = scan(&patterns(dir.path(), "*.ndjson", &["*.old.ndjson"]), &[]);
    assert_eq!(found_names(&report), ["a.ndjson", "b.ndjson"]);
    assert!(report.problems.is_empty() && report.directories.is_empty(), "{report:?}");
    let plain = scan(&patterns(dir.path(), "d.ndjson", &[]), &[]);
    assert_eq!(plain.directories.len(), 1, "a plain path naming a folder is reported");
}

#[test]
fn a_scan_sees_a_file_truncated_or_rewritten_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.log");
    write(&path, &"{\"old\":1}\n".repeat(10));
    let patterns = patterns(dir.path(), "a.log", &[]);
    let seen = |known: &Known| scan(&patterns, std::slice::from_ref(known)).open.pop().expect("one").1;
    let read_all = known(0, &path, 100);
    let untouched = seen(&read_all);
    assert!(!untouched.truncated && untouched.path.is_some() && untouched.size == 100, "{untouched:?}");
    // Copy and truncate, then the writer goes on: shorter than what was read.
    File::create(&path).expect("truncates");
    append(&path, "{\"new\":1}\n");
    let shorter = seen(&read_all);
    assert!(shorter.truncated, "{shorter:?}");
    assert_eq!(shorter.fingerprint.map(|f| f.bytes), Some(10), "the new content's fingerprint");
    // Truncated and refilled past the old read offset before the scan: the first bytes tell.
    write(&path, &"{\"old\":1}\n".repeat(10));
    let before = known(0, &path, 100);
    write(&path, &"{\"new\":2}\n".repeat(20));
    let refilled = seen(&before);
    assert!(refilled.truncated && refilled.size == 200, "{refilled:?}");
}

#[test]
fn a_scan_sees_a_file_renamed_away_and_the_new_one_at_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.log");
    write(&path, "{\"n\":1}\n");
    let open = known(7, &path, 8);
    let patterns = patterns(dir.path(), "a.log", &[]);
    std::fs::rename(&path, dir.path().join("a.log.1")).expect("renames");
    let report = scan(&patterns, std::slice::from_ref(&open));
    assert_eq!(report.open[0].0, 7);
    assert!(report.open[0].1.path.is_none() && !report.open[0].1.truncated, "still readable through its handle: {report:?}");
    assert!(report.found.is_empty());
    write(&path, "{\"n\":2}\n");
    let report = scan(&patterns, std::slice::from_ref(&open));
    assert_eq!(found_names(&report), ["a.log"], "the new file is found");
    assert!(report.open[0].1.path.is_none());
    // Renamed within the pattern, it is the same file under a new name, not a new one.
    let both = scan(&self::patterns(dir.path(), "a.log*", &[]), std::slice::from_ref(&open));
    assert_eq!(found_names(&both), ["a.log"]);
    assert_eq!(both.open[0].1.path.as_deref(), Some(dir.path().join("a.log.1").as_path()));
}

/// `found` placed with `checkpoint`, as a new file would be with `start`.
fn placed(path: &Path, checkpoint: Option<&Checkpoint>, start: ReadFrom) -> (Placed, Position) {
    let report = scan(&patterns(path.parent().expect("a folder"), path.file_name().expect("a name").to_str().expect("utf-8"), &[]), &[]);
    let found = report.found.into_iter().next().expect("found");
    let opened = place(found, checkpoint, start).expect("placed");
    (opened.placed, opened.at)
}

fn checkpoint_of(path: &Path, offset: u64, line: u64) -> Checkpoint {
    let file = File::open(path).expect("opens");
    let meta = file.metadata().expect("stat");
    let id = FileId::of(&meta);
    let fingerprint = Fingerprint::read(&file, meta.len()).expect("reads");
    Checkpoint { path: path.to_owned(), dev: id.dev, inode: id.inode, fingerprint, offset, line }
}

#[test]
fn a_file_resumes_at_its_checkpoint_only_if_it_is_the_same_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.log");
    write(&path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    let checkpoint = checkpoint_of(&path, 16, 2);
    assert_eq!(placed(&path, Some(&checkpoint), ReadFrom::Beginning), (Placed::Resumed, Position { offset: 16, line: 2 }));
    append(&path, "{\"n\":4}\n");
    assert_eq!(placed(&path, Some(&checkpoint), ReadFrom::End).0, Placed::Resumed, "grown, still the same file");
    // The same inode with other first bytes (truncated and rewritten, or the inode reused).
    write(&path, "{\"m\":1}\n{\"m\":2}\n{\"m\":3}\n{\"m\":4}\n");
    assert_eq!(placed(&path, Some(&checkpoint), ReadFrom::Beginning), (Placed::Replaced, Position::default()));
    // Shorter than the checkpoint, with the same first bytes: truncated while runnel was away.
    let far = checkpoint_of(&path, 1000, 100);
    assert_eq!(placed(&path, Some(&far), ReadFrom::End), (Placed::Truncated, Position::default()));
}

#[test]
fn reading_from_the_end_starts_after_the_last_complete_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.log");
    write(&path, "{\"n\":1}\n{\"n\":2}\n{\"n\":");
    assert_eq!(placed(&path, None, ReadFrom::End), (Placed::New, Position { offset: 16, line: 0 }));
    assert_eq!(placed(&path, None, ReadFrom::Beginning), (Placed::New, Position::default()));
}

#[test]
fn checkpoints_are_written_whole_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CheckpointStore::new(dir.path().join("state/in.checkpoints.json"));
    store.prepare().expect("creates the folder");
    assert_eq!(store.load().expect("no file yet"), Vec::new());
    let checkpoint =
        Checkpoint { path: "/var/log/a.log".into(), dev: 2049, inode: 1234, fingerprint: Fingerprint::of(b"{\"n\":1}\n"), offset: 8, line: 1 };
    store.save(vec![checkpoint.clone()]).expect("writes");
    assert_eq!(store.load().expect("reads"), vec![checkpoint.clone()]);
    let names: Vec<_> = std::fs::read_dir(dir.path().join("state")).expect("lists").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["in.checkpoints.json"], "no temporary file is left behind");
    let text = std::fs::read_to_string(store.path()).expect("reads");
    assert!(text.contains("\"version\": 1") && text.contains(&format!("\"fnv1a\": \"{:016x}\"", checkpoint.fingerprint.fnv1a)), "{text}");
}

#[test]
fn a_corrupt_checkpoint_file_is_reported_and_set_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CheckpointStore::new(dir.path().join("in.checkpoints.json"));
    for text in ["{\"version\": 1, \"files\": [{\"path\": ", "{\"version\": 9, \"files\": []}", "[]"] {
        write(store.path(), text);
        let error = store.load().expect_err("corrupt");
        assert!(matches!(error, CheckpointError::Corrupt { .. }), "{error}");
        assert!(error.to_string().starts_with(&format!("the checkpoints in {} are corrupt", store.path().display())), "{error}");
    }
    let aside = store.set_aside().expect("renames");
    assert_eq!(std::fs::read_to_string(aside).expect("kept"), "[]");
    assert_eq!(store.load().expect("gone"), Vec::new());
}

#[test]
fn an_unreadable_checkpoint_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = CheckpointStore::new(dir.path().to_owned());
    assert!(matches!(store.load(), Err(CheckpointError::Unreadable { .. })), "a folder in its place");
    assert!(matches!(store.save(Vec::new()), Err(CheckpointError::Unwritable { .. })));
}
