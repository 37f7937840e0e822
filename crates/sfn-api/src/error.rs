//! Step Functions error responses: `{"__type": NAME, "message": TEXT}` with HTTP 400, which the
//! AWS SDKs turn into each operation's modelled error (`is_state_machine_does_not_exist()`, ...).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error of the Step Functions API. The variant names are AWS's `__type` names, and the
/// messages follow AWS's wording where we know it, because clients and tests match on both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfnError {
    #[error("State Machine Does Not Exist: '{0}'")]
    StateMachineDoesNotExist(String),
    #[error("State Machine Already Exists: '{0}'")]
    StateMachineAlreadyExists(String),
    #[error("{0}")]
    StateMachineTypeNotSupported(String),
    #[error("Invalid State Machine Definition: '{0}'")]
    InvalidDefinition(String),
    /// An `InvalidDefinition` whose message is complete as it stands: TestState words some of
    /// its refusals without the wrapper of [`SfnError::InvalidDefinition`].
    #[error("{0}")]
    InvalidDefinitionMessage(String),
    #[error("Invalid Arn: '{0}'")]
    InvalidArn(String),
    #[error("Invalid Name: '{0}'")]
    InvalidName(String),
    #[error("Invalid State Machine Execution Input: '{0}'")]
    InvalidExecutionInput(String),
    #[error("Invalid Token: '{0}'")]
    InvalidToken(String),
    #[error("{0}")]
    MissingRequiredParameter(String),
    #[error("Resource not found: '{0}'")]
    ResourceNotFound(String),
    /// Carries the resource's ARN, which AWS also sends as the `resourceName` member.
    #[error("Too many tags: '{0}' would have more than {max} tags", max = crate::MAX_TAGS)]
    TooManyTags(String),
    #[error("{0}")]
    ValidationException(String),
    #[error("{0}")]
    SerializationException(String),
    #[error("{0}")]
    UnknownOperationException(String),
    /// A real Step Functions operation that local mode does not implement. AWS has no such
    /// error; see [`UNSUPPORTED_OPERATION`] for the name it is sent under.
    #[error("{operation} is not supported by local mode{}", detail_suffix(.detail))]
    UnsupportedOperation { operation: String, detail: String },
}

/// The `__type` of [`SfnError::UnsupportedOperation`]. No Step Functions operation models an
/// error of this name, so every SDK reports it as an unmodelled service error that carries this
/// code and the message, which is what makes it visible to the caller; a modelled name (such as
/// `ValidationException`) would instead be mistaken for a problem with the request.
/// `UnknownOperationException`, what AWS answers for a name that is not an operation at all, is
/// kept for that case, so the two are told apart.
pub const UNSUPPORTED_OPERATION: &str = "UnsupportedOperation";

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl SfnError {
    /// The `__type` of the error body.
    pub fn type_name(&self) -> &'static str {
        match self {
            SfnError::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            SfnError::StateMachineAlreadyExists(_) => "StateMachineAlreadyExists",
            SfnError::StateMachineTypeNotSupported(_) => "StateMachineTypeNotSupported",
            SfnError::InvalidDefinition(_) | SfnError::InvalidDefinitionMessage(_) => {
                "InvalidDefinition"
            }
            SfnError::InvalidArn(_) => "InvalidArn",
            SfnError::InvalidName(_) => "InvalidName",
            SfnError::InvalidExecutionInput(_) => "InvalidExecutionInput",
            SfnError::InvalidToken(_) => "InvalidToken",
            SfnError::MissingRequiredParameter(_) => "MissingRequiredParameter",
            SfnError::ResourceNotFound(_) => "ResourceNotFound",
            SfnError::TooManyTags(_) => "TooManyTags",
            SfnError::ValidationException(_) => "ValidationException",
            SfnError::SerializationException(_) => "SerializationException",
            SfnError::UnknownOperationException(_) => "UnknownOperationException",
            SfnError::UnsupportedOperation { .. } => UNSUPPORTED_OPERATION,
        }
    }

    /// AWS's wording for a required member that is absent.
    pub(crate) fn missing(member: &str) -> SfnError {
        SfnError::ValidationException(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    }

    /// The JSON body AWS sends for this error.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({"__type": self.type_name(), "message": self.to_string()});
        if let SfnError::TooManyTags(resource) = self {
            body["resourceName"] = serde_json::json!(resource);
        }
        body
    }
}

impl IntoResponse for SfnError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, crate::CONTENT_TYPE)],
            self.to_json().to_string(),
        )
            .into_response()
    }
}
