//! Associated data: what binds an encrypted token to the place it belongs.
//!
//! AES-GCM authenticates the associated data along with the ciphertext but
//! does not store it; decryption must supply the same bytes again. By making
//! those bytes "which table, which column, which row", a ciphertext copied
//! into another row (say, to use another tenant's token through one's own
//! row) or into another column (the refresh token where the access token
//! belongs) fails authentication instead of decrypting.
//!
//! # What the SQL layer binds
//!
//! `Aad::new(table, column, row_key)` with
//! - `table`: the fixed, schema-qualified name the extension gives the table,
//!   as a literal in the Rust code — e.g. `"rbac.workspaces"`. Not
//!   `regclass::text` or an OID: those change with `search_path`, renames and
//!   dump/restore, and every stored token would stop decrypting.
//! - `column`: the column's name as a literal, e.g. `"access_token"` or
//!   `"refresh_token"`.
//! - `row_key`: the text of an immutable key of the row, e.g. the `bot_id`
//!   (Notion's per-authorization id, the tenant key). If the key of a row can
//!   ever change, the value must be re-encrypted with the new key
//!   ([`super::decrypt`] under the old `Aad`, [`super::encrypt`] under the new).
//!
//! # Exact bytes
//!
//! ```text
//! aad = frame("notion_rbac/token/v1") ‖ frame(key_id) ‖ frame(table) ‖ frame(column) ‖ frame(row_key)
//! frame(x) = u32 big-endian byte length of x ‖ the UTF-8 bytes of x
//! ```
//!
//! The domain string separates these bytes from any other use of the same
//! key; the length prefixes make the encoding injective (`("a.b","c")` and
//! `("a","b.c")` differ); the envelope's key id is included so the
//! cleartext header of the envelope is authenticated too.

use std::fmt;

use super::key_id::KeyId;
use crate::{Error, ErrorKind, Result};

/// Domain-separation label, versioned with the envelope format.
pub const DOMAIN: &str = "notion_rbac/token/v1";

/// Longest accepted part, in bytes; generous for names and UUIDs, small
/// enough that the frame length always fits in a `u32`.
pub const MAX_PART_LEN: usize = 64 * 1024;

/// The (table, column, row key) context an encrypted token is bound to.
/// Nothing in it is secret, so `Debug` shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Aad {
    table: String,
    column: String,
    row_key: String,
}

impl Aad {
    /// Builds the context. Every part must be non-empty: an empty row key
    /// would bind the value to nothing in particular.
    pub fn new(table: &str, column: &str, row_key: &str) -> Result<Aad> {
        for (what, part) in [("table", table), ("column", column), ("row key", row_key)] {
            if part.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("encrypted token context: the {what} must not be empty"),
                ));
            }
            if part.len() > MAX_PART_LEN {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("encrypted token context: the {what} is longer than {MAX_PART_LEN} bytes"),
                ));
            }
        }
        Ok(Aad { table: table.to_owned(), column: column.to_owned(), row_key: row_key.to_owned() })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn column(&self) -> &str {
        &self.column
    }

    pub fn row_key(&self) -> &str {
        &self.row_key
    }

    /// The exact associated-data bytes for a value sealed under `key_id`
    /// (see the module docs).
    pub fn to_bytes(&self, key_id: &KeyId) -> Vec<u8> {
        let parts = [DOMAIN, key_id.as_str(), &self.table, &self.column, &self.row_key];
        let mut out = Vec::with_capacity(parts.iter().map(|p| 4 + p.len()).sum());
        for part in parts {
            // Every part is at most MAX_PART_LEN bytes (checked in `new`;
            // the domain and a key id are short), so this never saturates.
            let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

impl fmt::Display for Aad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} of row {:?}", self.table, self.column, self.row_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes() {
        let aad = Aad::new("rbac.workspaces", "access_token", "b1").unwrap();
        let bytes = aad.to_bytes(&KeyId::new("k1").unwrap());
        let mut want = Vec::new();
        for p in ["notion_rbac/token/v1", "k1", "rbac.workspaces", "access_token", "b1"] {
            want.extend_from_slice(&(p.len() as u32).to_be_bytes());
            want.extend_from_slice(p.as_bytes());
        }
        assert_eq!(bytes, want);
    }

    #[test]
    fn encoding_is_injective_across_part_boundaries() {
        let k = KeyId::new("k1").unwrap();
        let a = Aad::new("a.b", "c", "r").unwrap().to_bytes(&k);
        let b = Aad::new("a", "b.c", "r").unwrap().to_bytes(&k);
        let c = Aad::new("a", "bc", "r").unwrap().to_bytes(&k);
        assert_ne!(a, b);
        assert_ne!(b, c);
        let k2 = KeyId::new("k2").unwrap();
        assert_ne!(Aad::new("t", "c", "r").unwrap().to_bytes(&k), Aad::new("t", "c", "r").unwrap().to_bytes(&k2));
    }

    #[test]
    fn empty_and_oversized_parts_are_refused() {
        assert!(Aad::new("", "c", "r").unwrap_err().message.contains("table must not be empty"));
        assert!(Aad::new("t", "", "r").unwrap_err().message.contains("column must not be empty"));
        assert!(Aad::new("t", "c", "").unwrap_err().message.contains("row key must not be empty"));
        let big = "x".repeat(MAX_PART_LEN + 1);
        assert_eq!(Aad::new("t", "c", &big).unwrap_err().kind, ErrorKind::InvalidArgument);
    }
}
