//! URL templates: `https://hooks.example.com/rooms/{room}?user={.from.user}` names each
//! message's URL, through the crate's shared [`crate::template::Template`]. Each value is
//! percent-encoded, so it cannot add a path segment or a query parameter.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::template::{Escape, RenderError, Template};

/// A parsed URL template.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct UrlTemplate(Template);

impl fmt::Display for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<String> for UrlTemplate {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Template::try_from(text).map(Self).map_err(|e| format!("URL {e}"))
    }
}

impl UrlTemplate {
    /// Whether the template has no placeholder: every message goes to the same URL.
    pub fn is_fixed(&self) -> bool {
        self.0.is_fixed()
    }

    /// Problems with the template, each naming `field`: the URL with every placeholder filled
    /// in must be an `http://` or `https://` URL.
    pub fn problems(&self, field: &str) -> Vec<String> {
        match reqwest::Url::parse(&self.0.sample("x")) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Vec::new(),
            Ok(url) => vec![format!("`{field}`: `{}` is not http or https", url.scheme())],
            Err(error) => vec![format!("`{field}`: `{self}` is not a URL: {error}")],
        }
    }

    /// The URL of a message whose value is `value`.
    ///
    /// # Errors
    /// [`RenderError`] when a placeholder's field is missing, `null`, an object or an array.
    pub fn render(&self, value: &Value) -> Result<String, RenderError> {
        self.0.render(value, None, Escape::Url)
    }
}
