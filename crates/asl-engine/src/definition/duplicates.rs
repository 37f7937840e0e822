//! Duplicate state names, which need a look at the definition beyond the typed graph: across
//! branches and processors on the parsed JSON, and inside one `States` object on the raw text.

use super::loader::esc;
use super::{Diagnostic, DUPLICATE};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;

/// State names are unique in the whole state machine, Parallel branches and Map processors included, as AWS's
/// validation requires: the same name in two branches is `DUPLICATE_STATE_NAME` at its second occurrence.
/// (Two equal keys in one `States` object never reach a `Value`; [`duplicate_state_names`] scans the text for
/// those.)
pub(super) fn names_unique_across_the_machine(
    graph: &Value,
    loc: &str,
    seen: &mut HashSet<String>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(states) = graph.get("States").and_then(Value::as_object) else {
        return;
    };
    for (name, state) in states {
        let state_loc = format!("{loc}/States/{}", esc(name));
        if !seen.insert(name.clone()) {
            diags.push(Diagnostic {
                location: state_loc.clone(),
                code: DUPLICATE.into(),
                message: format!("Duplicate state name: {name}"),
            });
        }
        if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
            for (i, branch) in branches.iter().enumerate() {
                names_unique_across_the_machine(
                    branch,
                    &format!("{state_loc}/Branches/{i}"),
                    seen,
                    diags,
                );
            }
        }
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(processor) = state.get(key) {
                names_unique_across_the_machine(
                    processor,
                    &format!("{state_loc}/{key}"),
                    seen,
                    diags,
                );
            }
        }
    }
}

/// Duplicate state names cannot be seen once serde has parsed the text, so the raw text is
/// scanned for repeated keys inside each `States` object.
pub(crate) fn duplicate_state_names(text: &str) -> Vec<Diagnostic> {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};

    struct Scan<'a> {
        loc: String,
        states: bool,
        out: &'a std::cell::RefCell<Vec<Diagnostic>>,
    }
    impl<'de> serde::de::DeserializeSeed<'de> for Scan<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Scan<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("json")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(k) = m.next_key::<String>()? {
                let loc = format!("{}/{}", self.loc, esc(&k));
                if self.states && !seen.insert(k.clone()) {
                    self.out.borrow_mut().push(Diagnostic {
                        location: loc.clone(),
                        code: DUPLICATE.into(),
                        message: format!("Duplicate state name: {k}"),
                    });
                }
                m.next_value_seed(Scan {
                    loc,
                    states: k == "States" && !self.states,
                    out: self.out,
                })?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            let mut i = 0;
            while s
                .next_element_seed(Scan {
                    loc: format!("{}/{i}", self.loc),
                    states: false,
                    out: self.out,
                })?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let out = std::cell::RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = serde::de::DeserializeSeed::deserialize(
        Scan {
            loc: String::new(),
            states: false,
            out: &out,
        },
        &mut de,
    );
    out.into_inner()
}
