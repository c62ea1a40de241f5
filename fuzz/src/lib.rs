//! runnel's fuzzing: the seed corpus of each fuzz target and the proptest pieces the targets
//! share. A dev-dependency of the crates whose code is fuzzed.
//!
//! The targets are property tests beside the code they test, named `fuzz`, so that
//! `cargo test fuzz` runs them all: the pipeline-file parser (`tests/fuzz.rs`), the NDJSON
//! decoder (`connectors/src/ndjson/fuzz.rs`) and the jq fast path (`blocks/src/jq/fast/fuzz.rs`).
//! They run in the normal test suite with a bounded number of cases, as `cargo fuzz` needs a
//! nightly toolchain that CI does not have.
//!
//! # Layout
//!
//! - `corpus/<target>/`: seed inputs, one per file, read by [`corpus`]. Each target runs every
//!   seed first, then [`mutated`] seeds besides inputs generated from its own grammar. A failure
//!   worth keeping whole, or an input that reaches code nothing else does, belongs here.
//! - `proptest-regressions/<target>.txt`: the seeds of cases that failed once, which proptest
//!   writes on a failure and runs again first on every run (see [`config`]). Commit them.
//! - [`config`]: how many cases a target runs, `PROPTEST_CASES` overriding its default.
//! - [`mutated`]: byte-level mutations of seeds, as a fuzzer makes them.
//!
//! # Known bugs the targets skip
//!
//! Each is marked `TODO(<name>)` where it is skipped; fixing one means dropping its skip.
//!
//! **jaq length overflow** (jaq-core 3.1): `length` of -2^63 panics in a debug build (see the
//! fast path's module docs). The jq target keeps -2^63 out of its inputs.
//!
//! Not skipped but known: jaq-std 3.0's time functions (`gmtime`, `todate`, `strftime`…) turn
//! seconds into microseconds with a 64-bit multiplication, which overflows past about
//! 9.2 × 10^12 seconds: `9223372036854775807 | gmtime` panics in a debug build, which fails the
//! message (`JqError::Internal`, as any panic inside jaq), and gives a wrong date in a release
//! build. Likewise `mktime` adds 1 to the month in 8 bits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence};

/// One seed input: its file name and bytes.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The file's name in `corpus/<target>/`.
    pub name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
}

/// The folder of `target`'s seed corpus.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target)
}

/// Every seed of `target`, sorted by name.
///
/// # Panics
/// When the folder cannot be read or holds no seeds: a target without a corpus is a mistake.
pub fn corpus(target: &str) -> Vec<Seed> {
    let dir = corpus_dir(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut seeds: Vec<Seed> = entries
        .map(|entry| entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())).path())
        .filter(|path| path.is_file())
        .map(|path| Seed {
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
        })
        .collect();
    assert!(!seeds.is_empty(), "{} holds no seeds", dir.display());
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    seeds
}

/// proptest's configuration for `target`: `PROPTEST_CASES` cases if set, else `default_cases`
/// (chosen so that the target runs in seconds in a debug build), and failures saved to
/// `proptest-regressions/<target>.txt`.
pub fn config(target: &str, default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default_cases);
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("proptest-regressions").join(format!("{target}.txt"));
    // `Direct` wants a path for the life of the program, as the test's configuration has.
    let regressions: &'static str = regressions.to_string_lossy().into_owned().leak();
    Config { cases, failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))), ..Config::default() }
}

/// Tokens that break parsers when inserted anywhere: line ends, quotes and brackets, a
/// byte-order mark, bytes that are not UTF-8, an escaped lone surrogate, numbers that do not fit.
pub const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\r",
    b"\"",
    b"'",
    b"\\",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b" ",
    b"\t",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xFF",
    b"\xC3",
    b"\xED\xA0\x80",
    b"\\ud800",
    b"\\u0000",
    b"1e400",
    b"-0",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"99999999999999999999999999999999",
    b"0.1e-400",
    b"NaN",
];

/// One change to an input.
#[derive(Clone, Debug)]
enum Mutation {
    /// Flips one bit of a byte.
    Flip(Index, u8),
    /// Inserts a token (of the target's or of [`TOKENS`]) or arbitrary bytes.
    Insert(Index, Vec<u8>),
    /// Removes up to this many bytes.
    Remove(Index, usize),
    /// Repeats a piece of the input in place, for long lines and deep nesting.
    Repeat(Index, usize, usize),
    /// Inserts a piece of another seed.
    Splice(Index, Index, Index, usize),
    /// Cuts the input short.
    Truncate(Index),
}

/// Seeds changed by one to four mutations: bit flips, insertions of `tokens` (the target's
/// own, besides [`TOKENS`]), removals, repeated pieces, pieces of other seeds, truncations.
/// proptest shrinks a failing input towards fewer and smaller changes.
pub fn mutated(seeds: &[Seed], tokens: &'static [&'static [u8]]) -> BoxedStrategy<Vec<u8>> {
    let seeds: Arc<Vec<Vec<u8>>> = Arc::new(seeds.iter().map(|seed| seed.bytes.clone()).collect());
    let token = prop_oneof![proptest::sample::select(TOKENS), proptest::sample::select(tokens)].prop_map(<[u8]>::to_vec);
    let insert = prop_oneof![3 => token, 1 => vec(any::<u8>(), 1..8)];
    let mutation = prop_oneof![
        2 => (any::<Index>(), 0..8_u8).prop_map(|(at, bit)| Mutation::Flip(at, bit)),
        4 => (any::<Index>(), insert).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        2 => (any::<Index>(), 1..16_usize).prop_map(|(at, len)| Mutation::Remove(at, len)),
        1 => (any::<Index>(), 1..8_usize, prop_oneof![2..20_usize, 20..3000_usize]).prop_map(|(at, len, times)| Mutation::Repeat(at, len, times)),
        2 => (any::<Index>(), any::<Index>(), any::<Index>(), 1..200_usize).prop_map(|(at, seed, from, len)| Mutation::Splice(at, seed, from, len)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ];
    let pick = any::<Index>();
    (pick, vec(mutation, 1..=4))
        .prop_map(move |(pick, mutations)| {
            let mut input = seeds[pick.index(seeds.len())].clone();
            for mutation in &mutations {
                apply(&mut input, mutation, &seeds);
            }
            input
        })
        .boxed()
}

/// A position in `input`, from 0 to its length.
fn at(index: &Index, input: &[u8]) -> usize {
    index.index(input.len() + 1)
}

fn apply(input: &mut Vec<u8>, mutation: &Mutation, seeds: &[Vec<u8>]) {
    match mutation {
        Mutation::Flip(index, bit) => {
            if !input.is_empty() {
                let at = index.index(input.len());
                input[at] ^= 1 << bit;
            }
        }
        Mutation::Insert(index, bytes) => {
            let at = at(index, input);
            input.splice(at..at, bytes.iter().copied());
        }
        Mutation::Remove(index, len) => {
            let at = at(index, input);
            input.drain(at..(at + len).min(input.len()));
        }
        Mutation::Repeat(index, len, times) => {
            let at = at(index, input);
            let piece = input[at..(at + len).min(input.len())].to_vec();
            input.splice(at..at, piece.repeat(*times));
        }
        Mutation::Splice(index, seed, from, len) => {
            let other = &seeds[seed.index(seeds.len())];
            let from = from.index(other.len() + 1);
            let piece = &other[from..(from + len).min(other.len())];
            let at = at(index, input);
            input.splice(at..at, piece.iter().copied());
        }
        Mutation::Truncate(index) => input.truncate(at(index, input)),
    }
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    #[test]
    fn every_target_has_a_corpus() {
        for target in ["pipeline", "ndjson", "jq"] {
            assert!(corpus(target).iter().all(|seed| !seed.name.is_empty()), "{target}");
        }
    }

    #[test]
    fn mutations_change_seeds_and_stay_near_their_size() {
        let seeds = [Seed { name: "a".into(), bytes: b"{\"a\": [1, 2]}".to_vec() }, Seed { name: "b".into(), bytes: Vec::new() }];
        let strategy = mutated(&seeds, &[b"x"]);
        let mut runner = TestRunner::deterministic();
        let inputs: Vec<Vec<u8>> = (0..200).map(|_| strategy.new_tree(&mut runner).expect("generates").current()).collect();
        assert!(inputs.iter().filter(|input| input.as_slice() != seeds[0].bytes.as_slice() && !input.is_empty()).count() > 100);
        assert!(inputs.iter().all(|input| input.len() < 100_000), "four repeats of at most 8 × 3000 bytes");
    }

    #[test]
    fn cases_come_from_the_environment_or_the_default() {
        let expected = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(7);
        assert_eq!(config("jq", 7).cases, expected);
    }
}
