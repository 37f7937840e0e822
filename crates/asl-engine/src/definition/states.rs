//! Per-state checks: the fields each state type takes, its transition, and the parts only
//! that type has (a Task's resource, a Wait's delay, a Map's processor, ...).
//!
//! [`Loader::state`] reads what every state type shares in one pass, then hands the rest to
//! one function per type, so that a type's rules are found under its name.

use super::jsonata::{jsonata_only_message, JSONATA_ONLY};
use super::loader::{esc, Loader};
use super::model::{ErrorSource, IoPath, Kind, MapDef, Seconds, State, Target, TaskDef, WaitSpec};
use super::{parse_timestamp, UNSUPPORTED};
use crate::intrinsics;
use serde_json::{Map, Value};

impl Loader {
    pub(super) fn state(&mut self, name: &str, v: &Value, loc: &str) -> Option<State> {
        let Some(obj) = v.as_object() else {
            self.schema(loc, "A state must be an OBJECT");
            return None;
        };
        let ty = match obj.get("Type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => {
                self.schema(&format!("{loc}/Type"), "The field 'Type' must be a STRING");
                return None;
            }
            None => {
                self.schema(loc, "The field 'Type' is required");
                return None;
            }
        };
        let jsonata_mode = self.query_language(obj, loc).unwrap_or(self.jsonata);
        let (rest, jsonata) = if jsonata_mode {
            let (rest, js) = self.jsonata_state(ty, obj, loc);
            (Some(rest), Some(Box::new(js)))
        } else {
            (None, None)
        };
        // From here on a JSONata state is checked without its JSONata fields.
        let obj = rest.as_ref().unwrap_or(obj);
        let allowed = self.state_fields(name, ty, obj, loc)?;
        let next = self.transition(obj, loc, &allowed);
        let input_path = if ty == "Fail" {
            IoPath::Default
        } else {
            self.io_path(obj, "InputPath", loc, false)
        };
        let output_path = if ty == "Fail" {
            IoPath::Default
        } else {
            self.io_path(obj, "OutputPath", loc, false)
        };
        let result_path = self.io_path(obj, "ResultPath", loc, true);
        let parameters = if ty == "Map" {
            if obj.contains_key("Parameters") && obj.contains_key("ItemSelector") {
                self.schema(
                    loc,
                    "A Map state must not have both 'Parameters' and 'ItemSelector'",
                );
            }
            None
        } else {
            self.template_field(obj, "Parameters", loc)
        };
        let result_selector = self.template_field(obj, "ResultSelector", loc);
        let assign = self.template_field(obj, "Assign", loc);
        let retry = self.retriers(obj, loc);
        let catch = self.catchers(obj, loc);

        let kind = match ty {
            "Pass" => Kind::Pass {
                result: obj.get("Result").cloned(),
            },
            "Task" => Kind::Task(self.task(name, obj, loc, jsonata.is_some())?),
            // A JSONata Choice keeps its rules in `jsonata`.
            "Choice" if jsonata.is_some() => Kind::Choice {
                rules: Vec::new(),
                default: self.string(obj, "Default", loc),
            },
            "Choice" => self.choice_state(obj, loc),
            // An expression's delay is read at run time from `jsonata`; the spec is then unused.
            "Wait"
                if jsonata
                    .as_ref()
                    .is_some_and(|j| j.dynamic("Seconds").or(j.dynamic("Timestamp")).is_some()) =>
            {
                Kind::Wait(WaitSpec::Seconds(0))
            }
            "Wait" => Kind::Wait(self.wait(obj, loc)?),
            "Succeed" => Kind::Succeed,
            "Fail" => self.fail(obj, loc),
            "Parallel" => self.parallel(obj, loc),
            "Map" => Kind::Map(self.map(name, obj, loc)?),
            _ => unreachable!("state types were checked above"),
        };
        Some(State {
            name: name.to_string(),
            kind,
            input_path,
            output_path,
            parameters,
            result_selector,
            result_path,
            assign,
            retry,
            catch,
            next,
            jsonata,
        })
    }

    /// The fields a state of type `ty` may have. Every other field is reported, JSONata-mode
    /// and distributed-Map fields by name as unsupported; an unknown type is reported and
    /// yields `None`.
    fn state_fields(
        &mut self,
        name: &str,
        ty: &str,
        obj: &Map<String, Value>,
        loc: &str,
    ) -> Option<Vec<&'static str>> {
        const IO: &[&str] = &["InputPath", "OutputPath"];
        const FLOW: &[&str] = &["Next", "End"];
        let (extra, what): (Vec<&str>, &str) = match ty {
            "Pass" => (
                vec!["Parameters", "Result", "ResultPath", "Assign"],
                "a Pass state",
            ),
            "Task" => (
                vec![
                    "Parameters",
                    "ResultSelector",
                    "ResultPath",
                    "Retry",
                    "Catch",
                    "Resource",
                    "TimeoutSeconds",
                    "TimeoutSecondsPath",
                    "HeartbeatSeconds",
                    "HeartbeatSecondsPath",
                    "Assign",
                ],
                "a Task state",
            ),
            "Choice" => (vec!["Choices", "Default", "Assign"], "a Choice state"),
            "Wait" => (
                vec![
                    "Seconds",
                    "SecondsPath",
                    "Timestamp",
                    "TimestampPath",
                    "Assign",
                ],
                "a Wait state",
            ),
            "Succeed" => (vec![], "a Succeed state"),
            "Fail" => (
                vec!["Error", "ErrorPath", "Cause", "CausePath"],
                "a Fail state",
            ),
            "Parallel" => (
                vec![
                    "Parameters",
                    "ResultSelector",
                    "ResultPath",
                    "Retry",
                    "Catch",
                    "Branches",
                    "Assign",
                ],
                "a Parallel state",
            ),
            "Map" => (
                vec![
                    "Parameters",
                    "ItemSelector",
                    "ItemsPath",
                    "ItemProcessor",
                    "Iterator",
                    "MaxConcurrency",
                    "MaxConcurrencyPath",
                    "ResultSelector",
                    "ResultPath",
                    "Retry",
                    "Catch",
                    "Assign",
                ],
                "a Map state",
            ),
            other => {
                self.schema(
                    &format!("{loc}/Type"),
                    format!("'{other}' is not a valid state type"),
                );
                return None;
            }
        };
        let mut allowed = vec!["Type", "Comment", "QueryLanguage"];
        if ty != "Fail" {
            allowed.extend_from_slice(IO);
        }
        if !matches!(ty, "Choice" | "Succeed" | "Fail") {
            allowed.extend_from_slice(FLOW);
        }
        allowed.extend(extra);
        for k in obj.keys() {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            let l = format!("{loc}/{}", esc(k));
            if JSONATA_ONLY.contains(&k.as_str()) {
                self.schema(&l, jsonata_only_message(k));
            } else if ty == "Map" && DISTRIBUTED_MAP_FIELDS.contains(&k.as_str()) {
                self.push(&l, UNSUPPORTED, format!("The field '{k}' of state '{name}' needs a distributed Map, which is not supported"));
            } else if ty == "Task" && matches!(k.as_str(), "Credentials") {
                self.push(
                    &l,
                    UNSUPPORTED,
                    format!("The field '{k}' of state '{name}' is not supported"),
                );
            } else {
                self.schema(
                    &l,
                    format!("The field '{k}' is not supported in {what} (state '{name}')"),
                );
            }
        }

        Some(allowed)
    }

    /// `Next` (`None` when absent or not a string), with `End` and their combination checked
    /// where `allowed` says the state type takes them.
    fn transition(
        &mut self,
        obj: &Map<String, Value>,
        loc: &str,
        allowed: &[&str],
    ) -> Option<String> {
        let next = self.string(obj, "Next", loc);
        let end = match obj.get("End") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.schema(&format!("{loc}/End"), "The field 'End' must be a BOOLEAN");
                false
            }
        };
        if allowed.contains(&"Next") {
            if next.is_some() && end {
                self.schema(loc, "A state must not have both 'Next' and 'End'");
            } else if next.is_none() && !end && !obj.contains_key("Next") {
                self.schema(loc, "A state must have either 'Next' or 'End': true");
            }
        }
        next
    }

    fn choice_state(&mut self, obj: &Map<String, Value>, loc: &str) -> Kind {
        let l = format!("{loc}/Choices");
        let mut rules = Vec::new();
        match obj.get("Choices") {
            Some(Value::Array(a)) if !a.is_empty() => {
                for (i, r) in a.iter().enumerate() {
                    let rl = format!("{l}/{i}");
                    if let Some(rule) = self.choice_rule(r, &rl) {
                        rules.push(rule);
                    }
                }
            }
            _ => self.schema(
                if obj.contains_key("Choices") { &l } else { loc },
                "The field 'Choices' is required and must be a non-empty ARRAY",
            ),
        }
        Kind::Choice {
            rules,
            default: self.string(obj, "Default", loc),
        }
    }

    fn wait(&mut self, obj: &Map<String, Value>, loc: &str) -> Option<WaitSpec> {
        let present: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        if present.len() != 1 {
            self.schema(loc, "A Wait state must have exactly one of 'Seconds', 'SecondsPath', 'Timestamp' or 'TimestampPath'");
            return None;
        }
        Some(match present[0] {
            "Seconds" => WaitSpec::Seconds(self.uint(obj, "Seconds", loc, 0, 99_999_999)?),
            "Timestamp" => {
                let s = self.string(obj, "Timestamp", loc)?;
                match parse_timestamp(&s) {
                    Some(t) => WaitSpec::Timestamp(t),
                    None => {
                        self.schema(&format!("{loc}/Timestamp"), "The value for the field 'Timestamp' must be an ISO-8601 extended offset date-time");
                        return None;
                    }
                }
            }
            key => {
                let s = self.string(obj, key, loc)?;
                let p = self.path(&s, &format!("{loc}/{key}"), key, true)?;
                if key == "SecondsPath" {
                    WaitSpec::SecondsPath(p)
                } else {
                    WaitSpec::TimestampPath(p)
                }
            }
        })
    }

    fn fail(&mut self, obj: &Map<String, Value>, loc: &str) -> Kind {
        let error = self.error_source(obj, "Error", "ErrorPath", loc);
        let cause = self.error_source(obj, "Cause", "CausePath", loc);
        Kind::Fail { error, cause }
    }

    fn parallel(&mut self, obj: &Map<String, Value>, loc: &str) -> Kind {
        let l = format!("{loc}/Branches");
        let mut branches = Vec::new();
        match obj.get("Branches") {
            Some(Value::Array(a)) if !a.is_empty() => {
                for (i, b) in a.iter().enumerate() {
                    if let Some(g) = self.graph(b, &format!("{l}/{i}"), false) {
                        branches.push(g);
                    }
                }
            }
            // AWS's own words for an empty list (recorded through TestState).
            Some(Value::Array(_)) => self.schema(&l, "Value cannot be empty"),
            _ => self.schema(
                if obj.contains_key("Branches") {
                    &l
                } else {
                    loc
                },
                "The field 'Branches' is required and must be a non-empty ARRAY",
            ),
        }
        Kind::Parallel { branches }
    }

    fn error_source(
        &mut self,
        obj: &Map<String, Value>,
        lit: &str,
        path: &str,
        loc: &str,
    ) -> Option<ErrorSource> {
        if obj.contains_key(lit) && obj.contains_key(path) {
            self.schema(
                loc,
                format!("A Fail state must not have both '{lit}' and '{path}'"),
            );
        }
        if let Some(s) = self.string(obj, lit, loc) {
            return Some(ErrorSource::Literal(s));
        }
        let s = self.string(obj, path, loc)?;
        let l = format!("{loc}/{path}");
        if s.starts_with('$') {
            self.path(&s, &l, path, false).map(ErrorSource::Path)
        } else if intrinsics::looks_like_call(&s) {
            match intrinsics::parse(&s) {
                Ok(c) => Some(ErrorSource::Intrinsic(c)),
                Err(e) => {
                    self.schema(&l, e);
                    None
                }
            }
        } else {
            self.schema(&l, format!("The value for the field '{path}' must be a valid JSONPath or intrinsic function"));
            None
        }
    }

    fn seconds(&mut self, obj: &Map<String, Value>, fixed: &str, path: &str, loc: &str) -> Seconds {
        if obj.contains_key(fixed) && obj.contains_key(path) {
            self.schema(loc, format!("'{fixed}' and '{path}' must not both be set"));
        }
        if let Some(n) = self.uint(obj, fixed, loc, 1, 99_999_999) {
            return Seconds::Fixed(n);
        }
        if let Some(s) = self.string(obj, path, loc) {
            if let Some(p) = self.path(&s, &format!("{loc}/{path}"), path, true) {
                return Seconds::Path(p);
            }
        }
        Seconds::None
    }

    /// `jsonata`: the state's `Arguments`, checked apart, take the place of `Parameters`.
    fn task(
        &mut self,
        name: &str,
        obj: &Map<String, Value>,
        loc: &str,
        jsonata: bool,
    ) -> Option<TaskDef> {
        let Some(resource) = self.string(obj, "Resource", loc) else {
            if !obj.contains_key("Resource") {
                self.schema(loc, "The field 'Resource' is required");
            }
            return None;
        };
        let rl = format!("{loc}/Resource");
        let target = if let Some(rest) = resource.strip_prefix("arn:aws:states:::") {
            let (service, action) = rest.split_once(':').unwrap_or((rest, ""));
            if action.ends_with(".sync")
                || action.contains(".sync:")
                || action.ends_with(".waitForTaskToken")
            {
                self.push(&rl, UNSUPPORTED, format!("The resource '{resource}' of state '{name}' uses a .sync or .waitForTaskToken pattern, which Express workflows do not support"));
                return None;
            }
            if service.is_empty() || action.is_empty() {
                self.schema(&rl, format!("'{resource}' is not a valid resource ARN"));
                return None;
            }
            if service == "lambda" && action == "invoke" {
                let fname = obj
                    .get("Parameters")
                    .and_then(Value::as_object)
                    .is_some_and(|p| {
                        p.contains_key("FunctionName") || p.contains_key("FunctionName.$")
                    });
                if !fname && !jsonata {
                    self.schema(&format!("{loc}/Parameters"), "The field 'FunctionName' is required in the Parameters of a lambda:invoke Task");
                }
                Target::LambdaInvoke
            } else {
                Target::Service {
                    service: service.to_string(),
                    action: action.to_string(),
                }
            }
        } else if resource.starts_with("arn:aws:lambda:") && resource.contains(":function:") {
            Target::LambdaArn
        } else if resource.starts_with("arn:aws:states:") && resource.contains(":activity:") {
            self.push(&rl, UNSUPPORTED, format!("Activities (resource '{resource}' of state '{name}') are not supported by Express workflows"));
            return None;
        } else {
            self.schema(&rl, format!("'{resource}' is not a supported resource ARN"));
            return None;
        };
        let timeout = self.seconds(obj, "TimeoutSeconds", "TimeoutSecondsPath", loc);
        let heartbeat = self.seconds(obj, "HeartbeatSeconds", "HeartbeatSecondsPath", loc);
        if let (Seconds::Fixed(t), Seconds::Fixed(h)) = (&timeout, &heartbeat) {
            if h >= t {
                self.schema(
                    &format!("{loc}/HeartbeatSeconds"),
                    "'HeartbeatSeconds' must be smaller than 'TimeoutSeconds'",
                );
            }
        }
        Some(TaskDef {
            resource,
            target,
            timeout,
            heartbeat,
        })
    }

    fn map(&mut self, name: &str, obj: &Map<String, Value>, loc: &str) -> Option<MapDef> {
        let (key, proc_val) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
            (Some(p), None) => ("ItemProcessor", p),
            (None, Some(i)) => ("Iterator", i),
            (Some(_), Some(_)) => {
                self.schema(
                    loc,
                    "A Map state must not have both 'ItemProcessor' and 'Iterator'",
                );
                return None;
            }
            (None, None) => {
                self.schema(loc, "The field 'ItemProcessor' is required");
                return None;
            }
        };
        let pl = format!("{loc}/{key}");
        if let Some(cfg) = proc_val.get("ProcessorConfig") {
            let cl = format!("{pl}/ProcessorConfig");
            match cfg.as_object() {
                Some(c) => {
                    self.check_fields(c, &cl, &["Mode", "ExecutionType"], "ProcessorConfig");
                    match c.get("Mode").and_then(Value::as_str) {
                        None | Some("INLINE") => {}
                        Some("DISTRIBUTED") => self.push(
                            &format!("{cl}/Mode"),
                            UNSUPPORTED,
                            format!("State '{name}': distributed Map is not supported"),
                        ),
                        Some(other) => self.schema(
                            &format!("{cl}/Mode"),
                            format!("'{other}' is not a valid Map mode"),
                        ),
                    }
                }
                None => self.schema(&cl, "ProcessorConfig must be an OBJECT"),
            }
        }
        let processor = self.graph(proc_val, &pl, false)?;
        let items_path = match self.string(obj, "ItemsPath", loc) {
            Some(s) => self.path(&s, &format!("{loc}/ItemsPath"), "ItemsPath", true),
            None => None,
        };
        let item_selector = self
            .template_field(obj, "ItemSelector", loc)
            .or_else(|| self.template_field(obj, "Parameters", loc));
        let max_concurrency =
            if obj.contains_key("MaxConcurrency") && obj.contains_key("MaxConcurrencyPath") {
                self.schema(
                    loc,
                    "'MaxConcurrency' and 'MaxConcurrencyPath' must not both be set",
                );
                Seconds::None
            } else if let Some(n) = self.uint(obj, "MaxConcurrency", loc, 0, 99_999_999) {
                Seconds::Fixed(n)
            } else if let Some(s) = self.string(obj, "MaxConcurrencyPath", loc) {
                self.path(
                    &s,
                    &format!("{loc}/MaxConcurrencyPath"),
                    "MaxConcurrencyPath",
                    true,
                )
                .map_or(Seconds::None, Seconds::Path)
            } else {
                Seconds::None
            };
        Some(MapDef {
            processor,
            items_path,
            item_selector,
            max_concurrency,
        })
    }
}

/// Fields only a distributed Map has: the loader refuses them, since this engine cannot run a
/// distributed Map's iterations.
pub(crate) const DISTRIBUTED_MAP_FIELDS: &[&str] = &[
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
    "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
    "Label",
];
