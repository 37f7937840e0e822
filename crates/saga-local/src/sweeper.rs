//! The orphan sweeper in local mode: the twin of the scheduled `order-sweeper` Lambda.

use std::sync::Arc;
use std::time::Duration;

use saga_store::{InventoryStore, OrderStore};

/// How many orders one pass compensates at most; the next pass takes the rest.
const BATCH: usize = 500;

/// Every `interval`, compensates orders abandoned halfway once they are `older_than` (see `saga_steps::sweep`).
pub async fn run(
    orders: Arc<dyn OrderStore>,
    inventory: Arc<dyn InventoryStore>,
    interval: Duration,
    older_than: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        sweep_once(&*orders, &*inventory, older_than).await;
    }
}

/// One pass; returns how many orders it settled (compensated, or found confirmed).
pub async fn sweep_once(
    orders: &dyn OrderStore,
    inventory: &dyn InventoryStore,
    older_than: Duration,
) -> usize {
    let created_before_ms =
        saga_steps::sweep::created_before(saga_domain::now_ms(), older_than.as_millis() as i64);
    match saga_steps::sweep::sweep(orders, inventory, created_before_ms, BATCH).await {
        Ok(report) => report.compensated.len() + report.confirmed.len(),
        Err(e) => {
            tracing::warn!(error = %e, "sweep failed; the next pass retries");
            0
        }
    }
}
