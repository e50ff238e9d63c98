//! Property/fuzz tests: `compile` and the tuple/attribute parsers never
//! panic, and always return either a value or a well-formed error (a
//! non-empty message; for schema errors a position inside the input).
//!
//! Inputs: random bytes, random soups of the language's tokens, and
//! mutations (byte flips, deletions, insertions, truncations) of real
//! schemas — the conformance suites' and the seed documents. Case counts
//! are kept small enough for CI (a few seconds on two cores).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use notion_rbac_core::Error;
use notion_rbac_core::lang::compile;
use notion_rbac_core::tuple::{parse_attribute, parse_object, parse_subject, parse_tuple};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Number of lines of `source` as positions count them (by `\n`).
fn line_count(source: &str) -> u32 {
    1 + source.bytes().filter(|&b| b == b'\n').count() as u32
}

fn check_error(source: &str, error: &Error, needs_pos: bool) -> Result<(), TestCaseError> {
    prop_assert!(!error.message.trim().is_empty(), "empty message for {:?}", source);
    match error.pos {
        Some(pos) => {
            prop_assert!(pos.line >= 1 && pos.col >= 1, "position {} for {:?}", pos, source);
            prop_assert!(pos.line <= line_count(source), "line {} beyond the input {:?}: {}", pos.line, source, error);
        }
        None => prop_assert!(!needs_pos, "no position for {:?}: {}", source, error),
    }
    Ok(())
}

/// Compiles `source` and checks the outcome is well-formed.
fn compile_is_well_formed(source: &str) -> Result<(), TestCaseError> {
    match compile(source) {
        Ok(schema) => {
            for warning in &schema.warnings {
                prop_assert!(!warning.message.is_empty());
                prop_assert!(warning.pos.line >= 1 && warning.pos.line <= line_count(source));
            }
            Ok(())
        }
        Err(error) => check_error(source, &error, true),
    }
}

/// Runs every text parser on `text` and checks the outcomes.
fn parsers_are_well_formed(text: &str) -> Result<(), TestCaseError> {
    let results = [
        parse_tuple(text).map(|_| ()),
        parse_attribute(text).map(|_| ()),
        parse_subject(text).map(|_| ()),
        parse_object(text).map(|_| ()),
    ];
    for result in results {
        if let Err(error) = result {
            check_error(text, &error, false)?;
            prop_assert!(error.pos.is_none());
        }
    }
    Ok(())
}

/// Real schemas to mutate: every `schema:` of the conformance suites and
/// the seed documents.
fn corpus() -> &'static [String] {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
        let mut files = Vec::new();
        collect(&shared.join("conformance"), &mut files);
        files.sort();
        let mut corpus: Vec<String> = files
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .filter_map(|text| serde_saphyr::from_str::<SchemaOnly>(&text).ok())
            .map(|shape| shape.schema)
            .collect();
        if let Ok(entries) = std::fs::read_dir(shared.join("seeds")) {
            let mut seeds: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            seeds.sort();
            corpus.extend(seeds.iter().filter_map(|p| std::fs::read_to_string(p).ok()));
        }
        corpus.push(FALLBACK.to_string());
        corpus
    })
}

/// The schemas of the corpus that declare rules or attributes.
fn rich_corpus() -> &'static [String] {
    static RICH: OnceLock<Vec<String>> = OnceLock::new();
    RICH.get_or_init(|| corpus().iter().filter(|s| s.contains("rule ") || s.contains("attribute ")).cloned().collect())
}

/// A schema exercising every construct, in case the shared files are absent.
const FALLBACK: &str = "entity user {}\nentity org { relation member @user\n attribute credit integer\n \
    permission view = check(credit) and member }\nentity repo { relation org @org\n relation owner @user @org#member\n \
    attribute public boolean\n permission read = (owner or public) not org.view\n action edit =\n  owner and\n  org.member }\n\
    rule check(credit integer) {\n  credit > 5000 && context.data.day in ['mon']\n}\n";

#[derive(serde::Deserialize)]
struct SchemaOnly {
    schema: String,
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// Pieces of the language (and of CEL and tuple text) to build soups from.
const VOCABULARY: &[&str] = &[
    "entity",
    "relation",
    "attribute",
    "permission",
    "action",
    "rule",
    "and",
    "or",
    "not",
    "in",
    "true",
    "false",
    "user",
    "doc",
    "owner",
    "parent",
    "view",
    "x",
    "_",
    "boolean",
    "string",
    "integer",
    "double",
    "float",
    "[]",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "@",
    "#",
    ".",
    ",",
    "=",
    ":",
    "$",
    "|",
    ";",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "//c\n",
    "/*",
    "*/",
    "\"",
    "\"s\"",
    "'",
    "\\",
    "1",
    "2.5",
    "...",
    "*",
    "é",
    "\u{0}",
    "context.data.x",
    "&&",
    "||",
    ">=",
    "!",
    "?",
    "%",
    "^",
    "-",
    "+",
    "<",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec((0..VOCABULARY.len(), prop::bool::ANY), 0..60).prop_map(|pieces| {
        let mut text = String::new();
        for (index, spaced) in pieces {
            text.push_str(VOCABULARY[index]);
            if spaced {
                text.push(' ');
            }
        }
        text
    })
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Insert { at: usize, piece: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..VOCABULARY.len()).prop_map(|(at, piece)| Mutation::Insert { at, piece }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutate(source: &str, mutations: &[Mutation]) -> String {
    let mut bytes = source.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Flip { at, byte } if len > 0 => bytes[at % len] = byte,
            Mutation::Delete { at, len: n } if len > 0 => {
                let start = at % len;
                bytes.drain(start..(start + n).min(len));
            }
            Mutation::Insert { at, piece } => {
                let start = at % (len + 1);
                let piece = VOCABULARY[piece].as_bytes();
                bytes.splice(start..start, piece.iter().copied());
            }
            Mutation::Truncate { at } => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `cases` per property, or `LANG_FUZZ_CASES` when set (for a longer
/// local run: `LANG_FUZZ_CASES=100000 cargo test --release --test lang_fuzz`).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("LANG_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, max_shrink_iters: 256, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        compile_is_well_formed(&text)?;
        parsers_are_well_formed(&text)?;
    }

    #[test]
    fn token_soups(text in soup()) {
        compile_is_well_formed(&text)?;
        parsers_are_well_formed(&text)?;
        let wrapped = format!("entity user {{}}\nentity doc {{\n relation r @user\n permission p = {text}\n}}\nrule q(x integer) {{\n{text}\n}}");
        compile_is_well_formed(&wrapped)?;
    }

    #[test]
    fn bracket_soups_in_rule_bodies(body in "[(\\[{}\\])x+.!?,' \"\\\\\n]{0,120}") {
        compile_is_well_formed(&format!("entity user {{}}\nrule r(x integer) {{\n{body}\n}}"))?;
    }

    #[test]
    fn tuple_like_soups(parts in prop::collection::vec(prop_oneof![
        Just(":"), Just("#"), Just("@"), Just("$"), Just("|"), Just(","), Just("..."), Just(" "), Just("a"),
        Just("1"), Just("integer"), Just("boolean[]"), Just("string"), Just("double"), Just("true"), Just("-"),
        Just("1e999"), Just("é"),
    ], 0..16)) {
        parsers_are_well_formed(&parts.concat())?;
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn mutated_schemas(which in any::<usize>(), rich in any::<bool>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        // Half of the cases start from a schema with rules and attributes.
        let corpus = if rich { rich_corpus() } else { corpus() };
        let source = &corpus[which % corpus.len()];
        compile_is_well_formed(&mutate(source, &mutations))?;
    }
}

/// Every prefix of a few real schemas (truncation at every byte) behaves.
#[test]
fn every_truncation_of_small_schemas() {
    let corpus = corpus();
    let mut small: Vec<&String> = corpus.iter().filter(|s| s.len() < 1200).collect();
    small.sort_by_key(|s| s.len());
    small.dedup();
    for source in small.iter().rev().take(6).chain(std::iter::once(&&FALLBACK.to_string())) {
        for end in 0..=source.len() {
            if !source.is_char_boundary(end) {
                continue;
            }
            let prefix = &source[..end];
            if let Err(failure) = compile_is_well_formed(prefix) {
                panic!("{failure}");
            }
        }
    }
}
