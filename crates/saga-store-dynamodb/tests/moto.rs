//! `DynamoStore` against a DynamoDB emulator: the shared conformance suite, then what only DynamoDB adds
//! (transaction cancellation reasons, strict item parsing, lazy TTL, index pagination).
//!
//! Needs `SAGA_DYNAMODB_ENDPOINT`, e.g. from `tools/ci/moto.sh start`; without it each test says it skipped
//! and passes, unless `SAGA_DYNAMODB_REQUIRED` is set (as CI sets it), when a missing endpoint fails the test. Every test creates its own uniquely named tables, so runs never see each other's data.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use saga_domain::{Failure, Order, OrderLine, OrderStatus, ReservationStatus};
use saga_store::memory::MemoryStore;
use saga_store::*;
use saga_store_dynamodb::item::{
    key_record_from_item, order_to_item, Item, AVAILABLE, EXPIRES_AT, IDEMPOTENCY_KEY, ORDER_ID,
    REQUEST_HASH, RESERVED, SKU, STATUS,
};
use saga_store_dynamodb::{create_tables, DynamoStore, Tables};

const ENDPOINT_VAR: &str = "SAGA_DYNAMODB_ENDPOINT";
const REQUIRED_VAR: &str = "SAGA_DYNAMODB_REQUIRED";

/// A store on fresh tables named after `test`, or `None` (having said so) when no emulator is configured.
async fn store(test: &str) -> Option<DynamoStore> {
    let Some(endpoint) = std::env::var(ENDPOINT_VAR).ok().filter(|e| !e.is_empty()) else {
        // Where the emulator is meant to run, a skip would pass without testing anything.
        assert!(
            std::env::var_os(REQUIRED_VAR).is_none_or(|v| v.is_empty()),
            "{test}: {REQUIRED_VAR} is set but {ENDPOINT_VAR} is not"
        );
        eprintln!("{test}: skipped: {ENDPOINT_VAR} not set (run tools/ci/moto.sh start)");
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("saga-{test}-{}-{nanos}", std::process::id());
    let store = DynamoStore::for_endpoint(&endpoint, Tables::with_prefix(&prefix));
    create_tables(store.client(), store.tables())
        .await
        .expect("creating tables");
    Some(store)
}

fn line(sku: &str, quantity: u32) -> OrderLine {
    OrderLine {
        sku: sku.into(),
        quantity,
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn put_raw(store: &DynamoStore, table: &str, item: Item) {
    store
        .client()
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("raw put");
}

async fn get_raw(store: &DynamoStore, table: &str, key: &str, id: &str) -> Option<Item> {
    store
        .client()
        .get_item()
        .table_name(table)
        .key(key, s(id))
        .consistent_read(true)
        .send()
        .await
        .expect("raw get")
        .item
}

async fn level(store: &DynamoStore, sku: &str) -> (u64, u64) {
    let l = store.get_stock(sku).await.unwrap().expect("sku exists");
    (l.available, l.reserved)
}

fn sample_order(id: &str) -> Order {
    Order {
        order_id: id.into(),
        status: OrderStatus::Pending,
        customer_id: "c".into(),
        items: vec![line("a", 1)],
        created_at: 1,
        updated_at: 1,
        idempotency_key: None,
        request_hash: None,
        failure: None,
        tombstone: false,
        fenced: false,
    }
}

fn is_corrupt<T: std::fmt::Debug>(r: StoreResult<T>) -> bool {
    matches!(r, Err(StoreError::Corrupt(_)))
}

#[tokio::test]
async fn passes_the_store_conformance_suite() {
    let Some(store) = store("conformance").await else {
        return;
    };
    let store = Arc::new(store);
    conformance::run_all(store.clone(), store.clone(), "first").await;
    // The suite promises that one long-lived table can run it repeatedly under different namespaces.
    conformance::run_all(store.clone(), store, "second").await;
}

#[tokio::test]
async fn transaction_cancellations_map_to_outcomes() {
    let Some(st) = store("txn").await else {
        return;
    };
    st.set_available("a", 5).await.unwrap();
    st.set_available("b", 1).await.unwrap();
    st.set_available("c", 0).await.unwrap();

    // Two lines fail: the first in order is reported, with the count DynamoDB refused.
    assert_eq!(
        st.reserve("o1", &[line("a", 2), line("c", 1), line("b", 2)], 1)
            .await
            .unwrap(),
        ReserveOutcome::Insufficient {
            sku: "c".into(),
            requested: 1,
            available: 0
        }
    );
    assert_eq!(level(&st, "a").await, (5, 0));

    // An unknown sku is refused without creating a row for it.
    assert_eq!(
        st.reserve("o2", &[line("ghost", 1)], 1).await.unwrap(),
        ReserveOutcome::Insufficient {
            sku: "ghost".into(),
            requested: 1,
            available: 0
        }
    );
    assert_eq!(st.get_stock("ghost").await.unwrap(), None);

    // The reservation's own condition wins over a stock shortfall in the same transaction.
    assert_eq!(
        st.reserve("o3", &[line("a", 2)], 1).await.unwrap(),
        ReserveOutcome::Reserved
    );
    assert_eq!(
        st.reserve("o3", &[line("a", 2), line("c", 9)], 2)
            .await
            .unwrap(),
        ReserveOutcome::AlreadyReserved
    );
    assert_eq!(st.release("o3", 3).await.unwrap(), ReleaseOutcome::Released);
    assert_eq!(
        st.reserve("o3", &[line("c", 9)], 4).await.unwrap(),
        ReserveOutcome::Released
    );

    // Repeated skus become one update (DynamoDB refuses two actions on one item).
    assert_eq!(
        st.reserve("o4", &[line("a", 1), line("a", 2)], 5)
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
    assert_eq!(level(&st, "a").await, (2, 3));
    let r = st.get_reservation("o4").await.unwrap().unwrap();
    assert_eq!(r.items, vec![line("a", 1), line("a", 2)]);
    assert_eq!(st.release("o4", 6).await.unwrap(), ReleaseOutcome::Released);
    assert_eq!(level(&st, "a").await, (5, 0));
}

#[tokio::test]
async fn release_clamps_a_reserved_count_edited_below_the_reservation() {
    let Some(st) = store("clamp").await else {
        return;
    };
    st.set_available("a", 10).await.unwrap();
    st.set_available("b", 10).await.unwrap();
    assert_eq!(
        st.reserve("o", &[line("a", 4), line("b", 4)], 1)
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
    // Someone edits `reserved` by hand and deletes another row outright.
    let inventory = st.tables().inventory.clone();
    put_raw(
        &st,
        &inventory,
        HashMap::from([
            (SKU.into(), s("a")),
            (AVAILABLE.into(), n(6)),
            (RESERVED.into(), n(1)),
        ]),
    )
    .await;
    st.client()
        .delete_item()
        .table_name(&inventory)
        .key(SKU, s("b"))
        .send()
        .await
        .unwrap();
    // Like the embedded store, the compensation completes, saturating `reserved` at zero.
    assert_eq!(st.release("o", 2).await.unwrap(), ReleaseOutcome::Released);
    assert_eq!(level(&st, "a").await, (10, 0));
    assert_eq!(level(&st, "b").await, (4, 0));
    assert_eq!(
        st.get_reservation("o").await.unwrap().unwrap().status,
        ReservationStatus::Released
    );
}

#[tokio::test]
async fn malformed_items_are_corrupt() {
    let Some(st) = store("corrupt").await else {
        return;
    };
    let t = st.tables().clone();

    let mut order = order_to_item(&sample_order("bad"));
    order.insert(STATUS.into(), s("SHIPPED"));
    put_raw(&st, &t.orders, order).await;
    assert!(is_corrupt(st.get_order("bad").await));
    assert!(is_corrupt(st.confirm_order("bad", 2).await));
    assert!(is_corrupt(st.cancel_order("bad", None, 2).await));
    assert!(is_corrupt(
        st.put_order_if_absent(&sample_order("bad")).await
    ));
    let mut listed = order_to_item(&sample_order("bad-items"));
    listed.insert("items".into(), s("a,b"));
    put_raw(&st, &t.orders, listed).await;
    assert!(is_corrupt(
        st.orders_in_status(OrderStatus::Pending, i64::MIN, 10, 10)
            .await
    ));

    put_raw(
        &st,
        &t.inventory,
        HashMap::from([(SKU.into(), s("a")), (AVAILABLE.into(), s("lots"))]),
    )
    .await;
    assert!(is_corrupt(st.get_stock("a").await));
    // The refused condition's old image is parsed too, not trusted.
    assert!(is_corrupt(st.reserve("o", &[line("a", 1)], 1).await));

    put_raw(
        &st,
        &t.reservations,
        HashMap::from([
            (ORDER_ID.into(), s("r")),
            (STATUS.into(), s("HELD")),
            ("updatedAt".into(), n(1)),
        ]),
    )
    .await;
    assert!(is_corrupt(st.get_reservation("r").await));
    assert!(is_corrupt(st.release("r", 2).await));
    assert!(is_corrupt(st.reserve("r", &[], 2).await));

    put_raw(
        &st,
        &t.idempotency,
        HashMap::from([
            (IDEMPOTENCY_KEY.into(), s("k")),
            (REQUEST_HASH.into(), s("h")),
            (EXPIRES_AT.into(), n(i64::from(i32::MAX))),
        ]),
    )
    .await;
    let claim = KeyClaim {
        key: "k".into(),
        order_id: "o".into(),
        request_hash: "h".into(),
        now_s: 100,
        ttl_s: 10,
    };
    assert!(is_corrupt(st.claim_idempotency_key(&claim).await));
}

#[tokio::test]
async fn an_expired_key_not_yet_deleted_by_ttl_is_reclaimed() {
    let Some(st) = store("ttl").await else {
        return;
    };
    let table = st.tables().idempotency.clone();
    // TTL deletion lags by up to days, so expired items are routinely still there.
    put_raw(
        &st,
        &table,
        HashMap::from([
            (IDEMPOTENCY_KEY.into(), s("k")),
            (ORDER_ID.into(), s("old-order")),
            (REQUEST_HASH.into(), s("old-hash")),
            (EXPIRES_AT.into(), n(1_000)),
        ]),
    )
    .await;
    let claim = |order_id: &str, now_s| KeyClaim {
        key: "k".into(),
        order_id: order_id.into(),
        request_hash: format!("{order_id}-hash"),
        now_s,
        ttl_s: 500,
    };
    assert_eq!(
        st.claim_idempotency_key(&claim("o1", 999)).await.unwrap(),
        KeyClaimOutcome::Existing {
            order_id: "old-order".into(),
            request_hash: "old-hash".into()
        },
        "one second before expiry the binding holds"
    );
    assert_eq!(
        st.claim_idempotency_key(&claim("o1", 1_000)).await.unwrap(),
        KeyClaimOutcome::Claimed,
        "at expiresAt the binding is gone"
    );
    let rec =
        key_record_from_item(&get_raw(&st, &table, IDEMPOTENCY_KEY, "k").await.unwrap()).unwrap();
    assert_eq!(
        (
            rec.order_id.as_str(),
            rec.request_hash.as_str(),
            rec.expires_at_s
        ),
        ("o1", "o1-hash", 1_500)
    );
    // Re-claiming for the same order neither fails nor extends the binding.
    assert_eq!(
        st.claim_idempotency_key(&claim("o1", 1_200)).await.unwrap(),
        KeyClaimOutcome::Claimed
    );
    let rec =
        key_record_from_item(&get_raw(&st, &table, IDEMPOTENCY_KEY, "k").await.unwrap()).unwrap();
    assert_eq!(rec.expires_at_s, 1_500);
}

#[tokio::test]
async fn sweeper_query_pages_through_the_index_like_the_embedded_store() {
    let Some(st) = store("sweep").await else {
        return;
    };
    // Two items a page, so every listing below spans several pages and some end on a page boundary.
    let st = st.with_query_page_size(2);
    let mem = MemoryStore::new();
    let stores: [&dyn OrderStore; 2] = [&st, &mem];
    let failure = Failure {
        error: "Saga.InsufficientStock".into(),
        cause: String::new(),
    };
    for s in stores {
        // Ties on createdAt, ids inserted out of order: the listing must break ties by id.
        for (id, created_at) in [
            ("p-e", 10),
            ("p-b", 20),
            ("p-d", 20),
            ("p-a", 20),
            ("p-c", 30),
            ("p-f", 40),
            ("p-g", 40),
            ("c-1", 15),
            ("c-2", 25),
        ] {
            let order = Order {
                order_id: id.into(),
                status: OrderStatus::Pending,
                customer_id: "c".into(),
                items: vec![line("a", 1)],
                created_at,
                updated_at: created_at,
                idempotency_key: None,
                request_hash: None,
                failure: None,
                tombstone: false,
                fenced: false,
            };
            assert_eq!(
                s.put_order_if_absent(&order).await.unwrap(),
                PutOutcome::Created
            );
        }
        s.cancel_order("c-1", Some(&failure), 50).await.unwrap();
        s.cancel_order("c-2", None, 51).await.unwrap();
        // Tombstones are CANCELLED in the index but never listed.
        for i in 0..5 {
            assert_eq!(
                s.cancel_order(&format!("t-{i}"), None, 12 + i)
                    .await
                    .unwrap(),
                CancelOutcome::Tombstoned
            );
        }
    }
    for status in [OrderStatus::Pending, OrderStatus::Cancelled] {
        for before in [0, 11, 20, 21, 40, 41, 1000] {
            for limit in [0, 1, 2, 3, 4, 5, 100] {
                let ids = |v: Vec<Order>| v.into_iter().map(|o| o.order_id).collect::<Vec<_>>();
                let got = ids(st
                    .orders_in_status(status, i64::MIN, before, limit)
                    .await
                    .unwrap());
                let want = ids(mem
                    .orders_in_status(status, i64::MIN, before, limit)
                    .await
                    .unwrap());
                assert_eq!(got, want, "{status:?} before {before} limit {limit}");
            }
        }
    }
    let all = st
        .orders_in_status(OrderStatus::Pending, i64::MIN, 1000, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 7, "more than three pages of results");
}

#[tokio::test]
async fn a_missing_table_is_unavailable() {
    let Some(st) = store("missing").await else {
        return;
    };
    let gone = DynamoStore::new(st.client().clone(), Tables::with_prefix("no-such"));
    assert!(matches!(
        gone.get_order("o").await,
        Err(StoreError::Unavailable(m)) if m.contains("ResourceNotFound")
    ));
    assert!(matches!(
        gone.reserve("o", &[line("a", 1)], 1).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable() {
    // Port 1 on loopback refuses connections; no emulator needed.
    let st = DynamoStore::for_endpoint("http://127.0.0.1:1", Tables::with_prefix("x"));
    match st.get_order("o").await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("GetItem"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_store_from_the_lambda_environment_reaches_the_endpoint_override() {
    // A configured store first, only to learn the endpoint (or skip) and to create the tables.
    let Some(configured) = store("lambda-env").await else {
        return;
    };
    let endpoint = std::env::var(ENDPOINT_VAR).unwrap();
    let tables = configured.tables().clone();
    let vars: HashMap<&str, String> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_SESSION_TOKEN", "test"),
        ("ORDERS_TABLE", &tables.orders),
        ("INVENTORY_TABLE", &tables.inventory),
        ("RESERVATIONS_TABLE", &tables.reservations),
        ("IDEMPOTENCY_TABLE", &tables.idempotency),
        ("AWS_ENDPOINT_URL_DYNAMODB", &endpoint),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    let store = DynamoStore::from_vars(|name| vars.get(name).cloned()).unwrap();
    assert_eq!(store.tables(), &tables);
    let order = sample_order("from-env");
    assert_eq!(
        store.put_order_if_absent(&order).await.unwrap(),
        PutOutcome::Created
    );
    assert_eq!(configured.get_order("from-env").await.unwrap(), Some(order));
}
