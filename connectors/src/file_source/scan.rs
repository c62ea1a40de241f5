//! Finding files: the paths `path` matches less those `exclude` matches, and for each file
//! already open, whether its path still leads to it, whether it shrank below what was read or its
//! first bytes changed (truncated), and how long it is now. All system calls, so it runs on a
//! blocking thread, once when the source starts and then every poll while it follows.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use glob::{MatchOptions, Pattern};

use super::identity::{FileId, Fingerprint};

/// `*` and `?` do not match a `/`, so `logs/*.log` stays in `logs/` (`**` goes deeper).
const OPTIONS: MatchOptions = MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: false };

/// Which files to read.
#[derive(Clone, Debug)]
pub(crate) struct Patterns {
    /// A glob pattern, or a path if it has no glob characters.
    include: String,
    /// Whether `include` is a plain path.
    literal: bool,
    exclude: Vec<Pattern>,
}

impl Patterns {
    /// `path` and `exclude` patterns, relative ones taken from `base_dir`.
    ///
    /// # Errors
    /// A pattern that is not a glob pattern, with the reason.
    pub(crate) fn new(base_dir: &Path, path: &Path, exclude: &[String]) -> Result<Self, String> {
        let include = absolute(base_dir, &path.to_string_lossy());
        let literal = !is_glob(&path.to_string_lossy());
        if !literal {
            Pattern::new(&include).map_err(|e| format!("`path` is not a valid glob pattern: {e}"))?;
        }
        let exclude = exclude
            .iter()
            .map(|p| Pattern::new(&absolute(base_dir, p)).map_err(|e| format!("`exclude` pattern `{p}` is not valid: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { include, literal, exclude })
    }

    /// Whether `path` names one file rather than a pattern.
    pub(crate) fn is_literal(&self) -> bool {
        self.literal
    }

    /// The pattern (or path) as given, made absolute.
    pub(crate) fn include(&self) -> &str {
        &self.include
    }

    /// The paths matched now, sorted, and the folders that could not be searched.
    fn paths(&self) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
        let mut problems = Vec::new();
        let paths = if self.literal {
            vec![PathBuf::from(&self.include)]
        } else {
            match glob::glob_with(&self.include, OPTIONS) {
                Ok(paths) => paths.filter_map(|found| found.map_err(|e| problems.push((e.path().to_owned(), e.error().to_string()))).ok()).collect(),
                Err(error) => {
                    problems.push((PathBuf::from(&self.include), error.to_string()));
                    Vec::new()
                }
            }
        };
        let kept = paths.into_iter().filter(|p| !self.exclude.iter().any(|x| x.matches_path_with(p, OPTIONS))).collect();
        (kept, problems)
    }
}

/// Whether `text` has glob characters.
pub(crate) fn is_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// `pattern` taken from `base_dir` if relative, with the folder's own characters escaped.
fn absolute(base_dir: &Path, pattern: &str) -> String {
    if Path::new(pattern).is_absolute() || base_dir.as_os_str().is_empty() {
        return pattern.to_owned();
    }
    let base = Pattern::escape(&base_dir.to_string_lossy());
    format!("{}/{pattern}", base.trim_end_matches('/'))
}

/// What the source knows of a file it has open.
#[derive(Debug)]
pub(crate) struct Known {
    pub(crate) key: u64,
    pub(crate) id: FileId,
    /// A handle of its own on the file, for its length and first bytes.
    pub(crate) handle: Arc<File>,
    pub(crate) fingerprint: Fingerprint,
    /// How far it has been read.
    pub(crate) read: u64,
}

/// A file the patterns match that is not open yet.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) id: FileId,
    pub(crate) size: u64,
}

/// How an open file is doing.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Where the patterns found it; `None` if no path matched leads to it any more (renamed
    /// away or deleted).
    pub(crate) path: Option<PathBuf>,
    pub(crate) size: u64,
    /// It shrank below what was read, or its first bytes changed.
    pub(crate) truncated: bool,
    /// A fingerprint over more bytes (it grew), or of the new content (truncated).
    pub(crate) fingerprint: Option<Fingerprint>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Files not open yet, in path order.
    pub(crate) found: Vec<Found>,
    /// The open files, in the order they were given.
    pub(crate) open: Vec<(u64, Seen)>,
    /// Paths that could not be searched, opened or checked, and why.
    pub(crate) problems: Vec<(PathBuf, String)>,
    /// Directories a plain `path` named.
    pub(crate) directories: Vec<PathBuf>,
}

/// Looks for the files `patterns` match and checks the `known` ones.
pub(crate) fn scan(patterns: &Patterns, known: &[Known]) -> Report {
    let (paths, problems) = patterns.paths();
    let mut report = Report { problems, ..Report::default() };
    let mut seen: Vec<Seen> = known.iter().map(|_| Seen::default()).collect();
    let mut new: HashSet<FileId> = HashSet::new();
    for path in paths {
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            // Gone between the search and now, or a plain path not there (yet).
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                report.problems.push((path, error.to_string()));
                continue;
            }
        };
        if meta.is_dir() {
            if patterns.is_literal() {
                report.directories.push(path);
            }
            continue;
        }
        let id = FileId::of(&meta);
        if let Some(at) = known.iter().position(|k| k.id == id) {
            seen[at].path.get_or_insert(path);
            continue;
        }
        match open(&path) {
            // The handle's identity is the one that counts: the path may have changed since.
            Ok((file, id, size)) if new.insert(id) && !known.iter().any(|k| k.id == id) => report.found.push(Found { path, file, id, size }),
            Ok(_) => {}
            Err(error) => report.problems.push((path, error.to_string())),
        }
    }
    for (known, seen) in known.iter().zip(&mut seen) {
        if let Err(error) = check(known, seen) {
            report.problems.push((seen.path.clone().unwrap_or_default(), error.to_string()));
        }
    }
    report.open = known.iter().map(|k| k.key).zip(seen).collect();
    report
}

fn open(path: &Path) -> std::io::Result<(File, FileId, u64)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    Ok((file, FileId::of(&meta), meta.len()))
}

/// Its length now, and whether it was truncated or its fingerprint can cover more.
fn check(known: &Known, seen: &mut Seen) -> std::io::Result<()> {
    seen.size = known.handle.metadata()?.len();
    seen.truncated = seen.size < known.read || (known.fingerprint.bytes > 0 && !known.fingerprint.matches(&known.handle)?);
    if seen.truncated || known.fingerprint.can_grow(seen.size) {
        seen.fingerprint = Some(Fingerprint::read(&known.handle, seen.size)?);
    }
    Ok(())
}
