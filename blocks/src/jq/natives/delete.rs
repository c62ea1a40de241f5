//! jq's `delpaths`, and so `del(f)`: every path is read on the input before anything is
//! removed, then the paths are removed from the last to the first, so that removing one
//! position of an array does not move the others (`del(.[1], .[2])` removes both). jaq's `del`
//! removes one path after the other, and fails when an earlier removal moved a later position
//! past the end.

use std::rc::Rc;

use jaq_core::Error;
use jaq_json::{Map, Val};
use jaq_std::ValT as _;

use super::format::type_name;
use super::update::MAX_PATH;

/// `value` without the paths `paths` (an array of arrays).
///
/// # Errors
/// jq's errors: `paths` or one of them not an array, a path longer than jq follows, a key that
/// cannot name a part of the value it meets.
pub(super) fn delpaths(value: Val, paths: &Val) -> Result<Val, Error<Val>> {
    let Val::Arr(paths) = paths else { return Err(Error::str("Paths must be specified as an array")) };
    let mut resolved = Vec::with_capacity(paths.len());
    for path in paths.iter() {
        let Val::Arr(path) = path else { return Err(Error::str("Path must be specified as an array")) };
        if path.len() > MAX_PATH {
            return Err(Error::str("Path too deep"));
        }
        if path.is_empty() {
            return Ok(Val::Null);
        }
        if let Some(mut path) = resolve(&value, path)? {
            // A slice is removed position by position, so that it sorts with the positions
            // other paths remove from the same array.
            match path.pop() {
                Some(Val::Obj(range)) => {
                    let (start, end) = range_of(&range);
                    resolved.extend((start..end).map(|at| path.iter().cloned().chain([Val::from(at as isize)]).collect::<Vec<_>>()));
                }
                Some(last) => {
                    path.push(last);
                    resolved.push(path);
                }
                None => {}
            }
        }
    }
    resolved.sort();
    resolved.dedup();
    resolved.into_iter().rev().try_fold(value, |value, path| delete(value, &path))
}

/// `path` with its positions made absolute on `value`; `None` when it reaches nothing.
fn resolve(value: &Val, path: &[Val]) -> Result<Option<Vec<Val>>, Error<Val>> {
    let mut out = Vec::with_capacity(path.len());
    let mut at = value;
    for (i, key) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let next = match (at, key) {
            (Val::Null, _) => return Ok(None),
            (Val::Obj(fields), Val::TStr(_) | Val::BStr(_)) => {
                out.push(key.clone());
                fields.get(key)
            }
            (Val::Arr(items), Val::Num(_)) => {
                let Some(n) = key.as_f64().filter(|n| !n.is_nan()) else { return Ok(None) };
                let n = n.floor();
                let n = if n < 0.0 { n + items.len() as f64 } else { n };
                if n < 0.0 || n >= items.len() as f64 {
                    return Ok(None);
                }
                out.push(Val::from(n as isize));
                items.get(n as usize)
            }
            (Val::Arr(items), Val::Obj(range)) if last => {
                let (start, end) = slice(range, items.len());
                out.push(Val::obj([(text("start"), Val::from(start as isize)), (text("end"), Val::from(end as isize))].into_iter().collect::<Map>()));
                return Ok(Some(out));
            }
            (container, key) => {
                return Err(Error::str(format!("Cannot delete field at {} index of {}", type_name(key), type_name(container))));
            }
        };
        match next {
            Some(next) => at = next,
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// The positions a slice `{"start": s, "end": e}` covers in an array of `len` items, as jq
/// rounds them: the start down, the end up, negative ones from the end.
fn slice(range: &Map, len: usize) -> (usize, usize) {
    let bound = |name: &str, round: fn(f64) -> f64, default: usize| match range.get(&text(name)).and_then(|v| v.as_f64()) {
        Some(n) if !n.is_nan() => {
            let n = round(n);
            let n = if n < 0.0 { n + len as f64 } else { n };
            n.clamp(0.0, len as f64) as usize
        }
        _ => default,
    };
    let start = bound("start", f64::floor, 0);
    (start, bound("end", f64::ceil, len).max(start))
}

/// The positions of a slice that [`resolve`] made absolute.
fn range_of(range: &Map) -> (usize, usize) {
    let at = |name: &str| range.get(&text(name)).and_then(|v| v.as_isize()).and_then(|i| usize::try_from(i).ok()).unwrap_or(0);
    (at("start"), at("end"))
}

fn delete(value: Val, path: &[Val]) -> Result<Val, Error<Val>> {
    let [key, rest @ ..] = path else { return Ok(value) };
    match value {
        Val::Obj(mut fields) => {
            let map = Rc::make_mut(&mut fields);
            if rest.is_empty() {
                map.shift_remove(key);
            } else if let Some(child) = map.get_mut(key) {
                *child = delete(std::mem::take(child), rest)?;
            }
            Ok(Val::Obj(fields))
        }
        Val::Arr(mut items) => {
            let list = Rc::make_mut(&mut items);
            match key {
                Val::Obj(range) => {
                    let (start, end) = slice(range, list.len());
                    list.drain(start..end);
                }
                _ => {
                    let at = key.as_isize().and_then(|i| usize::try_from(i).ok()).filter(|at| *at < list.len());
                    match at {
                        Some(at) if rest.is_empty() => {
                            list.remove(at);
                        }
                        Some(at) => list[at] = delete(std::mem::take(&mut list[at]), rest)?,
                        None => {}
                    }
                }
            }
            Ok(Val::Arr(items))
        }
        other => Ok(other),
    }
}

fn text(s: &str) -> Val {
    Val::utf8_str(s.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[isize]) -> Val {
        items.iter().map(|i| Val::from(*i)).collect()
    }

    fn paths(paths: &[&[isize]]) -> Val {
        paths.iter().map(|p| list(p)).collect()
    }

    #[test]
    fn positions_are_read_before_anything_moves() {
        let value = list(&[10, 11, 12, 13, 14]);
        assert_eq!(delpaths(value.clone(), &paths(&[&[1], &[3], &[1]])).unwrap().to_string(), "[10,12,14]");
        assert_eq!(delpaths(value.clone(), &paths(&[&[-1], &[0]])).unwrap().to_string(), "[11,12,13]");
        assert_eq!(delpaths(value, &paths(&[&[-9], &[7]])).unwrap().to_string(), "[10,11,12,13,14]");
    }

    #[test]
    fn bad_paths_are_jqs_errors() {
        assert!(delpaths(Val::Null, &Val::from(0_isize)).is_err());
        assert!(delpaths(Val::Null, &list(&[1])).is_err());
        assert_eq!(delpaths(list(&[1]), &paths(&[&[]])).unwrap().to_string(), "null");
    }
}
