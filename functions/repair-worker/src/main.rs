//! Lambda entry point: an SQS event source with partial batch failures, so one stubborn message is redelivered
//! (and eventually dead-lettered) without holding back the others.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use saga_domain::events::RepairRequest;
use saga_store_dynamodb::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let store = DynamoStore::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let store = &store;
        async move {
            let mut failures = Vec::new();
            for record in event.payload.records {
                let id = record.message_id.clone().unwrap_or_default();
                let parsed = record
                    .body
                    .as_deref()
                    .ok_or_else(|| "empty message body".to_string())
                    .and_then(|b| {
                        serde_json::from_str::<RepairRequest>(b).map_err(|e| e.to_string())
                    });
                let outcome = match parsed {
                    Ok(request) => repair_worker::repair(store, store, &request)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(format!("not a repair request: {e}")),
                };
                if let Err(error) = outcome {
                    tracing::warn!(message_id = %id, %error, "repair failed; SQS will redeliver");
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = id;
                    failures.push(failure);
                }
            }
            let mut response = SqsBatchResponse::default();
            response.batch_item_failures = failures;
            Ok::<_, Error>(response)
        }
    }))
    .await
}
