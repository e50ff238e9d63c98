//! Unions with the permissions they name inlined, and walks another walk
//! of the union subsumes left out: the form the check evaluates for plain
//! subjects.
//!
//! # Why
//!
//! The model most Notion integrations write reads
//!
//! ```text
//! permission write = writer or parent.write or workspace.manage
//! permission read  = reader or write or parent.read
//! ```
//!
//! Evaluated as written, `read` on a page first evaluates `write`, whose
//! `parent.write` climbs every ancestor to the root, and only then looks
//! one level up through `parent.read`. A reader granted on the parent
//! waits for the whole climb; a refusal climbs twice. But
//! `parent.write` can only hold where `parent.read` does (`read` names
//! `write` in its union), so inlined into `read`'s union it adds nothing:
//!
//! ```text
//! read = reader or writer or workspace.manage or parent.read
//! ```
//!
//! climbs once, nearest ancestor first.
//!
//! # What is rewritten
//!
//! A permission whose expression is a union (or one leaf) is flattened: a
//! child naming another permission of the same entity whose expression is
//! itself a union (or one leaf) is replaced by that permission's children,
//! recursively (not through a permission already being inlined). Each
//! child keeps how many permissions it was inlined through, its *levels*.
//! A walk `r.t1` is then left out when the union also has a walk `r.t2`
//! over the same relation with `t1` subsumed by `t2`: on every entity
//! type that has a member `t1`, `t2` is `t1` or a permission whose union
//! names (recursively through unions) `t1` — and within the levels the
//! left out walk had beyond the kept one, so that no proof gets taller
//! (`read = reader or write or parent.read` qualifies: `write`'s
//! `parent.write` sits one level down, and `read` names `write` one level
//! down; `view = edit or parent.view or parent.edit` keeps `parent.edit`). (Of two identical walks the
//! one inlined through fewer permissions stays, the first of equals.)
//! Only permissions where something is left out get a form; the others
//! are evaluated as written.
//!
//! # Why the answers do not change
//!
//! *Values.* Union is the maximum in the well-founded model (with false <
//! undetermined < true), so where `t2`'s union names `t1`, the value of
//! `t2` is at least that of `t1` on every node, for a plain subject. (A
//! subject set `T:x#t1` is excluded: the self shortcut grants it `t1` on
//! `T:x` without `t2`'s union having to name anything, and inlining would
//! skip that node. Checks of subject sets evaluate the expressions as
//! written.) A walk over a relation takes the maximum over the same
//! tuples, so `r.t1 <= r.t2` node by node, and a union that has both
//! has the value it has without `r.t1`. Inlining a permission's union
//! into its caller's union changes no value either. So every node of the
//! rewritten rules has the same value as before: the rewritten rules are a
//! program of their own, and the depth-first search computes its least
//! fixpoint, memo included, exactly as the module docs of
//! [`check`](super) argue (its kind graph's reachability is contained in
//! the schema's, which the memo's rule uses).
//!
//! *Depth.* An inlined child is evaluated under a stand-in frame `levels`
//! positions below its node: the position the inlined permission's
//! evaluation would have given it. The stand-in carries only the position;
//! no cut happens at it, and nothing is memoised for it. So a proof the
//! rewritten rules find is a proof of the written ones with the same
//! height: a true answer within `max_depth` is one the written rules give.
//! Conversely, a walk is only left out where the walk kept reaches the
//! same grants at most as deep (the levels rule above), so the rewritten
//! rules have a proof at most as tall as any the written ones have, and
//! the search does not run out of depth (and settle, which costs more and
//! is bounded by `max_fixpoint_size`) where the written one would not.
//! Where the rewritten search runs out of depth, the check settles the
//! node over the written rules (see "Settling"), which finds the shortest
//! proof there is.
//!
//! *Errors.* A union errs only when none of its children holds; the left
//! out walk's errors surface through the walk that subsumes it, whose
//! union names the same permission.

use crate::model::{EntityDef, Expr, Leaf, Member, Schema, UnionForm};

/// Inlining follows permissions this many deep at most; a permission whose
/// union goes deeper gets no form (it is evaluated as written).
const MAX_INLINE_DEPTH: usize = 64;

/// A flattened union holds this many children at most; a permission whose
/// union flattens to more gets no form.
const MAX_ITEMS: usize = 1024;

/// The work (children flattened, pairs of walks compared, namings
/// followed) all forms of a schema may take: a fixed allowance plus a
/// little per expression node, so that it grows with the schema and no
/// faster. The forms only save work, so once the allowance is spent the
/// remaining permissions are evaluated as written. (A chain of 120,000
/// permissions each naming the next made the unbounded computation cubic,
/// uninterruptible and deep enough in recursion to overflow the stack.)
fn allowance(schema: &Schema) -> u64 {
    let nodes: u64 = schema
        .entities
        .iter()
        .flat_map(|e| &e.permissions)
        .map(|p| expr_nodes(&p.expr))
        .sum();
    1_000_000 + 64 * nodes
}

fn expr_nodes(expr: &Expr) -> u64 {
    let mut count = 0;
    let mut stack = vec![expr];
    while let Some(e) = stack.pop() {
        count += 1;
        match e {
            Expr::Or(children) | Expr::And(children) => stack.extend(children),
            Expr::Not(base, subtract) => {
                stack.push(base);
                stack.push(subtract);
            }
            Expr::Leaf(_) => {}
        }
    }
    count
}

/// The work left (see [`allowance`]); polls for interrupts as it is spent.
struct Budget {
    left: u64,
    /// Whether a search stopped short (out of work or too deep) since it
    /// was last cleared: what it found may then be less than there is.
    cut: bool,
}

impl Budget {
    /// Spends one unit; false (and cut) once there is none left.
    fn spend(&mut self) -> bool {
        if self.left == 0 {
            self.cut = true;
            return false;
        }
        self.left -= 1;
        if self.left % 4096 == 0 {
            crate::interrupt::poll();
        }
        true
    }
}

/// The rewritten form of every permission of `schema` (see the module
/// docs), per entity and permission; `None` where nothing is left out (or
/// the work allowed ran out).
pub(crate) fn union_forms(schema: &Schema) -> Vec<Vec<Option<UnionForm>>> {
    let mut budget = Budget { left: allowance(schema), cut: false };
    schema
        .entities
        .iter()
        .map(|e| {
            (0..e.permissions.len())
                .map(|i| union_form(schema, e, i, &mut budget))
                .collect()
        })
        .collect()
}

fn union_form(schema: &Schema, entity: &EntityDef, permission: usize, budget: &mut Budget) -> Option<UnionForm> {
    let expr = &entity.permissions.get(permission)?.expr;
    if !is_union(expr) {
        return None;
    }
    let items = flatten(entity, permission, budget)?;
    let mut keep = vec![true; items.len()];
    for a in 0..items.len() {
        let Expr::Leaf(Leaf::Walk {
            relation: r1,
            target: t1,
        }) = &items[a].0
        else {
            continue;
        };
        for b in 0..items.len() {
            if a == b || !keep[b] {
                continue;
            }
            let Expr::Leaf(Leaf::Walk {
                relation: r2,
                target: t2,
            }) = &items[b].0
            else {
                continue;
            };
            if !budget.spend() {
                return None;
            }
            // Through `r.t2`, a proof the left out walk gave is as tall as
            // before or lower: `t2` names `t1` within the levels saved.
            let covered = if t1 == t2 {
                (items[b].1, b) < (items[a].1, a)
            } else {
                subsumed(schema, t1, t2, budget).is_some_and(|chain| items[b].1 + chain <= items[a].1)
            };
            if r1 == r2 && covered {
                keep[a] = false;
                break;
            }
        }
    }
    if keep.iter().all(|k| *k) {
        return None;
    }
    let kept = items
        .into_iter()
        .zip(keep)
        .filter_map(|(item, k)| k.then_some(item))
        .collect();
    Some(kept)
}

/// A union, or one leaf: an expression whose children can be inlined.
fn is_union(expr: &Expr) -> bool {
    matches!(expr, Expr::Or(_) | Expr::Leaf(_))
}

/// The children of a union, or the leaf itself.
fn union_children(expr: &Expr) -> &[Expr] {
    match expr {
        Expr::Or(children) => children,
        other => std::slice::from_ref(other),
    }
}

/// Permission `permission`'s union children with the permissions of
/// `entity` they name inlined, depth first in their order, each with its
/// levels (not through a permission already being inlined, which breaks
/// cycles such as `a = b`, `b = a`). Iterative, with the chain being
/// inlined marked per permission; `None` beyond [`MAX_INLINE_DEPTH`],
/// [`MAX_ITEMS`] or the budget.
fn flatten(entity: &EntityDef, permission: usize, budget: &mut Budget) -> Option<Vec<(Expr, u32)>> {
    let mut out = Vec::new();
    let mut inlining = vec![false; entity.permissions.len()];
    inlining[permission] = true;
    // Per level being inlined: its children, the next one to visit, and
    // the permission it belongs to.
    let mut stack: Vec<(&[Expr], usize, usize)> =
        vec![(union_children(&entity.permissions[permission].expr), 0, permission)];
    while let Some((children, next, owner)) = stack.last_mut() {
        let Some(child) = children.get(*next) else {
            inlining[*owner] = false;
            stack.pop();
            continue;
        };
        *next += 1;
        if !budget.spend() {
            return None;
        }
        let levels = (stack.len() - 1) as u32;
        if let Expr::Leaf(Leaf::Computed(name)) = child
            && let Some(Member::Permission(j)) = entity.member(name)
            && !inlining[j]
            && let Some(named) = entity.permissions.get(j)
            && is_union(&named.expr)
        {
            if stack.len() >= MAX_INLINE_DEPTH {
                return None;
            }
            inlining[j] = true;
            stack.push((union_children(&named.expr), 0, j));
        } else {
            if out.len() == MAX_ITEMS {
                return None;
            }
            out.push((child.clone(), levels));
        }
    }
    Some(out)
}

/// Whether a walk's target `small` is subsumed by target `large` on every
/// entity type a walk can reach (any type: contextual tuples are not
/// validated against the relation's declared subject types): if so, the
/// most levels by which `large` names `small` on any of them. (`None` too
/// when the budget runs out: the walk is then kept, as written.)
fn subsumed(schema: &Schema, small: &str, large: &str, budget: &mut Budget) -> Option<u32> {
    budget.cut = false;
    let mut most = 0;
    for e in &schema.entities {
        if e.member(small).is_some() {
            most = most.max(names(e, large, small, &mut Vec::new(), budget)?);
        }
    }
    // A search cut short may have missed a taller naming: the most levels
    // would then be too few, and leaving the walk out could make a proof
    // taller.
    (!budget.cut).then_some(most)
}

/// Whether member `large` of `entity` is `small` (0 levels), or a
/// permission whose union names `small`, recursively through unions: the
/// most levels of any such naming, so that a proof through `large` is
/// never taller than one through `small` by more than that. `seen` (the
/// chain being followed) breaks cycles; the recursion goes at most
/// [`MAX_INLINE_DEPTH`] deep and spends the budget (beyond either it marks
/// the budget cut, and [`subsumed`] then knows nothing).
fn names<'e>(
    entity: &'e EntityDef,
    large: &'e str,
    small: &str,
    seen: &mut Vec<&'e str>,
    budget: &mut Budget,
) -> Option<u32> {
    if large == small {
        return Some(0);
    }
    if seen.contains(&large) {
        return None;
    }
    if seen.len() >= MAX_INLINE_DEPTH || !budget.spend() {
        budget.cut = true;
        return None;
    }
    let Some(Member::Permission(j)) = entity.member(large) else {
        return None;
    };
    let permission = entity.permissions.get(j)?;
    if !is_union(&permission.expr) {
        return None;
    }
    seen.push(large);
    let mut most = None;
    for child in union_children(&permission.expr) {
        if let Expr::Leaf(Leaf::Computed(name)) | Expr::Leaf(Leaf::Attribute(name)) = child
            && let Some(levels) = names(entity, name, small, seen, budget)
        {
            most = most.max(Some(levels + 1));
        }
    }
    seen.pop();
    most
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::compile;

    fn shown(form: &UnionForm) -> Vec<String> {
        form.iter()
            .map(|(expr, levels)| {
                let leaf = match expr {
                    Expr::Leaf(Leaf::Computed(n)) | Expr::Leaf(Leaf::Attribute(n)) => n.clone(),
                    Expr::Leaf(Leaf::Walk { relation, target }) => format!("{relation}.{target}"),
                    Expr::Leaf(Leaf::Call { rule, .. }) => format!("{rule}()"),
                    other => format!("{other:?}"),
                };
                format!("{leaf}@{levels}")
            })
            .collect()
    }

    fn forms(text: &str, entity: &str) -> Vec<(String, Option<Vec<String>>)> {
        let schema = compile(text).expect("schema compiles");
        let all = union_forms(&schema);
        let e = schema.entity(entity).expect("entity");
        e.permissions
            .iter()
            .zip(&all[e.index])
            .map(|(p, f)| (p.name.clone(), f.as_ref().map(shown)))
            .collect()
    }

    const NOTION: &str = "
        entity user {}
        entity workspace { relation admin @user permission manage = admin }
        entity page {
            relation workspace @workspace
            relation parent @page
            relation writer @user
            relation reader @user
            permission write = writer or parent.write or workspace.manage
            permission read = reader or write or parent.read
        }";

    #[test]
    fn a_walk_the_union_walks_again_to_a_wider_permission_is_left_out() {
        let got = forms(NOTION, "page");
        assert_eq!(got[0], ("write".into(), None));
        assert_eq!(
            got[1],
            (
                "read".into(),
                Some(vec![
                    "reader@0".into(),
                    "writer@1".into(),
                    "workspace.manage@1".into(),
                    "parent.read@0".into()
                ])
            )
        );
    }

    #[test]
    fn a_type_without_the_wider_permission_keeps_the_walk() {
        // `folder` has `write` but no `read`: a parent that is a folder
        // (through a contextual tuple) would grant `read` only through
        // `parent.write`.
        let text = format!(
            "{NOTION}\n entity folder {{ relation writer @user permission write = writer }}"
        );
        let got = forms(&text, "page");
        assert_eq!(got[1], ("read".into(), None));
    }

    #[test]
    fn a_walk_is_kept_where_the_wider_one_reaches_its_grants_deeper() {
        // Through `parent.view`, `parent.edit`'s grants are one level
        // deeper (`view` names `edit`): left out, a depth limit that the
        // written rules meet would send the check to settle.
        let text = "
            entity user {}
            entity page {
                relation parent @page
                relation editor @user
                permission edit = editor
                permission view = edit or parent.view or parent.edit
                permission wide = view or parent.wide or parent.view
            }";
        let got = forms(text, "page");
        assert_eq!(got[1], ("view".into(), None));
        // `wide`: the inlined `parent.view` (a repeat, one level down) and
        // `parent.edit` (one level down, named by `view` one level down)
        // go; its own `parent.view` stays (`wide` would reach its grants
        // one level deeper).
        assert_eq!(
            got[2],
            ("wide".into(), Some(vec!["editor@2".into(), "parent.wide@0".into(), "parent.view@0".into()]))
        );
    }

    #[test]
    fn only_unions_subsume() {
        // `read` names `write` inside an intersection: no subsumption.
        let text = "
            entity user {}
            entity page {
                relation parent @page
                relation writer @user
                relation reader @user
                permission write = writer or parent.write
                permission read = (reader and write) or parent.read
                permission view = write or parent.read
            }";
        let got = forms(text, "page");
        assert_eq!(got[1], ("read".into(), None));
        assert_eq!(got[2], ("view".into(), None));
    }

    #[test]
    fn cycles_and_repeats() {
        let text = "
            entity user {}
            entity node {
                relation next @node
                relation a_rel @user
                permission a = a_rel or b or next.a
                permission b = a or next.a
                permission c = next.a or next.a
            }";
        let got = forms(text, "node");
        // `a` inlines `b`, which names `a` again (kept as a node), and
        // walks `next.a` twice: the one inlined from `b` is left out.
        assert_eq!(
            got[0],
            (
                "a".into(),
                Some(vec!["a_rel@0".into(), "a@1".into(), "next.a@0".into()])
            )
        );
        assert_eq!(got[2], ("c".into(), Some(vec!["next.a@0".into()])));
    }

    /// Names of `n` permissions, letters only (digits are not names).
    fn letters(mut n: usize) -> String {
        let mut out = String::new();
        loop {
            out.push((b'a' + (n % 26) as u8) as char);
            n /= 26;
            if n == 0 {
                return out;
            }
        }
    }

    /// A chain of permissions, each naming the next, is flattened without
    /// recursion (as deep as it is, it would overflow the stack) and with
    /// bounded work: the forms that would inline more than 64 levels or
    /// 1,024 children are not made, and the check evaluates them as
    /// written.
    #[test]
    fn a_long_chain_of_permissions_costs_bounded_work() {
        let n = 20_000;
        let mut text = String::from("entity user {} entity doc { relation r @user relation parent @doc ");
        for i in 0..n {
            text.push_str(&format!("permission p{} = p{} or parent.p{} ", letters(i), letters(i + 1), letters(i)));
        }
        text.push_str(&format!("permission p{} = r }}", letters(n)));
        let schema = compile(&text).expect("schema compiles");
        let all = union_forms(&schema);
        let doc = &all[schema.entity("doc").expect("doc").index];
        assert_eq!(doc.len(), n + 1);
        // Near the end of the chain a form is still made (within 64
        // levels, the inlined `parent.` walks are left out)...
        let last = doc[n - 2].as_ref().expect("a short chain still gets its form");
        assert!(last.len() < 6, "{}", last.len());
        // ... and none further up, where the chain is too deep.
        assert!(doc[0].is_none());
    }

    /// Namings that fan out and meet again (a diamond per level) are
    /// followed within the budget: beyond it a walk is kept as written,
    /// never left out on a partial search.
    #[test]
    fn a_lattice_of_namings_stops_at_the_budget() {
        let depth = 40;
        let mut text = String::from("entity user {} entity doc { relation r @user relation parent @doc ");
        for i in 0..depth {
            let (x, y, nx, ny) = (letters(2 * i), letters(2 * i + 1), letters(2 * i + 2), letters(2 * i + 3));
            for own in [&x, &y] {
                text.push_str(&format!("permission d{own} = d{nx} or d{ny} "));
            }
        }
        let (bx, by) = (letters(2 * depth), letters(2 * depth + 1));
        text.push_str(&format!("permission d{bx} = r permission d{by} = r "));
        text.push_str(&format!("permission top = parent.d{bx} or parent.da }}"));
        let schema = compile(&text).expect("schema compiles");
        let all = union_forms(&schema);
        let doc = schema.entity("doc").expect("doc");
        let top = doc.permissions.iter().position(|p| p.name == "top").expect("top");
        // 2^40 paths from `da` down to `d<bottom>`: the search runs out,
        // and `parent.d<bottom>` stays.
        assert_eq!(all[doc.index][top], None);
    }
}
