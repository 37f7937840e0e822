//! JSONata mode: the `{% ... %}` expressions of a state's fields, compiled at load and evaluated
//! with `$states` and the workflow variables bound.
//!
//! The language itself is jlens-core's; this module decides where expressions may stand (any
//! string of a field's JSON that is wholly `{% ... %}`), what they see, and how their failures
//! read, in the words AWS uses for `States.QueryEvaluationError`.

mod functions;

use jlens_core::{Bindings, Document, Expression, Options};
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// One compiled expression and the text AWS quotes when it fails.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    source: String,
    compiled: Expression,
    /// Whether the expression may read the context object, so that it is built only for the
    /// expressions that may.
    reads_context: bool,
}

/// A field's value in JSONata mode: JSON in which any string may be an expression.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    Literal(Value),
    Expr(Expr),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

/// Why an expression gave no usable value. The text is what follows the
/// "An error occurred while executing the state ..." prefix of the cause.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalError {
    /// The field, as AWS names it in the cause and the `EvaluationFailed` event
    /// (`Output/result`, `Arguments`, `Items`, ...).
    pub(crate) location: String,
    pub(crate) message: String,
}

/// What an expression sees besides the workflow variables: the members of `$states`.
pub(crate) struct States<'a> {
    pub(crate) input: &'a Value,
    pub(crate) result: Option<&'a Value>,
    pub(crate) error_output: Option<&'a Value>,
    /// Builds `$states.context` when an expression reads it.
    pub(crate) context: &'a dyn Fn() -> Value,
}

/// `$states` as the evaluator reads it, borrowing the state's data.
#[derive(serde::Serialize)]
struct StatesDoc<'a> {
    input: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(rename = "errorOutput", skip_serializing_if = "Option::is_none")]
    error_output: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a Value>,
}

/// The functions every evaluation starts from: AWS's additions, and `$eval` taken away.
static FUNCTIONS: LazyLock<Bindings> = LazyLock::new(functions::bindings);

/// Whether an expression may read `$states.context`: it names it, or it takes `$states` as a
/// whole (`{% $states %}`, `$keys($states)`, an alias) rather than one of its other members.
fn reads_context(source: &str) -> bool {
    const OTHER_MEMBERS: &[&str] = &["input", "result", "errorOutput"];
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if source.contains("context") {
        return true;
    }
    source.match_indices("$states").any(|(i, m)| {
        let rest = &source[i + m.len()..];
        if rest.starts_with(name_char) {
            // A longer variable name, not `$states`.
            return false;
        }
        let member = rest.trim_start().strip_prefix('.').map(str::trim_start);
        !member.is_some_and(|r| {
            OTHER_MEMBERS.iter().any(|f| {
                r.strip_prefix(f)
                    .is_some_and(|after| !after.starts_with(name_char))
            })
        })
    })
}

/// Whether a string is an expression: `{%`, then anything, then `%}`, as the whole string.
pub(crate) fn is_expression(s: &str) -> bool {
    s.starts_with("{%") && s.ends_with("%}") && s.len() >= 4
}

impl Expr {
    /// Compiles the text of a `{% ... %}` string.
    pub(crate) fn compile(text: &str) -> Result<Expr, String> {
        let inner = text
            .strip_prefix("{%")
            .and_then(|s| s.strip_suffix("%}"))
            .unwrap_or(text)
            .trim();
        let compiled = Expression::compile(inner).map_err(|e| {
            format!(
                "The JSONata expression '{inner}' is invalid: {}: {}",
                e.code(),
                e.message()
            )
        })?;
        Ok(Expr {
            source: inner.to_string(),
            reads_context: reads_context(inner),
            compiled,
        })
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The value of the expression; undefined is an error, as AWS reports it for every field.
    pub(crate) fn eval(
        &self,
        states: &States,
        vars: &Map<String, Value>,
        location: &str,
    ) -> Result<Value, EvalError> {
        let fail = |message: String| EvalError {
            location: location.to_string(),
            message,
        };
        let context = self.reads_context.then(|| (states.context)());
        // Converted straight from borrowed parts: one conversion, and the input is never cloned.
        let states_doc = match Document::from_serialize(&StatesDoc {
            input: states.input,
            result: states.result,
            error_output: states.error_output,
            context: context.as_ref(),
        }) {
            Ok(d) => d,
            Err(e) => return Err(fail(format!("The state data could not be read: {e}"))),
        };
        let Some(input_doc) = states_doc.pointer("/input") else {
            return Err(fail("The state input could not be read".into()));
        };
        let mut bindings = FUNCTIONS.clone();
        // Only a variable named in the text can be read ($eval is gone), so only those are bound.
        for (name, value) in vars {
            if self.mentions_variable(name) {
                bindings = bindings.var(name.as_str(), value.clone());
            }
        }
        let evaluate = |expr: &Expression| {
            expr.evaluate_document_with(
                &input_doc,
                &[("states", &states_doc)],
                &bindings,
                &Options::default(),
            )
        };
        match evaluate(&self.compiled) {
            Ok(Some(v)) => Ok(v),
            // jlens-core gives a function result as undefined; AWS reports it apart, so on that
            // (rare) path the expression's type is asked for.
            Ok(None)
                if Expression::compile(&format!("$type(({}))", self.source)).is_ok_and(
                    |probe| matches!(evaluate(&probe), Ok(Some(Value::String(t))) if t == "function"),
                ) =>
            {
                Err(fail(format!(
                    "The JSONata expression '{}' specified for the field '{location}' returned an unsupported result type.",
                    self.source
                )))
            }
            Ok(None) => Err(fail(format!(
                "The JSONata expression '{}' specified for the field '{location}' returned nothing (undefined).",
                self.source
            ))),
            Err(e) => Err(fail(format!(
                "The JSONata expression '{}' specified for the field '{location}' threw an error during evaluation. {}: {}",
                self.source,
                e.code(),
                e.message()
            ))),
        }
    }

    fn mentions_variable(&self, name: &str) -> bool {
        let bytes = self.source.as_bytes();
        self.source.match_indices(name).any(|(i, _)| {
            let after = bytes.get(i + name.len()).copied();
            i > 0
                && bytes[i - 1] == b'$'
                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        })
    }
}

impl Template {
    /// Compiles a field's JSON; the error names the first invalid expression.
    pub(crate) fn compile(v: &Value) -> Result<Template, String> {
        Ok(match v {
            Value::String(s) if is_expression(s) => Template::Expr(Expr::compile(s)?),
            Value::Object(m) if m.values().any(has_expression) => Template::Object(
                m.iter()
                    .map(|(k, x)| Ok((k.clone(), Template::compile(x)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(a) if a.iter().any(has_expression) => Template::Array(
                a.iter()
                    .map(Template::compile)
                    .collect::<Result<_, String>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    /// The field's value; `location` is the field's name, which nested keys extend
    /// (`Output/result`).
    pub(crate) fn eval(
        &self,
        states: &States,
        vars: &Map<String, Value>,
        location: &str,
    ) -> Result<Value, EvalError> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Expr(e) => e.eval(states, vars, location),
            Template::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    out.insert(k.clone(), t.eval(states, vars, &format!("{location}/{k}"))?);
                }
                Ok(Value::Object(out))
            }
            Template::Array(items) => Ok(Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, t)| t.eval(states, vars, &format!("{location}/{i}")))
                    .collect::<Result<_, _>>()?,
            )),
        }
    }

    /// The expression itself when the whole field is one, for the errors that quote it.
    pub(crate) fn as_expr(&self) -> Option<&Expr> {
        match self {
            Template::Expr(e) => Some(e),
            _ => None,
        }
    }
}

fn has_expression(v: &Value) -> bool {
    match v {
        Value::String(s) => is_expression(s),
        Value::Object(m) => m.values().any(has_expression),
        Value::Array(a) => a.iter().any(has_expression),
        _ => false,
    }
}

/// The JSON type name AWS uses in "unexpected result type" causes.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(text: &str, input: Value, vars: Value) -> Result<Value, EvalError> {
        let ctx = || json!({"State": {"Name": "S"}});
        let states = States {
            input: &input,
            result: None,
            error_output: None,
            context: &ctx,
        };
        let Value::Object(vars) = vars else {
            panic!("vars must be an object")
        };
        Template::compile(&json!(text))
            .unwrap()
            .eval(&states, &vars, "Output")
    }

    #[test]
    fn the_whole_of_states_carries_the_context() {
        let v = eval("{% $states %}", json!({"a": 1}), json!({})).unwrap();
        assert_eq!(
            v,
            json!({"input": {"a": 1}, "context": {"State": {"Name": "S"}}})
        );
        assert!(!reads_context("$states.input.a & $states.result"));
        assert!(!reads_context("$statesX"));
        assert!(reads_context("$keys($states)"));
        assert!(reads_context("$states.inputs"));
    }

    #[test]
    fn states_variables_and_context_are_bound() {
        let v = eval(
            "{% [$states.input.a, $x, $states.context.State.Name] %}",
            json!({"a": 1}),
            json!({"x": 2}),
        );
        assert_eq!(v, Ok(json!([1, 2, "S"])));
    }

    #[test]
    fn a_variable_is_bound_only_where_named_whole() {
        let e = Expr::compile("{% $ab + $a %}").unwrap();
        assert!(e.mentions_variable("a"));
        assert!(e.mentions_variable("ab"));
        assert!(!e.mentions_variable("b"));
        assert!(!Expr::compile("{% $abc %}").unwrap().mentions_variable("ab"));
    }

    #[test]
    fn failures_read_as_aws_words_them() {
        let undefined = eval("{% $nothing %}", json!({}), json!({})).unwrap_err();
        assert_eq!(
            undefined.message,
            "The JSONata expression '$nothing' specified for the field 'Output' returned nothing (undefined)."
        );
        let thrown = eval("{% $nope(1) %}", json!({}), json!({})).unwrap_err();
        assert!(
            thrown.message.ends_with(
                "threw an error during evaluation. T1006: Attempted to invoke a non-function"
            ),
            "{}",
            thrown.message
        );
        let function = eval("{% function($x){$x} %}", json!({}), json!({})).unwrap_err();
        assert!(function
            .message
            .ends_with("returned an unsupported result type."));
    }

    #[test]
    fn strings_that_are_not_whole_expressions_stay_literal() {
        assert_eq!(
            eval("text {% 1 %}", json!({}), json!({})),
            Ok(json!("text {% 1 %}"))
        );
    }
}
