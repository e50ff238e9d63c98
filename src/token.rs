//! The `rbac.encrypted_token` column type and its keys.
//!
//! The cryptography, the envelope formats and the key-file rules live in
//! `notion_rbac_core::token`; this module is the PostgreSQL side:
//!
//! - the type: it stores the envelope's text form `enc:v1:<key id>:<base64>`
//!   and accepts nothing else as input, so plaintext can never be cast into a
//!   token column and dumps restore unchanged;
//! - the key file named by `notion_rbac.key_file` (a startup-only,
//!   superuser-only setting holding only a *path*: key bytes never pass
//!   through a GUC, which PostgreSQL would log on reload), loaded lazily per
//!   backend and re-read when the file changes, so adding a key and running
//!   `rbac.rotate_token_keys()` needs no restart;
//! - the SQL functions that encrypt, decrypt and rotate.

use std::cell::RefCell;
use std::ffi::CStr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::SystemTime;

use notion_rbac_core::token::{self, Aad, Envelope, Keyring};
use notion_rbac_core::{Error, ErrorKind};
use pgrx::prelude::*;
use pgrx::{InOutFuncs, StringInfo};
use serde::{Deserialize, Serialize};

use crate::errors::{raise, OrRaise};
use crate::guc;

/// An AES-256-GCM encrypted secret (a Notion OAuth token, a client secret),
/// bound to the table, column and row it was encrypted for.
#[allow(non_camel_case_types)]
#[derive(PostgresType, Serialize, Deserialize, Clone, PartialEq, Eq)]
#[inoutfuncs]
pub struct encrypted_token {
    /// The envelope's text form (never plaintext).
    envelope: String,
}

impl encrypted_token {
    pub fn from_envelope(env: &Envelope) -> Self {
        encrypted_token { envelope: env.to_text() }
    }
    pub fn envelope(&self) -> Envelope {
        Envelope::parse_text(&self.envelope).or_raise()
    }
}

impl std::fmt::Debug for encrypted_token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.envelope)
    }
}

impl InOutFuncs for encrypted_token {
    fn input(input: &CStr) -> Self {
        // Never echo the input: it may be a plaintext token someone tried to
        // cast.
        let text = input.to_str().unwrap_or("");
        let env = Envelope::parse_text(text).or_raise();
        encrypted_token::from_envelope(&env)
    }

    fn output(&self, buffer: &mut StringInfo) {
        buffer.push_str(&self.envelope);
    }
}

/// The loaded key file and what it was loaded from.
struct LoadedKeys {
    path: PathBuf,
    modified: Option<SystemTime>,
    len: u64,
    keyring: Rc<Keyring>,
}

thread_local! {
    static KEYS: RefCell<Option<LoadedKeys>> = const { RefCell::new(None) };
}

/// The keyring from `notion_rbac.key_file`, re-read if the file changed.
/// Errors say how to configure keys; they never contain key material.
pub fn keyring() -> Rc<Keyring> {
    let Some(path) = guc::key_file() else { raise(token::no_key_configured()) };
    let path = PathBuf::from(path);
    let meta = std::fs::metadata(&path).ok();
    let (modified, len) = (meta.as_ref().and_then(|m| m.modified().ok()), meta.as_ref().map_or(0, |m| m.len()));
    if let Some(k) = KEYS.with(|k| {
        k.borrow()
            .as_ref()
            .filter(|l| l.path == path && l.modified == modified && l.len == len)
            .map(|l| l.keyring.clone())
    }) {
        return k;
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let keyring = Rc::new(Keyring::load(&path, Some(uid)).or_raise());
    KEYS.with(|k| *k.borrow_mut() = Some(LoadedKeys { path, modified, len, keyring: keyring.clone() }));
    keyring
}

fn aad(table: &str, column: &str, row: &str) -> Aad {
    Aad::new(table, column, row).or_raise()
}

/// Encrypts `plaintext` with the newest key for the given place.
pub fn seal(plaintext: &[u8], table: &str, column: &str, row: &str) -> encrypted_token {
    let env = token::encrypt(&keyring(), plaintext, &aad(table, column, row)).or_raise();
    encrypted_token::from_envelope(&env)
}

/// Decrypts a token encrypted for the given place.
pub fn open(value: &encrypted_token, table: &str, column: &str, row: &str) -> token::SecretString {
    token::decrypt_utf8(&keyring(), &value.envelope(), &aad(table, column, row)).or_raise()
}

/// Encrypts `plaintext` for the place (`context_table`, `context_column`,
/// `context_row`) it will be stored in; the value decrypts only with the
/// same three strings. Pass the plaintext as a bind parameter, never as a
/// literal in SQL text (statement logs would show the literal).
#[pg_extern(volatile, parallel_unsafe)]
fn encrypt_token(plaintext: &str, context_table: &str, context_column: &str, context_row: &str) -> encrypted_token {
    if plaintext.is_empty() {
        raise(Error::new(ErrorKind::InvalidArgument, "cannot encrypt an empty token"));
    }
    seal(plaintext.as_bytes(), context_table, context_column, context_row)
}

/// Decrypts a token for the place it was encrypted for. A value that was
/// altered, truncated, copied from another row or column, or encrypted with
/// a key that is no longer in the key file is an error (SQLSTATE 39000),
/// never garbage. Granted only to rbac_worker.
#[pg_extern(volatile, parallel_unsafe)]
fn decrypt_token(token: encrypted_token, context_table: &str, context_column: &str, context_row: &str) -> String {
    open(&token, context_table, context_column, context_row).expose_secret().to_owned()
}

/// The id of the key a token is encrypted with (for audits and rotation).
#[pg_extern(immutable, parallel_safe)]
fn token_key_id(token: encrypted_token) -> String {
    token.envelope().key_id().as_str().to_owned()
}

/// A new random key line `id:base64key` to append to the key file (the
/// last line is the newest key and encrypts from then on).
#[pg_extern(volatile, parallel_unsafe)]
fn generate_token_key(key_id: &str) -> String {
    token::generate_key_line(key_id).or_raise().expose_secret().to_owned()
}

/// Re-encrypts every stored token (workspace access and refresh tokens, the
/// OAuth client secret, queued OAuth codes) under the newest key of the key
/// file. Returns how many values were re-encrypted. Add the new key line to
/// the file first; keep old lines until this has run in every database.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, rbac, pg_temp)]
fn rotate_token_keys() -> i64 {
    crate::store::require_writable("rotate token keys");
    let keys = keyring();
    let mut rotated = 0i64;
    // (table, column, row key column) of every encrypted column.
    let columns: [(&str, &str, &str); 4] = [
        ("rbac.workspaces", "access_token", "bot_id"),
        ("rbac.workspaces", "refresh_token", "bot_id"),
        ("rbac.oauth_config", "client_secret", "'default'"),
        ("rbac.oauth_jobs", "code", "state_hash"),
    ];
    for (table, column, key) in columns {
        let rows: Vec<(String, encrypted_token)> = Spi::connect_mut(|client| {
            client
                .update(&format!("SELECT {key}::text, {column} FROM {table} WHERE {column} IS NOT NULL FOR UPDATE"), None, &[])
                .map(|t| {
                    t.filter_map(|r| Some((r.get::<String>(1).ok()??, r.get::<encrypted_token>(2).ok()??)))
                        .collect()
                })
                .unwrap_or_else(|e| pgrx::error!("notion_rbac: reading {table}.{column} failed: {e}"))
        });
        for (row, value) in rows {
            let env = value.envelope();
            if let Some(new) = token::rotate(&keys, &env, &aad(table, column, &row)).or_raise() {
                let key_expr = if key.starts_with('\'') { "true".to_owned() } else { format!("{key} = $2") };
                let sql = format!("UPDATE {table} SET {column} = $1 WHERE {key_expr}");
                let args: Vec<pgrx::datum::DatumWithOid> = if key.starts_with('\'') {
                    vec![encrypted_token::from_envelope(&new).into()]
                } else {
                    vec![encrypted_token::from_envelope(&new).into(), row.as_str().into()]
                };
                Spi::run_with_args(&sql, &args).unwrap_or_else(|e| pgrx::error!("notion_rbac: rotating {table}.{column} failed: {e}"));
                rotated += 1;
            }
        }
    }
    rotated
}
