//! The execution viewer's JSON endpoints over real HTTP: what `saga serve` records of HTTP- and SDK-started
//! executions, the graph and path of one execution, a state machine with its budget, and the ring's bound.

use std::time::Duration;

use saga_local::server::{start, RunningServer};
use saga_local::Config;
use serde_json::{json, Value};

const SKU: &str = "viewer-sku";
const TIME_SCALE: f64 = 0.1;

async fn server(viewer_executions: usize) -> RunningServer {
    let s = start(Config {
        fault_injection: true,
        // Retry intervals of a second become 100 ms, and a Task's 2 s timeout 200 ms: ample for in-memory handlers
        // on a busy machine, so that every saga takes the path its faults ask for.
        time_scale: TIME_SCALE,
        sweep_interval: Duration::from_secs(3600),
        viewer_executions,
        ..Config::default()
    })
    .await
    .expect("server starts");
    let r = reqwest::Client::new()
        .put(format!("{}/inventory/{SKU}", s.url()))
        .json(&json!({"available": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s
}

/// Places an order; returns the HTTP status, the body and the execution ARN header.
async fn order(s: &RunningServer, faults: Option<&str>) -> (u16, Value, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/orders", s.url()))
        .json(&json!({"customerId": "c", "items": [{"sku": SKU, "quantity": 1}]}));
    if let Some(f) = faults {
        request = request.header("x-saga-fault", f);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let arn = r.headers()["x-saga-execution"]
        .to_str()
        .unwrap()
        .to_string();
    (status, r.json().await.unwrap(), arn)
}

async fn get(s: &RunningServer, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{}{path}", s.url())).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn names(list: &Value) -> Vec<&str> {
    list["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["executionArn"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_list_holds_both_sagas_newest_first_with_their_http_answers() {
    let s = server(10).await;
    let (happy_status, happy_body, happy) = order(&s, None).await;
    assert_eq!(happy_status, 201);
    let (comp_status, comp_body, compensated) =
        order(&s, Some("reserve-stock=error-after-commit")).await;
    assert_eq!(comp_body["compensation"], "completed");

    let (status, list) = get(&s, "/ui/api/executions").await;
    assert_eq!(status, 200);
    assert_eq!(names(&list), [compensated.as_str(), happy.as_str()]);
    let rows = list["executions"].as_array().unwrap();
    assert_eq!(rows[0]["status"], "FAILED");
    assert_eq!(rows[0]["origin"], "http");
    assert_eq!(rows[0]["stateMachineName"], "order-saga");
    assert_eq!(
        rows[0]["http"],
        json!({"status": comp_status, "problemType": comp_body["type"], "compensation": "completed",
               "orderId": comp_body["orderId"]})
    );
    assert_eq!(
        rows[0]["faults"],
        json!([{"step": "reserve-stock", "mode": "error-after-commit", "target": "reserve-stock"}])
    );
    assert_eq!(rows[1]["status"], "SUCCEEDED");
    assert_eq!(rows[1]["http"]["status"], 201);
    assert_eq!(rows[1]["http"]["orderId"], happy_body["orderId"]);
    assert!(rows[1]["durationMs"].as_f64().unwrap() > 0.0);
    assert_eq!(
        (list["held"].clone(), list["capacity"].clone()),
        (json!(2), json!(10))
    );

    let (_, failed) = get(&s, "/ui/api/executions?status=FAILED").await;
    assert_eq!(names(&failed), [compensated.as_str()]);
    let (_, succeeded) = get(
        &s,
        "/ui/api/executions?status=SUCCEEDED&stateMachine=order-saga",
    )
    .await;
    assert_eq!(names(&succeeded), [happy.as_str()]);
    let (_, other) = get(&s, "/ui/api/executions?stateMachine=another").await;
    assert_eq!(names(&other), Vec::<&str>::new());
    let (status, refused) = get(&s, "/ui/api/executions?status=RUNNING").await;
    assert_eq!(status, 400);
    assert!(refused["error"].as_str().unwrap().contains("RUNNING"));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_execution_shows_its_path_its_compensation_its_retries_and_its_events() {
    let s = server(10).await;
    let (_, _, arn) = order(&s, Some("reserve-stock=error-after-commit")).await;
    let (status, view) = get(&s, &format!("/ui/api/executions/{arn}")).await;
    assert_eq!(status, 200);
    let states = &view["states"];
    assert_eq!(states["ReleaseStock"]["highlight"], "compensation");
    assert_eq!(states["CancelOrder"]["highlight"], "compensation");
    assert_eq!(states["ReserveStock"]["highlight"], "caught");
    assert!(states["ReserveStock"]["retries"].as_u64().unwrap() >= 1);
    assert_eq!(
        states["ReserveStock"]["faults"][0]["mode"],
        "error-after-commit"
    );
    assert_eq!(states["CreateOrder"]["highlight"], "path");
    assert_eq!(states["Reject"]["highlight"], "failed");
    assert!(states.get("ConfirmOrder").is_none(), "never reached");
    let catch: Vec<&Value> = view["takenEdges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "catch")
        .collect();
    assert_eq!(
        catch,
        [&json!({"from": "ReserveStock", "to": "ReleaseStock", "kind": "catch"})]
    );

    let events = view["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "ExecutionStarted");
    assert_eq!(events.last().unwrap()["type"], "ExecutionFailed");
    assert!(events
        .windows(2)
        .all(|w| w[1]["id"].as_u64() == Some(w[0]["id"].as_u64().unwrap() + 1)));
    let entered = events
        .iter()
        .find(|e| e["type"] == "TaskStateEntered" && e["stateName"] == "ReleaseStock")
        .expect("ReleaseStock entered");
    let input: Value = serde_json::from_str(entered["details"]["input"].as_str().unwrap()).unwrap();
    // The compensation's input carries the error its Catch caught.
    assert_eq!(input["failure"]["Error"], "Saga.Transient", "{input}");

    let waterfall: Vec<&str> = view["waterfall"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        waterfall[..6],
        [
            "PrepareOrder",
            "CreateOrder",
            "CheckReplay",
            "ReserveStock",
            "ReleaseStock",
            "CancelOrder"
        ]
    );
    for w in view["waterfall"].as_array().unwrap() {
        assert!(w["startMs"].as_f64().unwrap() <= w["endMs"].as_f64().unwrap());
    }
    // The workflow's 28 s, at the server's time scale.
    assert_eq!(
        view["execution"]["timeoutSeconds"],
        json!(28.0 * TIME_SCALE)
    );
    assert_eq!(view["execution"]["gatewayLimitSeconds"], json!(29.0));
    let graph_nodes = view["graph"]["nodes"].as_array().unwrap().len();
    assert!(graph_nodes > 30, "{graph_nodes}");

    let (status, missing) = get(&s, "/ui/api/executions/arn:aws:states:nope").await;
    assert_eq!(status, 404);
    assert!(missing["error"]
        .as_str()
        .unwrap()
        .contains("most recent 10"));
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_workflow_view_marks_the_budgets_worst_path() {
    let s = server(10).await;
    let (status, machines) = get(&s, "/ui/api/state-machines").await;
    assert_eq!(status, 200);
    assert_eq!(machines["stateMachines"][0]["name"], "order-saga");
    let (status, view) = get(&s, "/ui/api/state-machines/order-saga").await;
    assert_eq!(status, 200);
    assert_eq!(view["budget"]["verdict"]["ok"], true);
    let worst: Vec<&str> = view["worstPath"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(worst.first(), Some(&"PrepareOrder"));
    let steps = view["budget"]["worst_path"]["steps"].as_array().unwrap();
    assert_eq!(worst.len(), steps.len());
    let role = |name: &str| {
        view["graph"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap()["role"]
            .clone()
    };
    assert_eq!(role("ReleaseStock"), "compensation");
    assert_eq!(role("ReserveStock"), "forward");
    let (status, _) = get(&s, "/ui/api/state-machines/nope").await;
    assert_eq!(status, 404);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn sdk_started_executions_are_recorded_too_and_their_state_machines_become_drawable() {
    let s = server(10).await;
    let sfn = sfn_api::client::local_client(&s.url());
    let created = sfn
        .create_state_machine()
        .name("hello")
        .role_arn("arn:aws:iam::123456789012:role/r")
        .r#type(aws_sdk_sfn::types::StateMachineType::Express)
        .definition(
            r#"{"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "Result": "hi", "End": true}}}"#,
        )
        .send()
        .await
        .unwrap();
    let started = sfn
        .start_sync_execution()
        .state_machine_arn(created.state_machine_arn())
        .name("say-hi")
        .send()
        .await
        .unwrap();
    let (_, list) = get(&s, "/ui/api/executions?stateMachine=hello").await;
    let row = &list["executions"][0];
    assert_eq!(row["executionArn"], started.execution_arn());
    assert_eq!(row["name"], "say-hi");
    assert_eq!(
        row["origin"],
        json!({"stepFunctions": {"operation": "StartSyncExecution"}})
    );
    assert_eq!(row["http"], Value::Null);
    let (_, view) = get(
        &s,
        &format!("/ui/api/executions/{}", started.execution_arn()),
    )
    .await;
    assert_eq!(view["states"]["Hi"]["highlight"], "path");
    let (status, machine) = get(&s, "/ui/api/state-machines/hello").await;
    assert_eq!(status, 200);
    assert_eq!(machine["stateMachineArn"], created.state_machine_arn());
    // After an update, the workflow page draws the definition that runs now.
    sfn.update_state_machine()
        .state_machine_arn(created.state_machine_arn())
        .definition(r#"{"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "End": true}}}"#)
        .send()
        .await
        .unwrap();
    sfn.start_sync_execution()
        .state_machine_arn(created.state_machine_arn())
        .send()
        .await
        .unwrap();
    let (_, machine) = get(&s, "/ui/api/state-machines/hello").await;
    assert_eq!(machine["graph"]["startAt"], "Hello");
    // The Step Functions API itself still keeps no Express history, as on AWS.
    let history = sfn
        .get_execution_history()
        .execution_arn(started.execution_arn())
        .send()
        .await;
    assert!(history.is_err());
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_ring_never_holds_more_than_its_capacity() {
    let s = server(3).await;
    let mut arns = Vec::new();
    for i in 0..7 {
        let (_, _, arn) = order(&s, None).await;
        arns.push(arn);
        let (_, list) = get(&s, "/ui/api/executions").await;
        let held = list["executions"].as_array().unwrap().len();
        assert_eq!(held, (i + 1).min(3));
        assert_eq!(list["held"], held);
        assert_eq!(list["recordedTotal"], i + 1);
    }
    let (_, list) = get(&s, "/ui/api/executions").await;
    let expected: Vec<&str> = arns.iter().rev().take(3).map(String::as_str).collect();
    assert_eq!(names(&list), expected);
    let (status, _) = get(&s, &format!("/ui/api/executions/{}", arns[0])).await;
    assert_eq!(status, 404, "the oldest was dropped");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn with_recording_off_nothing_is_kept_and_the_page_still_answers() {
    let s = server(0).await;
    let (status, _, _) = order(&s, None).await;
    assert_eq!(status, 201);
    let (_, list) = get(&s, "/ui/api/executions").await;
    assert_eq!(list["executions"], json!([]));
    assert_eq!(list["capacity"], 0);
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn get_root_is_the_page_and_other_methods_on_root_stay_unknown_routes() {
    let s = server(10).await;
    let r = reqwest::get(format!("{}/", s.url())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"src="/ui/app.js""#));
    for (path, kind) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let r = reqwest::get(format!("{}{path}", s.url())).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
    let r = reqwest::Client::new()
        .post(format!("{}/", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_live_stream_announces_each_new_execution_and_ends_at_shutdown() {
    let s = server(10).await;
    let mut stream = reqwest::get(format!("{}/ui/api/stream", s.url()))
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (_, _, arn) = order(&s, None).await;
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = stream
            .chunk()
            .await
            .unwrap()
            .expect("an event before the end");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        // Keep-alive comments may come first.
        if text.starts_with(':') {
            if let Some(end) = text.find("\n\n") {
                text.drain(..end + 2);
            }
        }
    }
    assert!(text.starts_with("event: execution\n"), "{text}");
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let row: Value = serde_json::from_str(data).unwrap();
    assert_eq!(row["executionArn"], arn);
    // A graceful shutdown waits for every connection; the open stream must not hold it up (the bound only turns a
    // hang into a failure).
    tokio::time::timeout(Duration::from_secs(60), s.shutdown())
        .await
        .expect("the shutdown does not wait for the open stream")
        .unwrap();
    while let Some(_rest) = stream.chunk().await.unwrap_or(None) {}
}
