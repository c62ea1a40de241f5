//! An object's key, the path of its file under the folder, filled from a template whose values
//! are each one path segment of safe characters: never `..`, never a `/`, never absolute, so a
//! message cannot name a file outside the folder or a file it should not overwrite.

use std::path::{Component, Path};

use runnel_engine::Metadata;
use serde_json::Value;

use crate::template::{Checked, Template};

/// Why a message's values cannot make a key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum KeyError {
    /// A placeholder had no value, or an object or array.
    #[error("{0}")]
    Render(#[from] crate::template::RenderError),
    /// A value is not a safe path segment.
    #[error("{value:?} cannot be part of a file name: a value may hold letters, digits, `.`, `_` and `-` (1 to 128, not starting with `.`)")]
    Unsafe {
        /// The value refused.
        value: String,
    },
}

/// Whether `text` may be one segment of a key: 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting
/// with `.` (so neither `.` nor `..`, nor a hidden file).
pub(crate) fn is_safe_segment(text: &str) -> bool {
    (1..=128).contains(&text.len()) && !text.starts_with('.') && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Fills `template` from the message and checks every value and the whole key.
pub(crate) fn fill(template: &Template, value: &Value, meta: &Metadata) -> Result<String, KeyError> {
    // Each value is checked alone, so a value holding `/` cannot pass as two segments.
    let key = template.render_checked(value, Some(meta), is_safe_segment).map_err(|refusal| match refusal {
        Checked::Render(error) => KeyError::Render(error),
        Checked::Refused(value) => KeyError::Unsafe { value },
    })?;
    // The template was checked at start; this holds whatever it is.
    let relative = Path::new(&key).components().all(|c| matches!(c, Component::Normal(_)));
    if !relative || key.is_empty() || key.ends_with('/') || key.contains("//") {
        return Err(KeyError::Unsafe { value: key });
    }
    Ok(key)
}

/// Checks a template before any message: its fixed text must keep keys inside the folder.
pub(crate) fn check_template(template: &Template) -> Result<(), String> {
    let sample = template.sample("x");
    let relative = Path::new(&sample).components().all(|c| matches!(c, Component::Normal(_)));
    if !relative || sample.ends_with('/') || sample.contains("//") || sample.split('/').any(|s| s.starts_with('.')) {
        return Err(format!("`key`: `{template}` must be a relative path of names (no leading `/`, no `..`, no empty or hidden segment)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(template: &str, value: Value) -> Result<String, KeyError> {
        fill(&Template::try_from(template.to_owned()).expect("a template"), &value, &Metadata::default())
    }

    #[test]
    fn safe_values_make_a_key() {
        assert_eq!(key("{user}/{id}.{ext}", json!({"user": "ann-1", "id": "f00d", "ext": "webm"})), Ok("ann-1/f00d.webm".to_owned()));
    }

    #[test]
    fn values_that_would_leave_the_folder_are_refused() {
        for user in ["..", "../etc", "/etc", "a/b", ".hidden", "", "a b", "é", "x\u{0}"] {
            let refused = key("{user}/clip.webm", json!({"user": user}));
            assert!(matches!(refused, Err(KeyError::Unsafe { .. })), "{user:?}: {refused:?}");
        }
        assert!(matches!(key("{user}/clip.webm", json!({"user": ["a"]})), Err(KeyError::Render(_))));
    }

    #[test]
    fn templates_that_leave_the_folder_are_refused() {
        for template in ["/abs/{x}", "../{x}", "a/../{x}", "a//{x}", "{x}/", ".{x}"] {
            assert!(check_template(&Template::try_from(template.to_owned()).expect("a template")).is_err(), "{template}");
        }
        assert!(check_template(&Template::try_from("media/{user}/{id}.webm".to_owned()).expect("a template")).is_ok());
    }
}
