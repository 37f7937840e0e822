//! Choice rules: the operator table, and the checks of a rule and of its nested conditions.

use super::loader::{esc, Loader};
use super::model::{ChoiceRule, Cmp, Condition, Op, Operand};
use super::parse_timestamp;
use serde_json::Value;

impl Op {
    /// The type a literal operand must have.
    fn literal_type(self) -> LitType {
        match self {
            Op::String(_) | Op::StringMatches => LitType::String,
            Op::Numeric(_) => LitType::Number,
            Op::Timestamp(_) => LitType::Timestamp,
            Op::BooleanEquals
            | Op::IsNull
            | Op::IsPresent
            | Op::IsNumeric
            | Op::IsString
            | Op::IsBoolean
            | Op::IsTimestamp => LitType::Bool,
        }
    }

    /// Whether a `...Path` form exists: the type tests and StringMatches take literals only.
    fn has_path_form(self) -> bool {
        !matches!(
            self,
            Op::StringMatches
                | Op::IsNull
                | Op::IsPresent
                | Op::IsNumeric
                | Op::IsString
                | Op::IsBoolean
                | Op::IsTimestamp
        )
    }
}

/// Comparison operators by name, without their `Path` suffix.
const COMPARISONS: &[(&str, Op)] = &[
    ("StringEquals", Op::String(Cmp::Equals)),
    ("StringLessThan", Op::String(Cmp::LessThan)),
    ("StringGreaterThan", Op::String(Cmp::GreaterThan)),
    ("StringLessThanEquals", Op::String(Cmp::LessThanEquals)),
    (
        "StringGreaterThanEquals",
        Op::String(Cmp::GreaterThanEquals),
    ),
    ("StringMatches", Op::StringMatches),
    ("NumericEquals", Op::Numeric(Cmp::Equals)),
    ("NumericLessThan", Op::Numeric(Cmp::LessThan)),
    ("NumericGreaterThan", Op::Numeric(Cmp::GreaterThan)),
    ("NumericLessThanEquals", Op::Numeric(Cmp::LessThanEquals)),
    (
        "NumericGreaterThanEquals",
        Op::Numeric(Cmp::GreaterThanEquals),
    ),
    ("BooleanEquals", Op::BooleanEquals),
    ("TimestampEquals", Op::Timestamp(Cmp::Equals)),
    ("TimestampLessThan", Op::Timestamp(Cmp::LessThan)),
    ("TimestampGreaterThan", Op::Timestamp(Cmp::GreaterThan)),
    (
        "TimestampLessThanEquals",
        Op::Timestamp(Cmp::LessThanEquals),
    ),
    (
        "TimestampGreaterThanEquals",
        Op::Timestamp(Cmp::GreaterThanEquals),
    ),
    ("IsNull", Op::IsNull),
    ("IsPresent", Op::IsPresent),
    ("IsNumeric", Op::IsNumeric),
    ("IsString", Op::IsString),
    ("IsBoolean", Op::IsBoolean),
    ("IsTimestamp", Op::IsTimestamp),
];

/// The operator a Choice rule field names (`NumericLessThan`, `NumericLessThanPath`, ...) and
/// whether its operand is a path; `None` for a name that is no comparison.
fn comparison(field: &str) -> Option<(Op, bool)> {
    let by_name = |name: &str| {
        COMPARISONS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
    };
    if let Some(op) = by_name(field) {
        return Some((op, false));
    }
    let op = by_name(field.strip_suffix("Path")?)?;
    op.has_path_form().then_some((op, true))
}

#[derive(Clone, Copy, PartialEq)]
enum LitType {
    String,
    Number,
    Bool,
    Timestamp,
}

impl Loader {
    pub(super) fn choice_rule(&mut self, v: &Value, loc: &str) -> Option<ChoiceRule> {
        let obj = v.as_object();
        let next = obj.and_then(|o| o.get("Next"));
        let next = match next {
            Some(Value::String(s)) => s.clone(),
            _ => {
                self.schema(loc, "A top-level Choice rule must have a STRING 'Next'");
                String::new()
            }
        };
        let assign = obj.and_then(|o| self.template_field(o, "Assign", loc));
        let condition = self.condition(v, loc, true)?;
        Some(ChoiceRule {
            condition,
            next,
            assign,
        })
    }

    fn condition(&mut self, v: &Value, loc: &str, top: bool) -> Option<Condition> {
        let Some(obj) = v.as_object() else {
            self.schema(loc, "A Choice rule must be an OBJECT");
            return None;
        };
        if obj.contains_key("Condition") {
            self.schema(
                &format!("{loc}/Condition"),
                super::jsonata::jsonata_only_message("Condition"),
            );
            return None;
        }
        if !top && obj.contains_key("Next") {
            self.schema(
                &format!("{loc}/Next"),
                "Nested Choice rules must not have 'Next'",
            );
        }
        let mut ops = Vec::new();
        for k in obj.keys() {
            match k.as_str() {
                "Next" | "Comment" | "Variable" => {}
                "Assign" if top => {}
                "And" | "Or" | "Not" => ops.push(k.clone()),
                other => {
                    let known = comparison(other).is_some();
                    if known {
                        ops.push(k.clone());
                    } else {
                        self.schema(
                            &format!("{loc}/{}", esc(k)),
                            format!("The field '{k}' is not supported in a Choice rule"),
                        );
                    }
                }
            }
        }
        if ops.len() != 1 {
            self.schema(
                loc,
                "A Choice rule must have exactly one comparison operator or one of And, Or, Not",
            );
            return None;
        }
        let op = ops.remove(0);
        let ol = format!("{loc}/{op}");
        match op.as_str() {
            "And" | "Or" => {
                let Some(a) = obj[&op].as_array().filter(|a| !a.is_empty()) else {
                    self.schema(
                        &ol,
                        format!("The field '{op}' must be a non-empty ARRAY of rules"),
                    );
                    return None;
                };
                if obj.contains_key("Variable") {
                    self.schema(
                        &format!("{loc}/Variable"),
                        format!("'Variable' must not be set beside '{op}'"),
                    );
                }
                let mut subs = Vec::new();
                for (i, r) in a.iter().enumerate() {
                    subs.push(self.condition(r, &format!("{ol}/{i}"), false)?);
                }
                Some(if op == "And" {
                    Condition::And(subs)
                } else {
                    Condition::Or(subs)
                })
            }
            "Not" => {
                let sub = self.condition(&obj[&op], &ol, false)?;
                Some(Condition::Not(Box::new(sub)))
            }
            _ => {
                let Some(var) = obj.get("Variable") else {
                    self.schema(loc, "The field 'Variable' is required in a comparison rule");
                    return None;
                };
                let Some(var_s) = var.as_str() else {
                    self.schema(
                        &format!("{loc}/Variable"),
                        "The field 'Variable' must be a STRING",
                    );
                    return None;
                };
                let variable = self.path(var_s, &format!("{loc}/Variable"), "Variable", false)?;
                let (base, is_path) = comparison(&op)?;
                let lit_type = base.literal_type();
                let val = &obj[&op];
                let operand = if is_path {
                    let Some(s) = val.as_str() else {
                        self.schema(
                            &ol,
                            format!("The value for the field '{op}' must be a STRING path"),
                        );
                        return None;
                    };
                    Operand::Path(self.path(s, &ol, &op, false)?)
                } else {
                    let ok = match lit_type {
                        LitType::String => val.is_string(),
                        LitType::Number => val.is_number(),
                        LitType::Bool => val.is_boolean(),
                        LitType::Timestamp => val.as_str().and_then(parse_timestamp).is_some(),
                    };
                    if !ok {
                        let want = match lit_type {
                            LitType::String => "a STRING",
                            LitType::Number => "a NUMBER",
                            LitType::Bool => "a BOOLEAN",
                            LitType::Timestamp => "an ISO-8601 timestamp STRING",
                        };
                        self.schema(
                            &ol,
                            format!("The value for the field '{op}' must be {want}"),
                        );
                        return None;
                    }
                    Operand::Literal(val.clone())
                };
                Some(Condition::Test {
                    variable,
                    op: base,
                    operand,
                })
            }
        }
    }
}
