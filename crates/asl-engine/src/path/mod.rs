//! JSONPath as Step Functions evaluates it.
//!
//! AWS runs Jayway JsonPath, and its error texts leak into execution causes, so the messages here
//! copy Jayway's wording (`No results for path: $['x']`, `Missing property in path $['no']`).
//! Result shaping follows AWS too: a *definite* path (names and literal indexes only) yields the
//! node itself or an error, while an *indefinite* one (wildcard, slice, union, filter, deep scan)
//! always yields an array, possibly empty.
//!
//! This module holds the path types and their evaluation; `parse` turns text into a path at
//! load time, and `write` is ResultPath's side: writing a result into the state input.

mod parse;
mod write;

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// What a path is evaluated against: the state data (`$`), the context object (`$$`) or a
/// workflow variable (`$name`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Root {
    Input,
    Context,
    Variable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    Name(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Names(Vec<String>),
    Indexes(Vec<i64>),
    Filter(Filter),
    /// `..name` or `..*`
    Descendants(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    Exists(Vec<Segment>),
    Compare(Vec<Segment>, CmpOp, Value),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JsonPath {
    pub(crate) text: String,
    pub(crate) root: Root,
    pub(crate) segments: Vec<Segment>,
}

/// Why a definite path found nothing, worded as Jayway words it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PathMiss(pub(crate) String);

impl JsonPath {
    /// A reference path names at most one node: names and literal indexes only.
    pub(crate) fn is_reference(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Name(_) | Segment::Index(_)))
    }

    pub(crate) fn is_definite(&self) -> bool {
        self.is_reference()
    }

    /// Evaluates against `root`. Definite paths give the node or a miss; indefinite paths give
    /// an array of every match.
    pub(crate) fn eval(&self, root: &Value) -> Result<Value, PathMiss> {
        if self.is_definite() {
            self.eval_within(root, 0)
        } else {
            let mut current: Vec<&Value> = vec![root];
            for seg in &self.segments {
                let mut next = Vec::new();
                for v in current {
                    apply_indefinite(seg, v, &mut next);
                }
                current = next;
            }
            Ok(Value::Array(current.into_iter().cloned().collect()))
        }
    }

    /// Evaluates a definite path whose first `skip` segments the caller has already followed
    /// to `node`; misses read as if the walk had started at the root.
    pub(crate) fn eval_within(&self, node: &Value, skip: usize) -> Result<Value, PathMiss> {
        self.find_within(node, skip).cloned()
    }

    /// The node a definite path names inside `node`, which the first `skip` segments lead to.
    pub(crate) fn find_within<'v>(
        &self,
        node: &'v Value,
        skip: usize,
    ) -> Result<&'v Value, PathMiss> {
        let mut cur = node;
        let last = self.segments.len().saturating_sub(1);
        for (i, seg) in self.segments.iter().enumerate().skip(skip) {
            match seg {
                Segment::Name(n) => match cur {
                    Value::Object(m) => match member(m, n) {
                        Some(v) => cur = v,
                        None if i == last => {
                            return Err(PathMiss(format!("No results for path: {}", self.shown(i))))
                        }
                        None => {
                            return Err(PathMiss(format!(
                                "Missing property in path {}",
                                self.shown(i)
                            )))
                        }
                    },
                    _ => {
                        let shown = self.shown(i);
                        return Err(PathMiss(format!(
                            "Expected to find an object with property {} in path {} but found '{}'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonProvider'.",
                            &shown[shown.rfind('[').unwrap_or(0)..],
                            &shown[..shown.rfind('[').unwrap_or(shown.len())],
                            java_type(cur)
                        )));
                    }
                },
                Segment::Index(idx) => match cur {
                    Value::Array(a) => {
                        let real = if *idx < 0 { a.len() as i64 + idx } else { *idx };
                        match usize::try_from(real).ok().and_then(|r| a.get(r)) {
                            Some(v) => cur = v,
                            None => {
                                return Err(PathMiss(format!(
                                    "No results for path: {}",
                                    self.shown(i)
                                )))
                            }
                        }
                    }
                    _ => {
                        return Err(PathMiss(format!(
                            "Filter: [{idx}] can only be applied to arrays. Current context is: {}",
                            compact(cur)
                        )))
                    }
                },
                _ => unreachable!("definite paths hold names and indexes only"),
            }
        }
        Ok(cur)
    }

    /// The path up to and including segment `upto` in Jayway's bracket notation (`$['a'][0]`),
    /// as misses quote it.
    fn shown(&self, upto: usize) -> String {
        let mut shown = String::from("$");
        for seg in &self.segments[..=upto] {
            let _ = match seg {
                Segment::Name(n) => write!(shown, "['{n}']"),
                Segment::Index(idx) => write!(shown, "[{idx}]"),
                _ => unreachable!("definite paths hold names and indexes only"),
            };
        }
        shown
    }
}

/// Objects with at most this many members are searched by comparing keys: a workflow's objects are mostly
/// this small, and a few short comparisons cost less than hashing the name once with the map's SipHash.
const SCANNED_MEMBERS: usize = 8;

/// The member `name` of `m`.
#[inline]
pub(crate) fn member<'v>(m: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    if m.len() <= SCANNED_MEMBERS {
        m.iter().find_map(|(k, v)| (k == name).then_some(v))
    } else {
        m.get(name)
    }
}

/// [`member`], to change it in place.
#[inline]
fn member_mut<'v>(m: &'v mut Map<String, Value>, name: &str) -> Option<&'v mut Value> {
    if m.len() <= SCANNED_MEMBERS {
        m.iter_mut().find_map(|(k, v)| (k == name).then_some(v))
    } else {
        m.get_mut(name)
    }
}

fn java_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "java.lang.String",
        Value::Number(n) if n.is_f64() => "java.lang.Double",
        Value::Number(_) => "java.lang.Integer",
        Value::Bool(_) => "java.lang.Boolean",
        Value::Array(_) => "java.util.ArrayList",
        Value::Null => "null",
        Value::Object(_) => "java.util.LinkedHashMap",
    }
}

pub(crate) fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn apply_indefinite<'a>(seg: &Segment, v: &'a Value, out: &mut Vec<&'a Value>) {
    match seg {
        Segment::Name(n) => {
            if let Some(x) = v.as_object().and_then(|m| member(m, n)) {
                out.push(x);
            }
        }
        Segment::Index(i) => {
            if let Some(a) = v.as_array() {
                let real = if *i < 0 { a.len() as i64 + i } else { *i };
                if let Some(x) = usize::try_from(real).ok().and_then(|r| a.get(r)) {
                    out.push(x);
                }
            }
        }
        Segment::Wildcard => match v {
            Value::Array(a) => out.extend(a.iter()),
            Value::Object(m) => out.extend(m.values()),
            _ => {}
        },
        Segment::Slice(start, end, step) => {
            if let Some(a) = v.as_array() {
                let len = a.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let s = start.map(norm).unwrap_or(0);
                let e = end.map(norm).unwrap_or(len);
                let st = step.unwrap_or(1).max(1);
                let mut i = s;
                while i < e {
                    out.push(&a[i as usize]);
                    i += st;
                }
            }
        }
        Segment::Names(ns) => {
            if let Some(m) = v.as_object() {
                for n in ns {
                    if let Some(x) = member(m, n) {
                        out.push(x);
                    }
                }
            }
        }
        Segment::Indexes(is) => {
            for i in is {
                apply_indefinite(&Segment::Index(*i), v, out);
            }
        }
        Segment::Filter(f) => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                Value::Object(m) => m.values().collect(),
                _ => vec![],
            };
            for item in items {
                if filter_matches(f, item) {
                    out.push(item);
                }
            }
        }
        Segment::Descendants(name) => descend(v, name.as_deref(), out),
    }
}

fn descend<'a>(v: &'a Value, name: Option<&str>, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if name.is_none_or(|n| n == k) {
                    out.push(x);
                }
            }
            for x in m.values() {
                descend(x, name, out);
            }
        }
        Value::Array(a) => {
            if name.is_none() {
                out.extend(a.iter());
            }
            for x in a {
                descend(x, name, out);
            }
        }
        _ => {}
    }
}

fn relative<'a>(segs: &[Segment], v: &'a Value) -> Option<&'a Value> {
    let mut cur = v;
    for s in segs {
        cur = match s {
            Segment::Name(n) => member(cur.as_object()?, n)?,
            Segment::Index(i) => {
                let a = cur.as_array()?;
                let real = if *i < 0 { a.len() as i64 + i } else { *i };
                a.get(usize::try_from(real).ok()?)?
            }
            _ => return None,
        };
    }
    Some(cur)
}

fn filter_matches(f: &Filter, item: &Value) -> bool {
    match f {
        Filter::Exists(p) => relative(p, item).is_some(),
        Filter::And(a, b) => filter_matches(a, item) && filter_matches(b, item),
        Filter::Or(a, b) => filter_matches(a, item) || filter_matches(b, item),
        Filter::Compare(p, op, lit) => {
            let Some(v) = relative(p, item) else {
                return false;
            };
            let ord = match (v, lit) {
                (Value::Number(a), Value::Number(b)) => a
                    .as_f64()
                    .zip(b.as_f64())
                    .and_then(|(a, b)| a.partial_cmp(&b)),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => {
                    return match op {
                        CmpOp::Eq => v == lit,
                        CmpOp::Ne => v != lit,
                        _ => false,
                    }
                }
            };
            let Some(ord) = ord else { return false };
            use std::cmp::Ordering::*;
            match op {
                CmpOp::Eq => ord == Equal,
                CmpOp::Ne => ord != Equal,
                CmpOp::Lt => ord == Less,
                CmpOp::Le => ord != Greater,
                CmpOp::Gt => ord == Greater,
                CmpOp::Ge => ord != Less,
            }
        }
    }
}

pub(crate) use write::{check_set, set_in_place};

#[cfg(test)]
mod tests {
    use super::write::set_at;
    use super::*;
    use serde_json::json;

    fn eval(p: &str, v: &Value) -> Result<Value, PathMiss> {
        JsonPath::parse(p).unwrap().eval(v)
    }

    #[test]
    fn definite_paths_return_the_node() {
        let v = json!({"a": {"b": [1, 2, {"c": "x"}]}, "d-e": 1});
        assert_eq!(eval("$.a.b[2].c", &v).unwrap(), json!("x"));
        assert_eq!(eval("$['a']['b'][0]", &v).unwrap(), json!(1));
        assert_eq!(eval("$.d-e", &v).unwrap(), json!(1));
        assert_eq!(eval("$", &v).unwrap(), v);
    }

    #[test]
    fn misses_use_jayway_wording() {
        let v = json!({"a": 1});
        assert_eq!(
            eval("$.x", &v).unwrap_err().0,
            "No results for path: $['x']"
        );
        assert_eq!(
            eval("$.no.such", &v).unwrap_err().0,
            "Missing property in path $['no']"
        );
    }

    #[test]
    fn indefinite_paths_always_return_arrays() {
        let v = json!({"users": [{"s": 0, "n": "a"}, {"s": 1, "n": "b"}]});
        assert_eq!(
            eval("$.users[?(@.s == 0)]", &v).unwrap(),
            json!([{"s": 0, "n": "a"}])
        );
        assert_eq!(eval("$.users[*].n", &v).unwrap(), json!(["a", "b"]));
        assert_eq!(eval("$.users[*].zz", &v).unwrap(), json!([]));
        assert_eq!(eval("$.users[0:1].n", &v).unwrap(), json!(["a"]));
        assert_eq!(eval("$..n", &v).unwrap(), json!(["a", "b"]));
    }

    #[test]
    fn roots() {
        assert_eq!(
            JsonPath::parse("$$.Execution.Id").unwrap().root,
            Root::Context
        );
        assert_eq!(
            JsonPath::parse("$answer.x").unwrap().root,
            Root::Variable("answer".into())
        );
    }

    #[test]
    fn evaluating_within_a_part_reads_as_from_the_root() {
        let root = json!({"Execution": {"Name": "n", "Input": {"a": [1]}}});
        for p in [
            "$$.Execution.Name",
            "$$.Execution.Nope",
            "$$.Execution.Nope.x",
            "$$.Execution.Name.x",
            "$$.Execution.Input.a[3]",
            "$$.Execution.Input.a.b",
            "$$.Execution.Input.a[0][1]",
        ] {
            let path = JsonPath::parse(p).unwrap();
            assert_eq!(
                path.eval_within(&root["Execution"], 1),
                path.eval(&root),
                "{p}"
            );
        }
    }

    #[test]
    fn a_refused_write_quotes_the_untouched_input() {
        // Written in place, this path would turn `b` into an object before failing at `[0]`.
        let target = json!({"a": {"b": null}});
        let p = JsonPath::parse("$.a.b.c[0]").unwrap();
        assert_eq!(
            check_set(&target, &p).unwrap_err(),
            r#"Unable to apply ReferencePath $.a.b.c[0] to input {"a":{"b":null}}"#
        );
        let p = JsonPath::parse("$.a.b.c").unwrap();
        let mut written = target.clone();
        check_set(&written, &p).unwrap();
        set_in_place(&mut written, &p, json!(1));
        assert_eq!(written, json!({"a": {"b": {"c": 1}}}));
        assert!(check_set(&json!(null), &JsonPath::parse("$.a").unwrap()).is_err());
        assert!(check_set(&json!({"a": [1]}), &JsonPath::parse("$.a[1]").unwrap()).is_err());
    }

    #[test]
    fn set_creates_intermediates() {
        let p = JsonPath::parse("$.a.b").unwrap();
        assert_eq!(
            set_at(&json!({"x": 1}), &p, json!(2)).unwrap(),
            json!({"x": 1, "a": {"b": 2}})
        );
        assert!(set_at(&json!("s"), &p, json!(2)).is_err());
    }
}
