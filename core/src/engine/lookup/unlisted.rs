//! Which permissions a lookup cannot list completely: those a rule can
//! grant to entities that store no value of any attribute it reads.
//!
//! A lookup finds an entity through stored data only: a tuple, or a stored
//! value of an attribute that a leaf reads (see "Candidates" in the module
//! docs). A check binds a missing attribute to its type's zero value, so a
//! rule that holds on zero values (`level < 5` with no `level`) grants
//! every entity of the type that has none — entities no search can
//! enumerate, and that the lookup leaves out, as Permify's does. Where a
//! caller needs the lookup to equal the check for every id (row-level
//! security choosing between per-row checks and one lookup), such a
//! permission must be checked row by row.
//!
//! The test is on the schema alone, following what a lookup enumerates
//! from: a relation or attribute leaf needs stored data; a walk needs its
//! tuple and a listed target; a union is listed when every operand is; an
//! intersection when any operand is (every entity it grants has that
//! operand's data, and the others are checked on it); an exclusion when
//! its base is (the subtracted side only removes entities). A rule call is
//! listed when the rule, evaluated once on the zero values of its
//! parameters with an empty request context, is false — one that holds
//! there, or fails there (one that reads `context.data`), is not. A
//! permission met again through a cycle counts as listed: an entity it
//! grants needs a finite proof, which leaves the cycle somewhere else.

use rustc_hash::FxHashMap as HashMap;
use serde_json::Map;

use crate::engine::rules::{self, CelVal};
use crate::model::{Expr, Leaf, Member, Schema};

/// The first rule (in evaluation order) that lets `permission` of
/// `entity_type` grant entities a lookup cannot list, or None when a
/// lookup lists every entity a check grants (for a request without
/// contextual data). Unknown names give None: the lookup reports them
/// itself.
pub fn unlisted_by(schema: &Schema, entity_type: &str, permission: &str) -> Option<String> {
    // Rounds until nothing new is found unlisted: within a round a member
    // met again while it is searched counts as listed, and so may members
    // that depended on it; what a round finds unlisted is (a rule grants
    // without data whatever the cycles do), and the next round starts from
    // it. Every round visits every member reachable from the permission.
    let mut search = Search { schema, context: rules::context_value(&Map::new()), done: HashMap::default() };
    loop {
        let known = search.done.values().filter(|f| f.is_some()).count();
        search.done.retain(|_, found| found.is_some());
        let found = search.member(entity_type, permission);
        if found.is_some() || search.done.values().filter(|f| f.is_some()).count() == known {
            return found;
        }
    }
}

struct Search<'a> {
    schema: &'a Schema,
    context: CelVal,
    /// Per (entity type, member): the rule found, None for listed (also
    /// while it is being searched).
    done: HashMap<(String, String), Option<String>>,
}

impl Search<'_> {
    fn member(&mut self, ty: &str, name: &str) -> Option<String> {
        let key = (ty.to_owned(), name.to_owned());
        if let Some(found) = self.done.get(&key) {
            return found.clone();
        }
        self.done.insert(key.clone(), None);
        let schema = self.schema;
        let found = match schema.entity(ty).and_then(|e| Some((e, e.member(name)?))) {
            Some((entity, Member::Permission(i))) => self.expr(ty, &entity.permissions[i].expr),
            _ => None,
        };
        self.done.insert(key, found.clone());
        found
    }

    /// (Every operand is searched, none skipped: see `unlisted_by`.)
    fn expr(&mut self, ty: &str, expr: &Expr) -> Option<String> {
        match expr {
            Expr::Leaf(leaf) => self.leaf(ty, leaf),
            Expr::Or(children) => children.iter().map(|c| self.expr(ty, c)).fold(None, Option::or),
            Expr::And(children) => {
                let found: Vec<_> = children.iter().map(|c| self.expr(ty, c)).collect();
                if found.iter().any(Option::is_none) { None } else { found.into_iter().flatten().next() }
            }
            Expr::Not(base, _) => self.expr(ty, base),
        }
    }

    fn leaf(&mut self, ty: &str, leaf: &Leaf) -> Option<String> {
        let schema = self.schema;
        match leaf {
            Leaf::Computed(member) => self.member(ty, member),
            Leaf::Attribute(_) => None,
            Leaf::Walk { relation, target } => {
                let subjects = schema.entity(ty).and_then(|e| e.relation(relation)).map(|r| r.subject_types.as_slice());
                let found: Vec<_> = subjects.unwrap_or_default().iter().map(|s| self.member(&s.entity, target)).collect();
                found.into_iter().flatten().next()
            }
            Leaf::Call { rule, .. } => {
                let def = schema.rule(rule)?;
                let zeros = def.params.iter().map(|(_, ty)| rules::zero_value(*ty)).collect();
                let entity = format_args!("{ty}:<no attributes>");
                match rules::evaluate(def, zeros, self.context.as_ref(), &entity) {
                    Ok(false) => None,
                    _ => Some(def.name.clone()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::compile;

    fn schema(text: &str) -> Schema {
        compile(text).expect("schema compiles")
    }

    const MODEL: &str = "
        entity user {}
        entity folder {
            relation viewer @user
            attribute level integer
            attribute open boolean
            permission view = viewer or low(level)
            permission browse = viewer or open
            permission strict = viewer or high(level)
        }
        entity doc {
            relation parent @folder
            relation reader @user
            attribute level integer
            permission read = reader or parent.view
            permission browse = reader or parent.browse
            permission guarded = reader not low(level)
            permission both = reader and low(level)
            permission asks = reader or needs_context(level)
            permission mine = reader or low_level
            permission low_level = low(level)
            permission loose = low(level) and low_level
        }
        rule low(level integer) { level < 5 }
        rule high(level integer) { level > 5 }
        rule needs_context(level integer) { level > context.data.min }
    ";

    #[test]
    fn a_rule_true_on_zero_values_is_found_through_walks() {
        let s = schema(MODEL);
        assert_eq!(unlisted_by(&s, "folder", "view").as_deref(), Some("low"));
        assert_eq!(unlisted_by(&s, "doc", "read").as_deref(), Some("low"));
        // Through a union of this entity's own members, too.
        assert_eq!(unlisted_by(&s, "doc", "mine").as_deref(), Some("low"));
    }

    #[test]
    fn rules_false_on_zero_values_and_attributes_are_listed() {
        let s = schema(MODEL);
        assert_eq!(unlisted_by(&s, "folder", "strict"), None);
        assert_eq!(unlisted_by(&s, "folder", "browse"), None);
        assert_eq!(unlisted_by(&s, "doc", "browse"), None);
        // Only subtracted: it removes entities, never adds them.
        assert_eq!(unlisted_by(&s, "doc", "guarded"), None);
        // An intersection needs the reader tuple: the lookup finds the doc
        // through it and checks the rule there.
        assert_eq!(unlisted_by(&s, "doc", "both"), None);
        // Unless no operand needs data.
        assert_eq!(unlisted_by(&s, "doc", "loose").as_deref(), Some("low"));
    }

    #[test]
    fn a_rule_that_needs_context_counts_as_unlisted() {
        let s = schema(MODEL);
        assert_eq!(unlisted_by(&s, "doc", "asks").as_deref(), Some("needs_context"));
    }

    #[test]
    fn unknown_names_and_cycles_end() {
        let s = schema(
            "entity user {} entity node { relation parent @node relation viewer @user
             permission view = viewer or parent.view }",
        );
        assert_eq!(unlisted_by(&s, "node", "view"), None);
        assert_eq!(unlisted_by(&s, "node", "nothing"), None);
        assert_eq!(unlisted_by(&s, "nobody", "view"), None);
        // A member first met inside a cycle that a rule closes later.
        let s = schema(
            "entity user {} entity node { relation viewer @user attribute level integer
             permission a = b or low(level) permission b = a permission c = viewer and b }
             rule low(level integer) { level < 5 }",
        );
        assert_eq!(unlisted_by(&s, "node", "b").as_deref(), Some("low"));
        assert_eq!(unlisted_by(&s, "node", "c"), None);
        let s = schema(
            "entity user {} entity node { attribute level integer
             permission top = x and y permission x = a permission y = b
             permission a = b or low(level) permission b = a and c permission c = low(level) }
             rule low(level integer) { level < 5 }",
        );
        assert_eq!(unlisted_by(&s, "node", "top").as_deref(), Some("low"));
    }
}
