//! The repair worker's batch: SQS delivers repair messages in batches with partial batch failures, so each
//! message is repaired on its own and only the ones that failed are handed back for redelivery (and eventually
//! the dead-letter queue), without holding back the others.
//!
//! Typed on this crate's own [`Message`] rather than the SQS event, so the loop is tested here and the library
//! stays free of AWS types; the Lambda binary converts at its edge.

use saga_domain::events::RepairRequest;
use saga_store::{InventoryStore, OrderStore};

use crate::compensation;

/// One queued message: its id (what a partial batch failure names) and its body, a JSON [`RepairRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub body: Option<String>,
}

/// Repairs every message of a batch and answers the ids of those that failed, in batch order.
pub async fn repair_batch(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    messages: impl IntoIterator<Item = Message>,
) -> Vec<String> {
    let mut failed = Vec::new();
    for message in messages {
        let parsed = message
            .body
            .as_deref()
            .ok_or_else(|| "empty message body".to_string())
            .and_then(|b| serde_json::from_str::<RepairRequest>(b).map_err(|e| e.to_string()));
        let outcome = match parsed {
            Ok(request) => compensation::repair(orders, inventory, &request)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("not a repair request: {e}")),
        };
        if let Err(error) = outcome {
            tracing::warn!(message_id = %message.id, %error, "repair failed; SQS will redeliver");
            failed.push(message.id);
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use saga_domain::{Order, OrderStatus};
    use saga_store::memory::MemoryStore;

    fn message(id: &str, body: Option<&str>) -> Message {
        Message {
            id: id.into(),
            body: body.map(Into::into),
        }
    }

    #[tokio::test]
    async fn only_the_failed_messages_come_back() {
        let s = MemoryStore::new();
        s.put_order_if_absent(&Order::pending("o1", "c", vec![], 1))
            .await
            .unwrap();
        let failed = repair_batch(
            &s,
            &s,
            [
                message("m1", Some(r#"{"orderId": "o1"}"#)),
                message("m2", None),
                message("m3", Some("not json")),
                message("m4", Some(r#"{"orderId": "o2"}"#)),
            ],
        )
        .await;
        assert_eq!(failed, vec!["m2".to_string(), "m3".to_string()]);
        assert_eq!(
            s.get_order("o1").await.unwrap().unwrap().status,
            OrderStatus::Cancelled
        );
    }

    #[tokio::test]
    async fn a_confirmed_order_settles_its_message() {
        let s = MemoryStore::new();
        s.put_order_if_absent(&Order::pending("o1", "c", vec![], 1))
            .await
            .unwrap();
        s.confirm_order("o1", 2).await.unwrap();
        // A confirmed order settles the repair (nothing to undo); an empty batch fails nothing.
        let failed = repair_batch(&s, &s, [message("m1", Some(r#"{"orderId": "o1"}"#))]).await;
        assert!(failed.is_empty());
        assert!(repair_batch(&s, &s, []).await.is_empty());
    }
}
