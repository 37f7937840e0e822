//! JSONata-mode states: which fields they take in place of the JSONPath ones, and the
//! expressions those fields hold, compiled at load.
//!
//! A JSONata state is loaded in two parts. The fields that only JSONata has (`Arguments`,
//! `Output`, `Items`, a Choice rule's `Condition`, ...) and the fields whose value is an
//! expression where JSONPath mode wants a number (`TimeoutSeconds`, `Seconds`, ...) are taken
//! out here into a [`JsonataState`]; what remains goes through the same checks as a JSONPath
//! state, so that transitions, Retry, Catch and literal numbers are validated once.

use super::loader::{esc, Loader};
use crate::jsonata::{is_expression, Template};
use serde_json::{Map, Value};

/// The JSONata fields of one state, each compiled.
#[derive(Debug, Default)]
pub(crate) struct JsonataState {
    pub(crate) arguments: Option<Template>,
    pub(crate) output: Option<Template>,
    pub(crate) assign: Option<Template>,
    pub(crate) items: Option<Template>,
    pub(crate) item_selector: Option<Template>,
    /// Numeric fields given as expressions, by field name (`TimeoutSeconds`, `Seconds`,
    /// `MaxConcurrency`, `ToleratedFailureCount`, ...), and `Timestamp`, `Error` and `Cause`.
    pub(crate) dynamic: Vec<(&'static str, Template)>,
    /// `ToleratedFailureCount` and `ToleratedFailurePercentage` given as numbers.
    pub(crate) tolerated_count: Option<f64>,
    pub(crate) tolerated_percentage: Option<f64>,
    /// A Choice state's rules, in order.
    pub(crate) rules: Vec<JsonataRule>,
    /// The `Assign` and `Output` of each Catcher, by the Catcher's index.
    pub(crate) catchers: Vec<JsonataCatch>,
}

impl JsonataState {
    pub(crate) fn dynamic(&self, field: &str) -> Option<&Template> {
        self.dynamic
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, t)| t)
    }
}

#[derive(Debug)]
pub(crate) struct JsonataRule {
    pub(crate) condition: Template,
    pub(crate) next: String,
    pub(crate) assign: Option<Template>,
    pub(crate) output: Option<Template>,
}

#[derive(Debug, Default)]
pub(crate) struct JsonataCatch {
    pub(crate) assign: Option<Template>,
    pub(crate) output: Option<Template>,
}

/// Fields of JSONPath mode, refused in a JSONata state.
const JSONPATH_ONLY: &[&str] = &[
    "Parameters",
    "InputPath",
    "OutputPath",
    "ResultPath",
    "ResultSelector",
    "ItemsPath",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "MaxConcurrencyPath",
    "ErrorPath",
    "CausePath",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
];

/// Fields of JSONata mode, refused in a JSONPath state.
pub(super) const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items", "Condition"];

/// Fields that take a number (or a string) literally, or an expression that gives one.
const EXPRESSION_VALUED: &[&str] = &[
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "Seconds",
    "Timestamp",
    "MaxConcurrency",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
    "Error",
    "Cause",
];

impl Loader {
    /// Compiles a JSONata field, reporting an invalid expression where it stands.
    fn jsonata_template(&mut self, v: &Value, loc: &str) -> Option<Template> {
        match Template::compile(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.schema(loc, e);
                None
            }
        }
    }

    fn jsonata_field(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &str,
    ) -> Option<Template> {
        let v = obj.get(key)?;
        let l = format!("{loc}/{key}");
        if key == "Assign" && !v.is_object() {
            self.schema(&l, "The value for the field 'Assign' must be an OBJECT");
            return None;
        }
        if key == "Assign" {
            for k in v.as_object().into_iter().flat_map(|m| m.keys()) {
                if !super::loader::valid_variable_name(k) {
                    self.schema(
                        &format!("{l}/{}", esc(k)),
                        format!("'{k}' is not a valid variable name"),
                    );
                }
            }
        }
        self.jsonata_template(v, &l)
    }

    /// Takes a JSONata state's own fields out of `obj`: the returned object is what the
    /// JSONPath-shaped checks of the state's type still read.
    pub(super) fn jsonata_state(
        &mut self,
        ty: &str,
        obj: &Map<String, Value>,
        loc: &str,
    ) -> (Map<String, Value>, JsonataState) {
        let mut rest = obj.clone();
        let mut js = JsonataState::default();
        for key in JSONPATH_ONLY {
            if rest.remove(*key).is_some() {
                self.schema(
                    &format!("{loc}/{key}"),
                    format!("The field '{key}' is not supported when the query language is JSONata; use 'Arguments', 'Output' or 'Assign'"),
                );
            }
        }
        js.arguments = self.jsonata_field(obj, "Arguments", loc);
        js.output = self.jsonata_field(obj, "Output", loc);
        js.assign = self.jsonata_field(obj, "Assign", loc);
        for key in ["Arguments", "Output", "Assign"] {
            rest.remove(key);
        }
        let refused_in: [(&str, &[&str]); 2] =
            [("Assign", &["Succeed", "Fail"]), ("Output", &["Fail"])];
        for (key, refused) in refused_in {
            if refused.contains(&ty) && obj.contains_key(key) {
                self.schema(
                    &format!("{loc}/{key}"),
                    format!("The field '{key}' is not supported in a {ty} state"),
                );
            }
        }
        if !matches!(ty, "Task" | "Parallel") && obj.contains_key("Arguments") {
            self.schema(
                &format!("{loc}/Arguments"),
                "The field 'Arguments' is supported only in Task and Parallel states",
            );
        }
        if ty == "Map" {
            js.items = self.jsonata_field(obj, "Items", loc);
            js.item_selector = self.jsonata_field(obj, "ItemSelector", loc);
        } else {
            for (key, only_in) in [
                ("Items", "Map"),
                ("ItemSelector", "Map"),
                ("Condition", "a Choice rule"),
            ] {
                if obj.contains_key(key) {
                    self.schema(
                        &format!("{loc}/{key}"),
                        format!("The field '{key}' is supported only in {only_in}"),
                    );
                }
            }
        }
        for key in ["Items", "ItemSelector", "Condition"] {
            rest.remove(key);
        }
        for key in EXPRESSION_VALUED {
            let Some(v) = obj.get(*key) else { continue };
            let l = format!("{loc}/{key}");
            match v {
                Value::String(s) if is_expression(s) => {
                    rest.remove(*key);
                    if let Some(t) = self.jsonata_template(v, &l) {
                        js.dynamic.push((key, t));
                    }
                }
                _ if key.starts_with("ToleratedFailure") => {
                    rest.remove(*key);
                    let max = if *key == "ToleratedFailurePercentage" {
                        100.0
                    } else {
                        f64::MAX
                    };
                    match v.as_f64() {
                        Some(n) if (0.0..=max).contains(&n) => {
                            if *key == "ToleratedFailureCount" {
                                js.tolerated_count = Some(n);
                            } else {
                                js.tolerated_percentage = Some(n);
                            }
                        }
                        _ => self.schema(
                            &l,
                            format!("The value for the field '{key}' must be a NUMBER between 0 and {max} or a JSONata expression"),
                        ),
                    }
                }
                _ => {}
            }
        }
        if ty == "Choice" {
            js.rules = self.jsonata_rules(obj, loc);
            rest.remove("Choices");
        }
        if let Some(Value::Array(catchers)) = obj.get("Catch") {
            let mut kept = Vec::with_capacity(catchers.len());
            for (i, c) in catchers.iter().enumerate() {
                let cl = format!("{loc}/Catch/{i}");
                let Value::Object(c) = c else {
                    kept.push(c.clone());
                    continue;
                };
                if c.contains_key("ResultPath") {
                    self.schema(
                        &format!("{cl}/ResultPath"),
                        "The field 'ResultPath' is not supported when the query language is JSONata; use 'Output'",
                    );
                }
                js.catchers.push(JsonataCatch {
                    assign: self.jsonata_field(c, "Assign", &cl),
                    output: self.jsonata_field(c, "Output", &cl),
                });
                let mut c = c.clone();
                for key in ["Assign", "Output", "ResultPath"] {
                    c.remove(key);
                }
                kept.push(Value::Object(c));
            }
            rest.insert("Catch".into(), Value::Array(kept));
        }
        if ty == "Task"
            && obj.get("Resource").and_then(Value::as_str) == Some("arn:aws:states:::lambda:invoke")
        {
            match obj.get("Arguments") {
                Some(Value::Object(a)) if !a.contains_key("FunctionName") => self.schema(
                    &format!("{loc}/Arguments"),
                    "The field 'FunctionName' is required in the Arguments of a lambda:invoke Task",
                ),
                None => self.schema(
                    loc,
                    "The field 'Arguments' with a 'FunctionName' is required in a lambda:invoke Task",
                ),
                _ => {}
            }
        }
        (rest, js)
    }

    fn jsonata_rules(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<JsonataRule> {
        let l = format!("{loc}/Choices");
        let Some(Value::Array(rules)) = obj
            .get("Choices")
            .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()))
        else {
            self.schema(
                if obj.contains_key("Choices") { &l } else { loc },
                "The field 'Choices' is required and must be a non-empty ARRAY",
            );
            return vec![];
        };
        let mut out = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            let rl = format!("{l}/{i}");
            let Some(r) = r.as_object() else {
                self.schema(&rl, "A Choice rule must be an OBJECT");
                continue;
            };
            self.check_fields(
                r,
                &rl,
                &["Condition", "Next", "Assign", "Output", "Comment"],
                "a JSONata Choice rule",
            );
            let condition = match r.get("Condition") {
                Some(v @ Value::Bool(_)) => Some(Template::Literal(v.clone())),
                Some(v @ Value::String(s)) if is_expression(s) => {
                    self.jsonata_template(v, &format!("{rl}/Condition"))
                }
                Some(_) => {
                    self.schema(
                        &format!("{rl}/Condition"),
                        "The value for the field 'Condition' must be a BOOLEAN or a JSONata expression",
                    );
                    None
                }
                None => {
                    self.schema(
                        &rl,
                        "The field 'Condition' is required in a JSONata Choice rule",
                    );
                    None
                }
            };
            let next = self.string(r, "Next", &rl);
            if next.is_none() && !r.contains_key("Next") {
                self.schema(&rl, "The field 'Next' is required in a Choice rule");
            }
            let assign = self.jsonata_field(r, "Assign", &rl);
            let output = self.jsonata_field(r, "Output", &rl);
            if let (Some(condition), Some(next)) = (condition, next) {
                out.push(JsonataRule {
                    condition,
                    next,
                    assign,
                    output,
                });
            }
        }
        out
    }
}

/// Reported for a JSONata-only field in a JSONPath state.
pub(super) fn jsonata_only_message(key: &str) -> String {
    format!("The field '{key}' is supported only when the query language is JSONata")
}
