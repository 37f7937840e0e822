//! The loader: walks the definition's JSON, collecting every diagnostic, and builds the
//! typed graph from what it reads.
//!
//! This module holds the walk over graphs and the readers every state type uses (strings,
//! integers, paths, templates); the rules of each state type, of Retry and Catch, and of Choice
//! rules are `impl Loader` blocks in the modules named after them.

use super::model::{Graph, IoPath};
use super::{duplicates, DefinitionError, Diagnostic, Parsed, MISSING_TARGET, SCHEMA};
use crate::intrinsics;
use crate::path::{JsonPath, Root};
use crate::template::Template;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub(crate) fn load(def: &Value) -> Result<Parsed, DefinitionError> {
    let mut l = Loader {
        diags: Vec::new(),
        jsonata: false,
    };
    let timeout_seconds = def
        .as_object()
        .and_then(|o| l.uint(o, "TimeoutSeconds", "", 1, 99_999_999));
    let graph = l.graph(def, "", true);
    duplicates::names_unique_across_the_machine(def, "", &mut HashSet::new(), &mut l.diags);
    // Root-level diagnostics have an empty pointer; show them as "/".
    for d in &mut l.diags {
        if d.location.is_empty() {
            d.location = "/".to_string();
        }
    }
    match graph {
        Some(graph) if l.diags.is_empty() => Ok(Parsed {
            graph,
            timeout_seconds,
        }),
        _ => Err(DefinitionError {
            diagnostics: l.diags,
        }),
    }
}

pub(super) struct Loader {
    pub(super) diags: Vec<Diagnostic>,
    /// Whether the states of the graph being read default to JSONata (its `QueryLanguage`).
    pub(super) jsonata: bool,
}

/// A variable name as `Assign` takes it: a letter or `_`, then letters, digits and `_`.
pub(super) fn valid_variable_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(super) fn esc(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Loader {
    pub(super) fn push(&mut self, location: &str, code: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            location: location.to_string(),
            code: code.to_string(),
            message: message.into(),
        });
    }

    pub(super) fn schema(&mut self, location: &str, message: impl Into<String>) {
        self.push(location, SCHEMA, message);
    }

    pub(super) fn check_fields(
        &mut self,
        obj: &Map<String, Value>,
        loc: &str,
        allowed: &[&str],
        what: &str,
    ) {
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                self.schema(
                    &format!("{loc}/{}", esc(k)),
                    format!("The field '{k}' is not supported in {what}"),
                );
            }
        }
    }

    pub(super) fn string(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &str,
    ) -> Option<String> {
        match obj.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.schema(
                    &format!("{loc}/{key}"),
                    format!(
                        "The value for the field '{key}' must be a STRING, not {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn uint(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let v = obj.get(key)?;
        match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.schema(
                    &format!("{loc}/{key}"),
                    format!("The value for the field '{key}' must be an INTEGER between {min} and {max}"),
                );
                None
            }
        }
    }

    pub(super) fn path(
        &mut self,
        text: &str,
        loc: &str,
        field: &str,
        reference: bool,
    ) -> Option<JsonPath> {
        match JsonPath::parse(text) {
            Ok(p) => {
                if reference && !p.is_reference() {
                    self.schema(
                        loc,
                        format!("The value for the field '{field}' must be a valid ReferencePath: {text}"),
                    );
                    return None;
                }
                Some(p)
            }
            Err(e) => {
                self.schema(
                    loc,
                    format!("The value for the field '{field}' must be a valid JSONPath: {e}"),
                );
                None
            }
        }
    }

    pub(super) fn io_path(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        loc: &str,
        reference: bool,
    ) -> IoPath {
        match obj.get(key) {
            None => IoPath::Default,
            Some(Value::Null) => IoPath::Null,
            Some(Value::String(s)) => {
                let l = format!("{loc}/{key}");
                if key == "ResultPath" && s.starts_with("$$") {
                    self.schema(
                        &l,
                        "The field 'ResultPath' must not refer to the context object",
                    );
                    return IoPath::Default;
                }
                match self.path(s, &l, key, reference) {
                    Some(p) => {
                        if key == "ResultPath" && p.root != Root::Input {
                            self.schema(
                                &l,
                                "The field 'ResultPath' must refer to the state data ('$')",
                            );
                        }
                        IoPath::Path(p)
                    }
                    None => IoPath::Default,
                }
            }
            Some(other) => {
                self.schema(
                    &format!("{loc}/{key}"),
                    format!(
                        "The value for the field '{key}' must be a STRING or null, not {}",
                        type_name(other)
                    ),
                );
                IoPath::Default
            }
        }
    }

    /// Checks a payload template (Parameters, ResultSelector, ItemSelector, Assign): every `.$`
    /// value must be a path or an intrinsic call, and renamed keys must not collide.
    fn template(&mut self, v: &Value, loc: &str) {
        match v {
            Value::Object(m) => {
                let mut seen = HashSet::new();
                for (k, x) in m {
                    let l = format!("{loc}/{}", esc(k));
                    let plain = k.strip_suffix(".$").unwrap_or(k);
                    if !seen.insert(plain.to_string()) {
                        self.schema(
                            &l,
                            format!(
                                "The field '{plain}' appears more than once after '.$' renaming"
                            ),
                        );
                    }
                    if k.ends_with(".$") {
                        match x {
                            Value::String(s) => self.dynamic_value(s, &l, k),
                            other => self.schema(
                                &l,
                                format!("The value for the field '{k}' must be a STRING that contains a JSONPath or an intrinsic function, not {}", type_name(other)),
                            ),
                        }
                    } else {
                        self.template(x, &l);
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    self.template(x, &format!("{loc}/{i}"));
                }
            }
            _ => {}
        }
    }

    fn dynamic_value(&mut self, s: &str, loc: &str, field: &str) {
        if s.starts_with('$') {
            self.path(s, loc, field, false);
        } else if intrinsics::looks_like_call(s) {
            if let Err(e) = intrinsics::parse(s) {
                self.schema(loc, e);
            }
        } else {
            self.schema(
                loc,
                format!("The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call"),
            );
        }
    }

    pub(super) fn template_field(
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
        self.template(v, &l);
        if key == "Assign" {
            if let Value::Object(m) = v {
                for k in m.keys() {
                    let name = k.strip_suffix(".$").unwrap_or(k);
                    if !valid_variable_name(name) {
                        self.schema(
                            &format!("{l}/{}", esc(k)),
                            format!("'{name}' is not a valid variable name"),
                        );
                    }
                }
            }
        }
        Some(Template::compile(v))
    }

    pub(super) fn graph(&mut self, v: &Value, loc: &str, top: bool) -> Option<Arc<Graph>> {
        let Some(obj) = v.as_object() else {
            self.schema(loc, "A state machine must be a JSON OBJECT");
            return None;
        };
        let mut allowed = vec!["StartAt", "States", "Comment", "Version", "QueryLanguage"];
        if top {
            allowed.push("TimeoutSeconds");
        } else {
            allowed.push("ProcessorConfig");
        }
        self.check_fields(
            obj,
            loc,
            &allowed,
            if top {
                "a state machine"
            } else {
                "a branch or item processor"
            },
        );
        // A branch or item processor inherits the language of the graph around it.
        let outer = self.jsonata;
        if let Some(jsonata) = self.query_language(obj, loc) {
            self.jsonata = jsonata;
        }
        let graph = self.graph_states(obj, loc);
        self.jsonata = outer;
        graph
    }

    fn graph_states(&mut self, obj: &Map<String, Value>, loc: &str) -> Option<Arc<Graph>> {
        let start_at = self.string(obj, "StartAt", loc);
        if !obj.contains_key("StartAt") {
            self.schema(loc, "The field 'StartAt' is required");
        }
        let states_loc = format!("{loc}/States");
        let Some(states_obj) = obj.get("States").and_then(Value::as_object) else {
            self.schema(
                if obj.contains_key("States") {
                    &states_loc
                } else {
                    loc
                },
                "The field 'States' is required and must be an OBJECT",
            );
            return None;
        };
        if states_obj.is_empty() {
            self.schema(&states_loc, "'States' must hold at least one state");
        }
        let mut states = HashMap::new();
        let mut listed = Vec::new();
        for (name, sv) in states_obj {
            let sl = format!("{states_loc}/{}", esc(name));
            if name.is_empty() || name.chars().count() > 80 {
                self.schema(&sl, "State names must be 1 to 80 characters long");
            }
            if let Some(s) = self.state(name, sv, &sl) {
                let s = Arc::new(s);
                states.insert(name.clone(), s.clone());
                listed.push(s);
            }
        }
        let start_at = start_at.unwrap_or_default();
        if !start_at.is_empty() && !states_obj.contains_key(&start_at) {
            self.push(
                &format!("{loc}/StartAt"),
                MISSING_TARGET,
                format!("Missing 'StartAt' target: {start_at}"),
            );
        }
        self.transitions(states_obj, &states_loc, &start_at);
        Some(Arc::new(Graph {
            start_at,
            states,
            listed,
        }))
    }

    /// `Some(true)` for JSONata, `Some(false)` for JSONPath, `None` when the field is absent
    /// (or invalid, which is reported).
    pub(super) fn query_language(&mut self, obj: &Map<String, Value>, loc: &str) -> Option<bool> {
        match obj.get("QueryLanguage") {
            None => None,
            Some(Value::String(s)) if s == "JSONPath" => Some(false),
            Some(Value::String(s)) if s == "JSONata" => Some(true),
            Some(_) => {
                self.schema(
                    &format!("{loc}/QueryLanguage"),
                    "The field 'QueryLanguage' must be JSONPath or JSONata",
                );
                None
            }
        }
    }
}
