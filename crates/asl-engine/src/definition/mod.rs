//! Loading a definition: JSON in, a typed and validated state graph out.
//!
//! Validation mirrors what `ValidateStateMachineDefinition` checks, and it never stops at the
//! first problem: every diagnostic carries a JSON-pointer location so a user can fix them all
//! in one pass. Anything the runtime would not honour (distributed Map, callback
//! integrations) is rejected here by name rather than being silently ignored at run time.
//!
//! One module per part a reader looks for: `model` is the typed graph the interpreter runs,
//! `loader` the walk that builds it, `states` the rules of each state type, `jsonata` the fields
//! of JSONata-mode states, `recovery` Retry
//! and Catch, `choice` Choice rules, `reachability` transitions and terminal states, and
//! `duplicates` the state-name checks that need the raw definition.

mod choice;
mod duplicates;
mod jsonata;
mod loader;
mod model;
mod reachability;
mod recovery;
mod states;

pub(crate) use duplicates::duplicate_state_names;
pub(crate) use jsonata::{JsonataRule, JsonataState};
pub(crate) use loader::load;
pub(crate) use model::*;
pub(crate) use states::DISTRIBUTED_MAP_FIELDS;

use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// One problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// JSON pointer into the definition, e.g. `/States/CreateOrder/Retry/0/ErrorEquals`.
    pub location: String,
    /// Stable rule name, e.g. `SCHEMA_VALIDATION_FAILED` or `MISSING_TRANSITION_TARGET`.
    pub code: String,
    pub message: String,
}

impl Diagnostic {
    /// The diagnostic as `ValidateStateMachineDefinition` reports one.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "severity": "ERROR",
            "code": self.code,
            "message": self.message,
            "location": self.location,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} at {}", self.code, self.message, self.location)
    }
}

/// Every diagnostic of a definition that failed to load.
#[derive(Debug, Clone, thiserror::Error)]
pub struct DefinitionError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

pub(crate) const SCHEMA: &str = "SCHEMA_VALIDATION_FAILED";
pub(crate) const MISSING_TARGET: &str = "MISSING_TRANSITION_TARGET";
pub(crate) const UNREACHABLE: &str = "UNREACHABLE_STATE";
pub(crate) const NO_TERMINAL: &str = "NO_TERMINAL_STATE";
pub(crate) const INVALID_JSON: &str = "INVALID_JSON_DESCRIPTION";
pub(crate) const UNSUPPORTED: &str = "UNSUPPORTED_FEATURE";
pub(crate) const DUPLICATE: &str = "DUPLICATE_STATE_NAME";

/// Parses a timestamp the way AWS accepts them: RFC 3339 with a `T`, a zone, and optional
/// fractional seconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    if !s.contains('T') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

pub(crate) struct Parsed {
    pub(crate) graph: Arc<Graph>,
    pub(crate) timeout_seconds: Option<u64>,
}

pub(crate) fn invalid_json(e: &serde_json::Error) -> DefinitionError {
    DefinitionError {
        diagnostics: vec![Diagnostic {
            location: "/".into(),
            code: INVALID_JSON.into(),
            message: format!("The definition is not valid JSON: {e}"),
        }],
    }
}
