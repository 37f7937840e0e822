//! The `cancel-order` Lambda (the undo of step A, cancelling the order): [`saga_steps::cancel_order`] wired to the
//! runtime and to DynamoDB.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_domain::events::CancelOrderInput;
use saga_domain::faults::StepContext;
use saga_store_dynamodb::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<CancelOrderInput>| {
        let ctx = StepContext::from_epoch_deadline_ms(event.context.deadline);
        let store = &store;
        async move { saga_steps::cancel_order::handle(store, event.payload, &ctx).await }
    }))
    .await
}
