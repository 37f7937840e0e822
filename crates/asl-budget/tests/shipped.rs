//! The shipped workflow and its deployment, checked against each other:
//!
//! - every Lambda a Task invokes times out no later than that Task (otherwise it keeps writing
//!   after Step Functions has moved on to the retry or the compensation);
//! - the gateway's integration timeout is longer than the workflow's top-level TimeoutSeconds,
//!   so the workflow answers (or times out) before the caller gets a bare 504.
//!
//! The Terraform is read with the small evaluator in `hcl/`, which follows the values through
//! `locals`, `var` defaults and the `templatefile` call that renders the definition, so the
//! test checks what would actually be deployed rather than a copy of the numbers.

mod hcl;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn workflow() -> (PathBuf, String, Value) {
    let path = root().join("workflow.asl.json");
    let text = std::fs::read_to_string(&path).expect("workflow.asl.json at the workspace root");
    let value = serde_json::from_str(&text).expect("the workflow is JSON");
    (path, text, value)
}

/// `aws_lambda_function.NAME["KEY"].arn` -> (NAME, KEY).
fn lambda_reference(expr: &hcl::Expr) -> Option<(String, Option<String>)> {
    let hcl::Expr::Traversal(root, accessors) = expr else {
        return None;
    };
    if root != "aws_lambda_function" {
        return None;
    }
    match accessors.as_slice() {
        [hcl::Accessor::Attr(name), hcl::Accessor::Index(hcl::Expr::Template(key)), hcl::Accessor::Attr(arn)]
            if arn == "arn" =>
        {
            match key.as_slice() {
                [hcl::Part::Lit(k)] => Some((name.clone(), Some(k.clone()))),
                _ => None,
            }
        }
        [hcl::Accessor::Attr(name), hcl::Accessor::Attr(arn)] if arn == "arn" => {
            Some((name.clone(), None))
        }
        _ => None,
    }
}

/// Follows `local.X` references until an expression that is not one.
fn resolve_locals(module: &hcl::Module, mut expr: hcl::Expr) -> hcl::Expr {
    for _ in 0..16 {
        match &expr {
            hcl::Expr::Traversal(root, acc) if root == "local" && acc.len() == 1 => {
                let hcl::Accessor::Attr(name) = &acc[0] else {
                    break;
                };
                match module.local(name) {
                    Ok(e) => expr = e,
                    Err(_) => break,
                }
            }
            _ => break,
        }
    }
    expr
}

/// A Lambda function's timeout as deployed: `timeout` evaluated with `each` bound when the
/// resource has a `for_each`, or Lambda's default of 3 s when unset.
fn lambda_timeout(module: &hcl::Module, name: &str, key: Option<&str>) -> Result<f64, String> {
    let block = module
        .resource("aws_lambda_function", name)
        .ok_or_else(|| format!("no resource aws_lambda_function.{name}"))?;
    let mut scope = BTreeMap::new();
    if let Some(key) = key {
        let for_each =
            block.body.attributes.get("for_each").ok_or_else(|| {
                format!("aws_lambda_function.{name} is indexed but has no for_each")
            })?;
        let instances = module.eval(&hcl::parse_expr(for_each)?, &BTreeMap::new())?;
        let value = instances
            .get(key)
            .cloned()
            .ok_or_else(|| format!("aws_lambda_function.{name} has no instance {key:?}"))?;
        scope.insert("each.key".to_string(), Value::String(key.to_string()));
        scope.insert("each.value".to_string(), value);
    }
    match block.body.attributes.get("timeout") {
        None => Ok(3.0),
        Some(src) => module
            .eval(&hcl::parse_expr(src)?, &scope)?
            .as_f64()
            .ok_or_else(|| format!("aws_lambda_function.{name} timeout is not a number")),
    }
}

#[test]
fn the_deployment_respects_the_workflow_timeouts() {
    let dir = root().join("terraform");
    if !dir.is_dir() {
        println!(
            "skipping: {} does not exist, so there is no deployment to check",
            dir.display()
        );
        return;
    }
    let module = hcl::Module::load(&dir).unwrap();
    let (workflow_path, _, workflow) = workflow();
    let workflow_timeout = workflow["TimeoutSeconds"].as_f64().unwrap();

    // The state machine's definition, followed from the resource to its templatefile call.
    let machines: Vec<_> = module.blocks("resource", "aws_sfn_state_machine").collect();
    assert!(
        !machines.is_empty(),
        "no aws_sfn_state_machine in terraform/"
    );
    let mut placeholders: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for machine in machines {
        let src = &machine.body.attributes["definition"];
        let expr = resolve_locals(&module, hcl::parse_expr(src).unwrap());
        let hcl::Expr::Call(func, args) = &expr else {
            panic!("the state machine definition is not a templatefile(...) call: {expr:?}");
        };
        assert_eq!(
            func, "templatefile",
            "the definition must be rendered, not file()d"
        );
        let path = module.eval(&args[0], &BTreeMap::new()).unwrap();
        let path = PathBuf::from(path.as_str().unwrap());
        assert_eq!(
            path.canonicalize().unwrap(),
            workflow_path.canonicalize().unwrap(),
            "the deployed definition is not the workflow this test analyses"
        );
        let hcl::Expr::Object(vars) = &args[1] else {
            panic!("templatefile's variables are not an object literal");
        };
        for (k, v) in vars {
            let hcl::Expr::Traversal(name, acc) = k else {
                continue;
            };
            assert!(acc.is_empty());
            if let Some(reference) = lambda_reference(v) {
                placeholders.insert(name.clone(), reference);
            }
        }
    }

    // Every Task that invokes a Lambda through a placeholder, against that Lambda's timeout.
    let mut checked = 0;
    for (state, task) in workflow["States"].as_object().unwrap() {
        if task["Type"] != "Task" {
            continue;
        }
        let function = task["Parameters"]["FunctionName"].as_str().or_else(|| {
            task["Resource"]
                .as_str()
                .filter(|r| r.contains(":function:"))
        });
        let Some(function) = function else { continue };
        let placeholder = function
            .strip_prefix("${")
            .and_then(|f| f.strip_suffix('}'))
            .unwrap_or_else(|| {
                panic!("{state} invokes {function}, which Terraform does not render")
            });
        let (name, key) = placeholders
            .get(placeholder)
            .unwrap_or_else(|| panic!("{state}'s {placeholder} is not bound to a Lambda"));
        let lambda = lambda_timeout(&module, name, key.as_deref()).unwrap();
        let task_timeout = task["TimeoutSeconds"].as_f64().unwrap();
        println!(
            "{state}: Lambda aws_lambda_function.{name}[{}] timeout {lambda} s <= TimeoutSeconds {task_timeout} s",
            key.as_deref().unwrap_or("")
        );
        assert!(
            lambda <= task_timeout,
            "{state}: the Lambda's timeout {lambda} s exceeds the Task's {task_timeout} s"
        );
        checked += 1;
    }
    assert!(checked > 0, "no Lambda Task was checked");

    // The gateway integration that starts the execution must wait longer than the workflow.
    let mut gateways = 0;
    for integration in module.blocks("resource", "aws_api_gateway_integration") {
        let uri = integration
            .body
            .attributes
            .get("uri")
            .map_or("", String::as_str);
        if !uri.contains("StartSyncExecution") {
            continue;
        }
        let timeout_ms = match integration.body.attributes.get("timeout_milliseconds") {
            Some(src) => module
                .eval(&hcl::parse_expr(src).unwrap(), &BTreeMap::new())
                .unwrap()
                .as_f64()
                .unwrap(),
            // API Gateway's default.
            None => 29_000.0,
        };
        println!(
            "aws_api_gateway_integration.{}: timeout_milliseconds {timeout_ms} > TimeoutSeconds {workflow_timeout} s",
            integration.labels[1]
        );
        assert!(
            timeout_ms > workflow_timeout * 1000.0,
            "the gateway gives up ({timeout_ms} ms) before the workflow's own timeout ({workflow_timeout} s)"
        );
        gateways += 1;
    }
    assert!(
        gateways > 0,
        "no API Gateway integration calls StartSyncExecution"
    );
}

#[test]
fn the_hcl_reader_follows_derived_values() {
    let e = hcl::parse_expr(
        r#"merge({ for k, v in { "a" = "A" } : k => v }, {
            "b" = 2
        })"#,
    )
    .unwrap();
    let module = hcl::Module {
        dir: root().join("terraform"),
        blocks: Vec::new(),
    };
    let v = module.eval(&e, &BTreeMap::new()).unwrap();
    assert_eq!(v, serde_json::json!({"a": "A", "b": 2.0}));
    // A shape the reader does not know is an error, never a guess.
    assert!(hcl::parse_expr("var.a > 1 ? 2 : 3").is_err());
}
