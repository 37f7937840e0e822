//! Writing a result into the state input at a ResultPath.

use super::{compact, member, member_mut, JsonPath, Segment};
use serde_json::Value;

/// Writes `value` at the reference path `path` inside a copy of `target`, creating missing
/// intermediate objects as the spec requires.
#[cfg(test)]
pub(crate) fn set_at(target: &Value, path: &JsonPath, value: Value) -> Result<Value, String> {
    check_set(target, path)?;
    let mut out = target.clone();
    set_in_place(&mut out, path, value);
    Ok(out)
}

/// Whether [`set_in_place`] can write at `path` in `target`, and if not, the error it fails
/// with. Checked apart, without touching `target`, so that a failed ResultPath leaves the state
/// input as it was for a retry or a Catch, and the error quotes it unchanged.
pub(crate) fn check_set(target: &Value, path: &JsonPath) -> Result<(), String> {
    let unable = || {
        format!(
            "Unable to apply ReferencePath {} to input {}",
            path.text,
            compact(target)
        )
    };
    // `None`: an object that the write itself creates, so any name fits and no index does.
    let mut cur = Some(target);
    let n = path.segments.len();
    for (i, seg) in path.segments.iter().enumerate() {
        let last = i + 1 == n;
        match seg {
            Segment::Name(name) => match cur {
                None => {}
                Some(Value::Null) if i > 0 => cur = None,
                Some(Value::Object(m)) if !last => cur = member(m, name),
                Some(Value::Object(_)) => {}
                Some(_) => return Err(unable()),
            },
            Segment::Index(idx) => {
                let Some(Value::Array(a)) = cur else {
                    return Err(unable());
                };
                let real = if *idx < 0 { a.len() as i64 + idx } else { *idx };
                let Some(slot) = usize::try_from(real).ok().and_then(|r| a.get(r)) else {
                    return Err(unable());
                };
                cur = Some(slot);
            }
            _ => return Err(format!("ResultPath {} is not a reference path", path.text)),
        }
    }
    Ok(())
}

/// Writes `value` at the reference path `path` in `target`, creating missing intermediate
/// objects as the spec requires. Call [`check_set`] first: on a path it refuses, this writes
/// nothing or part of the way.
pub(crate) fn set_in_place(target: &mut Value, path: &JsonPath, value: Value) {
    if path.segments.is_empty() {
        *target = value;
        return;
    }
    let mut cur = target;
    let n = path.segments.len();
    for (i, seg) in path.segments.iter().enumerate() {
        let last = i + 1 == n;
        match seg {
            Segment::Name(name) => {
                if cur.is_null() && i > 0 {
                    *cur = Value::Object(Default::default());
                }
                let Value::Object(m) = cur else { return };
                if last {
                    match member_mut(m, name) {
                        Some(slot) => *slot = value,
                        None => {
                            m.insert(name.clone(), value);
                        }
                    }
                    return;
                }
                cur = m
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Default::default()));
            }
            Segment::Index(idx) => {
                let Value::Array(a) = cur else { return };
                let real = if *idx < 0 { a.len() as i64 + idx } else { *idx };
                let Some(slot) = usize::try_from(real).ok().and_then(|r| a.get_mut(r)) else {
                    return;
                };
                if last {
                    *slot = value;
                    return;
                }
                cur = slot;
            }
            _ => return,
        }
    }
}
