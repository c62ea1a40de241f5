//! The definitions every jq program is compiled with: jaq's (`core`, `std`, `json`), then
//! runnel's prelude (`prelude.jq`), which brings jq 1.8's builtins that jaq lacks or defines
//! otherwise, and the natives both call.
//!
//! The prelude is jq where jq is fast enough; natives do what jq would do slowly or cannot
//! (module `update`: jq's updates; `delete`: jq's `delpaths`; `deep`: jq's errors for values too deep to walk; `index`: fractional positions; `arith`: `/` and `%`; `errors`: jq's wording
//! for caught errors; `text`: numbers in `tojson`, `tostring` and interpolation;
//! `format`: `@csv`, `@tsv`, `@base32`, `@base32d`, `tonumber`). A prelude definition that only adds a check to one of
//! jaq's natives calls it under a second name (`__jaq_...`, see [`RENAMED`]).

mod arith;
#[cfg(test)]
mod compat_tests;
mod deep;
mod delete;
mod errors;
mod format;
mod index;
mod text;
mod update;

use std::sync::OnceLock;

use jaq_core::box_iter::box_once;
use jaq_core::load::parse::Def;
use jaq_core::native::{Fun, v};
use jaq_core::{Exn, Native};
use jaq_json::Val;

use super::Data;

pub(super) use arith::{DIV, Operand, Order, REM, product, remainder, zero_divisor};
pub(super) use deep::{EQUAL, NOT_EQUAL, merge_too_deep};
pub(super) use errors::JQ_ERRORS;
pub(super) use index::{INDEX, SLICE_END, SLICE_START};
pub(super) use text::TOSTRING;
pub(super) use update::UPDATE;

/// runnel's prelude, in jq.
const PRELUDE: &str = include_str!("prelude.jq");

/// jaq's natives the prelude wraps, each with the second name it calls it by.
const RENAMED: [(&str, &str); 17] = [
    ("sort", "__jaq_sort"),
    ("contains", "__jaq_contains"),
    ("strflocaltime", "__jaq_strflocaltime"),
    ("fromjson", "__jaq_fromjson"),
    ("utf8bytelength", "__jaq_utf8bytelength"),
    ("bsearch", "__jaq_bsearch"),
    ("ltrimstr", "__jaq_ltrimstr"),
    ("rtrimstr", "__jaq_rtrimstr"),
    ("trim", "__jaq_trim"),
    ("ltrim", "__jaq_ltrim"),
    ("rtrim", "__jaq_rtrim"),
    ("implode", "__jaq_implode"),
    ("limit", "__jaq_limit"),
    ("skip", "__jaq_skip"),
    ("has", "__jaq_has"),
    ("mktime", "__jaq_mktime"),
    ("strftime", "__jaq_strftime"),
];

/// The definitions of jq's library, in the order they are loaded: jaq's, then the prelude.
pub(super) fn defs() -> impl Iterator<Item = Def> {
    jaq_defs().chain(prelude_defs())
}

/// jaq's definitions.
pub(super) fn jaq_defs() -> impl Iterator<Item = Def> {
    jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs())
}

/// runnel's prelude.
pub(super) fn prelude_defs() -> impl Iterator<Item = Def> {
    jaq_core::load::parse(PRELUDE, |p| p.defs()).unwrap_or_else(|| unreachable!("the prelude parses (see its test)")).into_iter()
}

/// jaq's natives, those of [`RENAMED`] a second time under their second name, and runnel's.
pub(super) fn funs() -> Vec<Fun<Data>> {
    let jaq = || jaq_core::funs::<Data>().chain(jaq_std::funs::<Data>()).chain(jaq_json::funs::<Data>());
    let renamed = jaq().filter_map(|(name, args, native)| RENAMED.iter().find(|(from, _)| *from == name).map(|(_, to)| (*to, args, native)));
    let ours = [
        update::update(),
        format_native(),
        tonumber(),
        delpaths(),
        builtins(),
        errors::jq_errors(),
        parse_depth(),
        writers().0,
        writers().1,
        length(),
    ];
    jaq().chain(renamed).chain(ours).chain(index::funs()).chain(arith::funs()).chain(deep::funs()).chain([update::path_keys()]).collect()
}

/// `__runnel_format($name)`: the input in jq's format `@name` (see `format`).
fn format_native() -> Fun<Data> {
    let native = Native::<Data>::new(|mut cv| {
        let name = cv.0.pop_var();
        let name = match &name {
            Val::TStr(bytes) | Val::BStr(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
        box_once(format::format(&cv.1, &name).map_err(Exn::from))
    });
    ("__runnel_format", v(1), native)
}

/// jq's `tojson` and `tostring` (module `text`).
fn writers() -> (Fun<Data>, Fun<Data>) {
    let tojson = Native::<Data>::new(|cv| box_once(Ok(Val::utf8_str(text::tojson(&cv.1).into_bytes()))));
    let tostring = Native::<Data>::new(|cv| box_once(Ok(text::tostring(cv.1))));
    ((text::TOJSON, v(0), tojson), (text::TOSTRING, v(0), tostring))
}

/// `__runnel_length`: jq's `length`, which is jaq's except that a number literal beyond the
/// float range (`1E+1000`) keeps its digits, as `abs` keeps them, where jaq's makes it a float.
fn length() -> Fun<Data> {
    ("__runnel_length", v(0), Native::<Data>::new(|cv| box_once(length_of(cv.1).map_err(Exn::from))))
}

/// What `length` gives for `value`: 0 for `null`, the absolute value of a number, the
/// characters of a string, the elements of an array or object; an error for a boolean.
fn length_of(value: Val) -> Result<Val, jaq_core::Error<Val>> {
    use jaq_json::Num;
    Ok(match &value {
        Val::Null => Val::from(0_isize),
        Val::Bool(_) => return Err(jaq_core::Error::str(format!("{value} has no length"))),
        Val::Num(Num::Int(i)) => match i.checked_abs() {
            Some(abs) => Val::from(abs),
            None => (-value)?,
        },
        Val::Num(number) => {
            let float = jaq_std::ValT::as_f64(&value).unwrap_or(f64::NAN);
            match number {
                Num::Dec(_) if float.is_infinite() && float < 0.0 => (-value)?,
                Num::Dec(_) if float.is_infinite() => value,
                Num::BigInt(_) if float < 0.0 => (-value)?,
                Num::BigInt(_) => value,
                _ => Val::from(float.abs()),
            }
        }
        // Invalid UTF-8 counts as jaq counts it, a replacement character per bad sequence.
        Val::TStr(text) => Val::from(std::str::from_utf8(text).map_or_else(|_| String::from_utf8_lossy(text).chars().count(), |s| s.chars().count())),
        Val::BStr(bytes) => Val::from(bytes.len()),
        Val::Arr(items) => Val::from(items.len()),
        Val::Obj(fields) => Val::from(fields.len()),
    })
}

/// `__runnel_tonumber`: jq's `tonumber`.
fn tonumber() -> Fun<Data> {
    ("__runnel_tonumber", v(0), Native::<Data>::new(|cv| box_once(format::tonumber(&cv.1).map_err(Exn::from))))
}

/// `__runnel_delpaths($paths)`: jq's `delpaths`.
fn delpaths() -> Fun<Data> {
    let native = Native::<Data>::new(|mut cv| {
        let paths = cv.0.pop_var();
        box_once(delete::delpaths(cv.1, &paths).map_err(Exn::from))
    });
    ("__runnel_delpaths", v(1), native)
}

/// How deeply a JSON text `fromjson` reads may nest, as jq's parser allows: past it, the text
/// is refused before jaq's parser, which recurses once per level, reads it.
const MAX_PARSE_DEPTH: usize = 10_000;

/// `__runnel_parse_depth`: its input, or jq's error when that is a string nesting brackets
/// deeper than [`MAX_PARSE_DEPTH`].
fn parse_depth() -> Fun<Data> {
    let native = Native::<Data>::new(|cv| {
        if let Val::TStr(bytes) | Val::BStr(bytes) = &cv.1 {
            if format::nesting(bytes) > MAX_PARSE_DEPTH {
                return box_once(Err(Exn::from(jaq_core::Error::str("Exceeds depth limit for parsing"))));
            }
        }
        box_once(Ok(cv.1))
    });
    ("__runnel_parse_depth", v(0), native)
}

/// `__runnel_builtins`: jq's `builtins`, every public definition as `name/arity`.
fn builtins() -> Fun<Data> {
    ("__runnel_builtins", v(0), Native::<Data>::new(|_| box_once(Ok(names().iter().map(|name| Val::utf8_str(name.clone().into_bytes())).collect()))))
}

/// The names of the library's definitions and natives, without runnel's and jaq's own helpers
/// (starting with `_`) and formats (`@csv`).
fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let defs = defs().map(|def| (def.name, def.args.len()));
        let natives = funs().into_iter().map(|(name, args, _)| (name, args.len()));
        let mut names: Vec<String> =
            defs.chain(natives).filter(|(name, _)| !name.starts_with(['_', '@'])).map(|(name, arity)| format!("{name}/{arity}")).collect();
        names.sort();
        names.dedup();
        names
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_parses_and_its_wrapped_natives_exist() {
        assert!(jaq_core::load::parse(PRELUDE, |p| p.defs()).is_some());
        let funs = funs();
        for (_, renamed) in RENAMED {
            assert!(funs.iter().any(|(name, _, _)| *name == renamed), "{renamed}");
        }
    }

    #[test]
    fn builtins_are_public_names_with_their_arity() {
        let names = names();
        for name in ["map/1", "IN/2", "tostream/0", "limit/2", "ltrimstr/1"] {
            assert!(names.iter().any(|n| n == name), "{name}");
        }
        assert!(names.iter().all(|n| !n.starts_with('_')));
    }
}
