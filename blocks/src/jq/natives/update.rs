//! Updates as jq makes them: `null` grows into the object or array a path needs, and an array
//! grows with `null`s up to a position past its end (`.a[2] = 1` on `null` is
//! `{"a": [null, null, 1]}`), where jaq refuses both.
//!
//! The instrumented program (module `instrument`) runs every update (`p |= f`, and `p = v`,
//! `p op= v`, `p //= v` for each `v`) through [`UPDATE`]. It first runs jaq's own update, which
//! costs nothing more when it succeeds. When that fails, the paths of `p` on the input show what
//! is missing: the input gets the containers and `null`s they need ([`vivify`]) and jaq's update
//! runs again on it. A failure the paths do not explain fails the same way the second time.

use std::cell::Cell;
use std::rc::Rc;

use jaq_core::box_iter::box_once;
use jaq_core::native::Fun;
use jaq_core::{Bind, Error, Exn, Native};
use jaq_json::{Map, Num, Val};

use super::super::Data;

/// The name of the update the instrumented program calls: `UPDATE(p; f)` is `p |= f`.
pub(in crate::jq) const UPDATE: &str = "__runnel_update";

/// The largest position jq lets an update write in an array.
const MAX_POSITION: usize = 536_870_911;

/// The longest path jq follows.
pub(super) const MAX_PATH: usize = 10_000;

/// [`UPDATE`] as a native filter.
pub(in crate::jq) fn update() -> Fun<Data> {
    let native = Native::<Data>::new(|mut cv| {
        let (f, f_ctx) = cv.0.pop_fun();
        let (path, path_ctx) = cv.0.pop_fun();
        let input = cv.1;
        // Whether `f` had no output for some path: jaq removes each such path at once.
        let emptied = Rc::new(Cell::new(false));
        let apply = |value: Val| {
            let (f, f_ctx, emptied) = (f, f_ctx.clone(), emptied.clone());
            path.update(
                (path_ctx.clone(), value),
                Box::new(move |v| {
                    let mut outputs = f.run((f_ctx.clone(), v)).peekable();
                    if outputs.peek().is_none() {
                        emptied.set(true);
                    }
                    Box::new(outputs)
                }),
            )
        };
        let paths = || -> Result<(Val, Vec<Vec<Val>>), Error<Val>> {
            let mut grown = input.clone();
            let mut all = Vec::new();
            for found in path.paths((path_ctx.clone(), (input.clone(), Default::default()))) {
                let Ok((_value, mut reversed)) = found else { break };
                let mut parts = Vec::new();
                while let Some((part, rest)) = reversed.pop() {
                    parts.push(part);
                    reversed = rest;
                }
                parts.reverse();
                grown = vivify(grown, &parts)?;
                all.push(parts);
            }
            Ok((grown, all))
        };
        let first_output = |v: Val| f.run((f_ctx.clone(), v)).next();
        let mut first = apply(input.clone());
        match first.next() {
            // An error: retried below. Anything else jaq raises (`halt`, a `break`) goes on.
            Some(Err(exn)) => match exn.get_err() {
                Ok(_) => {}
                Err(other) => return box_once(Err(other)),
            },
            // Paths removed: jaq removes each at once, and moves an object's last key into the
            // place of the removed one; jq removes them all at the end and keeps the order.
            Some(Ok(output)) if emptied.get() => {
                let again = paths().ok().filter(|(_, all)| !all.is_empty()).and_then(|(grown, all)| jq_update(grown, &all, first_output));
                return box_once(Ok(again.unwrap_or(output)));
            }
            Some(output) => return Box::new(std::iter::once(output).chain(first)),
            None => return first,
        }
        let (grown, all) = match paths() {
            Ok(found) => found,
            Err(error) => return box_once(Err(Exn::from(error))),
        };
        let mut second = apply(grown.clone());
        match second.next() {
            // jaq's one-by-one removal may fail where jq's succeeds.
            Some(Err(error)) if all.len() > 1 => box_once(jq_update(grown, &all, first_output).ok_or(error)),
            Some(output) => Box::new(std::iter::once(output).chain(second)),
            None => second,
        }
    });
    (UPDATE, Box::new([Bind::Fun(()), Bind::Fun(())]), native)
}

/// The name of the check `setpath($p; $v)` makes first: its input, or jq's error when `$p`
/// indexes an object along the way with a number (jaq would add the number as a key).
pub(in crate::jq) const PATH_KEYS: &str = "__runnel_path_keys";

/// [`PATH_KEYS`] as a native filter.
pub(in crate::jq) fn path_keys() -> Fun<Data> {
    let native = Native::<Data>::new(|mut cv| {
        let path = cv.0.pop_var();
        box_once(match object_indexed_with_number(&cv.1, &path) {
            Some(key) => Err(Exn::from(Error::str(format!("Cannot index object with number ({key})")))),
            None => Ok(cv.1),
        })
    });
    (PATH_KEYS, jaq_core::native::v(1), native)
}

/// The number `path` indexes an object with as it goes down `value`, if it does before it
/// leaves what `value` holds.
fn object_indexed_with_number<'v>(value: &Val, path: &'v Val) -> Option<&'v Val> {
    let Val::Arr(keys) = path else { return None };
    let mut at = value;
    for key in keys.iter() {
        at = match (at, key) {
            (Val::Obj(_), Val::Num(_)) => return Some(key),
            (Val::Obj(fields), Val::TStr(_) | Val::BStr(_)) => fields.get(key)?,
            (Val::Arr(items), Val::Num(n)) => items.get(position(n, items.len()).ok()??)?,
            _ => return None,
        };
    }
    None
}

/// `p |= f` as jq 1.8 runs it, on `value` already grown for `paths` (the paths of `p`): each
/// path's value replaced by the first output of `f`, the paths without one removed at the end.
/// `None` when a path cannot be read or written, or `f` fails.
fn jq_update<'a>(mut value: Val, paths: &[Vec<Val>], f: impl Fn(Val) -> Option<Result<Val, Exn<'a, Val>>>) -> Option<Val> {
    let mut removed = Vec::new();
    for path in paths {
        match f(get(&value, path)?) {
            Some(Ok(new)) => value = set(value, path, new)?,
            Some(Err(_)) => return None,
            None => removed.push(path.iter().cloned().collect::<Val>()),
        }
    }
    super::delete::delpaths(value, &removed.into_iter().collect()).ok()
}

/// The value at `path` (`null` past the end of what is there).
fn get(value: &Val, path: &[Val]) -> Option<Val> {
    let mut at = value.clone();
    for key in path {
        at = match (&at, key) {
            (Val::Null, _) => Val::Null,
            (Val::Obj(fields), Val::TStr(_) | Val::BStr(_)) => fields.get(key).cloned().unwrap_or_default(),
            (Val::Arr(items), Val::Num(n)) => position(n, items.len()).ok()?.and_then(|i| items.get(i).cloned()).unwrap_or_default(),
            _ => return None,
        };
    }
    Some(at)
}

/// `value` with `new` at `path`, which [`vivify`] has made room for.
fn set(value: Val, path: &[Val], new: Val) -> Option<Val> {
    let [key, rest @ ..] = path else { return Some(new) };
    match (value, key) {
        (Val::Obj(mut fields), Val::TStr(_) | Val::BStr(_)) => {
            let map = Rc::make_mut(&mut fields);
            let child = map.get(key).cloned().unwrap_or_default();
            map.insert(key.clone(), set(child, rest, new)?);
            Some(Val::Obj(fields))
        }
        (Val::Arr(mut items), Val::Num(n)) => {
            let at = position(n, items.len()).ok()??;
            let list = Rc::make_mut(&mut items);
            let child = std::mem::take(list.get_mut(at)?);
            list[at] = set(child, rest, new)?;
            Some(Val::Arr(items))
        }
        _ => None,
    }
}

/// `value` with the containers and positions `path` needs to be updated, as jq creates them:
/// `null` becomes `{}` before a string and `[]` before a number, an array grows with `null`s
/// to hold a position past its end. The value at the end of the path is left as it is.
///
/// # Errors
/// jq's errors for a negative position before the start of an array, a position past
/// [`MAX_POSITION`], an array as a key into an array and a path longer than [`MAX_PATH`].
pub(super) fn vivify(value: Val, path: &[Val]) -> Result<Val, Error<Val>> {
    if path.len() > MAX_PATH {
        return Err(Error::str("Path too deep"));
    }
    grow(value, path)
}

fn grow(value: Val, path: &[Val]) -> Result<Val, Error<Val>> {
    let [key, rest @ ..] = path else { return Ok(value) };
    let value = match (value, key) {
        (Val::Null, Val::TStr(_) | Val::BStr(_)) => Val::obj(Map::default()),
        (Val::Null, Val::Num(_)) => Val::Arr(Rc::default()),
        (value, _) => value,
    };
    match (value, key) {
        (Val::Arr(_), Val::Arr(_)) => Err(Error::str("Cannot update field at array index of array")),
        (Val::Obj(mut fields), Val::TStr(_) | Val::BStr(_)) if !rest.is_empty() => {
            let map = Rc::make_mut(&mut fields);
            let child = map.get(key).cloned().unwrap_or_default();
            map.insert(key.clone(), grow(child, rest)?);
            Ok(Val::Obj(fields))
        }
        (Val::Arr(mut items), Val::Num(n)) => {
            let Some(at) = position(n, items.len())? else { return Ok(Val::Arr(items)) };
            let items_mut = Rc::make_mut(&mut items);
            if at >= items_mut.len() {
                items_mut.resize(at + 1, Val::Null);
            }
            if !rest.is_empty() {
                let child = std::mem::take(&mut items_mut[at]);
                items_mut[at] = grow(child, rest)?;
            }
            Ok(Val::Arr(items))
        }
        (value, _) => Ok(value),
    }
}

/// Where the number `n` points in an array of `len` items, as jq reads it: a fraction rounds
/// down, a negative number counts from the end. `None` for NaN, which points nowhere.
fn position(n: &Num, len: usize) -> Result<Option<usize>, Error<Val>> {
    let n = match n {
        Num::Int(i) => *i as f64,
        other => jaq_std::ValT::as_f64(&Val::Num(other.clone())).unwrap_or(f64::NAN),
    };
    if n.is_nan() {
        return Ok(None);
    }
    let n = n.floor();
    let at = if n < 0.0 { n + len as f64 } else { n };
    if at < 0.0 {
        return Err(Error::str("Out of bounds negative array index"));
    }
    if at > MAX_POSITION as f64 {
        return Err(Error::str("Array index too large"));
    }
    Ok(Some(at as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(i: isize) -> Val {
        Val::from(i)
    }

    fn key(s: &str) -> Val {
        Val::utf8_str(s.as_bytes().to_vec())
    }

    #[test]
    fn null_grows_into_what_the_path_needs() {
        let grown = vivify(Val::Null, &[key("a"), num(2), key("b")]).unwrap();
        assert_eq!(grown.to_string(), r#"{"a":[null,null,{}]}"#);
    }

    #[test]
    fn paths_an_update_removes_are_removed_at_the_end() {
        let items: Val = (0..6).map(num).collect();
        let paths: Vec<Vec<Val>> = [4, 1, 2].into_iter().map(|i| vec![num(i)]).collect();
        let emptied = jq_update(items.clone(), &paths, |_| None).unwrap();
        assert_eq!(emptied.to_string(), "[0,3,5]");
        let doubled = jq_update(items, &paths, |v| Some(Ok(Val::from(jaq_std::ValT::as_isize(&v).unwrap() * 2)))).unwrap();
        assert_eq!(doubled.to_string(), "[0,2,4,3,8,5]");
    }

    #[test]
    fn positions_count_from_the_end_and_fail_before_the_start() {
        let items: Val = [num(1), num(2)].into_iter().collect();
        assert_eq!(vivify(items.clone(), &[num(-1)]).unwrap().to_string(), "[1,2]");
        assert_eq!(vivify(items.clone(), &[num(3)]).unwrap().to_string(), "[1,2,null,null]");
        assert_eq!(vivify(items, &[num(-3)]).unwrap_err().to_string(), Error::<Val>::str("Out of bounds negative array index").to_string());
    }
}
