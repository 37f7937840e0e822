//! Intrinsic functions (`States.Format(...)` and friends) of JSONPath mode.
//!
//! Calls are parsed once into a small tree and evaluated against a path resolver supplied by
//! the caller, so the same code serves payload templates, `Assign`, and Fail's
//! `ErrorPath`/`CausePath`. Edge cases (Java-style rendering in `States.Format`, half-up rounding
//! in `States.MathAdd`, character-set splitting in `States.StringSplit`) follow AWS recordings.

use crate::path::{compact, JsonPath};
use base64::Engine as _;
use serde_json::{Number, Value};

/// Escaped braces inside a string literal must not act as `States.Format` placeholders, so the
/// format form of a literal swaps them for private-use characters until rendering is done.
const OPEN_LIT: char = '\u{E000}';
const CLOSE_LIT: char = '\u{E001}';

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Str { value: String, format: String },
    Literal(Value),
    Path(JsonPath),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) name: String,
    pub(crate) args: Vec<Arg>,
}

/// How an intrinsic failed: a path that found nothing (reported like any template path miss)
/// or the function itself rejecting its arguments.
#[derive(Debug)]
pub(crate) enum IntrinsicError {
    Path(JsonPath),
    Function(String),
}

const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("States.Format", 1, usize::MAX),
    ("States.StringToJson", 1, 1),
    ("States.JsonToString", 1, 1),
    ("States.Array", 0, usize::MAX),
    ("States.ArrayPartition", 2, 2),
    ("States.ArrayContains", 2, 2),
    ("States.ArrayRange", 3, 3),
    ("States.ArrayGetItem", 2, 2),
    ("States.ArrayLength", 1, 1),
    ("States.ArrayUnique", 1, 1),
    ("States.Base64Encode", 1, 1),
    ("States.Base64Decode", 1, 1),
    ("States.Hash", 2, 2),
    ("States.JsonMerge", 3, 3),
    ("States.MathRandom", 2, 3),
    ("States.MathAdd", 2, 2),
    ("States.StringSplit", 2, 2),
    ("States.UUID", 0, 0),
];

pub(crate) fn looks_like_call(s: &str) -> bool {
    s.trim_start().starts_with("States.")
}

pub(crate) fn parse(text: &str) -> Result<Call, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    let call = p.call()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(format!(
            "Unexpected text after the intrinsic function call in '{text}'"
        ));
    }
    Ok(call)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn err(&self, what: &str) -> String {
        format!(
            "Invalid intrinsic function '{}': {what} at position {}",
            self.text, self.pos
        )
    }

    fn call(&mut self) -> Result<Call, String> {
        self.depth += 1;
        if self.depth > 10 {
            return Err(self.err("intrinsic functions nest at most 10 deep"));
        }
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'.')
        {
            self.pos += 1;
        }
        let name = self.text[start..self.pos].to_string();
        let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
            return Err(format!("Unsupported intrinsic function '{name}'"));
        };
        self.skip_ws();
        if self.s.get(self.pos) != Some(&b'(') {
            return Err(self.err("expected '('"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.s.get(self.pos) == Some(&b')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg()?);
                self.skip_ws();
                match self.s.get(self.pos) {
                    Some(b',') => self.pos += 1,
                    Some(b')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or ')'")),
                }
            }
        }
        if args.len() < min || args.len() > max {
            return Err(format!(
                "The intrinsic function {name} takes {} but was given {}",
                if min == max {
                    format!("{min} argument(s)")
                } else if max == usize::MAX {
                    format!("at least {min} argument(s)")
                } else {
                    format!("{min} to {max} arguments")
                },
                args.len()
            ));
        }
        self.depth -= 1;
        Ok(Call { name, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.s.get(self.pos) {
            Some(b'\'') => self.string(),
            Some(b'$') => {
                let start = self.pos;
                let mut depth = 0i32;
                let mut quote = false;
                while self.pos < self.s.len() {
                    let b = self.s[self.pos];
                    if quote {
                        if b == b'\'' {
                            quote = false;
                        }
                    } else if b == b'\'' {
                        quote = true;
                    } else if b == b'[' || b == b'(' {
                        depth += 1;
                    } else if b == b']' || (b == b')' && depth > 0) {
                        depth -= 1;
                    } else if depth == 0 && (b == b',' || b == b')' || b.is_ascii_whitespace()) {
                        break;
                    }
                    self.pos += 1;
                }
                let text = &self.text[start..self.pos];
                JsonPath::parse(text).map(Arg::Path)
            }
            Some(b'S') => self.call().map(Arg::Call),
            Some(_) => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && !matches!(self.s[self.pos], b',' | b')')
                    && !self.s[self.pos].is_ascii_whitespace()
                {
                    self.pos += 1;
                }
                let tok = &self.text[start..self.pos];
                match serde_json::from_str::<Value>(tok) {
                    Ok(v @ (Value::Number(_) | Value::Null | Value::Bool(_))) => {
                        Ok(Arg::Literal(v))
                    }
                    _ => Err(self.err(&format!("invalid argument '{tok}'"))),
                }
            }
            None => Err(self.err("unexpected end")),
        }
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1;
        let mut value = String::new();
        let mut format = String::new();
        let rest = &self.text[self.pos..];
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.pos += i + 1;
                    return Ok(Arg::Str { value, format });
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '\\'))) => {
                        value.push(e);
                        format.push(e);
                    }
                    Some((_, '{')) => {
                        value.push('{');
                        format.push(OPEN_LIT);
                    }
                    Some((_, '}')) => {
                        value.push('}');
                        format.push(CLOSE_LIT);
                    }
                    _ => return Err(self.err("invalid escape sequence in string literal")),
                },
                c => {
                    value.push(c);
                    format.push(c);
                }
            }
        }
        Err(self.err("unterminated string literal"))
    }
}

pub(crate) fn eval(
    call: &Call,
    resolve: &mut dyn FnMut(&JsonPath) -> Result<Value, String>,
) -> Result<Value, IntrinsicError> {
    let mut args = Vec::with_capacity(call.args.len());
    let mut formats = Vec::with_capacity(call.args.len());
    for a in &call.args {
        match a {
            Arg::Str { value, format } => {
                args.push(Value::String(value.clone()));
                formats.push(Some(format.clone()));
            }
            Arg::Literal(v) => {
                args.push(v.clone());
                formats.push(None);
            }
            Arg::Path(p) => {
                args.push(resolve(p).map_err(|_| IntrinsicError::Path(p.clone()))?);
                formats.push(None);
            }
            Arg::Call(c) => {
                args.push(eval(c, resolve)?);
                formats.push(None);
            }
        }
    }
    apply(&call.name, args, &formats).map_err(IntrinsicError::Function)
}

fn want_str<'a>(f: &str, v: &'a Value) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| {
        format!(
            "The function {f} expects a string argument but got {}",
            compact(v)
        )
    })
}

fn want_arr<'a>(f: &str, v: &'a Value) -> Result<&'a Vec<Value>, String> {
    v.as_array().ok_or_else(|| {
        format!(
            "The function {f} expects an array argument but got {}",
            compact(v)
        )
    })
}

fn want_int(f: &str, v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                    .map(|x| x as i64)
            })
            .ok_or_else(|| format!("The function {f} expects an integer argument but got {n}")),
        other => Err(format!(
            "The function {f} expects an integer argument but got {}",
            compact(other)
        )),
    }
}

/// Java's `Math.round`: half-up towards positive infinity, as AWS rounds MathAdd operands.
fn java_round(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

fn apply(name: &str, args: Vec<Value>, formats: &[Option<String>]) -> Result<Value, String> {
    match name {
        "States.Format" => {
            let fmt = formats[0]
                .clone()
                .or_else(|| args[0].as_str().map(str::to_string))
                .ok_or_else(|| {
                    "The first argument of States.Format must be a string".to_string()
                })?;
            let holes = fmt.matches("{}").count();
            if holes != args.len() - 1 {
                return Err(format!(
                    "The number of arguments ({}) does not match the number of placeholders ({holes}) in States.Format",
                    args.len() - 1
                ));
            }
            let mut out = String::new();
            let mut rest = fmt.as_str();
            let mut i = 1;
            while let Some(at) = rest.find("{}") {
                out.push_str(&rest[..at]);
                out.push_str(&render_java(&args[i]));
                i += 1;
                rest = &rest[at + 2..];
            }
            out.push_str(rest);
            Ok(Value::String(
                out.replace(OPEN_LIT, "{").replace(CLOSE_LIT, "}"),
            ))
        }
        "States.StringToJson" => {
            let s = want_str(name, &args[0])?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(s)
                .map(negative_zero_to_int)
                .map_err(|e| format!("The function States.StringToJson could not parse '{s}': {e}"))
        }
        "States.JsonToString" => Ok(Value::String(compact(&args[0]))),
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => {
            let arr = want_arr(name, &args[0])?;
            let size = want_int(name, &args[1])?;
            if size <= 0 {
                return Err(format!(
                    "The chunk size of States.ArrayPartition must be positive, got {size}"
                ));
            }
            Ok(Value::Array(
                arr.chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        "States.ArrayContains" => {
            let arr = want_arr(name, &args[0])?;
            Ok(Value::Bool(arr.iter().any(|x| json_eq(x, &args[1]))))
        }
        "States.ArrayRange" => {
            let start = want_int(name, &args[0])?;
            let end = want_int(name, &args[1])?;
            let step = want_int(name, &args[2])?;
            if step == 0 {
                return Err("The step of States.ArrayRange must not be 0".into());
            }
            let mut out = Vec::new();
            let mut x = start;
            while (step > 0 && x <= end) || (step < 0 && x >= end) {
                out.push(Value::from(x));
                if out.len() > 1000 {
                    return Err("States.ArrayRange may produce at most 1000 elements".to_string());
                }
                x += step;
            }
            Ok(Value::Array(out))
        }
        "States.ArrayGetItem" => {
            let arr = want_arr(name, &args[0])?;
            let i = want_int(name, &args[1])?;
            usize::try_from(i)
                .ok()
                .and_then(|i| arr.get(i))
                .cloned()
                .ok_or_else(|| format!("The index {i} is out of bounds for States.ArrayGetItem"))
        }
        "States.ArrayLength" => Ok(Value::from(want_arr(name, &args[0])?.len())),
        "States.ArrayUnique" => {
            let mut out: Vec<Value> = Vec::new();
            for x in want_arr(name, &args[0])? {
                if !out.iter().any(|y| json_eq(x, y)) {
                    out.push(x.clone());
                }
            }
            Ok(Value::Array(out))
        }
        "States.Base64Encode" => {
            let s = want_str(name, &args[0])?;
            if s.chars().count() > 10_000 {
                return Err("The input of States.Base64Encode exceeds 10000 characters".into());
            }
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
            ))
        }
        "States.Base64Decode" => {
            let s = want_str(name, &args[0])?;
            if s.chars().count() > 10_000 {
                return Err("The input of States.Base64Decode exceeds 10000 characters".into());
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| format!("States.Base64Decode could not decode '{s}': {e}"))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| "States.Base64Decode produced invalid UTF-8".to_string())
        }
        "States.Hash" => {
            let data = match &args[0] {
                Value::String(s) => s.clone(),
                other => compact(other),
            };
            if data.chars().count() > 10_000 {
                return Err("The input of States.Hash exceeds 10000 characters".into());
            }
            let alg = want_str(name, &args[1])?;
            Ok(Value::String(hash(alg, data.as_bytes())?))
        }
        "States.JsonMerge" => {
            let (Value::Object(a), Value::Object(b)) = (&args[0], &args[1]) else {
                return Err("The first two arguments of States.JsonMerge must be objects".into());
            };
            if args[2] != Value::Bool(false) {
                return Err(
                    "States.JsonMerge supports only a shallow merge: its third argument must be false"
                        .into(),
                );
            }
            let mut out = a.clone();
            for (k, v) in b {
                out.insert(k.clone(), v.clone());
            }
            Ok(Value::Object(out))
        }
        "States.MathRandom" => {
            let start = want_int(name, &args[0])?;
            let end = want_int(name, &args[1])?;
            if end <= start {
                return Err(
                    "The end of States.MathRandom must be greater than its start".to_string(),
                );
            }
            use rand::{Rng, SeedableRng};
            let v = match args.get(2) {
                Some(seed) => {
                    let seed = want_int(name, seed)?;
                    rand::rngs::StdRng::seed_from_u64(seed as u64).random_range(start..end)
                }
                None => rand::rng().random_range(start..end),
            };
            Ok(Value::from(v))
        }
        "States.MathAdd" => {
            let num = |v: &Value| -> Result<i64, String> {
                match v {
                    Value::Number(n) => Ok(match n.as_i64() {
                        Some(i) => i,
                        None => java_round(n.as_f64().unwrap_or(0.0)),
                    }),
                    other => Err(format!(
                        "The function States.MathAdd expects numeric arguments but got {}",
                        compact(other)
                    )),
                }
            };
            let sum = num(&args[0])?
                .checked_add(num(&args[1])?)
                .ok_or_else(|| "States.MathAdd overflowed".to_string())?;
            Ok(Value::Number(Number::from(sum)))
        }
        "States.StringSplit" => {
            let s = want_str(name, &args[0])?;
            let delims: Vec<char> = want_str(name, &args[1])?.chars().collect();
            Ok(Value::Array(
                s.split(|c| delims.contains(&c))
                    .filter(|t| !t.is_empty())
                    .map(|t| Value::String(t.to_string()))
                    .collect(),
            ))
        }
        "States.UUID" => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
        other => Err(format!("Unsupported intrinsic function '{other}'")),
    }
}

/// serde_json reads `-0` as the float `-0.0`; AWS's parser reads it as the integer 0.
fn negative_zero_to_int(v: Value) -> Value {
    match v {
        Value::Number(n)
            if n.as_f64() == Some(0.0)
                && n.is_f64()
                && n.as_f64().is_some_and(f64::is_sign_negative) =>
        {
            Value::from(0)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(negative_zero_to_int).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, negative_zero_to_int(v)))
                .collect(),
        ),
        other => other,
    }
}

fn hash(alg: &str, data: &[u8]) -> Result<String, String> {
    use sha2::Digest;
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    Ok(match alg {
        "MD5" => hex(&md5::Md5::digest(data)),
        "SHA-1" => hex(&sha1::Sha1::digest(data)),
        "SHA-256" => hex(&sha2::Sha256::digest(data)),
        "SHA-384" => hex(&sha2::Sha384::digest(data)),
        "SHA-512" => hex(&sha2::Sha512::digest(data)),
        other => {
            return Err(format!(
                "The hash algorithm '{other}' is not supported; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512"
            ))
        }
    })
}

/// JSON equality where numbers compare by value (`1 == 1.0`), as Java's deep equality of
/// parsed numbers would in AWS.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// How AWS's Java runtime prints a value inside `States.Format`: `toString()` of the parsed
/// Jackson/Java value, so objects look like maps (`{a=1, b=[]}`).
fn render_java(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(render_java).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}={}", render_java(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(expr: &str, input: Value) -> Result<Value, IntrinsicError> {
        let call = parse(expr).unwrap();
        eval(&call, &mut |p: &JsonPath| p.eval(&input).map_err(|m| m.0))
    }

    #[test]
    fn format_renders_like_java() {
        assert_eq!(
            run(
                "States.Format('x={} y={}', $.a, $.b)",
                json!({"a": {"k": 1, "l": []}, "b": null})
            )
            .unwrap(),
            json!("x={k=1, l=[]} y=null")
        );
        assert_eq!(
            run("States.Format('lit \\{\\} {}', 'it\\'s')", json!({})).unwrap(),
            json!("lit {} it's")
        );
    }

    #[test]
    fn json_round_trip() {
        assert_eq!(
            run("States.JsonToString($)", json!({"a": 1, "b": []})).unwrap(),
            json!("{\"a\":1,\"b\":[]}")
        );
        assert_eq!(
            run("States.StringToJson($.s)", json!({"s": "{\"a\":[1]}"})).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(
            run("States.StringToJson(' ')", json!({})).unwrap(),
            Value::Null
        );
    }

    #[test]
    fn arrays() {
        assert_eq!(
            run("States.ArrayRange(0, 10, 3)", json!({})).unwrap(),
            json!([0, 3, 6, 9])
        );
        assert_eq!(
            run(
                "States.ArrayPartition(States.Array(1, 2, 3, 4), 3)",
                json!({})
            )
            .unwrap(),
            json!([[1, 2, 3], [4]])
        );
        assert_eq!(
            run("States.ArrayUnique(States.Array(1, 2, 1))", json!({})).unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            run("States.ArrayGetItem(States.Array('a', 'b'), 1)", json!({})).unwrap(),
            json!("b")
        );
        assert_eq!(
            run("States.ArrayLength($)", json!([1, 2])).unwrap(),
            json!(2)
        );
    }

    #[test]
    fn math_add_rounds_half_up() {
        assert_eq!(
            run("States.MathAdd(1.49, 1.5)", json!({})).unwrap(),
            json!(3)
        );
        assert_eq!(
            run("States.MathAdd(-2.5, 0)", json!({})).unwrap(),
            json!(-2)
        );
        assert_eq!(run("States.MathAdd(-0.5, 0)", json!({})).unwrap(), json!(0));
    }

    #[test]
    fn strings_and_hashes() {
        assert_eq!(
            run("States.StringSplit('a.b+c', '.+')", json!({})).unwrap(),
            json!(["a", "b", "c"])
        );
        assert_eq!(
            run("States.Base64Encode('Data to encode')", json!({})).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
            json!("Data to encode")
        );
        assert_eq!(
            run("States.Hash('input data', 'SHA-256')", json!({})).unwrap(),
            json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")
        );
        assert!(run("States.Hash('x', 'SHA-3')", json!({})).is_err());
    }

    #[test]
    fn rejects_bad_calls() {
        assert!(parse("States.Nope(1)").is_err());
        assert!(parse("States.JsonToString($.a, $.b)").is_err());
        assert!(parse("States.Format('a'").is_err());
    }

    #[test]
    fn string_to_json_reads_minus_zero_as_zero() {
        assert_eq!(
            run("States.StringToJson('-0')", json!({}))
                .unwrap()
                .to_string(),
            "0"
        );
    }
}
