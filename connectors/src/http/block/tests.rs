//! Unit tests of the `http` block's pure parts: paths, answer formats, the cache, validation.
