//! The `image` block: the variants of an image (sizes, crops, formats) through an image
//! service, each measured from what the service delivered.
//!
//! - [`config`]: [`ImageConfig`] (where the image is, the variants, output, limits) and
//!   [`VariantConfig`].
//! - [`service`]: [`ServiceConfig`] (thumbor or Cloudinary) and the URL of each variant.
//! - [`thumbor`]: thumbor's URLs and their HMAC-SHA1 signatures.
//! - [`cloudinary`]: Cloudinary's transformations, delivery URLs and API signatures.
//! - `upload`: uploading bytes to thumbor or Cloudinary.
//! - [`fetch`]: fetching a variant and measuring it (dimensions and format from its header).
//! - [`metrics`]: the `runnel_image_*` families.
//! - [`block`]: the running block, an [`runnel_engine::AsyncFunctionBlock`].
//! - [`error`]: [`ImageError`], why a message failed.

pub mod block;
pub mod cloudinary;
pub mod config;
pub mod error;
pub mod fetch;
pub mod metrics;
pub mod service;
pub mod thumbor;
mod upload;

#[cfg(test)]
mod tests;

pub use block::ImageBlock;
pub use config::{FieldPath, Fit, Format, Gravity, ImageConfig, OutputMode, VariantConfig};
pub use error::ImageError;
pub use service::{CloudinaryConfig, Located, ServiceConfig, ThumborConfig};
