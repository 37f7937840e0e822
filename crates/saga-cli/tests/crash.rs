//! `saga serve --data-dir` killed with SIGKILL while sagas are in flight, then started again on the same
//! directory. Whatever the crash cut, once every request has been replayed with its Idempotency-Key: each order
//! is confirmed with its stock reserved or cancelled with none, stock is conserved, and no answer given before
//! the crash is contradicted after it.

#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;

use saga_client::Client;
use serde_json::{json, Value};

mod serve;

const STOCK: u64 = 60;
const SKUS: [&str; 2] = ["crash-a", "crash-b"];

/// Faults that keep a saga busy for seconds at AWS timings (task timeouts, then retries), so these requests
/// are still in flight when the server is killed.
const SLOW: [&str; 4] = [
    "reserve-stock=timeout",
    "confirm-order=late-commit",
    "reserve-stock=error-after-commit,release-stock=timeout",
    "create-order=late-commit",
];

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, time_scale: &str) -> Self {
        let dir = dir.to_str().expect("a UTF-8 temporary directory");
        let serve::Serving { child, addr, log } = serve::serve(&[
            "--fault-injection",
            "--time-scale",
            time_scale,
            "--sweep-interval-seconds",
            "0.05",
            "--data-dir",
            dir,
        ]);
        // The server logs every saga; an unread pipe would fill and stall it.
        std::thread::spawn(move || log.for_each(drop));
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the killed server is reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Request {
    key: String,
    sku: &'static str,
    quantity: u64,
    fault: Option<&'static str>,
}

/// (status, body) of an answer, or `None` when the connection died without one.
type Answer = Option<(u16, Value)>;

async fn order(api: &Client, r: &Request, with_fault: bool) -> Answer {
    let mut headers = vec![("Idempotency-Key", r.key.as_str())];
    if let (true, Some(f)) = (with_fault, r.fault) {
        headers.push(("X-Saga-Fault", f));
    }
    let body = json!({"customerId": "c-crash", "items": [{"sku": r.sku, "quantity": r.quantity}]});
    let reply = api.post_order(&body, &headers).await.ok()?;
    (!reply.body.is_null()).then(|| (reply.status.as_u16(), reply.body))
}

/// Replays `r` until its answer is final: while a cut saga's order waits for the sweeper, a replay is told that
/// another request holds the key, and the answer to give is the one after the sweep.
async fn replay(api: &Client, r: &Request) -> (u16, Value) {
    for _ in 0..200 {
        let (status, body) = order(api, r, false)
            .await
            .unwrap_or_else(|| panic!("{}: the restarted server answers a replay", r.key));
        if body["type"] != "/problems/idempotency-key-in-progress" {
            return (status, body);
        }
        assert_eq!(status, 409, "{}: {body}", r.key);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{}: the key stayed in progress", r.key)
}

async fn get(api: &Client, path: &str) -> (u16, Value) {
    let reply = api.get(path).await.expect("the server answers");
    (reply.status.as_u16(), reply.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_saga_restarts_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), "1");
    let api = Client::new(&first.base).unwrap();
    for sku in SKUS {
        let res = api.put_stock(sku, STOCK, &[]).await.unwrap();
        assert_eq!(res.status, 200, "{res}");
    }
    let slow: Vec<Request> = (0..12)
        .map(|i| Request {
            key: format!("slow-{i}"),
            sku: SKUS[i % 2],
            quantity: 1,
            fault: Some(SLOW[i % SLOW.len()]),
        })
        .collect();
    let fast: Vec<Request> = (0..40)
        .map(|i| Request {
            key: format!("fast-{i}"),
            sku: SKUS[i % 2],
            quantity: 1 + (i % 3) as u64,
            fault: None,
        })
        .collect();
    let send_all = |rs: &[Request]| {
        rs.iter()
            .map(|r| {
                let (api, r) = (api.clone(), r.clone());
                tokio::spawn(async move { order(&api, &r, true).await })
            })
            .collect::<Vec<_>>()
    };
    let slow_calls = send_all(&slow);
    let mut before: BTreeMap<String, Answer> = BTreeMap::new();
    for (r, call) in fast.iter().zip(send_all(&fast)) {
        before.insert(r.key.clone(), call.await.unwrap());
    }
    first.kill();
    for (r, call) in slow.iter().zip(slow_calls) {
        before.insert(r.key.clone(), call.await.unwrap());
    }
    assert!(
        fast.iter().all(|r| before[&r.key].is_some()),
        "every fault-free saga was answered before the kill"
    );
    assert!(
        slow.iter().any(|r| before[&r.key].is_none()),
        "the kill cut at least one saga short"
    );

    // Same directory, timings a hundred times shorter, so the sweeper soon counts cut sagas as abandoned.
    let second = Server::start(dir.path(), "0.01");
    let api = Client::new(&second.base).unwrap();
    let mut confirmed: BTreeMap<&str, u64> = BTreeMap::new();
    for r in slow.iter().chain(&fast) {
        let (status, body) = replay(&api, r).await;
        let id = body["orderId"].as_str();
        let stored = match id {
            Some(id) => Some(get(&api, &format!("/orders/{id}")).await),
            None => None,
        };
        if status == 201 {
            let (_, order) = stored.expect("a 201 names its order");
            assert_eq!(order["status"], "CONFIRMED", "{}: {order}", r.key);
            *confirmed.entry(r.sku).or_default() += r.quantity;
        } else {
            // No replay carries a fault and stock covers every request, so the only other final answer is that
            // the sweeper cancelled the order a cut saga left behind.
            assert_eq!(
                (status, &body["type"]),
                (409, &json!("/problems/order-cancelled")),
                "{}: {body}",
                r.key
            );
            if let Some((found, order)) = stored {
                assert!(
                    found == 404 || order["status"] == "CANCELLED",
                    "{}: a failed replay leaves no live order: {found} {order}",
                    r.key
                );
            }
        }
        match &before[&r.key] {
            Some((201, first_body)) => assert_eq!(
                (status, id),
                (201, first_body["orderId"].as_str()),
                "{}: a success answered before the crash stays a success",
                r.key
            ),
            Some((first_status, first_body)) if first_body["compensation"] == "completed" => {
                assert_eq!(
                    status, *first_status,
                    "{}: a compensated failure stays that failure: {body}",
                    r.key
                )
            }
            _ => {}
        }
    }
    for sku in SKUS {
        let (_, level) = get(&api, &format!("/inventory/{sku}")).await;
        let (available, reserved) = (
            level["available"].as_u64().unwrap(),
            level["reserved"].as_u64().unwrap(),
        );
        assert_eq!(available + reserved, STOCK, "{sku}: stock is conserved");
        assert_eq!(
            reserved,
            confirmed.get(sku).copied().unwrap_or(0),
            "{sku}: reserved stock is exactly that of the confirmed orders"
        );
    }
    drop(second);
}
