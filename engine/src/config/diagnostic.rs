//! Validation findings, each with a position a user can jump to.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in a pipeline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, when the pipeline came from one.
    pub file: Option<Arc<Path>>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}:{}:{}", file.display(), self.line, self.column),
            None => write!(f, "<pipeline>:{}:{}", self.line, self.column),
        }
    }
}

/// Turns byte offsets of a text into [`Location`]s.
#[derive(Clone, Debug)]
pub(crate) struct SourceMap {
    file: Option<Arc<Path>>,
    line_starts: Vec<usize>,
    text: String,
}

impl SourceMap {
    pub(crate) fn new(file: Option<PathBuf>, text: &str) -> Self {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Self { file: file.map(Arc::from), line_starts, text: text.to_owned() }
    }

    /// The text the offsets point into.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        let column = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count()) + 1;
        Location { file: self.file.clone(), line, column }
    }
}

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The pipeline cannot run.
    Error,
    /// The pipeline runs, but probably not as meant.
    Warning,
}

/// One validation finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the file, if it came from a file.
    pub location: Option<Location>,
    /// The node concerned, if any.
    pub node: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn error(location: Option<Location>, node: Option<&str>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, location, node: node.map(str::to_owned), message: message.into() }
    }

    pub(crate) fn warning(location: Option<Location>, node: Option<&str>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(location, node, message) }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        f.write_str(match self.severity {
            Severity::Error => "error: ",
            Severity::Warning => "warning: ",
        })?;
        if let Some(node) = &self.node {
            write!(f, "node `{node}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a pipeline, reported together.
#[derive(Clone, Debug, thiserror::Error)]
pub struct ValidationError {
    /// Errors first, in file order, then warnings.
    pub diagnostics: Vec<Diagnostic>,
}

impl ValidationError {
    /// The errors (not the warnings).
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors().count();
        writeln!(f, "the pipeline has {count} error{}:", if count == 1 { "" } else { "s" })?;
        for diagnostic in &self.diagnostics {
            writeln!(f, "  {diagnostic}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let map = SourceMap::new(Some("p.toml".into()), "ab\ncdé\nx");
        assert_eq!(map.locate(0).to_string(), "p.toml:1:1");
        assert_eq!(map.locate(4).to_string(), "p.toml:2:2");
        assert_eq!(map.locate(7).to_string(), "p.toml:2:4");
        assert_eq!(map.locate(8).to_string(), "p.toml:3:1");
    }
}
