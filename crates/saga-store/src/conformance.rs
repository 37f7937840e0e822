//! The behaviour every store implementation must have, as executable checks. Each check uses ids and skus
//! prefixed by `ns`, so one long-lived store (a DynamoDB table under test) can run the suite repeatedly.
//! Checks panic with a message naming the broken rule.

use std::sync::Arc;

use saga_domain::{Failure, Order, OrderLine, OrderStatus, ReservationStatus};

use crate::*;

fn line(sku: &str, quantity: u32) -> OrderLine {
    OrderLine {
        sku: sku.to_string(),
        quantity,
    }
}

fn order(id: &str, created_at: i64) -> Order {
    Order {
        order_id: id.to_string(),
        status: OrderStatus::Pending,
        customer_id: "c".into(),
        items: vec![line("x", 1)],
        created_at,
        updated_at: created_at,
        idempotency_key: None,
        request_hash: Some("h".into()),
        failure: None,
        tombstone: false,
        fenced: false,
    }
}

pub async fn run_all(orders: Arc<dyn OrderStore>, inventory: Arc<dyn InventoryStore>, ns: &str) {
    idempotency_keys(&*orders, ns).await;
    order_lifecycle(&*orders, ns).await;
    fenced_order_is_never_confirmed(&*orders, ns).await;
    unfenced_pending_order_is_cancelled(&*orders, ns).await;
    confirm_and_fence_race_has_one_winner(orders.clone(), ns).await;
    cancel_before_create_tombstones(&*orders, ns).await;
    sweeper_listing(&*orders, ns).await;
    reserve_and_release(&*inventory, ns).await;
    reserve_is_all_or_nothing(&*inventory, ns).await;
    release_before_reserve_tombstones(&*inventory, ns).await;
    concurrent_reservations_never_oversell(inventory.clone(), ns).await;
}

pub async fn idempotency_keys(s: &dyn OrderStore, ns: &str) {
    let key = format!("{ns}-key");
    let claim = |order_id: &str, hash: &str, now_s| KeyClaim {
        key: key.clone(),
        order_id: order_id.into(),
        request_hash: hash.into(),
        now_s,
        ttl_s: 100,
    };
    assert_eq!(
        s.claim_idempotency_key(&claim("o1", "h1", 1000))
            .await
            .unwrap(),
        KeyClaimOutcome::Claimed
    );
    assert_eq!(
        s.claim_idempotency_key(&claim("o1", "h1", 1001))
            .await
            .unwrap(),
        KeyClaimOutcome::Claimed,
        "re-claiming a key for the same order is idempotent"
    );
    assert_eq!(
        s.claim_idempotency_key(&claim("o2", "h2", 1002))
            .await
            .unwrap(),
        KeyClaimOutcome::Existing {
            order_id: "o1".into(),
            request_hash: "h1".into()
        },
        "an unexpired key stays bound to its first order"
    );
    assert_eq!(
        s.claim_idempotency_key(&claim("o3", "h3", 1100))
            .await
            .unwrap(),
        KeyClaimOutcome::Claimed,
        "an expired key may be claimed afresh"
    );
}

pub async fn order_lifecycle(s: &dyn OrderStore, ns: &str) {
    let id = format!("{ns}-order-1");
    let o = order(&id, 10);
    assert_eq!(
        s.put_order_if_absent(&o).await.unwrap(),
        PutOutcome::Created
    );
    assert!(
        matches!(s.put_order_if_absent(&o).await.unwrap(), PutOutcome::Existing(e) if e == o),
        "a second put must not overwrite"
    );
    assert_eq!(s.get_order(&id).await.unwrap(), Some(o.clone()));
    let ConfirmOutcome::Confirmed(c) = s.confirm_order(&id, 20).await.unwrap() else {
        panic!("PENDING confirms")
    };
    assert_eq!((c.status, c.updated_at), (OrderStatus::Confirmed, 20));
    assert!(matches!(
        s.confirm_order(&id, 21).await.unwrap(),
        ConfirmOutcome::AlreadyConfirmed(_)
    ));
    let f = Failure {
        error: "Saga.Transient".into(),
        cause: "{}".into(),
    };
    assert!(
        matches!(s.cancel_order(&id, Some(&f), 30).await.unwrap(), CancelOutcome::Confirmed(c) if c.status == OrderStatus::Confirmed),
        "CONFIRMED is final: cancel must refuse it"
    );
    assert!(
        matches!(s.fence_order(&id, 31).await.unwrap(), FenceOutcome::Confirmed(c) if !c.fenced),
        "fencing a CONFIRMED order reports it and changes nothing"
    );
    assert_eq!(
        s.get_order(&id)
            .await
            .unwrap()
            .map(|o| (o.status, o.fenced)),
        Some((OrderStatus::Confirmed, false))
    );
    assert_eq!(
        s.confirm_order(&format!("{ns}-missing"), 1).await.unwrap(),
        ConfirmOutcome::NotFound
    );
    assert_eq!(
        s.fence_order(&format!("{ns}-missing"), 1).await.unwrap(),
        FenceOutcome::NotFound
    );
}

/// The compensation of a confirm: once fenced, a PENDING order can only be cancelled, however late a confirm lands.
pub async fn fenced_order_is_never_confirmed(s: &dyn OrderStore, ns: &str) {
    let id = format!("{ns}-order-fenced");
    s.put_order_if_absent(&order(&id, 10)).await.unwrap();
    let FenceOutcome::Fenced(o) = s.fence_order(&id, 20).await.unwrap() else {
        panic!("a PENDING order is fenced")
    };
    assert_eq!(
        (o.status, o.fenced, o.updated_at),
        (OrderStatus::Pending, true, 20)
    );
    assert!(
        matches!(
            s.fence_order(&id, 21).await.unwrap(),
            FenceOutcome::AlreadyFenced(_)
        ),
        "fence is idempotent"
    );
    assert!(
        matches!(
            s.confirm_order(&id, 22).await.unwrap(),
            ConfirmOutcome::Fenced(_)
        ),
        "a confirm landing after the fence is refused"
    );
    let f = Failure {
        error: "Saga.Transient".into(),
        cause: "{}".into(),
    };
    let CancelOutcome::Cancelled(c) = s.cancel_order(&id, Some(&f), 30).await.unwrap() else {
        panic!("a fenced order is cancelled")
    };
    assert_eq!(
        (c.status, c.failure.as_ref()),
        (OrderStatus::Cancelled, Some(&f))
    );
    let other = Failure {
        error: "Other".into(),
        cause: String::new(),
    };
    let CancelOutcome::AlreadyCancelled(c) = s.cancel_order(&id, Some(&other), 31).await.unwrap()
    else {
        panic!("cancel is idempotent")
    };
    assert_eq!(
        c.failure.as_ref(),
        Some(&f),
        "the first recorded failure is kept"
    );
    assert!(
        matches!(
            s.confirm_order(&id, 40).await.unwrap(),
            ConfirmOutcome::Cancelled(_)
        ),
        "a late confirm must not resurrect a cancelled order"
    );
    assert!(
        matches!(
            s.fence_order(&id, 41).await.unwrap(),
            FenceOutcome::AlreadyCancelled(_)
        ),
        "a repair that fences a cancelled order goes on to finish it"
    );
}

/// A PENDING order that was never fenced (its saga failed before confirming) is cancelled directly.
pub async fn unfenced_pending_order_is_cancelled(s: &dyn OrderStore, ns: &str) {
    let id = format!("{ns}-order-unfenced");
    s.put_order_if_absent(&order(&id, 10)).await.unwrap();
    assert!(matches!(
        s.cancel_order(&id, None, 20).await.unwrap(),
        CancelOutcome::Cancelled(c) if c.status == OrderStatus::Cancelled && c.failure.is_none()
    ));
}

pub async fn cancel_before_create_tombstones(s: &dyn OrderStore, ns: &str) {
    let id = format!("{ns}-order-late");
    assert_eq!(
        s.cancel_order(&id, None, 5).await.unwrap(),
        CancelOutcome::Tombstoned
    );
    let t = s
        .get_order(&id)
        .await
        .unwrap()
        .expect("tombstone is stored");
    assert!(t.tombstone && t.status == OrderStatus::Cancelled);
    assert!(
        matches!(s.put_order_if_absent(&order(&id, 6)).await.unwrap(), PutOutcome::Existing(e) if e.tombstone),
        "a late create must not overwrite a tombstone"
    );
}

pub async fn sweeper_listing(s: &dyn OrderStore, ns: &str) {
    for (i, t) in [(1, 100), (2, 200), (3, 300)] {
        s.put_order_if_absent(&order(&format!("{ns}-sweep-{i}"), t))
            .await
            .unwrap();
    }
    s.confirm_order(&format!("{ns}-sweep-2"), 250)
        .await
        .unwrap();
    let pending: Vec<String> = s
        .orders_in_status(OrderStatus::Pending, i64::MIN, 301, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.order_id)
        .filter(|id| id.starts_with(&format!("{ns}-sweep-")))
        .collect();
    assert_eq!(
        pending,
        vec![format!("{ns}-sweep-1"), format!("{ns}-sweep-3")]
    );
}

async fn level(s: &dyn InventoryStore, sku: &str) -> (u64, u64) {
    let l = s.get_stock(sku).await.unwrap().expect("sku exists");
    (l.available, l.reserved)
}

pub async fn reserve_and_release(s: &dyn InventoryStore, ns: &str) {
    let (a, b) = (format!("{ns}-sku-a"), format!("{ns}-sku-b"));
    s.set_available(&a, 10).await.unwrap();
    s.set_available(&b, 5).await.unwrap();
    let id = format!("{ns}-res-1");
    let items = [line(&a, 3), line(&b, 5)];
    assert_eq!(
        s.reserve(&id, &items, 1).await.unwrap(),
        ReserveOutcome::Reserved
    );
    assert_eq!(
        s.reserve(&id, &items, 2).await.unwrap(),
        ReserveOutcome::AlreadyReserved
    );
    assert_eq!(
        level(s, &a).await,
        (7, 3),
        "a retried reserve must not double-reserve"
    );
    assert_eq!(level(s, &b).await, (0, 5));
    let r = s.get_reservation(&id).await.unwrap().unwrap();
    assert_eq!((r.status, r.items.len()), (ReservationStatus::Reserved, 2));
    assert_eq!(
        s.set_available(&a, 20).await.unwrap().reserved,
        3,
        "setting stock keeps what is reserved"
    );
    assert_eq!(s.release(&id, 3).await.unwrap(), ReleaseOutcome::Released);
    assert_eq!(
        s.release(&id, 4).await.unwrap(),
        ReleaseOutcome::AlreadyReleased
    );
    assert_eq!(
        level(s, &a).await,
        (23, 0),
        "a retried release must not double-release"
    );
    assert_eq!(level(s, &b).await, (5, 0));
    assert_eq!(
        s.reserve(&id, &items, 5).await.unwrap(),
        ReserveOutcome::Released,
        "a released order must not reserve again"
    );
    assert_eq!(level(s, &b).await, (5, 0));
    assert_eq!(s.get_stock(&format!("{ns}-sku-none")).await.unwrap(), None);
}

pub async fn reserve_is_all_or_nothing(s: &dyn InventoryStore, ns: &str) {
    let (a, b) = (format!("{ns}-aon-a"), format!("{ns}-aon-b"));
    s.set_available(&a, 10).await.unwrap();
    s.set_available(&b, 1).await.unwrap();
    let out = s
        .reserve(&format!("{ns}-aon-1"), &[line(&a, 3), line(&b, 2)], 1)
        .await
        .unwrap();
    assert_eq!(
        out,
        ReserveOutcome::Insufficient {
            sku: b.clone(),
            requested: 2,
            available: 1
        }
    );
    assert_eq!(
        level(s, &a).await,
        (10, 0),
        "a refused reservation reserves nothing"
    );
    assert_eq!(
        s.get_reservation(&format!("{ns}-aon-1")).await.unwrap(),
        None
    );
    let unknown = s
        .reserve(
            &format!("{ns}-aon-2"),
            &[line(&format!("{ns}-aon-unknown"), 1)],
            1,
        )
        .await
        .unwrap();
    assert!(
        matches!(unknown, ReserveOutcome::Insufficient { available: 0, .. }),
        "an unknown sku has no stock"
    );
}

pub async fn release_before_reserve_tombstones(s: &dyn InventoryStore, ns: &str) {
    let a = format!("{ns}-late-a");
    s.set_available(&a, 4).await.unwrap();
    let id = format!("{ns}-late-1");
    assert_eq!(s.release(&id, 1).await.unwrap(), ReleaseOutcome::Tombstoned);
    assert_eq!(
        s.reserve(&id, &[line(&a, 1)], 2).await.unwrap(),
        ReserveOutcome::Released,
        "a reservation landing after its compensation must be refused"
    );
    assert_eq!(level(s, &a).await, (4, 0));
}

pub async fn concurrent_reservations_never_oversell(s: Arc<dyn InventoryStore>, ns: &str) {
    let a = format!("{ns}-hot");
    s.set_available(&a, 25).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = s.clone();
            let a = a.clone();
            let id = format!("{ns}-hot-{i}");
            tokio::spawn(async move { s.reserve(&id, &[line(&a, 1)], 1).await.unwrap() })
        })
        .collect();
    let mut reserved = 0;
    for t in tasks {
        if t.await.unwrap() == ReserveOutcome::Reserved {
            reserved += 1;
        }
    }
    assert_eq!(reserved, 25, "exactly the stock on hand is reserved");
    assert_eq!(level(&*s, &a).await, (0, 25));
}

/// A confirm and a fence racing on the same PENDING order: exactly one of them wins, and the order ends as the
/// winner says.
pub async fn confirm_and_fence_race_has_one_winner(s: Arc<dyn OrderStore>, ns: &str) {
    let ids: Vec<String> = (0..20).map(|i| format!("{ns}-race-{i}")).collect();
    for id in &ids {
        s.put_order_if_absent(&order(id, 10)).await.unwrap();
    }
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (s, id) = (s.clone(), id.clone());
            tokio::spawn(async move {
                let confirm = {
                    let (s, id) = (s.clone(), id.clone());
                    tokio::spawn(async move { s.confirm_order(&id, 20).await.unwrap() })
                };
                let fence = s.fence_order(&id, 20).await.unwrap();
                (id, confirm.await.unwrap(), fence)
            })
        })
        .collect();
    for t in tasks {
        let (id, confirm, fence) = t.await.unwrap();
        let stored = s.get_order(&id).await.unwrap().unwrap();
        match (&confirm, &fence) {
            (ConfirmOutcome::Confirmed(_), FenceOutcome::Confirmed(_)) => {
                assert_eq!(
                    (stored.status, stored.fenced),
                    (OrderStatus::Confirmed, false)
                )
            }
            (ConfirmOutcome::Fenced(_), FenceOutcome::Fenced(_)) => {
                assert_eq!((stored.status, stored.fenced), (OrderStatus::Pending, true))
            }
            other => panic!("{id}: confirm and fence must not both win or both lose: {other:?}"),
        }
    }
}
