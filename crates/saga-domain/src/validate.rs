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
                    Some(Value::Number(n)) => match n.as_u64() {
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

/// A stable fingerprint of a request, to tell "the same request again" from "another request under the same
/// Idempotency-Key". Computed on the typed request, so whitespace and key order in the body do not matter.
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
