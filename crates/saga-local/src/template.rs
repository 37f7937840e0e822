//! Terraform `templatefile` interpolation, for the one form workflow definitions use: `${NAME}` becomes the value
//! of `NAME`, and `$${` is a literal `${`. Production renders `workflow.asl.json` with Terraform itself; local mode
//! (the shipped saga, `saga serve --definition`, `saga run --var`) renders it here, with the same escape, so that a
//! definition means the same text in both places.

/// A placeholder that cannot be filled. Lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{line}: unterminated ${{ (a placeholder is ${{NAME}}; write $${{ for a literal ${{)")]
    Unterminated { line: usize },
    /// Every placeholder without a value, each with its line.
    #[error("{} has no value", missing_list(.0))]
    Missing(Vec<(usize, String)>),
}

fn missing_list(missing: &[(usize, String)]) -> String {
    missing
        .iter()
        .map(|(line, name)| format!("{line}: ${{{name}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fills every `${NAME}` of `text` with `value_of(NAME)`; every placeholder must have a value.
pub fn fill<'v>(
    text: &str,
    value_of: impl Fn(&str) -> Option<&'v str>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    let line_of = |rest: &str| text[..text.len() - rest.len()].matches('\n').count() + 1;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            // `$${` is an escape: keep one `$` and the brace, as Terraform does.
            out.push_str(&rest[..at - 1]);
            out.push_str("${");
            rest = &rest[at + 2..];
            continue;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(TemplateError::Unterminated {
                line: line_of(&rest[at..]),
            });
        };
        let name = after[..end].trim();
        match value_of(name) {
            Some(v) => out.push_str(v),
            None => missing.push((line_of(&rest[at..]), name.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(TemplateError::Missing(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(name: &str) -> Option<&'static str> {
        (name == "A").then_some("x")
    }

    #[test]
    fn fills_placeholders_and_keeps_escapes() {
        let filled = fill(r#"{"a": "${A}", "b": "$${B}", "c": "${ A }"}"#, value_of);
        assert_eq!(filled.unwrap(), r#"{"a": "x", "b": "${B}", "c": "x"}"#);
    }

    #[test]
    fn names_every_unfilled_placeholder_with_its_line() {
        let err = fill("{\n\"a\": \"${B}\",\n\"b\": \"${C}\"}", value_of).unwrap_err();
        assert_eq!(err.to_string(), "2: ${B}, 3: ${C} has no value");
        let err = fill("\"${A\"", value_of).unwrap_err();
        assert_eq!(err, TemplateError::Unterminated { line: 1 });
        assert!(err.to_string().starts_with("1: unterminated ${"), "{err}");
    }
}
