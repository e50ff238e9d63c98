//! Encrypted OAuth tokens: the pure-Rust half of the `rbac.encrypted_token`
//! column type.
//!
//! Notion access and refresh tokens are bearer credentials for a whole
//! workspace, so they are stored encrypted (AES-256-GCM) and only decrypted
//! by code that needs to call Notion. The pieces, one concept each:
//!
//! - [`envelope`] — the stored value: a versioned binary layout for the
//!   column and the `enc:v1:<key id>:<base64url>` text layout the type prints
//!   and accepts (and nothing else, so plaintext cannot be cast in).
//! - [`aad`] — the associated data binding a value to `(table, column, row
//!   key)`, so a ciphertext copied elsewhere does not decrypt.
//! - [`keyring`] — the key file named by the startup-only
//!   `notion_rbac.key_file` GUC: format, permission check, parsing; several
//!   keys, newest encrypts, all decrypt.
//! - [`seal`] — [`encrypt`], [`decrypt`], and rotation ([`needs_rotation`],
//!   [`reencrypt`], [`rotate`]).
//! - [`key_id`] and [`secret`] — small value types: validated key names and
//!   strings that redact themselves in `Debug` and wipe on drop.
//!
//! Invariants every module keeps: no error message and no `Debug` output
//! contains plaintext or key bytes; every secret buffer is zeroized on drop.
//!
//! Typical use by the SQL layer:
//!
//! ```
//! use notion_rbac_notion::token::{self, Aad, Envelope, Keyring};
//!
//! # fn main() -> notion_rbac_core::Result<()> {
//! let line = token::generate_key_line("k2026a")?;
//! let keyring = Keyring::parse(line.expose_secret())?; // Keyring::load(path, uid) in production
//! let aad = Aad::new("rbac.workspaces", "access_token", "bot-uuid")?;
//! let stored: Vec<u8> = token::encrypt(&keyring, b"ntn_example", &aad)?.encode();
//! // ... later ...
//! let env = Envelope::decode(&stored)?;
//! assert_eq!(&token::decrypt(&keyring, &env, &aad)?[..], b"ntn_example");
//! assert!(env.to_text().starts_with("enc:v1:k2026a:"));
//! # Ok(()) }
//! ```

pub mod aad;
pub mod envelope;
pub mod key_id;
pub mod keyring;
pub mod legacy;
pub mod seal;
pub mod secret;

#[cfg(test)]
mod tests;

pub use aad::Aad;
pub use envelope::Envelope;
pub use key_id::KeyId;
#[cfg(unix)]
pub use keyring::check_file_owner;
pub use keyring::{KEY_FILE_GUC, Keyring, check_file_mode, generate_key_line, no_key_configured};
pub use seal::{AUTH_FAILED, decrypt, decrypt_utf8, encrypt, needs_rotation, reencrypt, rotate};
pub use secret::SecretString;
