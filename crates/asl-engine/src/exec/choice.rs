//! Choice rules: conditions evaluated against a Choice state's effective input.

use super::env::{assign_values, Env};
use super::Failure;
use crate::definition::{ChoiceRule, Cmp, Condition, Op, Operand, State};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

/// A JSONPath Choice state's decision on its effective input: the state to go to and the
/// variables its `Assign` and the matching rule's `Assign` set (not yet committed, as AWS
/// evaluates every Assign against the variables the state was entered with).
pub(super) fn choose(
    env: &Env,
    state: &State,
    rules: &[ChoiceRule],
    default: &Option<String>,
    eff: &Value,
) -> Result<(String, Option<Map<String, Value>>), Failure> {
    let mut chosen = None;
    for rule in rules {
        if eval_condition(env, &rule.condition, eff)? {
            chosen = Some(rule);
            break;
        }
    }
    let (next, rule_assign) = match (chosen, default) {
        (Some(r), _) => (r.next.clone(), r.assign.as_ref()),
        (None, Some(d)) => (d.clone(), None),
        (None, None) => {
            return Err(Failure::error(
                "States.NoChoiceMatched",
                format!("No Matches! at state '{}'", state.name),
            ))
        }
    };
    let mut new_vars = assign_values(env, &state.assign, eff)?;
    if let Some(a) = rule_assign {
        if let Value::Object(m) = env.template(a, eff)? {
            new_vars.get_or_insert_with(Map::new).extend(m);
        }
    }
    Ok((next, new_vars))
}

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
            if *op == Op::IsPresent {
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
            Ok(compare(*op, &value, &expected))
        }
    }
}

fn operand_literal(o: &Operand) -> &Value {
    match o {
        Operand::Literal(v) => v,
        Operand::Path(_) => &Value::Null,
    }
}

fn num_cmp(a: &Value, b: &Value) -> Option<Ordering> {
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

impl Cmp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Cmp::Equals => o == Ordering::Equal,
            Cmp::LessThan => o == Ordering::Less,
            Cmp::GreaterThan => o == Ordering::Greater,
            Cmp::LessThanEquals => o != Ordering::Greater,
            Cmp::GreaterThanEquals => o != Ordering::Less,
        }
    }
}

/// Whether `v` (the Variable) and `x` (the operand) satisfy `op`. Operands of the wrong type
/// make a comparison false rather than an error, as AWS evaluates them.
fn compare(op: Op, v: &Value, x: &Value) -> bool {
    let want = x == &Value::Bool(true);
    match op {
        Op::String(c) => match (v, x) {
            (Value::String(a), Value::String(b)) => c.holds(a.cmp(b)),
            _ => false,
        },
        Op::StringMatches => match (v, x) {
            (Value::String(s), Value::String(p)) => string_matches(s, p),
            _ => false,
        },
        Op::Numeric(c) => num_cmp(v, x).is_some_and(|o| c.holds(o)),
        Op::Timestamp(c) => {
            let t = |val: &Value| val.as_str().and_then(crate::definition::parse_timestamp);
            match (t(v), t(x)) {
                (Some(a), Some(b)) => c.holds(a.cmp(&b)),
                _ => false,
            }
        }
        Op::BooleanEquals => matches!((v, x), (Value::Bool(a), Value::Bool(b)) if a == b),
        Op::IsNull => v.is_null() == want,
        // Decided in `eval_condition` before the Variable is read; were it asked here, the
        // Variable has been found.
        Op::IsPresent => want,
        Op::IsNumeric => v.is_number() == want,
        Op::IsString => v.is_string() == want,
        Op::IsBoolean => v.is_boolean() == want,
        Op::IsTimestamp => {
            v.as_str()
                .and_then(crate::definition::parse_timestamp)
                .is_some()
                == want
        }
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
