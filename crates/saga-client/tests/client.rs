//! The client against a small server on 127.0.0.1: what it sends, and what it records.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::any;
use axum::Router;
use saga_client::{stock_of, Client, ClientError, Stock};
use serde_json::json;

/// Echoes the request as JSON, except `/text`, which answers plain text.
async fn echo(
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path() == "/text" {
        return (StatusCode::IM_A_TEAPOT, "not json").into_response();
    }
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    axum::Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "contentType": header("content-type"),
        "key": header("idempotency-key"),
        "body": String::from_utf8_lossy(&body),
        "available": 7,
        "reserved": 2,
    }))
    .into_response()
}

async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback(any(echo)))
            .await
            .unwrap()
    });
    format!("http://{addr}/")
}

#[tokio::test]
async fn an_order_is_posted_as_json_with_the_headers_given() {
    let client = Client::new(&serve().await).unwrap();
    let reply = client
        .post_order(&json!({"customerId": "c"}), &[("Idempotency-Key", "k-1")])
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.path, "/orders");
    assert_eq!(reply.body["method"], "POST");
    assert_eq!(reply.body["contentType"], "application/json");
    assert_eq!(reply.body["key"], "k-1");
    assert_eq!(reply.body["body"], r#"{"customerId":"c"}"#);
}

#[tokio::test]
async fn path_segments_are_percent_encoded_and_stock_is_read() {
    let client = Client::new(&serve().await).unwrap();
    let reply = client.put_stock("a b/c", 7, &[]).await.unwrap();
    assert_eq!(reply.body["path"], "/inventory/a%20b%2Fc");
    assert_eq!(reply.body["body"], r#"{"available":7}"#);
    assert_eq!(
        stock_of(&reply),
        Some(Stock {
            available: 7,
            reserved: 2
        })
    );
    let reply = client.get_order("o/1").await.unwrap();
    assert_eq!(reply.body["method"], "GET");
    assert_eq!(reply.body["path"], "/orders/o%2F1");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_kept_as_text() {
    let client = Client::new(&serve().await).unwrap();
    let reply = client.get("/text").await.unwrap();
    assert_eq!(reply.status, StatusCode::IM_A_TEAPOT);
    assert_eq!(reply.text, "not json");
    assert!(reply.body.is_null());
    assert_eq!(stock_of(&reply), None);
    assert!(reply.to_string().starts_with("GET /text -> 418"), "{reply}");
}

#[tokio::test]
async fn no_answer_is_a_transport_error_naming_the_request() {
    // A port that was just free: nothing listens there any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let e = client.get_order("x").await.unwrap_err();
    assert!(
        matches!(&e, ClientError::Transport { path, .. } if path == "/orders/x"),
        "{e}"
    );
    assert!(e.to_string().starts_with("GET /orders/x: "), "{e}");
}
