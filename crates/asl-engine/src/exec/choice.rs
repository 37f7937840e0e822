//! Choice rules: conditions evaluated against a Choice state's effective input.

use super::env::Env;
use super::Failure;
use crate::definition::{Condition, Operand};
use serde_json::Value;
use std::borrow::Cow;

pub(super) fn eval_condition(env: &Env, c: &Condition, input: &Value) -> Result<bool, Failure> {
    match c {
        Condition::And(cs) => {
            for x in cs {
                if !eval_condition(env, x, input)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Condition::Or(cs) => {
            for x in cs {
                if eval_condition(env, x, input)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Condition::Not(x) => Ok(!eval_condition(env, x, input)?),
        Condition::Test {
            variable,
            op,
            operand,
        } => {
            let value = env.resolve_ref(variable, input);
            if *op == "IsPresent" {
                return Ok(value.is_ok() == (operand_literal(operand) == &Value::Bool(true)));
            }
            let value = value.map_err(|m| {
                env.st
                    .runtime(format!("Invalid path '{}' : {m}", variable.text))
            })?;
            let expected = match operand {
                Operand::Literal(v) => Cow::Borrowed(v),
                Operand::Path(p) => env
                    .resolve_ref(p, input)
                    .map_err(|m| env.st.runtime(format!("Invalid path '{}' : {m}", p.text)))?,
            };
            Ok(compare(op, &value, &expected))
        }
    }
}

fn operand_literal(o: &Operand) -> &Value {
    match o {
        Operand::Literal(v) => v,
        Operand::Path(_) => &Value::Null,
    }
}

fn num_cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    let (Value::Number(x), Value::Number(y)) = (a, b) else {
        return None;
    };
    if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
        return Some(i.cmp(&j));
    }
    x.as_f64()?.partial_cmp(&y.as_f64()?)
}

fn string_matches(s: &str, pattern: &str) -> bool {
    // Pattern tokens: literal chars and `*`; `\*` and `\\` are literals.
    let mut toks: Vec<Option<char>> = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => toks.push(Some(e)),
                None => toks.push(Some('\\')),
            },
            '*' => toks.push(None),
            c => toks.push(Some(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // Classic wildcard matching with backtracking over the last star.
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < toks.len() && toks[pi] == Some(s[si]) {
            si += 1;
            pi += 1;
        } else if pi < toks.len() && toks[pi].is_none() {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < toks.len() && toks[pi].is_none() {
        pi += 1;
    }
    pi == toks.len()
}

fn compare(op: &str, v: &Value, x: &Value) -> bool {
    use std::cmp::Ordering::*;
    let ord_ok = |o: Option<std::cmp::Ordering>, suffix: &str| -> bool {
        let Some(o) = o else { return false };
        match suffix {
            "Equals" => o == Equal,
            "LessThan" => o == Less,
            "GreaterThan" => o == Greater,
            "LessThanEquals" => o != Greater,
            "GreaterThanEquals" => o != Less,
            _ => false,
        }
    };
    if let Some(suffix) = op.strip_prefix("String") {
        if suffix == "Matches" {
            return match (v, x) {
                (Value::String(s), Value::String(p)) => string_matches(s, p),
                _ => false,
            };
        }
        return match (v, x) {
            (Value::String(a), Value::String(b)) => ord_ok(Some(a.cmp(b)), suffix),
            _ => false,
        };
    }
    if let Some(suffix) = op.strip_prefix("Numeric") {
        return ord_ok(num_cmp(v, x), suffix);
    }
    if let Some(suffix) = op.strip_prefix("Timestamp") {
        let t = |val: &Value| val.as_str().and_then(crate::definition::parse_timestamp);
        return match (t(v), t(x)) {
            (Some(a), Some(b)) => ord_ok(Some(a.cmp(&b)), suffix),
            _ => false,
        };
    }
    let want = x == &Value::Bool(true);
    match op {
        "BooleanEquals" => matches!((v, x), (Value::Bool(a), Value::Bool(b)) if a == b),
        "IsNull" => v.is_null() == want,
        "IsNumeric" => v.is_number() == want,
        "IsString" => v.is_string() == want,
        "IsBoolean" => v.is_boolean() == want,
        "IsTimestamp" => {
            v.as_str()
                .and_then(crate::definition::parse_timestamp)
                .is_some()
                == want
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_matches_wildcards_and_escapes() {
        assert!(string_matches("Saga.Transient", "Saga.*"));
        assert!(string_matches("log.txt", "*.txt"));
        assert!(!string_matches("log.txt", "*.csv"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(string_matches("abc", "*"));
        assert!(string_matches("", "*"));
        assert!(string_matches("xaybz", "*a*b*"));
    }
}
