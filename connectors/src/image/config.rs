//! The `image` block's configuration and what validation checks in it.

use serde::Deserialize;
use serde_json::Value;

use super::service::ServiceConfig;

/// Produces the variants of an image (sizes, crops, formats) through an image service (thumbor
/// or Cloudinary), measuring each from the service's answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// The image service and its credentials.
    pub service: ServiceConfig,
    /// The field holding the image's URL (`"image.url"`; `"."` is the whole value). A message
    /// whose field is missing or `null` is read from `bytes_field` instead.
    #[serde(default)]
    pub url_field: Option<FieldPath>,
    /// The field holding the image's bytes: a base64 string, or an object with a `base64`
    /// string (what the `http_server` source makes of a binary body; `"."` when the whole
    /// message is that object).
    #[serde(default)]
    pub bytes_field: Option<FieldPath>,
    /// The variants to produce, at least one.
    pub variants: Vec<VariantConfig>,
    /// What the block emits: the message with its variants in `field` (the default), or one
    /// message per variant.
    #[serde(default)]
    pub output: OutputMode,
    /// The field written: an array of variants (`output = "field"`), or one variant
    /// (`output = "messages"`).
    #[serde(default = "default_field")]
    pub field: FieldPath,
    /// Whether the emitted messages keep the image's base64 (it can be large; by default the
    /// `bytes_field` string, or the `base64` of the object there, is removed).
    #[serde(default)]
    pub keep_bytes: bool,
    /// Images handled at once, at most.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Variants of one image fetched at once, at most.
    #[serde(default = "default_variant_concurrency")]
    pub variant_concurrency: usize,
    /// Whether results leave in input order (the default) or as they finish.
    #[serde(default = "default_true")]
    pub ordered: bool,
    /// How long one request to the service (an upload, a variant) may take, in milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The largest variant (or source image) read, in bytes; a larger one fails the message.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
}

/// One variant of an image.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    /// The variant's name in the output (`thumb`, `medium`).
    pub name: String,
    /// Width in pixels; unset, it follows the height and the image's aspect ratio.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height in pixels; unset, it follows the width and the image's aspect ratio.
    #[serde(default)]
    pub height: Option<u32>,
    /// How the image goes into the box.
    #[serde(default)]
    pub fit: Fit,
    /// Which part of the image a crop keeps.
    #[serde(default)]
    pub gravity: Gravity,
    /// The output format; unset, the service's default (usually the source's).
    #[serde(default)]
    pub format: Option<Format>,
    /// Encoder quality, 1 to 100; unset, the service's default.
    #[serde(default)]
    pub quality: Option<u8>,
    /// The padding colour of `fit = "pad"`: a name (`white`) or six hex digits (`ff8800`).
    #[serde(default = "default_background")]
    pub background: String,
}

/// How an image goes into a variant's width × height box.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Scaled to fit inside the box, aspect kept (one side may be smaller).
    #[default]
    Fit,
    /// Scaled to cover the box and cropped to it (thumbor's default, Cloudinary's `c_fill`).
    Crop,
    /// Scaled to fit inside the box and padded to it with `background`.
    Pad,
    /// Stretched to the box, aspect not kept.
    Scale,
}

impl Fit {
    /// The mode's name in a configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fit => "fit",
            Self::Crop => "crop",
            Self::Pad => "pad",
            Self::Scale => "scale",
        }
    }
}

/// Which part of an image a crop keeps.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Gravity {
    /// The middle (the default).
    #[default]
    Center,
    /// The service picks (thumbor's `smart`, Cloudinary's `g_auto`).
    Auto,
    /// The top edge.
    North,
    /// The bottom edge.
    South,
    /// The right edge.
    East,
    /// The left edge.
    West,
    /// The top right corner.
    NorthEast,
    /// The top left corner.
    NorthWest,
    /// The bottom right corner.
    SouthEast,
    /// The bottom left corner.
    SouthWest,
}

/// An output image format.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// WebP.
    Webp,
    /// AVIF.
    Avif,
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
}

impl Format {
    /// The format's usual name (`jpeg`, `webp`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Webp => "webp",
            Self::Avif => "avif",
            Self::Jpeg => "jpeg",
            Self::Png => "png",
        }
    }
}

/// What the block emits for an image.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// The message, with the array of its variants in `field`.
    #[default]
    Field,
    /// One message per variant, each with its variant in `field`.
    Messages,
}

/// A field of a message's value: `a.b` (a leading `.` is allowed), or `.` for the whole value.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FieldPath(Vec<String>);

impl TryFrom<String> for FieldPath {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text == "." {
            return Ok(Self(Vec::new()));
        }
        let parts: Vec<String> = text.strip_prefix('.').unwrap_or(&text).split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            return Err(format!("`{text}` is not a field path (`a.b`, or `.` for the whole value)"));
        }
        Ok(Self(parts))
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() { f.write_str(".") } else { f.write_str(&self.0.join(".")) }
    }
}

impl FieldPath {
    /// The value at this path, if every step is an object that has it.
    pub fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(value, |at, key| at.get(key))
    }

    /// The value at this path, to change, if every step is an object that has it.
    pub fn get_mut<'a>(&self, value: &'a mut Value) -> Option<&'a mut Value> {
        self.0.iter().try_fold(value, |at, key| at.get_mut(key))
    }

    /// Sets the value at this path, making objects on the way (replacing what is not one).
    pub fn set(&self, value: &mut Value, new: Value) {
        let Some((last, path)) = self.0.split_last() else {
            *value = new;
            return;
        };
        let mut at = value;
        for key in path {
            at = object(at).entry(key.clone()).or_insert(Value::Null);
        }
        object(at).insert(last.clone(), new);
    }

    /// Removes the field at this path (the whole value becomes `null`).
    pub fn remove(&self, value: &mut Value) {
        let Some((last, path)) = self.0.split_last() else {
            *value = Value::Null;
            return;
        };
        if let Some(Value::Object(map)) = path.iter().try_fold(value, |at, key| at.get_mut(key)) {
            map.shift_remove(last);
        }
    }
}

fn object(value: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(serde_json::Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("made an object just above"),
    }
}

fn default_field() -> FieldPath {
    FieldPath(vec!["variants".to_owned()])
}

fn default_concurrency() -> usize {
    4
}

fn default_variant_concurrency() -> usize {
    4
}

fn default_true() -> bool {
    true
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn default_max_bytes() -> usize {
    32 * 1024 * 1024
}

fn default_background() -> String {
    "white".to_owned()
}

impl ImageConfig {
    /// Every problem with the configuration.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = self.service.problems();
        if self.url_field.is_none() && self.bytes_field.is_none() {
            problems.push("`url_field` or `bytes_field` must be set: where the image is".to_owned());
        }
        if let (Some(_), ServiceConfig::Cloudinary(cloud)) = (&self.bytes_field, &self.service) {
            if cloud.api_key.is_none() || cloud.api_secret.is_none() {
                problems.push("`bytes_field`: uploading to Cloudinary needs `service.api_key` and `service.api_secret`".to_owned());
            }
        }
        if self.variants.is_empty() {
            problems.push("`variants` must name at least one variant".to_owned());
        }
        for (index, variant) in self.variants.iter().enumerate() {
            let at = format!("`variants[{index}]`");
            if variant.name.is_empty() {
                problems.push(format!("{at}: `name` must not be empty"));
            }
            if self.variants[..index].iter().any(|v| v.name == variant.name) {
                problems.push(format!("{at}: the name `{}` is used twice", variant.name));
            }
            match (variant.width, variant.height) {
                (None, None) => problems.push(format!("{at} (`{}`): `width` or `height` must be set", variant.name)),
                (Some(0), _) | (_, Some(0)) => problems.push(format!("{at} (`{}`): `width` and `height` must be at least 1", variant.name)),
                (Some(w), Some(h)) if w > MAX_SIDE || h > MAX_SIDE => {
                    problems.push(format!("{at} (`{}`): sides are at most {MAX_SIDE}", variant.name))
                }
                (Some(s), None) | (None, Some(s)) if s > MAX_SIDE => {
                    problems.push(format!("{at} (`{}`): sides are at most {MAX_SIDE}", variant.name))
                }
                _ => {}
            }
            if matches!(variant.fit, Fit::Crop | Fit::Pad | Fit::Scale) && (variant.width.is_none() || variant.height.is_none()) {
                problems.push(format!("{at} (`{}`): `fit = \"{}\"` needs both `width` and `height`", variant.name, variant.fit.name()));
            }
            if variant.quality.is_some_and(|q| q == 0 || q > 100) {
                problems.push(format!("{at} (`{}`): `quality` must be between 1 and 100", variant.name));
            }
            if variant.background.is_empty() || !variant.background.bytes().all(|b| b.is_ascii_alphanumeric()) {
                problems.push(format!("{at} (`{}`): `background` must be a colour name or six hex digits", variant.name));
            }
        }
        for (field, value) in [
            ("concurrency", self.concurrency as u64),
            ("variant_concurrency", self.variant_concurrency as u64),
            ("timeout_ms", self.timeout_ms),
            ("max_bytes", self.max_bytes as u64),
        ] {
            if value == 0 {
                problems.push(format!("`{field}` must be at least 1"));
            }
        }
        if self.concurrency > 10_000 || self.variant_concurrency > 10_000 {
            problems.push("`concurrency` and `variant_concurrency` must be at most 10000".to_owned());
        }
        problems
    }
}

/// The largest side a variant may ask for.
const MAX_SIDE: u32 = 16_384;
