//! SDK failures to `StoreError`.
//!
//! `StoreError` has no "permanent" variant besides `Corrupt`, which means bad stored data. Every failure of
//! the call itself therefore becomes `Unavailable`: throttling, timeouts, 5xx and dispatch failures are
//! transient by nature, and the rest (a missing table, a rejected request) are deployment faults that the
//! workflow's bounded retries will surface as a failed step with the message below rather than hide.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use saga_store::StoreError;

pub(crate) fn unavailable<E, R>(op: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = match &err {
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not be sent",
        SdkError::ResponseError(_) => "got an unreadable response",
        SdkError::ConstructionFailure(_) => "could not be built",
        SdkError::ServiceError(_) => match err.code() {
            Some(
                "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded",
            ) => "was throttled",
            Some("InternalServerError" | "ServiceUnavailable") => "failed on the server",
            _ => "was rejected",
        },
        _ => "failed",
    };
    StoreError::Unavailable(format!("{op} {kind}: {}", DisplayErrorContext(&err)))
}
