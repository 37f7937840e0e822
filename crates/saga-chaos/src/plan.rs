//! The seeded plan: every request, restock and fault of a run, decided before the first request is sent.
//!
//! Deciding everything up front is what makes a run reproducible: concurrency changes when things happen, never
//! what is asked. Names carry a tag so that runs against a long-lived server do not collide.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use saga_domain::{FaultMode, FaultPlan, Step};
use serde_json::{json, Value};

/// Stock every sku starts with.
pub const INITIAL_STOCK: u64 = 20;
/// Share of requests sent without any fault.
const FAULT_FREE: f64 = 0.3;
/// Chance, before each request, that one sku's available count is set anew.
const RESTOCK: f64 = 0.06;
/// How far back a replay or a conflicting reuse looks for its key: near enough that many overlap their original.
const REPLAY_WINDOW: usize = 96;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Fresh,
    /// The same key and body as request `of`: a client retry.
    Replay {
        of: usize,
    },
    /// The key of request `of` with another body than `of`'s: refused with 422 once the key is bound to another.
    Conflict {
        of: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Planned {
    pub index: usize,
    pub key: Option<String>,
    pub body: Value,
    pub items: Vec<(String, u32)>,
    pub faults: FaultPlan,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub enum Op {
    Restock { sku: String, available: u64 },
    Order(Planned),
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub skus: Vec<String>,
    pub ops: Vec<Op>,
}

impl Plan {
    pub fn orders(&self) -> impl Iterator<Item = &Planned> {
        self.ops.iter().filter_map(|op| match op {
            Op::Order(p) => Some(p),
            Op::Restock { .. } => None,
        })
    }
}

const FORWARD: [Step; 3] = [Step::CreateOrder, Step::ReserveStock, Step::ConfirmOrder];
const COMPENSATIONS: [Step; 3] = [Step::FenceOrder, Step::ReleaseStock, Step::CancelOrder];

/// A fault plan for one request. Compensation faults only act once something failed (`fence-order` only once
/// confirm-order failed) and `enqueue-repair` only once a compensation failed, so they are layered on top of a
/// forward fault (or of a shortage, which fails reserve-stock without any injected fault).
pub fn random_faults(rng: &mut StdRng) -> FaultPlan {
    if rng.random_bool(FAULT_FREE) {
        return FaultPlan::none();
    }
    let mode = |rng: &mut StdRng| *FaultMode::ALL.choose(rng).expect("modes");
    let mut pairs = Vec::new();
    if rng.random_bool(0.85) {
        pairs.push((*FORWARD.choose(rng).expect("steps"), mode(rng)));
    }
    if pairs.is_empty() || rng.random_bool(0.5) {
        match rng.random_range(0..7) {
            0 => {
                pairs.push((Step::ReleaseStock, mode(rng)));
                pairs.push((Step::CancelOrder, mode(rng)));
            }
            n => pairs.push((COMPENSATIONS[n % 3], mode(rng))),
        }
        if rng.random_bool(0.5) {
            pairs.push((Step::EnqueueRepair, mode(rng)));
        }
    }
    FaultPlan::from_pairs(pairs)
}

fn body(customer: &str, items: &[(String, u32)]) -> Value {
    json!({
        "customerId": customer,
        "items": items.iter().map(|(sku, q)| json!({"sku": sku, "quantity": q})).collect::<Vec<_>>(),
    })
}

/// The whole run for `seed`. `tag` prefixes keys, skus and customers.
pub fn plan(seed: u64, requests: usize, skus: usize, tag: &str) -> Plan {
    let mut rng = StdRng::seed_from_u64(seed);
    let sku_names: Vec<String> = (0..skus.max(1)).map(|k| format!("{tag}-sku-{k}")).collect();
    let mut ops = Vec::with_capacity(requests + requests / 10);
    let mut orders: Vec<Planned> = Vec::with_capacity(requests);
    for index in 0..requests {
        if rng.random_bool(RESTOCK) {
            ops.push(Op::Restock {
                sku: sku_names.choose(&mut rng).expect("skus").clone(),
                available: rng.random_range(0..=2 * INITIAL_STOCK),
            });
        }
        let earlier_keyed = |rng: &mut StdRng, orders: &[Planned]| {
            let from = orders.len().saturating_sub(REPLAY_WINDOW);
            let candidates: Vec<&Planned> =
                orders[from..].iter().filter(|p| p.key.is_some()).collect();
            candidates.choose(rng).map(|p| (*p).clone())
        };
        let roll: f64 = rng.random();
        let planned = match roll {
            r if r < 0.15 => earlier_keyed(&mut rng, &orders).map(|of| Planned {
                index,
                // A retrying client usually sends no fault; some retries meet faults of their own.
                faults: if rng.random_bool(0.75) {
                    FaultPlan::none()
                } else {
                    random_faults(&mut rng)
                },
                origin: Origin::Replay { of: of.index },
                ..of
            }),
            r if r < 0.20 => earlier_keyed(&mut rng, &orders).map(|of| {
                let mut items = of.items.clone();
                // 1 → 2 → 3 → 1: always another body.
                items[0].1 = items[0].1 % 3 + 1;
                let customer = of.body["customerId"].as_str().unwrap_or("c").to_string();
                Planned {
                    index,
                    key: of.key.clone(),
                    body: body(&customer, &items),
                    items,
                    faults: random_faults(&mut rng),
                    origin: Origin::Conflict { of: of.index },
                }
            }),
            _ => None,
        };
        let planned = planned.unwrap_or_else(|| {
            let lines = match rng.random_range(0..10) {
                0..6 => 1,
                6..9 => 2,
                _ => 3,
            }
            .min(sku_names.len());
            let items: Vec<(String, u32)> = sku_names
                .choose_multiple(&mut rng, lines)
                .map(|sku| (sku.clone(), rng.random_range(1..=3)))
                .collect();
            let key = rng.random_bool(0.8).then(|| format!("{tag}-key-{index}"));
            let customer = format!("{tag}-customer-{}", index % 97);
            Planned {
                index,
                key,
                body: body(&customer, &items),
                items,
                faults: random_faults(&mut rng),
                origin: Origin::Fresh,
            }
        });
        orders.push(planned.clone());
        ops.push(Op::Order(planned));
    }
    Plan {
        skus: sku_names,
        ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(p: &Plan) -> Vec<String> {
        p.ops
            .iter()
            .map(|op| match op {
                Op::Restock { sku, available } => format!("restock {sku} {available}"),
                Op::Order(o) => format!(
                    "{:?} {:?} {} {}",
                    o.key,
                    o.origin,
                    o.body,
                    o.faults.to_header().unwrap_or_default(),
                ),
            })
            .collect()
    }

    #[test]
    fn the_plan_is_a_function_of_the_seed() {
        assert_eq!(shape(&plan(7, 500, 4, "t")), shape(&plan(7, 500, 4, "t")));
        assert_ne!(shape(&plan(7, 500, 4, "t")), shape(&plan(8, 500, 4, "t")));
    }

    #[test]
    fn the_plan_covers_every_step_and_mode_replays_and_conflicts() {
        let p = plan(1, 2000, 4, "t");
        for step in Step::ALL {
            for mode in FaultMode::ALL {
                assert!(
                    p.orders().any(|o| o.faults.mode_for(step) == Some(mode)),
                    "{step}={mode} never planned"
                );
            }
        }
        assert!(p.orders().any(|o| o.faults.is_empty()));
        assert!(p
            .orders()
            .any(|o| matches!(o.origin, Origin::Replay { .. })));
        assert!(p
            .orders()
            .any(|o| matches!(o.origin, Origin::Conflict { .. })));
        assert!(p.ops.iter().any(|o| matches!(o, Op::Restock { .. })));
    }

    #[test]
    fn a_conflict_has_another_body_and_a_replay_the_same() {
        let p = plan(3, 1000, 4, "t");
        let all: Vec<&Planned> = p.orders().collect();
        for o in &all {
            match o.origin {
                Origin::Replay { of } => {
                    assert_eq!((&o.key, &o.body), (&all[of].key, &all[of].body))
                }
                Origin::Conflict { of } => {
                    assert_eq!(o.key, all[of].key);
                    assert_ne!(o.body, all[of].body);
                }
                Origin::Fresh => {}
            }
        }
    }
}
