//! A string that must not leak: OAuth access and refresh tokens, client
//! secrets, authorization codes, generated key lines.
//!
//! The type exists so that the compiler, not reviewer vigilance, keeps secrets
//! out of logs: it has no `Display` and no `Serialize`, its `Debug` prints
//! `<redacted>`, and its buffer is wiped on drop. Reading the value needs an
//! explicit, greppable [`SecretString::expose_secret`] call.

use std::fmt;

use serde::{Deserialize, Deserializer};
use zeroize::Zeroizing;

/// A secret string, zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `value` (no copy is made).
    pub fn new(value: String) -> SecretString {
        SecretString(Zeroizing::new(value))
    }

    /// The secret itself. Call only where the value must leave the process
    /// (an HTTP header, the encryptor), never to format a message.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString::new(value)
    }
}

impl From<Zeroizing<String>> for SecretString {
    fn from(value: Zeroizing<String>) -> Self {
        SecretString(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    /// Note: the JSON parser may have copied the text into its own scratch
    /// buffers before it reaches us; those are outside our control.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = SecretString::new("secret_NOTION_TOKEN_xyz".into());
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose_secret(), "secret_NOTION_TOKEN_xyz");
    }

    #[test]
    fn deserializes_from_json_string() {
        let s: SecretString = serde_json::from_str("\"ntn_abc\"").unwrap();
        assert_eq!(s.expose_secret(), "ntn_abc");
        assert!(serde_json::from_str::<SecretString>("12").is_err());
    }
}
