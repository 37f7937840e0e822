//! Retry and Catch: the retriers and catchers of a Task, Parallel or Map state.
//!
//! Both are arrays of objects that name the errors they handle in `ErrorEquals`, with
//! `States.ALL` allowed only in the last one; [`Loader::handlers`] checks that much for both,
//! and `retriers` and `catchers` read only the fields of their own.

use super::loader::Loader;
use super::model::{retrier_defaults, Catcher, Retrier};
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

    /// The entries of a `Retry` or `Catch` array: each checked for its shape, its fields and
    /// its `ErrorEquals`, then read by `entry` (given the entry, its location and its error
    /// names). Entries that are not objects are reported and skipped.
    fn handlers<T>(
        &mut self,
        obj: &Map<String, Value>,
        loc: &str,
        kind: &HandlerKind,
        mut entry: impl FnMut(&mut Self, &Map<String, Value>, &str, Vec<String>) -> T,
    ) -> Vec<T> {
        let key = kind.key;
        let Some(v) = obj.get(key) else {
            return vec![];
        };
        let l = format!("{loc}/{key}");
        let Some(arr) = v.as_array() else {
            self.schema(&l, format!("The field '{key}' must be an ARRAY"));
            return vec![];
        };
        let noun = kind.noun;
        let mut out = Vec::new();
        for (i, e) in arr.iter().enumerate() {
            let el = format!("{l}/{i}");
            let Some(e) = e.as_object() else {
                self.schema(&el, format!("A {noun} must be an OBJECT"));
                continue;
            };
            self.check_fields(e, &el, kind.fields, kind.what);
            for field in kind.jsonata {
                if e.contains_key(*field) {
                    self.schema(
                        &format!("{el}/{field}"),
                        super::jsonata::jsonata_only_message(field),
                    );
                }
            }
            let error_equals = self.error_equals(e, &el);
            if error_equals.iter().any(|e| e == "States.ALL") && i + 1 != arr.len() {
                self.schema(
                    &format!("{el}/ErrorEquals"),
                    format!("A {noun} with 'States.ALL' must be the last {noun}"),
                );
            }
            out.push(entry(self, e, &el, error_equals));
        }
        out
    }

    pub(super) fn retriers(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<Retrier> {
        self.handlers(obj, loc, &RETRY, |l, r, rl, error_equals| {
            let backoff_rate = match r.get("BackoffRate") {
                None => retrier_defaults::BACKOFF_RATE,
                Some(b) => match b.as_f64() {
                    Some(x) if x >= 1.0 => x,
                    _ => {
                        l.schema(
                            &format!("{rl}/BackoffRate"),
                            "The value for the field 'BackoffRate' must be a NUMBER >= 1.0",
                        );
                        retrier_defaults::BACKOFF_RATE
                    }
                },
            };
            let jitter_full = match r.get("JitterStrategy") {
                None => false,
                Some(Value::String(s)) if s == "FULL" => true,
                Some(Value::String(s)) if s == "NONE" => false,
                Some(_) => {
                    l.schema(
                        &format!("{rl}/JitterStrategy"),
                        "The value for the field 'JitterStrategy' must be FULL or NONE",
                    );
                    false
                }
            };
            Retrier {
                error_equals,
                interval_seconds: l
                    .uint(r, "IntervalSeconds", rl, 1, 99_999_999)
                    .unwrap_or(retrier_defaults::INTERVAL_SECONDS)
                    as f64,
                max_attempts: l
                    .uint(r, "MaxAttempts", rl, 0, 99_999_999)
                    .unwrap_or(retrier_defaults::MAX_ATTEMPTS),
                backoff_rate,
                max_delay_seconds: l
                    .uint(r, "MaxDelaySeconds", rl, 1, 31_622_401)
                    .map(|x| x as f64),
                jitter_full,
            }
        })
    }

    pub(super) fn catchers(&mut self, obj: &Map<String, Value>, loc: &str) -> Vec<Catcher> {
        self.handlers(obj, loc, &CATCH, |l, c, cl, error_equals| {
            let next = l.string(c, "Next", cl).unwrap_or_else(|| {
                if !c.contains_key("Next") {
                    l.schema(cl, "The field 'Next' is required in a Catcher");
                }
                String::new()
            });
            Catcher {
                error_equals,
                next,
                result_path: l.io_path(c, "ResultPath", cl, true),
                assign: l.template_field(c, "Assign", cl),
            }
        })
    }
}

/// What tells a `Retry` array from a `Catch` array before their own fields are read.
struct HandlerKind {
    /// The state's field that holds the array.
    key: &'static str,
    /// What one entry is called in messages.
    noun: &'static str,
    /// What one entry is called where an unknown field is reported.
    what: &'static str,
    fields: &'static [&'static str],
    /// Fields of JSONata mode, reported by name in a JSONPath state.
    jsonata: &'static [&'static str],
}

const RETRY: HandlerKind = HandlerKind {
    key: "Retry",
    noun: "retrier",
    what: "a Retrier",
    fields: &[
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "Comment",
    ],
    jsonata: &[],
};

const CATCH: HandlerKind = HandlerKind {
    key: "Catch",
    noun: "catcher",
    what: "a Catcher",
    fields: &[
        "ErrorEquals",
        "Next",
        "ResultPath",
        "Assign",
        "Comment",
        "Output",
    ],
    jsonata: &["Output"],
};
