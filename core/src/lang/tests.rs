//! Unit tests of the language front-end: every rejection of
//! `docs/permify-language.md` §6 with its message and position, the cases
//! Permify does *not* reject, the line-break rules, precedence and tree
//! shapes, and the rule-body quirks.

use crate::error::{Error, ErrorKind, Pos};
use crate::model::{Expr, Leaf, Schema};

use super::compile;

fn ok(source: &str) -> Schema {
    match compile(source) {
        Ok(schema) => schema,
        Err(e) => panic!("expected {source:?} to compile, got {e} (hint: {:?})", e.hint),
    }
}

fn err(source: &str) -> Error {
    match compile(source) {
        Ok(_) => panic!("expected {source:?} to fail"),
        Err(e) => e,
    }
}

/// Asserts kind, message prefix and position of an error.
fn assert_err(source: &str, kind: ErrorKind, starts_with: &str, line: u32, col: u32) -> Error {
    let e = err(source);
    assert_eq!(e.kind, kind, "{e}");
    assert!(e.message.starts_with(starts_with), "message {:?} should start with {starts_with:?}", e.message);
    assert_eq!(e.pos, Some(Pos { line, col }), "{e}");
    e
}

fn expr<'a>(schema: &'a Schema, entity: &str, permission: &str) -> &'a Expr {
    &schema
        .entity(entity)
        .and_then(|e| e.permission(permission))
        .unwrap_or_else(|| panic!("{entity}#{permission} exists"))
        .expr
}

fn c(name: &str) -> Expr {
    Expr::Leaf(Leaf::Computed(name.to_string()))
}

/// A schema with a `doc` entity whose members are `members`.
fn doc(members: &str) -> String {
    format!("entity user {{}}\nentity doc {{\n{members}\n}}\n")
}

const ABC: &str = "relation a @user\nrelation b @user\nrelation c @user\nrelation d @user";

// ---- parser errors ----------------------------------------------------

#[test]
fn unexpected_tokens_use_permifys_wording() {
    assert_err("entity\nuser {}", ErrorKind::Syntax, "expected next token to be IDENT, got NEWLINE instead", 1, 7);
    assert_err("entity user\n{}", ErrorKind::Syntax, "expected next token to be LCB, got NEWLINE instead", 1, 12);
    assert_err(
        "entity user { foo }",
        ErrorKind::Syntax,
        "expected token to be RELATION, PERMISSION, ATTRIBUTE, got IDENT instead",
        1,
        15,
    );
    assert_err("entity user {", ErrorKind::Syntax, "expected token to be RCB, got EOF instead", 1, 14);
    assert_err(
        "entity user { relation owner }",
        ErrorKind::Syntax,
        "expected next token to be SIGN, got RCB instead",
        1,
        30,
    );
    assert_err(
        "entity user { relation owner @ }",
        ErrorKind::Syntax,
        "expected next token to be IDENT, got RCB instead",
        1,
        32,
    );
    assert_err(
        "entity user { relation x @user#... }",
        ErrorKind::Syntax,
        "expected next token to be IDENT, got DOT instead",
        1,
        32,
    );
    assert_err(
        "entity user { attribute x }",
        ErrorKind::Syntax,
        "expected next token to be IDENT, got RCB instead",
        1,
        27,
    );
    assert_err(
        "entity user { attribute x string[ }",
        ErrorKind::Syntax,
        "expected next token to be RSB, got RCB instead",
        1,
        35,
    );
    assert_err(
        "entity user { permission p a }",
        ErrorKind::Syntax,
        "expected next token to be ASSIGN, got IDENT instead",
        1,
        28,
    );
    assert_err("entity relation {}", ErrorKind::Syntax, "expected next token to be IDENT, got RELATION instead", 1, 8);
}

#[test]
fn messages_name_the_declaration_and_hint() {
    let e = err("entity user2 {}");
    assert_eq!(e.message, "expected next token to be LCB, got INTEGER instead (in entity \"user\")");
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("letters and underscores")), "{:?}", e.hint);
    let e = err(&doc("relation owner\n@user"));
    assert!(e.message.ends_with("(in relation \"doc#owner\")"), "{}", e.message);
    let e = err("entity a { relation r @b | @c }\nentity b {}\nentity c {}");
    assert!(e.message.starts_with("expected token to be RELATION, PERMISSION, ATTRIBUTE, got ILLEGAL instead"));
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("spaces")), "{:?}", e.hint);
}

#[test]
fn expressions_without_an_operand() {
    let e = assert_err(
        &doc("relation a @user\npermission p = not a"),
        ErrorKind::Syntax,
        "no prefix parse function for NOT found",
        4,
        16,
    );
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("binary")));
    assert_err(&doc("permission p = }"), ErrorKind::Syntax, "no prefix parse function for RCB found", 3, 16);
    assert_err(&doc("permission p =\n\n a"), ErrorKind::Syntax, "no prefix parse function for NEWLINE found", 4, 1);
    assert_err(
        &doc("relation a @user\npermission p = a or and a"),
        ErrorKind::Syntax,
        "no prefix parse function for AND found",
        4,
        21,
    );
    assert_err(
        &doc("relation a @user\npermission p = (a or)"),
        ErrorKind::Syntax,
        "no prefix parse function for RP found",
        4,
        21,
    );
    assert_err(&doc("permission p = 1"), ErrorKind::Syntax, "no prefix parse function for INTEGER found", 3, 16);
    assert_err(
        &doc("relation a @user\npermission p = a."),
        ErrorKind::Syntax,
        "expected next token to be IDENT, got NEWLINE instead",
        4,
        18,
    );
}

#[test]
fn calls_syntax() {
    assert_err(
        &doc("permission p = r(a b)"),
        ErrorKind::Syntax,
        "expected next token to be RP, got IDENT instead",
        3,
        20,
    );
    assert_err(
        &doc("permission p = r(a,)"),
        ErrorKind::Syntax,
        "expected next token to be IDENT, got RP instead",
        3,
        20,
    );
    assert_err(
        &doc("permission p = r(1)"),
        ErrorKind::Syntax,
        "expected token to be IDENT, got INTEGER instead",
        3,
        18,
    );
}

#[test]
fn duplicates() {
    assert_err("entity user {}\nentity user {}", ErrorKind::Compile, "duplication found for user", 2, 8);
    assert_err(
        "entity user {}\nrule r(x integer) {\n x > 1\n}\nrule r(x integer) {\n x > 1\n}",
        ErrorKind::Compile,
        "duplication found for r",
        5,
        6,
    );
    assert_err(
        "entity user {}\nrule user(x integer) {\n x > 1\n}",
        ErrorKind::Compile,
        "duplication found for user",
        2,
        6,
    );
    let e = assert_err(
        "entity user {}\nentity group {\n relation member @user\n permission member = member\n}",
        ErrorKind::Compile,
        "duplication found for group#member",
        4,
        13,
    );
    assert!(e.message.contains("already declared as a relation at 3:11"), "{}", e.message);
    assert_err(
        &doc("attribute x boolean\nattribute x string"),
        ErrorKind::Compile,
        "duplication found for doc#x",
        4,
        11,
    );
    assert_err(&doc("attribute x boolean\nrelation x @user"), ErrorKind::Compile, "duplication found for doc#x", 4, 10);
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
    let e = err(&doc(&format!("relation a @user\npermission p = {deep}")));
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(e.message.starts_with("expression nested too deeply"), "{e}");
    let long_not = vec!["a"; 400].join(" not ");
    let e = err(&doc(&format!("relation a @user\npermission p = {long_not}")));
    assert!(e.message.starts_with("expression too complex"), "{e}");
    // A long run of one operator is a single n-ary node.
    let long_or = vec!["a"; 5000].join(" or ");
    let s = ok(&doc(&format!("relation a @user\npermission p = {long_or}")));
    assert!(matches!(expr(&s, "doc", "p"), Expr::Or(children) if children.len() == 5000));
}

// ---- compiler errors --------------------------------------------------

#[test]
fn no_entity() {
    assert_err("", ErrorKind::Compile, "no entity references found in schema", 1, 1);
    assert_err(
        "// only a comment\nrule r(x integer) {\n x > 1\n}",
        ErrorKind::Compile,
        "no entity references found in schema",
        1,
        1,
    );
}

#[test]
fn relation_reference_not_found() {
    let e = assert_err(
        &doc("relation owner @team"),
        ErrorKind::Compile,
        "relation reference not found in entity references",
        3,
        17,
    );
    assert_eq!(
        e.message,
        "relation reference not found in entity references: relation \"doc#owner\" allows \"@team\" but there is no \
         entity \"team\""
    );
    let e = err(
        "entity user {}\nentity team { relation lead @user\n permission member = lead }\nentity page { relation reader @user @team#member }",
    );
    assert!(e.message.starts_with("relation reference not found in entity references"));
    assert!(e.message.contains("\"team#member\" is a permission, not a relation"), "{e}");
    let e = err("entity user {}\nentity team {}\nentity page { relation reader @team#member }");
    assert_eq!(
        e.message,
        "relation reference not found in entity references: relation \"page#reader\" allows \"@team#member\" but \
         entity \"team\" has no relation \"member\""
    );
}

#[test]
fn undefined_relation_reference() {
    let e = assert_err(
        "entity user {}\nentity page {\n relation reader @user\n permission read = reader or foo\n}",
        ErrorKind::Compile,
        "undefined relation reference",
        4,
        30,
    );
    assert_eq!(
        e.message,
        "undefined relation reference: permission \"page#read\" refers to \"foo\", which \"page\" does not define"
    );
    // The left side of a walk must be a relation.
    let e = err(&doc("relation a @user\npermission p = a\npermission q = p.a"));
    assert!(e.message.starts_with("undefined relation reference"), "{e}");
    assert!(e.message.contains("\"p\" of \"doc\" is a permission, not a relation"), "{e}");
    // The target must exist on every subject type (polymorphic relation).
    let e = err("entity user {}\nentity company { relation boss @user }\nentity org { relation admin @user }\n\
         entity doc { relation parent @company @org\n permission p = parent.boss }");
    assert!(e.message.starts_with("undefined relation reference"), "{e}");
    assert!(e.message.contains("entity \"org\""), "{e}");
    assert_eq!(e.pos, Some(Pos { line: 5, col: 24 }));
    // Attributes are not walk targets, even boolean ones.
    let e = err(
        "entity user {}\nentity folder { attribute open boolean }\nentity doc { relation parent @folder\n permission p = parent.open }",
    );
    assert!(e.message.starts_with("undefined relation reference"), "{e}");
    assert!(e.message.contains("is an attribute"), "{e}");
    // An attribute on the left of a walk.
    let e = err(&doc("attribute x boolean\npermission p = x.y"));
    assert!(e.message.contains("is an attribute, not a relation"), "{e}");
}

#[test]
fn walks_through_subject_sets_check_the_named_relations_types() {
    // `parent @org#member` validates the target against the types of org#member.
    ok("entity user { permission view = self }\nentity org { relation member @user }\n\
        entity doc { relation parent @org#member\n permission p = parent.view }"
        .replace("permission view = self", "relation view @user")
        .as_str());
    let e = err("entity user {}\nentity org { relation member @user\n relation view @user }\n\
                 entity doc { relation parent @org#member\n permission p = parent.view }");
    assert!(e.message.contains("entity \"user\""), "{e}");
    // Recursive subject sets terminate (Permify would loop forever).
    ok(
        "entity user { relation view @user }\nentity group { relation member @user @group#member\n permission p = member.view }",
    );
}

#[test]
fn not_supported_relation_walk() {
    assert_err(
        &doc("relation parent @doc\npermission p = parent.parent.parent"),
        ErrorKind::Compile,
        "not supported relation walk",
        4,
        30,
    );
}

#[test]
fn schema_compile_for_non_boolean_attribute_operands() {
    let e = assert_err(
        &doc("attribute balance integer\npermission p = balance"),
        ErrorKind::Compile,
        "schema compile",
        4,
        16,
    );
    assert!(e.message.contains("\"balance\" of type integer"), "{e}");
    assert_err(&doc("attribute flags boolean[]\npermission p = flags"), ErrorKind::Compile, "schema compile", 4, 16);
}

#[test]
fn invalid_argument_for_types() {
    let e = assert_err(&doc("attribute amount float"), ErrorKind::Compile, "invalid argument", 3, 18);
    assert_eq!(e.message, "invalid argument: attribute \"doc#amount\" has type \"float\"");
    assert_err("entity user {}\nrule r(x float) {\n x > 1\n}", ErrorKind::Compile, "invalid argument", 2, 10);
    assert_err(&doc("attribute tags string[]\nattribute when date[]"), ErrorKind::Compile, "invalid argument", 4, 16);
}

#[test]
fn rule_call_checks() {
    let rule = "rule check(balance integer) {\n balance > 10\n}";
    let with = |members: &str| format!("{}{rule}\n", doc(members));
    let e = assert_err(
        &with("attribute balance integer\npermission p = nope(balance)"),
        ErrorKind::Compile,
        "invalid rule reference",
        4,
        16,
    );
    assert!(e.message.contains("calls \"nope\", which is not a rule"), "{e}");
    let e = assert_err(
        &with("relation balance @user\npermission p = check(balance)"),
        ErrorKind::Compile,
        "invalid rule reference",
        4,
        16,
    );
    assert!(e.message.contains("is not an attribute of \"doc\" (it is a relation)"), "{e}");
    assert_err(
        &with("attribute balance integer\npermission p = check()"),
        ErrorKind::Compile,
        "missing argument",
        4,
        16,
    );
    assert_err(
        &with("attribute balance integer\nattribute other integer\npermission p = check(balance, other)"),
        ErrorKind::Compile,
        "missing argument",
        5,
        16,
    );
    let e = assert_err(
        &with("attribute bal integer\npermission p = check(bal)"),
        ErrorKind::Compile,
        "invalid argument",
        4,
        22,
    );
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("by name")), "{:?}", e.hint);
    let e = assert_err(
        &with("attribute balance double\npermission p = check(balance)"),
        ErrorKind::Compile,
        "invalid argument",
        4,
        22,
    );
    assert!(e.message.contains("of type double to parameter \"balance\" of type integer"), "{e}");
    assert_err(
        &with("relation parent @doc\npermission p = check(parent.balance)"),
        ErrorKind::Compile,
        "not supported walk",
        4,
        29,
    );
    // A rule with no parameters cannot be called.
    assert_err(
        &format!("{}rule r() {{\n true\n}}", doc("permission p = r()")),
        ErrorKind::Compile,
        "missing argument",
        3,
        16,
    );
}

#[test]
fn call_compiles_to_a_call_leaf() {
    let s = ok(&format!(
        "{}rule check(balance integer) {{\n balance > 10\n}}",
        doc("relation owner @user\nattribute balance integer\npermission p = check(balance) and owner")
    ));
    assert_eq!(
        expr(&s, "doc", "p"),
        &Expr::And(vec![Expr::Leaf(Leaf::Call { rule: "check".into(), args: vec!["balance".into()] }), c("owner")])
    );
}

// ---- not rejected -------------------------------------------------------

#[test]
fn what_permify_does_not_reject() {
    // Cycles between permissions, and a permission referring to itself.
    ok(&doc("relation x @user\npermission a = b\npermission b = a\npermission p = p or x"));
    // Unused relations and entities; a relation whose only type is its entity.
    ok("entity user {}\nentity lonely {}\nentity folder { relation parent @folder }");
    // Junk between top-level declarations.
    ok("hello 123 ; } { ) entity user {} @ # \"str\" permission x = y\nentity doc {}");
    // A permission named like an entity.
    ok(&doc("relation owner @user\npermission user = owner"));
    // A stray `{` in an entity body, members on one line, `;` as separator.
    ok("entity user { { relation a @user relation b @user; permission p = a or b }");
    // An empty schema body per entity.
    ok("entity user {}");
}

// ---- line breaks --------------------------------------------------------

#[test]
fn single_line_break_after_operators_is_skipped() {
    let s = ok(&doc(&format!("{ABC}\npermission p = a or\n    b")));
    assert_eq!(expr(&s, "doc", "p"), &Expr::Or(vec![c("a"), c("b")]));
    ok(&doc(&format!("{ABC}\npermission p =\n    a or b")));
    ok(&doc(&format!("{ABC}\npermission p = (\n a or b)")));
    ok(&doc(&format!("{ABC}\npermission p = a not\n b")));
    ok(&doc(&format!("{ABC}\npermission p = a and // comment\n b")));
}

#[test]
fn other_line_breaks_end_the_expression() {
    assert_err(
        &doc(&format!("{ABC}\npermission p = a\n    or b")),
        ErrorKind::Syntax,
        "expected token to be RELATION, PERMISSION, ATTRIBUTE, got OR instead",
        8,
        5,
    );
    assert_err(
        &doc(&format!("{ABC}\npermission p = a or\n\n b")),
        ErrorKind::Syntax,
        "no prefix parse function for NEWLINE found",
        8,
        1,
    );
    assert_err(
        &doc(&format!("{ABC}\npermission p = a or\r\n b")),
        ErrorKind::Syntax,
        "no prefix parse function for NEWLINE found",
        7,
        21,
    );
    assert_err(
        &doc(&format!("{ABC}\npermission p = (a or b\n)")),
        ErrorKind::Syntax,
        "expected next token to be RP, got NEWLINE instead",
        7,
        23,
    );
    assert_err(
        &doc("relation owner @user\n  @user"),
        ErrorKind::Syntax,
        "expected token to be RELATION, PERMISSION, ATTRIBUTE, got SIGN instead",
        4,
        3,
    );
}

#[test]
fn crlf_line_endings_work_outside_continuations() {
    let source = doc(&format!("{ABC}\npermission p = a or b")).replace('\n', "\r\n");
    let s = ok(&source);
    assert_eq!(expr(&s, "doc", "p"), &Expr::Or(vec![c("a"), c("b")]));
    // Positions count lines by `\n`.
    let e = err("entity user {}\r\nentity doc {\r\n relation r @nobody\r\n}");
    assert_eq!(e.pos, Some(Pos { line: 3, col: 14 }));
}

#[test]
fn semicolons_are_line_breaks() {
    let s = ok("entity user {}; entity doc { relation a @user; relation b @user; permission p = a or b }");
    assert_eq!(expr(&s, "doc", "p"), &Expr::Or(vec![c("a"), c("b")]));
    assert_err(
        &doc(&format!("{ABC}\npermission p = a; or b")),
        ErrorKind::Syntax,
        "expected token to be RELATION, PERMISSION, ATTRIBUTE, got OR instead",
        7,
        19,
    );
}

// ---- precedence and tree shapes ------------------------------------------

#[test]
fn one_precedence_level_left_to_right() {
    let s = ok(&doc(&format!(
        "{ABC}\npermission p_a = a or b and c\npermission p_b = a and b or c\npermission p_c = a not b not c\n\
         permission p_d = a or b or c or d\npermission p_e = a or (b and c)\npermission p_f = a and b and c not d\n\
         permission p_g = (a or b) or c\npermission p_h = ((a))"
    )));
    assert_eq!(expr(&s, "doc", "p_a"), &Expr::And(vec![Expr::Or(vec![c("a"), c("b")]), c("c")]));
    assert_eq!(expr(&s, "doc", "p_b"), &Expr::Or(vec![Expr::And(vec![c("a"), c("b")]), c("c")]));
    assert_eq!(
        expr(&s, "doc", "p_c"),
        &Expr::Not(Box::new(Expr::Not(Box::new(c("a")), Box::new(c("b")))), Box::new(c("c")))
    );
    assert_eq!(expr(&s, "doc", "p_d"), &Expr::Or(vec![c("a"), c("b"), c("c"), c("d")]));
    assert_eq!(expr(&s, "doc", "p_e"), &Expr::Or(vec![c("a"), Expr::And(vec![c("b"), c("c")])]));
    assert_eq!(expr(&s, "doc", "p_f"), &Expr::Not(Box::new(Expr::And(vec![c("a"), c("b"), c("c")])), Box::new(c("d"))));
    // Parentheses are kept as written: they are the user's grouping.
    assert_eq!(expr(&s, "doc", "p_g"), &Expr::Or(vec![Expr::Or(vec![c("a"), c("b")]), c("c")]));
    assert_eq!(expr(&s, "doc", "p_h"), &c("a"));
}

#[test]
fn mixed_operators_warn() {
    let s = ok(&doc(&format!("{ABC}\npermission view = a or b and c")));
    assert_eq!(s.warnings.len(), 1);
    let w = &s.warnings[0];
    assert_eq!(
        w.message,
        "permission \"doc#view\" mixes \"or\" and \"and\" without parentheses; Permify evaluates them left to right \
         with equal precedence, as ((a or b) and c)"
    );
    assert_eq!(w.pos, Pos { line: 7, col: 26 });
    assert!(w.hint.as_deref().is_some_and(|h| h.contains("parentheses")));
    let s = ok(&doc(&format!("{ABC}\npermission v = a or b or c not d")));
    assert!(s.warnings[0].message.ends_with("as ((a or b or c) not d)"), "{}", s.warnings[0].message);
    // Parenthesised mixing and single-operator runs do not warn.
    let s = ok(&doc(&format!("{ABC}\npermission v = (a or b) and c\npermission w = a not b not c")));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // Each level is judged on its own.
    let s = ok(&doc(&format!("{ABC}\npermission v = a and (b or c and d)")));
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].message.ends_with("as ((b or c) and d)"));
    // A level of 200,000 operands: the reading is built in one pass and cut.
    let s = ok(&doc(&format!("{ABC}\npermission v = a{} and c", " or b".repeat(200_000))));
    let m = &s.warnings[0].message;
    assert!(m.len() < 1000 && m.contains("as ((a or b or b") && m.ends_with(" …"), "{}", m.len());
}

#[test]
fn leaf_kinds() {
    let s = ok("entity user {}\nentity folder { relation viewer @user\n permission view = viewer }\n\
                entity doc { relation parent @folder\n relation owner @user\n attribute public boolean\n\
                 permission own = owner\n permission p = own or public or parent.view or parent.viewer }");
    assert_eq!(
        expr(&s, "doc", "p"),
        &Expr::Or(vec![
            c("own"),
            Expr::Leaf(Leaf::Attribute("public".into())),
            Expr::Leaf(Leaf::Walk { relation: "parent".into(), target: "view".into() }),
            Expr::Leaf(Leaf::Walk { relation: "parent".into(), target: "viewer".into() }),
        ])
    );
}

#[test]
fn model_keeps_declarations_and_positions() {
    let s = ok(
        "entity user {}\nentity doc {\n  relation owner @user @doc#owner\n  attribute tags string[]\n  action edit = owner\n}",
    );
    let d = s.entity("doc").expect("doc");
    assert_eq!(d.pos, Pos { line: 2, col: 8 });
    let owner = d.relation("owner").expect("owner");
    assert_eq!(owner.pos, Pos { line: 3, col: 12 });
    assert_eq!(owner.subject_types.iter().map(|t| t.to_string()).collect::<Vec<_>>(), vec!["@user", "@doc#owner"]);
    assert_eq!(d.attribute("tags").map(|a| a.ty.to_string()), Some("string[]".into()));
    assert!(d.permission("edit").is_some(), "action is an alias of permission");
    assert_eq!(s.entities.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), vec!["user", "doc"]);
}

// ---- rules ----------------------------------------------------------------

fn rule_schema(rule: &str) -> String {
    format!("entity user {{}}\n{rule}\n")
}

#[test]
fn rule_bodies_are_reassembled_from_tokens() {
    // The usual layout: the body starts with the line break after `{`.
    let s = ok(&rule_schema("rule r(n integer) {\n    n >= context.data.amount && n < 10\n}"));
    let r = s.rule("r").expect("rule");
    assert_eq!(r.body, "\nn >= context.data.amount && n < 10");
    assert_eq!(r.params, vec![("n".to_string(), crate::model::AttrType::parse("integer").expect("type"))]);
    // On the line of `{`, the space between the first two tokens is lost
    // and the token before `}` (here a space) is dropped.
    let s = ok(&rule_schema("rule r(n integer) { n > 1 }"));
    assert_eq!(s.rule("r").map(|r| r.body.as_str()), Some("n> 1"));
    // Single quotes survive; a trailing comma in the parameters is accepted.
    let s = ok(&rule_schema("rule r(day string, days string[],) {\n  day != 'saturday' && day in days\n}"));
    assert_eq!(s.rule("r").map(|r| r.body.as_str()), Some("\nday != 'saturday' && day in days"));
    // A comment on the first body line is skipped, like white space.
    let s = ok(&rule_schema("rule r(n integer) { // first\n  n > 1\n}"));
    assert_eq!(s.rule("r").map(|r| r.body.as_str()), Some("\nn > 1"));
}

#[test]
fn rule_body_quirks_fail_with_explanations() {
    // Double quotes are lost.
    let e = assert_err(
        &rule_schema("rule r(day string) {\n  day != \"saturday\"\n}"),
        ErrorKind::Compile,
        "undeclared reference to 'saturday'",
        3,
        11,
    );
    assert!(e.message.ends_with("(in rule \"r\")"), "{e}");
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("single quotes")), "{:?}", e.hint);
    assert!(e.detail.as_deref().is_some_and(|d| d.contains("day != saturday")), "{:?}", e.detail);
    // The last token is dropped when `}` follows it directly.
    let e = err(&rule_schema("rule r(n integer) {\n  n > 1}"));
    assert!(e.message.starts_with("Syntax error"), "{e}");
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("own line")), "{:?}", e.hint);
    // A `}` inside the body ends it.
    let e = err(&rule_schema("rule r(n integer) {\n  {'a': n}['a'] > 1\n}"));
    assert!(e.message.starts_with("Syntax error"), "{e}");
    // Comments after the first line are pasted without `//`.
    let e = err(&rule_schema("rule r(n integer) {\n  n > 1 // check\n}"));
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("comments")), "{:?}", e.hint);
    // On the `{` line, tokens can merge: `a in b` becomes `ain b`.
    let e = err(&rule_schema("rule r(a string, b string[]) { a in b\n}"));
    assert!(e.message.starts_with("undeclared reference to 'ain'") || e.message.starts_with("Syntax error"), "{e}");
    // An unclosed body.
    assert_err(
        &rule_schema("rule r(n integer) {\n  n > 1\n"),
        ErrorKind::Syntax,
        "expected next token to be RCB, got EOF instead",
        5,
        1,
    );
}

#[test]
fn rule_body_type_checks() {
    let e = assert_err(
        &rule_schema("rule r(n integer) {\n  n + 1\n}"),
        ErrorKind::Compile,
        "rule expression must result in a boolean type not int",
        2,
        6,
    );
    assert!(e.message.ends_with("(in rule \"r\")"));
    assert!(err(&rule_schema("rule r(n integer) {\n  'text'\n}")).message.contains("not string"));
    assert!(err(&rule_schema("rule r(t string[]) {\n  t\n}")).message.contains("not list(string)"));
    assert!(err(&rule_schema("rule r(n integer) {\n  context.data.flag\n}")).message.contains("not dyn"));
    // What cannot be decided statically is left to run time.
    ok(&rule_schema("rule r(n integer) {\n  context.data.flag == true || size(context.data.list) > n\n}"));
    ok(&rule_schema("rule r(t string[]) {\n  t.exists(x, x == 'a') && !t.all(x, x == 'b')\n}"));
    // CEL syntax errors point into the schema.
    let e = assert_err(&rule_schema("rule r(n integer) {\n  n > > 1\n}"), ErrorKind::Compile, "Syntax error", 3, 7);
    assert!(e.message.ends_with("(in rule \"r\")"));
}

#[test]
fn rule_parameter_problems() {
    assert_err(
        &rule_schema("rule r(n integer, n string) {\n  n > 1\n}"),
        ErrorKind::Compile,
        "overlapping identifier for name 'n'",
        2,
        19,
    );
    assert_err(
        &rule_schema("rule r(context integer) {\n  context > 1\n}"),
        ErrorKind::Compile,
        "overlapping identifier for name 'context'",
        2,
        8,
    );
    assert_err(
        &rule_schema("rule r(n integer\n) {\n  n > 1\n}"),
        ErrorKind::Syntax,
        "expected next token to be RP, got NEWLINE instead",
        2,
        17,
    );
    assert_err(
        &rule_schema("rule r(n integer)\n{\n  n > 1\n}"),
        ErrorKind::Syntax,
        "expected next token to be LCB, got NEWLINE instead",
        2,
        18,
    );
}

#[test]
fn lost_quotes_that_still_compile_warn() {
    let s = ok(&rule_schema("rule r(tags string[]) {\n  'x' in \"tags\"\n}"));
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].message.contains("loses its quotes"), "{:?}", s.warnings);
}

#[test]
fn rules_evaluate_with_cel() {
    let s = ok(&rule_schema("rule r(balance integer) {\n  balance >= 100\n}"));
    let rule = s.rule("r").expect("rule");
    let mut context = cel::Context::default();
    context.add_variable_from_value("balance", 150i64);
    assert_eq!(rule.program.execute(&context), Ok(cel::Value::Bool(true)));
}

#[test]
fn compiled_schemas_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Schema>();
}

#[test]
fn rule_bodies_are_bounded_before_and_after_parsing() {
    // Eight levels of brackets parse; the ninth is refused before cel-rust
    // sees it (its parser needs a lot of stack per level).
    ok(&rule_schema("rule r(n integer) {\n  ([([([([n])])])])[0][0][0][0] > 1\n}"));
    let e = assert_err(
        &rule_schema("rule r(n integer) {\n  (((((((((((((((((((((((((n\n}"),
        ErrorKind::Compile,
        "rule body nested too deeply",
        3,
        11,
    );
    assert!(e.message.ends_with("(in rule \"r\")"));
    // Brackets count inside string literals too; balanced ones cancel out.
    ok(&rule_schema("rule r(s string) {\n  s == '((((((((x))))))))' && s != '[[[[[[[[x]]]]]]]]'\n}"));
    assert!(
        err(&rule_schema("rule r(s string) {\n  s == '((((((((('\n}"))
            .message
            .starts_with("rule body nested too deeply")
    );
    let long = vec!["n"; 600].join(" + ");
    let e = err(&rule_schema(&format!("rule r(n integer) {{\n  {long} > 1\n}}")));
    assert!(e.message.starts_with("rule body too complex: more than 500 operators"), "{e}");
    // `in` is an operator too (left-deep like `+`): a chain of 150,000
    // would overflow the stack inside the CEL parser.
    let e = err(&rule_schema(&format!("rule r(n integer[]) {{\n  1{}\n}}", " in n".repeat(600))));
    assert!(e.message.starts_with("rule body too complex: more than 500 operators"), "{e}");
    let e = err(&rule_schema(&format!("rule r(n integer[]) {{\n  1{}\n}}", " in n".repeat(150_000))));
    assert!(e.message.starts_with("rule body too complex: more than 500 operators"), "{e}");
    // A word that only contains `in` is no operator.
    ok(&rule_schema("rule r(inside integer[], index integer) {\n  index in inside\n}"));
    let chain = vec!["n"; 40].join(" + ");
    let e = err(&rule_schema(&format!("rule r(n integer) {{\n  {chain} > 1\n}}")));
    assert!(e.message.starts_with("rule body too complex: its expression is nested more than 32"), "{e}");
    // Long `&&` chains are balanced and fine.
    ok(&rule_schema(&format!("rule r(n integer) {{\n  {}\n}}", vec!["n > 1"; 200].join(" && "))));
    // Loops over literals alone poll nothing: three nested loops at most,
    // 256 literal list elements in all.
    let list = |n: usize| format!("[{}]", (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    ok(&rule_schema(&format!(
        "rule r(n integer) {{\n  {l}.all(a, {l}.all(b, {l}.all(c, a + b + c >= n)))\n}}",
        l = list(10)
    )));
    let e = err(&rule_schema(&format!(
        "rule r(n integer) {{\n  {l}.all(a, {l}.all(b, {l}.all(c, {l}.all(d, a + b + c + d >= n))))\n}}",
        l = list(2)
    )));
    assert!(e.message.starts_with("rule body too costly: more than 3 nested"), "{e}");
    ok(&rule_schema(&format!("rule r(n integer) {{\n  n in {}\n}}", list(256))));
    let e = err(&rule_schema(&format!("rule r(n integer) {{\n  n in {}\n}}", list(257))));
    assert!(e.message.starts_with("rule body too costly: list literals of more than 256"), "{e}");
}

// ---- limits the storage relies on ------------------------------------

#[test]
fn duplicate_subject_types_are_compile_errors() {
    assert_err(
        "entity user {}\nentity doc {\n  relation viewer @user @user\n}",
        ErrorKind::Compile,
        "duplicate subject type: relation \"doc#viewer\" lists \"@user\" more than once",
        3,
        26,
    );
    assert_err(
        "entity user {}\nentity team { relation member @user }\nentity doc { relation viewer @team#member @user @team#member }",
        ErrorKind::Compile,
        "duplicate subject type",
        3,
        50,
    );
    // The same type with and without a relation is two subject types.
    ok("entity user {}\nentity team { relation member @user @team#member @team }");
}

#[test]
fn names_longer_than_64_characters_are_compile_errors() {
    let long = "a".repeat(65);
    assert_err(&format!("entity user {{}}\nentity {long} {{}}"), ErrorKind::Compile, "name too long", 2, 8);
    assert_err(&doc(&format!("relation {long} @user")), ErrorKind::Compile, "name too long", 3, 10);
    let huge = "b".repeat(1_000_000);
    let e = err(&doc(&format!("permission {huge} = {huge}")));
    assert!(e.message.len() < 200, "the message does not repeat the name: {}", e.message.len());
    ok(&doc(&format!("relation {} @user", "a".repeat(64))));
}

/// Errors quote what the caller sent at most 128 characters long, however
/// long the name, number or rule body (the length check on names runs only
/// after parsing, so parse errors meet them whole).
#[test]
fn errors_quote_long_input_shortly() {
    let long = "x".repeat(100_000);
    for schema in [
        format!("entity {long} {{ relation }}"),
        format!("entity user {{}}\nentity {long} {{}}\nentity {long} {{}}"),
        format!("entity user {{ relation {long}{} @user }}", "1".repeat(100_000)),
        format!("entity user {{}}\nrule r(a integer) {{\n  a {} \n}}", "+ ".repeat(300) + &"a".repeat(100_000)),
    ] {
        let e = err(&schema);
        let shown = format!("{e} {}", e.detail.as_deref().unwrap_or(""));
        assert!(shown.len() < 2_000, "{} bytes: {}", shown.len(), &shown[..200]);
    }
}
