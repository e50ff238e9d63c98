//! Compiles `rule name(params) { body }` into a [`RuleDef`].
//!
//! The body is the CEL text as Permify reassembles it from tokens (see
//! [`super::parser`]). It is compiled with cel-rust; since cel-rust has no
//! type checker, [`super::cel_check`] adds the two checks of cel-go that
//! Permify's compiler depends on (undeclared names, non-boolean result).
//!
//! How the engine evaluates a rule (mirroring Permify): a CEL context with
//! one variable per parameter, named like the parameter, holding the
//! entity's attribute of that name (or the type's zero value when it has
//! none), and a variable `context` holding a map whose key `data` is the
//! request's context data. The result must be a boolean.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Pos, Result};
use crate::model::{RuleDef, Warning};

use super::ast::{RuleBody, RuleDecl};
use super::cel_check::{CelType, Scope, depth, loops_and_list_items, type_of, undeclared_reference};
use super::types::attribute_type;

/// How deeply brackets may nest in a rule body (string literals included).
/// cel-rust's generated parser needs a lot of stack per bracket level
/// (about 170 KiB in a debug build), so this keeps parsing safe in any
/// thread.
pub const MAX_RULE_NESTING: usize = 8;

/// How many operator characters (`. [ + - * / % < > = ! ?`) a rule body may
/// have: long chains of them make deep syntax trees, which cel-rust parses
/// recursively.
pub const MAX_RULE_OPERATORS: usize = 500;

/// How deep a rule's CEL syntax tree may be, so that evaluating it (which
/// recurses once per level) stays within any stack. `&&` and `||` chains
/// are balanced trees and stay shallow.
pub const MAX_RULE_DEPTH: usize = 32;

/// How deeply a rule's comprehensions (`all`, `exists`, `map`, …) may
/// nest, and how many elements its list literals may hold in all. A loop
/// whose body reads a rule variable polls for interrupts on every turn
/// (see `engine::rules`); these bound what loops over literals alone can
/// cost between polls (a few hundred thousand turns at most).
pub const MAX_RULE_LOOP_NESTING: usize = 3;
pub const MAX_RULE_LIST_ITEMS: usize = 256;

/// Compiles one rule; also returns warnings about reassembly quirks that
/// changed the body without breaking it.
pub(super) fn compile_rule(decl: &RuleDecl) -> Result<(RuleDef, Vec<Warning>)> {
    let rule = &decl.name.name;
    let mut params = Vec::new();
    let mut seen = HashSet::new();
    for p in &decl.params {
        let ty = attribute_type(&p.ty, || format!("parameter \"{}\" of rule \"{rule}\"", p.name.name))?;
        if p.name.name == "context" || !seen.insert(p.name.name.as_str()) {
            let why = if p.name.name == "context" {
                "\"context\" is the request context".to_string()
            } else {
                format!("rule \"{rule}\" declares parameter \"{}\" twice", p.name.name)
            };
            return Err(Error::at(
                ErrorKind::Compile,
                p.name.pos,
                format!("overlapping identifier for name '{}': {why}", p.name.name),
            )
            .with_hint("rename the parameter (and the attribute passed to it)"));
        }
        params.push((p.name.name.clone(), ty));
    }

    let body = &decl.body;
    if let Err((message, offset)) = check_body_size(&body.text) {
        return Err(Error::at(ErrorKind::Compile, body.source_pos(offset), format!("{message} (in rule \"{rule}\")"))
            .with_hint("simplify the condition or split it into several rules"));
    }
    let program = match parse_cel(&body.text) {
        Ok(program) => program,
        Err((message, offset)) => {
            let pos = offset.map(|o| body.source_pos(o)).unwrap_or(decl.name.pos);
            return Err(cel_error(decl, pos, message));
        }
    };

    if depth(program.expression()) > MAX_RULE_DEPTH {
        return Err(Error::at(
            ErrorKind::Compile,
            decl.name.pos,
            format!(
                "rule body too complex: its expression is nested more than {MAX_RULE_DEPTH} levels deep (in rule \
                 \"{rule}\")"
            ),
        )
        .with_hint("simplify the condition or split it into several rules"));
    }
    let (loops, list_items) = loops_and_list_items(program.expression());
    if loops > MAX_RULE_LOOP_NESTING || list_items > MAX_RULE_LIST_ITEMS {
        return Err(Error::at(
            ErrorKind::Compile,
            decl.name.pos,
            format!(
                "rule body too costly: {} (in rule \"{rule}\")",
                if loops > MAX_RULE_LOOP_NESTING {
                    format!("more than {MAX_RULE_LOOP_NESTING} nested all/exists/exists_one/map/filter")
                } else {
                    format!("list literals of more than {MAX_RULE_LIST_ITEMS} elements in all")
                }
            ),
        )
        .with_hint("keep large lists in attributes or the request context, and split the condition into several rules"));
    }
    let mut scope = Scope::for_rule(&params);
    if let Some((name, id)) = undeclared_reference(program.expression(), &mut scope) {
        let offset =
            program.source_info().offset_for(id).map(|(start, _)| char_offset_to_byte(&body.text, start as usize));
        let pos = offset.map(|o| body.source_pos(o)).unwrap_or(decl.name.pos);
        return Err(cel_error(decl, pos, format!("undeclared reference to '{name}' (in container '')")));
    }
    let ty = type_of(program.expression(), &mut scope);
    if ty != CelType::Bool && ty != CelType::Unknown {
        return Err(Error::at(
            ErrorKind::Compile,
            decl.name.pos,
            format!("rule expression must result in a boolean type not {ty} (in rule \"{rule}\")"),
        )
        .with_detail(body_detail(body))
        .with_hint(if ty == CelType::Dyn {
            "values from context.data have no static type: compare them, e.g. \"context.data.flag == true\""
        } else {
            "a rule body must be a condition, e.g. \"balance >= context.data.amount\""
        }));
    }

    let warnings = body
        .lost_quotes
        .iter()
        .map(|(content, pos)| Warning {
            pos: *pos,
            message: format!(
                "rule \"{rule}\" contains the double-quoted string \"{content}\", which loses its quotes when \
                 Permify reassembles the body (the CEL text reads {content})"
            ),
            hint: Some(format!("use single quotes: '{content}'")),
        })
        .collect();

    let rule_def =
        RuleDef { name: rule.clone(), pos: decl.name.pos, params, body: body.text.clone(), program: Arc::new(program) };
    Ok((rule_def, warnings))
}

/// Parses CEL text; on failure returns cel-rust's first message and the
/// byte offset in `text` it points at, if known.
fn parse_cel(text: &str) -> std::result::Result<cel::Program, (String, Option<usize>)> {
    // cel-rust's generated parser is third-party code running on user
    // input; a panic inside it must become an error, not abort a query.
    let parsed = std::panic::catch_unwind(|| cel::Program::compile(text));
    match parsed {
        Ok(Ok(program)) => Ok(program),
        Ok(Err(errors)) => match errors.errors.first() {
            Some(first) => {
                let offset = line_col_to_byte(text, first.pos.0, first.pos.1);
                Err((first.msg.clone(), offset))
            }
            None => Err(("the rule body is not a valid CEL expression".to_string(), None)),
        },
        Err(_) => Err(("the CEL parser failed on the rule body".to_string(), None)),
    }
}

/// A CEL problem in a rule body: cel's message first, then the rule.
fn cel_error(decl: &RuleDecl, pos: Pos, message: String) -> Error {
    let body = &decl.body;
    let mut error = Error::at(ErrorKind::Compile, pos, format!("{message} (in rule \"{}\")", decl.name.name))
        .with_detail(body_detail(body));
    if let Some(hint) = quirk_hint(body) {
        error = error.with_hint(hint);
    }
    error
}

fn body_detail(body: &RuleBody) -> String {
    format!("CEL text of the rule body, as Permify reassembles it from tokens: {:?}", crate::error::shown(&body.text))
}

/// Explains the reassembly quirk most likely behind a broken body.
fn quirk_hint(body: &RuleBody) -> Option<String> {
    if let Some((content, _)) = body.lost_quotes.first() {
        return Some(format!(
            "double-quoted strings lose their quotes in rule bodies (\"{content}\" becomes {content}); use single \
             quotes: '{content}'"
        ));
    }
    if let Some((token, _)) = &body.dropped_last {
        return Some(format!(
            "the token {token:?} directly before \"}}\" was dropped (Permify drops the last token of a rule body \
             when \"}}\" follows it directly); put \"}}\" on its own line"
        ));
    }
    if !body.pasted_comments.is_empty() {
        return Some(
            "comments inside a rule body are pasted into the CEL text without \"//\"; remove them".to_string(),
        );
    }
    if body.text.trim().is_empty() {
        return Some(
            "the body is empty; write the condition on its own line between \"{\" and \"}\" (a body on the line of \
             \"{\" loses its last token)"
                .to_string(),
        );
    }
    None
}

/// Byte offset of a 1-based (line, character column) position, as cel-rust
/// reports them.
fn line_col_to_byte(text: &str, line: isize, col: isize) -> Option<usize> {
    if line < 1 || col < 1 {
        return None;
    }
    let mut start = 0usize;
    for _ in 1..line {
        start += text.get(start..)?.find('\n')? + 1;
    }
    let rest = text.get(start..)?;
    let within = rest.char_indices().nth((col - 1) as usize).map(|(i, _)| i).unwrap_or(rest.len());
    Some(start + within)
}

fn char_offset_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices().nth(chars).map(|(i, _)| i).unwrap_or(text.len())
}

/// Checks the body against [`MAX_RULE_NESTING`] and [`MAX_RULE_OPERATORS`]
/// before it reaches the CEL parser; on failure returns the message and the
/// byte offset of the offending character.
///
/// Brackets and operators count wherever they are, string literals
/// included: telling strings apart exactly as CEL's lexer does (triple
/// quotes, raw strings, strings that end at a line break) is not worth the
/// risk of missing a bracket that the parser does see.
fn check_body_size(text: &str) -> std::result::Result<(), (String, usize)> {
    let mut nesting = 0usize;
    let mut operators = 0usize;
    // The one operator that is a word: `a in b in c …` nests left-deep as
    // `+` does, one level of the parser's recursion per `in`.
    let mut word_start: Option<usize> = None;
    for (offset, ch) in text.char_indices() {
        let in_word = ch.is_alphanumeric() || ch == '_';
        match (word_start, in_word) {
            (None, true) => word_start = Some(offset),
            (Some(start), false) => {
                word_start = None;
                if &text[start..offset] == "in" {
                    operators += 1;
                    if operators > MAX_RULE_OPERATORS {
                        return Err((format!("rule body too complex: more than {MAX_RULE_OPERATORS} operators"), start));
                    }
                }
            }
            _ => {}
        }
        match ch {
            '(' | '[' | '{' => {
                nesting += 1;
                if nesting > MAX_RULE_NESTING {
                    return Err((
                        format!("rule body nested too deeply: more than {MAX_RULE_NESTING} levels of brackets"),
                        offset,
                    ));
                }
            }
            ')' | ']' | '}' => nesting = nesting.saturating_sub(1),
            _ => {}
        }
        if matches!(ch, '.' | '[' | '+' | '-' | '*' | '/' | '%' | '<' | '>' | '=' | '!' | '?') {
            operators += 1;
            if operators > MAX_RULE_OPERATORS {
                return Err((format!("rule body too complex: more than {MAX_RULE_OPERATORS} operators"), offset));
            }
        }
    }
    Ok(())
}
