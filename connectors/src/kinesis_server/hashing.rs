//! Routing: a partition key's hash key (MD5 of its UTF-8 bytes as a big-endian 128-bit number, as
//! AWS computes it), an `ExplicitHashKey` read and checked, and a stream's even split of the hash
//! keys over its shards (kinesalite's layout, which matches the layouts AWS creates).

use md5::{Digest, Md5};

/// The hash key of `partition_key`.
pub(crate) fn hash_key(partition_key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(partition_key.as_bytes()).into())
}

/// An `ExplicitHashKey` that has the right shape but is outside `[0, 2^128-1]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OutOfRange;

/// Reads an `ExplicitHashKey` already checked against `0|([1-9]\d{0,38})` ([`is_hash_key_text`]).
pub(crate) fn explicit_hash_key(text: &str) -> Result<u128, OutOfRange> {
    text.parse().map_err(|_| OutOfRange)
}

/// Whether `text` matches `0|([1-9]\d{0,38})`, the shape AWS validates before the range.
pub(crate) fn is_hash_key_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    match bytes {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.len() <= 38 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// The hash keys of shard `index` of `count`: `floor(2^128 / count)` each, the last one up to
/// `2^128 - 1`.
pub(crate) fn shard_range(index: u32, count: u32) -> (u128, u128) {
    let count = u128::from(count.max(1));
    if count == 1 {
        // 2^128 itself does not fit in a u128.
        return (0, u128::MAX);
    }
    // floor(2^128 / n), computed without 2^128: floor((2^128 - 1) / n), plus one when n divides 2^128.
    let step = u128::MAX / count + u128::from(u128::MAX % count == count - 1);
    let start = u128::from(index) * step;
    let end = if u128::from(index) + 1 == count { u128::MAX } else { start + step - 1 };
    (start, end)
}

/// The shard of `count` that takes hash key `key`.
pub(crate) fn shard_for(key: u128, count: u32) -> u32 {
    let count = count.max(1);
    (0..count).find(|&i| key <= shard_range(i, count).1).unwrap_or(count - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_route_as_aws_and_kinesalite_route_them() {
        let shards: Vec<u32> = ["a", "user-42", "1", "partitionKey-0"].iter().map(|k| shard_for(hash_key(k), 4)).collect();
        assert_eq!(shards, [0, 1, 3, 3]);
        assert_eq!(shard_range(1, 4).0, 85_070_591_730_234_615_865_843_651_857_942_052_864);
    }

    #[test]
    fn ranges_cover_every_hash_key_once() {
        for count in [1, 3, 4, 7, 10] {
            assert_eq!(shard_range(0, count).0, 0);
            assert_eq!(shard_range(count - 1, count).1, u128::MAX);
            for i in 1..count {
                assert_eq!(shard_range(i, count).0, shard_range(i - 1, count).1 + 1, "{count} shards");
            }
        }
        assert_eq!(shard_range(0, 3).1, u128::MAX / 3 - 1, "floor(2^128/3) - 1");
    }

    #[test]
    fn explicit_hash_keys_are_checked_for_shape_then_range() {
        assert!(is_hash_key_text("0") && is_hash_key_text("340282366920938463463374607431768211455"));
        assert!(!is_hash_key_text("01") && !is_hash_key_text("-1") && !is_hash_key_text("") && !is_hash_key_text("1a"));
        assert_eq!(explicit_hash_key("340282366920938463463374607431768211455"), Ok(u128::MAX));
        assert_eq!(explicit_hash_key("340282366920938463463374607431768211456"), Err(OutOfRange));
        assert_eq!(shard_for(0, 4), 0);
        assert_eq!(shard_for(u128::MAX, 4), 3);
    }
}
