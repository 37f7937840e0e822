//! Lambda entry point, run on a schedule: settles orders left PENDING once they are older than
//! `SWEEP_AFTER_SECONDS` (default 120).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_store_dynamodb::DynamoStore;

/// Orders per invocation; the next scheduled run takes the rest.
const BATCH: usize = 200;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    let sweep_after_ms = std::env::var("SWEEP_AFTER_SECONDS")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(120)
        * 1000;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let store = &store;
        async move {
            let created_before_ms =
                order_sweeper::created_before(saga_domain::now_ms(), sweep_after_ms);
            let report = order_sweeper::sweep(store, store, created_before_ms, BATCH).await?;
            Ok::<_, Error>(serde_json::json!({
                "compensated": report.compensated,
                "confirmed": report.confirmed,
            }))
        }
    }))
    .await
}
