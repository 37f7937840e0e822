//! The rules an order request must meet. The JSON Schema in `schemas/order-request.schema.json` states the
//! same limits for API Gateway; this adds what a schema cannot say (unique skus) and gives every violation a
//! JSON Pointer, so a client learns exactly which field to fix.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{OrderLine, OrderRequest};

pub const MAX_ITEMS: usize = 50;
pub const MAX_QUANTITY: u64 = 1000;
pub const MAX_STRING_CHARS: usize = 64;
/// The largest body the gateway accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON Pointer (RFC 6901) to the offending value; "" is the whole body.
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|e| format!("{}: {}", if e.pointer.is_empty() { "body" } else { &e.pointer }, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(pub Vec<FieldError>);

fn err(errors: &mut Vec<FieldError>, pointer: impl Into<String>, message: impl Into<String>) {
    errors.push(FieldError {
        pointer: pointer.into(),
        message: message.into(),
    });
}

/// `pointer` is only formatted for an error: a valid request builds no pointer text.
fn check_string(
    errors: &mut Vec<FieldError>,
    pointer: impl Fn() -> String,
    v: Option<&Value>,
) -> Option<String> {
    match v {
        None => {
            err(errors, pointer(), "is required");
            None
        }
        Some(Value::String(s)) => {
            let chars = s.chars().count();
            if chars == 0 || chars > MAX_STRING_CHARS {
                err(
                    errors,
                    pointer(),
                    format!("must be 1 to {MAX_STRING_CHARS} characters long"),
                );
                None
            } else if s.chars().any(char::is_control) {
                err(errors, pointer(), "must not contain control characters");
                None
            } else {
                Some(s.clone())
            }
        }
        Some(_) => {
            err(errors, pointer(), "must be a string");
            None
        }
    }
}

fn check_unknown(
    errors: &mut Vec<FieldError>,
    pointer: impl Fn() -> String,
    obj: &serde_json::Map<String, Value>,
    known: &[&str],
) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            err(
                errors,
                format!("{}/{}", pointer(), escape_pointer(key)),
                "is not a known field",
            );
        }
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Validates a decoded body and returns the typed request, or every violation found.
pub fn validate_order_request(body: &Value) -> Result<OrderRequest, ValidationErrors> {
    let mut errors = Vec::new();
    let Some(obj) = body.as_object() else {
        err(&mut errors, "", "must be a JSON object");
        return Err(ValidationErrors(errors));
    };
    check_unknown(&mut errors, String::new, obj, &["customerId", "items"]);
    let customer_id = check_string(&mut errors, || "/customerId".into(), obj.get("customerId"));
    let mut items = Vec::new();
    match obj.get("items") {
        None => err(&mut errors, "/items", "is required"),
        Some(Value::Array(arr)) => {
            if arr.is_empty() || arr.len() > MAX_ITEMS {
                err(
                    &mut errors,
                    "/items",
                    format!("must hold 1 to {MAX_ITEMS} lines"),
                );
            }
            for (i, item) in arr.iter().enumerate().take(MAX_ITEMS) {
                let p = || format!("/items/{i}");
                let Some(line) = item.as_object() else {
                    err(&mut errors, p(), "must be an object");
                    continue;
                };
                check_unknown(&mut errors, p, line, &["sku", "quantity"]);
                let sku = check_string(&mut errors, || format!("{}/sku", p()), line.get("sku"));
                let quantity = match line.get("quantity") {
                    None => {
                        err(&mut errors, format!("{}/quantity", p()), "is required");
                        None
                    }
                    Some(Value::Number(n)) => match whole_number(n) {
                        Some(q) if (1..=MAX_QUANTITY).contains(&q) => Some(q as u32),
                        _ => {
                            err(
                                &mut errors,
                                format!("{}/quantity", p()),
                                format!("must be an integer from 1 to {MAX_QUANTITY}"),
                            );
                            None
                        }
                    },
                    Some(_) => {
                        err(
                            &mut errors,
                            format!("{}/quantity", p()),
                            "must be an integer",
                        );
                        None
                    }
                };
                if let (Some(sku), Some(quantity)) = (sku, quantity) {
                    if items.iter().any(|l: &OrderLine| l.sku == sku) {
                        err(
                            &mut errors,
                            format!("{}/sku", p()),
                            format!("sku {sku:?} appears more than once"),
                        );
                    } else {
                        items.push(OrderLine { sku, quantity });
                    }
                }
            }
        }
        Some(_) => err(&mut errors, "/items", "must be an array"),
    }
    match customer_id {
        Some(customer_id) if errors.is_empty() => Ok(OrderRequest { customer_id, items }),
        _ => Err(ValidationErrors(errors)),
    }
}

/// The value of a JSON number that is a whole number not below zero, however it is written: `529`, `529.0` and
/// `5.29e2` are all 529. JSON Schema (from draft 6, so OpenAPI 3.1) and DynamoDB's decimal numbers both treat them
/// as the same integer, and a client's JSON library may write either, so refusing one spelling would refuse a
/// valid request. The rule and how each layer implements it are in `docs/openapi.yaml` ("Numbers and strings in requests").
///
/// Numbers arrive as serde_json parsed them: an integer literal as u64/i64, anything with a fraction or an
/// exponent as an f64. An f64 is whole when it has no fractional part; below 2^64 it converts exactly.
pub fn whole_number(n: &serde_json::Number) -> Option<u64> {
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    // -0.0 passes `>= 0.0` and is 0; any other negative number does not.
    let f = n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0)?;
    (f < 18_446_744_073_709_551_616.0).then_some(f as u64)
}

/// A stable fingerprint of a request, to tell "the same request again" from "another request under the same
/// Idempotency-Key". Computed on the typed request, so whitespace, key order and the spelling of a quantity (`2`
/// or `2.0`) do not matter.
pub fn request_hash(request: &OrderRequest) -> String {
    let canonical = serde_json::to_vec(request).expect("a request serialises");
    hex::encode(Sha256::digest(&canonical))
}

/// Rules for a stock id in a URL and for an Idempotency-Key header: 1–64 visible ASCII characters.
pub fn validate_token(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > MAX_STRING_CHARS {
        return Err(format!(
            "{what} must be 1 to {MAX_STRING_CHARS} characters long"
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{what} must contain only visible ASCII characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_valid_request() {
        let r = validate_order_request(
            &json!({"customerId": "c1", "items": [{"sku": "a", "quantity": 2}]}),
        )
        .unwrap();
        assert_eq!(
            r.items,
            vec![OrderLine {
                sku: "a".into(),
                quantity: 2
            }]
        );
    }

    #[test]
    fn names_every_violation() {
        let e = validate_order_request(&json!({
            "customerId": "",
            "extra": 1,
            "items": [{"sku": "a", "quantity": 0}, {"sku": "b", "quantity": 1.5}, {"sku": "c", "quantity": 1}, {"sku": "c", "quantity": 1}]
        }))
        .unwrap_err();
        let pointers: Vec<_> = e.0.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/extra",
                "/customerId",
                "/items/0/quantity",
                "/items/1/quantity",
                "/items/3/sku"
            ]
        );
    }

    #[test]
    fn limits() {
        let many: Vec<_> = (0..51)
            .map(|i| json!({"sku": format!("s{i}"), "quantity": 1}))
            .collect();
        assert!(validate_order_request(&json!({"customerId": "c", "items": many})).is_err());
        assert!(validate_order_request(&json!({"customerId": "c", "items": []})).is_err());
        assert!(validate_order_request(
            &json!({"customerId": "x".repeat(65), "items": [{"sku": "a", "quantity": 1}]})
        )
        .is_err());
        assert!(validate_order_request(
            &json!({"customerId": "c", "items": [{"sku": "a", "quantity": 1001}]})
        )
        .is_err());
        assert!(validate_order_request(
            &json!({"customerId": "c", "items": [{"sku": "a", "quantity": -1}]})
        )
        .is_err());
        assert!(validate_order_request(
            &json!({"customerId": "c\u{0007}", "items": [{"sku": "a", "quantity": 1}]})
        )
        .is_err());
        assert!(validate_order_request(&json!([1])).is_err());
        // 64 multi-byte characters are within the limit: it counts characters, as JSON Schema does.
        assert!(validate_order_request(
            &json!({"customerId": "é".repeat(64), "items": [{"sku": "a", "quantity": 1}]})
        )
        .is_ok());
    }

    #[test]
    fn a_quantity_is_a_whole_number_however_it_is_written() {
        for (text, expected) in [
            ("529", Some(529)),
            ("529.0", Some(529)),
            ("5.29e2", Some(529)),
            ("1E3", Some(1000)),
            ("-0.0", Some(0)),
            ("0", Some(0)),
            ("529.5", None),
            ("1e-7", None),
            ("-1", None),
            ("-1.0", None),
            ("18446744073709551615", Some(u64::MAX)),
            // 2^64 as a double: whole, but no u64.
            ("18446744073709551616", None),
            ("1e300", None),
        ] {
            let n: serde_json::Number = serde_json::from_str(text).unwrap();
            assert_eq!(whole_number(&n), expected, "{text}");
        }
        let body: Value = serde_json::from_str(
            r#"{"customerId": "c", "items": [{"sku": "a", "quantity": 529.0}]}"#,
        )
        .unwrap();
        let r = validate_order_request(&body).unwrap();
        assert_eq!(r.items[0].quantity, 529);
        for q in ["1000.0", "1e3"] {
            let body: Value = serde_json::from_str(&format!(
                r#"{{"customerId": "c", "items": [{{"sku": "a", "quantity": {q}}}]}}"#
            ))
            .unwrap();
            assert_eq!(
                validate_order_request(&body).unwrap().items[0].quantity,
                1000
            );
        }
        for q in ["0.0", "-0.0", "1000.5", "1001.0", "1e4"] {
            let body: Value = serde_json::from_str(&format!(
                r#"{{"customerId": "c", "items": [{{"sku": "a", "quantity": {q}}}]}}"#
            ))
            .unwrap();
            let e = validate_order_request(&body).unwrap_err();
            assert_eq!(e.0[0].pointer, "/items/0/quantity", "{q}");
        }
    }

    #[test]
    fn a_quantity_spelled_with_a_fraction_is_the_same_request() {
        let parse =
            |text: &str| validate_order_request(&serde_json::from_str(text).unwrap()).unwrap();
        let a = parse(r#"{"customerId": "c", "items": [{"sku": "a", "quantity": 529}]}"#);
        let b = parse(r#"{"customerId": "c", "items": [{"sku": "a", "quantity": 529.0}]}"#);
        let c = parse(r#"{"customerId": "c", "items": [{"sku": "a", "quantity": 5.29e2}]}"#);
        assert_eq!(a, b);
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_eq!(request_hash(&a), request_hash(&c));
        // What the steps after create-order receive is the typed request: an integer, written as one.
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"customerId":"c","items":[{"sku":"a","quantity":529}]}"#
        );
    }

    #[test]
    fn c1_controls_are_control_characters() {
        // The schema's pattern names the same ranges (U+0000–U+001F, U+007F–U+009F); tests/tests/decoding_props.rs
        // holds the two to agreeing on every character.
        for c in ['\u{0}', '\u{1f}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}'] {
            let body =
                json!({"customerId": "c", "items": [{"sku": format!("a{c}"), "quantity": 1}]});
            let e = validate_order_request(&body).unwrap_err();
            assert_eq!(e.0[0].pointer, "/items/0/sku", "{c:?}");
        }
        for c in ['\u{a0}', '\u{ad}', '\u{200b}', '\u{2028}', '\u{feff}'] {
            let body =
                json!({"customerId": "c", "items": [{"sku": format!("a{c}"), "quantity": 1}]});
            assert!(validate_order_request(&body).is_ok(), "{c:?}");
        }
    }

    #[test]
    fn hash_ignores_formatting() {
        let a = validate_order_request(
            &serde_json::from_str(r#"{"items":[{"quantity":1,"sku":"a"}],"customerId":"c"}"#)
                .unwrap(),
        )
        .unwrap();
        let b = validate_order_request(
            &json!({"customerId": "c", "items": [{"sku": "a", "quantity": 1}]}),
        )
        .unwrap();
        assert_eq!(request_hash(&a), request_hash(&b));
    }
}
