//! The shards of a stream and their parents: which shards may be read now. A shard created by
//! resharding is read only once every parent it has is finished (read to its end, and every
//! record of it acknowledged), so that each partition key's records stay in order across a split
//! or a merge. Parents no longer listed (past the stream's retention) count as finished.

use std::collections::{BTreeMap, BTreeSet};

use super::client::ShardInfo;

/// A shard's parents, from `ParentShardId` and `AdjacentParentShardId`.
pub(crate) fn parents(shard: &ShardInfo) -> Vec<String> {
    shard.parent_shard_id.iter().chain(shard.adjacent_parent_shard_id.iter()).cloned().collect()
}

/// The shards that may start now: listed, not started yet, and every listed parent finished.
pub(crate) fn ready<'a>(listed: &'a BTreeMap<String, Vec<String>>, started: &BTreeSet<String>, finished: &BTreeSet<String>) -> Vec<&'a str> {
    listed
        .iter()
        .filter(|(id, _)| !started.contains(*id) && !finished.contains(*id))
        .filter(|(_, parents)| parents.iter().all(|parent| finished.contains(parent) || !listed.contains_key(parent)))
        .map(|(id, _)| id.as_str())
        .collect()
}

/// The number in a shard id (`shardId-000000000003` is 3), for the messages' origin.
pub(crate) fn index(shard_id: &str) -> Option<i32> {
    shard_id.rsplit('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(shards: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        shards.iter().map(|(id, parents)| ((*id).to_owned(), parents.iter().map(|p| (*p).to_owned()).collect())).collect()
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    #[test]
    fn children_wait_for_every_parent_to_finish() {
        // 0 split into 2 and 3; then 1 and 2 merged into 4.
        let shards = listed(&[("s0", &[]), ("s1", &[]), ("s2", &["s0"]), ("s3", &["s0"]), ("s4", &["s1", "s2"])]);
        assert_eq!(ready(&shards, &set(&[]), &set(&[])), ["s0", "s1"]);
        assert_eq!(ready(&shards, &set(&["s0", "s1"]), &set(&[])), Vec::<&str>::new());
        assert_eq!(ready(&shards, &set(&["s1"]), &set(&["s0"])), ["s2", "s3"]);
        assert_eq!(ready(&shards, &set(&["s2", "s3"]), &set(&["s0", "s1"])), Vec::<&str>::new(), "s4 also waits for s2");
        assert_eq!(ready(&shards, &set(&["s3"]), &set(&["s0", "s1", "s2"])), ["s4"]);
    }

    #[test]
    fn a_parent_past_retention_does_not_hold_its_children() {
        let shards = listed(&[("s2", &["s0"]), ("s3", &["s0"])]);
        assert_eq!(ready(&shards, &set(&[]), &set(&[])), ["s2", "s3"]);
    }

    #[test]
    fn shard_ids_end_with_their_number() {
        assert_eq!(index("shardId-000000000003"), Some(3));
        assert_eq!(index("shardId-000000000120"), Some(120));
        assert_eq!(index("odd"), None);
    }
}
