//! Retry and Catch: the retriers and catchers of a Task, Parallel or Map state.

use super::loader::Loader;
use super::model::{Catcher, Retrier};
use super::UNSUPPORTED;
use serde_json::{Map, Value};

impl Loader {
    fn error_equals(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<String> {
        let l = format!("{loc}/ErrorEquals");
        match obj.get("ErrorEquals") {
            None => {
                self.schema(loc, "The field 'ErrorEquals' is required");
                vec![]
            }
            Some(Value::Array(a)) if !a.is_empty() => {
                let mut out = Vec::new();
                for (i, e) in a.iter().enumerate() {
                    match e.as_str() {
                        Some(s) => out.push(s.to_string()),
                        None => self.schema(&format!("{l}/{i}"), "Error names must be STRINGs"),
                    }
                }
                if out.iter().any(|e| e == "States.ALL") && out.len() > 1 {
                    self.schema(&l, "'States.ALL' must appear alone in ErrorEquals");
                }
                out
            }
            Some(_) => {
                self.schema(
                    &l,
                    "The field 'ErrorEquals' must be a non-empty array of STRINGs",
                );
                vec![]
            }
        }
    }

    pub(super) fn retriers(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<Retrier> {
        let Some(v) = obj.get("Retry") else {
            return vec![];
        };
        let l = format!("{loc}/Retry");
        let Some(arr) = v.as_array() else {
            self.schema(&l, "The field 'Retry' must be an ARRAY");
            return vec![];
        };
        let mut out = Vec::new();
        for (i, r) in arr.iter().enumerate() {
            let rl = format!("{l}/{i}");
            let Some(r) = r.as_object() else {
                self.schema(&rl, "A retrier must be an OBJECT");
                continue;
            };
            self.check_fields(
                r,
                &rl,
                &[
                    "ErrorEquals",
                    "IntervalSeconds",
                    "MaxAttempts",
                    "BackoffRate",
                    "MaxDelaySeconds",
                    "JitterStrategy",
                    "Comment",
                ],
                "a Retrier",
            );
            let error_equals = self.error_equals(r, &rl);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != arr.len() {
                self.schema(
                    &format!("{rl}/ErrorEquals"),
                    "A retrier with 'States.ALL' must be the last retrier",
                );
            }
            let backoff_rate = match r.get("BackoffRate") {
                None => 2.0,
                Some(b) => match b.as_f64() {
                    Some(x) if x >= 1.0 => x,
                    _ => {
                        self.schema(
                            &format!("{rl}/BackoffRate"),
                            "The value for the field 'BackoffRate' must be a NUMBER >= 1.0",
                        );
                        2.0
                    }
                },
            };
            let jitter_full = match r.get("JitterStrategy") {
                None => false,
                Some(Value::String(s)) if s == "FULL" => true,
                Some(Value::String(s)) if s == "NONE" => false,
                Some(_) => {
                    self.schema(
                        &format!("{rl}/JitterStrategy"),
                        "The value for the field 'JitterStrategy' must be FULL or NONE",
                    );
                    false
                }
            };
            out.push(Retrier {
                error_equals,
                interval_seconds: self
                    .uint(r, "IntervalSeconds", &rl, 1, 99_999_999)
                    .unwrap_or(1) as f64,
                max_attempts: self.uint(r, "MaxAttempts", &rl, 0, 99_999_999).unwrap_or(3),
                backoff_rate,
                max_delay_seconds: self
                    .uint(r, "MaxDelaySeconds", &rl, 1, 31_622_401)
                    .map(|x| x as f64),
                jitter_full,
            });
        }
        out
    }

    pub(super) fn catchers(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<Catcher> {
        let Some(v) = obj.get("Catch") else {
            return vec![];
        };
        let l = format!("{loc}/Catch");
        let Some(arr) = v.as_array() else {
            self.schema(&l, "The field 'Catch' must be an ARRAY");
            return vec![];
        };
        let mut out = Vec::new();
        for (i, c) in arr.iter().enumerate() {
            let cl = format!("{l}/{i}");
            let Some(c) = c.as_object() else {
                self.schema(&cl, "A catcher must be an OBJECT");
                continue;
            };
            self.check_fields(
                c,
                &cl,
                &[
                    "ErrorEquals",
                    "Next",
                    "ResultPath",
                    "Assign",
                    "Comment",
                    "Output",
                ],
                "a Catcher",
            );
            if c.contains_key("Output") {
                self.push(
                    &format!("{cl}/Output"),
                    UNSUPPORTED,
                    "The field 'Output' belongs to JSONata mode; JSONata is not supported",
                );
            }
            let error_equals = self.error_equals(c, &cl);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != arr.len() {
                self.schema(
                    &format!("{cl}/ErrorEquals"),
                    "A catcher with 'States.ALL' must be the last catcher",
                );
            }
            let next = self.string(c, "Next", &cl).unwrap_or_else(|| {
                if !c.contains_key("Next") {
                    self.schema(&cl, "The field 'Next' is required in a Catcher");
                }
                String::new()
            });
            out.push(Catcher {
                error_equals,
                next,
                result_path: self.io_path(c, "ResultPath", &cl, true),
                assign: self.template_field(c, "Assign", &cl),
            });
        }
        out
    }
}
