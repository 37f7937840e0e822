//! The saga end to end over real HTTP with the store read directly: a server on 127.0.0.1:0, every fault mode on
//! every step, and after each request the invariants users rely on, checked where they live — atomic in the
//! store, truthful answers, stock conserved, repairs and sweeps finished. What an HTTP client alone can observe is
//! the contract suite's (`tests/`); this file keeps what needs the store, the repair queue or the sweeper.

use std::sync::Arc;
use std::time::Duration;

use saga_client::Reply;
use saga_domain::{OrderStatus, ReservationStatus};
use saga_local::server::{start, RunningServer};
use saga_local::Config;
use serde_json::{json, Value};

/// Workflow timings at a tenth of AWS's: a 2 s task timeout becomes 200 ms, ample for in-memory handlers.
const TIME_SCALE: f64 = 0.1;

async fn server() -> RunningServer {
    start(Config {
        fault_injection: true,
        time_scale: TIME_SCALE,
        repair_backoff: Duration::from_millis(5),
        // The tests sweep explicitly, when they know no execution is running.
        sweep_interval: Duration::from_secs(3600),
        ..Config::default()
    })
    .await
    .expect("server starts")
}

/// A fault-injecting server, a client for it, and a fresh SKU holding `available` units.
async fn stocked(available: u64) -> (RunningServer, Client, String) {
    let s = server().await;
    let c = Client::new(&s);
    let sku = unique("sku");
    c.put_stock(&sku, available).await;
    (s, c, sku)
}

/// The order API's client, with this file's vocabulary: every request must get an answer.
struct Client(saga_client::Client);

impl Client {
    fn new(server: &RunningServer) -> Self {
        Self(saga_client::Client::new(&server.url()).expect("an HTTP client"))
    }

    async fn put_stock(&self, sku: &str, available: u64) {
        let r = self.0.put_stock(sku, available, &[]).await.unwrap();
        assert_eq!(r.status, 200, "{r}");
    }

    async fn order(&self, body: &Value, key: Option<&str>, fault: Option<&str>) -> Reply {
        let mut headers = Vec::new();
        if let Some(k) = key {
            headers.push(("Idempotency-Key", k));
        }
        if let Some(f) = fault {
            headers.push(("X-Saga-Fault", f));
        }
        self.0.post_order(body, &headers).await.unwrap()
    }
}

fn body(sku: &str, quantity: u32) -> Value {
    json!({"customerId": "customer-1", "items": [{"sku": sku, "quantity": quantity}]})
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

/// Invariant 1 and 2 for one answered request: a 2xx means confirmed and reserved; anything else means
/// cancelled or absent with nothing reserved — once `pending` compensations have been repaired.
async fn assert_atomic(server: &RunningServer, answer: &Reply, put_in: &[(&str, u64)]) {
    let shared = &server.app.shared;
    let order_id = answer.body["orderId"].as_str().map(str::to_string);
    if answer.status.is_success() {
        let id = order_id.expect("a success names its order");
        let order = shared
            .orders
            .get_order(&id)
            .await
            .unwrap()
            .expect("confirmed order exists");
        assert_eq!(
            order.status,
            OrderStatus::Confirmed,
            "a 2xx means the order is confirmed"
        );
        let res = shared
            .inventory
            .get_reservation(&id)
            .await
            .unwrap()
            .expect("stock reserved");
        assert_eq!(
            res.status,
            ReservationStatus::Reserved,
            "a 2xx means its stock is reserved"
        );
    } else {
        assert_eq!(
            answer.headers.get("content-type").unwrap(),
            "application/problem+json",
            "errors are problem documents"
        );
        for field in ["type", "title", "status", "detail", "compensation"] {
            assert!(
                answer.body.get(field).is_some(),
                "problem lacks {field}: {}",
                answer.body
            );
        }
        assert_eq!(
            answer.body["status"],
            answer.status.as_u16(),
            "the body's status is the HTTP status"
        );
        if let Some(id) = order_id {
            if let Some(order) = shared.orders.get_order(&id).await.unwrap() {
                assert_eq!(
                    order.status,
                    OrderStatus::Cancelled,
                    "a failed order ends cancelled: {}",
                    answer.body
                );
            }
            if let Some(res) = shared.inventory.get_reservation(&id).await.unwrap() {
                assert_eq!(
                    res.status,
                    ReservationStatus::Released,
                    "a failed order holds no stock"
                );
            }
        }
    }
    for (sku, total) in put_in {
        let level = shared.inventory.get_stock(sku).await.unwrap().unwrap();
        assert_eq!(
            level.available + level.reserved,
            *total,
            "stock is conserved for {sku}"
        );
    }
}

/// One sweeper pass with no age limit: every PENDING order counts as abandoned.
async fn sweep_now(server: &RunningServer) -> usize {
    saga_local::sweeper::sweep_once(
        &*server.app.shared.orders,
        &*server.app.shared.inventory,
        Duration::ZERO,
    )
    .await
}

/// (available, reserved) of `sku`.
async fn level(server: &RunningServer, sku: &str) -> (u64, u64) {
    let l = server
        .app
        .shared
        .inventory
        .get_stock(sku)
        .await
        .unwrap()
        .unwrap();
    (l.available, l.reserved)
}

/// The JSON body of a GET of `path`.
async fn get_json(server: &RunningServer, path: &str) -> Value {
    Client::new(server).0.get(path).await.unwrap().body
}

/// Lets late writes land (a `late-commit` step sleeps past its deadline), then finishes owed repairs.
async fn settle(server: &RunningServer) {
    tokio::time::sleep(Duration::from_secs_f64(2.5 * TIME_SCALE + 0.3)).await;
    server.app.shared.repair.wait_idle().await;
}

#[tokio::test]
async fn a_successful_saga_confirms_and_reserves() {
    let (s, c, sku) = stocked(10).await;
    let a = c.order(&body(&sku, 3), None, None).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["status"], "CONFIRMED");
    let id = a.body["orderId"].as_str().unwrap();
    assert_eq!(a.headers["location"], format!("orders/{id}").as_str());
    assert!(a.headers.contains_key("x-saga-execution"));
    assert_atomic(&s, &a, &[(&sku, 10)]).await;
    let stock: Value = get_json(&s, &format!("/inventory/{sku}")).await;
    assert_eq!(stock, json!({"sku": sku, "available": 7, "reserved": 3}));
    let order: Value = get_json(&s, &format!("/orders/{id}")).await;
    assert_eq!(order["status"], "CONFIRMED");
    s.shutdown().await.unwrap();
}

#[tokio::test]
async fn insufficient_stock_is_409_and_the_order_is_cancelled() {
    let s = server().await;
    let c = Client::new(&s);
    let (a_sku, b_sku) = (unique("a"), unique("b"));
    c.put_stock(&a_sku, 10).await;
    c.put_stock(&b_sku, 1).await;
    let req = json!({"customerId": "c", "items": [{"sku": a_sku, "quantity": 2}, {"sku": b_sku, "quantity": 2}]});
    let a = c.order(&req, None, None).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["type"], "/problems/insufficient-stock");
    assert_eq!(a.body["compensation"], "completed");
    let id = a.body["orderId"].as_str().unwrap();
    let order: Value = get_json(&s, &format!("/orders/{id}")).await;
    assert_eq!(order["status"], "CANCELLED");
    assert_atomic(&s, &a, &[(&a_sku, 10), (&b_sku, 1)]).await;
    assert_eq!(level(&s, &a_sku).await.0, 10);
}

/// What the client must get for a fault on a forward step: (mode, expected status).
const FORWARD: [(&str, u16); 5] = [
    ("error", 503),
    ("error-once", 201),
    ("timeout", 504),
    ("error-after-commit", 503),
    ("late-commit", 504),
];

#[tokio::test]
async fn every_fault_mode_on_every_forward_step_leaves_consistent_data() {
    let s = server().await;
    let c = Arc::new(Client::new(&s));
    let mut cases = Vec::new();
    for step in ["create-order", "reserve-stock", "confirm-order"] {
        for (mode, expected) in FORWARD {
            cases.push((step, mode, expected));
        }
    }
    let runs = cases.into_iter().map(|(step, mode, expected)| {
        let c = c.clone();
        async move {
            let sku = unique("sku");
            c.put_stock(&sku, 5).await;
            let a = c
                .order(&body(&sku, 2), None, Some(&format!("{step}={mode}")))
                .await;
            (step, mode, expected, sku, a)
        }
    });
    let results = futures_join_all(runs).await;
    settle(&s).await;
    for (step, mode, expected, sku, a) in results {
        // A confirm that landed is final: the fence finds it and the saga answers as succeeded. A late one
        // races the fence, and either outcome is consistent (`assert_atomic` checks the data agrees).
        let expected = match (step, mode) {
            ("confirm-order", "error-after-commit") => 201,
            ("confirm-order", "late-commit") if a.status == 201 => 201,
            _ => expected,
        };
        assert_eq!(a.status, expected, "{step}={mode}: {}", a.body);
        if expected != 201 {
            assert_eq!(a.body["compensation"], "completed", "{step}={mode}");
        }
        assert_atomic(&s, &a, &[(&sku, 5)]).await;
    }
}

/// Compensation faults only matter once something failed: reserve-stock fails, then the compensation step
/// misbehaves. (mode, expected status, compensation).
const COMPENSATION: [(&str, u16, &str); 5] = [
    ("error", 500, "pending"),
    ("error-once", 503, "completed"),
    ("timeout", 500, "pending"),
    ("error-after-commit", 500, "pending"),
    ("late-commit", 500, "pending"),
];

#[tokio::test]
async fn every_fault_mode_on_every_compensation_is_repaired() {
    let s = server().await;
    let c = Arc::new(Client::new(&s));
    let mut cases = Vec::new();
    for step in ["release-stock", "cancel-order"] {
        for (mode, status, compensation) in COMPENSATION {
            // reserve-stock commits then fails, so there really is stock to release.
            cases.push((
                format!("reserve-stock=error-after-commit,{step}={mode}"),
                status,
                compensation,
            ));
        }
    }
    for (mode, _, _) in COMPENSATION {
        // The fence runs only after confirm-order failed, and has no retry: any fault on it queues a repair.
        cases.push((
            format!("confirm-order=error,fence-order={mode}"),
            500,
            "pending",
        ));
    }
    let runs = cases.into_iter().map(|(fault, status, compensation)| {
        let c = c.clone();
        async move {
            let sku = unique("sku");
            c.put_stock(&sku, 5).await;
            let a = c.order(&body(&sku, 2), None, Some(&fault)).await;
            (fault, status, compensation, sku, a)
        }
    });
    let results = futures_join_all(runs).await;
    settle(&s).await;
    for (fault, status, compensation, sku, a) in results {
        assert_eq!(a.status, status, "{fault}: {}", a.body);
        assert_eq!(a.body["compensation"], compensation, "{fault}");
        // After the repair worker has run, the pending ones are consistent too.
        assert_atomic(&s, &a, &[(&sku, 5)]).await;
        assert!(s
            .app
            .shared
            .orders
            .get_order(a.body["orderId"].as_str().unwrap())
            .await
            .unwrap()
            .is_some());
    }
    let stats = s.app.shared.repair.stats();
    assert_eq!(stats.pending, 0);
    assert_eq!(
        stats.repaired, 13,
        "every pending answer was queued and repaired: {stats:?}"
    );
}

#[tokio::test]
async fn a_lost_execution_answers_500_pending_and_the_sweeper_finishes_it() {
    let s = server().await;
    let c = Client::new(&s);
    for step in [
        "create-order",
        "reserve-stock",
        "confirm-order",
        "fence-order",
        "release-stock",
    ] {
        let sku = unique("sku");
        c.put_stock(&sku, 5).await;
        // Compensations only run after a failure: fail reserve (or, for the fence, confirm) first.
        let fault = match step {
            "release-stock" => "reserve-stock=error-after-commit,release-stock=abort".to_string(),
            "fence-order" => "confirm-order=error,fence-order=abort".to_string(),
            _ => format!("{step}=abort"),
        };
        let a = c.order(&body(&sku, 2), None, Some(&fault)).await;
        assert_eq!(a.status, 500, "{fault}: {}", a.body);
        assert_eq!(a.body["compensation"], "pending");
        assert_eq!(a.body["type"], "/problems/execution-lost");
        assert!(a.body.get("idempotencyKeyOutcome").is_none(), "{}", a.body);
        assert!(a.headers.contains_key("x-saga-execution"));
        let swept = sweep_now(&s).await;
        assert_eq!(level(&s, &sku).await, (5, 0), "{fault}: swept {swept}");
        assert!(
            s.app
                .all_orders()
                .iter()
                .all(|o| o.status != OrderStatus::Pending),
            "{fault}: no order is left PENDING"
        );
    }
}

#[tokio::test]
async fn a_replay_of_a_swept_order_answers_that_it_was_cancelled() {
    let (s, c, sku) = stocked(5).await;
    let key = unique("key");
    let lost = c
        .order(&body(&sku, 2), Some(&key), Some("reserve-stock=abort"))
        .await;
    assert_eq!(lost.status, 500, "{}", lost.body);
    // The execution ended outside the workflow's answers, so this answer cannot speak for the key.
    assert_eq!(lost.body["type"], "/problems/execution-lost");
    assert_eq!(
        lost.body["idempotencyKeyOutcome"], "unknown",
        "{}",
        lost.body
    );
    sweep_now(&s).await;
    let replay = c.order(&body(&sku, 2), Some(&key), None).await;
    assert_eq!(replay.status, 409, "{}", replay.body);
    assert_eq!(replay.body["type"], "/problems/order-cancelled");
    assert_eq!(replay.body["compensation"], "completed");
    let id = replay.body["orderId"].as_str().unwrap_or_default();
    let order = s.app.all_orders().into_iter().find(|o| o.order_id == id);
    assert_eq!(
        order.map(|o| o.status),
        Some(OrderStatus::Cancelled),
        "{id}"
    );
    let detail = replay.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("the order sweeper compensated it"),
        "{detail}"
    );
    assert_eq!(level(&s, &sku).await, (5, 0));
}

#[tokio::test]
async fn a_replay_that_cannot_read_its_key_says_so_and_denies_nothing() {
    let (s, c, sku) = stocked(10).await;
    let key = unique("key");
    let first = c.order(&body(&sku, 2), Some(&key), None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    for (fault, status, compensation) in [
        ("create-order=timeout", 504, "completed"),
        ("create-order=error", 503, "completed"),
        ("create-order=error,cancel-order=error", 500, "pending"),
    ] {
        let blind = c.order(&body(&sku, 2), Some(&key), Some(fault)).await;
        assert_eq!(blind.status, status, "{fault}: {}", blind.body);
        assert_eq!(blind.body["idempotencyKeyOutcome"], "unknown", "{fault}");
        assert_eq!(blind.body["compensation"], compensation, "{fault}");
        let detail = blind.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("Retry with the same key"), "{detail}");
    }
    // The key's order is untouched, and a replay that can read the key answers as the original did.
    let again = c.order(&body(&sku, 2), Some(&key), None).await;
    assert_eq!((again.status.as_u16(), &again.body), (201, &first.body));
    assert_eq!(level(&s, &sku).await, (8, 2));
    // Without a key there is nothing to tell: the answer is the plain compensated failure.
    let unkeyed = c
        .order(&body(&sku, 1), None, Some("create-order=timeout"))
        .await;
    assert_eq!(unkeyed.status, 504, "{}", unkeyed.body);
    assert!(unkeyed.body.get("idempotencyKeyOutcome").is_none());
}

#[tokio::test]
async fn an_idempotent_replay_gives_the_same_answer_and_one_order() {
    let (s, c, sku) = stocked(10).await;
    let key = unique("key");
    let first = c.order(&body(&sku, 2), Some(&key), None).await;
    let second = c.order(&body(&sku, 2), Some(&key), None).await;
    assert_eq!((first.status.as_u16(), second.status.as_u16()), (201, 201));
    assert_eq!(first.body, second.body);
    assert_eq!(first.headers["location"], second.headers["location"]);
    assert_eq!(level(&s, &sku).await.1, 2, "reserved once");
    let reused = c.order(&body(&sku, 3), Some(&key), None).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.body["type"], "/problems/idempotency-key-reused");
    assert_eq!(s.app.all_orders().len(), 1, "exactly one order");
}

/// A replay whose original is still running waits for it (1 + 2 + 4 s at AWS timings), then says so with a 409:
/// no step failed, so this answer is the workflow's own, not an execution failure outside its contract.
#[tokio::test]
async fn a_replay_of_a_request_still_running_is_409_in_progress() {
    let (s, c, sku) = stocked(5).await;
    let c = Arc::new(c);
    let key = unique("key");
    // Every forward and compensating step times out: the original runs for the workflow's whole worst path.
    let original = {
        let (c, sku, key) = (c.clone(), sku.clone(), key.clone());
        tokio::spawn(async move {
            c.order(
                &body(&sku, 2),
                Some(&key),
                Some("reserve-stock=timeout,release-stock=timeout,cancel-order=timeout"),
            )
            .await
        })
    };
    let order_id = loop {
        let placed = s.app.all_orders();
        if let Some(o) = placed
            .iter()
            .find(|o| o.idempotency_key.as_deref() == Some(&key))
        {
            break o.order_id.clone();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let replay = c.order(&body(&sku, 2), Some(&key), None).await;
    assert_eq!(replay.status, 409, "{}", replay.body);
    assert_eq!(replay.body["type"], "/problems/idempotency-key-in-progress");
    assert_eq!(replay.body["compensation"], "not-needed");
    assert_eq!(replay.body["orderId"], order_id.as_str());
    let original = original.await.unwrap();
    assert_eq!(original.status, 500, "{}", original.body);
    assert_eq!(original.body["compensation"], "pending");
    settle(&s).await;
    assert_eq!(
        level(&s, &sku).await,
        (5, 0),
        "the repair released the stock"
    );
}

#[tokio::test]
async fn concurrent_orders_for_one_sku_never_oversell() {
    let s = server().await;
    let c = Arc::new(Client::new(&s));
    let sku = unique("hot");
    c.put_stock(&sku, 20).await;
    let runs = (0..60).map(|_| {
        let c = c.clone();
        let sku = sku.clone();
        async move { c.order(&body(&sku, 1), None, None).await }
    });
    let answers = futures_join_all(runs).await;
    let ok = answers.iter().filter(|a| a.status == 201).count();
    let conflict = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(
        (ok, conflict),
        (20, 40),
        "exactly the stock on hand is sold"
    );
    for a in &answers {
        assert_atomic(&s, a, &[(&sku, 20)]).await;
    }
    assert_eq!(level(&s, &sku).await, (0, 20));
}

#[tokio::test]
async fn concurrent_identical_requests_make_one_order() {
    let (s, c, sku) = stocked(100).await;
    let c = Arc::new(c);
    let key = unique("key");
    let runs = (0..50).map(|_| {
        let c = c.clone();
        let (sku, key) = (sku.clone(), key.clone());
        async move { c.order(&body(&sku, 1), Some(&key), None).await }
    });
    let answers = futures_join_all(runs).await;
    let first = &answers[0];
    for a in &answers {
        assert_eq!(a.status, 201, "{}", a.body);
        assert_eq!(a.body, first.body, "identical answers");
    }
    assert_eq!(s.app.all_orders().len(), 1, "one order");
    assert_eq!(level(&s, &sku).await.1, 1);
}

/// `join_all` without another dependency: spawn each future and await them in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task finished"));
    }
    out
}

#[tokio::test]
async fn an_idempotency_key_expires_after_its_window() {
    let s = start(Config {
        time_scale: TIME_SCALE,
        idempotency_ttl_s: 1,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = Client::new(&s);
    let sku = unique("sku");
    c.put_stock(&sku, 10).await;
    let key = unique("key");
    let first = c.order(&body(&sku, 1), Some(&key), None).await;
    // Expiry is judged in whole seconds: after two, a one-second binding has certainly lapsed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let second = c.order(&body(&sku, 1), Some(&key), None).await;
    assert_eq!((first.status.as_u16(), second.status.as_u16()), (201, 201));
    assert_ne!(
        first.body["orderId"], second.body["orderId"],
        "an expired key makes a new order"
    );
    assert_eq!(s.app.all_orders().len(), 2);
}

#[tokio::test]
async fn with_a_data_dir_orders_stock_and_owed_repairs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        fault_injection: true,
        // AWS's own timings: every write here waits for an fsync, which on a loaded machine can outlast the
        // scaled-down 200 ms task timeout and turn the answers this test expects into 504s.
        time_scale: 1.0,
        data_dir: Some(dir.path().to_path_buf()),
        // The first server has no repair worker, as if production's were down: the repair stays owed.
        repair_worker: false,
        sweep_interval: Duration::from_secs(3600),
        ..Config::default()
    };
    let sku = unique("sku");
    let (confirmed, pending) = {
        let s = start(config()).await.unwrap();
        let c = Client::new(&s);
        c.put_stock(&sku, 10).await;
        let ok = c.order(&body(&sku, 2), None, None).await;
        // release-stock fails every attempt: the repair is queued.
        let bad = c
            .order(
                &body(&sku, 3),
                None,
                Some("reserve-stock=error-after-commit,release-stock=error"),
            )
            .await;
        assert_eq!(
            (ok.status.as_u16(), bad.status.as_u16()),
            (201, 500),
            "{}",
            bad.body
        );
        assert_eq!(s.app.shared.repair.stats().pending, 1);
        assert_eq!(level(&s, &sku).await.1, 5);
        s.shutdown().await.unwrap();
        (ok, bad)
    };
    let s = start(Config {
        repair_worker: true,
        ..config()
    })
    .await
    .unwrap();
    s.app.shared.repair.wait_idle().await;
    let order: Value = get_json(
        &s,
        &format!("/orders/{}", confirmed.body["orderId"].as_str().unwrap()),
    )
    .await;
    assert_eq!(order["status"], "CONFIRMED", "the confirmed order survived");
    assert_atomic(&s, &pending, &[(&sku, 10)]).await;
    assert_eq!(
        level(&s, &sku).await,
        (8, 2),
        "the owed repair ran after the restart"
    );
    assert_eq!(s.app.shared.repair.stats().repaired, 1);
}

#[tokio::test]
async fn the_aws_sdk_runs_the_saga_through_the_step_functions_api() {
    let (s, _c, sku) = stocked(4).await;
    let sfn = sfn_api::client::local_client(&s.url());
    let machines = sfn.list_state_machines().send().await.unwrap();
    let arn = machines.state_machines()[0].state_machine_arn().to_string();
    assert!(arn.ends_with(":stateMachine:order-saga"), "{arn}");
    let input = json!({"request": body(&sku, 3), "idempotencyKey": null, "faults": null, "requestId": "r-1"});
    let out = sfn
        .start_sync_execution()
        .state_machine_arn(&arn)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_str(), "SUCCEEDED");
    let output: Value = serde_json::from_str(out.output().unwrap()).unwrap();
    assert_eq!(output["statusCode"], 201);
    assert_eq!(output["body"]["status"], "CONFIRMED");
    let again = sfn
        .start_sync_execution()
        .state_machine_arn(&arn)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status().as_str(),
        "FAILED",
        "only 1 of 4 left: the second saga is refused"
    );
    assert_eq!(again.error(), Some("Saga.InsufficientStock"));
    let problem: Value = serde_json::from_str(again.cause().unwrap()).unwrap();
    assert_eq!(
        (problem["status"].as_u64(), problem["compensation"].as_str()),
        (Some(409), Some("completed"))
    );
}

/// Confirmation is the point of no return. A confirm that committed and then failed is found by the fence, so
/// the saga answers 201; a replay of the same key, which only reads, agrees; nothing is ever undone.
#[tokio::test]
async fn a_confirm_that_landed_is_final_and_answers_success() {
    let (s, c, sku) = stocked(5).await;
    let key = unique("key");
    let a = c
        .order(
            &body(&sku, 2),
            Some(&key),
            Some("confirm-order=error-after-commit"),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let replay = c.order(&body(&sku, 2), Some(&key), None).await;
    assert_eq!((replay.status.as_u16(), &replay.body), (201, &a.body));
    settle(&s).await;
    sweep_now(&s).await;
    assert_atomic(&s, &a, &[(&sku, 5)]).await;
    let order = s
        .app
        .shared
        .orders
        .get_order(a.body["orderId"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (order.status, order.fenced),
        (OrderStatus::Confirmed, false)
    );
}

/// The fence held, the stock was released, and then the compensation was cut off before cancel-order: the
/// order is left PENDING (fenced), and the sweeper finishes it.
#[tokio::test]
async fn a_compensation_cut_off_after_release_is_finished_by_the_sweeper() {
    let s = server().await;
    let c = Client::new(&s);
    for fault in [
        // The execution is lost before cancel-order.
        "confirm-order=error,cancel-order=abort",
        // …or cancel-order fails and the repair message cannot be sent either.
        "confirm-order=error,cancel-order=error,enqueue-repair=error",
    ] {
        let sku = unique("sku");
        c.put_stock(&sku, 5).await;
        let a = c.order(&body(&sku, 2), None, Some(fault)).await;
        assert_eq!(
            (a.status.as_u16(), a.body["compensation"].as_str()),
            (500, Some("pending")),
            "{fault}: {}",
            a.body
        );
        settle(&s).await;
        sweep_now(&s).await;
        let id = a.body["orderId"].as_str().map(str::to_string);
        let cancelled = s
            .app
            .all_orders()
            .into_iter()
            .filter(|o| !o.tombstone && id.as_deref().is_none_or(|id| o.order_id == id))
            .all(|o| o.status == OrderStatus::Cancelled);
        assert!(cancelled, "{fault}: the order ends cancelled");
        assert_eq!(level(&s, &sku).await, (5, 0), "{fault}");
    }
}
