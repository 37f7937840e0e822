//! Hostile and odd input, each with the exact problem it must get, and afterwards proof that nothing was
//! written: the stock of the sku every case names is unchanged and no execution was started.

use contract_tests::{assert_invalid_at, assert_problem, encode_segment, order_id, Reply, Target};
use reqwest::{Method, StatusCode};
use serde_json::json;

const JSON: (&str, &str) = ("content-type", "application/json");

/// Posts raw bytes as JSON and checks a 400 at `pointer` (None: the body did not decode, so no pointer).
async fn rejects(t: &Target, body: &[u8], pointer: Option<&str>) -> Reply {
    let reply = t.post_raw(body, &[JSON]).await;
    match pointer {
        Some(p) => assert_invalid_at(t, &reply, p),
        None => {
            assert_problem(&reply, 400, "validation-failed", "not-needed");
            assert!(reply.header("x-saga-execution").is_none(), "{reply}");
        }
    }
    reply
}

fn line(sku: &str, quantity: &str) -> String {
    format!(r#"{{"customerId": "c", "items": [{{"sku": "{sku}", "quantity": {quantity}}}]}}"#)
}

#[tokio::test]
async fn malformed_json() {
    let t = Target::start().await;
    let sku = t.stocked_sku("malformed", 10).await;
    let good = line(&sku, "1");
    for body in [
        String::new(),
        "{".into(),
        good[..good.len() - 1].to_string(),
        format!("{good} {good}"),
        format!("{good}x"),
        good.replace(": ", ": :"),
        good.replace('"', "'"),
        "null".into(),
        "[]".into(),
        "\"order\"".into(),
        "42".into(),
        good.replace("\"items\"", "items"),
        format!("{},", &good[..good.len() - 1]) + "}",
        "\u{feff}".to_string() + &good,
    ] {
        let reply = t.post_raw(body.as_bytes(), &[JSON]).await;
        assert_problem(&reply, 400, "validation-failed", "not-needed");
        assert!(reply.header("x-saga-execution").is_none(), "{reply}");
    }
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

#[tokio::test]
async fn deep_nesting() {
    let t = Target::start().await;
    let sku = t.stocked_sku("deep", 10).await;
    for depth in [200, 5_000, 30_000] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let body = format!(
            r#"{{"customerId": "c", "items": [{{"sku": "{sku}", "quantity": 1, "x": {deep}}}]}}"#
        );
        let reply = t.post_raw(body.as_bytes(), &[JSON]).await;
        // Shallow enough to parse: an unknown field. Deeper: not acceptable JSON. Over 64 KiB: too large.
        match reply.status.as_u16() {
            400 => assert_problem(&reply, 400, "validation-failed", "not-needed"),
            413 => assert!(body.len() > 64 * 1024, "{reply}"),
            _ => panic!("depth {depth}: {reply}"),
        }
        assert!(reply.header("x-saga-execution").is_none(), "{reply}");
    }
    let nested_objects = format!("{}1{}", r#"{"a":"#.repeat(1_000), "}".repeat(1_000));
    rejects(&t, nested_objects.as_bytes(), None).await;
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

#[tokio::test]
async fn duplicate_keys() {
    let t = Target::start().await;
    let sku = t.stocked_sku("dupkey", 10).await;
    let top = format!(
        r#"{{"customerId": "c", "customerId": "d", "items": [{{"sku": "{sku}", "quantity": 1}}]}}"#
    );
    let inner = format!(
        r#"{{"customerId": "c", "items": [{{"sku": "{sku}", "quantity": 1, "quantity": 5}}]}}"#
    );
    for body in [top, inner] {
        let reply = rejects(&t, body.as_bytes(), None).await;
        if t.local {
            assert!(
                reply.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("duplicate key"),
                "{reply}"
            );
        }
    }
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

#[tokio::test]
async fn numbers_that_are_not_quantities() {
    let t = Target::start().await;
    let sku = t.stocked_sku("numbers", 10_000).await;
    for q in [
        "0",
        "-1",
        "1001",
        "1.5",
        "0.5",
        "-0.0",
        "1e3000",
        "-1e3000",
        "1e400",
        "18446744073709551616",
        "18446744073709551615",
        "9223372036854775808",
        "-9223372036854775809",
        "4294967297",
        "65537",
        "1e-7",
        "\"1\"",
        "true",
        "null",
        "[1]",
        "{}",
        "NaN",
        "Infinity",
    ] {
        let reply = t.post_raw(line(&sku, q).as_bytes(), &[JSON]).await;
        assert_problem(&reply, 400, "validation-failed", "not-needed");
        assert!(
            reply.header("x-saga-execution").is_none(),
            "quantity {q}: {reply}"
        );
    }
    // Whole numbers written with a fraction or an exponent are those integers (the spec's "Numbers and strings
    // in requests"), and reserve exactly that many.
    for (q, n) in [("2.0", 2), ("1e1", 10)] {
        let reply = t.post_raw(line(&sku, q).as_bytes(), &[JSON]).await;
        assert_eq!(reply.status.as_u16(), 201, "quantity {q}: {reply}");
        assert_eq!(reply.body["items"][0]["quantity"], n, "{reply}");
    }
    assert_eq!(t.stock(&sku).await, (10_000 - 12, 12));
    t.stop().await;
}

#[tokio::test]
async fn non_utf8_bodies() {
    let t = Target::start().await;
    let sku = t.stocked_sku("utf8", 10).await;
    let good = line(&sku, "1").into_bytes();
    let mut latin1 = good.clone();
    let at = latin1.iter().position(|b| *b == b'c').unwrap();
    latin1[at] = 0xe9;
    let mut truncated = good.clone();
    truncated.splice(at..at + 1, [0xc3]);
    let overlong = [&good[..at], &[0xc0, 0xaf], &good[at + 1..]].concat();
    let surrogate = [&good[..at], &[0xed, 0xa0, 0x80], &good[at + 1..]].concat();
    let utf16: Vec<u8> = String::from_utf8(good.clone())
        .unwrap()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    for body in [
        latin1,
        truncated,
        overlong,
        surrogate,
        utf16,
        vec![0xff, 0xfe, 0xfd],
    ] {
        rejects(&t, &body, None).await;
    }
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

#[tokio::test]
async fn strings_with_control_and_unicode_characters() {
    let t = Target::start().await;
    let sku = t.stocked_sku("strings", 10).await;
    let with =
        |customer: &str| json!({"customerId": customer, "items": [{"sku": sku, "quantity": 1}]});
    for customer in [
        "a\u{0}b",
        "tab\there",
        "new\nline",
        "\u{7f}",
        "\u{1b}[31m",
        "\u{85}",
        "c\u{9f}",
    ] {
        let reply = t.post_order(&with(customer), &[]).await;
        assert_invalid_at(&t, &reply, "/customerId");
    }
    // An escaped NUL in the JSON text is the same character.
    let escaped =
        format!(r#"{{"customerId": "a\u0000b", "items": [{{"sku": "{sku}", "quantity": 1}}]}}"#);
    rejects(&t, escaped.as_bytes(), Some("/customerId")).await;
    // A lone surrogate escape is not a Unicode scalar value.
    let lone =
        format!(r#"{{"customerId": "\ud800", "items": [{{"sku": "{sku}", "quantity": 1}}]}}"#);
    rejects(&t, lone.as_bytes(), None).await;
    // 65 characters is too long however few bytes or however many.
    rejects(
        &t,
        with(&"é".repeat(65)).to_string().as_bytes(),
        Some("/customerId"),
    )
    .await;
    let control_sku =
        json!({"customerId": "c", "items": [{"sku": format!("{sku}\n"), "quantity": 1}]});
    assert_invalid_at(&t, &t.post_order(&control_sku, &[]).await, "/items/0/sku");
    assert_eq!(t.stock(&sku).await, (10, 0));

    // Printable Unicode is a valid customer id: 64 characters, astral and combining ones included.
    for customer in [
        "é".repeat(64),
        "😀".repeat(64),
        "ü".repeat(32) + &"\u{301}".repeat(32),
        "O'Brien \"quoted\" \\ </script>".into(),
    ] {
        let reply = t.post_order(&with(&customer), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply}");
        let order = t.order(&order_id(&reply)).await;
        assert_eq!(order.body["customerId"], customer.as_str(), "{order}");
    }
    assert_eq!(t.stock(&sku).await, (6, 4));
    t.stop().await;
}

#[tokio::test]
async fn unknown_fields_and_wrong_shapes() {
    let t = Target::start().await;
    let sku = t.stocked_sku("shapes", 10).await;
    let cases = [
        (
            json!({"customerId": "c", "items": [{"sku": sku, "quantity": 1}], "coupon": "FREE"}),
            "/coupon",
        ),
        (
            json!({"customerId": "c", "items": [{"sku": sku, "quantity": 1, "price": 0}]}),
            "/items/0/price",
        ),
        (
            json!({"customerId": "c", "items": [{"sku": sku, "quantity": 1}], "__proto__": {}}),
            "/__proto__",
        ),
        (
            json!({"customerId": 7, "items": [{"sku": sku, "quantity": 1}]}),
            "/customerId",
        ),
        (
            json!({"customerId": null, "items": [{"sku": sku, "quantity": 1}]}),
            "/customerId",
        ),
        (
            json!({"customerId": "c", "items": {"sku": sku, "quantity": 1}}),
            "/items",
        ),
        (json!({"customerId": "c", "items": [[sku, 1]]}), "/items/0"),
        (json!({"customerId": "c", "items": [null]}), "/items/0"),
        (
            json!({"customerId": "c", "items": [{"sku": 12, "quantity": 1}]}),
            "/items/0/sku",
        ),
        (json!({"customerId": "c", "items": []}), "/items"),
        (
            json!({"customerId": "c", "items": [{"sku": sku, "quantity": 1}, {"sku": sku, "quantity": 1}]}),
            "/items/1/sku",
        ),
    ];
    for (body, pointer) in cases {
        assert_invalid_at(&t, &t.post_order(&body, &[]).await, pointer);
    }
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

#[tokio::test]
async fn oversized_bodies() {
    let t = Target::start().await;
    if t.skip_unless_local(
        "oversized_bodies",
        "API Gateway takes bodies up to 10 MB, so a valid body padded past 64 KiB is accepted there \
         (docs/contract-tests.md, \"Local mode and AWS\")",
    ) {
        return;
    }
    let sku = t.stocked_sku("size", 10).await;
    // Whitespace counts: the limit is on bytes received, not on what they decode to.
    let padded = format!("{}{}", line(&sku, "1"), " ".repeat(64 * 1024));
    let reply = t.post_raw(padded.as_bytes(), &[JSON]).await;
    assert_eq!(reply.status.as_u16(), 413, "{reply}");
    assert_eq!(reply.body["status"], 413);
    assert!(reply.header("x-saga-execution").is_none());
    assert_problem(&reply, 413, "payload-too-large", "not-needed");
    // Exactly at the limit is accepted as far as size goes.
    let exact = format!(
        "{}{}",
        line(&sku, "1"),
        " ".repeat(64 * 1024 - line(&sku, "1").len())
    );
    assert_eq!(exact.len(), 64 * 1024);
    let reply = t.post_raw(exact.as_bytes(), &[JSON]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply}");
    t.put_stock(&sku, 10).await;
    let reply = t
        .post_raw(b"{}", &[JSON, ("content-length", "999999999")])
        .await;
    assert!(matches!(reply.status.as_u16(), 400 | 413), "{reply}");
    t.stop().await;
}

#[tokio::test]
async fn path_parameters() {
    let t = Target::start().await;
    let sku = t.stocked_sku("path", 3).await;
    let long = "x".repeat(65);
    // Reads of odd ids are refused or not found, never a server error, and never a match for another id.
    for id in [
        "a%2Fb",
        "..%2F..%2Finventory",
        "%00",
        "%20",
        "%C3%A9",
        &long,
        "a%252F",
    ] {
        for route in ["orders", "inventory"] {
            let reply = t.get(&format!("/{route}/{id}")).await;
            let kind = if route == "orders" {
                "order-not-found"
            } else {
                "sku-not-found"
            };
            match reply.status.as_u16() {
                400 => assert_problem(&reply, 400, "validation-failed", "not-needed"),
                404 => assert_problem(&reply, 404, kind, "not-needed"),
                _ => panic!("{reply}"),
            }
        }
    }
    if t.local {
        // Local rules: over 64 characters or not visible ASCII is a 400.
        for id in [long.as_str(), "%00", "%20", "%C3%A9"] {
            let reply = t.get(&format!("/inventory/{id}")).await;
            assert_problem(&reply, 400, "validation-failed", "not-needed");
        }
    }
    // A slash in a sku is data, not a path separator: the encoded form names one sku.
    let slashed = format!("{sku}/x");
    t.put_stock(&slashed, 9).await;
    assert_eq!(t.stock(&slashed).await, (9, 0));
    let reply = t.get(&format!("/inventory/{sku}/x")).await;
    assert_eq!(
        reply.status.as_u16(),
        if t.local { 404 } else { 403 },
        "{reply}"
    );
    assert_eq!(t.stock(&sku).await, (3, 0));
    // Refused writes write nothing.
    for id in [long.as_str(), "%00", "a%20b"] {
        let reply = t
            .send(
                Method::PUT,
                &format!("/inventory/{id}"),
                &[JSON],
                Some(br#"{"available": 1}"#.to_vec()),
            )
            .await;
        if t.local {
            assert_problem(&reply, 400, "validation-failed", "not-needed");
        }
        let read = t.get(&format!("/inventory/{id}")).await;
        assert_ne!(read.status, StatusCode::OK, "{read}");
    }
    let _ = encode_segment;
    t.stop().await;
}

/// Percent-encoded bytes that are not UTF-8 must get a problem document like every other refusal.
#[tokio::test]
async fn a_non_utf8_path_parameter_is_a_problem() {
    let t = Target::start().await;
    for path in ["/orders/%FF", "/inventory/%FF", "/inventory/a%C3"] {
        let reply = t.get(path).await;
        match reply.status.as_u16() {
            400 => assert_problem(&reply, 400, "validation-failed", "not-needed"),
            404 => assert!(
                reply.content_type().starts_with("application/problem+json"),
                "{reply}"
            ),
            _ => panic!("{reply}"),
        }
    }
    t.stop().await;
}
