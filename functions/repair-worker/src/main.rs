//! The `repair-worker` Lambda: an SQS event source with partial batch failures, wired to
//! [`saga_steps::repair_batch`], which repairs each message and names the ones SQS must redeliver.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_steps::repair_batch::{repair_batch, Message};
use saga_store_dynamodb::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let messages = event.payload.records.into_iter().map(|r| Message {
            id: r.message_id.unwrap_or_default(),
            body: r.body,
        });
        let store = &store;
        async move {
            let mut response = SqsBatchResponse::default();
            for id in repair_batch(store, store, messages).await {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
            Ok::<_, Error>(response)
        }
    }))
    .await
}
