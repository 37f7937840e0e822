//! Transition targets, terminal states and reachability of one graph.
//!
//! These are checked on the raw JSON rather than on the typed states, so that states that
//! failed to parse still take part and every missing target is reported.

use super::loader::{esc, Loader};
use super::{MISSING_TARGET, NO_TERMINAL, UNREACHABLE};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};

impl Loader {
    pub(super) fn transitions(
        &mut self,
        states_obj: &Map<String, Value>,
        states_loc: &str,
        start_at: &str,
    ) {
        let mut edges: HashMap<&str, Vec<(String, String)>> = HashMap::new();
        let mut terminal = false;
        for (name, sv) in states_obj {
            let sl = format!("{states_loc}/{}", esc(name));
            let Some(s) = sv.as_object() else { continue };
            let mut targets = Vec::new();
            if let Some(Value::String(n)) = s.get("Next") {
                targets.push((n.clone(), format!("{sl}/Next")));
            }
            if let Some(Value::String(n)) = s.get("Default") {
                targets.push((n.clone(), format!("{sl}/Default")));
            }
            for (field, nested) in [("Choices", "Next"), ("Catch", "Next")] {
                if let Some(Value::Array(a)) = s.get(field) {
                    for (i, r) in a.iter().enumerate() {
                        if let Some(Value::String(n)) = r.get(nested) {
                            targets.push((n.clone(), format!("{sl}/{field}/{i}/{nested}")));
                        }
                    }
                }
            }
            let ty = s.get("Type").and_then(Value::as_str).unwrap_or("");
            if matches!(ty, "Succeed" | "Fail") || s.get("End") == Some(&Value::Bool(true)) {
                terminal = true;
            }
            for (t, l) in &targets {
                if !states_obj.contains_key(t) {
                    self.push(l, MISSING_TARGET, format!("Missing 'Next' target: {t}"));
                }
            }
            edges.insert(name.as_str(), targets);
        }
        if !states_obj.is_empty() && !terminal {
            self.push(
                states_loc,
                NO_TERMINAL,
                "The workflow has no terminal state (End, Succeed or Fail)",
            );
        }
        if states_obj.contains_key(start_at) {
            let mut seen: HashSet<&str> = HashSet::new();
            let mut queue = VecDeque::from([start_at]);
            while let Some(s) = queue.pop_front() {
                if !seen.insert(s) {
                    continue;
                }
                for (t, _) in edges.get(s).map(Vec::as_slice).unwrap_or(&[]) {
                    if let Some((k, _)) = states_obj.get_key_value(t) {
                        queue.push_back(k.as_str());
                    }
                }
            }
            for name in states_obj.keys() {
                if !seen.contains(name.as_str()) {
                    self.push(
                        &format!("{states_loc}/{}", esc(name)),
                        UNREACHABLE,
                        format!("State '{name}' is not reachable"),
                    );
                }
            }
        }
    }
}
