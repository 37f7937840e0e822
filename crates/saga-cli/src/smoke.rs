//! `saga smoke`: the short end-to-end check to run right after `terraform apply`, which also passes against
//! `saga serve`.
//!
//! It talks only to the base URL it is given. It stocks a sku of its own (`smoke-<random>`, so runs never collide
//! and nothing needs cleaning up), places a confirmed order and follows its `Location`, provokes an
//! insufficient-stock 409, replays an `Idempotency-Key`, tries to choose an order id with `x-amzn-RequestId`, and
//! finally reads the stock back to see that exactly three units are reserved. Every answer is checked for its
//! status, content type, `X-Saga-Execution` (on saga answers) and body; problem answers for the RFC 9457 members
//! the API promises (docs/openapi.yaml).
//!
//! Each check prints one line: PASS, FAIL or SKIP, its name, and what was seen. A failure adds what was wanted and
//! what to look at, in this stack's terms; docs/deploy.md#first-deploy explains each hint. The exit code is 1 when
//! any check fails.
//!
//! On AWS `PUT /inventory/{sku}` is IAM-authenticated: `--sigv4` signs it for `execute-api` with the credentials
//! in the environment, using the signer the AWS SDKs use.

use std::future::Future;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};
use serde_json::{json, Value};

use crate::CmdResult;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  saga smoke --url http://127.0.0.1:3000
  saga smoke --url \"$(terraform -chdir=terraform output -raw api_url)\" --sigv4")]
pub(crate) struct Args {
    /// Base URL of the API: `terraform output -raw api_url` (it ends with the stage, /v1), or a local server.
    #[arg(long)]
    pub url: String,
    /// Sign `PUT /inventory/{sku}` with SigV4 for execute-api, as the deployed stage requires. Credentials come from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    #[arg(long)]
    pub sigv4: bool,
    /// Region to sign for. Default: the one in an execute-api host name, else AWS_REGION or AWS_DEFAULT_REGION.
    #[arg(long)]
    pub region: Option<String>,
    /// Give up on the whole run after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_seconds: u64,
}

/// Units the smoke sku starts with; the checks reserve three of them and ask for one more than all.
const STOCK: u64 = 3;
/// API Gateway ends an integration at 29 s, so an answer that has not come well after that will not come.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(35);
const ROLE_HINT: &str = "integration role cannot be assumed: see docs/deploy.md#first-deploy. API Gateway answers \
     500 when it cannot call the integration; on a first deploy that is almost always the integration role's trust \
     policy. `aws apigateway test-invoke-method` shows the integration's own error";

pub(crate) async fn run(args: Args) -> CmdResult {
    let target = Target::new(&args)?;
    let mut report = Report::new(&target);
    checks(&target, &mut report).await;
    println!(
        "smoke: {} passed, {} failed, {} skipped against {}",
        report.passed, report.failed, report.skipped, target.base
    );
    Ok(if report.failed == 0 && report.skipped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn checks(t: &Target, r: &mut Report) {
    let sku = format!("smoke-{}", random_suffix());
    if r.check("set stock", set_stock(t, &sku)).await.is_none() {
        for name in LATER_CHECKS {
            r.skip::<()>(
                name,
                "the order checks need the stock `set stock` could not set",
            );
        }
        return;
    }
    let first = r.check("order confirmed", order_confirmed(t, &sku)).await;
    match &first {
        Some(created) => {
            r.check("follow Location", follow_location(t, created))
                .await
        }
        None => r.skip("follow Location", "needs the confirmed order"),
    };
    let conflict = r
        .check("insufficient stock", insufficient_stock(t, &sku))
        .await;
    let replay = r.check("keyed replay", keyed_replay(t, &sku)).await;
    let guarded = match &first {
        Some(created) => {
            r.check("request id override", request_id_override(t, &sku, created))
                .await
        }
        None => r.skip("request id override", "needs the confirmed order"),
    };
    // Following the Location changes nothing; the other checks each leave a known number of units reserved.
    if [conflict, replay, guarded].iter().all(Option::is_some) {
        r.check("stock conserved", stock_conserved(t, &sku)).await;
    } else {
        r.skip::<()>(
            "stock conserved",
            "the level it expects assumes every order check passed",
        );
    }
}

const LATER_CHECKS: [&str; 6] = [
    "order confirmed",
    "follow Location",
    "insufficient stock",
    "keyed replay",
    "request id override",
    "stock conserved",
];

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

fn order(sku: &str, quantity: u64, customer: &str) -> Value {
    json!({"customerId": customer, "items": [{"sku": sku, "quantity": quantity}]})
}

// --- the checks ----------------------------------------------------------------------------------------------------

/// What a passing check saw, and what later checks need from it.
type Checked<T> = Result<(String, T), Fail>;

async fn set_stock(t: &Target, sku: &str) -> Checked<()> {
    let body = json!({"available": STOCK});
    let reply = t
        .send(
            Method::PUT,
            t.endpoint(&["inventory", sku]),
            &[],
            Some(&body),
        )
        .await?;
    let mut w = Wanted::default();
    w.status(&reply, 200);
    w.content_type(&reply, "application/json");
    let level = json!({"sku": sku, "available": STOCK, "reserved": 0});
    w.check(reply.body == level, format!("the body {level}"));
    w.verdict(t, &reply, None)?;
    Ok((reply.seen(), ()))
}

/// A 201 as the API promises it, with what the other checks need from it.
struct Created {
    order_id: String,
    location: String,
    /// The URL the POST went to: `Location` is resolved against it.
    request_url: Url,
}

/// Checks a 201 from `POST /orders` of one unit of `sku`.
fn created(t: &Target, reply: &Reply, sku: &str) -> Result<Created, Fail> {
    let mut w = Wanted::default();
    w.status(reply, 201);
    w.content_type(reply, "application/json");
    w.execution(reply);
    let order_id = reply.body["orderId"].as_str().unwrap_or("").to_string();
    w.check(!order_id.is_empty(), "an orderId in the body");
    w.check(
        reply.body["status"] == "CONFIRMED",
        "\"status\": \"CONFIRMED\"",
    );
    w.check(
        reply.body["items"] == json!([{"sku": sku, "quantity": 1}]),
        "the items as ordered",
    );
    w.check(reply.location.is_some(), "a Location header");
    let hint = if reply.status == 201 {
        Some(
            "on AWS the response template (terraform/templates/start-execution.response.vtl) sets the status, \
             Content-Type, Location and X-Saga-Execution of a 201; a stage deployed from older templates answers \
             otherwise, and `terraform apply` deploys the current ones"
                .to_string(),
        )
    } else if reply.problem_type() == "/problems/insufficient-stock" {
        Some(format!(
            "the saga did not see the {STOCK} units `set stock` put: the PUT integration must write the inventory \
             table the Lambdas read (terraform output inventory_table)"
        ))
    } else {
        None
    };
    w.verdict(t, reply, hint)?;
    Ok(Created {
        order_id,
        location: reply.location.clone().unwrap_or_default(),
        request_url: reply.url.clone(),
    })
}

async fn order_confirmed(t: &Target, sku: &str) -> Checked<Created> {
    let body = order(sku, 1, "smoke");
    let reply = t
        .send(Method::POST, t.endpoint(&["orders"]), &[], Some(&body))
        .await?;
    let created = created(t, &reply, sku)?;
    Ok((reply.seen(), created))
}

async fn follow_location(t: &Target, created: &Created) -> Checked<()> {
    let location = &created.location;
    // RFC 3986 section 5: a relative reference resolves against the URL the request went to, so `orders/{id}`
    // stays under a stage prefix such as /v1/, and `/orders/{id}` replaces the whole path.
    let resolved = created.request_url.join(location).map_err(|e| Fail {
        seen: format!("Location {location:?}"),
        wanted: "a URI reference".into(),
        hint: Some(format!("{e}")),
    })?;
    if resolved.origin() != t.base.origin() {
        return Err(Fail {
            seen: format!("Location {location} resolves to {resolved}"),
            wanted: format!("a Location on {}", t.base.origin().ascii_serialization()),
            hint: Some(
                "smoke talks only to the base URL, and the API's Location is a path on it".into(),
            ),
        });
    }
    let reply = t.send(Method::GET, resolved.clone(), &[], None).await?;
    let mut w = Wanted::default();
    w.status(&reply, 200);
    w.content_type(&reply, "application/json");
    w.check(
        reply.body["orderId"] == created.order_id.as_str(),
        "the same orderId",
    );
    w.check(
        reply.body["status"] == "CONFIRMED",
        "\"status\": \"CONFIRMED\"",
    );
    let hint = (!resolved.path().starts_with(t.base.path())).then(|| {
        format!(
            "Location {location} resolves to {}, outside the base URL's path {}: a Location that is an absolute \
             path drops a stage prefix such as /v1, so it must be relative to the request URL (orders/{{id}}); on \
             AWS the response template (terraform/templates/start-execution.response.vtl) sets it",
            resolved.path(),
            t.base.path()
        )
    });
    w.verdict(t, &reply, hint)
        .map_err(|f| f.seen_first(format!("Location {location} ->")))?;
    Ok((format!("Location {location} -> {}", reply.seen()), ()))
}

async fn insufficient_stock(t: &Target, sku: &str) -> Checked<()> {
    let body = order(sku, STOCK + 1, "smoke");
    let reply = t
        .send(Method::POST, t.endpoint(&["orders"]), &[], Some(&body))
        .await?;
    let mut w = Wanted::default();
    w.problem(&reply, 409, "/problems/insufficient-stock", "completed");
    w.execution(&reply);
    w.check(
        reply.body["orderId"].is_string(),
        "the cancelled order's orderId",
    );
    w.check(reply.location.is_none(), "no Location");
    let hint = (reply.status == 409).then(|| {
        "a 409 from a saga is the workflow's own problem document, passed through verbatim by the response \
         template: compare workflow.asl.json's Problem states with docs/openapi.yaml"
            .to_string()
    });
    w.verdict(t, &reply, hint)?;
    Ok((reply.seen(), ()))
}

async fn keyed_replay(t: &Target, sku: &str) -> Checked<()> {
    let key = format!("smoke-{}", random_suffix());
    let headers = [("Idempotency-Key", key.as_str())];
    let body = order(sku, 1, "smoke");
    let url = t.endpoint(&["orders"]);
    let first = t
        .send(Method::POST, url.clone(), &headers, Some(&body))
        .await?;
    let first = created(t, &first, sku)?;
    let again = t.send(Method::POST, url, &headers, Some(&body)).await?;
    let replayed = created(t, &again, sku).map_err(|f| f.seen_first("the replay:"))?;
    let mut w = Wanted::default();
    w.check(
        replayed.order_id == first.order_id,
        format!("the first answer's orderId {}", first.order_id),
    );
    w.verdict(
        t,
        &again,
        Some(
            "the replay made a second order: create-order binds the key to its order in the idempotency table \
             (terraform output idempotency_table)"
                .into(),
        ),
    )?;
    Ok((
        format!(
            "Idempotency-Key {key} twice -> 201 and 201, orderId {} both times",
            first.order_id
        ),
        (),
    ))
}

async fn request_id_override(t: &Target, sku: &str, victim: &Created) -> Checked<()> {
    let order_url = t.endpoint(&["orders", &victim.order_id]);
    let before = t.send(Method::GET, order_url.clone(), &[], None).await?;
    let mut w = Wanted::default();
    w.status(&before, 200);
    w.content_type(&before, "application/json");
    w.verdict(t, &before, None)?;

    let spoof = [("x-amzn-RequestId", victim.order_id.as_str())];
    let body = order(sku, 1, "smoke-override");
    let reply = t
        .send(Method::POST, t.endpoint(&["orders"]), &spoof, Some(&body))
        .await?;
    let why = format!(
        "a request carrying x-amzn-RequestId: {} must still get an order id of the server's choosing; on AWS \
         $context.requestId takes that header's value, so it must not become the execution name or the order id \
         (terraform/templates/start-execution.request.vtl)",
        victim.order_id
    );
    let created = created(t, &reply, sku).map_err(|f| f.hint_or(&why))?;
    let after = t.send(Method::GET, order_url, &[], None).await?;
    let mut w = Wanted::default();
    w.check(
        created.order_id != victim.order_id,
        format!("an orderId other than {}", victim.order_id),
    );
    w.check(
        after.body == before.body,
        format!("order {} unchanged: {}", victim.order_id, before.text),
    );
    w.verdict(t, &after, Some(why)).map_err(|f| {
        f.seen_first(format!(
            "new orderId {}; GET of the first order:",
            created.order_id
        ))
    })?;
    Ok((
        format!(
            "x-amzn-RequestId: {} -> 201, orderId {}; the first order is unchanged",
            victim.order_id, created.order_id
        ),
        (),
    ))
}

async fn stock_conserved(t: &Target, sku: &str) -> Checked<()> {
    let reply = t
        .send(Method::GET, t.endpoint(&["inventory", sku]), &[], None)
        .await?;
    let mut w = Wanted::default();
    w.status(&reply, 200);
    w.content_type(&reply, "application/json");
    // Three confirmed orders of one unit each; the 409 reserved nothing, or released what it had.
    let level = json!({"sku": sku, "available": STOCK - 3, "reserved": 3});
    w.check(reply.body == level, format!("the body {level}"));
    w.verdict(
        t,
        &reply,
        Some(
            "three confirmed orders of one unit must hold three units: a compensated 409 releases what it \
             reserved (release-stock) and a replay reserves nothing again"
                .into(),
        ),
    )?;
    Ok((reply.seen(), ()))
}

// --- expectations, failures and the report -------------------------------------------------------------------------

/// A failed check: what was seen, what was wanted instead, and what to look at.
struct Fail {
    seen: String,
    wanted: String,
    hint: Option<String>,
}

impl Fail {
    fn seen_first(mut self, context: impl std::fmt::Display) -> Fail {
        self.seen = format!("{context} {}", self.seen);
        self
    }

    fn hint_or(mut self, hint: &str) -> Fail {
        self.hint.get_or_insert_with(|| hint.to_string());
        self
    }
}

/// The expectations an answer missed.
#[derive(Default)]
struct Wanted {
    missed: Vec<String>,
    /// Set when the status itself was wrong: then the rest of the list says nothing new.
    status: Option<String>,
}

impl Wanted {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.missed.push(what.into());
        }
    }

    fn status(&mut self, r: &Reply, status: u16) {
        if r.status != status {
            self.status = Some(format!("status {status}"));
        }
    }

    fn content_type(&mut self, r: &Reply, essence: &str) {
        self.check(r.essence() == essence, format!("Content-Type {essence}"));
    }

    fn execution(&mut self, r: &Reply) {
        let ok = r.execution.as_deref().is_some_and(is_execution_arn);
        self.check(ok, "X-Saga-Execution with the execution's ARN");
    }

    /// An RFC 9457 problem as docs/openapi.yaml requires it of every error.
    fn problem(&mut self, r: &Reply, status: u16, kind: &str, compensation: &str) {
        self.status(r, status);
        self.content_type(r, "application/problem+json");
        self.check(r.problem_type() == kind, format!("\"type\": \"{kind}\""));
        self.check(
            r.body["title"].as_str().is_some_and(|s| !s.is_empty()),
            "a title",
        );
        self.check(r.body["status"] == status, format!("\"status\": {status}"));
        self.check(
            r.body["compensation"] == compensation,
            format!("\"compensation\": \"{compensation}\""),
        );
    }

    /// Fails when anything was missed. The hint is `specific` when the check knows better, else what the answer
    /// itself says about the stack.
    fn verdict(self, t: &Target, r: &Reply, specific: Option<String>) -> Result<(), Fail> {
        let wanted = match self.status {
            Some(status) => status,
            None if self.missed.is_empty() => return Ok(()),
            None => self.missed.join(", "),
        };
        Err(Fail {
            seen: r.seen(),
            wanted,
            hint: specific.or_else(|| diagnose(t, r)),
        })
    }
}

fn is_execution_arn(value: &str) -> bool {
    // docs/openapi.yaml: ^arn:aws[a-z-]*:states:
    value
        .strip_prefix("arn:aws")
        .map(|rest| rest.trim_start_matches(|c: char| c.is_ascii_lowercase() || c == '-'))
        .is_some_and(|rest| rest.starts_with(":states:"))
}

struct Report {
    passed: usize,
    failed: usize,
    skipped: usize,
    deadline: Instant,
    timeout_seconds: u64,
}

impl Report {
    fn new(t: &Target) -> Report {
        Report {
            passed: 0,
            failed: 0,
            skipped: 0,
            deadline: t.deadline,
            timeout_seconds: t.timeout_seconds,
        }
    }

    /// Runs one check, unless the overall time is up, and prints its line.
    async fn check<T>(&mut self, name: &str, check: impl Future<Output = Checked<T>>) -> Option<T> {
        if Instant::now() >= self.deadline {
            let why = format!(
                "the overall time limit ({} s, --timeout-seconds) ran out",
                self.timeout_seconds
            );
            return self.skip(name, &why);
        }
        match check.await {
            Ok((seen, value)) => {
                self.passed += 1;
                line("PASS", name, &seen);
                Some(value)
            }
            Err(fail) => {
                self.failed += 1;
                line("FAIL", name, &fail.seen);
                println!("      wanted: {}", fail.wanted);
                if let Some(hint) = &fail.hint {
                    println!("      look at: {hint}");
                }
                None
            }
        }
    }

    fn skip<T>(&mut self, name: &str, why: &str) -> Option<T> {
        self.skipped += 1;
        line("SKIP", name, why);
        None
    }
}

fn line(verdict: &str, name: &str, text: &str) {
    println!("{verdict}  {name:<20} {text}");
    // One line at a time, as each check ends: a slow saga should not hide the lines before it.
    let _ = std::io::stdout().flush();
}

// --- what an answer says about the stack ---------------------------------------------------------------------------

/// What to look at, from an answer the check did not expect. None when the answer says nothing about the stack.
fn diagnose(t: &Target, r: &Reply) -> Option<String> {
    let kind = r.problem_type();
    if r.text.contains("permission to assume the provided role")
        || kind == "/problems/gateway-misconfigured"
        // API_CONFIGURATION_ERROR's message, whichever gateway response carries it (or none, as before the
        // stack's gateway responses are deployed).
        || (r.status == 500 && r.execution.is_none() && r.text.contains("Internal server error"))
    {
        return Some(ROLE_HINT.into());
    }
    let hint = match (r.status, kind) {
        (503, "/problems/saga-not-started") => {
            "Step Functions throttled StartSyncExecution (the account's quota); nothing was written, retry later"
                .to_string()
        }
        (_, "/problems/saga-not-started") => {
            "Step Functions refused StartSyncExecution: the state machine or the start-execution integration \
             role's policy (terraform/iam_api.tf); see docs/deploy.md#first-deploy for test-invoke-method, which \
             shows Step Functions' error"
                .to_string()
        }
        (403, "") if r.text.contains("Forbidden") => format!(
            "API Gateway answers {{\"message\":\"Forbidden\"}} outside every stage: the base URL must end with \
             the stage, /v1, as `terraform -chdir=terraform output -raw api_url` prints it (its path here is {})",
            t.base.path()
        ),
        (403, "/problems/forbidden") if r.method == Method::PUT => put_forbidden(t, r),
        (403, "/problems/forbidden") => format!(
            "API Gateway has no such route under the base URL: it must be the stage URL (…/v1) and nothing more; \
             it is {}",
            t.base
        ),
        (404, "/problems/not-found") => format!("no such route: is {} the API's base URL?", t.base),
        (429, _) => "throttled: the stage's api_throttling_rate_limit/api_throttling_burst_limit, or the \
                     account's Lambda concurrency; retry in a moment"
            .to_string(),
        (504, "/problems/gateway-timeout") => "the integration did not answer within 29 s: a saga stuck on \
             Lambda cold starts or retries; the state machine's log group (terraform output \
             state_machine_log_group) shows where it waited"
            .to_string(),
        (500, "/problems/execution-failed" | "/problems/saga-timed-out" | "/problems/execution-lost") => {
            "the workflow ended outside its contract: the state machine's log group (terraform output \
             state_machine_log_group) shows the failing state and its error"
                .to_string()
        }
        (500, "/problems/compensation-pending") => "a compensation could not finish, so the saga's steps and \
             their compensations are failing alike: the state machine's log group (terraform output \
             state_machine_log_group) names them, their Lambda log groups (/aws/lambda/<name_prefix>-<function>) \
             say why; the repair queue (terraform output repair_queue_url) holds the case"
            .to_string(),
        (502..=504, _) if r.execution.is_some() => "a saga step kept failing and the saga compensated: the \
             state machine's log group (terraform output state_machine_log_group) names the step, its Lambda's log \
             group (/aws/lambda/<name_prefix>-<function>) the error; on a first deploy, zips built for another \
             architecture than lambda_architecture, or a role missing a permission"
            .to_string(),
        (503, "/problems/downstream-unavailable") => "DynamoDB refused the API's direct integration: its \
             integration role's policy (terraform/iam_api.tf) or the stack's KMS key; test-invoke-method shows \
             DynamoDB's error (docs/deploy.md#first-deploy)"
            .to_string(),
        (415, _) => "the API did not take the body as application/json".to_string(),
        (400, "/problems/validation-failed") => "the API refused a valid request: the deployed request model and \
             schemas/order-request.schema.json disagree, or the stage was deployed from another checkout"
            .to_string(),
        (status, _) if status >= 400 && !r.essence().ends_with("json") => format!(
            "this answer is not the order saga API's (no JSON, no problem document): is {} right?",
            t.base
        ),
        _ => return None,
    };
    Some(hint)
}

fn put_forbidden(t: &Target, r: &Reply) -> String {
    let policy = "the signing principal needs the policy `terraform -chdir=terraform output -raw \
                  inventory_writer_policy_arn`";
    let Some(signer) = &t.signer else {
        return "PUT /inventory/{sku} is IAM-authenticated on AWS: run with --sigv4 (credentials from \
                AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)"
            .into();
    };
    match r.body["title"].as_str().unwrap_or("") {
        "Missing authentication or unknown route" => format!(
            "API Gateway found no route for a signed PUT: is {} the stage URL (…/v1) and nothing more?",
            t.base
        ),
        "Access denied" => format!("SigV4 was accepted but not allowed: {policy}"),
        "Expired token" => "the session credentials expired: refresh AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and \
                            AWS_SESSION_TOKEN"
            .into(),
        "Invalid signature" => format!(
            "the signature did not verify: the secret key, the region signed for ({}, --region) or this \
             machine's clock",
            signer.region
        ),
        _ => format!(
            "SigV4 was refused: the credentials, the region signed for ({}, --region), or {policy}",
            signer.region
        ),
    }
}

// --- HTTP ----------------------------------------------------------------------------------------------------------

struct Target {
    /// Ends with `/`, so that relative references such as `orders` resolve under its path.
    base: Url,
    client: reqwest::Client,
    signer: Option<Signer>,
    deadline: Instant,
    timeout_seconds: u64,
}

/// One answer, read whole.
struct Reply {
    method: Method,
    url: Url,
    status: u16,
    content_type: String,
    execution: Option<String>,
    location: Option<String>,
    text: String,
    /// The body as JSON, or null.
    body: Value,
    elapsed: Duration,
}

impl Reply {
    fn essence(&self) -> String {
        let essence = self.content_type.split(';').next().unwrap_or("");
        essence.trim().to_ascii_lowercase()
    }

    fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }

    fn seen(&self) -> String {
        const SHOWN: usize = 200;
        let mut text: String = self.text.chars().take(SHOWN).collect();
        if text.len() < self.text.len() {
            text.push('…');
        }
        let content_type = if self.content_type.is_empty() {
            "(no Content-Type)"
        } else {
            &self.content_type
        };
        let mut headers = String::new();
        if self.execution.is_some() {
            headers.push_str(", X-Saga-Execution");
        }
        if let Some(location) = &self.location {
            headers.push_str(&format!(", Location {location}"));
        }
        format!(
            "{} {} -> {} {content_type}{headers} ({:.1} s) {text}",
            self.method,
            self.url.path(),
            self.status,
            self.elapsed.as_secs_f64()
        )
    }
}

impl Target {
    fn new(args: &Args) -> Result<Target, String> {
        let base = base_url(&args.url)?;
        if args.timeout_seconds == 0 {
            return Err("--timeout-seconds must be at least 1".into());
        }
        let signer = if args.sigv4 {
            let region = args
                .region
                .clone()
                .or_else(|| base.host_str().and_then(region_from_host))
                .or_else(|| std::env::var("AWS_REGION").ok())
                .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                .filter(|r| !r.is_empty())
                .ok_or(
                    "--sigv4 needs a region: --region, an execute-api host name, or AWS_REGION",
                )?;
            Some(Signer::from_env(region)?)
        } else {
            None
        };
        let client = reqwest::Client::builder()
            // A redirect would lead away from the URL under test; it is reported as the answer it is.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Target {
            base,
            client,
            signer,
            deadline: Instant::now() + Duration::from_secs(args.timeout_seconds),
            timeout_seconds: args.timeout_seconds,
        })
    }

    /// The base URL with these path segments appended, each percent-encoded as one segment.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, Fail> {
        let what = format!("{method} {}", url.path());
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Fail {
                seen: format!("{what}: not sent"),
                wanted: "time to send it".into(),
                hint: Some(format!(
                    "the overall time limit ({} s, --timeout-seconds) ran out",
                    self.timeout_seconds
                )),
            });
        }
        let mut builder = self.client.request(method.clone(), url.clone());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let bytes = body.map(|b| serde_json::to_vec(b).expect("a JSON value serialises"));
        if let Some(bytes) = &bytes {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone());
        }
        let transport = |e: String, hint: String| Fail {
            seen: format!("{what}: {e}"),
            wanted: "an answer".into(),
            hint: Some(hint),
        };
        let mut request = builder
            .timeout(left.min(REQUEST_TIMEOUT))
            .build()
            .map_err(|e| transport(e.to_string(), "the request could not be built".into()))?;
        if method == Method::PUT {
            if let Some(signer) = &self.signer {
                let body = bytes.as_deref().unwrap_or_default();
                signer
                    .sign(&mut request, body, SystemTime::now())
                    .map_err(|e| transport(e, "SigV4 signing failed before sending".into()))?;
            }
        }
        let started = Instant::now();
        let response = self.client.execute(request).await.map_err(|e| {
            let hint = if e.is_timeout() {
                format!(
                    "no answer within {:.0} s: a saga answers within 29 s on AWS (API Gateway's limit), so look at \
                     the state machine's log group (terraform output state_machine_log_group) and the stage's \
                     access log (/aws/apigateway/<name_prefix>-api/access)",
                    left.min(REQUEST_TIMEOUT).as_secs_f64()
                )
            } else if e.is_connect() {
                format!(
                    "cannot reach {}: check --url (terraform output -raw api_url), or that `saga serve` is running",
                    self.base
                )
            } else {
                format!("check --url ({})", self.base)
            };
            transport(error_chain(&e), hint)
        })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header("content-type").unwrap_or_default();
        let execution = header("x-saga-execution");
        let location = header("location");
        let text = response
            .text()
            .await
            .map_err(|e| transport(error_chain(&e), "the answer's body was cut off".into()))?;
        Ok(Reply {
            method,
            url,
            status,
            content_type,
            execution,
            location,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
            elapsed: started.elapsed(),
        })
    }
}

/// reqwest's Display names only the outermost error; the cause (refused, DNS, certificate) is further down.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The base URL, with a trailing `/` so that `orders` resolves to `…/v1/orders` and not `…/orders`.
fn base_url(raw: &str) -> Result<Url, String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("--url {raw:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("--url {raw:?} must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--url {raw:?} must be a base URL, without a query or fragment"
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `{api-id}.execute-api.{region}.amazonaws.com` (and the other partitions' suffixes) -> the region.
fn region_from_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    let at = labels.iter().position(|l| *l == "execute-api")?;
    labels
        .get(at + 1)
        .filter(|r| !r.is_empty())
        .map(|r| r.to_string())
}

// --- SigV4 ---------------------------------------------------------------------------------------------------------

struct Signer {
    credentials: Credentials,
    region: String,
}

impl Signer {
    fn from_env(region: String) -> Result<Signer, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(access_key), Some(secret_key)) =
            (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err("--sigv4 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for \
                        temporary credentials) in the environment"
                .into());
        };
        let credentials = Credentials::new(
            access_key,
            secret_key,
            var("AWS_SESSION_TOKEN"),
            None,
            "environment",
        );
        Ok(Signer {
            credentials,
            region,
        })
    }

    /// Adds `authorization`, `x-amz-date` and, with temporary credentials, `x-amz-security-token`.
    fn sign(
        &self,
        request: &mut reqwest::Request,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), String> {
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.url().as_str(),
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let (signed, _) = instructions.into_parts();
        for header in signed {
            let value = HeaderValue::from_str(header.value()).map_err(|e| e.to_string())?;
            request
                .headers_mut()
                .insert(HeaderName::from_static(header.name()), value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str, signer: Option<Signer>) -> Target {
        Target {
            base: base_url(url).unwrap(),
            client: reqwest::Client::new(),
            signer,
            deadline: Instant::now(),
            timeout_seconds: 1,
        }
    }

    fn reply(method: Method, status: u16, content_type: &str, text: &str) -> Reply {
        Reply {
            method,
            url: Url::parse("https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1/orders")
                .unwrap(),
            status,
            content_type: content_type.into(),
            execution: None,
            location: None,
            text: text.into(),
            body: serde_json::from_str(text).unwrap_or(Value::Null),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn paths_resolve_under_a_stage_prefix() {
        let t = target(
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1",
            None,
        );
        let post = t.endpoint(&["orders"]);
        assert_eq!(
            post.as_str(),
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1/orders"
        );
        // The relative Location resolves under the stage; the absolute path drops it.
        assert_eq!(post.join("orders/o-1").unwrap().path(), "/v1/orders/o-1");
        assert_eq!(post.join("/orders/o-1").unwrap().path(), "/orders/o-1");
        // Locally both resolve to the same order.
        let local = target("http://127.0.0.1:3000", None).endpoint(&["orders"]);
        assert_eq!(
            local.join("orders/o-1").unwrap().as_str(),
            "http://127.0.0.1:3000/orders/o-1"
        );
        assert_eq!(
            local.join("/orders/o-1").unwrap().as_str(),
            "http://127.0.0.1:3000/orders/o-1"
        );
        // A segment is one segment, whatever it holds.
        assert_eq!(
            t.endpoint(&["inventory", "a/b c"]).path(),
            "/v1/inventory/a%2Fb%20c"
        );
        assert!(base_url("http://h/?x=1").is_err());
        assert!(base_url("ftp://h/").is_err());
    }

    #[test]
    fn the_region_comes_from_an_execute_api_host() {
        assert_eq!(
            region_from_host("a1b2c3.execute-api.eu-west-1.amazonaws.com").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_from_host("a1b2c3.execute-api.cn-north-1.amazonaws.com.cn").as_deref(),
            Some("cn-north-1")
        );
        assert_eq!(region_from_host("api.example.com"), None);
        assert_eq!(region_from_host("127.0.0.1"), None);
    }

    #[test]
    fn execution_arns_match_the_spec_pattern() {
        assert!(is_execution_arn(
            "arn:aws:states:us-east-1:123456789012:express:order-saga:a:b"
        ));
        assert!(is_execution_arn(
            "arn:aws-cn:states:cn-north-1:1:express:x:a:b"
        ));
        assert!(!is_execution_arn("arn:aws:lambda:us-east-1:1:function:x"));
        assert!(!is_execution_arn("execution-1"));
    }

    #[test]
    fn the_signature_is_scoped_to_execute_api_in_the_region() {
        let signer = Signer {
            credentials: Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                Some("token".into()),
                None,
                "test",
            ),
            region: "eu-west-1".into(),
        };
        let url = "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1/inventory/smoke-1";
        let mut request = reqwest::Client::new()
            .put(url)
            .header(CONTENT_TYPE, "application/json")
            .body("{\"available\":3}")
            .build()
            .unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        signer
            .sign(&mut request, b"{\"available\":3}", time)
            .unwrap();
        let header = |n: &str| request.headers()[n].to_str().unwrap().to_string();
        let authorization = header("authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/execute-api/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{authorization}"
        );
        assert_eq!(header("x-amz-date"), "20150830T123600Z");
        assert_eq!(header("x-amz-security-token"), "token");
    }

    #[test]
    fn hints_name_what_to_look_at() {
        let t = target(
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1",
            None,
        );
        let gateway_error = reply(
            Method::POST,
            500,
            "application/problem+json",
            r#"{"type":"/problems/gateway-misconfigured","title":"The API is misconfigured","status":500,"detail":"Internal server error","compensation":"not-needed"}"#,
        );
        assert!(diagnose(&t, &gateway_error).unwrap().starts_with(ROLE_HINT));

        let no_stage = reply(
            Method::POST,
            403,
            "application/json",
            r#"{"message":"Forbidden"}"#,
        );
        assert!(diagnose(&t, &no_stage)
            .unwrap()
            .contains("must end with the stage, /v1"));

        let unsigned = reply(
            Method::PUT,
            403,
            "application/problem+json",
            r#"{"type":"/problems/forbidden","title":"Missing authentication or unknown route","status":403,"detail":"Missing Authentication Token","compensation":"not-needed"}"#,
        );
        assert!(diagnose(&t, &unsigned)
            .unwrap()
            .contains("run with --sigv4"));

        let signer = Signer {
            credentials: Credentials::new("AKID", "secret", None, None, "test"),
            region: "eu-west-1".into(),
        };
        let t = target(
            "https://a1b2c3.execute-api.eu-west-1.amazonaws.com/v1",
            Some(signer),
        );
        let denied = reply(
            Method::PUT,
            403,
            "application/problem+json",
            r#"{"type":"/problems/forbidden","title":"Access denied","status":403,"detail":"User: arn:aws:iam::1:user/u is not authorized","compensation":"not-needed"}"#,
        );
        assert!(diagnose(&t, &denied)
            .unwrap()
            .contains("inventory_writer_policy_arn"));

        let not_started = reply(
            Method::POST,
            500,
            "application/problem+json",
            r#"{"type":"/problems/saga-not-started","title":"The saga could not be started","status":500,"detail":"x","compensation":"not-needed"}"#,
        );
        assert!(diagnose(&t, &not_started)
            .unwrap()
            .contains("terraform/iam_api.tf"));
    }
}
