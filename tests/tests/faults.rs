//! Every fault mode on every step, through `X-Saga-Fault`: the answer, and then what the read routes show once
//! the compensation (or the repair worker, or the sweeper) is done. Skipped, with a message, when the target does
//! not honour the header.

use contract_tests::{assert_header_refused, assert_problem, order_body, order_id, Reply, Target};
use reqwest::StatusCode;
use saga_domain::{FaultMode, FaultPlan};

/// What the order looks like in the end.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Order {
    Confirmed,
    Cancelled,
    /// Never written, or only a tombstone: `GET /orders/{id}` is 404.
    Absent,
    /// The answer has no order id (the execution was lost); only stock can be checked.
    Unknown,
}

struct Case {
    faults: &'static str,
    status: u16,
    kind: Option<&'static str>,
    compensation: Option<&'static str>,
    order: Order,
    /// The fence and a late confirm race: whichever lands first decides, and a 201 with a confirmed order is as
    /// truthful as the failure with a cancelled one.
    or_confirmed: bool,
}

const fn ok(faults: &'static str) -> Case {
    Case {
        faults,
        status: 201,
        kind: None,
        compensation: None,
        order: Order::Confirmed,
        or_confirmed: false,
    }
}

const fn or_confirmed(case: Case) -> Case {
    Case {
        or_confirmed: true,
        ..case
    }
}

const fn fails(
    faults: &'static str,
    status: u16,
    kind: &'static str,
    compensation: &'static str,
    order: Order,
) -> Case {
    Case {
        faults,
        status,
        kind: Some(kind),
        compensation: Some(compensation),
        order,
        or_confirmed: false,
    }
}

async fn run(t: &Target, case: &Case) {
    let plan = FaultPlan::parse(Some(case.faults)).expect("a valid plan");
    if plan.pairs().iter().any(|(_, mode)| *mode == FaultMode::Abort)
        && t.skip_unless_local(
            &format!("X-Saga-Fault: {}", case.faults),
            "only the local engine can lose an execution on purpose; on AWS a handler cannot (docs/reliability.md)",
        )
    {
        return;
    }
    let sku = t.stocked_sku("fault", 10).await;
    let reply = t
        .post_order(
            &order_body("c", &[(&sku, 3)]),
            &[("x-saga-fault", case.faults)],
        )
        .await;
    let context = format!("X-Saga-Fault: {}: {reply}", case.faults);
    let confirmed = ok(case.faults);
    let case = if case.or_confirmed && reply.status == StatusCode::CREATED {
        &confirmed
    } else {
        case
    };
    assert_eq!(reply.status.as_u16(), case.status, "{context}");
    assert!(reply.header("x-saga-execution").is_some(), "{context}");
    match (case.kind, case.compensation) {
        (Some(kind), Some(compensation)) => assert_problem(&reply, case.status, kind, compensation),
        _ => contract_tests::spec::assert_conforms(&reply),
    }
    let expected_stock = if case.order == Order::Confirmed {
        (7, 3)
    } else {
        (10, 0)
    };
    // Compensation the saga finished is visible at once; the repair worker and the sweeper take a while.
    if case.compensation == Some("pending") {
        t.eventually(&context, || t.stock(&sku), |s| *s == expected_stock)
            .await;
    } else {
        assert_eq!(t.stock(&sku).await, expected_stock, "{context}");
    }
    check_order(t, case, &reply, &context).await;
}

async fn check_order(t: &Target, case: &Case, reply: &Reply, context: &str) {
    if case.order == Order::Unknown {
        assert!(reply.body.get("orderId").is_none(), "{context}");
        return;
    }
    let id = order_id(reply);
    let want = match case.order {
        Order::Confirmed => Some("CONFIRMED"),
        Order::Cancelled => Some("CANCELLED"),
        _ => None,
    };
    let seen = t
        .eventually(
            context,
            || async { t.order(&id).await },
            |o| match want {
                Some(status) => o.status == StatusCode::OK && o.body["status"] == status,
                None => o.status == StatusCode::NOT_FOUND,
            },
        )
        .await;
    if want.is_none() {
        assert_problem(&seen, 404, "order-not-found", "not-needed");
    }
}

async fn run_all(test: &str, cases: &[Case]) {
    let t = Target::start().await;
    if t.skip_without_faults(test) {
        return;
    }
    for case in cases {
        run(&t, case).await;
    }
    t.stop().await;
}

use Order::*;

#[tokio::test]
async fn create_order_faults() {
    run_all(
        "create_order_faults",
        &[
            fails(
                "create-order=error",
                503,
                "downstream-unavailable",
                "completed",
                Absent,
            ),
            ok("create-order=error-once"),
            fails(
                "create-order=timeout",
                504,
                "step-timed-out",
                "completed",
                Absent,
            ),
            fails(
                "create-order=error-after-commit",
                503,
                "downstream-unavailable",
                "completed",
                Cancelled,
            ),
            // The write that lands after the timeout meets the tombstone the compensation left.
            fails(
                "create-order=late-commit",
                504,
                "step-timed-out",
                "completed",
                Absent,
            ),
            fails(
                "create-order=abort",
                500,
                "execution-lost",
                "pending",
                Unknown,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn reserve_stock_faults() {
    run_all(
        "reserve_stock_faults",
        &[
            fails(
                "reserve-stock=error",
                503,
                "downstream-unavailable",
                "completed",
                Cancelled,
            ),
            ok("reserve-stock=error-once"),
            fails(
                "reserve-stock=timeout",
                504,
                "step-timed-out",
                "completed",
                Cancelled,
            ),
            fails(
                "reserve-stock=error-after-commit",
                503,
                "downstream-unavailable",
                "completed",
                Cancelled,
            ),
            fails(
                "reserve-stock=late-commit",
                504,
                "step-timed-out",
                "completed",
                Cancelled,
            ),
            fails(
                "reserve-stock=abort",
                500,
                "execution-lost",
                "pending",
                Unknown,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn confirm_order_faults() {
    run_all(
        "confirm_order_faults",
        &[
            fails(
                "confirm-order=error",
                503,
                "downstream-unavailable",
                "completed",
                Cancelled,
            ),
            ok("confirm-order=error-once"),
            fails(
                "confirm-order=timeout",
                504,
                "step-timed-out",
                "completed",
                Cancelled,
            ),
            // The confirm landed, and confirmation is final: the fence finds it, so the saga succeeded.
            ok("confirm-order=error-after-commit"),
            // Both attempts time out; the first one's write lands late, before or after the fence.
            or_confirmed(fails(
                "confirm-order=late-commit",
                504,
                "step-timed-out",
                "completed",
                Cancelled,
            )),
            // Stock was reserved when the execution was lost: the sweeper releases it.
            fails(
                "confirm-order=abort",
                500,
                "execution-lost",
                "pending",
                Unknown,
            ),
        ],
    )
    .await;
}

/// The fence runs only after confirm-order failed. With `error`, confirm wrote nothing, so the order is PENDING
/// when the fence runs; with `error-after-commit`, the confirm landed.
#[tokio::test]
async fn fence_order_faults() {
    run_all(
        "fence_order_faults",
        &[
            // No retry: a failed fence goes straight to repair, which fences again and finishes.
            fails(
                "confirm-order=error,fence-order=error",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,fence-order=error-once",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,fence-order=timeout",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,fence-order=error-after-commit",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,fence-order=late-commit",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,fence-order=abort",
                500,
                "execution-lost",
                "pending",
                Unknown,
            ),
            // The confirm had landed: the answer is pending, and repair settles the saga as confirmed, which is
            // final; the stock stays reserved.
            fails(
                "confirm-order=error-after-commit,fence-order=error",
                500,
                "compensation-pending",
                "pending",
                Confirmed,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn release_stock_faults() {
    run_all(
        "release_stock_faults",
        &[
            fails(
                "confirm-order=error,release-stock=error",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=error-once",
                503,
                "downstream-unavailable",
                "completed",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=timeout",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=error-after-commit",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=late-commit",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=abort",
                500,
                "execution-lost",
                "pending",
                Unknown,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn cancel_order_faults() {
    run_all(
        "cancel_order_faults",
        &[
            fails(
                "reserve-stock=error,cancel-order=error",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "reserve-stock=error,cancel-order=error-once",
                503,
                "downstream-unavailable",
                "completed",
                Cancelled,
            ),
            fails(
                "reserve-stock=error,cancel-order=timeout",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "reserve-stock=error,cancel-order=error-after-commit",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "reserve-stock=error,cancel-order=late-commit",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "reserve-stock=error,cancel-order=abort",
                500,
                "execution-lost",
                "pending",
                Unknown,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn enqueue_repair_faults() {
    run_all(
        "enqueue_repair_faults",
        &[
            // Not queued: the sweeper finishes the compensation of the order left PENDING.
            fails(
                "confirm-order=error,release-stock=error,enqueue-repair=error",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=error,enqueue-repair=error-once",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=error,enqueue-repair=timeout",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            // Queued, then reported as failed: the repair worker and the sweeper may both act; either way once.
            fails(
                "confirm-order=error,release-stock=error,enqueue-repair=error-after-commit",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=error,enqueue-repair=late-commit",
                500,
                "compensation-pending",
                "pending",
                Cancelled,
            ),
            fails(
                "confirm-order=error,release-stock=error,enqueue-repair=abort",
                500,
                "execution-lost",
                "pending",
                Unknown,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_malformed_fault_plan_answers_400() {
    let t = Target::start().await;
    if t.skip_without_faults("a_malformed_fault_plan_answers_400") {
        return;
    }
    let sku = t.stocked_sku("bad-plan", 10).await;
    for plan in [
        "reserve-stock",
        "reserve-stock=explode",
        "nowhere=error",
        "reserve-stock=error,reserve-stock=timeout",
        &"reserve-stock=error,".repeat(40),
    ] {
        let reply = t
            .post_order(&order_body("c", &[(&sku, 1)]), &[("x-saga-fault", plan)])
            .await;
        assert_header_refused(&t, &reply);
    }
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}

/// Without fault injection the header is ignored unread, as the production template drops it.
#[tokio::test]
async fn faults_are_ignored_when_not_enabled() {
    let t = Target::start().await;
    if t.faults {
        if t.skip_unless_local(
            "faults_are_ignored_when_not_enabled",
            "the stack honours faults",
        ) {
            return;
        }
        let server = saga_local::server::start(saga_local::Config::default())
            .await
            .unwrap();
        let client = saga_client::Client::new(&server.url()).unwrap();
        let put = client.put_stock("plain-sku", 5, &[]).await.unwrap();
        assert_eq!(put.status, StatusCode::OK, "{put}");
        let reply = client
            .post_order(
                &order_body("c", &[("plain-sku", 1)]),
                &[("x-saga-fault", "reserve-stock=error,not a plan at all")],
            )
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::CREATED, "{reply}");
        server.shutdown().await.unwrap();
    } else {
        let sku = t.stocked_sku("no-faults", 10).await;
        let reply = t
            .post_order(
                &order_body("c", &[(&sku, 1)]),
                &[("x-saga-fault", "reserve-stock=error")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply}");
    }
    t.stop().await;
}

/// A failure a fault caused is bound to its Idempotency-Key like any other: the replay, without the fault, answers
/// as the first time did instead of running the saga again.
#[tokio::test]
async fn a_replayed_fault_answers_as_the_first_time() {
    let t = Target::start().await;
    if t.skip_without_faults("a_replayed_fault_answers_as_the_first_time") {
        return;
    }
    let sku = t.stocked_sku("replay-fault", 10).await;
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let body = order_body("c", &[(&sku, 2)]);
    let first = t
        .post_order(
            &body,
            &[
                ("idempotency-key", key.as_str()),
                ("x-saga-fault", "reserve-stock=error"),
            ],
        )
        .await;
    assert_problem(&first, 503, "downstream-unavailable", "completed");
    let second = t.post_order(&body, &[("idempotency-key", &key)]).await;
    assert_eq!(second.status, first.status, "{second}");
    assert_eq!(second.body, first.body, "{second}");
    assert_eq!(t.stock(&sku).await, (10, 0));
    t.stop().await;
}
