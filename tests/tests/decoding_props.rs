//! Properties of request decoding: `parse_strict` then `validate_order_request`, the two steps every body goes
//! through before anything starts. No input makes them panic, and a valid request survives encoding and decoding
//! unchanged.

use std::sync::LazyLock;

use proptest::prelude::*;
use saga_domain::validate::{request_hash, validate_order_request};
use saga_local::json::parse_strict;
use serde_json::{json, Value};

/// The request schema as the local gateway and API Gateway read it (draft 4, its `$schema`).
static SCHEMA_DRAFT4: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(saga_local::app::REQUEST_SCHEMA).unwrap();
    jsonschema::draft4::new(&schema).unwrap()
});

/// The same file as a reader of the OpenAPI 3.1 document takes it: JSON Schema 2020-12, where `1.0` is an integer.
static SCHEMA_2020_12: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let mut schema: Value = serde_json::from_str(saga_local::app::REQUEST_SCHEMA).unwrap();
    schema.as_object_mut().unwrap().remove("$schema");
    jsonschema::draft202012::new(&schema).unwrap()
});

/// Strings the rules accept: 1–64 characters without control characters (any script, astral planes included).
fn valid_string() -> impl Strategy<Value = String> {
    // Every char but the Cc category, which is what `char::is_control` refuses; generated, not filtered, so
    // that long strings do not exhaust proptest's reject budget.
    let ch = prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\u{a0}', '\u{d7ff}'),
        1 => proptest::char::range('\u{e000}', '\u{10ffff}'),
    ];
    proptest::collection::vec(ch, 1..=64).prop_map(|cs| cs.into_iter().collect())
}

fn valid_request() -> impl Strategy<Value = Value> {
    (
        valid_string(),
        proptest::collection::btree_map(valid_string(), 1u64..=1000, 1..=50),
    )
        .prop_map(|(customer, lines)| {
            json!({
                "customerId": customer,
                "items": lines.into_iter().map(|(sku, q)| json!({"sku": sku, "quantity": q})).collect::<Vec<_>>(),
            })
        })
}

/// Any JSON value, biased towards the request's own shape so that validation gets past its first checks.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,80}".prop_map(Value::from),
        prop_oneof![
            Just("customerId"),
            Just("items"),
            Just("sku"),
            Just("quantity")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 128, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("customerId".to_string()),
                    Just("items".to_string()),
                    Just("sku".to_string()),
                    Just("quantity".to_string()),
                    ".{0,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(v) = parse_strict(&bytes) {
            let _ = validate_order_request(&v);
        }
    }

    #[test]
    fn json_ish_text_never_panics(text in r#"[\[\]{}",:0-9eE.+\-a-z\\ ]{0,200}"#) {
        if let Ok(v) = parse_strict(text.as_bytes()) {
            let _ = validate_order_request(&v);
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_errors_name_a_pointer(v in any_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let parsed = parse_strict(&bytes).expect("serde_json output without duplicate keys parses");
        prop_assert_eq!(&parsed, &v);
        if let Err(e) = validate_order_request(&parsed) {
            prop_assert!(!e.0.is_empty());
            for f in &e.0 {
                prop_assert!(f.pointer.is_empty() || f.pointer.starts_with('/'), "{:?}", f);
                prop_assert!(!f.message.is_empty());
            }
        }
    }

}

// Valid requests are large (up to 50 lines of 64 characters), so fewer cases keep the debug build quick.
proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn valid_requests_round_trip(v in valid_request(), pretty in any::<bool>()) {
        let bytes = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }.unwrap();
        let parsed = parse_strict(&bytes).unwrap();
        prop_assert_eq!(&parsed, &v);
        let request = validate_order_request(&parsed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&request.customer_id, v["customerId"].as_str().unwrap());
        let lines: Vec<(String, u64)> = request.items.iter().map(|l| (l.sku.clone(), u64::from(l.quantity))).collect();
        let expected: Vec<(String, u64)> = v["items"].as_array().unwrap().iter()
            .map(|l| (l["sku"].as_str().unwrap().to_string(), l["quantity"].as_u64().unwrap())).collect();
        prop_assert_eq!(lines, expected);
        // The typed request serialises back to the same body, so its hash is stable across re-encoding.
        let again = serde_json::to_value(&request).unwrap();
        prop_assert_eq!(&again, &v);
        let reparsed = validate_order_request(&parse_strict(&serde_json::to_vec(&again).unwrap()).unwrap()).unwrap();
        prop_assert_eq!(request_hash(&request), request_hash(&reparsed));
    }

    #[test]
    fn a_duplicated_key_is_always_refused(v in valid_request(), which in 0usize..2) {
        let key = ["customerId", "items"][which];
        let text = serde_json::to_string(&v).unwrap();
        let dup = format!(r#"{{"{key}": {}, {}"#, v[key], &text[1..]);
        prop_assert!(parse_strict(dup.as_bytes()).unwrap_err().contains("duplicate key"));
    }

    #[test]
    fn a_broken_valid_request_is_refused(v in valid_request(), cut in any::<prop::sample::Index>()) {
        let text = serde_json::to_vec(&v).unwrap();
        let at = cut.index(text.len());
        prop_assert!(parse_strict(&text[..at]).is_err());
    }

    #[test]
    fn quantities_out_of_range_are_refused(v in valid_request(), q in prop_oneof![
        any::<i64>().prop_filter("out of range", |q| !(1..=1000).contains(q)).prop_map(Value::from),
        (1001u64..).prop_map(Value::from),
        (0.0f64..2000.0).prop_filter("fraction", |f| f.fract() != 0.0).prop_map(Value::from),
    ]) {
        let mut v = v;
        v["items"][0]["quantity"] = q;
        let e = validate_order_request(&v).unwrap_err();
        prop_assert!(e.0.iter().any(|f| f.pointer == "/items/0/quantity"), "{:?}", e);
    }
}

/// Any character, weighted towards the edges of the rules: C0 and C1 controls, DEL, the characters next to them,
/// invisible but non-control ones, and astral ones.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        2 => proptest::char::range('\u{0}', '\u{1f}'),
        2 => proptest::char::range('\u{7f}', '\u{a0}'),
        1 => prop_oneof![Just('\u{ad}'), Just('\u{200b}'), Just('\u{2028}'), Just('\u{feff}'), Just('\u{fffe}')],
        1 => proptest::char::range('\u{a1}', '\u{d7ff}'),
        1 => proptest::char::range('\u{e000}', '\u{10ffff}'),
    ]
}

/// 0 to 66 characters: around both length limits.
fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec(any_char(), 1..=4),
        1 => proptest::collection::vec(any_char(), 0..=66),
    ]
    .prop_map(|cs| cs.into_iter().collect())
}

/// Quantities in every spelling: integer literals, whole numbers with a fraction or exponent, fractions, and
/// numbers far out of range.
fn any_quantity() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-2i64..=1003).prop_map(Value::from),
        (-2i64..=1003).prop_map(|n| json!(n as f64)),
        (-2.0f64..1003.0).prop_map(Value::from),
        prop_oneof![
            Just(json!(-0.0)),
            Just(json!(1e300)),
            Just(json!(u64::MAX)),
            Just(json!(i64::MIN))
        ],
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The schema file and the order rules accept exactly the same bodies (but for duplicate skus, which only the
    /// rules can see), whether the file is read as draft 4 (API Gateway, the local gateway) or as 2020-12 (the
    /// OpenAPI document, and tools generating requests from it).
    #[test]
    fn the_schema_and_the_order_rules_agree(
        customer in any_string(),
        lines in proptest::collection::vec((any_string(), any_quantity()), 1..=3),
    ) {
        let mut skus: Vec<&String> = lines.iter().map(|(s, _)| s).collect();
        skus.sort();
        skus.dedup();
        prop_assume!(skus.len() == lines.len());
        let body = json!({
            "customerId": customer,
            "items": lines.iter().map(|(sku, q)| json!({"sku": sku, "quantity": q})).collect::<Vec<_>>(),
        });
        let rules = validate_order_request(&body);
        let draft4 = SCHEMA_DRAFT4.is_valid(&body);
        let draft2020 = SCHEMA_2020_12.is_valid(&body);
        prop_assert_eq!(draft4, draft2020, "the two readings of the schema differ on {}", body);
        prop_assert_eq!(rules.is_ok(), draft4, "rules {:?}, schema {} on {}", rules.err(), draft4, body);
    }
}
