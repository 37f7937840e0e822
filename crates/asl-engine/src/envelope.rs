//! What a Task state's work produced, before ResultSelector and ResultPath.
//!
//! `arn:aws:states:::lambda:invoke` wraps the function's output in the Invoke API's response
//! metadata (headers, request ids, a date). Building that object costs dozens of allocations,
//! and most states never look past its `Payload`: a `ResultPath: null` Task drops it whole, and
//! a ResultSelector usually picks fields of `$.Payload`. So the envelope stays unbuilt until
//! something reads it as a whole: Assign, a ResultSelector reaching outside `Payload`, a
//! ResultPath that keeps it, a recorded history, or a size check it comes close to failing.

use crate::path::compact;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub(crate) enum TaskResult {
    Built(Value),
    Lambda(Envelope),
}

/// The parts of a `lambda:invoke` result that vary; the rest is the same for every call.
pub(crate) struct Envelope {
    pub(crate) status: u16,
    pub(crate) version: String,
    pub(crate) payload: Value,
    /// Bytes of the function's response text, as `Content-Length` reports them; `None` for a
    /// payload handed over as a value, whose text is its compact serialisation.
    pub(crate) len: Option<usize>,
    /// When the answer came (`Date` header and trace id).
    pub(crate) at: DateTime<Utc>,
}

/// Serialised size of everything in an envelope but its payload and its three copies of the
/// executed version, with room to spare; a unit test holds the real figure below it.
const FIXED_PART_BOUND: usize = 1024;

impl Envelope {
    /// The object AWS returns. Request and trace ids are drawn here, when it is first read.
    pub(crate) fn build(self) -> Value {
        let Envelope {
            status,
            version,
            payload,
            len,
            at,
        } = self;
        let len = len.unwrap_or_else(|| json_size(&payload));
        let request_id = uuid::Uuid::new_v4().to_string();
        let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let trace = format!(
            "Root=1-{:08x}-{}",
            at.timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..24]
        );
        json!({
            "ExecutedVersion": version,
            "Payload": payload,
            "SdkHttpMetadata": {
                "AllHttpHeaders": {
                    "X-Amz-Executed-Version": [version],
                    "x-amzn-Remapped-Content-Length": ["0"],
                    "Connection": ["keep-alive"],
                    "x-amzn-RequestId": [request_id],
                    "Content-Length": [len.to_string()],
                    "Date": [date],
                    "X-Amzn-Trace-Id": [trace],
                    "Content-Type": ["application/json"],
                },
                "HttpHeaders": {
                    "Connection": "keep-alive",
                    "Content-Length": len.to_string(),
                    "Content-Type": "application/json",
                    "Date": date,
                    "X-Amz-Executed-Version": version,
                    "x-amzn-Remapped-Content-Length": "0",
                    "x-amzn-RequestId": request_id,
                    "X-Amzn-Trace-Id": trace,
                },
                "HttpStatusCode": status,
            },
            "SdkResponseMetadata": {"RequestId": request_id},
            "StatusCode": status,
        })
    }

    /// At least the serialised size of [`Envelope::build`]'s object.
    fn size_bound(&self) -> usize {
        FIXED_PART_BOUND + json_size_bound(&self.payload) + 3 * (2 + 6 * self.version.len())
    }
}

impl TaskResult {
    /// The result as AWS shapes it, built in place if it was not yet.
    pub(crate) fn built(&mut self) -> &Value {
        if let TaskResult::Lambda(_) = self {
            let taken = std::mem::replace(self, TaskResult::Built(Value::Null));
            *self = TaskResult::Built(taken.into_value());
        }
        match self {
            TaskResult::Built(v) => v,
            TaskResult::Lambda(_) => unreachable!("built just above"),
        }
    }

    pub(crate) fn into_value(self) -> Value {
        match self {
            TaskResult::Built(v) => v,
            TaskResult::Lambda(e) => e.build(),
        }
    }

    /// Whether the serialised result is larger than `limit` bytes.
    pub(crate) fn exceeds(&mut self, limit: usize) -> bool {
        if let TaskResult::Lambda(e) = self {
            if e.size_bound() <= limit {
                return false;
            }
        }
        let built = self.built();
        json_size_bound(built) > limit && json_size(built) > limit
    }

    /// The result's compact JSON text, for history events.
    pub(crate) fn text(&mut self) -> String {
        compact(self.built())
    }
}

/// At least the serialised size of `v`, from one walk that formats nothing: most results are far
/// below the payload limit, and this settles those at a fraction of the cost of [`json_size`].
pub(crate) fn json_size_bound(v: &Value) -> usize {
    // A string escapes to at most six bytes per byte (`\u001f`); a number prints in at most 24
    // (`-1.7976931348623157e308` is 23).
    let string = |s: &str| 2 + 6 * s.len();
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(s) => string(s),
        Value::Array(items) => 2 + items.iter().map(|x| json_size_bound(x) + 1).sum::<usize>(),
        Value::Object(m) => {
            2 + m
                .iter()
                .map(|(k, x)| string(k) + 2 + json_size_bound(x))
                .sum::<usize>()
        }
    }
}

/// Serialised size of a value, without building the text.
pub(crate) fn json_size(v: &(impl serde::Serialize + ?Sized)) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(version: &str, payload: Value, len: usize, status: u16) -> Envelope {
        Envelope {
            status,
            version: version.into(),
            payload,
            len: Some(len),
            at: Utc::now(),
        }
    }

    #[test]
    fn the_fixed_part_stays_under_its_bound() {
        // The widest figures every variable part can take, with an empty version and payload.
        let built = envelope("", Value::Null, usize::MAX, u16::MAX).build();
        let fixed = json_size(&built) - json_size(&Value::Null) - 3 * json_size("");
        assert!(fixed + 64 <= FIXED_PART_BOUND, "{fixed}");
    }

    #[test]
    fn the_bound_holds_for_escaped_versions_and_payloads() {
        for (version, payload) in [
            ("$LATEST", json!({"a": "x\u{1}\"\\", "b": [1.5, null]})),
            ("\u{1}\u{2}\u{3}\"", json!("\n\t")),
            ("7", json!(1e300)),
        ] {
            let e = envelope(version, payload, 12, 200);
            let bound = e.size_bound();
            assert!(json_size(&e.build()) <= bound);
        }
    }

    #[test]
    fn the_cheap_bound_is_never_below_the_size() {
        for v in [
            json!(null),
            json!(true),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(-1.7976931348623157e308),
            json!(f64::MIN_POSITIVE),
            json!("\u{0}\u{1f}\"\\\n"),
            json!("héllo ✓ 😀"),
            json!([]),
            json!({}),
            json!({"k\u{1}": [1, "a", {"x": null}], "": [[]]}),
        ] {
            assert!(json_size_bound(&v) >= json_size(&v), "{v}");
        }
    }

    #[test]
    fn building_in_place_keeps_every_part() {
        let mut r = TaskResult::Lambda(envelope("$LATEST", json!({"k": 1}), 7, 200));
        let v = r.built().clone();
        assert_eq!(v["Payload"], json!({"k": 1}));
        assert_eq!(v["ExecutedVersion"], "$LATEST");
        assert_eq!(v["StatusCode"], 200);
        assert_eq!(v["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"], "7");
        assert_eq!(r.into_value(), v);
    }
}
