//! `explain` and `expand` agree with `check` on every check assertion of
//! the conformance suites: the explanation's verdict is the check's, every
//! node it shows has the value a check of that node gives, every tuple it
//! cites exists, and each operator's shown children justify its value; the
//! expand tree, evaluated for the assertion's subject, gives the check's
//! answer wherever it decides (cycles and cuts leave it open).

mod suites;

use serde_json::Value as Json;

use notion_rbac_core::engine::explain::{explanation_text, tree_contains};
use notion_rbac_core::engine::{self, CheckOptions, Context, MemorySource, TupleSource};
use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{self, SubjectRef};
use notion_rbac_core::validation;

struct Verifier<'a> {
    schema: &'a Schema,
    source: &'a mut MemorySource,
    subject: &'a SubjectRef,
    ctx: &'a Context,
    opts: CheckOptions,
}

impl Verifier<'_> {
    fn check_node(&mut self, node: &str) -> Result<bool, String> {
        let (object, name) = node.rsplit_once('#').ok_or(format!("node without #: {node}"))?;
        let object = tuple::parse_object(object).map_err(|e| e.to_string())?;
        engine::check(self.schema, self.source, &object, name, self.subject, self.ctx, self.opts).map_err(|e| e.to_string())
    }

    fn tuple_exists(&mut self, text: &str) -> Result<bool, String> {
        let t = tuple::parse_tuple(text).map_err(|e| format!("{text}: {e}"))?;
        let mut out = Vec::new();
        self.source.subjects(&t.entity, &t.relation, &mut out).map_err(|e| e.to_string())?;
        Ok(out.contains(&t.subject) || self.ctx.tuples.contains(&t))
    }

    /// Verifies one shown element; returns the value it claims.
    fn verify(&mut self, j: &Json) -> Result<bool, String> {
        let m = j.as_object().ok_or("not an object")?;
        let result = m.get("result").and_then(Json::as_bool);
        if let Some(node) = m.get("node").and_then(Json::as_str) {
            let claimed = result.ok_or("node without result")?;
            if !node.contains('$') && !m.contains_key("rule") {
                let actual = self.check_node(node)?;
                if actual != claimed {
                    return Err(format!("{node}: shown {claimed}, check says {actual}"));
                }
            }
            if let Some(t) = m.get("tuple").and_then(Json::as_str) {
                if !self.tuple_exists(t)? {
                    return Err(format!("{node}: cites {t}, which does not exist"));
                }
            }
            if let Some(b) = m.get("because") {
                let v = self.verify(b)?;
                if claimed && !v {
                    return Err(format!("{node}: true because of something false"));
                }
            }
            for t in m.get("subject_sets").and_then(Json::as_array).into_iter().flatten() {
                if self.verify(&t["because"])? {
                    return Err(format!("{node}: false, yet a subject set shown is true"));
                }
            }
            return Ok(claimed);
        }
        if m.contains_key("walk") {
            let claimed = result.ok_or("walk without result")?;
            if let Some(t) = m.get("tuple").and_then(Json::as_str) {
                if !self.tuple_exists(t)? {
                    return Err(format!("walk cites {t}, which does not exist"));
                }
                if claimed != self.verify(&m["because"])? {
                    return Err("walk's value differs from its target's".into());
                }
            }
            for t in m.get("tuples").and_then(Json::as_array).into_iter().flatten() {
                if self.verify(&t["because"])? {
                    return Err("false walk with a true target".into());
                }
            }
            return Ok(claimed);
        }
        for (op, any) in [("or", true), ("and", false)] {
            if let Some(children) = m.get(op).and_then(Json::as_array) {
                let claimed = result.ok_or("operator without result")?;
                let values = children.iter().map(|c| self.verify(c)).collect::<Result<Vec<_>, _>>()?;
                // `or` true needs one true child shown; `or` false all false;
                // `and` the reverse.
                let ok = if claimed == any { values.iter().any(|v| *v == any) } else { values.iter().all(|v| *v == claimed) };
                if !ok || values.is_empty() {
                    return Err(format!("{op} claims {claimed}, children {values:?}"));
                }
                return Ok(claimed);
            }
        }
        if let Some(n) = m.get("not").and_then(Json::as_object) {
            let claimed = n.get("result").and_then(Json::as_bool).ok_or("not without result")?;
            let base = n.get("base").map(|b| self.verify(b)).transpose()?;
            let subtract = n.get("subtract").map(|s| self.verify(s)).transpose()?;
            let ok = match claimed {
                true => base == Some(true) && subtract != Some(true),
                false => base == Some(false) || subtract == Some(true),
            };
            if !ok {
                return Err(format!("not claims {claimed}: base {base:?}, subtract {subtract:?}"));
            }
            return Ok(claimed);
        }
        result.ok_or_else(|| format!("unrecognised element {j}"))
    }
}

#[test]
fn explain_and_expand_agree_with_check_on_every_conformance_case() {
    let Some(root) = suites::conformance_dir() else { return };
    let (mut cases, mut decided, mut problems) = (0usize, 0usize, Vec::new());
    // Every check assertion that `validation::run` evaluates without an error.
    let mut expected_cases = 0usize;
    for suite in ["permify", "openfga", "spicedb"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(suite)).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files.iter().filter(|p| p.extension().is_some_and(|x| x == "yaml")) {
            let text = std::fs::read_to_string(file).unwrap();
            if let Ok(rows) = validation::run(&text) {
                expected_cases += rows.iter().filter(|r| r.kind == "check" && !r.actual.starts_with("error")).count();
            }
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let _ = validation::for_each_check(&text, |case| {
                let Ok(expected) = engine::check(case.schema, case.source, case.entity, case.permission, case.subject, case.ctx, case.opts) else {
                    return; // an error row (the documented defect): nothing to explain
                };
                cases += 1;
                let label = format!("{suite}/{name}: {}#{}@{}", case.entity, case.permission, case.subject);
                match engine::explain(case.schema, case.source, case.entity, case.permission, case.subject, case.ctx, case.opts, 10_000) {
                    Ok(e) => {
                        if e["result"].as_bool() != Some(expected) {
                            problems.push(format!("{label}: explain says {}, check {expected}", e["result"]));
                        }
                        let text = explanation_text(&e);
                        assert!(text.lines().count() >= 2, "{label}: text {text}");
                        let mut v = Verifier { schema: case.schema, source: &mut *case.source, subject: case.subject, ctx: case.ctx, opts: case.opts };
                        if let Err(why) = v.verify(&e["explanation"]) {
                            problems.push(format!("{label}: {why}\n{}", serde_json::to_string_pretty(&e).unwrap()));
                        }
                    }
                    Err(err) => problems.push(format!("{label}: explain failed: {err}")),
                }
                match engine::expand(case.schema, case.source, case.entity, case.permission, case.ctx, case.opts, 10_000) {
                    Ok(t) => match tree_contains(&t["tree"], case.subject) {
                        Some(v) if v != expected => problems.push(format!("{label}: expand says {v}, check {expected}\n{t}")),
                        Some(_) => decided += 1,
                        None => {}
                    },
                    Err(err) => problems.push(format!("{label}: expand failed: {err}")),
                }
            });
        }
    }
    println!("{cases} check assertions explained; the expand tree decided {decided} of them");
    assert_eq!(cases, expected_cases, "every check assertion must be explained");
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
}
