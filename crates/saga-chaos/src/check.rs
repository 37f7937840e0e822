//! The invariants, checked once the run has settled: what every answer promised, and what the data must look
//! like whatever failed. In-process the stores are read directly (and every order is seen); against a remote
//! server only the HTTP API is, so only the orders the answers named.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use saga_domain::{OrderStatus, ReservationStatus};
use saga_local::App;
use serde_json::Value;

use crate::drive::{Client, Outcome, Stock};
use crate::plan::{Plan, Planned};

pub const PROBLEM_JSON: &str = "application/problem+json";
const IN_PROGRESS: &str = "/problems/idempotency-key-in-progress";
const EXECUTION_FAILED: &str = "/problems/execution-failed";
const KEY_REUSED: &str = "/problems/idempotency-key-reused";

#[derive(Debug, Clone)]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.detail)
    }
}

/// An order as the checks see it.
#[derive(Debug, Clone)]
pub struct OrderView {
    pub status: OrderStatus,
    pub items: Vec<(String, u32)>,
}

fn status_from(s: &str) -> Option<OrderStatus> {
    match s {
        "PENDING" => Some(OrderStatus::Pending),
        "CONFIRMED" => Some(OrderStatus::Confirmed),
        "CANCELLED" => Some(OrderStatus::Cancelled),
        _ => None,
    }
}

fn items_from(v: &Value) -> Vec<(String, u32)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    Some((
                        l.get("sku")?.as_str()?.to_string(),
                        u32::try_from(l.get("quantity")?.as_u64()?).ok()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where the truth is read from.
pub enum Probe {
    Local(Arc<App>),
    Http(Client),
}

impl Probe {
    pub async fn order(&self, id: &str) -> Result<Option<OrderView>, String> {
        match self {
            Probe::Local(app) => Ok(app
                .shared
                .orders
                .get_order(id)
                .await
                .map_err(|e| e.to_string())?
                .filter(|o| !o.tombstone)
                .map(|o| OrderView {
                    status: o.status,
                    items: o.items.into_iter().map(|l| (l.sku, l.quantity)).collect(),
                })),
            Probe::Http(c) => Ok(c.get_order(id).await?.and_then(|o| {
                Some(OrderView {
                    status: status_from(o.get("status")?.as_str()?)?,
                    items: items_from(o.get("items")?),
                })
            })),
        }
    }

    /// The order's reservation status; `None` when the API does not expose it (remote runs).
    pub async fn reservation(&self, id: &str) -> Option<Option<ReservationStatus>> {
        match self {
            Probe::Local(app) => Some(
                app.shared
                    .inventory
                    .get_reservation(id)
                    .await
                    .ok()
                    .flatten()
                    .map(|r| r.status),
            ),
            Probe::Http(_) => None,
        }
    }

    pub async fn stock(&self, sku: &str) -> Result<Option<Stock>, String> {
        match self {
            Probe::Local(app) => Ok(app
                .shared
                .inventory
                .get_stock(sku)
                .await
                .map_err(|e| e.to_string())?
                .map(|l| Stock {
                    available: l.available,
                    reserved: l.reserved,
                })),
            Probe::Http(c) => c.get_stock(sku).await,
        }
    }

    /// Every order that is not a tombstone, when the store can be listed (in-process runs).
    pub fn all_orders(&self) -> Option<BTreeMap<String, OrderView>> {
        match self {
            Probe::Local(app) => Some(
                app.all_orders()
                    .into_iter()
                    .filter(|o| !o.tombstone)
                    .map(|o| {
                        (
                            o.order_id,
                            OrderView {
                                status: o.status,
                                items: o.items.into_iter().map(|l| (l.sku, l.quantity)).collect(),
                            },
                        )
                    })
                    .collect(),
            ),
            Probe::Http(_) => None,
        }
    }
}

/// The order ids the answers named, in their bodies or through the execution name.
pub fn named_orders(outcomes: &[Outcome]) -> BTreeSet<String> {
    outcomes
        .iter()
        .flat_map(|o| {
            o.order_id()
                .map(str::to_string)
                .into_iter()
                .chain(o.execution.clone())
        })
        .collect()
}

struct Ctx<'a> {
    probe: &'a Probe,
    plan: &'a [&'a Planned],
    outcomes: &'a [Outcome],
    orders: HashMap<String, Option<OrderView>>,
    violations: Vec<Violation>,
}

impl Ctx<'_> {
    async fn order(&mut self, id: &str) -> Option<OrderView> {
        if let Some(o) = self.orders.get(id) {
            return o.clone();
        }
        let o = match self.probe.order(id).await {
            Ok(o) => o,
            Err(e) => {
                self.violate("unreadable", format!("cannot read order {id}: {e}"));
                None
            }
        };
        self.orders.insert(id.to_string(), o.clone());
        o
    }

    fn violate(&mut self, rule: &'static str, detail: String) {
        self.violations.push(Violation { rule, detail });
    }

    /// A request and its answer, for a violation's detail.
    fn describe(&self, o: &Outcome) -> String {
        let p = self.plan[o.index];
        format!(
            "request #{} ({:?}) key={} fault={} body={} sent at {:.3} s → answered {} at {:.3} s: {}{}",
            o.index,
            p.origin,
            p.key.as_deref().unwrap_or("-"),
            p.faults.to_header().unwrap_or_else(|| "-".into()),
            p.body,
            o.sent_us as f64 / 1e6,
            o.status,
            o.answered_us as f64 / 1e6,
            o.body,
            o.transport_error
                .as_ref()
                .map(|e| format!(" (transport error: {e})"))
                .unwrap_or_default(),
        )
    }

    async fn observed(&mut self, id: &str) -> String {
        let order = self.order(id).await;
        let res = self.probe.reservation(id).await;
        format!(
            "order {id}: {}; reservation: {}",
            order.map_or("absent".into(), |o| format!("{:?} {:?}", o.status, o.items)),
            match res {
                None => "not observable over HTTP".into(),
                Some(r) => format!("{r:?}"),
            }
        )
    }

    async fn check_answer(&mut self, o: &Outcome) {
        let p = self.plan[o.index];
        if o.status == 0 {
            let d = self.describe(o);
            return self.violate("no-answer", d);
        }
        if o.is_success() {
            let id = o.order_id().map(str::to_string);
            let body_ok = o.status == 201
                && o.content_type.starts_with("application/json")
                && o.body.get("status").and_then(Value::as_str) == Some("CONFIRMED")
                && items_from(&o.body["items"]) == p.items;
            let Some(id) = id.filter(|_| body_ok) else {
                let d = self.describe(o);
                return self.violate("bad-success", d);
            };
            let order = self.order(&id).await;
            let reserved = self.probe.reservation(&id).await;
            let order_ok = order
                .as_ref()
                .is_some_and(|v| v.status == OrderStatus::Confirmed && v.items == p.items);
            let stock_ok = reserved.is_none_or(|r| r == Some(ReservationStatus::Reserved));
            if !(order_ok && stock_ok) {
                let d = format!(
                    "{}; observed {}",
                    self.describe(o),
                    self.observed(&id).await
                );
                self.violate("untruthful-success", d);
            }
            return;
        }
        // An error: the problem document's shape first.
        let fields_ok = ["type", "title", "status", "detail", "compensation"]
            .iter()
            .all(|f| o.body.get(f).is_some());
        let compensation = o.compensation().unwrap_or("");
        let type_ = o.problem_type().unwrap_or("");
        let shape_ok = o.content_type.starts_with(PROBLEM_JSON)
            && fields_ok
            && o.body["status"].as_u64() == Some(u64::from(o.status))
            && ["completed", "not-needed", "pending"].contains(&compensation)
            && ((o.status == 500) == (compensation == "pending"))
            && (type_ != KEY_REUSED || (o.status == 422 && p.key.is_some()))
            && (type_ != IN_PROGRESS || (o.status == 409 && compensation == "not-needed"));
        if !shape_ok {
            let d = self.describe(o);
            self.violate("bad-problem", d);
        }
        // The workflow answers every failure it knows with a problem of its own; `execution-failed` means it broke
        // its contract (an unfound path, a success without an answer), which no injected fault should cause. Lost
        // and timed-out executions have their own types.
        if type_ == EXECUTION_FAILED {
            let d = self.describe(o);
            self.violate("outside-contract", d);
        }
        // Then what it promised, once repairs and sweeps ran. `completed` and `not-needed`: nothing of this
        // request's saga survives. `pending`: the saga was settled into one of the two consistent states; it is
        // cancelled with nothing reserved unless its confirm had landed, which is final, and then it is
        // confirmed with its stock reserved. An in-progress answer names another request's order, which may
        // well succeed.
        let mut ids: Vec<String> = o.execution.iter().cloned().collect();
        if type_ != IN_PROGRESS {
            ids.extend(o.order_id().map(str::to_string));
        }
        ids.dedup();
        for id in ids {
            let order = self.order(&id).await;
            let reserved = self.probe.reservation(&id).await;
            let undone = order
                .as_ref()
                .is_none_or(|v| v.status == OrderStatus::Cancelled)
                && reserved.is_none_or(|r| r != Some(ReservationStatus::Reserved));
            let settled_confirmed = compensation == "pending"
                && order
                    .as_ref()
                    .is_some_and(|v| v.status == OrderStatus::Confirmed && v.items == p.items)
                && reserved.is_none_or(|r| r == Some(ReservationStatus::Reserved));
            if !(undone || settled_confirmed) {
                let rule = if compensation == "pending" {
                    "pending-not-repaired"
                } else {
                    "untruthful-failure"
                };
                let d = format!(
                    "{}; observed {}",
                    self.describe(o),
                    self.observed(&id).await
                );
                self.violate(rule, d);
            }
        }
    }

    /// Requests sharing an Idempotency-Key: one order per key, and once a key's saga has answered for good, every
    /// later request with it gets that same answer (same body) or 422 (another body).
    async fn check_keys(&mut self) {
        let mut groups: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
        for o in self.outcomes {
            if let Some(k) = self.plan[o.index].key.as_deref() {
                groups.entry(k).or_default().push(o);
            }
        }
        for (key, mut group) in groups {
            group.sort_by_key(|o| o.answered_us);
            let confirmed: BTreeSet<&str> = group
                .iter()
                .filter(|o| o.is_success())
                .filter_map(|o| o.order_id())
                .collect();
            if confirmed.len() > 1 {
                self.violate(
                    "one-order-per-key",
                    format!("key {key} confirmed several orders: {confirmed:?}"),
                );
            }
            // The reference: the first final answer whose order really exists, so the key is bound to it. An answer
            // that could not read the key does not speak for it.
            let mut reference = None;
            for o in &group {
                let final_answer = o.status != 0
                    && o.status != 500
                    && o.problem_type() != Some(IN_PROGRESS)
                    && o.problem_type() != Some(KEY_REUSED)
                    && !key_outcome_unknown(o);
                if !final_answer {
                    continue;
                }
                if let Some(id) = o.order_id() {
                    if self.order(id).await.is_some() {
                        reference = Some(*o);
                        break;
                    }
                }
            }
            let Some(e) = reference else { continue };
            let e_body = &self.plan[e.index].body;
            for r in &group {
                let rp = self.plan[r.index];
                // A fault on create-order stops a request before it reads the key, and so does a create-order that
                // never answered: the answer then says the key's outcome is unknown, and claims nothing about it.
                if r.index == e.index
                    || r.sent_us <= e.answered_us
                    || rp.faults.mode_for(saga_domain::Step::CreateOrder).is_some()
                    || key_outcome_unknown(r)
                {
                    continue;
                }
                if &rp.body == e_body {
                    if (r.status, &r.body) != (e.status, &e.body) {
                        let d = format!("{}; its original {}", self.describe(r), self.describe(e));
                        self.violate("replay-differs", d);
                    }
                } else if r.status != 422 {
                    let d = format!(
                        "{}; the key was bound by {}",
                        self.describe(r),
                        self.describe(e)
                    );
                    self.violate("reused-key-accepted", d);
                }
            }
        }
    }
}

/// Whether an answer says it cannot tell its Idempotency-Key's outcome: `create-order` did not answer, or the
/// execution ended outside the workflow's own answers (the gateway's 500s).
fn key_outcome_unknown(o: &Outcome) -> bool {
    o.body.get("idempotencyKeyOutcome").and_then(Value::as_str) == Some("unknown")
}

/// What `check` found besides violations.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    pub orders_seen: usize,
    pub confirmed: usize,
    pub cancelled: usize,
}

/// Every invariant over the settled run. `totals` is each sku's available + reserved as the last PUT left it.
pub async fn check(
    probe: &Probe,
    plan: &Plan,
    outcomes: &[Outcome],
    totals: &BTreeMap<String, u64>,
) -> (Vec<Violation>, Observed) {
    let planned: Vec<&Planned> = plan.orders().collect();
    let mut cx = Ctx {
        probe,
        plan: &planned,
        outcomes,
        orders: HashMap::new(),
        violations: Vec::new(),
    };
    for o in outcomes {
        cx.check_answer(o).await;
    }
    cx.check_keys().await;

    // The data, whatever the answers said: every order we can see.
    let all = match probe.all_orders() {
        Some(all) => all,
        None => {
            let mut all = BTreeMap::new();
            for id in named_orders(outcomes) {
                if let Some(v) = cx.order(&id).await {
                    all.insert(id, v);
                }
            }
            all
        }
    };
    let mut held: BTreeMap<&str, u64> = BTreeMap::new();
    let mut observed = Observed {
        orders_seen: all.len(),
        ..Observed::default()
    };
    for (id, v) in &all {
        match v.status {
            OrderStatus::Pending => cx.violate(
                "left-pending",
                format!("order {id} is still PENDING: {:?}", v.items),
            ),
            OrderStatus::Confirmed => {
                observed.confirmed += 1;
                for (sku, q) in &v.items {
                    *held.entry(sku.as_str()).or_default() += u64::from(*q);
                }
            }
            OrderStatus::Cancelled => observed.cancelled += 1,
        }
        let res = probe.reservation(id).await;
        let expected = match v.status {
            OrderStatus::Confirmed => Some(ReservationStatus::Reserved),
            _ => None,
        };
        if let Some(r) = res {
            let reserved = r == Some(ReservationStatus::Reserved);
            if reserved != expected.is_some() {
                cx.violate(
                    "order-stock-mismatch",
                    format!(
                        "order {id} is {:?} {:?} but its reservation is {r:?}",
                        v.status, v.items
                    ),
                );
            }
        }
    }
    for (sku, total) in totals {
        match probe.stock(sku).await {
            Ok(Some(level)) => {
                if level.available + level.reserved != *total {
                    cx.violate(
                        "stock-not-conserved",
                        format!(
                            "{sku}: available {} + reserved {} ≠ {total} put in",
                            level.available, level.reserved
                        ),
                    );
                }
                let confirmed = held.get(sku.as_str()).copied().unwrap_or(0);
                if level.reserved != confirmed {
                    cx.violate(
                        "reserved-not-confirmed",
                        format!(
                            "{sku}: {} reserved, but CONFIRMED orders hold {confirmed}",
                            level.reserved
                        ),
                    );
                }
            }
            Ok(None) => cx.violate("stock-not-conserved", format!("{sku} vanished")),
            Err(e) => cx.violate("unreadable", e),
        }
    }
    (cx.violations, observed)
}
