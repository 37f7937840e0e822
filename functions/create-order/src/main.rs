//! The `create-order` Lambda, step A of the saga: wires [`saga_steps::create_order`] to the runtime and to
//! DynamoDB, with the Idempotency-Key lifetime from `IDEMPOTENCY_TTL_SECONDS`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_domain::events::CreateOrderInput;
use saga_domain::faults::StepContext;
use saga_steps::create_order::{handle, Config, DEFAULT_IDEMPOTENCY_TTL_SECONDS};
use saga_store_dynamodb::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    let config = Config {
        idempotency_ttl_s: std::env::var("IDEMPOTENCY_TTL_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_IDEMPOTENCY_TTL_SECONDS),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<CreateOrderInput>| {
        let ctx = StepContext::from_epoch_deadline_ms(event.context.deadline);
        let (store, config) = (&store, &config);
        async move { handle(store, config, event.payload, &ctx).await }
    }))
    .await
}
