//! The order API's router called in-process through `tower::ServiceExt::oneshot`: for what needs
//! no socket, with the store read directly afterwards.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use saga_domain::OrderStatus;
use saga_local::{App, Config};
use serde_json::{json, Value};
use tower::ServiceExt;

fn app() -> Arc<App> {
    App::new(Config {
        // A tenth of AWS's timings; nothing here waits on one.
        time_scale: 0.1,
        ..Config::default()
    })
    .expect("the shipped app loads")
}

/// The order API alone, without the Step Functions API beside it.
fn router(app: &Arc<App>) -> Router {
    saga_local::gateway::router(app.clone(), Router::new())
}

async fn call(app: &Arc<App>, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let response = router(app).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn invalid_orders_are_400_and_write_nothing() {
    let app = app();
    let (status, _) = call(&app, "PUT", "/inventory/s-1", Some(json!({"available": 5}))).await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        json!({"customerId": "c", "items": []}),
        json!({"customerId": "c", "items": [{"sku": "s-1", "quantity": 0}]}),
        json!({"customerId": "c", "items": [{"sku": "s-1", "quantity": 1}, {"sku": "s-1", "quantity": 1}]}),
        json!({"customerId": "", "items": [{"sku": "s-1", "quantity": 1}]}),
        json!({"items": [{"sku": "s-1", "quantity": 1}]}),
    ] {
        let (status, body) = call(&app, "POST", "/orders", Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["compensation"], "not-needed", "{bad}: {body}");
    }
    assert!(app.all_orders().is_empty(), "nothing written");
    let (_, stock) = call(&app, "GET", "/inventory/s-1", None).await;
    assert_eq!(stock["reserved"], 0, "{stock}");
}

#[tokio::test]
async fn a_confirmed_order_is_the_one_order_in_the_store() {
    let app = app();
    call(&app, "PUT", "/inventory/s-2", Some(json!({"available": 5}))).await;
    let order = json!({"customerId": "c", "items": [{"sku": "s-2", "quantity": 2}]});
    let (status, body) = call(&app, "POST", "/orders", Some(order)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let orders = app.all_orders();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].order_id, body["orderId"].as_str().unwrap());
    assert_eq!(orders[0].status, OrderStatus::Confirmed);
    let (_, stock) = call(&app, "GET", "/inventory/s-2", None).await;
    assert_eq!(stock, json!({"sku": "s-2", "available": 3, "reserved": 2}));
}
