//! Records to DynamoDB items and back. Reading is strict: an item this code would not have written is
//! `StoreError::Corrupt`, never a silently defaulted record, because a saga acting on a misread order or
//! stock level would do real damage.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use saga_domain::{
    Failure, Order, OrderLine, OrderStatus, Reservation, ReservationStatus, StockLevel,
};
use saga_store::StoreError;

pub type Item = HashMap<String, AttributeValue>;

// Attribute names, shared with the Terraform table definitions.
pub const ORDER_ID: &str = "orderId";
pub const STATUS: &str = "status";
pub const CUSTOMER_ID: &str = "customerId";
pub const ITEMS: &str = "items";
pub const CREATED_AT: &str = "createdAt";
pub const UPDATED_AT: &str = "updatedAt";
pub const IDEMPOTENCY_KEY: &str = "idempotencyKey";
pub const REQUEST_HASH: &str = "requestHash";
pub const FAILURE: &str = "failure";
pub const TOMBSTONE: &str = "tombstone";
pub const FENCED: &str = "fenced";
pub const SKU: &str = "sku";
pub const QUANTITY: &str = "quantity";
pub const AVAILABLE: &str = "available";
pub const RESERVED: &str = "reserved";
pub const EXPIRES_AT: &str = "expiresAt";
pub const FAILURE_ERROR: &str = "Error";
pub const FAILURE_CAUSE: &str = "Cause";

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key(name: &str, value: &str) -> Item {
    HashMap::from([(name.to_string(), s(value))])
}

/// The idempotency table's record: which order a key created, and until when the binding holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: String,
    pub order_id: String,
    pub request_hash: String,
    pub expires_at_s: i64,
}

fn corrupt(what: &str, item: &Item, why: impl std::fmt::Display) -> StoreError {
    // Only the key is echoed: the rest of an item may hold customer data that does not belong in logs.
    let id = [ORDER_ID, SKU, IDEMPOTENCY_KEY]
        .iter()
        .find_map(|k| item.get(*k).and_then(|v| v.as_s().ok()))
        .map_or("<no key>", String::as_str);
    StoreError::Corrupt(format!("{what} {id:?}: {why}"))
}

/// Typed access to one item's attributes, naming the record in every error.
struct Reader<'a> {
    what: &'static str,
    item: &'a Item,
}

impl<'a> Reader<'a> {
    fn err(&self, why: impl std::fmt::Display) -> StoreError {
        corrupt(self.what, self.item, why)
    }

    fn opt(&self, name: &str) -> Option<&'a AttributeValue> {
        // A NULL attribute is how some tools write "absent"; treat it the same.
        self.item
            .get(name)
            .filter(|v| !matches!(v, AttributeValue::Null(_)))
    }

    fn opt_s(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.opt(name)
            .map(|v| {
                v.as_s()
                    .cloned()
                    .map_err(|_| self.err(format_args!("{name} is not a string")))
            })
            .transpose()
    }

    fn req_s(&self, name: &str) -> Result<String, StoreError> {
        self.opt_s(name)?
            .ok_or_else(|| self.err(format_args!("{name} is missing")))
    }

    fn req_n<T: std::str::FromStr>(&self, name: &str) -> Result<T, StoreError> {
        let raw = self
            .opt(name)
            .ok_or_else(|| self.err(format_args!("{name} is missing")))?
            .as_n()
            .map_err(|_| self.err(format_args!("{name} is not a number")))?;
        raw.parse()
            .map_err(|_| self.err(format_args!("{name} = {raw} is out of range")))
    }

    fn opt_bool(&self, name: &str) -> Result<Option<bool>, StoreError> {
        self.opt(name)
            .map(|v| {
                v.as_bool()
                    .copied()
                    .map_err(|_| self.err(format_args!("{name} is not a boolean")))
            })
            .transpose()
    }

    fn lines(&self, name: &str) -> Result<Vec<OrderLine>, StoreError> {
        let Some(v) = self.opt(name) else {
            return Ok(Vec::new());
        };
        let list = v
            .as_l()
            .map_err(|_| self.err(format_args!("{name} is not a list")))?;
        list.iter()
            .enumerate()
            .map(|(i, entry)| {
                let m = entry
                    .as_m()
                    .map_err(|_| self.err(format_args!("{name}[{i}] is not a map")))?;
                let line = Reader {
                    what: self.what,
                    item: m,
                };
                Ok(OrderLine {
                    sku: line
                        .req_s(SKU)
                        .map_err(|_| self.err(format_args!("{name}[{i}].sku is missing")))?,
                    quantity: line
                        .req_n(QUANTITY)
                        .map_err(|_| self.err(format_args!("{name}[{i}].quantity is not a u32")))?,
                })
            })
            .collect()
    }
}

pub fn lines_to_attr(lines: &[OrderLine]) -> AttributeValue {
    AttributeValue::L(
        lines
            .iter()
            .map(|l| {
                AttributeValue::M(HashMap::from([
                    (SKU.to_string(), s(&l.sku)),
                    (QUANTITY.to_string(), n(l.quantity)),
                ]))
            })
            .collect(),
    )
}

pub fn failure_to_attr(f: &Failure) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (FAILURE_ERROR.to_string(), s(&f.error)),
        (FAILURE_CAUSE.to_string(), s(&f.cause)),
    ]))
}

pub fn order_to_item(o: &Order) -> Item {
    let mut item = HashMap::from([
        (ORDER_ID.to_string(), s(&o.order_id)),
        (STATUS.to_string(), s(o.status.as_str())),
        (CUSTOMER_ID.to_string(), s(&o.customer_id)),
        (ITEMS.to_string(), lines_to_attr(&o.items)),
        (CREATED_AT.to_string(), n(o.created_at)),
        (UPDATED_AT.to_string(), n(o.updated_at)),
        (TOMBSTONE.to_string(), AttributeValue::Bool(o.tombstone)),
    ]);
    if let Some(k) = &o.idempotency_key {
        item.insert(IDEMPOTENCY_KEY.to_string(), s(k));
    }
    if let Some(h) = &o.request_hash {
        item.insert(REQUEST_HASH.to_string(), s(h));
    }
    if let Some(f) = &o.failure {
        item.insert(FAILURE.to_string(), failure_to_attr(f));
    }
    // Only `fence-order` sets it; an order that was never fenced carries no attribute, as before the flag existed.
    if o.fenced {
        item.insert(FENCED.to_string(), AttributeValue::Bool(true));
    }
    item
}

pub fn order_status_from_str(v: &str) -> Option<OrderStatus> {
    match v {
        "PENDING" => Some(OrderStatus::Pending),
        "CONFIRMED" => Some(OrderStatus::Confirmed),
        "CANCELLED" => Some(OrderStatus::Cancelled),
        _ => None,
    }
}

pub fn order_from_item(item: &Item) -> Result<Order, StoreError> {
    let r = Reader {
        what: "order",
        item,
    };
    let status = r.req_s(STATUS)?;
    let failure = match r.opt(FAILURE) {
        None => None,
        Some(v) => {
            let m = v.as_m().map_err(|_| r.err("failure is not a map"))?;
            let f = Reader {
                what: "order",
                item: m,
            };
            Some(Failure {
                error: f
                    .req_s(FAILURE_ERROR)
                    .map_err(|_| r.err("failure.Error is missing"))?,
                cause: f
                    .opt_s(FAILURE_CAUSE)
                    .map_err(|_| r.err("failure.Cause is not a string"))?
                    .unwrap_or_default(),
            })
        }
    };
    Ok(Order {
        order_id: r.req_s(ORDER_ID)?,
        status: order_status_from_str(&status)
            .ok_or_else(|| r.err(format_args!("unknown status {status:?}")))?,
        customer_id: r.opt_s(CUSTOMER_ID)?.unwrap_or_default(),
        items: r.lines(ITEMS)?,
        created_at: r.req_n(CREATED_AT)?,
        updated_at: r.req_n(UPDATED_AT)?,
        idempotency_key: r.opt_s(IDEMPOTENCY_KEY)?,
        request_hash: r.opt_s(REQUEST_HASH)?,
        failure,
        tombstone: r.opt_bool(TOMBSTONE)?.unwrap_or(false),
        fenced: r.opt_bool(FENCED)?.unwrap_or(false),
    })
}

pub fn stock_from_item(item: &Item) -> Result<StockLevel, StoreError> {
    let r = Reader {
        what: "stock level",
        item,
    };
    Ok(StockLevel {
        sku: r.req_s(SKU)?,
        available: r.req_n(AVAILABLE)?,
        // A sku row written by hand with only `available` has nothing reserved.
        reserved: match r.opt(RESERVED) {
            None => 0,
            Some(_) => r.req_n(RESERVED)?,
        },
    })
}

pub fn reservation_status_str(v: ReservationStatus) -> &'static str {
    match v {
        ReservationStatus::Reserved => "RESERVED",
        ReservationStatus::Released => "RELEASED",
    }
}

pub fn reservation_to_item(res: &Reservation) -> Item {
    HashMap::from([
        (ORDER_ID.to_string(), s(&res.order_id)),
        (STATUS.to_string(), s(reservation_status_str(res.status))),
        (ITEMS.to_string(), lines_to_attr(&res.items)),
        (UPDATED_AT.to_string(), n(res.updated_at)),
    ])
}

pub fn reservation_from_item(item: &Item) -> Result<Reservation, StoreError> {
    let r = Reader {
        what: "reservation",
        item,
    };
    let status = r.req_s(STATUS)?;
    Ok(Reservation {
        order_id: r.req_s(ORDER_ID)?,
        status: match status.as_str() {
            "RESERVED" => ReservationStatus::Reserved,
            "RELEASED" => ReservationStatus::Released,
            other => return Err(r.err(format_args!("unknown status {other:?}"))),
        },
        items: r.lines(ITEMS)?,
        updated_at: r.req_n(UPDATED_AT)?,
    })
}

pub fn key_record_to_item(k: &KeyRecord) -> Item {
    HashMap::from([
        (IDEMPOTENCY_KEY.to_string(), s(&k.key)),
        (ORDER_ID.to_string(), s(&k.order_id)),
        (REQUEST_HASH.to_string(), s(&k.request_hash)),
        (EXPIRES_AT.to_string(), n(k.expires_at_s)),
    ])
}

pub fn key_record_from_item(item: &Item) -> Result<KeyRecord, StoreError> {
    let r = Reader {
        what: "idempotency key",
        item,
    };
    Ok(KeyRecord {
        key: r.req_s(IDEMPOTENCY_KEY)?,
        order_id: r.req_s(ORDER_ID)?,
        request_hash: r.req_s(REQUEST_HASH)?,
        expires_at_s: r.req_n(EXPIRES_AT)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_order() -> Order {
        Order {
            order_id: "o-1".into(),
            status: OrderStatus::Cancelled,
            customer_id: "cust".into(),
            items: vec![
                OrderLine {
                    sku: "a".into(),
                    quantity: 2,
                },
                OrderLine {
                    sku: "b".into(),
                    quantity: u32::MAX,
                },
            ],
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_500,
            idempotency_key: Some("k".into()),
            request_hash: Some("h".into()),
            failure: Some(Failure {
                error: "Saga.InsufficientStock".into(),
                cause: "{\"sku\":\"a\"}".into(),
            }),
            tombstone: false,
            fenced: true,
        }
    }

    #[test]
    fn order_round_trips_with_every_field() {
        let o = full_order();
        assert_eq!(order_from_item(&order_to_item(&o)).unwrap(), o);
    }

    #[test]
    fn order_round_trips_as_a_bare_tombstone() {
        let o = Order::tombstone("t", None, 5);
        let item = order_to_item(&o);
        assert!(
            !item.contains_key(FAILURE)
                && !item.contains_key(IDEMPOTENCY_KEY)
                && !item.contains_key(FENCED)
        );
        assert_eq!(order_from_item(&item).unwrap(), o);
    }

    #[test]
    fn order_item_uses_the_table_layout() {
        let item = order_to_item(&full_order());
        assert_eq!(item[STATUS], s("CANCELLED"));
        assert_eq!(item[CREATED_AT], AttributeValue::N("1700000000000".into()));
        assert_eq!(item[TOMBSTONE], AttributeValue::Bool(false));
        let first = item[ITEMS].as_l().unwrap()[0].as_m().unwrap();
        assert_eq!(first[SKU], s("a"));
        assert_eq!(first[QUANTITY], AttributeValue::N("2".into()));
        let f = item[FAILURE].as_m().unwrap();
        assert_eq!(f[FAILURE_ERROR], s("Saga.InsufficientStock"));
    }

    #[test]
    fn optional_order_attributes_default_like_the_json_model() {
        let mut item = order_to_item(&full_order());
        item.remove(TOMBSTONE);
        item.remove(FENCED);
        item.remove(CUSTOMER_ID);
        item.insert(REQUEST_HASH.into(), AttributeValue::Null(true));
        if let Some(AttributeValue::M(f)) = item.get_mut(FAILURE) {
            f.remove(FAILURE_CAUSE);
        }
        let o = order_from_item(&item).unwrap();
        assert!(!o.tombstone && !o.fenced);
        assert_eq!(o.customer_id, "");
        assert_eq!(o.request_hash, None);
        assert_eq!(o.failure.unwrap().cause, "");
    }

    #[test]
    fn malformed_orders_are_corrupt() {
        let base = order_to_item(&full_order());
        let bad_line = AttributeValue::L(vec![AttributeValue::M(HashMap::from([
            (SKU.to_string(), s("a")),
            (QUANTITY.to_string(), n(-1)),
        ]))]);
        let cases: Vec<(&str, &str, Option<AttributeValue>)> = vec![
            ("status", STATUS, Some(s("SHIPPED"))),
            ("createdAt", CREATED_AT, None),
            ("updatedAt", UPDATED_AT, Some(s("yesterday"))),
            ("items", ITEMS, Some(s("a,b"))),
            ("quantity", ITEMS, Some(bad_line)),
            ("tombstone", TOMBSTONE, Some(s("yes"))),
            ("failure", FAILURE, Some(s("boom"))),
        ];
        for (what, attr, value) in cases {
            let mut item = base.clone();
            match value {
                Some(v) => item.insert(attr.to_string(), v),
                None => item.remove(attr),
            };
            match order_from_item(&item) {
                Err(StoreError::Corrupt(msg)) => {
                    assert!(msg.contains(what) && msg.contains("o-1"), "{what}: {msg}")
                }
                other => panic!("{what}: expected Corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn stock_levels_read_strictly() {
        let item = HashMap::from([
            (SKU.to_string(), s("a")),
            (AVAILABLE.to_string(), n(7)),
            (RESERVED.to_string(), n(3)),
        ]);
        assert_eq!(
            stock_from_item(&item).unwrap(),
            StockLevel {
                sku: "a".into(),
                available: 7,
                reserved: 3
            }
        );
        let mut no_reserved = item.clone();
        no_reserved.remove(RESERVED);
        assert_eq!(stock_from_item(&no_reserved).unwrap().reserved, 0);
        let mut negative = item.clone();
        negative.insert(AVAILABLE.into(), n(-2));
        assert!(matches!(
            stock_from_item(&negative),
            Err(StoreError::Corrupt(_))
        ));
        let mut fractional = item;
        fractional.insert(RESERVED.into(), AttributeValue::N("1.5".into()));
        assert!(matches!(
            stock_from_item(&fractional),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn reservations_round_trip() {
        for status in [ReservationStatus::Reserved, ReservationStatus::Released] {
            let r = Reservation {
                order_id: "o".into(),
                status,
                items: vec![OrderLine {
                    sku: "a".into(),
                    quantity: 1,
                }],
                updated_at: 9,
            };
            assert_eq!(reservation_from_item(&reservation_to_item(&r)).unwrap(), r);
        }
        let mut bad = reservation_to_item(&Reservation {
            order_id: "o".into(),
            status: ReservationStatus::Reserved,
            items: vec![],
            updated_at: 1,
        });
        bad.insert(STATUS.into(), s("HELD"));
        assert!(matches!(
            reservation_from_item(&bad),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn key_records_round_trip() {
        let k = KeyRecord {
            key: "k".into(),
            order_id: "o".into(),
            request_hash: "h".into(),
            expires_at_s: 1_700_086_400,
        };
        let item = key_record_to_item(&k);
        assert_eq!(item[EXPIRES_AT], AttributeValue::N("1700086400".into()));
        assert_eq!(key_record_from_item(&item).unwrap(), k);
        let mut bad = item;
        bad.remove(ORDER_ID);
        assert!(matches!(
            key_record_from_item(&bad),
            Err(StoreError::Corrupt(_))
        ));
    }
}
