//! The compiled authorization model.
//!
//! [`crate::lang::compile`] turns Permify schema text into a [`Schema`]; the
//! engine evaluates against it. Everything here has already been checked by
//! the compiler: every name an expression mentions exists, walks have one dot,
//! rule calls bind by name with matching types. The engine may therefore
//! treat a missing name as an internal error rather than a user error.

use rustc_hash::FxHashMap as HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::error::Pos;

/// Longest name of an entity type, relation, attribute, permission or rule
/// (the compiler refuses longer ones), in bytes. Lookups by name refuse a
/// longer one before hashing it: a name sent by a caller may be megabytes.
pub const MAX_NAME_LEN: usize = 64;

/// A compiled schema: entities and rules, with name indexes.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Entities in declaration order.
    pub entities: Vec<EntityDef>,
    /// Rules in declaration order.
    pub rules: Vec<RuleDef>,
    entity_index: HashMap<String, usize>,
    rule_index: HashMap<String, usize>,
    /// Non-fatal findings of the compiler (e.g. mixed operators without
    /// parentheses), shown to the user as NOTICEs.
    pub warnings: Vec<Warning>,
    /// Which members sit on a cycle through an exclusion in the schema
    /// graph, per entity (by [`EntityDef::index`]) and member ordinal:
    /// computed once, by the engine, the first time a check needs it (see
    /// `engine::check::strata`). The model only keeps the slot, so that a
    /// compiled schema cached by the database carries it across checks.
    pub(crate) unstratified: OnceLock<Vec<Vec<bool>>>,
    /// Per entity (by [`EntityDef::index`]) and permission, the form the
    /// check evaluates for plain subjects when it differs from the
    /// permission's expression: see `engine::check::union_form`. Computed
    /// once, like `unstratified`.
    pub(crate) union_forms: OnceLock<Vec<Vec<Option<UnionForm>>>>,
}

/// A union whose children are evaluated with a depth offset each (see
/// `engine::check::union_form`): `(child, levels)` pairs, in order.
pub(crate) type UnionForm = Box<[(Expr, u32)]>;

impl Schema {
    /// Builds the name indexes. The compiler guarantees unique names.
    pub fn new(mut entities: Vec<EntityDef>, rules: Vec<RuleDef>, warnings: Vec<Warning>) -> Self {
        for (i, e) in entities.iter_mut().enumerate() {
            e.index = i;
        }
        let entity_index = entities.iter().enumerate().map(|(i, e)| (e.name.clone(), i)).collect();
        let rule_index = rules.iter().enumerate().map(|(i, r)| (r.name.clone(), i)).collect();
        Schema { entities, rules, entity_index, rule_index, warnings, unstratified: OnceLock::new(), union_forms: OnceLock::new() }
    }
    pub fn entity(&self, name: &str) -> Option<&EntityDef> {
        if name.len() > MAX_NAME_LEN {
            return None;
        }
        self.entity_index.get(name).map(|&i| &self.entities[i])
    }
    pub fn rule(&self, name: &str) -> Option<&RuleDef> {
        if name.len() > MAX_NAME_LEN {
            return None;
        }
        self.rule_index.get(name).map(|&i| &self.rules[i])
    }
}

/// A non-fatal compiler finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// `entity name { … }`.
#[derive(Debug, Clone)]
pub struct EntityDef {
    pub name: String,
    pub pos: Pos,
    pub relations: Vec<RelationDef>,
    pub attributes: Vec<AttributeDef>,
    pub permissions: Vec<PermissionDef>,
    members: HashMap<String, Member>,
    /// Position in [`Schema::entities`] (set by [`Schema::new`]).
    pub(crate) index: usize,
}

/// What a name inside an entity refers to (relations, attributes and
/// permissions share one namespace per entity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    Relation(usize),
    Attribute(usize),
    Permission(usize),
}

impl EntityDef {
    pub fn new(
        name: String,
        pos: Pos,
        relations: Vec<RelationDef>,
        attributes: Vec<AttributeDef>,
        permissions: Vec<PermissionDef>,
    ) -> Self {
        let mut members = HashMap::default();
        for (i, r) in relations.iter().enumerate() {
            members.insert(r.name.clone(), Member::Relation(i));
        }
        for (i, a) in attributes.iter().enumerate() {
            members.insert(a.name.clone(), Member::Attribute(i));
        }
        for (i, p) in permissions.iter().enumerate() {
            members.insert(p.name.clone(), Member::Permission(i));
        }
        EntityDef { name, pos, relations, attributes, permissions, members, index: 0 }
    }
    pub fn member(&self, name: &str) -> Option<Member> {
        if name.len() > MAX_NAME_LEN {
            return None;
        }
        self.members.get(name).copied()
    }
    /// A member's position among all members (relations first, then
    /// attributes, then permissions).
    pub(crate) fn ordinal(&self, member: Member) -> usize {
        match member {
            Member::Relation(i) => i,
            Member::Attribute(i) => self.relations.len() + i,
            Member::Permission(i) => self.relations.len() + self.attributes.len() + i,
        }
    }
    pub fn relation(&self, name: &str) -> Option<&RelationDef> {
        match self.member(name)? {
            Member::Relation(i) => Some(&self.relations[i]),
            _ => None,
        }
    }
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        match self.member(name)? {
            Member::Attribute(i) => Some(&self.attributes[i]),
            _ => None,
        }
    }
    pub fn permission(&self, name: &str) -> Option<&PermissionDef> {
        match self.member(name)? {
            Member::Permission(i) => Some(&self.permissions[i]),
            _ => None,
        }
    }
}

/// `relation name @type @type#rel …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationDef {
    pub name: String,
    pub pos: Pos,
    pub subject_types: Vec<SubjectType>,
}

impl RelationDef {
    /// Whether a subject `type` (relation `""`) or `type#rel` may be stored.
    pub fn allows(&self, subject_type: &str, subject_relation: &str) -> bool {
        self.subject_types.iter().any(|s| {
            s.entity == subject_type && s.relation.as_deref().unwrap_or("") == subject_relation
        })
    }
}

/// One allowed subject type of a relation: `@user` or `@group#member`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubjectType {
    pub entity: String,
    pub relation: Option<String>,
}

impl fmt::Display for SubjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.relation {
            Some(r) => write!(f, "@{}#{}", self.entity, r),
            None => write!(f, "@{}", self.entity),
        }
    }
}

/// `attribute name type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    pub name: String,
    pub pos: Pos,
    pub ty: AttrType,
}

/// The scalar base of an attribute or rule parameter type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BaseType {
    Boolean,
    String,
    Integer,
    Double,
}

/// An attribute or rule parameter type: a base type, maybe an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttrType {
    pub base: BaseType,
    pub array: bool,
}

impl AttrType {
    /// Parses Permify's type names: `boolean`, `string`, `integer`,
    /// `double`, each optionally followed by `[]`.
    pub fn parse(name: &str) -> Option<AttrType> {
        let (base, array) = match name.strip_suffix("[]") {
            Some(b) => (b, true),
            None => (name, false),
        };
        let base = match base {
            "boolean" => BaseType::Boolean,
            "string" => BaseType::String,
            "integer" => BaseType::Integer,
            "double" => BaseType::Double,
            _ => return None,
        };
        Some(AttrType { base, array })
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = match self.base {
            BaseType::Boolean => "boolean",
            BaseType::String => "string",
            BaseType::Integer => "integer",
            BaseType::Double => "double",
        };
        f.write_str(b)?;
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// `permission name = expr` (or `action`).
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionDef {
    pub name: String,
    pub pos: Pos,
    pub expr: Expr,
}

/// A permission expression. Permify has one precedence level and
/// left associativity; the compiler has already applied that, so the tree
/// is exactly what is evaluated. Consecutive `or`s (and `and`s) are
/// flattened into one n-ary node.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Leaf(Leaf),
    /// Union: true if any child is.
    Or(Vec<Expr>),
    /// Intersection: true if every child is.
    And(Vec<Expr>),
    /// Exclusion `base not subtract`: base and not subtract.
    Not(Box<Expr>, Box<Expr>),
}

/// An operand of a permission expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// A relation or permission of the same entity.
    Computed(String),
    /// A boolean attribute of the same entity: true iff its value is `true`.
    Attribute(String),
    /// `relation.target`: for every tuple `e#relation@t`, `target` on
    /// `t.type:t.id` (the stored subject relation is ignored, as in Permify).
    Walk { relation: String, target: String },
    /// `rule(attr, …)`: a rule call; arguments name attributes of the same
    /// entity and bind by name to the rule's parameters.
    Call { rule: String, args: Vec<String> },
}

/// `rule name(param type, …) { CEL }`.
#[derive(Clone)]
pub struct RuleDef {
    pub name: String,
    pub pos: Pos,
    pub params: Vec<(String, AttrType)>,
    /// The CEL text, as Permify reassembles it from the body's tokens.
    pub body: String,
    /// The compiled CEL program.
    pub program: Arc<cel::Program>,
}

impl fmt::Debug for RuleDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleDef")
            .field("name", &self.name)
            .field("pos", &self.pos)
            .field("params", &self.params)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}
