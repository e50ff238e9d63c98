//! One error type for the whole core.
//!
//! Every error carries a [`ErrorKind`] (which the SQL layer maps onto a
//! SQLSTATE), a message in Permify's wording where Permify has one, and —
//! for schema errors — the 1-based line and column in the schema source.
//! Messages never contain secrets: the core never sees any.

use std::fmt;

/// A position in schema source text, 1-based like Permify's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// What went wrong, coarse enough to map onto a SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The schema text does not parse (SQLSTATE 42601 syntax_error).
    Syntax,
    /// The schema parses but does not compile: undefined references,
    /// duplicates, bad types, rule problems (42P17 invalid_object_definition).
    Compile,
    /// Malformed tuple, subject, object or attribute text (22P02
    /// invalid_text_representation).
    InvalidText,
    /// Well-formed data that does not fit the active schema: unknown entity
    /// type or relation in a tuple, a subject type the relation does not
    /// allow, an attribute of the wrong type (23514 check_violation).
    SchemaViolation,
    /// A check or lookup names an entity type, permission or relation the
    /// schema does not have (42704 undefined_object).
    UndefinedName,
    /// A non-cyclic chain of dispatches deeper than the configured maximum
    /// (54001 statement_too_complex).
    DepthExceeded,
    /// A permission has no value: it depends on its own exclusion through a
    /// cycle in the data (`x = a not y`, `y = next.x` with `next` cyclic), so
    /// it is neither true nor false in the well-founded model (22000
    /// data_exception: the data, not the statement, must change).
    Undetermined,
    /// A call needed more work or memory than a documented setting allows
    /// (54000 program_limit_exceeded).
    LimitExceeded,
    /// A rule (CEL) failed at run time, e.g. a missing `context.data` key
    /// (22023 invalid_parameter_value).
    RuleEvaluation,
    /// A request argument is invalid, e.g. a context that is not an object
    /// (22023 invalid_parameter_value).
    InvalidArgument,
    /// A validation file that is not valid YAML or not of Permify's shape
    /// (22P02 invalid_text_representation).
    InvalidValidationFile,
    /// No schema has been written yet (55000 object_not_in_prerequisite_state).
    NoSchema,
    /// An encrypted token could not be decrypted: it was altered, copied from
    /// another row or column, or its key is not in the key file (39000
    /// external_routine_invocation_exception — pgcrypto raises the same code
    /// for "Wrong key or corrupt data", so clients already know it).
    Decrypt,
    /// The token key file is not configured, unreadable, too permissive or
    /// malformed (F0000 config_file_error: the fix is always in the server's
    /// configuration, never in the statement).
    KeyConfig,
    /// A bug or an impossible state (XX000 internal_error).
    Internal,
}

impl ErrorKind {
    /// The five-character SQLSTATE the SQL layer raises for this kind.
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "42601",
            ErrorKind::Compile => "42P17",
            ErrorKind::InvalidText => "22P02",
            ErrorKind::SchemaViolation => "23514",
            ErrorKind::UndefinedName => "42704",
            ErrorKind::DepthExceeded => "54001",
            ErrorKind::Undetermined => "22000",
            ErrorKind::LimitExceeded => "54000",
            ErrorKind::RuleEvaluation => "22023",
            ErrorKind::InvalidArgument => "22023",
            ErrorKind::InvalidValidationFile => "22P02",
            ErrorKind::NoSchema => "55000",
            ErrorKind::Decrypt => "39000",
            ErrorKind::KeyConfig => "F0000",
            ErrorKind::Internal => "XX000",
        }
    }
}

/// An error from the core.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    /// The primary message (Permify's wording where it has one).
    pub message: String,
    /// Where in the schema source, for syntax and compile errors.
    pub pos: Option<Pos>,
    /// Extra detail (e.g. the list of tuples that no longer fit).
    pub detail: Option<String>,
    /// A suggestion for the user.
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), pos: None, detail: None, hint: None }
    }
    pub fn at(kind: ErrorKind, pos: Pos, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), pos: Some(pos), detail: None, hint: None }
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
}

/// A name or id from the caller as an error message shows it: whole up to
/// 128 characters, else its first 128 and its length. Messages stay short
/// whatever is sent, and building one costs nothing however long the input.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 128;
    match text.char_indices().nth(SHOWN) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}… ({} bytes)", &text[..cut], text.len())),
    }
}

impl fmt::Display for Error {
    /// `line:col: message` when there is a position (Permify's compiler
    /// format), the bare message otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}: {}", p, self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}
