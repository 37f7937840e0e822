//! A definition's top-level states as a drawable graph, laid out on the server.
//!
//! The layout is a plain layered (Sugiyama-style) drawing: layers by longest path from `StartAt`, edges that span
//! several layers routed through one bend point per layer crossed, and the order within a layer improved by a few
//! barycentre sweeps. Doing it here keeps the page free of a layout library and makes the coordinates testable;
//! a workflow of a few dozen states lays out in microseconds, and a definition is laid out once per request.
//!
//! Parallel and Map states are drawn as one node each: their inner states belong to their own scopes, and the
//! history events of an execution name them as well, so the events table still shows them.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

/// How control reaches a state from another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    Next,
    /// A Choice rule's `Next`.
    Choice,
    /// A Choice's `Default`.
    Default,
    /// A Catch clause's `Next`.
    Catch,
}

/// What a state is for, judged from the definition alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reachable from `StartAt` without taking a Catch.
    Forward,
    /// A Task reachable only through a Catch: in a saga, a compensation.
    Compensation,
    /// Any other state reachable only through a Catch (classifying and reporting the failure).
    Recovery,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    pub name: String,
    #[serde(rename = "type")]
    pub state_type: String,
    pub start: bool,
    /// A state that ends the execution: `End: true`, Succeed or Fail.
    pub end: bool,
    pub role: Role,
    /// The `ErrorEquals` of each Retry clause.
    pub retry: Vec<Vec<String>>,
    /// A Task's `Resource`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The Lambda function a Task calls, by name (the last segment of its ARN), when the definition says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Centre of the box.
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    /// The Catch clause's errors, for a catch edge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    /// Goes against the layering (a loop back); drawn like any other edge.
    pub back: bool,
    /// From the source box's border to the target box's border, through one point per layer crossed.
    pub points: Vec<[f64; 2]>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Graph {
    pub start_at: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub width: f64,
    pub height: f64,
}

const NODE_HEIGHT: f64 = 34.0;
const LAYER_GAP: f64 = 56.0;
const NODE_GAP: f64 = 28.0;
const DUMMY_WIDTH: f64 = 0.0;
/// Bend points of different edges may run close together; boxes need room for their labels.
const BEND_GAP: f64 = 3.0;
const MARGIN: f64 = 20.0;
/// Approximate advance of one character of the page's 12 px label font.
const CHAR_WIDTH: f64 = 7.2;

impl Graph {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Builds and lays out the graph of a definition's top-level states. A definition the engine accepted always
    /// has `StartAt` and `States`; anything missing simply yields fewer nodes or edges.
    pub fn of_definition(definition: &Value) -> Graph {
        let start_at = definition["StartAt"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let empty = serde_json::Map::new();
        let states = definition["States"].as_object().unwrap_or(&empty);
        let mut nodes: Vec<Node> = Vec::with_capacity(states.len());
        let mut edges: Vec<Edge> = Vec::new();
        for (name, state) in states {
            let state_type = state["Type"].as_str().unwrap_or_default().to_string();
            let resource = state["Resource"].as_str().map(str::to_string);
            let function = function_name(state);
            let end = state["End"].as_bool() == Some(true)
                || matches!(state_type.as_str(), "Succeed" | "Fail");
            let mut edge = |to: &Value, kind: EdgeKind, errors: Option<Vec<String>>| {
                if let Some(to) = to.as_str() {
                    edges.push(Edge {
                        from: name.clone(),
                        to: to.to_string(),
                        kind,
                        errors,
                        back: false,
                        points: Vec::new(),
                    });
                }
            };
            edge(&state["Next"], EdgeKind::Next, None);
            for rule in state["Choices"].as_array().into_iter().flatten() {
                edge(&rule["Next"], EdgeKind::Choice, None);
            }
            edge(&state["Default"], EdgeKind::Default, None);
            for catcher in state["Catch"].as_array().into_iter().flatten() {
                edge(
                    &catcher["Next"],
                    EdgeKind::Catch,
                    Some(error_list(&catcher["ErrorEquals"])),
                );
            }
            let retry = state["Retry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| error_list(&r["ErrorEquals"]))
                .collect();
            let width = (name.chars().count() as f64 * CHAR_WIDTH + 28.0).max(96.0);
            nodes.push(Node {
                name: name.clone(),
                start: *name == start_at,
                end,
                role: Role::Forward,
                state_type,
                retry,
                resource,
                function,
                x: 0.0,
                y: 0.0,
                width,
                height: NODE_HEIGHT,
            });
        }
        // A Choice with the same target under two rules draws one line.
        let mut seen = std::collections::HashSet::new();
        edges.retain(|e| {
            e.kind == EdgeKind::Catch || seen.insert((e.from.clone(), e.to.clone(), e.kind))
        });
        edges.retain(|e| states.contains_key(&e.to));
        assign_roles(&mut nodes, &edges, &start_at);
        let mut graph = Graph {
            start_at,
            nodes,
            edges,
            width: 0.0,
            height: 0.0,
        };
        layout(&mut graph);
        graph
    }
}

fn error_list(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

/// The function a Task calls: `Parameters.FunctionName` of `lambda:invoke`, or a Lambda ARN `Resource`.
fn function_name(state: &Value) -> Option<String> {
    let arn = state["Parameters"]["FunctionName"].as_str().or_else(|| {
        state["Resource"]
            .as_str()
            .filter(|r| r.contains(":lambda:"))
    })?;
    let mut parts = arn.split(':');
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]; a bare name is its own name.
    match parts.nth(5) {
        Some("function") => parts.next().map(str::to_string),
        _ => Some(arn.to_string()),
    }
}

fn assign_roles(nodes: &mut [Node], edges: &[Edge], start_at: &str) {
    let mut forward = std::collections::HashSet::new();
    let mut stack = vec![start_at.to_string()];
    while let Some(n) = stack.pop() {
        if forward.insert(n.clone()) {
            stack.extend(
                edges
                    .iter()
                    .filter(|e| e.from == n && e.kind != EdgeKind::Catch)
                    .map(|e| e.to.clone()),
            );
        }
    }
    for node in nodes {
        node.role = if forward.contains(&node.name) {
            Role::Forward
        } else if node.state_type == "Task" {
            Role::Compensation
        } else {
            Role::Recovery
        };
    }
}

/// One box of the layout: a state, or a bend point of an edge that crosses a layer.
struct Slot {
    layer: usize,
    bend: bool,
    width: f64,
    x: f64,
    /// The slots of the layers above and below this one that connect to it.
    up: Vec<usize>,
    down: Vec<usize>,
}

fn layout(graph: &mut Graph) {
    let n = graph.nodes.len();
    if n == 0 {
        graph.width = 2.0 * MARGIN;
        graph.height = 2.0 * MARGIN;
        return;
    }
    let index: HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (node.name.as_str(), i))
        .collect();
    let pairs: Vec<(usize, usize)> = graph
        .edges
        .iter()
        .map(|e| (index[e.from.as_str()], index[e.to.as_str()]))
        .collect();
    let back = back_edges(n, &pairs, index.get(graph.start_at.as_str()).copied());
    for (edge, is_back) in graph.edges.iter_mut().zip(&back) {
        edge.back = *is_back;
    }
    // Layering works on the graph with loops turned round, which is acyclic.
    let oriented: Vec<(usize, usize)> = pairs
        .iter()
        .zip(&back)
        .map(|(&(a, b), &is_back)| if is_back { (b, a) } else { (a, b) })
        .collect();
    let layer = longest_path_layers(n, &oriented);

    let mut slots: Vec<Slot> = graph
        .nodes
        .iter()
        .zip(&layer)
        .map(|(node, &layer)| Slot {
            layer,
            bend: false,
            width: node.width,
            x: 0.0,
            up: Vec::new(),
            down: Vec::new(),
        })
        .collect();
    // Each edge becomes a chain of slots, top to bottom.
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(oriented.len());
    for &(a, b) in &oriented {
        let mut chain = vec![a];
        if a != b {
            for l in layer[a] + 1..layer[b] {
                slots.push(Slot {
                    layer: l,
                    bend: true,
                    width: DUMMY_WIDTH,
                    x: 0.0,
                    up: Vec::new(),
                    down: Vec::new(),
                });
                chain.push(slots.len() - 1);
            }
            chain.push(b);
            for w in chain.windows(2) {
                slots[w[0]].down.push(w[1]);
                slots[w[1]].up.push(w[0]);
            }
        }
        chains.push(chain);
    }
    let layers = order_layers(&slots);
    place(&mut slots, &layers);

    let min_x = slots
        .iter()
        .map(|s| s.x - s.width / 2.0)
        .fold(f64::INFINITY, f64::min);
    let max_x = slots
        .iter()
        .map(|s| s.x + s.width / 2.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let shift = MARGIN - min_x;
    let y_of = |l: usize| MARGIN + NODE_HEIGHT / 2.0 + l as f64 * (NODE_HEIGHT + LAYER_GAP);
    for (node, slot) in graph.nodes.iter_mut().zip(&slots) {
        node.x = round(slot.x + shift);
        node.y = y_of(slot.layer);
    }
    for ((edge, chain), &is_back) in graph.edges.iter_mut().zip(&chains).zip(&back) {
        if chain.len() < 2 {
            continue;
        }
        let last = chain.len() - 1;
        let mut points: Vec<[f64; 2]> = chain
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let y = y_of(slots[s].layer);
                let y = match i {
                    0 => y + NODE_HEIGHT / 2.0,
                    i if i == last => y - NODE_HEIGHT / 2.0,
                    _ => y,
                };
                [round(slots[s].x + shift), y]
            })
            .collect();
        if is_back {
            points.reverse();
        }
        edge.points = points;
    }
    let layer_count = layer.iter().max().map_or(0, |m| m + 1);
    graph.width = round(max_x - min_x + 2.0 * MARGIN);
    graph.height = 2.0 * MARGIN + layer_count as f64 * (NODE_HEIGHT + LAYER_GAP) - LAYER_GAP;
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Marks the edges that close a loop, found by a depth-first walk from the start state (then from any state it
/// does not reach, in definition order).
fn back_edges(n: usize, pairs: &[(usize, usize)], start: Option<usize>) -> Vec<bool> {
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (i, &(a, b)) in pairs.iter().enumerate() {
        out[a].push((b, i));
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; n];
    let mut back = vec![false; pairs.len()];
    let roots = start.into_iter().chain(0..n);
    for root in roots {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative, so that a long chain of states cannot overflow the stack.
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::OnStack;
        while let Some((v, next)) = stack.last_mut() {
            let v = *v;
            if let Some(&(w, edge)) = out[v].get(*next) {
                *next += 1;
                match mark[w] {
                    Mark::New => {
                        mark[w] = Mark::OnStack;
                        stack.push((w, 0));
                    }
                    Mark::OnStack => back[edge] = true,
                    Mark::Done => {}
                }
            } else {
                mark[v] = Mark::Done;
                stack.pop();
            }
        }
    }
    back
}

/// The layer of each state: the length of the longest path reaching it (Kahn's order over an acyclic graph).
fn longest_path_layers(n: usize, pairs: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in pairs {
        if a != b {
            out[a].push(b);
            indegree[b] += 1;
        }
    }
    let mut layer = vec![0usize; n];
    let mut ready: std::collections::VecDeque<usize> =
        (0..n).filter(|&v| indegree[v] == 0).collect();
    while let Some(v) = ready.pop_front() {
        for &w in &out[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push_back(w);
            }
        }
    }
    layer
}

/// The slots of each layer, left to right: first in the order they were made (definition order, then bend
/// points), then improved by sweeps that sort each layer by the mean position of its neighbours in the layer
/// just placed.
fn order_layers(slots: &[Slot]) -> Vec<Vec<usize>> {
    let count = slots.iter().map(|s| s.layer).max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, s) in slots.iter().enumerate() {
        layers[s.layer].push(i);
    }
    let mut position = vec![0.0f64; slots.len()];
    let index = |layers: &[Vec<usize>], position: &mut [f64]| {
        for layer in layers {
            for (p, &s) in layer.iter().enumerate() {
                position[s] = p as f64;
            }
        }
    };
    index(&layers, &mut position);
    for sweep in 0..8 {
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down {
            (1..count).collect()
        } else {
            (0..count.saturating_sub(1)).rev().collect()
        };
        for l in order {
            let keyed: Vec<(f64, usize)> = layers[l]
                .iter()
                .map(|&s| {
                    let neighbours = if down { &slots[s].up } else { &slots[s].down };
                    let key = if neighbours.is_empty() {
                        position[s]
                    } else {
                        neighbours.iter().map(|&t| position[t]).sum::<f64>()
                            / neighbours.len() as f64
                    };
                    (key, s)
                })
                .collect();
            let mut keyed = keyed;
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            layers[l] = keyed.into_iter().map(|(_, s)| s).collect();
            for (p, &s) in layers[l].iter().enumerate() {
                position[s] = p as f64;
            }
        }
    }
    layers
}

/// The least distance between the centres of two neighbouring slots.
fn separation(a: &Slot, b: &Slot) -> f64 {
    let gap = if a.bend && b.bend {
        BEND_GAP
    } else if a.bend || b.bend {
        BEND_GAP * 3.0
    } else {
        NODE_GAP
    };
    (a.width + b.width) / 2.0 + gap
}

/// Horizontal positions: each layer packed, then nudged a few times towards its neighbours' mean, keeping the
/// order and the gaps.
fn place(slots: &mut [Slot], layers: &[Vec<usize>]) {
    for layer in layers {
        let mut x = 0.0;
        for (i, &s) in layer.iter().enumerate() {
            if i > 0 {
                x += separation(&slots[layer[i - 1]], &slots[s]);
            }
            slots[s].x = x;
        }
        let shift = x / 2.0;
        for &s in layer {
            slots[s].x -= shift;
        }
    }
    // The widest packed layer bounds every layer, so that nudging cannot shear the drawing wider than it must be.
    let half = layers
        .iter()
        .filter_map(|l| Some(slots[*l.last()?].x + slots[*l.last()?].width / 2.0))
        .fold(0.0f64, f64::max);
    for round in 0..12 {
        let down = round % 2 == 0;
        let order: Vec<&Vec<usize>> = if down {
            layers.iter().collect()
        } else {
            layers.iter().rev().collect()
        };
        for layer in order {
            let wanted: Vec<f64> = layer
                .iter()
                .map(|&s| {
                    let slot = &slots[s];
                    let neighbours: Vec<usize> = if down {
                        slot.up.clone()
                    } else {
                        slot.down.clone()
                    };
                    if neighbours.is_empty() {
                        slot.x
                    } else {
                        neighbours.iter().map(|&t| slots[t].x).sum::<f64>()
                            / neighbours.len() as f64
                    }
                })
                .collect();
            // Left to right, each slot as close to its wish as the one before it allows; then right to left, so
            // that a crowded layer spreads both ways rather than drifting right.
            let mut xs = wanted;
            let Some((&first, &last)) = layer.first().zip(layer.last()) else {
                continue;
            };
            let push_right = |xs: &mut Vec<f64>| {
                xs[0] = xs[0].max(-half + slots[first].width / 2.0);
                for i in 1..layer.len() {
                    let min = xs[i - 1] + separation(&slots[layer[i - 1]], &slots[layer[i]]);
                    xs[i] = xs[i].max(min);
                }
            };
            push_right(&mut xs);
            let end = xs.len() - 1;
            xs[end] = xs[end].min(half - slots[last].width / 2.0);
            for i in (0..end).rev() {
                let max = xs[i + 1] - separation(&slots[layer[i]], &slots[layer[i + 1]]);
                xs[i] = xs[i].min(max);
            }
            push_right(&mut xs);
            for (&s, x) in layer.iter().zip(xs) {
                slots[s].x = x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn saga_like() -> Value {
        json!({
            "StartAt": "Create",
            "States": {
                "Create": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:1:function:create-order"},
                    "Retry": [{"ErrorEquals": ["Busy"]}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Cancel"}], "Next": "Reserve"},
                "Reserve": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:reserve-stock",
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Release"}], "Next": "Done"},
                "Done": {"Type": "Succeed"},
                "Release": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "release-stock"}, "Next": "Cancel"},
                "Cancel": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "cancel-order"}, "Next": "Report"},
                "Report": {"Type": "Fail", "Error": "E"}
            }
        })
    }

    #[test]
    fn states_reached_only_through_a_catch_are_compensation_or_recovery() {
        let g = Graph::of_definition(&saga_like());
        let role = |n: &str| g.node(n).unwrap().role;
        assert_eq!(role("Create"), Role::Forward);
        assert_eq!(role("Done"), Role::Forward);
        assert_eq!(role("Release"), Role::Compensation);
        assert_eq!(role("Cancel"), Role::Compensation);
        assert_eq!(role("Report"), Role::Recovery);
        assert_eq!(
            g.node("Create").unwrap().retry,
            vec![vec!["Busy".to_string()]]
        );
        assert_eq!(
            g.node("Create").unwrap().function.as_deref(),
            Some("create-order")
        );
        assert_eq!(
            g.node("Reserve").unwrap().function.as_deref(),
            Some("reserve-stock")
        );
        assert_eq!(
            g.node("Release").unwrap().function.as_deref(),
            Some("release-stock")
        );
        assert!(g.node("Done").unwrap().end && g.node("Create").unwrap().start);
    }

    #[test]
    fn every_edge_runs_downwards_from_its_source_to_its_target_without_overlapping_boxes() {
        let g = Graph::of_definition(&saga_like());
        assert_eq!(g.edges.len(), 6);
        for e in &g.edges {
            let (from, to) = (g.node(&e.from).unwrap(), g.node(&e.to).unwrap());
            assert!(from.y < to.y, "{} -> {}", e.from, e.to);
            assert_eq!(e.points.first().unwrap()[1], from.y + from.height / 2.0);
            assert_eq!(e.points.last().unwrap()[1], to.y - to.height / 2.0);
            assert!(e.points.windows(2).all(|w| w[0][1] < w[1][1]));
        }
        for a in &g.nodes {
            for b in &g.nodes {
                if a.name != b.name && a.y == b.y {
                    assert!(
                        (a.x - b.x).abs() >= (a.width + b.width) / 2.0,
                        "{} overlaps {}",
                        a.name,
                        b.name
                    );
                }
            }
            assert!(a.x - a.width / 2.0 >= 0.0 && a.x + a.width / 2.0 <= g.width);
            assert!(a.y + a.height / 2.0 <= g.height);
        }
        // Create -> Cancel spans three layers: one bend point per layer crossed.
        let long = g
            .edges
            .iter()
            .find(|e| e.from == "Create" && e.to == "Cancel")
            .unwrap();
        assert_eq!(long.kind, EdgeKind::Catch);
        assert_eq!(long.points.len(), 4);
    }

    #[test]
    fn a_loop_is_drawn_with_its_closing_edge_marked_back() {
        let g = Graph::of_definition(&json!({
            "StartAt": "Poll",
            "States": {
                "Poll": {"Type": "Wait", "Seconds": 1, "Next": "Check"},
                "Check": {"Type": "Choice", "Choices": [{"Variable": "$.done", "BooleanEquals": false, "Next": "Poll"}],
                          "Default": "Done"},
                "Done": {"Type": "Succeed"}
            }
        }));
        let back: Vec<_> = g.edges.iter().filter(|e| e.back).collect();
        assert_eq!(back.len(), 1);
        assert_eq!(
            (back[0].from.as_str(), back[0].to.as_str()),
            ("Check", "Poll")
        );
        let (check, poll) = (g.node("Check").unwrap(), g.node("Poll").unwrap());
        assert!(poll.y < check.y);
        assert_eq!(
            back[0].points.first().unwrap()[1],
            check.y - check.height / 2.0
        );
    }
}
