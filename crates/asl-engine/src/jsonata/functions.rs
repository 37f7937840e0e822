//! The functions Step Functions adds to JSONata (`$partition`, `$range`, `$hash`, `$random`,
//! `$uuid`, `$parse`), and `$eval`, which it takes away.

use jlens_core::{Bindings, Error, HostFunction};
use serde_json::{json, Value};

/// A function as written here: its arguments (`None` for undefined), its result.
type Function = fn(&[Option<Value>]) -> Result<Option<Value>, Error>;

/// An error a function raises, shown as `<code>: <message>` in the cause.
fn fail(code: &str, message: impl Into<String>) -> Error {
    Error::new(code).with("message", message.into())
}

fn arg(args: &[Option<Value>], i: usize) -> Option<&Value> {
    args.get(i).and_then(Option::as_ref)
}

fn integer(v: Option<&Value>, function: &str, what: &str) -> Result<i64, Error> {
    match v.and_then(Value::as_f64) {
        Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(n as i64),
        _ => Err(fail(
            "States.QueryEvaluationError",
            format!("The {what} argument of ${function} must be an integer"),
        )),
    }
}

/// `$partition(array, size)`: chunks of `size`, the last one shorter.
fn partition(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let Some(Value::Array(items)) = arg(args, 0) else {
        return Err(fail(
            "States.QueryEvaluationError",
            "The first argument of $partition must be an array",
        ));
    };
    let size = integer(arg(args, 1), "partition", "second")?;
    if size <= 0 {
        return Err(fail(
            "States.QueryEvaluationError",
            "The second argument of $partition must be a positive integer",
        ));
    }
    Ok(Some(Value::Array(
        items
            .chunks(size as usize)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    )))
}

/// At most this many numbers from one `$range`, as for `States.ArrayRange`.
const MAX_RANGE: usize = 1000;

/// `$range(start, end, step)`: `end` included when reached. AWS gives it back as a JSONata
/// sequence, so one number comes back bare rather than in an array.
fn range(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let start = integer(arg(args, 0), "range", "first")?;
    let end = integer(arg(args, 1), "range", "second")?;
    let step = integer(arg(args, 2), "range", "third")?;
    if step == 0 {
        return Err(fail(
            "States.QueryEvaluationError",
            "The step of $range must not be 0",
        ));
    }
    let mut out = Vec::new();
    let mut n = start;
    while (step > 0 && n <= end) || (step < 0 && n >= end) {
        if out.len() == MAX_RANGE {
            return Err(fail(
                "States.QueryEvaluationError",
                format!("$range would give more than {MAX_RANGE} numbers"),
            ));
        }
        out.push(json!(n));
        n += step;
    }
    Ok(match out.len() {
        0 => None,
        1 => out.pop(),
        _ => Some(Value::Array(out)),
    })
}

/// `$hash(data, algorithm)`: the lowercase hex digest of the UTF-8 text.
fn hash(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    use sha2::Digest;
    let Some(Value::String(data)) = arg(args, 0) else {
        return Err(fail(
            "States.QueryEvaluationError",
            "The first argument of $hash must be a string",
        ));
    };
    let algorithm = arg(args, 1).and_then(Value::as_str).unwrap_or_default();
    let bytes = data.as_bytes();
    let digest = match algorithm {
        "MD5" => hex(&md5::Md5::digest(bytes)),
        "SHA-1" => hex(&sha1::Sha1::digest(bytes)),
        "SHA-256" => hex(&sha2::Sha256::digest(bytes)),
        "SHA-384" => hex(&sha2::Sha384::digest(bytes)),
        "SHA-512" => hex(&sha2::Sha512::digest(bytes)),
        other => {
            return Err(fail(
                "States.QueryEvaluationError",
                format!(
                "The hash algorithm '{other}' is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
            ),
            ))
        }
    };
    Ok(Some(Value::String(digest)))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `$random()` or `$random(seed)`: a number in [0, 1). A seeded call gives the first number of
/// a `java.util.Random` seeded so, the generator of the JVM that runs Step Functions, so that
/// the same seed gives the same number on every run.
fn random(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let n = match arg(args, 0) {
        None => rand::random::<f64>(),
        Some(seed) => java_next_double(integer(Some(seed), "random", "seed")?),
    };
    Ok(Some(json!(n)))
}

fn java_next_double(seed: i64) -> f64 {
    const MULTIPLIER: i64 = 0x5DEE_CE66D;
    const MASK: i64 = (1 << 48) - 1;
    let mut state = (seed ^ MULTIPLIER) & MASK;
    let mut next = |bits: u32| {
        state = state.wrapping_mul(MULTIPLIER).wrapping_add(0xB) & MASK;
        state >> (48 - bits)
    };
    let high = next(26);
    let low = next(27);
    ((high << 27) + low) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn uuid(_args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    Ok(Some(Value::String(uuid::Uuid::new_v4().to_string())))
}

/// `$parse(text)`: the JSON value of a string.
fn parse(args: &[Option<Value>]) -> Result<Option<Value>, Error> {
    let Some(Value::String(text)) = arg(args, 0) else {
        return Err(fail(
            "States.QueryEvaluationError",
            "The argument of $parse must be a string",
        ));
    };
    serde_json::from_str::<Value>(text)
        .map(|v| Some(normalise_zero(v)))
        .map_err(|e| {
            fail(
                "States.QueryEvaluationError",
                format!("$parse could not parse its argument as JSON: {e}"),
            )
        })
}

/// JSON has no negative zero worth keeping: `"-0"` parses to `0`, as AWS returns it.
fn normalise_zero(v: Value) -> Value {
    match v {
        Value::Number(n) if n.as_f64() == Some(0.0) => json!(0),
        other => other,
    }
}

pub(super) fn bindings() -> Bindings {
    let f = |arity: usize, imp: Function| {
        HostFunction::new(arity, move |args, _| imp(args)).without_input()
    };
    Bindings::new()
        .function("partition", f(2, partition))
        .function("range", f(3, range))
        .function("hash", f(2, hash))
        .function("random", f(1, random))
        .function("uuid", f(0, uuid))
        .function("parse", f(1, parse))
        // Step Functions runs JSONata without $eval: calling it fails as any unknown function.
        .function(
            "eval",
            HostFunction::new(1, |_, _| Err(Error::new("T1006"))).without_input(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: Function, args: &[Value]) -> Value {
        let args: Vec<Option<Value>> = args.iter().cloned().map(Some).collect();
        f(&args).unwrap().unwrap_or(Value::Null)
    }

    #[test]
    fn range_includes_a_reached_end_and_collapses_one_number() {
        assert_eq!(
            call(range, &[json!(0), json!(10), json!(3)]),
            json!([0, 3, 6, 9])
        );
        assert_eq!(call(range, &[json!(1), json!(9), json!(9)]), json!(1));
        assert_eq!(
            call(range, &[json!(3), json!(0), json!(-1)]),
            json!([3, 2, 1, 0])
        );
    }

    #[test]
    fn partition_keeps_a_short_last_chunk() {
        assert_eq!(
            call(partition, &[json!([0, 1, 2]), json!(2)]),
            json!([[0, 1], [2]])
        );
        assert_eq!(call(partition, &[json!([0]), json!(1)]), json!([[0]]));
    }

    #[test]
    fn hash_is_lowercase_hex() {
        assert_eq!(
            call(hash, &[json!("input data"), json!("SHA-1")]),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
    }

    #[test]
    fn seeded_random_is_java_util_random() {
        // new java.util.Random(42).nextDouble()
        assert_eq!(java_next_double(42), 0.7275636800328681);
        assert_eq!(java_next_double(42), java_next_double(42));
    }

    #[test]
    fn parse_gives_json_values() {
        assert_eq!(call(parse, &[json!("-0")]), json!(0));
        assert_eq!(
            call(parse, &[json!("[1,{\"a\":true}]")]),
            json!([1, {"a": true}])
        );
    }
}
