//! The Permify schema language: text in, [`crate::model::Schema`] out.
//!
//! The pipeline, one module per step:
//! - [`lexer`]: text → tokens, with Permify's token rules (identifiers are
//!   `[A-Za-z_]+`; `\n`, `\r` and `;` are line breaks; …);
//! - [`parser`]: tokens → [`ast`], accepting exactly Permify's grammar,
//!   including its line-break rules and the way it rebuilds rule bodies;
//! - [`compiler`]: [`ast`] → [`crate::model::Schema`], with every check of
//!   Permify's compiler and its messages, enriched with the names involved;
//!   rules are compiled by `rule` (CEL via cel-rust, plus the checks of
//!   [`cel_check`]); `types` reads attribute and parameter types for both;
//! - [`data_check`]: does a tuple or attribute fit a compiled schema?
//!
//! The behaviour follows `docs/permify-language.md`, which was read
//! from Permify's source. Where this implementation knowingly differs:
//! - **Positions** are exact — 1-based line and character column of the
//!   offending token, lines counted by `\n` — rather than Permify's lexer
//!   cursor (usually just past the token). CEL errors are mapped back from
//!   the rule body into the schema.
//! - **Messages** start with Permify's text and then name what is involved;
//!   syntax errors end with `(in permission "doc#view")` or the like.
//!   Duplicate names, a parser error in Permify, are
//!   [`crate::ErrorKind::Compile`] here; other parser errors are
//!   [`crate::ErrorKind::Syntax`].
//! - **Limits**, so that no schema can exhaust the stack when it is parsed,
//!   compiled, evaluated or dropped (Permify has none): in permissions,
//!   parentheses nest at most [`parser::MAX_NESTING`] deep and operator
//!   nodes at most [`compiler::MAX_EXPR_DEPTH`]; in rule bodies, brackets
//!   (even inside string literals) nest at most 8 deep, at most 500
//!   operator characters appear, and the CEL tree is at most 32 levels deep
//!   (`&&`/`||` chains are balanced, so long conjunctions are fine).
//! - **Determinism**: where Permify iterates Go maps (subject-type checks,
//!   rule parameters), source order is used, so of several errors the first
//!   in the text is reported.
//! - **Walk validation** through recursive subject sets (`relation member
//!   @group#member` walked as `member.x`) terminates; Permify loops forever.
//! - **Rule parameters** named twice or named `context` are rejected with
//!   cel-go's `overlapping identifier` wording (cel-go fails there too).
//! - **CEL** is cel-rust, not cel-go. cel-rust has no type checker, so only
//!   undeclared variables and certainly non-boolean results are rejected at
//!   compile time ([`cel_check`]); overload errors (`int > string`) and
//!   unknown functions surface when the rule runs. Syntax error texts are
//!   cel-rust's.
//! - **Non-ASCII text**: a non-ASCII character is one `ILLEGAL` token and is
//!   copied intact into rule bodies; Permify copies each byte as a Latin-1
//!   character (`é` would become `Ã©`).
//! - **Additions**: a [`crate::model::Warning`] for operators mixed without
//!   parentheses, and one for double-quoted strings that lost their quotes
//!   in a rule body that still compiles.

pub mod ast;
pub mod cel_check;
pub mod compiler;
pub mod data_check;
pub mod lexer;
pub mod parser;
mod rule;
mod types;

pub use compiler::compile;

#[cfg(test)]
mod tests;
