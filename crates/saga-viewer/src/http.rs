//! The viewer's routes: the page and its assets, compiled into the binary, and the JSON endpoints.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{Filter, Recorder};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");

/// The statuses an execution can end with, which the list filters on.
const STATUSES: [&str; 4] = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];

#[derive(Debug, thiserror::Error)]
enum ViewerError {
    #[error("no recorded execution {0} (the viewer keeps the most recent {1})")]
    NoExecution(String, usize),
    #[error("no state machine named {0}")]
    NoMachine(String),
    #[error("status must be one of {}, not {given:?}", STATUSES.join(", "))]
    BadStatus { given: String },
}

impl IntoResponse for ViewerError {
    fn into_response(self) -> Response {
        let status = match self {
            ViewerError::NoExecution(..) | ViewerError::NoMachine(_) => StatusCode::NOT_FOUND,
            ViewerError::BadStatus { .. } => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// The viewer's page, which `GET /` answers.
pub fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The viewer's routes under `/ui/`: the assets, the JSON endpoints and the live stream. The page itself is
/// [`page`], for the owner of `/` to serve.
pub fn router(recorder: Arc<Recorder>) -> Router {
    Router::new()
        .route("/ui/", get(|| async { page() }))
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/ui/api/executions", get(list_executions))
        .route("/ui/api/executions/{arn}", get(one_execution))
        .route("/ui/api/state-machines", get(list_machines))
        .route("/ui/api/state-machines/{name}", get(one_machine))
        .route("/ui/api/stream", get(stream))
        .with_state(recorder)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    status: Option<String>,
    state_machine: Option<String>,
    limit: Option<usize>,
}

async fn list_executions(
    State(recorder): State<Arc<Recorder>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ViewerError> {
    let status = q.status.filter(|s| !s.is_empty());
    if let Some(s) = &status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ViewerError::BadStatus { given: s.clone() });
        }
    }
    let filter = Filter {
        status,
        state_machine: q.state_machine.filter(|s| !s.is_empty()),
        limit: q.limit,
    };
    let executions: Vec<Value> = recorder.list(&filter).iter().map(|r| r.summary()).collect();
    Ok(Json(json!({
        "executions": executions,
        "capacity": recorder.capacity(),
        "held": recorder.len(),
        "recordedTotal": recorder.recorded_total(),
    })))
}

async fn one_execution(
    State(recorder): State<Arc<Recorder>>,
    Path(arn): Path<String>,
) -> Result<Json<Value>, ViewerError> {
    let record = recorder
        .get(&arn)
        .ok_or_else(|| ViewerError::NoExecution(arn, recorder.capacity()))?;
    Ok(Json(crate::execution_view(&record)))
}

async fn list_machines(State(recorder): State<Arc<Recorder>>) -> Json<Value> {
    let machines: Vec<Value> = recorder
        .machines()
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "stateMachineArn": m.arn,
                "timeoutSeconds": m.machine.timeout_seconds(),
            })
        })
        .collect();
    Json(json!({ "stateMachines": machines }))
}

async fn one_machine(
    State(recorder): State<Arc<Recorder>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ViewerError> {
    let known = recorder
        .machine(&name)
        .ok_or(ViewerError::NoMachine(name))?;
    Ok(Json(crate::machine_view(&known)))
}

/// Server-sent events: one `execution` event with the list row of each execution recorded after the stream
/// opened, until the client leaves or the recorder closes its streams.
async fn stream(
    State(recorder): State<Arc<Recorder>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let latest = recorder.subscribe();
    let closed = recorder.closed();
    let last = recorder.recorded_total();
    let state = (recorder, latest, closed, last, VecDeque::new());
    let events = futures_util::stream::unfold(
        state,
        |(recorder, mut latest, mut closed, mut last, mut pending)| async move {
            loop {
                if let Some(record) = pending.pop_front() {
                    let record: Arc<crate::Record> = record;
                    let event = Event::default()
                        .event("execution")
                        .id(record.seq.to_string())
                        .json_data(record.summary())
                        .unwrap_or_else(|_| Event::default().comment("unserialisable record"));
                    return Some((Ok(event), (recorder, latest, closed, last, pending)));
                }
                if *closed.borrow() {
                    return None;
                }
                tokio::select! {
                    changed = latest.changed() => if changed.is_err() { return None },
                    _ = closed.changed() => return None,
                }
                latest.borrow_and_update();
                let new = recorder.since(last);
                if let Some(newest) = new.last() {
                    last = newest.seq;
                }
                pending.extend(new);
            }
        },
    );
    Sse::new(events).keep_alive(KeepAlive::default())
}
