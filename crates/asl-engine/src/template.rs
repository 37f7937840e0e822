//! Payload templates (Parameters, ResultSelector, ItemSelector, Assign), compiled once when the
//! definition loads.
//!
//! Every `.$` field's path or intrinsic call is parsed here rather than on each state entry, and
//! subtrees without any `.$` field are kept as one literal to clone whole. A `.$` value that does
//! not parse (the loader refuses such definitions, so only a definition that skipped validation
//! could hold one) keeps its parse error and fails at run time with the same text as before.

use crate::intrinsics::{self, Call};
use crate::path::{JsonPath, Root, Segment};
use serde_json::Value;

#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// A subtree with no `.$` field anywhere in it.
    Literal(Value),
    Object(Vec<(String, Field)>),
    Array(Vec<Template>),
}

#[derive(Debug, Clone)]
pub(crate) enum Field {
    Nested(Template),
    /// A `.$` field; `key` keeps the suffix, as runtime-error causes quote it.
    Dynamic {
        key: String,
        expr: Dynamic,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Dynamic {
    Path(JsonPath),
    Call(Call),
    /// The parse error, raised as `States.Runtime` when the template is evaluated.
    Invalid(String),
}

impl Dynamic {
    pub(crate) fn compile(expr: &str) -> Dynamic {
        let parsed = if expr.starts_with('$') {
            JsonPath::parse(expr).map(Dynamic::Path)
        } else {
            intrinsics::parse(expr).map(Dynamic::Call)
        };
        parsed.unwrap_or_else(Dynamic::Invalid)
    }
}

impl Template {
    pub(crate) fn compile(v: &Value) -> Template {
        if !has_dynamic(v) {
            return Template::Literal(v.clone());
        }
        match v {
            Value::Object(m) => Template::Object(
                m.iter()
                    .map(|(k, x)| match k.strip_suffix(".$") {
                        Some(plain) => (
                            plain.to_string(),
                            Field::Dynamic {
                                key: k.clone(),
                                expr: Dynamic::compile(x.as_str().unwrap_or_default()),
                            },
                        ),
                        None => (k.clone(), Field::Nested(Template::compile(x))),
                    })
                    .collect(),
            ),
            Value::Array(a) => Template::Array(a.iter().map(Template::compile).collect()),
            other => Template::Literal(other.clone()),
        }
    }
}

impl Template {
    /// Whether every `.$` field is a path, and those on the state data (`$`) are all definite
    /// and start at its field `name`: then each can be followed from that field's value alone.
    pub(crate) fn reads_input_only_under(&self, name: &str) -> bool {
        match self {
            Template::Literal(_) => true,
            Template::Array(items) => items.iter().all(|t| t.reads_input_only_under(name)),
            Template::Object(fields) => fields.iter().all(|(_, f)| match f {
                Field::Nested(t) => t.reads_input_only_under(name),
                Field::Dynamic {
                    expr: Dynamic::Path(p),
                    ..
                } => match p.root {
                    Root::Input => {
                        p.is_definite()
                            && matches!(p.segments.first(), Some(Segment::Name(n)) if n == name)
                    }
                    Root::Context | Root::Variable(_) => true,
                },
                Field::Dynamic { .. } => false,
            }),
        }
    }
}

fn has_dynamic(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, x)| k.ends_with(".$") || has_dynamic(x)),
        Value::Array(a) => a.iter().any(has_dynamic),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn static_subtrees_stay_literal() {
        let t = Template::compile(&json!({"a": {"b": [1, {"c": 2}]}, "d.$": "$.x"}));
        let Template::Object(fields) = t else {
            panic!("an object with a .$ field compiles to an object template")
        };
        assert!(matches!(&fields[0], (k, Field::Nested(Template::Literal(_))) if k == "a"));
        assert!(matches!(
            &fields[1],
            (k, Field::Dynamic { key, expr: Dynamic::Path(_) }) if k == "d" && key == "d.$"
        ));
    }

    #[test]
    fn bad_expressions_keep_their_error() {
        assert!(matches!(Dynamic::compile("$.a["), Dynamic::Invalid(_)));
        assert!(matches!(
            Dynamic::compile("States.Nope()"),
            Dynamic::Invalid(_)
        ));
        assert!(matches!(
            Dynamic::compile("States.Array(1)"),
            Dynamic::Call(_)
        ));
    }
}
