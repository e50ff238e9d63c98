//! Tokens of the Permify schema language.
//!
//! The lexer reproduces Permify's token rules byte for byte, because which
//! schemas are accepted depends on them:
//!
//! - identifiers are `[A-Za-z_]+`: a digit ends an identifier (`user2` is the
//!   identifier `user` followed by the integer `2`);
//! - `\n`, `\r` **and `;`** are all [`TokenKind::Newline`], so CRLF gives two;
//! - spaces, tabs and comments are *trivia*: the parser skips them, except
//!   inside rule bodies, whose text is rebuilt from every token (see
//!   [`super::parser`]);
//! - a string token's text is its content without the quotes, with the escapes
//!   `\n`, `\t`, `\"`, `\\` resolved (any other escape is dropped whole);
//! - any byte that is not part of a token is [`TokenKind::Illegal`];
//! - a NUL byte ends the input, as in Permify's lexer.
//!
//! Deviations that cannot change what is accepted: a non-ASCII character is
//! one `Illegal` token rather than one per byte (so token texts stay valid
//! UTF-8 and rule bodies keep such characters intact), and positions are
//! exact (1-based line and character column of the token's first
//! character; only `\n` starts a new line) rather than Permify's lexer
//! cursor.

use std::borrow::Cow;

use crate::error::Pos;

/// The kind of a token. [`TokenKind::name`] gives Permify's name for it,
/// which appears in syntax error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Eof,
    Illegal,
    Newline,
    Ident,
    String,
    Integer,
    Double,
    Boolean,
    Comma,
    Lcb,
    Rcb,
    Lp,
    Rp,
    Assign,
    Sign,
    Colon,
    Hash,
    Qm,
    Dot,
    Lsb,
    Rsb,
    Excl,
    Plus,
    Minus,
    Times,
    Divide,
    Mod,
    Pow,
    Gt,
    Lt,
    Apostrophe,
    Ampersand,
    Entity,
    Relation,
    /// `permission` and its alias `action`.
    Permission,
    Attribute,
    Rule,
    And,
    Or,
    Not,
    In,
    SingleLineComment,
    MultiLineComment,
    Space,
    Tab,
}

impl TokenKind {
    /// Permify's name of the token type, as its error messages print it.
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Eof => "EOF",
            TokenKind::Illegal => "ILLEGAL",
            TokenKind::Newline => "NEWLINE",
            TokenKind::Ident => "IDENT",
            TokenKind::String => "STRING",
            TokenKind::Integer => "INTEGER",
            TokenKind::Double => "DOUBLE",
            TokenKind::Boolean => "BOOLEAN",
            TokenKind::Comma => "COMMA",
            TokenKind::Lcb => "LCB",
            TokenKind::Rcb => "RCB",
            TokenKind::Lp => "LP",
            TokenKind::Rp => "RP",
            TokenKind::Assign => "ASSIGN",
            TokenKind::Sign => "SIGN",
            TokenKind::Colon => "COLON",
            TokenKind::Hash => "HASH",
            TokenKind::Qm => "QM",
            TokenKind::Dot => "DOT",
            TokenKind::Lsb => "LSB",
            TokenKind::Rsb => "RSB",
            TokenKind::Excl => "EXCL",
            TokenKind::Plus => "PLUS",
            TokenKind::Minus => "MINUS",
            TokenKind::Times => "TIMES",
            TokenKind::Divide => "DIVIDE",
            TokenKind::Mod => "MOD",
            TokenKind::Pow => "POW",
            TokenKind::Gt => "GT",
            TokenKind::Lt => "LT",
            TokenKind::Apostrophe => "APOSTROPHE",
            TokenKind::Ampersand => "AMPERSAND",
            TokenKind::Entity => "ENTITY",
            TokenKind::Relation => "RELATION",
            TokenKind::Permission => "PERMISSION",
            TokenKind::Attribute => "ATTRIBUTE",
            TokenKind::Rule => "RULE",
            TokenKind::And => "AND",
            TokenKind::Or => "OR",
            TokenKind::Not => "NOT",
            TokenKind::In => "IN",
            TokenKind::SingleLineComment => "SINGLE_LINE_COMMENT",
            TokenKind::MultiLineComment => "MULTI_LINE_COMMENT",
            TokenKind::Space => "SPACE",
            TokenKind::Tab => "TAB",
        }
    }

    /// Tokens the parser skips between declarations (but not in rule bodies).
    pub fn is_trivia(self) -> bool {
        matches!(self, TokenKind::Space | TokenKind::Tab | TokenKind::SingleLineComment | TokenKind::MultiLineComment)
    }

    /// The keyword an identifier spells, if any.
    fn keyword(word: &str) -> Option<TokenKind> {
        Some(match word {
            "entity" => TokenKind::Entity,
            "relation" => TokenKind::Relation,
            "action" | "permission" => TokenKind::Permission,
            "attribute" => TokenKind::Attribute,
            "rule" => TokenKind::Rule,
            "and" => TokenKind::And,
            "or" => TokenKind::Or,
            "not" => TokenKind::Not,
            "in" => TokenKind::In,
            "true" | "false" => TokenKind::Boolean,
            _ => return None,
        })
    }

    /// The token a single ASCII symbol byte forms, if it is one.
    fn symbol(byte: u8) -> Option<TokenKind> {
        Some(match byte {
            b'\n' | b'\r' | b';' => TokenKind::Newline,
            b' ' => TokenKind::Space,
            b'\t' => TokenKind::Tab,
            b':' => TokenKind::Colon,
            b'=' => TokenKind::Assign,
            b'@' => TokenKind::Sign,
            b'(' => TokenKind::Lp,
            b')' => TokenKind::Rp,
            b'{' => TokenKind::Lcb,
            b'}' => TokenKind::Rcb,
            b'[' => TokenKind::Lsb,
            b']' => TokenKind::Rsb,
            b'+' => TokenKind::Plus,
            b'-' => TokenKind::Minus,
            b'*' => TokenKind::Times,
            b'%' => TokenKind::Mod,
            b'^' => TokenKind::Pow,
            b'>' => TokenKind::Gt,
            b'<' => TokenKind::Lt,
            b'!' => TokenKind::Excl,
            b'?' => TokenKind::Qm,
            b',' => TokenKind::Comma,
            b'#' => TokenKind::Hash,
            b'.' => TokenKind::Dot,
            b'\'' => TokenKind::Apostrophe,
            b'&' => TokenKind::Ampersand,
            b'/' => TokenKind::Divide,
            _ => return None,
        })
    }
}

/// One token: its kind, its text as Permify's parser sees it (a string's
/// content without quotes, a comment's content without its markers), where
/// it starts, and the byte range of source it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokenKind,
    pub text: Cow<'a, str>,
    pub pos: Pos,
    pub start: usize,
    pub end: usize,
}

/// Splits `source` into tokens, trivia included, always ending with exactly
/// one [`TokenKind::Eof`]. Never fails: bytes that form no token become
/// [`TokenKind::Illegal`] tokens.
pub fn tokenize(source: &str) -> Vec<Token<'_>> {
    let mut lexer = Lexer { src: source, bytes: source.as_bytes(), at: 0, line: 1, col: 1 };
    let mut tokens = Vec::new();
    loop {
        // A schema may be megabytes long: lexing it is cancellable too.
        if tokens.len() % 4096 == 4095 {
            crate::interrupt::poll();
        }
        let token = lexer.next_token();
        let done = token.kind == TokenKind::Eof;
        tokens.push(token);
        if done {
            return tokens;
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    /// Byte offset of the next unread byte.
    at: usize,
    line: u32,
    col: u32,
}

impl<'a> Lexer<'a> {
    fn peek(&self, ahead: usize) -> u8 {
        // A NUL byte ends the input, as in Permify (its lexer uses 0 as EOF).
        self.bytes.get(self.at + ahead).copied().unwrap_or(0)
    }

    /// Consumes one byte, keeping line and column up to date. Columns count
    /// characters, so UTF-8 continuation bytes do not advance them.
    fn bump(&mut self) {
        let Some(&b) = self.bytes.get(self.at) else { return };
        self.at += 1;
        if b == b'\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.col = self.col.saturating_add(1);
        }
    }

    fn next_token(&mut self) -> Token<'a> {
        let start = self.at;
        let pos = Pos { line: self.line, col: self.col };
        let b = self.peek(0);
        let (kind, text): (TokenKind, Cow<'a, str>) = if b == 0 {
            // Whatever follows a NUL byte is ignored, as in Permify.
            (TokenKind::Eof, Cow::Borrowed(""))
        } else if b == b'/' && self.peek(1) == b'/' {
            self.bump();
            self.bump();
            let content = self.at;
            while !matches!(self.peek(0), 0 | b'\n' | b'\r') {
                self.bump();
            }
            (TokenKind::SingleLineComment, Cow::Borrowed(&self.src[content..self.at]))
        } else if b == b'/' && self.peek(1) == b'*' {
            self.bump();
            self.bump();
            let content = self.at;
            loop {
                match self.peek(0) {
                    0 => break (TokenKind::MultiLineComment, Cow::Borrowed(&self.src[content..self.at])),
                    b'*' if self.peek(1) == b'/' => {
                        let text = &self.src[content..self.at];
                        self.bump();
                        self.bump();
                        break (TokenKind::MultiLineComment, Cow::Borrowed(text));
                    }
                    _ => self.bump(),
                }
            }
        } else if b == b'"' {
            (TokenKind::String, Cow::Owned(self.lex_string()))
        } else if b.is_ascii_alphabetic() || b == b'_' {
            while self.peek(0).is_ascii_alphabetic() || self.peek(0) == b'_' {
                self.bump();
            }
            let word = &self.src[start..self.at];
            (TokenKind::keyword(word).unwrap_or(TokenKind::Ident), Cow::Borrowed(word))
        } else if b.is_ascii_digit() {
            let mut seen_dot = false;
            while self.peek(0).is_ascii_digit() || (!seen_dot && self.peek(0) == b'.') {
                seen_dot |= self.peek(0) == b'.';
                self.bump();
            }
            let kind = if seen_dot { TokenKind::Double } else { TokenKind::Integer };
            (kind, Cow::Borrowed(&self.src[start..self.at]))
        } else if let Some(kind) = TokenKind::symbol(b) {
            self.bump();
            (kind, Cow::Borrowed(&self.src[start..self.at]))
        } else {
            // One Illegal token per character (a whole UTF-8 sequence).
            self.bump();
            while self.at < self.bytes.len() && self.bytes[self.at] & 0xC0 == 0x80 {
                self.bump();
            }
            (TokenKind::Illegal, Cow::Borrowed(&self.src[start..self.at]))
        };
        Token { kind, text, pos, start, end: self.at }
    }

    /// Lexes `"…"` starting at the opening quote and returns its content.
    /// Like Permify: an unterminated string runs to the end of the input,
    /// and an unknown escape `\x` is dropped together with its backslash.
    fn lex_string(&mut self) -> String {
        self.bump();
        let mut content = String::new();
        let mut run_start = self.at;
        loop {
            match self.peek(0) {
                0 => break,
                b'"' => break,
                b'\\' => {
                    content.push_str(&self.src[run_start..self.at]);
                    self.bump();
                    match self.peek(0) {
                        0 => {
                            run_start = self.at;
                            break;
                        }
                        b'n' => content.push('\n'),
                        b't' => content.push('\t'),
                        b'"' => content.push('"'),
                        b'\\' => content.push('\\'),
                        _ => {}
                    }
                    // Skip the escaped character (a whole UTF-8 sequence).
                    self.bump();
                    while self.at < self.bytes.len() && self.bytes[self.at] & 0xC0 == 0x80 {
                        self.bump();
                    }
                    run_start = self.at;
                }
                _ => self.bump(),
            }
        }
        content.push_str(&self.src[run_start..self.at]);
        if self.peek(0) == b'"' {
            self.bump();
        }
        content
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        tokenize(src).into_iter().map(|t| t.kind).filter(|k| !k.is_trivia()).collect()
    }

    #[test]
    fn identifiers_stop_at_digits() {
        use TokenKind::*;
        assert_eq!(kinds("user2"), vec![Ident, Integer, Eof]);
        assert_eq!(kinds("a_b.c"), vec![Ident, Dot, Ident, Eof]);
    }

    #[test]
    fn keywords_and_action_alias() {
        use TokenKind::*;
        assert_eq!(
            kinds("entity relation attribute permission action rule and or not in true false"),
            vec![Entity, Relation, Attribute, Permission, Permission, Rule, And, Or, Not, In, Boolean, Boolean, Eof]
        );
    }

    #[test]
    fn newline_kinds() {
        use TokenKind::*;
        assert_eq!(kinds("a;b\r\nc\rd"), vec![Ident, Newline, Ident, Newline, Newline, Ident, Newline, Ident, Eof]);
    }

    #[test]
    fn numbers() {
        let t = tokenize("12 1.5 1.2.3");
        let sig: Vec<_> = t.iter().filter(|t| !t.kind.is_trivia()).map(|t| (t.kind, t.text.to_string())).collect();
        assert_eq!(
            sig,
            vec![
                (TokenKind::Integer, "12".into()),
                (TokenKind::Double, "1.5".into()),
                (TokenKind::Double, "1.2".into()),
                (TokenKind::Dot, ".".into()),
                (TokenKind::Integer, "3".into()),
                (TokenKind::Eof, "".into()),
            ]
        );
    }

    #[test]
    fn strings_lose_quotes_and_resolve_escapes() {
        let t = tokenize(r#""a\"b\n\q" x"#);
        assert_eq!(t[0].kind, TokenKind::String);
        assert_eq!(t[0].text, "a\"b\n");
        let t = tokenize("\"open");
        assert_eq!(t[0].text, "open");
        assert_eq!(t[1].kind, TokenKind::Eof);
        let t = tokenize("\"ends\\");
        assert_eq!(t[0].text, "ends");
    }

    #[test]
    fn comments_keep_content_only() {
        let t = tokenize("// hi\n/* a\nb */x/* open");
        assert_eq!((t[0].kind, t[0].text.as_ref()), (TokenKind::SingleLineComment, " hi"));
        assert_eq!(t[1].kind, TokenKind::Newline);
        assert_eq!((t[2].kind, t[2].text.as_ref()), (TokenKind::MultiLineComment, " a\nb "));
        assert_eq!(t[3].pos, Pos { line: 3, col: 5 });
        assert_eq!((t[4].kind, t[4].text.as_ref()), (TokenKind::MultiLineComment, " open"));
    }

    #[test]
    fn illegal_bytes_and_nul() {
        use TokenKind::*;
        assert_eq!(kinds("a|é$"), vec![Ident, Illegal, Illegal, Illegal, Eof]);
        assert_eq!(kinds("a\0b"), vec![Ident, Eof]);
        let t = tokenize("é x");
        assert_eq!(t[0].text, "é");
        assert_eq!(t[2].pos, Pos { line: 1, col: 3 });
    }

    #[test]
    fn positions_are_one_based() {
        let t = tokenize("a\n  b");
        assert_eq!(t[0].pos, Pos { line: 1, col: 1 });
        assert_eq!(t[1].pos, Pos { line: 1, col: 2 });
        let b = t.iter().find(|t| t.text == "b").map(|t| t.pos);
        assert_eq!(b, Some(Pos { line: 2, col: 3 }));
    }
}
