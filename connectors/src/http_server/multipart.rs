//! `multipart/form-data` bodies (browser forms, `curl -F`), parsed with `multer` (the parser
//! axum's own `Multipart` uses) from the body already read, so the size limit and the signature
//! apply to it as to any body. Each file part becomes one message holding its bytes as a binary
//! body does (`base64`, `content_type`, `bytes`), with its `file_name`, its form `field`, and the
//! form's text fields in `form`; a form without files is one message `{"form": {...}}`. A body
//! that does not parse whole (cut short, no boundary, a text field that is not UTF-8) is refused
//! whole, so nothing of it enters the pipeline.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::body::{BodyError, Decoded};

/// One file part: its field, file name, content type and bytes.
struct File {
    field: String,
    name: String,
    content_type: Option<String>,
    bytes: Bytes,
}

/// Decodes a `multipart/form-data` body of `content_type` (which names the boundary).
///
/// # Errors
/// [`BodyError::Multipart`] saying what is wrong with the body.
pub(crate) async fn decode(content_type: &str, body: Vec<u8>) -> Result<Vec<Decoded>, BodyError> {
    let refuse = |error: multer::Error| BodyError::Multipart(error.to_string());
    let boundary = multer::parse_boundary(content_type).map_err(refuse)?;
    let chunk = futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(body)) });
    let mut parts = multer::Multipart::new(chunk, boundary);
    let (mut files, mut form) = (Vec::new(), Map::new());
    while let Some(part) = parts.next_field().await.map_err(refuse)? {
        let field = part.name().unwrap_or_default().to_owned();
        let file_name = part.file_name().map(str::to_owned);
        let content_type = part.content_type().map(ToString::to_string);
        let bytes = part.bytes().await.map_err(refuse)?;
        match file_name {
            // A file input left empty: browsers send a part with no name and no bytes.
            Some(name) if name.is_empty() && bytes.is_empty() => {}
            Some(name) => files.push(File { field, name, content_type, bytes }),
            None => {
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| BodyError::Multipart(format!("form field `{field}` is not UTF-8 text")))?;
                add_field(&mut form, field, text);
            }
        }
    }
    if files.is_empty() {
        return Ok(vec![(json!({ "form": form }), None, 0)]);
    }
    let form = Value::Object(form);
    let messages = files
        .into_iter()
        .map(|file| {
            let size = file.bytes.len();
            let value = json!({
                "base64": base64::engine::general_purpose::STANDARD.encode(&file.bytes),
                "content_type": file.content_type,
                "bytes": size,
                "file_name": file.name,
                "field": file.field,
                "form": form.clone(),
            });
            (value, None, size)
        })
        .collect();
    Ok(messages)
}

/// A text field given once is a string, given several times an array.
fn add_field(form: &mut Map<String, Value>, name: String, text: String) {
    match form.get_mut(&name) {
        None => {
            form.insert(name, Value::String(text));
        }
        Some(Value::Array(values)) => values.push(Value::String(text)),
        Some(first) => *first = Value::Array(vec![first.take(), Value::String(text)]),
    }
}
