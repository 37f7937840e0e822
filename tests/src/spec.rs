//! `docs/openapi.yaml`, read at compile time, as the judge of every answer the suite receives.

use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::Reply;

pub const OPENAPI_YAML: &str = include_str!("../../docs/openapi.yaml");

/// The spec as JSON.
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| serde_yaml::from_str(OPENAPI_YAML).expect("docs/openapi.yaml is YAML"))
}

/// Follows a local `$ref` (`#/a/b`) until the value is not a reference.
pub fn resolve(mut v: &Value) -> &Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not a local reference"));
        v = spec()
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{r} points nowhere"));
    }
    v
}

/// The path template (`/orders/{orderId}`) a concrete path matches.
pub fn template_for(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    spec()["paths"]
        .as_object()?
        .keys()
        .find(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segments.len()
                && ts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
        })
        .map(String::as_str)
}

/// The spec's response object for this operation and status, if documented.
pub fn response(method: &str, template: &str, status: u16) -> Option<&'static Value> {
    let op = spec()["paths"][template].get(method.to_ascii_lowercase())?;
    op["responses"].get(status.to_string()).map(resolve)
}

/// Validates `instance` against a schema taken from the spec, resolving its references in the spec.
pub fn validate(schema: &Value, instance: &Value) -> Result<(), Vec<String>> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": spec()["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::draft202012::new(&root).expect("the spec's schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The answer is documented for its route and status, has the documented content type, body and required
/// headers.
pub fn assert_conforms(reply: &Reply) {
    let template =
        template_for(&reply.path).unwrap_or_else(|| panic!("the spec has no path for {reply}"));
    let method = reply.method.as_str();
    let status = reply.status.as_u16();
    let documented = response(method, template, status)
        .unwrap_or_else(|| panic!("{method} {template} does not document {status}: {reply}"));
    if let Some(headers) = documented.get("headers").and_then(Value::as_object) {
        for (name, header) in headers {
            let header = resolve(header);
            match reply.header(name) {
                None if header["required"] == true => {
                    panic!("required header {name} missing: {reply}")
                }
                None => {}
                Some(value) => {
                    if let Err(e) = validate(&header["schema"], &json!(value)) {
                        panic!("header {name}: {e:?}: {reply}");
                    }
                }
            }
        }
    }
    let Some(content) = documented.get("content").and_then(Value::as_object) else {
        return;
    };
    let essence = reply
        .content_type()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let media = content
        .get(&essence)
        .unwrap_or_else(|| panic!("content type {essence:?} not documented: {reply}"));
    if let Err(errors) = validate(&media["schema"], &reply.body) {
        panic!("the body does not match the spec: {errors:?}: {reply}");
    }
}
