//! Local mode: the whole product on one machine, with no AWS, no Docker and no network.
//!
//! The request path is the production one with each AWS service replaced by an in-process twin:
//!
//! ```text
//! HTTP ─▶ gateway (API Gateway's validator + mapping templates)
//!        ─▶ asl-engine (Step Functions Express running workflow.asl.json)
//!           ─▶ resources (Lambda Invoke → the saga-steps handlers; SQS → the repair queue)
//!              ─▶ saga-store (the embedded store)
//! ```
//!
//! The order API's router ([`gateway::router`]) is the front door; the Step Functions JSON API (`sfn-api`) sits
//! beside it at `POST /`, with the saga registered as an Express state machine, for an AWS SDK or CLI.
//!
//! [`server::run`] serves the HTTP API on a listener the caller binds, so tests start the real server on
//! `127.0.0.1:0`. The twins are faithful where it matters to the saga: the definition is the same file with the
//! same placeholders filled, handler errors travel as Lambda error payloads, and answers are mapped exactly as
//! the API Gateway response template maps them.

pub mod app;
pub mod gateway;
pub mod json;
pub mod mapping;
pub mod problem;
pub mod repair;
pub mod resources;
pub mod server;
pub mod sweeper;
pub mod template;

pub use app::{App, Config};
