//! Recursive-descent parser of the Permify schema language.
//!
//! The parser accepts exactly what Permify's parser accepts, because a schema
//! that works in Permify must work here and vice versa. It therefore works
//! like Permify's on a stream of *significant* tokens (trivia skipped) with a
//! *current* and a *peek* token, and keeps its quirks:
//!
//! - at top level only `entity` and `rule` start a declaration; every other
//!   token is skipped silently;
//! - inside an entity, `relation`, `attribute`, `permission`/`action`,
//!   line breaks and stray `{` may appear; members need no line break
//!   between them;
//! - a relation's subject types follow it on the same line;
//! - an expression is a chain of operands joined by `and`/`or`/`not`, all of
//!   one precedence, left-associative; it ends at the first line break,
//!   except that exactly one line break directly after `=`, `(`, `and`, `or`
//!   or `not` is skipped;
//! - a rule body is rebuilt as text from its tokens (see `Parser::rule_body`).
//!
//! Errors carry Permify's message (`expected next token to be IDENT, got
//! NEWLINE instead`, `no prefix parse function for NOT found`, `duplication
//! found for doc#owner`) followed by the declaration they occur in, with the
//! position of the offending token, and a hint where one helps. Duplicate
//! names are [`ErrorKind::Compile`] errors (they are a modelling mistake, not
//! a syntax one), everything else here is [`ErrorKind::Syntax`].
//!
//! One addition: parentheses may nest at most [`MAX_NESTING`] deep, so that
//! no input can exhaust the stack.

use std::collections::HashMap;

use crate::error::{shown, Error, ErrorKind, Pos, Result};

use super::ast::*;
use super::lexer::{Token, TokenKind, tokenize};

/// How deeply parentheses may nest in a permission expression.
pub const MAX_NESTING: usize = 64;

/// Parses schema text into a syntax tree. Checks only what Permify's parser
/// checks (syntax and duplicate names); [`super::compiler`] does the rest.
pub fn parse(source: &str) -> Result<SchemaAst> {
    let tokens = tokenize(source);
    let significant = tokens.iter().enumerate().filter(|(_, t)| !t.kind.is_trivia()).map(|(i, _)| i).collect();
    let mut parser = Parser {
        tokens,
        significant,
        cur: 0,
        globals: HashMap::new(),
        members: HashMap::new(),
        context: String::new(),
    };
    parser.schema()
}

/// What a global name (entity or rule) or entity member was declared as.
#[derive(Debug, Clone, Copy)]
struct Declared {
    what: &'static str,
    pos: Pos,
}

struct Parser<'a> {
    /// Every token, trivia included; the last one is `Eof`.
    tokens: Vec<Token<'a>>,
    /// Indexes into `tokens` of the significant tokens; the last one is `Eof`.
    significant: Vec<usize>,
    /// The current token, as an index into `significant`.
    cur: usize,
    /// Entities and rules share one namespace.
    globals: HashMap<String, Declared>,
    /// Members of the entity being parsed (relations, attributes and
    /// permissions share one namespace per entity).
    members: HashMap<String, Declared>,
    /// The declaration being parsed, for messages: `permission "doc#view"`.
    context: String,
}

impl<'a> Parser<'a> {
    // ---- token stream -------------------------------------------------

    fn sig(&self, index: usize) -> &Token<'a> {
        let last = self.significant.len() - 1;
        &self.tokens[self.significant[index.min(last)]]
    }

    fn current(&self) -> &Token<'a> {
        self.sig(self.cur)
    }

    fn peek(&self) -> &Token<'a> {
        self.sig(self.cur + 1)
    }

    /// The significant token before the current one (Permify's
    /// "previous token"), if any.
    fn previous_kind(&self) -> Option<TokenKind> {
        self.cur.checked_sub(1).map(|i| self.sig(i).kind)
    }

    fn advance(&mut self) {
        if self.cur + 1 < self.significant.len() {
            self.cur += 1;
        }
    }

    fn ident(&self) -> Ident {
        let t = self.current();
        Ident { name: t.text.to_string(), pos: t.pos }
    }

    /// Permify's `expectAndNext`: the peek token must be `kind`; it becomes
    /// the current one.
    fn expect_next(&mut self, kind: TokenKind) -> Result<()> {
        if self.peek().kind == kind {
            self.advance();
            Ok(())
        } else {
            Err(self.peek_error(&[kind]))
        }
    }

    // ---- errors -------------------------------------------------------

    fn with_context(&self, message: String) -> String {
        if self.context.is_empty() { message } else { format!("{message} (in {})", self.context) }
    }

    /// `expected next token to be X, got Y instead`, at the peek token.
    fn peek_error(&self, expected: &[TokenKind]) -> Error {
        let got = self.peek();
        let message = format!("expected next token to be {}, got {} instead", names(expected), got.kind.name());
        let mut error = Error::at(ErrorKind::Syntax, got.pos, self.with_context(message));
        if let Some(hint) = self.hint(expected, self.cur + 1) {
            error = error.with_hint(hint);
        }
        error
    }

    /// `expected token to be X, Y, got Z instead`, at the current token.
    fn current_error(&self, expected: &[TokenKind]) -> Error {
        let got = self.current();
        let message = format!("expected token to be {}, got {} instead", names(expected), got.kind.name());
        let mut error = Error::at(ErrorKind::Syntax, got.pos, self.with_context(message));
        if let Some(hint) = self.hint(expected, self.cur) {
            error = error.with_hint(hint);
        }
        error
    }

    /// `no prefix parse function for X found`: an operand was expected.
    fn no_prefix_error(&self) -> Error {
        let got = self.current();
        let message = format!("no prefix parse function for {} found", got.kind.name());
        let hint = match got.kind {
            TokenKind::Not => Some(
                "\"not\" is binary exclusion (\"a not b\"); there is no unary \"not\": write the permission as \
                 \"<who may> not <who is excluded>\""
                    .to_string(),
            ),
            TokenKind::Newline if self.previous_kind() == Some(TokenKind::Newline) => Some(
                "only a single line break may follow \"=\", \"(\", \"and\", \"or\" or \"not\": remove the blank \
                 line (a Windows CRLF line ending counts as two line breaks)"
                    .to_string(),
            ),
            TokenKind::Newline | TokenKind::Rcb | TokenKind::Eof => {
                Some("the expression is empty or ends with an operator".to_string())
            }
            TokenKind::And | TokenKind::Or => Some("two operators in a row: an operand is missing".to_string()),
            _ => self.hint(&[TokenKind::Ident], self.cur),
        };
        let error = Error::at(ErrorKind::Syntax, got.pos, self.with_context(message));
        match hint {
            Some(h) => error.with_hint(h),
            None => error,
        }
    }

    /// A suggestion for an unexpected token at significant index `at`.
    fn hint(&self, expected: &[TokenKind], at: usize) -> Option<String> {
        let got = self.sig(at);
        let before = at.checked_sub(1).map(|i| self.sig(i));
        match got.kind {
            TokenKind::Integer | TokenKind::Double
                if before.is_some_and(|b| b.kind == TokenKind::Ident && b.end == got.start) =>
            {
                let word = shown(before.map_or("", |b| &*b.text)).into_owned();
                let number = shown(&got.text);
                Some(format!(
                    "names may contain only letters and underscores: \"{word}{number}\" reads as \"{word}\" followed \
                     by the number {number}"
                ))
            }
            TokenKind::Comma if expected.contains(&TokenKind::Relation) => Some(
                "separate the subject types of a relation with spaces: \"relation r @user @team#member\"".to_string(),
            ),
            TokenKind::Illegal if got.text == "|" && expected.contains(&TokenKind::Relation) => Some(
                "separate subject types with spaces (\"@user @team\"), and write \"or\" in permissions".to_string(),
            ),
            TokenKind::Plus | TokenKind::Minus | TokenKind::Ampersand | TokenKind::Excl
                if expected.contains(&TokenKind::Relation) =>
            {
                Some("the operators of permission expressions are \"and\", \"or\" and \"not\"".to_string())
            }
            TokenKind::Illegal => Some(format!("the character {:?} is not part of the schema language", got.text)),
            TokenKind::And | TokenKind::Or | TokenKind::Not if expected.contains(&TokenKind::Relation) => Some(
                "an expression continues on the next line only after \"=\", \"(\", \"and\", \"or\" or \"not\": put \
                 the operator at the end of the previous line"
                    .to_string(),
            ),
            TokenKind::Sign if expected.contains(&TokenKind::Relation) => {
                Some("all subject types of a relation must be on the same line as \"relation\"".to_string())
            }
            TokenKind::Newline if expected == [TokenKind::Rp] => {
                Some("a line break is not allowed before \")\"".to_string())
            }
            TokenKind::Newline if expected == [TokenKind::Lcb] => {
                Some("put \"{\" on the same line as the declaration".to_string())
            }
            TokenKind::Newline if expected == [TokenKind::Sign] => Some(
                "a relation needs at least one subject type on the same line, e.g. \"relation owner @user\""
                    .to_string(),
            ),
            TokenKind::Entity
            | TokenKind::Relation
            | TokenKind::Permission
            | TokenKind::Attribute
            | TokenKind::Rule
            | TokenKind::And
            | TokenKind::Or
            | TokenKind::Not
            | TokenKind::In
            | TokenKind::Boolean
                if expected.contains(&TokenKind::Ident) =>
            {
                Some(format!("\"{}\" is a keyword and cannot be used as a name", got.text))
            }
            _ => None,
        }
    }

    /// `duplication found for <key>` for a name declared twice.
    fn duplicate(&self, key: &str, name: &Ident, what: &'static str, earlier: Declared) -> Error {
        let key = shown(key);
        let message = format!(
            "duplication found for {key}: {what} \"{key}\" is already declared as {} {} at {}",
            article(earlier.what),
            earlier.what,
            earlier.pos
        );
        let hint = if earlier.what == "rule" || earlier.what == "entity" {
            "entities and rules share one namespace: rename one of them"
        } else {
            "relations, attributes and permissions of one entity share one namespace: rename one of them"
        };
        Error::at(ErrorKind::Compile, name.pos, message).with_hint(hint)
    }

    fn declare_global(&mut self, name: &Ident, what: &'static str) -> Result<()> {
        if let Some(earlier) = self.globals.get(&name.name) {
            return Err(self.duplicate(&name.name, name, what, *earlier));
        }
        self.globals.insert(name.name.clone(), Declared { what, pos: name.pos });
        Ok(())
    }

    fn declare_member(&mut self, entity: &str, name: &Ident, what: &'static str) -> Result<()> {
        if let Some(earlier) = self.members.get(&name.name) {
            return Err(self.duplicate(&format!("{entity}#{}", name.name), name, what, *earlier));
        }
        self.members.insert(name.name.clone(), Declared { what, pos: name.pos });
        Ok(())
    }

    // ---- declarations -------------------------------------------------

    fn schema(&mut self) -> Result<SchemaAst> {
        let mut schema = SchemaAst::default();
        while self.current().kind != TokenKind::Eof {
            match self.current().kind {
                TokenKind::Entity => {
                    let entity = self.entity()?;
                    schema.statements.push(Statement::Entity(entity));
                }
                TokenKind::Rule => {
                    let rule = self.rule()?;
                    schema.statements.push(Statement::Rule(rule));
                }
                // Permify skips anything else at top level.
                _ => {}
            }
            self.context.clear();
            self.advance();
        }
        Ok(schema)
    }

    /// `entity name { members }`; the current token is `entity`.
    fn entity(&mut self) -> Result<EntityDecl> {
        self.context = "entity".to_string();
        self.expect_next(TokenKind::Ident)?;
        let name = self.ident();
        self.context = format!("entity \"{}\"", shown(&name.name));
        self.declare_global(&name, "entity")?;
        self.expect_next(TokenKind::Lcb)?;
        self.members.clear();
        let mut entity = EntityDecl { name, relations: vec![], attributes: vec![], permissions: vec![] };
        while self.current().kind != TokenKind::Rcb {
            crate::interrupt::poll();
            match self.current().kind {
                TokenKind::Eof => return Err(self.current_error(&[TokenKind::Rcb])),
                TokenKind::Relation => {
                    let relation = self.relation(&entity.name.name)?;
                    entity.relations.push(relation);
                }
                TokenKind::Attribute => {
                    let attribute = self.attribute(&entity.name.name)?;
                    entity.attributes.push(attribute);
                }
                TokenKind::Permission => {
                    let permission = self.permission(&entity.name.name)?;
                    entity.permissions.push(permission);
                }
                // Line breaks and (as in Permify) stray `{` are tolerated.
                TokenKind::Newline | TokenKind::Lcb => {}
                _ => {
                    return Err(self.current_error(&[
                        TokenKind::Relation,
                        TokenKind::Permission,
                        TokenKind::Attribute,
                    ]));
                }
            }
            self.context = format!("entity \"{}\"", shown(&entity.name.name));
            self.advance();
        }
        Ok(entity)
    }

    /// `relation name @type @type#rel …`; the current token is `relation`.
    fn relation(&mut self, entity: &str) -> Result<RelationDecl> {
        self.expect_next(TokenKind::Ident)?;
        let name = self.ident();
        self.context = format!("relation \"{}#{}\"", shown(entity), shown(&name.name));
        if self.peek().kind != TokenKind::Sign {
            return Err(self.peek_error(&[TokenKind::Sign]));
        }
        let mut subject_types = Vec::new();
        while self.peek().kind == TokenKind::Sign {
            self.advance();
            self.expect_next(TokenKind::Ident)?;
            let type_name = self.ident();
            let mut relation = None;
            if self.peek().kind == TokenKind::Hash {
                self.advance();
                self.expect_next(TokenKind::Ident)?;
                relation = Some(self.ident());
            }
            subject_types.push(SubjectTypeRef { entity: type_name, relation });
        }
        self.declare_member(entity, &name, "relation")?;
        Ok(RelationDecl { name, subject_types })
    }

    /// `attribute name type` or `… type[]`; the current token is `attribute`.
    fn attribute(&mut self, entity: &str) -> Result<AttributeDecl> {
        self.expect_next(TokenKind::Ident)?;
        let name = self.ident();
        self.context = format!("attribute \"{}#{}\"", shown(entity), shown(&name.name));
        let ty = self.type_ref()?;
        self.declare_member(entity, &name, "attribute")?;
        Ok(AttributeDecl { name, ty })
    }

    /// A type name after the current token, with an optional `[]`.
    fn type_ref(&mut self) -> Result<TypeRef> {
        self.expect_next(TokenKind::Ident)?;
        let name = self.ident();
        let mut array = false;
        if self.peek().kind == TokenKind::Lsb {
            self.advance();
            self.expect_next(TokenKind::Rsb)?;
            array = true;
        }
        Ok(TypeRef { name, array })
    }

    /// `permission name = expr`; the current token is `permission`/`action`.
    fn permission(&mut self, entity: &str) -> Result<PermissionDecl> {
        self.expect_next(TokenKind::Ident)?;
        let name = self.ident();
        self.context = format!("permission \"{}#{}\"", shown(entity), shown(&name.name));
        // Permify checks the name before the expression.
        self.declare_member(entity, &name, "permission")?;
        self.expect_next(TokenKind::Assign)?;
        self.advance();
        let expr = self.chain(0)?;
        Ok(PermissionDecl { name, expr })
    }

    // ---- expressions --------------------------------------------------

    /// An expression level starting at the current token; on return the
    /// current token is the level's last token.
    fn chain(&mut self, depth: usize) -> Result<Chain> {
        let first = self.operand(depth)?;
        let mut rest = Vec::new();
        while let Some(op) = operator(self.peek().kind) {
            self.advance();
            let op_pos = self.current().pos;
            self.advance();
            let operand = self.operand(depth)?;
            rest.push((op, op_pos, operand));
        }
        Ok(Chain { first, rest })
    }

    /// One operand starting at the current token (after skipping the one
    /// permitted line break).
    fn operand(&mut self, depth: usize) -> Result<Operand> {
        if self.current().kind == TokenKind::Newline
            && matches!(
                self.previous_kind(),
                Some(TokenKind::Lp | TokenKind::And | TokenKind::Or | TokenKind::Not | TokenKind::Assign)
            )
        {
            self.advance();
        }
        match self.current().kind {
            TokenKind::Lp => {
                let open = self.current().pos;
                if depth >= MAX_NESTING {
                    return Err(Error::at(
                        ErrorKind::Syntax,
                        open,
                        self.with_context(format!(
                            "expression nested too deeply: more than {MAX_NESTING} levels of parentheses"
                        )),
                    ));
                }
                self.advance();
                let inner = self.chain(depth + 1)?;
                if self.peek().kind != TokenKind::Rp {
                    return Err(self.peek_error(&[TokenKind::Rp]));
                }
                self.advance();
                Ok(Operand::Group(Box::new(inner), open))
            }
            TokenKind::Ident if self.peek().kind == TokenKind::Lp => self.call(),
            TokenKind::Ident => self.path(),
            _ => Err(self.no_prefix_error()),
        }
    }

    /// `a`, `a.b`, `a.b.c`…; the current token must be an identifier.
    fn path(&mut self) -> Result<Operand> {
        Ok(Operand::Path(self.path_segments()?))
    }

    fn path_segments(&mut self) -> Result<Vec<Ident>> {
        if self.current().kind != TokenKind::Ident {
            return Err(self.current_error(&[TokenKind::Ident]));
        }
        let mut segments = vec![self.ident()];
        while self.peek().kind == TokenKind::Dot {
            self.advance();
            self.expect_next(TokenKind::Ident)?;
            segments.push(self.ident());
        }
        Ok(segments)
    }

    /// `rule(arg, …)`; the current token is the rule name, the peek `(`.
    fn call(&mut self) -> Result<Operand> {
        let rule = self.ident();
        self.expect_next(TokenKind::Lp)?;
        let mut args = Vec::new();
        if self.peek().kind == TokenKind::Rp {
            self.advance();
            return Ok(Operand::Call { rule, args });
        }
        self.advance();
        args.push(self.path_segments()?);
        while self.peek().kind == TokenKind::Comma {
            self.advance();
            self.expect_next(TokenKind::Ident)?;
            args.push(self.path_segments()?);
        }
        self.expect_next(TokenKind::Rp)?;
        Ok(Operand::Call { rule, args })
    }

    // ---- rules --------------------------------------------------------

    /// `rule name(param type, …) { body }`; the current token is `rule`.
    fn rule(&mut self) -> Result<RuleDecl> {
        self.context = "rule".to_string();
        self.expect_next(TokenKind::Ident)?;
        let name = self.ident();
        self.context = format!("rule \"{}\"", shown(&name.name));
        self.expect_next(TokenKind::Lp)?;
        let mut params = Vec::new();
        while self.peek().kind != TokenKind::Rp {
            self.expect_next(TokenKind::Ident)?;
            let param = self.ident();
            let ty = self.type_ref()?;
            params.push(Param { name: param, ty });
            match self.peek().kind {
                // A trailing comma is accepted, as in Permify.
                TokenKind::Comma => self.advance(),
                TokenKind::Rp => {}
                _ => return Err(self.peek_error(&[TokenKind::Rp])),
            }
        }
        self.advance();
        self.expect_next(TokenKind::Lcb)?;
        let body = self.rule_body()?;
        // Permify registers the rule name only after its body.
        self.declare_global(&name, "rule")?;
        Ok(RuleDecl { name, params, body })
    }

    /// Rebuilds a rule body the way Permify does; the current token is `{`,
    /// and on return it is the `}` that ends the body.
    ///
    /// Permify takes the two significant tokens after `{` (skipping white
    /// space and comments), then every following token *including* white
    /// space and comments, and pastes their texts together, stopping before
    /// the first `}` token; the token directly before that `}` is not
    /// pasted. Hence:
    /// - string literals in double quotes lose their quotes (a string
    ///   token's text is its content): use single quotes;
    /// - a `}` anywhere in the body ends it;
    /// - comments after the first line are pasted without `//`;
    /// - white space between the first two tokens is lost, which matters
    ///   only when the body starts on the line of `{`;
    /// - the last token is dropped when `}` follows it directly, so `}`
    ///   belongs on its own line.
    fn rule_body(&mut self) -> Result<RuleBody> {
        let lcb = self.significant[self.cur];
        let last = self.tokens.len() - 1;
        let first = self.significant[(self.cur + 1).min(self.significant.len() - 1)];
        let second = self.significant[(self.cur + 2).min(self.significant.len() - 1)];
        let mut body = RuleBody::new(self.tokens[lcb].pos);
        let (mut current, mut next) = (first, second);
        while self.tokens[next].kind != TokenKind::Rcb {
            if self.tokens[next].kind == TokenKind::Eof {
                let eof = &self.tokens[next];
                let message = format!("expected next token to be {}, got EOF instead", TokenKind::Rcb.name());
                return Err(Error::at(ErrorKind::Syntax, eof.pos, self.with_context(message))
                    .with_hint("the rule body is not closed with \"}\""));
            }
            self.paste(&mut body, current);
            current = next;
            next = (next + 1).min(last);
        }
        let dropped = &self.tokens[current];
        if !matches!(dropped.kind, TokenKind::Space | TokenKind::Tab | TokenKind::Newline) {
            body.dropped_last = Some((dropped.text.to_string(), dropped.pos));
        }
        // `next` is the closing `}`, a significant token.
        self.cur = self.significant.partition_point(|&i| i < next);
        Ok(body)
    }

    fn paste(&self, body: &mut RuleBody, index: usize) {
        let token = &self.tokens[index];
        // The text of comments and strings starts after `//`, `/*` or `"`.
        let marker = match token.kind {
            TokenKind::SingleLineComment | TokenKind::MultiLineComment => 2,
            TokenKind::String => 1,
            _ => 0,
        };
        let content = Pos { line: token.pos.line, col: token.pos.col.saturating_add(marker) };
        body.pieces.push((body.text.len(), content));
        body.text.push_str(&token.text);
        match token.kind {
            TokenKind::String => body.lost_quotes.push((token.text.to_string(), token.pos)),
            TokenKind::SingleLineComment | TokenKind::MultiLineComment => body.pasted_comments.push(token.pos),
            _ => {}
        }
    }
}

fn operator(kind: TokenKind) -> Option<Op> {
    match kind {
        TokenKind::Or => Some(Op::Or),
        TokenKind::And => Some(Op::And),
        TokenKind::Not => Some(Op::Not),
        _ => None,
    }
}

fn names(kinds: &[TokenKind]) -> String {
    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}
