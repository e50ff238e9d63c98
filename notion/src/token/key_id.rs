//! Key identifiers: the short names that tie an encrypted value to the key
//! that sealed it.
//!
//! A key id is stored in clear in every envelope (so decryption can pick the
//! right key without trial decryption, and rotation can tell which values are
//! still under an old key) and appears in error messages. It is therefore a
//! *name*, never derived from key material, and its alphabet is restricted so
//! it can sit between the `:` separators of the text form and in a message
//! without quoting problems.

use std::fmt;

use crate::{Error, ErrorKind, Result};

/// The longest key id accepted, in bytes. Short enough that a 32-byte key
/// encoded in base64 (43+ characters) can never be mistaken for an id, which
/// is what makes it safe to echo a valid id in error messages.
pub const MAX_KEY_ID_LEN: usize = 32;

/// A validated key id: 1 to [`MAX_KEY_ID_LEN`] characters of `A–Z a–z 0–9 _ - .`
/// (for example `k2026a`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Validates `id`. The error never repeats the rejected text: a
    /// malformed "id" may well be key material pasted in the wrong place.
    pub fn new(id: &str) -> Result<KeyId> {
        if is_valid(id) {
            Ok(KeyId(id.to_owned()))
        } else {
            Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "invalid key id: a key id is 1 to {MAX_KEY_ID_LEN} characters of A-Z, a-z, 0-9, '_', '-' or '.'"
                ),
            )
            .with_hint("use a short name such as k2026a"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `id` is a well-formed key id (see [`KeyId`]).
pub fn is_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_names() {
        for id in ["k", "k2026a", "prod-2026.1", "A_b-C.9", &"x".repeat(MAX_KEY_ID_LEN)] {
            assert_eq!(KeyId::new(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn rejects_everything_else_without_echoing_it() {
        let long = "x".repeat(MAX_KEY_ID_LEN + 1);
        for id in ["", "a:b", "a b", "a/b", "a+b", "a=b", "é", "a\n", long.as_str()] {
            let err = KeyId::new(id).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidArgument);
            if !id.is_empty() {
                assert!(!err.message.contains(id), "{err}");
            }
        }
    }
}
