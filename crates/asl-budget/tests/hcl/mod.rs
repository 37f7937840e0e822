//! Just enough HCL to read the numbers the deployment takes from the workflow.
//!
//! `terraform show -json` needs a plan, and a plan needs providers and (for data sources)
//! credentials, so the test reads the `.tf` files itself. It does not pattern-match a literal
//! `timeout = 2`: the shipped Terraform derives the Lambda timeouts from the workflow through
//! `jsondecode(file(...))`, a `for` expression and `merge`, so a regex would either see nothing or
//! see the wrong thing. Instead this module
//!
//! 1. splits every file into blocks and top-level attributes (tracking strings, comments and
//!    brackets, so a `{` inside `"${...}"` is not a block);
//! 2. parses an attribute's expression only when it is needed, into a small AST; and
//! 3. evaluates the subset the shipped files use: literals, string templates, `local.`, `var.`
//!    (defaults), `path.module`, `each.key`/`each.value`, traversals with `.attr` and `[index]`,
//!    object literals, `{ for k, v in X : k => ... }`, and `merge`, `jsondecode`, `file`,
//!    `lookup`.
//!
//! Anything else is an error that names the expression, so a Terraform change the reader does
//! not understand fails the test loudly instead of letting it pass on a guess.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub(crate) type Error = String;

/// A block such as `resource "aws_lambda_function" "fn" { ... }`.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub kind: String,
    pub labels: Vec<String>,
    pub body: Body,
    pub file: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Body {
    /// Attribute name -> its expression's source text.
    pub attributes: BTreeMap<String, String>,
    pub blocks: Vec<Block>,
}

pub(crate) struct Module {
    pub dir: PathBuf,
    pub blocks: Vec<Block>,
}

impl Module {
    /// Reads every `*.tf` file directly in `dir` (not `tests/`, which holds `.tftest.hcl`).
    pub(crate) fn load(dir: &Path) -> Result<Module, Error> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tf"))
            .collect();
        files.sort();
        let mut blocks = Vec::new();
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let body = parse_body(&text, &file)?;
            blocks.extend(body.blocks);
        }
        Ok(Module {
            dir: dir.to_path_buf(),
            blocks,
        })
    }

    pub(crate) fn blocks<'a>(
        &'a self,
        kind: &'a str,
        first_label: &'a str,
    ) -> impl Iterator<Item = &'a Block> + 'a {
        self.blocks.iter().filter(move |b| {
            b.kind == kind && b.labels.first().map(String::as_str) == Some(first_label)
        })
    }

    pub(crate) fn resource(&self, ty: &str, name: &str) -> Option<&Block> {
        let mut found = self
            .blocks
            .iter()
            .filter(|b| b.kind == "resource" && b.labels.first().map(String::as_str) == Some(ty));
        found.find(|b| b.labels.get(1).map(String::as_str) == Some(name))
    }

    pub(crate) fn local(&self, name: &str) -> Result<Expr, Error> {
        for b in self.blocks.iter().filter(|b| b.kind == "locals") {
            if let Some(src) = b.body.attributes.get(name) {
                return parse_expr(src);
            }
        }
        Err(format!("no local.{name} in {}", self.dir.display()))
    }

    fn var_default(&self, name: &str) -> Result<Expr, Error> {
        let block = self
            .blocks("variable", name)
            .next()
            .ok_or_else(|| format!("no variable {name:?}"))?;
        let src = block
            .body
            .attributes
            .get("default")
            .ok_or_else(|| format!("variable {name:?} has no default"))?;
        parse_expr(src)
    }

    /// Evaluates `expr` with `scope` binding `each` and `for` variables.
    pub(crate) fn eval(
        &self,
        expr: &Expr,
        scope: &BTreeMap<String, Value>,
    ) -> Result<Value, Error> {
        match expr {
            Expr::Number(n) => Ok(Value::from(*n)),
            Expr::Bool(b) => Ok(Value::Bool(*b)),
            Expr::Template(parts) => {
                let mut s = String::new();
                for part in parts {
                    match part {
                        Part::Lit(l) => s.push_str(l),
                        Part::Interp(e) => match self.eval(e, scope)? {
                            Value::String(v) => s.push_str(&v),
                            Value::Number(n) => s.push_str(&n.to_string()),
                            other => return Err(format!("cannot interpolate {other}")),
                        },
                    }
                }
                Ok(Value::String(s))
            }
            Expr::Traversal(root, accessors) => {
                let (mut value, rest) = self.root(root, accessors, scope)?;
                for acc in rest {
                    value = match acc {
                        Accessor::Attr(a) => value
                            .get(a)
                            .cloned()
                            .ok_or_else(|| format!("no attribute {a:?} in {}", short(&value)))?,
                        Accessor::Index(e) => {
                            let key = self.eval(e, scope)?;
                            match (&value, &key) {
                                (Value::Object(m), Value::String(k)) => m
                                    .get(k)
                                    .cloned()
                                    .ok_or_else(|| format!("no key {k:?} in {}", short(&value)))?,
                                (Value::Array(a), Value::Number(i)) => a
                                    .get(i.as_u64().unwrap_or(u64::MAX) as usize)
                                    .cloned()
                                    .ok_or_else(|| format!("no index {i}"))?,
                                _ => {
                                    return Err(format!("cannot index {} by {key}", short(&value)))
                                }
                            }
                        }
                    };
                }
                Ok(value)
            }
            Expr::Object(items) => {
                let mut m = Map::new();
                for (k, v) in items {
                    let key = match k {
                        // A bare identifier key is a name, not a variable reference.
                        Expr::Traversal(root, acc) if acc.is_empty() => root.clone(),
                        other => match self.eval(other, scope)? {
                            Value::String(s) => s,
                            other => return Err(format!("object key {other} is not a string")),
                        },
                    };
                    m.insert(key, self.eval(v, scope)?);
                }
                Ok(Value::Object(m))
            }
            Expr::ForObject {
                key_var,
                value_var,
                collection,
                key,
                value,
            } => {
                let coll = self.eval(collection, scope)?;
                let Value::Object(items) = coll else {
                    return Err(format!("for expression over a non-object {}", short(&coll)));
                };
                let mut out = Map::new();
                for (k, v) in items {
                    let mut inner = scope.clone();
                    inner.insert(key_var.clone(), Value::String(k.clone()));
                    inner.insert(value_var.clone(), v.clone());
                    let key = match self.eval(key, &inner)? {
                        Value::String(s) => s,
                        other => return Err(format!("for key {other} is not a string")),
                    };
                    out.insert(key, self.eval(value, &inner)?);
                }
                Ok(Value::Object(out))
            }
            Expr::Call(name, args) => {
                let args: Vec<Value> = args
                    .iter()
                    .map(|a| self.eval(a, scope))
                    .collect::<Result<_, _>>()?;
                match (name.as_str(), &args[..]) {
                    ("merge", _) => {
                        let mut m = Map::new();
                        for a in &args {
                            let Value::Object(o) = a else {
                                return Err(format!("merge of a non-object {}", short(a)));
                            };
                            m.extend(o.clone());
                        }
                        Ok(Value::Object(m))
                    }
                    ("file", [Value::String(p)]) => std::fs::read_to_string(p)
                        .map(Value::String)
                        .map_err(|e| format!("file({p}): {e}")),
                    ("jsondecode", [Value::String(s)]) => {
                        serde_json::from_str(s).map_err(|e| format!("jsondecode: {e}"))
                    }
                    ("lookup", [Value::Object(m), Value::String(k), default]) => {
                        Ok(m.get(k).cloned().unwrap_or_else(|| default.clone()))
                    }
                    _ => Err(format!("unsupported function call {name}(...)")),
                }
            }
        }
    }

    /// Resolves the first part of a traversal; returns the accessors still to apply.
    fn root<'e>(
        &self,
        root: &str,
        accessors: &'e [Accessor],
        scope: &BTreeMap<String, Value>,
    ) -> Result<(Value, &'e [Accessor]), Error> {
        if let Some(v) = scope.get(root) {
            return Ok((v.clone(), accessors));
        }
        let first = match accessors.first() {
            Some(Accessor::Attr(a)) => a.as_str(),
            _ => return Err(format!("unsupported reference {root}")),
        };
        let rest = &accessors[1..];
        match root {
            "local" => Ok((self.eval(&self.local(first)?, scope)?, rest)),
            "var" => Ok((self.eval(&self.var_default(first)?, scope)?, rest)),
            "path" if first == "module" => {
                Ok((Value::String(self.dir.display().to_string()), rest))
            }
            "each" => scope
                .get(&format!("each.{first}"))
                .cloned()
                .map(|v| (v, rest))
                .ok_or_else(|| format!("each.{first} outside a for_each")),
            _ => Err(format!("unsupported reference {root}.{first}")),
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!("{}...", &s[..80])
    } else {
        s
    }
}

// ---- splitting files into blocks and attributes ---------------------------------------------

/// Skips a string literal starting at `i` (on the opening quote), honouring `${...}` nesting.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'$' | b'%' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth > 0 => depth -= 1,
            b'"' if depth > 0 => i = skip_string(b, i) - 1,
            b'"' => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Skips a comment at `i` if there is one.
fn skip_comment(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'#' || (b[i] == b'/' && b.get(i + 1) == Some(&b'/')) {
        Some(
            b[i..]
                .iter()
                .position(|c| *c == b'\n')
                .map_or(b.len(), |p| i + p),
        )
    } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
        Some(
            b[i + 2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(b.len(), |p| i + 2 + p + 2),
        )
    } else {
        None
    }
}

/// The end of an expression starting at `i`: the first newline outside brackets.
fn expression_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0i32;
    while i < b.len() {
        if let Some(j) = skip_comment(b, i) {
            i = j;
            continue;
        }
        match b[i] {
            b'"' => {
                i = skip_string(b, i);
                continue;
            }
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            }
            b'\n' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

fn parse_body(text: &str, file: &Path) -> Result<Body, Error> {
    let b = text.as_bytes();
    let mut i = 0;
    parse_body_at(text, b, &mut i, file, false)
}

fn parse_body_at(
    text: &str,
    b: &[u8],
    i: &mut usize,
    file: &Path,
    nested: bool,
) -> Result<Body, Error> {
    let mut body = Body::default();
    loop {
        while *i < b.len() && (b[*i].is_ascii_whitespace() || b[*i] == b',') {
            *i += 1;
        }
        if *i >= b.len() {
            return if nested {
                Err(format!("{}: unclosed block", file.display()))
            } else {
                Ok(body)
            };
        }
        if let Some(j) = skip_comment(b, *i) {
            *i = j;
            continue;
        }
        if b[*i] == b'}' {
            *i += 1;
            return Ok(body);
        }
        let start = *i;
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b"_-".contains(&b[*i])) {
            *i += 1;
        }
        let name = &text[start..*i];
        if name.is_empty() {
            return Err(format!(
                "{}: unexpected {:?} at byte {start}",
                file.display(),
                b[*i] as char
            ));
        }
        while *i < b.len() && b[*i] == b' ' {
            *i += 1;
        }
        if b.get(*i) == Some(&b'=') && b.get(*i + 1) != Some(&b'=') {
            let end = expression_end(b, *i + 1);
            body.attributes
                .insert(name.to_string(), text[*i + 1..end].trim().to_string());
            *i = end;
            continue;
        }
        let mut labels = Vec::new();
        loop {
            while *i < b.len() && b[*i].is_ascii_whitespace() {
                *i += 1;
            }
            match b.get(*i) {
                Some(b'"') => {
                    let end = skip_string(b, *i);
                    labels.push(text[*i + 1..end - 1].to_string());
                    *i = end;
                }
                Some(b'{') => {
                    *i += 1;
                    break;
                }
                _ => return Err(format!("{}: cannot read block {name:?}", file.display())),
            }
        }
        let inner = parse_body_at(text, b, i, file, true)?;
        body.blocks.push(Block {
            kind: name.to_string(),
            labels,
            body: inner,
            file: file.to_path_buf(),
        });
    }
}

// ---- expressions ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Lit(String),
    Interp(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Accessor {
    Attr(String),
    Index(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Number(f64),
    Bool(bool),
    Template(Vec<Part>),
    Traversal(String, Vec<Accessor>),
    Call(String, Vec<Expr>),
    Object(Vec<(Expr, Expr)>),
    ForObject {
        key_var: String,
        value_var: String,
        collection: Box<Expr>,
        key: Box<Expr>,
        value: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Number(f64),
    Str(Vec<Part>),
    Punct(&'static str),
    Newline,
}

fn tokenize(src: &str) -> Result<Vec<Tok>, Error> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if let Some(j) = skip_comment(b, i) {
            i = j;
            continue;
        }
        let c = b[i];
        if c == b'\n' {
            out.push(Tok::Newline);
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Number(
                src[start..i]
                    .parse()
                    .map_err(|_| format!("bad number in {src}"))?,
            ));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b"_-".contains(&b[i])) {
                i += 1;
            }
            out.push(Tok::Ident(src[start..i].to_string()));
        } else if c == b'"' {
            let end = skip_string(b, i);
            out.push(Tok::Str(parse_template(&src[i + 1..end - 1])?));
            i = end;
        } else if src[i..].starts_with("=>") {
            out.push(Tok::Punct("=>"));
            i += 2;
        } else {
            let p = ["{", "}", "[", "]", "(", ")", "=", ",", ".", ":"]
                .into_iter()
                .find(|p| p.as_bytes()[0] == c)
                .ok_or_else(|| format!("unsupported syntax {:?} in `{src}`", c as char))?;
            out.push(Tok::Punct(p));
            i += 1;
        }
    }
    Ok(out)
}

fn parse_template(s: &str) -> Result<Vec<Part>, Error> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            // `$${` is an escaped literal `${`.
            lit.push_str(&rest[..pos - 1]);
            lit.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        lit.push_str(&rest[..pos]);
        let close = rest[pos..].find('}').ok_or("unclosed ${ in a string")? + pos;
        if !lit.is_empty() {
            parts.push(Part::Lit(std::mem::take(&mut lit)));
        }
        parts.push(Part::Interp(parse_expr(&rest[pos + 2..close])?));
        rest = &rest[close + 1..];
    }
    lit.push_str(rest);
    let lit = lit.replace("\\\"", "\"").replace("\\\\", "\\");
    if !lit.is_empty() || parts.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

pub(crate) fn parse_expr(src: &str) -> Result<Expr, Error> {
    let toks = tokenize(src)?;
    let mut p = Parser { toks, pos: 0, src };
    p.skip_newlines();
    let e = p.expr()?;
    p.skip_newlines();
    if p.pos != p.toks.len() {
        return Err(format!(
            "unsupported expression `{src}` (stopped at {:?})",
            p.toks[p.pos]
        ));
    }
    Ok(e)
}

struct Parser<'s> {
    toks: Vec<Tok>,
    pos: usize,
    src: &'s str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.pos += 1;
        }
    }
    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, p: &str) -> Result<(), Error> {
        self.skip_newlines();
        if self.eat(p) {
            Ok(())
        } else {
            Err(format!("expected `{p}` in `{}`", self.src))
        }
    }
    fn ident(&mut self) -> Result<String, Error> {
        self.skip_newlines();
        match self.peek().cloned() {
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok(s)
            }
            other => Err(format!(
                "expected a name, found {other:?} in `{}`",
                self.src
            )),
        }
    }

    fn expr(&mut self) -> Result<Expr, Error> {
        self.skip_newlines();
        let tok = self
            .peek()
            .cloned()
            .ok_or_else(|| format!("empty expression in `{}`", self.src))?;
        self.pos += 1;
        let mut e = match tok {
            Tok::Number(n) => Expr::Number(n),
            Tok::Str(parts) => Expr::Template(parts),
            Tok::Ident(s) if s == "true" || s == "false" => Expr::Bool(s == "true"),
            Tok::Ident(s) if self.eat("(") => {
                let mut args = Vec::new();
                loop {
                    self.skip_newlines();
                    if self.eat(")") {
                        break;
                    }
                    args.push(self.expr()?);
                    self.skip_newlines();
                    if !self.eat(",") {
                        self.expect(")")?;
                        break;
                    }
                }
                Expr::Call(s, args)
            }
            Tok::Ident(s) => Expr::Traversal(s, Vec::new()),
            Tok::Punct("{") => self.object()?,
            other => {
                return Err(format!(
                    "unsupported expression start {other:?} in `{}`",
                    self.src
                ))
            }
        };
        // Postfix accessors.
        loop {
            if self.eat(".") {
                let name = self.ident()?;
                e = push_accessor(e, Accessor::Attr(name))?;
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                e = push_accessor(e, Accessor::Index(index))?;
            } else {
                break;
            }
        }
        match self.peek() {
            None
            | Some(Tok::Newline)
            | Some(Tok::Punct("," | ")" | "]" | "}" | ":" | "=>" | "=")) => Ok(e),
            Some(other) => Err(format!(
                "unsupported expression `{}` (operator {other:?} is beyond this reader)",
                self.src.trim()
            )),
        }
    }

    fn object(&mut self) -> Result<Expr, Error> {
        self.skip_newlines();
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == "for") {
            self.pos += 1;
            let key_var = self.ident()?;
            self.expect(",")?;
            let value_var = self.ident()?;
            if self.ident()? != "in" {
                return Err(format!("expected `in` in `{}`", self.src));
            }
            let collection = self.expr()?;
            self.expect(":")?;
            let key = self.expr()?;
            self.expect("=>")?;
            let value = self.expr()?;
            self.expect("}")?;
            return Ok(Expr::ForObject {
                key_var,
                value_var,
                collection: Box::new(collection),
                key: Box::new(key),
                value: Box::new(value),
            });
        }
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat("}") {
                return Ok(Expr::Object(items));
            }
            let key = self.expr()?;
            self.skip_newlines();
            if !(self.eat("=") || self.eat(":")) {
                return Err(format!("expected `=` in an object in `{}`", self.src));
            }
            let value = self.expr()?;
            items.push((key, value));
            self.eat(",");
        }
    }
}

fn push_accessor(e: Expr, acc: Accessor) -> Result<Expr, Error> {
    match e {
        Expr::Traversal(root, mut accs) => {
            accs.push(acc);
            Ok(Expr::Traversal(root, accs))
        }
        other => Err(format!("unsupported accessor on {other:?}")),
    }
}
