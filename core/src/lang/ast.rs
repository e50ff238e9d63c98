//! The syntax tree the parser produces and the compiler checks.
//!
//! It keeps what the compiler needs to reproduce Permify's checks and to
//! write precise messages: every name with its position, declarations in
//! source order, and expressions exactly as written (one operator level is
//! one [`Chain`], parentheses are explicit).

use std::fmt;

use crate::error::Pos;

/// A name as written, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub pos: Pos,
}

/// A parsed schema: the entity and rule declarations in source order.
#[derive(Debug, Clone, Default)]
pub struct SchemaAst {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
pub enum Statement {
    Entity(EntityDecl),
    Rule(RuleDecl),
}

/// `entity name { … }` with its members, each list in source order.
#[derive(Debug, Clone)]
pub struct EntityDecl {
    pub name: Ident,
    pub relations: Vec<RelationDecl>,
    pub attributes: Vec<AttributeDecl>,
    pub permissions: Vec<PermissionDecl>,
}

/// `relation name @type @type#rel …`.
#[derive(Debug, Clone)]
pub struct RelationDecl {
    pub name: Ident,
    pub subject_types: Vec<SubjectTypeRef>,
}

/// `@type` or `@type#relation`.
#[derive(Debug, Clone)]
pub struct SubjectTypeRef {
    pub entity: Ident,
    pub relation: Option<Ident>,
}

/// A type as written in an attribute or rule parameter: `name` or `name[]`.
/// The compiler checks that `name` is one of Permify's four types.
#[derive(Debug, Clone)]
pub struct TypeRef {
    pub name: Ident,
    pub array: bool,
}

impl fmt::Display for TypeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name.name)?;
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// `attribute name type`.
#[derive(Debug, Clone)]
pub struct AttributeDecl {
    pub name: Ident,
    pub ty: TypeRef,
}

/// `permission name = expr` (or `action`).
#[derive(Debug, Clone)]
pub struct PermissionDecl {
    pub name: Ident,
    pub expr: Chain,
}

/// The binary operators. Permify gives them all the same precedence and
/// associates them to the left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Or,
    And,
    Not,
}

impl Op {
    pub fn keyword(self) -> &'static str {
        match self {
            Op::Or => "or",
            Op::And => "and",
            Op::Not => "not",
        }
    }
}

/// One expression level: `first op₁ x₁ op₂ x₂ …`, meaning
/// `((first op₁ x₁) op₂ x₂) …`. Keeping the level flat (instead of a
/// binary tree) lets the compiler flatten runs of one operator, detect
/// mixed operators, and never recurse along long chains.
#[derive(Debug, Clone)]
pub struct Chain {
    pub first: Operand,
    pub rest: Vec<(Op, Pos, Operand)>,
}

/// An operand of an expression level.
#[derive(Debug, Clone)]
pub enum Operand {
    /// `( … )`, with the position of the `(`.
    Group(Box<Chain>, Pos),
    /// `name`, `rel.target` or longer (the compiler rejects ≥ 3 segments).
    Path(Vec<Ident>),
    /// `rule(arg, …)`; each argument is a path (the compiler wants one segment).
    Call { rule: Ident, args: Vec<Vec<Ident>> },
}

impl Operand {
    /// Where the operand starts.
    pub fn pos(&self) -> Pos {
        match self {
            Operand::Group(_, pos) => *pos,
            Operand::Path(segments) => segments.first().map(|s| s.pos).unwrap_or(Pos { line: 1, col: 1 }),
            Operand::Call { rule, .. } => rule.pos,
        }
    }
}

/// Writes a dotted path as written: `a.b.c`.
pub fn dotted(segments: &[Ident]) -> String {
    segments.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(".")
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Group(chain, _) => write!(f, "({chain})"),
            Operand::Path(segments) => f.write_str(&dotted(segments)),
            Operand::Call { rule, args } => {
                let args: Vec<String> = args.iter().map(|a| dotted(a)).collect();
                write!(f, "{}({})", rule.name, args.join(", "))
            }
        }
    }
}

impl fmt::Display for Chain {
    /// The level as written, without added parentheses.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        for (op, _, operand) in &self.rest {
            write!(f, " {} {}", op.keyword(), operand)?;
        }
        Ok(())
    }
}

/// `rule name(param type, …) { body }`.
#[derive(Debug, Clone)]
pub struct RuleDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: RuleBody,
}

/// `name type` in a rule's parameter list.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeRef,
}

/// A rule body as Permify reassembles it from tokens (see
/// [`super::parser`]), with what is needed to map positions in the CEL
/// text back to the schema and to explain the reassembly quirks.
#[derive(Debug, Clone)]
pub struct RuleBody {
    /// The CEL text: the joined token texts.
    pub text: String,
    /// For each token pasted into `text`: its byte offset in `text` and its
    /// position in the schema, in increasing order.
    pub pieces: Vec<(usize, Pos)>,
    /// Where the `{` is.
    pub open: Pos,
    /// Double-quoted strings whose quotes were lost.
    pub lost_quotes: Vec<(String, Pos)>,
    /// Comments whose text was pasted into the CEL text.
    pub pasted_comments: Vec<Pos>,
    /// The token that directly preceded `}` and was dropped, if it was
    /// more than white space.
    pub dropped_last: Option<(String, Pos)>,
}

impl RuleBody {
    /// An empty body whose `{` is at `open`.
    pub fn new(open: Pos) -> RuleBody {
        RuleBody {
            text: String::new(),
            pieces: Vec::new(),
            open,
            lost_quotes: Vec::new(),
            pasted_comments: Vec::new(),
            dropped_last: None,
        }
    }

    /// The schema position of a byte offset in [`RuleBody::text`]: the
    /// start of the token it falls in, plus the column offset within it.
    pub fn source_pos(&self, offset: usize) -> Pos {
        let index = self.pieces.partition_point(|(start, _)| *start <= offset);
        if index == 0 {
            return self.open;
        }
        let (start, pos) = self.pieces[index - 1];
        let end = self.pieces.get(index).map(|(s, _)| *s).unwrap_or(self.text.len());
        let within = self.text.get(start..offset.min(end)).unwrap_or("");
        if within.contains('\n') {
            // Inside a multi-line token (a comment or string): its start.
            pos
        } else {
            Pos { line: pos.line, col: pos.col.saturating_add(within.chars().count() as u32) }
        }
    }
}
