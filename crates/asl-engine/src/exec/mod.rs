//! The interpreter.
//!
//! A graph (the machine, a Parallel branch or a Map iteration) runs state by state. Each state
//! follows the JSONPath pipeline of its type (InputPath → Parameters → work → ResultSelector →
//! ResultPath → OutputPath), and failures travel as [`Failure`] values:
//! - `Error` is an ordinary named error that Retry and Catch may handle;
//! - `Runtime` is `States.Runtime`, which AWS never lets a Retry or Catch see;
//! - `Abort` ends the whole execution on the spot.
//!
//! Everything that waits (retry back-off, Wait states, timeouts) uses tokio time.
//!
//! Laid out by what a reader looks for: `run` holds the execution and the state-by-state loop,
//! `env` what paths and templates see (the context object, variables, ResultPath), `task` the
//! call out through [`crate::Resources`], `recovery` Retry and Catch around Task, Parallel and
//! Map, `fanout` the Parallel branches and Map iterations, `choice` the Choice rules, and `jsonata`
//! the JSONata-mode fields.

mod choice;
mod env;
mod fanout;
mod jsonata;
mod recovery;
mod run;
mod single;
mod task;

pub(crate) use run::{execute, express_execution_arn};
pub(crate) use single::{run_single, Mocked, Plan, Tolerance};

use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub(crate) enum Failure {
    Error {
        error: Option<String>,
        cause: Option<String>,
    },
    Runtime(String),
    Abort,
}

impl Failure {
    fn error(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure::Error {
            error: Some(error.into()),
            cause: Some(cause.into()),
        }
    }
}

type Vars = Map<String, Value>;

/// Where a state sends its output.
enum Step {
    Next(String, Value),
    End(Value),
}
