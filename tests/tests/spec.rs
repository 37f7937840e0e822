//! `docs/openapi.yaml` against what it describes: the request schema file, the workflow's problem states, the
//! server's routes and problem types, and the production gateway's answers. A change to any of them that the
//! spec does not follow fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use contract_tests::spec::{resolve, response, spec, validate};
use contract_tests::{order_id, Target};
use regex::Regex;
use reqwest::Method;
use saga_local::problem::ProblemKind;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn problem_types() -> BTreeSet<String> {
    spec()["components"]["schemas"]["ProblemType"]["enum"]
        .as_array()
        .expect("ProblemType is an enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_order_request_schema_is_the_schema_file() {
    let media = &spec()["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"];
    let reference = media["schema"]["$ref"]
        .as_str()
        .expect("a $ref, not an inline copy");
    let file = repo().join("docs").join(reference);
    let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    // The server validates with the text it embeds; the spec must name that same document.
    let served: Value = serde_json::from_str(saga_local::app::REQUEST_SCHEMA).unwrap();
    assert_eq!(
        on_disk,
        served,
        "{} is not the schema the server uses",
        file.display()
    );
    // And API Gateway's model is built from the same file.
    assert!(read("terraform/apigateway.tf")
        .contains(r#"file("${path.module}/../schemas/order-request.schema.json")"#));
}

#[test]
fn the_spec_examples_are_valid() {
    let schema: Value = serde_json::from_str(saga_local::app::REQUEST_SCHEMA).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let examples = &spec()["paths"]["/orders"]["post"]["requestBody"]["content"]
        ["application/json"]["examples"];
    for (name, example) in examples.as_object().unwrap() {
        assert!(validator.is_valid(&example["value"]), "example {name}");
        assert!(saga_domain::validate::validate_order_request(&example["value"]).is_ok());
    }
}

/// The `type`/`multipleOf` of every number in a request schema, with the path to it.
fn request_numbers(schema: &Value, at: &str, out: &mut Vec<(String, Value)>) {
    match schema {
        Value::Object(map) => {
            if matches!(
                map.get("type").and_then(Value::as_str),
                Some("integer" | "number")
            ) {
                out.push((at.to_string(), json!([map["type"], map.get("multipleOf")])));
            }
            for (k, v) in map {
                request_numbers(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                request_numbers(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A count in a request is a whole number in any spelling ("Numbers and strings in requests" in the spec). Draft
/// 4's `integer`, which API Gateway would apply, refuses `529.0` while 2020-12's accepts it, so every request
/// schema says `number` with `multipleOf: 1`, which both drafts read alike.
#[test]
fn request_counts_are_whole_numbers_under_both_drafts() {
    let order: Value = serde_json::from_str(saga_local::app::REQUEST_SCHEMA).unwrap();
    let stock = &spec()["components"]["schemas"]["SetStock"];
    let mut numbers = Vec::new();
    request_numbers(&order, "order-request.schema.json", &mut numbers);
    request_numbers(stock, "SetStock", &mut numbers);
    assert_eq!(numbers.len(), 2, "{numbers:?}");
    for (at, rule) in &numbers {
        assert_eq!(*rule, json!(["number", 1]), "{at}");
    }
    // The setStock body is the only one the spec states inline; it must be the one that operation uses.
    assert_eq!(
        spec()["paths"]["/inventory/{sku}"]["put"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/SetStock"
    );
}

/// API Gateway's model for `PUT /inventory/{sku}` is written in `apigateway.tf`; its `available` must be the spec's.
#[test]
fn the_stock_model_is_the_spec_stock_schema() {
    let tf = read("terraform/apigateway.tf");
    let block = tf
        .split(r#"resource "aws_api_gateway_model" "set_stock_request""#)
        .nth(1)
        .expect("the set_stock_request model");
    let line = Regex::new(r"(?m)^\s*available\s*=\s*\{(.*)\}\s*$").unwrap();
    let fields = &line.captures(block).expect("available = { ... }")[1];
    let mut model = serde_json::Map::new();
    for field in fields.split(',') {
        let (k, v) = field.split_once('=').expect("k = v");
        model.insert(
            k.trim().to_string(),
            serde_json::from_str(v.trim()).unwrap(),
        );
    }
    let mut documented =
        spec()["components"]["schemas"]["SetStock"]["properties"]["available"].clone();
    documented.as_object_mut().unwrap().remove("description");
    assert_eq!(Value::Object(model), documented);
}

/// The rule for counts, end to end, on the routes that take one: `6901.0` and `529.0` are stored and answered as
/// the integers 6901 and 529, `2.0` and `2` under one Idempotency-Key are one request, and a fraction is refused.
#[tokio::test]
async fn whole_numbers_written_with_a_fraction_are_integers() {
    let t = Target::start().await;
    let json = [("content-type", "application/json")];
    let sku = t.sku("whole");
    let stock_path = format!("/inventory/{sku}");
    let put = |text: &'static str| {
        t.send(
            Method::PUT,
            &stock_path,
            &json,
            Some(text.as_bytes().to_vec()),
        )
    };
    let reply = put(r#"{"available": 6901.0}"#).await;
    assert_eq!(reply.status.as_u16(), 200, "{reply}");
    contract_tests::spec::assert_conforms(&reply);
    assert!(
        reply.text.contains("6901") && !reply.text.contains("6901."),
        "{reply}"
    );
    assert_eq!(t.stock(&sku).await, (6901, 0));
    let reply = put(r#"{"available": 6.9e3}"#).await;
    assert_eq!(reply.body["available"], 6900, "{reply}");
    let reply = put(r#"{"available": 6901.5}"#).await;
    contract_tests::assert_problem(&reply, 400, "validation-failed", "not-needed");
    assert_eq!(t.stock(&sku).await, (6900, 0));

    let order = |quantity: &str| {
        format!(r#"{{"customerId": "c", "items": [{{"sku": "{sku}", "quantity": {quantity}}}]}}"#)
            .into_bytes()
    };
    let placed = t.post_raw(&order("529.0"), &json).await;
    assert_eq!(placed.status.as_u16(), 201, "{placed}");
    assert!(placed.text.contains(r#""quantity":529}"#), "{placed}");
    assert_eq!(t.stock(&sku).await, (6371, 529));
    let refused = t.post_raw(&order("529.5"), &json).await;
    contract_tests::assert_problem(&refused, 400, "validation-failed", "not-needed");

    let key = format!("key-{}", uuid::Uuid::new_v4());
    let keyed = [json[0], ("idempotency-key", key.as_str())];
    let first = t.post_raw(&order("2.0"), &keyed).await;
    assert_eq!(first.status.as_u16(), 201, "{first}");
    let again = t.post_raw(&order("2"), &keyed).await;
    assert_eq!(again.status.as_u16(), 201, "{again}");
    assert_eq!(order_id(&again), order_id(&first));
    let other = t.post_raw(&order("3.0"), &keyed).await;
    contract_tests::assert_problem(&other, 422, "idempotency-key-reused", "not-needed");
    assert_eq!(t.stock(&sku).await, (6369, 531));
    t.stop().await;
}

/// Every Problem* state of the workflow: its answer is documented for `POST /orders` and fits the schema there.
#[test]
fn every_workflow_problem_is_documented() {
    let workflow: Value = serde_json::from_str(&read("workflow.asl.json")).unwrap();
    let types = problem_types();
    let answers_with_problem = |state: &str| {
        let fail = &workflow["States"][state];
        fail["Type"] == "Fail" && fail["CausePath"] == "States.JsonToString($.problem)"
    };
    let mut seen = 0;
    for (name, state) in workflow["States"].as_object().unwrap() {
        if !name.starts_with("Problem") {
            continue;
        }
        seen += 1;
        let params = state["Parameters"].as_object().unwrap();
        // A sample of what the state produces: paths and intrinsics become strings.
        let mut sample = serde_json::Map::new();
        for (k, v) in params {
            match k.strip_suffix(".$") {
                Some(k) => sample.insert(k.to_string(), json!(format!("sample {k}"))),
                None => sample.insert(k.clone(), v.clone()),
            };
        }
        let sample = Value::Object(sample);
        let kind = sample["type"].as_str().unwrap();
        assert!(types.contains(kind), "{name}: {kind} is not in ProblemType");
        let status = sample["status"].as_u64().unwrap() as u16;
        let documented = response("post", "/orders", status)
            .unwrap_or_else(|| panic!("{name}: POST /orders does not document {status}"));
        let schema = &documented["content"]["application/problem+json"]["schema"];
        if let Err(e) = validate(schema, &sample) {
            panic!("{name}'s answer does not fit the spec's {status}: {e:?}");
        }
        match state["Next"].as_str() {
            Some(fail) if answers_with_problem(fail) => {
                // `Reject` names its error after the step that failed; on a path where none did, that name is
                // missing and the Fail state itself would fail, so such a path needs a literal error.
                if name == "ProblemInProgress" {
                    assert!(
                        workflow["States"][fail]["Error"].is_string(),
                        "{name} ends where no step failed, so {fail} needs a literal Error"
                    );
                }
            }
            // The answer may be marked as not knowing its Idempotency-Key's outcome; marked, it still fits.
            Some("CheckKeyOutcome") => {
                let mut marked = sample.clone();
                marked["idempotencyKeyOutcome"] = json!("unknown");
                if let Err(e) = validate(schema, &marked) {
                    panic!("{name}'s marked answer does not fit the spec's {status}: {e:?}");
                }
            }
            other => panic!("{name} must end the execution, not go to {other:?}"),
        }
    }
    assert!(seen >= 10, "found only {seen} Problem* states");
    // The marking copies the problem whole and only adds its member, then ends the execution.
    let check = &workflow["States"]["CheckKeyOutcome"];
    assert_eq!(check["Default"], "Reject");
    assert_eq!(check["Choices"][0]["Next"], "MarkKeyOutcomeUnknown");
    let mark = &workflow["States"]["MarkKeyOutcomeUnknown"];
    assert_eq!(mark["Next"], "Reject");
    assert_eq!(mark["ResultPath"], "$.problem");
    for member in ["type", "title", "status", "orderId", "compensation"] {
        assert_eq!(
            mark["Parameters"][format!("{member}.$")],
            format!("$.problem.{member}"),
            "MarkKeyOutcomeUnknown must copy {member}"
        );
    }
    assert_eq!(mark["Parameters"]["idempotencyKeyOutcome"], "unknown");
}

/// `(source, status, type)` of every problem the servers produce: the local server's from its type, the production
/// gateway's by the shapes its templates and gateway responses use.
fn produced_problems() -> Vec<(String, Option<u16>, String)> {
    let mut out: Vec<(String, Option<u16>, String)> = ProblemKind::ALL
        .iter()
        .map(|kind| {
            (
                format!("saga-local {kind:?}"),
                Some(kind.status().as_u16()),
                kind.type_uri(),
            )
        })
        .collect();
    let literal =
        Regex::new(r#""type":"(/problems/[a-z-]+)","title":"[^"]*","status":(\d+)"#).unwrap();
    let dir = repo().join("terraform/templates");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for c in literal.captures_iter(&text) {
            out.push((
                path.display().to_string(),
                c[2].parse().ok(),
                c[1].to_string(),
            ));
        }
    }
    let gateway = Regex::new(r#"status = (\d+|null), type = "(/problems/[a-z-]+)""#).unwrap();
    for c in gateway.captures_iter(&read("terraform/api_stage.tf")) {
        out.push(("api_stage.tf".into(), c[1].parse().ok(), c[2].to_string()));
    }
    assert!(
        out.len() > 20,
        "the source patterns found too little: {out:?}"
    );
    out
}

#[test]
fn every_problem_type_the_servers_produce_is_in_the_spec() {
    let types = problem_types();
    let produced = produced_problems();
    for (file, _, kind) in &produced {
        assert!(
            types.contains(kind),
            "{file} produces {kind}, which ProblemType lacks"
        );
    }
    // And the other way round: no type is documented that nothing produces.
    let workflow = read("workflow.asl.json");
    for kind in &types {
        assert!(
            produced.iter().any(|(_, _, k)| k == kind) || workflow.contains(kind.as_str()),
            "ProblemType lists {kind}, which nothing produces"
        );
    }
}

/// A problem of this status and type is accepted by some operation's documented answer.
fn documented_somewhere(status: u16, kind: &str) -> bool {
    let sample = json!({
        "type": kind, "title": "t", "status": status, "detail": "d",
        "orderId": "o", "compensation": "not-needed",
    });
    spec()["paths"].as_object().unwrap().values().any(|item| {
        item.as_object().unwrap().values().any(|op| {
            op.get("responses")
                .and_then(|r| r.get(status.to_string()))
                .map(resolve)
                .and_then(|r| r.pointer("/content/application~1problem+json/schema"))
                .is_some_and(|schema| {
                    ["not-needed", "completed", "pending"].iter().any(|c| {
                        let mut s = sample.clone();
                        s["compensation"] = json!(c);
                        validate(schema, &s).is_ok()
                    })
                })
        })
    })
}

#[test]
fn every_status_the_servers_produce_is_documented_with_its_type() {
    for (file, status, kind) in produced_problems() {
        // The router's own fallbacks answer for paths and methods the spec does not have, by definition.
        if matches!(
            kind.as_str(),
            "/problems/not-found" | "/problems/method-not-allowed"
        ) {
            continue;
        }
        // API Gateway's DEFAULT_4XX/5XX cover statuses that no route documents on purpose.
        let Some(status) = status else { continue };
        assert!(
            documented_somewhere(status, &kind),
            "{file}: {status} {kind} is not a documented answer of any operation"
        );
    }
}

#[test]
fn every_route_of_the_server_is_in_the_spec() {
    let route = Regex::new(r#"\.route\(\s*"([^"]+)",\s*([^\n]+)"#).unwrap();
    let gateway = read("crates/saga-local/src/gateway.rs");
    let param = Regex::new(r"\{[^}]+\}").unwrap();
    let normalise = |p: &str| param.replace_all(p, "{}").to_string();
    let spec_paths: Vec<(String, &Value)> = spec()["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, item)| (normalise(p), item))
        .collect();
    let mut routes = 0;
    for c in route.captures_iter(&gateway) {
        // `/` is the Step Functions JSON API and the execution viewer beside the order API (docs/local-mode.md), not
        // the HTTP contract.
        if &c[1] == "/" {
            continue;
        }
        let path = normalise(&c[1]);
        let (_, item) = spec_paths
            .iter()
            .find(|(p, _)| *p == path)
            .unwrap_or_else(|| panic!("route {} is not in the spec", &c[1]));
        for method in ["get", "post", "put", "delete", "patch"] {
            let routed =
                c[2].contains(&format!("{method}(")) || c[2].starts_with(&format!("{method}("));
            if routed {
                routes += 1;
                assert!(
                    item.get(method).is_some(),
                    "{method} {} is not in the spec",
                    &c[1]
                );
            }
        }
    }
    assert!(routes >= 5, "found {routes} routes in gateway.rs");
}

/// Each documented operation is served (no router fallback), and its answer is one the spec documents.
#[tokio::test]
async fn every_operation_in_the_spec_is_served() {
    let t = Target::start().await;
    if t.skip_unless_local(
        "every_operation_in_the_spec_is_served",
        "checks the local router",
    ) {
        return;
    }
    let sku = t.stocked_sku("spec", 5).await;
    for (template, item) in spec()["paths"].as_object().unwrap() {
        for (method, _) in item
            .as_object()
            .unwrap()
            .iter()
            .filter(|(m, _)| *m != "parameters")
        {
            let path = template
                .replace("{orderId}", "no-such-order")
                .replace("{sku}", &sku);
            let body = match method.as_str() {
                "post" => Some(json!({"customerId": "c", "items": [{"sku": sku, "quantity": 1}]})),
                "put" => Some(json!({"available": 5})),
                _ => None,
            };
            let headers: &[(&str, &str)] = if body.is_some() {
                &[("content-type", "application/json")]
            } else {
                &[]
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let reply = t
                .send(m, &path, headers, body.map(|b| b.to_string().into_bytes()))
                .await;
            assert!(
                !matches!(
                    reply.body["type"].as_str(),
                    Some("/problems/not-found" | "/problems/method-not-allowed")
                ),
                "{reply}"
            );
            contract_tests::spec::assert_conforms(&reply);
        }
    }
    t.stop().await;
}

/// What the local server answers for each problem kind, whole (its real title and compensation), fits an answer
/// some operation documents for that status.
#[test]
fn every_local_problem_answer_fits_the_spec() {
    for kind in ProblemKind::ALL {
        let body = saga_local::problem::Problem::new(kind, "d").body();
        // The router's own fallbacks answer for paths and methods no operation has: they fit the bare Problem.
        if matches!(kind, ProblemKind::NotFound | ProblemKind::MethodNotAllowed) {
            let problem = spec().pointer("/components/schemas/Problem").unwrap();
            assert!(validate(problem, &body).is_ok(), "{kind:?}: {body}");
            continue;
        }
        let status = kind.status().as_u16();
        let fits = spec()["paths"].as_object().unwrap().values().any(|item| {
            item.as_object().unwrap().values().any(|op| {
                op.get("responses")
                    .and_then(|r| r.get(status.to_string()))
                    .map(resolve)
                    .and_then(|r| r.pointer("/content/application~1problem+json/schema"))
                    .is_some_and(|schema| validate(schema, &body).is_ok())
            })
        });
        assert!(fits, "{kind:?}: no operation documents {body}");
    }
}
