//! Path text to [`JsonPath`], once, when a definition loads.

use super::{CmpOp, Filter, JsonPath, Root, Segment};
use serde_json::Value;

impl JsonPath {
    pub(crate) fn parse(text: &str) -> Result<JsonPath, String> {
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'$') {
            return Err(format!("The path '{text}' must start with '$'"));
        }
        let (root, mut pos) = if text.starts_with("$$") {
            (Root::Context, 2)
        } else if bytes.len() > 1 && is_name_start(bytes[1]) {
            let mut end = 1;
            while end < bytes.len() && is_name_char(bytes[end]) {
                end += 1;
            }
            (Root::Variable(text[1..end].to_string()), end)
        } else {
            (Root::Input, 1)
        };
        let mut segments = Vec::new();
        while pos < bytes.len() {
            let (seg, next) = parse_segment(text, pos)?;
            segments.push(seg);
            pos = next;
        }
        Ok(JsonPath {
            text: text.to_string(),
            root,
            segments,
        })
    }
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    // Dot-notation names in AWS paths commonly carry dashes (`$.delivery-partner`).
    !matches!(
        b,
        b'.' | b'[' | b']' | b' ' | b'(' | b')' | b',' | b'\'' | b'"'
    )
}

fn parse_segment(text: &str, pos: usize) -> Result<(Segment, usize), String> {
    let bytes = text.as_bytes();
    let bad = || format!("The path '{text}' is not a valid JSONPath");
    match bytes[pos] {
        b'.' => {
            if bytes.get(pos + 1) == Some(&b'.') {
                let start = pos + 2;
                if bytes.get(start) == Some(&b'*') {
                    return Ok((Segment::Descendants(None), start + 1));
                }
                let mut end = start;
                while end < bytes.len() && is_name_char(bytes[end]) {
                    end += 1;
                }
                if end == start {
                    return Err(bad());
                }
                return Ok((
                    Segment::Descendants(Some(text[start..end].to_string())),
                    end,
                ));
            }
            let start = pos + 1;
            if bytes.get(start) == Some(&b'*') {
                return Ok((Segment::Wildcard, start + 1));
            }
            let mut end = start;
            while end < bytes.len() && is_name_char(bytes[end]) {
                end += 1;
            }
            if end == start {
                return Err(bad());
            }
            Ok((Segment::Name(text[start..end].to_string()), end))
        }
        b'[' => {
            let close = find_close(text, pos).ok_or_else(bad)?;
            let inner = text[pos + 1..close].trim();
            let seg = parse_bracket(inner).ok_or_else(bad)?;
            Ok((seg, close + 1))
        }
        _ => Err(bad()),
    }
}

/// Finds the `]` closing the bracket at `open`, skipping quoted strings and nested brackets.
fn find_close(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    let mut i = open;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 1;
            } else if b == q {
                quote = None;
            }
        } else if b == b'\'' || b == b'"' {
            quote = Some(b);
        } else if b == b'[' {
            depth += 1;
        } else if b == b']' {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

fn parse_bracket(inner: &str) -> Option<Segment> {
    if inner == "*" {
        return Some(Segment::Wildcard);
    }
    if let Some(f) = inner.strip_prefix('?') {
        let f = f.trim();
        let f = f.strip_prefix('(')?.strip_suffix(')')?;
        return parse_filter(f.trim()).map(Segment::Filter);
    }
    if inner.starts_with('\'') || inner.starts_with('"') {
        let mut names = Vec::new();
        for part in split_top(inner, ',') {
            let part = part.trim();
            let q = part.chars().next()?;
            let s = part.strip_prefix(q)?.strip_suffix(q)?;
            names.push(s.replace("\\'", "'"));
        }
        return Some(if names.len() == 1 {
            Segment::Name(names.remove(0))
        } else {
            Segment::Names(names)
        });
    }
    if inner.contains(':') {
        let parts: Vec<&str> = inner.split(':').collect();
        if parts.len() > 3 {
            return None;
        }
        let num = |s: &str| -> Option<Option<i64>> {
            let s = s.trim();
            if s.is_empty() {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        return Some(Segment::Slice(
            num(parts[0])?,
            num(parts.get(1).copied().unwrap_or(""))?,
            num(parts.get(2).copied().unwrap_or(""))?,
        ));
    }
    if inner.contains(',') {
        let idx: Option<Vec<i64>> = inner.split(',').map(|s| s.trim().parse().ok()).collect();
        return idx.map(Segment::Indexes);
    }
    inner.parse().ok().map(Segment::Index)
}

fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == sep => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            None => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_filter(f: &str) -> Option<Filter> {
    if let Some((a, b)) = split_once_top(f, "||") {
        return Some(Filter::Or(
            Box::new(parse_filter(a.trim())?),
            Box::new(parse_filter(b.trim())?),
        ));
    }
    if let Some((a, b)) = split_once_top(f, "&&") {
        return Some(Filter::And(
            Box::new(parse_filter(a.trim())?),
            Box::new(parse_filter(b.trim())?),
        ));
    }
    for (tok, op) in [
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ] {
        if let Some((a, b)) = split_once_top(f, tok) {
            let lhs = relative_path(a.trim())?;
            let lit = literal(b.trim())?;
            return Some(Filter::Compare(lhs, op, lit));
        }
    }
    relative_path(f).map(Filter::Exists)
}

fn split_once_top<'a>(s: &'a str, tok: &str) -> Option<(&'a str, &'a str)> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if s[i..].starts_with(tok) => return Some((&s[..i], &s[i + tok.len()..])),
            None => {}
        }
    }
    None
}

fn relative_path(s: &str) -> Option<Vec<Segment>> {
    let rest = s.strip_prefix('@')?;
    let p = JsonPath::parse(&format!("${rest}")).ok()?;
    if p.root != Root::Input || !p.is_reference() {
        return None;
    }
    Some(p.segments)
}

fn literal(s: &str) -> Option<Value> {
    if let Some(inner) = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Some(Value::String(inner.to_string()));
    }
    serde_json::from_str(s).ok()
}
