//! The HTTP contract, one behaviour per test: every status with its body, the headers, compensation as the read
//! routes show it, and idempotent replay. Runs against a local server or `SAGA_BASE_URL` (see the crate docs).

use contract_tests::spec::assert_conforms;
use contract_tests::{
    assert_header_refused, assert_invalid_at, assert_problem, encode_segment, order_body, order_id,
    Target,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_confirmed_order_answers_201_with_location_and_execution() {
    let t = Target::start().await;
    let a = t.stocked_sku("a", 10).await;
    let b = t.stocked_sku("b", 5).await;
    let body = order_body("customer-1", &[(&a, 3), (&b, 5)]);
    let reply = t.post_order(&body, &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply.content_type(), "application/json");
    assert_conforms(&reply);
    let id = order_id(&reply);
    assert_eq!(reply.body["status"], "CONFIRMED");
    assert_eq!(reply.body["items"], body["items"]);
    let execution = reply.header("x-saga-execution").unwrap_or_default();
    assert!(execution.starts_with("arn:aws:states:"), "{reply}");

    // The Location header is a working link, resolved as RFC 3986 says: under the base URL's path (a deployed
    // stage's `/v1`), not at the host's root.
    assert_eq!(
        t.location_url(&reply),
        format!("{}/orders/{}", t.base, encode_segment(&id))
    );
    let order = t.follow_location(&reply).await;
    assert_eq!(order.status, StatusCode::OK, "{order}");
    assert_eq!(order.body["orderId"], id.as_str());
    assert_eq!(order.body["status"], "CONFIRMED");
    assert_eq!(order.body["customerId"], "customer-1");
    assert_eq!(order.body["items"], body["items"]);
    assert!(order.body["createdAt"].as_u64().unwrap() <= order.body["updatedAt"].as_u64().unwrap());

    assert_eq!(t.stock(&a).await, (7, 3));
    assert_eq!(t.stock(&b).await, (0, 5));
    t.stop().await;
}

#[tokio::test]
async fn insufficient_stock_answers_409_and_the_order_is_cancelled() {
    let t = Target::start().await;
    let plenty = t.stocked_sku("plenty", 100).await;
    let scarce = t.stocked_sku("scarce", 2).await;
    let reply = t
        .post_order(&order_body("c", &[(&plenty, 10), (&scarce, 3)]), &[])
        .await;
    assert_problem(&reply, 409, "insufficient-stock", "completed");
    assert!(reply.header("x-saga-execution").is_some(), "{reply}");
    assert!(reply.header("location").is_none(), "{reply}");
    let order = t.order(&order_id(&reply)).await;
    assert_eq!(order.status, StatusCode::OK, "{order}");
    assert_eq!(order.body["status"], "CANCELLED");
    // All or nothing: the line that fitted was not reserved either.
    assert_eq!(t.stock(&plenty).await, (100, 0));
    assert_eq!(t.stock(&scarce).await, (2, 0));
    t.stop().await;
}

#[tokio::test]
async fn an_unknown_sku_is_insufficient_stock() {
    let t = Target::start().await;
    let ghost = t.sku("never-stocked");
    let reply = t.post_order(&order_body("c", &[(&ghost, 1)]), &[]).await;
    assert_problem(&reply, 409, "insufficient-stock", "completed");
    let missing = t
        .get(&format!("/inventory/{}", encode_segment(&ghost)))
        .await;
    assert_problem(&missing, 404, "sku-not-found", "not-needed");
    t.stop().await;
}

#[tokio::test]
async fn reads_of_unknown_ids_answer_404() {
    let t = Target::start().await;
    let order = t.get(&format!("/orders/{}", uuid::Uuid::new_v4())).await;
    assert_problem(&order, 404, "order-not-found", "not-needed");
    let sku = t.get(&format!("/inventory/{}", t.sku("unknown"))).await;
    assert_problem(&sku, 404, "sku-not-found", "not-needed");
    t.stop().await;
}

#[tokio::test]
async fn put_inventory_sets_available_and_keeps_reserved() {
    let t = Target::start().await;
    let sku = t.stocked_sku("level", 10).await;
    let created = t.post_order(&order_body("c", &[(&sku, 4)]), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created}");
    let reply = t.put_stock(&sku, 50).await;
    assert_conforms(&reply);
    assert_eq!(
        reply.body,
        json!({"sku": sku, "available": 50, "reserved": 4})
    );
    assert_eq!(t.stock(&sku).await, (50, 4));
    let zero = t.put_stock(&sku, 0).await;
    assert_eq!(zero.body["available"], 0);
    let max = t.put_stock(&sku, 1_000_000_000).await;
    assert_eq!(max.body["available"], 1_000_000_000);
    t.stop().await;
}

#[tokio::test]
async fn put_inventory_rejects_bad_levels() {
    let t = Target::start().await;
    let sku = t.stocked_sku("bad-level", 7).await;
    let path = format!("/inventory/{}", encode_segment(&sku));
    for body in [
        r#"{"available": -1}"#,
        r#"{"available": 1000000001}"#,
        r#"{"available": 1.5}"#,
        r#"{"available": "5"}"#,
        r#"{"available": null}"#,
        r#"{}"#,
        r#"{"available": 5, "reserved": 0}"#,
        r#"[5]"#,
        r#"{"available": 5"#,
    ] {
        let reply = t
            .send(
                Method::PUT,
                &path,
                &[("content-type", "application/json")],
                Some(body.as_bytes().to_vec()),
            )
            .await;
        assert_problem(&reply, 400, "validation-failed", "not-needed");
    }
    let wrong_type = t
        .send(
            Method::PUT,
            &path,
            &[("content-type", "text/plain")],
            Some(br#"{"available": 5}"#.to_vec()),
        )
        .await;
    assert_problem(&wrong_type, 415, "unsupported-media-type", "not-needed");
    assert_eq!(t.stock(&sku).await, (7, 0));
    t.stop().await;
}

#[tokio::test]
async fn validation_failures_answer_400_and_start_nothing() {
    let t = Target::start().await;
    let sku = t.stocked_sku("untouched", 10).await;
    let too_many: Vec<_> = (0..51)
        .map(|i| json!({"sku": format!("{sku}-{i}"), "quantity": 1}))
        .collect();
    let cases = [
        (
            json!({"items": [{"sku": sku, "quantity": 1}]}),
            "/customerId",
        ),
        (json!({"customerId": "c"}), "/items"),
        (json!({"customerId": "c", "items": []}), "/items"),
        (json!({"customerId": "c", "items": too_many}), "/items"),
        (
            json!({"customerId": "", "items": [{"sku": sku, "quantity": 1}]}),
            "/customerId",
        ),
        (
            json!({"customerId": "x".repeat(65), "items": [{"sku": sku, "quantity": 1}]}),
            "/customerId",
        ),
        (
            json!({"customerId": "c", "items": [{"sku": sku, "quantity": 0}]}),
            "/items/0/quantity",
        ),
        (
            json!({"customerId": "c", "items": [{"sku": sku, "quantity": 1001}]}),
            "/items/0/quantity",
        ),
        (
            json!({"customerId": "c", "items": [{"sku": sku}]}),
            "/items/0/quantity",
        ),
        (
            json!({"customerId": "c", "items": [{"sku": "", "quantity": 1}]}),
            "/items/0/sku",
        ),
        (
            json!({"customerId": "c", "items": [{"sku": sku, "quantity": 1}, {"sku": sku, "quantity": 2}]}),
            "/items/1/sku",
        ),
    ];
    for (body, pointer) in cases {
        let reply = t.post_order(&body, &[]).await;
        assert_invalid_at(&t, &reply, pointer);
    }
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

#[tokio::test]
async fn a_bad_idempotency_key_answers_400() {
    let t = Target::start().await;
    let sku = t.stocked_sku("bad-key", 10).await;
    let body = order_body("c", &[(&sku, 1)]);
    let long = "k".repeat(65);
    for key in [long.as_str(), "has space", "tab\tkey"] {
        let reply = t.post_order(&body, &[("idempotency-key", key)]).await;
        assert_header_refused(&t, &reply);
    }
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

#[tokio::test]
async fn wrong_content_type_answers_415() {
    let t = Target::start().await;
    let sku = t.stocked_sku("ct", 10).await;
    let body = order_body("c", &[(&sku, 1)]).to_string();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        let reply = t.post_raw(body.as_bytes(), &[("content-type", ct)]).await;
        assert_problem(&reply, 415, "unsupported-media-type", "not-needed");
        assert!(reply.header("x-saga-execution").is_none(), "{reply}");
    }
    // Parameters and case do not matter.
    let reply = t
        .post_raw(
            body.as_bytes(),
            &[("content-type", "Application/JSON; charset=utf-8")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply}");
    // Without a Content-Type the body is read as JSON: API Gateway picks the application/json template then.
    let reply = t.post_raw(body.as_bytes(), &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply}");
    assert_eq!(t.stock(&sku).await, (8, 2));
    t.stop().await;
}

#[tokio::test]
async fn a_body_over_64_kib_answers_413() {
    let t = Target::start().await;
    let sku = t.stocked_sku("big", 10).await;
    let padding = "x".repeat(64 * 1024);
    let body = json!({"customerId": padding, "items": [{"sku": sku, "quantity": 1}]}).to_string();
    let reply = t
        .post_raw(body.as_bytes(), &[("content-type", "application/json")])
        .await;
    // The local gateway stops reading at 64 KiB. API Gateway takes bodies up to 10 MB, so there the same body
    // reaches the validator, whose customerId limit (64 characters) refuses it.
    if t.local {
        assert_eq!(reply.status.as_u16(), 413, "{reply}");
        assert_conforms(&reply);
    } else {
        assert_problem(&reply, 400, "validation-failed", "not-needed");
    }
    assert_eq!(reply.body["compensation"], "not-needed");
    assert!(reply.header("x-saga-execution").is_none(), "{reply}");
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

#[tokio::test]
async fn same_key_and_body_replays_the_answer_with_one_order() {
    let t = Target::start().await;
    let sku = t.stocked_sku("replay", 10).await;
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let body = order_body("c", &[(&sku, 2)]);
    let first = t.post_order(&body, &[("idempotency-key", &key)]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first}");
    // Formatting and key order are not part of the request's identity.
    let reordered =
        format!(r#"{{ "items" : [ {{"quantity": 2, "sku": "{sku}"}} ], "customerId": "c" }}"#);
    let second = t
        .post_raw(
            reordered.as_bytes(),
            &[
                ("content-type", "application/json"),
                ("Idempotency-Key", &key),
            ],
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{second}");
    assert_conforms(&second);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("location"), first.header("location"));
    assert!(second.header("x-saga-execution").is_some());
    // One order: stock moved once.
    assert_eq!(t.stock(&sku).await, (8, 2));
    t.stop().await;
}

#[tokio::test]
async fn a_replayed_failure_answers_as_the_first_time() {
    let t = Target::start().await;
    let sku = t.stocked_sku("replay-409", 1).await;
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let body = order_body("c", &[(&sku, 5)]);
    let first = t.post_order(&body, &[("idempotency-key", &key)]).await;
    assert_problem(&first, 409, "insufficient-stock", "completed");
    // Restocking does not change the answer: the key is bound to the first outcome.
    t.put_stock(&sku, 100).await;
    let second = t.post_order(&body, &[("idempotency-key", &key)]).await;
    assert_problem(&second, 409, "insufficient-stock", "completed");
    assert_eq!(second.body["orderId"], first.body["orderId"]);
    assert_eq!(t.stock(&sku).await, (100, 0));
    t.stop().await;
}

#[tokio::test]
async fn same_key_with_another_body_answers_422() {
    let t = Target::start().await;
    let sku = t.stocked_sku("reuse", 10).await;
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let first = t
        .post_order(&order_body("c", &[(&sku, 1)]), &[("idempotency-key", &key)])
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{first}");
    let other = t
        .post_order(&order_body("c", &[(&sku, 2)]), &[("idempotency-key", &key)])
        .await;
    assert_problem(&other, 422, "idempotency-key-reused", "not-needed");
    assert!(other.header("x-saga-execution").is_some(), "{other}");
    assert_eq!(t.stock(&sku).await, (9, 1));
    let order = t.order(&order_id(&first)).await;
    assert_eq!(order.body["status"], "CONFIRMED");
    t.stop().await;
}

/// API Gateway lets a client set `$context.requestId` with `x-amzn-RequestId`. The server, not the client, must
/// choose the order id: a request carrying another order's id as its request id makes an order of its own, and the
/// other order is neither read back nor changed.
#[tokio::test]
async fn a_client_request_id_cannot_choose_the_order_id() {
    let t = Target::start().await;
    let sku = t.stocked_sku("request-id", 10).await;
    let first = t.post_order(&order_body("owner", &[(&sku, 2)]), &[]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first}");
    let id = order_id(&first);
    let before = t.order(&id).await;
    assert_eq!(before.status, StatusCode::OK, "{before}");

    // The id is a UUID, the only form API Gateway takes as a request id; a keyed request must not be steered
    // either.
    let key = format!("key-{}", uuid::Uuid::new_v4());
    for headers in [
        vec![("x-amzn-RequestId", id.as_str())],
        vec![
            ("x-amzn-RequestId", id.as_str()),
            ("idempotency-key", key.as_str()),
        ],
    ] {
        let other = t
            .post_order(&order_body("intruder", &[(&sku, 1)]), &headers)
            .await;
        assert_eq!(other.status, StatusCode::CREATED, "{other}");
        assert_ne!(
            order_id(&other),
            id,
            "the client chose the order id: {other}"
        );
        assert_eq!(other.body["items"][0]["quantity"], 1, "{other}");
        let own = t.order(&order_id(&other)).await;
        assert_eq!(own.body["customerId"], "intruder", "{own}");
    }
    let after = t.order(&id).await;
    assert_eq!(after.body, before.body, "the first order changed");
    assert_eq!(t.stock(&sku).await, (6, 4));
    t.stop().await;
}

#[tokio::test]
async fn different_keys_make_different_orders() {
    let t = Target::start().await;
    let sku = t.stocked_sku("two-keys", 10).await;
    let body = order_body("c", &[(&sku, 1)]);
    let a = t.post_order(&body, &[("idempotency-key", "a-key-1")]).await;
    let b = t.post_order(&body, &[("idempotency-key", "a-key-2")]).await;
    let c = t.post_order(&body, &[]).await;
    for r in [&a, &b, &c] {
        assert_eq!(r.status, StatusCode::CREATED, "{r}");
    }
    assert_ne!(order_id(&a), order_id(&b));
    assert_ne!(order_id(&a), order_id(&c));
    assert_eq!(t.stock(&sku).await, (7, 3));
    t.stop().await;
}

#[tokio::test]
async fn health_answers_ok_locally() {
    let t = Target::start().await;
    if t.skip_unless_local(
        "health_answers_ok_locally",
        "GET /health exists only on saga serve",
    ) {
        return;
    }
    let reply = t.get("/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_conforms(&reply);
    assert_eq!(reply.body, json!({"status": "ok"}));
    t.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let t = Target::start().await;
    if t.skip_unless_local(
        "unknown_routes_and_methods_are_problems",
        "API Gateway answers 403 forbidden for unknown routes; its shape is checked by the terraform tests",
    ) {
        return;
    }
    let nowhere = t.get("/nowhere").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(nowhere.body["type"], "/problems/not-found");
    assert_eq!(nowhere.content_type(), "application/problem+json");
    let delete = t.send(Method::DELETE, "/orders", &[], None).await;
    assert_eq!(delete.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(delete.body["type"], "/problems/method-not-allowed");
    assert_eq!(delete.body["compensation"], "not-needed");
    t.stop().await;
}
