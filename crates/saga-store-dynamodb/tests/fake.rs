//! What an emulator cannot be made to do on cue: transaction conflicts, throttling, server errors. A scripted
//! HTTP server on loopback answers each request with the next canned DynamoDB response and records what it
//! was asked, so these tests need no emulator and always run.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{Credentials, Region};
use saga_domain::{Order, OrderLine, OrderStatus};
use saga_store::*;
use saga_store_dynamodb::{DynamoStore, Tables};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Script = Arc<Mutex<VecDeque<(u16, String)>>>;

struct Fake {
    store: DynamoStore,
    /// (`x-amz-target` operation, request body) in arrival order.
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Fake {
    fn ops(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(op, _)| op.clone())
            .collect()
    }
}

fn error(kind: &str, extra: &str) -> (u16, String) {
    let status = if kind == "InternalServerError" {
        500
    } else {
        400
    };
    (
        status,
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"scripted"{extra}}}"#
        ),
    )
}

fn conflict() -> (u16, String) {
    error(
        "TransactionCanceledException",
        r#","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"busy"}]"#,
    )
}

/// A loopback server answering each request with the next response of `script`: its URL and what it saw.
async fn scripted(script: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let script: Script = Arc::new(Mutex::new(script.into()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s, r) = (script.clone(), seen.clone());
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve(conn, s.clone(), r.clone()));
        }
    });
    (url, seen)
}

/// A store whose every request is answered from `script`, with the SDK's own retries off so each scripted
/// response is seen by our code exactly once.
async fn fake(script: Vec<(u16, String)>) -> Fake {
    let (url, seen) = scripted(script).await;
    let config = saga_store_dynamodb::sdk::config_builder()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "fake"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build();
    Fake {
        store: DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            Tables::with_prefix("fake"),
        ),
        seen,
    }
}

async fn serve(mut conn: TcpStream, script: Script, seen: Arc<Mutex<Vec<(String, String)>>>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let len: usize = header("content-length").parse().unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
        buf.drain(..head_end + len);
        let op = header("x-amz-target")
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string();
        seen.lock().unwrap().push((op, body));
        let (status, reply) = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| error("InternalServerError", ""));
        let response = format!(
            "HTTP/1.1 {status} Scripted\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if conn.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn line(sku: &str, quantity: u32) -> OrderLine {
    OrderLine {
        sku: sku.into(),
        quantity,
    }
}

#[tokio::test]
async fn a_store_from_the_lambda_environment_uses_its_endpoint_and_the_sdk_retries() {
    let (url, seen) = scripted(vec![error("InternalServerError", ""), (200, "{}".into())]).await;
    let vars: HashMap<&str, String> = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("ORDERS_TABLE", "orders"),
        ("INVENTORY_TABLE", "inventory"),
        ("RESERVATIONS_TABLE", "reservations"),
        ("IDEMPOTENCY_TABLE", "idempotency"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .chain([("AWS_ENDPOINT_URL_DYNAMODB", url)])
    .collect();
    let store = DynamoStore::from_vars(|name| vars.get(name).cloned()).unwrap();
    // The first answer is a 500, which the SDK's standard retry mode repeats.
    assert_eq!(store.get_order("o").await.unwrap(), None);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|(op, body)| op == "GetItem" && body.contains(r#""TableName":"orders""#)));
}

#[tokio::test]
async fn a_transaction_conflict_is_retried() {
    let f = fake(vec![conflict(), conflict(), (200, "{}".into())]).await;
    assert_eq!(
        f.store.reserve("o", &[line("a", 1)], 1).await.unwrap(),
        ReserveOutcome::Reserved
    );
    assert_eq!(f.ops(), vec!["TransactWriteItems"; 3]);
}

#[tokio::test]
async fn a_conflict_that_never_clears_is_unavailable() {
    let f = fake(vec![conflict(); 50]).await;
    match f.store.reserve("o", &[line("a", 1)], 1).await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("contended"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(f.ops().len() < 50, "the retry loop is bounded");
}

#[tokio::test]
async fn throttling_and_server_errors_are_unavailable() {
    for (reply, says) in [
        (error("ThrottlingException", ""), "throttled"),
        (
            error("ProvisionedThroughputExceededException", ""),
            "throttled",
        ),
        (error("InternalServerError", ""), "server"),
    ] {
        let f = fake(vec![reply]).await;
        match f.store.get_order("o").await {
            Err(StoreError::Unavailable(m)) => assert!(m.contains(says), "{m}"),
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_refused_write_uses_the_old_image_without_reading_again() {
    let f = fake(vec![error(
        "ConditionalCheckFailedException",
        r#","Item":{"orderId":{"S":"o"},"status":{"S":"CANCELLED"},"createdAt":{"N":"1"},"updatedAt":{"N":"2"},"tombstone":{"BOOL":true}}"#,
    )])
    .await;
    let order = Order {
        order_id: "o".into(),
        status: OrderStatus::Pending,
        customer_id: "c".into(),
        items: vec![line("a", 1)],
        created_at: 3,
        updated_at: 3,
        idempotency_key: None,
        request_hash: None,
        failure: None,
        tombstone: false,
        fenced: false,
    };
    let PutOutcome::Existing(existing) = f.store.put_order_if_absent(&order).await.unwrap() else {
        panic!("the refusal reports what holds the id")
    };
    assert!(existing.tombstone && existing.status == OrderStatus::Cancelled);
    assert_eq!(f.ops(), vec!["PutItem"]);
    let body = &f.seen.lock().unwrap()[0].1;
    assert!(
        body.contains(r#""ReturnValuesOnConditionCheckFailure":"ALL_OLD""#),
        "{body}"
    );
}

#[tokio::test]
async fn a_refused_reserve_names_the_short_sku_from_the_old_image() {
    let f = fake(vec![error(
        "TransactionCanceledException",
        r#","CancellationReasons":[{"Code":"None"},{"Code":"None"},{"Code":"ConditionalCheckFailed","Item":{"sku":{"S":"b"},"available":{"N":"2"},"reserved":{"N":"7"}}}]"#,
    )])
    .await;
    assert_eq!(
        f.store
            .reserve("o", &[line("a", 1), line("b", 3)], 1)
            .await
            .unwrap(),
        ReserveOutcome::Insufficient {
            sku: "b".into(),
            requested: 3,
            available: 2
        }
    );
    assert_eq!(f.ops(), vec!["TransactWriteItems"]);
}
