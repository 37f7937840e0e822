//! The record of a finished execution and its AWS-shaped renderings.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutionStatus {
    Succeeded,
    Failed,
    TimedOut,
    /// Stopped by [`crate::InvokeResponse::Abort`]: a lost Express execution.
    Aborted,
}

impl ExecutionStatus {
    /// The Step Functions status string (`SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`).
    pub fn as_aws_str(self) -> &'static str {
        match self {
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }
}

/// One history event, numbered as AWS numbers them (1 = `ExecutionStarted`).
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    /// E.g. `TaskStateEntered`, `LambdaFunctionFailed`, `ExecutionSucceeded`.
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    /// The event's details object, as in the CloudWatch log record's `details`.
    pub details: Value,
}

impl HistoryEvent {
    /// The event as an Express CloudWatch Logs record (log level ALL, execution data included).
    pub fn to_log_record(&self, execution_arn: &str) -> Value {
        json!({
            "id": self.id.to_string(),
            "type": self.event_type,
            "details": self.details,
            "previous_event_id": self.previous_event_id.to_string(),
            "event_timestamp": self.timestamp.timestamp_millis().to_string(),
            "execution_arn": execution_arn,
            "redrive_count": "0",
        })
    }
}

#[derive(Clone, Debug)]
pub struct ExecutionResult {
    /// Express form: `arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:UUID`.
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub start_date: DateTime<Utc>,
    pub stop_date: DateTime<Utc>,
    pub status: ExecutionStatus,
    pub input: Value,
    /// Present only when the execution succeeded.
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// Filled when `ExecutionOptions::record_history` is set.
    pub history: Vec<HistoryEvent>,
}

fn epoch_seconds(t: &DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_aws_str())
    }
}

impl ExecutionResult {
    /// The recorded history as Express CloudWatch Logs records, oldest first.
    pub fn log_records(&self) -> Vec<Value> {
        self.history
            .iter()
            .map(|e| e.to_log_record(&self.execution_arn))
            .collect()
    }

    /// Billing as Express reports it: duration rounded up to 100 ms, 64 MB.
    pub fn billed_duration_ms(&self) -> u64 {
        let ms = (self.stop_date - self.start_date).num_milliseconds().max(1) as u64;
        ms.div_ceil(100) * 100
    }

    /// The AWS `StartSyncExecution` response body. `input` and `output` are JSON *strings*, as
    /// on the wire; `output` appears only on success.
    pub fn to_start_sync_execution_response(&self) -> Value {
        let mut m = Map::new();
        m.insert("executionArn".into(), json!(self.execution_arn));
        m.insert("stateMachineArn".into(), json!(self.state_machine_arn));
        m.insert("name".into(), json!(self.name));
        m.insert("startDate".into(), epoch_seconds(&self.start_date));
        m.insert("stopDate".into(), epoch_seconds(&self.stop_date));
        m.insert("status".into(), json!(self.status.as_aws_str()));
        m.insert(
            "input".into(),
            json!(serde_json::to_string(&self.input).unwrap_or_default()),
        );
        m.insert("inputDetails".into(), json!({"included": true}));
        if let Some(out) = &self.output {
            m.insert(
                "output".into(),
                json!(serde_json::to_string(out).unwrap_or_default()),
            );
        }
        m.insert("outputDetails".into(), json!({"included": true}));
        if let Some(e) = &self.error {
            m.insert("error".into(), json!(e));
        }
        if let Some(c) = &self.cause {
            m.insert("cause".into(), json!(c));
        }
        m.insert(
            "billingDetails".into(),
            json!({
                "billedDurationInMilliseconds": self.billed_duration_ms(),
                "billedMemoryUsedInMB": 64,
            }),
        );
        Value::Object(m)
    }
}
