//! The `rbac.encrypted_token` column type and its keys.
//!
//! The cryptography, the envelope formats and the key-file rules live in
//! `notion_rbac_notion::token`; this module is the PostgreSQL side:
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

use notion_rbac_notion::token::{self, Aad, Envelope, Keyring};
use notion_rbac_core::{Error, ErrorKind};
use pgrx::prelude::*;
use pgrx::{FromDatum, InOutFuncs, IntoDatum, StringInfo};

use crate::errors::{raise, OrRaise};
use crate::guc;

/// An AES-256-GCM encrypted secret (a Notion OAuth token, a client secret),
/// bound to the table, column and row it was encrypted for.
///
/// The extension owns its on-disk format: the column holds the envelope's
/// binary layout (`notion_rbac_notion::token::envelope`: version byte 0x01,
/// key id, nonce, length-prefixed ciphertext and tag) in a plain varlena.
/// The same bytes are its binary send/receive form (binary COPY, binary
/// logical replication); its text form is `enc:v1:<key id>:<base64url>`.
/// Equality and ordering compare those bytes, so DISTINCT, UNION and row
/// comparisons work (the order means nothing beyond being total). Values
/// stored before 0.3.0 (pgrx's CBOR) are still read, and rewritten by the
/// 0.2.0 → 0.3.0 upgrade.
#[allow(non_camel_case_types)]
#[derive(PostgresType, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, PostgresEq, PostgresOrd, PostgresHash)]
#[inoutfuncs]
#[bikeshed_postgres_type_manually_impl_from_into_datum]
pub struct encrypted_token {
    /// The envelope's binary layout (never plaintext), validated.
    bytes: Vec<u8>,
}

impl encrypted_token {
    pub fn from_envelope(env: &Envelope) -> Self {
        encrypted_token { bytes: env.encode() }
    }
    pub fn envelope(&self) -> Envelope {
        Envelope::decode(&self.bytes).or_raise()
    }
    /// A stored or received value: the binary layout, or (stored before
    /// 0.3.0) pgrx's CBOR, converted. Anything else is an error (39000).
    fn from_stored(bytes: &[u8]) -> Self {
        let env = if token::legacy::is_legacy(bytes) {
            token::legacy::decode_legacy(bytes).or_raise()
        } else {
            Envelope::decode(bytes).or_raise()
        };
        encrypted_token::from_envelope(&env)
    }
}

impl std::fmt::Debug for encrypted_token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.envelope().to_text())
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
        buffer.push_str(&self.envelope().to_text());
    }
}

// The storage: a varlena holding the binary layout (what the derive would
// otherwise do through CBOR).
impl IntoDatum for encrypted_token {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        self.bytes.as_slice().into_datum()
    }
    fn type_oid() -> pg_sys::Oid {
        // Qualified: the background worker (and any caller) may run with a
        // search_path that does not name the extension's schema.
        pgrx::wrappers::regtypein("rbac.encrypted_token")
    }
}

impl FromDatum for encrypted_token {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _typoid: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a non-null datum of this type is a varlena (possibly
        // toasted or short-header, which detoasting handles).
        let bytes = unsafe {
            let varlena = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            pgrx::varlena::varlena_to_byte_slice(varlena)
        };
        Some(encrypted_token::from_stored(bytes))
    }
}

unsafe impl pgrx::callconv::BoxRet for encrypted_token {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        match self.into_datum() {
            None => fcinfo.return_null(),
            // SAFETY: a varlena allocated in the function's memory context.
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
        }
    }
}

crate::sql_type::argument_from_datum!(encrypted_token);

/// Binary input (binary COPY, binary protocol): the envelope's binary
/// layout, validated exactly like stored values.
#[pg_extern(immutable, strict, parallel_safe)]
fn encrypted_token_recv(mut internal: pgrx::datum::Internal) -> encrypted_token {
    // SAFETY: PostgreSQL passes the message buffer as a StringInfo.
    let buf = unsafe { internal.get_mut::<pg_sys::StringInfoData>() }
        .unwrap_or_else(|| pgrx::error!("notion_rbac: no buffer for binary input"));
    // SAFETY: the buffer's unread bytes are data[cursor..len].
    let bytes = unsafe {
        std::slice::from_raw_parts(buf.data.add(buf.cursor as usize) as *const u8, (buf.len - buf.cursor) as usize)
    };
    let env = Envelope::decode(bytes).or_raise();
    buf.cursor = buf.len;
    encrypted_token::from_envelope(&env)
}

/// Binary output: the envelope's binary layout.
#[pg_extern(immutable, strict, parallel_safe)]
fn encrypted_token_send(token: encrypted_token) -> Vec<u8> {
    token.bytes
}

/// The loaded key file and what it was loaded from.
struct LoadedKeys {
    path: PathBuf,
    file: Option<FileIdentity>,
    keyring: Rc<Keyring>,
}

/// What tells one state of the key file from another: a file replaced
/// (another inode, even with the same size and a kept mtime: `cp -p`,
/// `rsync -a`), edited, or given another mode or owner (ctime) is read
/// again, and its mode and owner are checked again.
#[derive(PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<SystemTime>,
    ctime: (i64, i64),
    mode: u32,
    uid: u32,
}

fn file_identity(path: &std::path::Path) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(FileIdentity {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        modified: m.modified().ok(),
        ctime: (m.ctime(), m.ctime_nsec()),
        mode: m.mode(),
        uid: m.uid(),
    })
}

thread_local! {
    static KEYS: RefCell<Option<LoadedKeys>> = const { RefCell::new(None) };
}

/// The keyring from `notion_rbac.key_file`, re-read if the file changed.
/// Errors say how to configure keys; they never contain key material.
pub fn keyring() -> Rc<Keyring> {
    try_keyring().or_raise()
}

/// [`keyring`] without raising: for the background worker, which records
/// a key problem on the job instead of stopping.
pub fn try_keyring() -> Result<Rc<Keyring>, Error> {
    let Some(path) = guc::key_file() else { return Err(token::no_key_configured()) };
    let path = PathBuf::from(path);
    let file = file_identity(&path);
    if let Some(k) = KEYS.with(|k| {
        k.borrow().as_ref().filter(|l| l.path == path && file.is_some() && l.file == file).map(|l| l.keyring.clone())
    }) {
        return Ok(k);
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let keyring = Rc::new(Keyring::load(&path, Some(uid))?);
    KEYS.with(|k| *k.borrow_mut() = Some(LoadedKeys { path, file, keyring: keyring.clone() }));
    Ok(keyring)
}

/// Encrypts `plaintext` with the newest key for the given place.
pub fn seal(plaintext: &[u8], table: &str, column: &str, row: &str) -> encrypted_token {
    try_seal(plaintext, table, column, row).or_raise()
}

/// [`seal`] without raising.
pub fn try_seal(plaintext: &[u8], table: &str, column: &str, row: &str) -> Result<encrypted_token, Error> {
    let env = token::encrypt(&*try_keyring()?, plaintext, &Aad::new(table, column, row)?)?;
    Ok(encrypted_token::from_envelope(&env))
}

/// Decrypts a token encrypted for the given place.
pub fn open(value: &encrypted_token, table: &str, column: &str, row: &str) -> token::SecretString {
    try_open(value, table, column, row).or_raise()
}

/// [`open`] without raising.
pub fn try_open(value: &encrypted_token, table: &str, column: &str, row: &str) -> Result<token::SecretString, Error> {
    token::decrypt_utf8(&*try_keyring()?, &value.envelope(), &Aad::new(table, column, row)?)
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
fn decrypt_token(token: encrypted_token, context_table: &str, context_column: &str, context_row: &str) -> SecretText {
    require_worker();
    SecretText(open(&token, context_table, context_column, context_row))
}

/// EXECUTE on `rbac.decrypt_token` is granted to rbac_worker alone; the
/// membership of the role running it is checked here too (inside a
/// SECURITY DEFINER function, its owner's), so a grant made later to anyone
/// else opens no token.
fn require_worker() {
    // SAFETY: backend state and a syscache lookup (missing_ok: a missing
    // role is InvalidOid); no pointers kept.
    let member = unsafe {
        let role = pgrx::pg_sys::get_role_oid(c"rbac_worker".as_ptr(), true);
        role != pgrx::pg_sys::InvalidOid && pgrx::pg_sys::is_member_of_role(pgrx::pg_sys::GetUserId(), role)
    };
    if !member {
        pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "permission denied to decrypt tokens",
            "",
        )
        .set_hint("Only members of rbac_worker (the background worker) may decrypt tokens.")
        .report(PgLogLevel::ERROR);
    }
}

/// A decrypted secret returned to SQL as `text`: the text datum is built
/// straight from the secret, and the Rust copy is zeroized when dropped
/// (a plain `String` result would leave the plaintext in freed memory).
pub struct SecretText(token::SecretString);

unsafe impl pgrx::callconv::BoxRet for SecretText {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut pgrx::callconv::FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        match self.0.expose_secret().into_datum() {
            None => fcinfo.return_null(),
            // SAFETY: a text datum allocated in the function's memory context.
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
        }
    }
}

crate::sql_type::same_sql_type_as!(SecretText, String);

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
/// file. Returns how many values were re-encrypted; values that cannot be
/// (they do not decrypt: altered, or their key is gone) are named in a
/// WARNING and left as they are. Add the new key line to the file first;
/// keep old lines until this has run in every database.
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
    // Values that do not decrypt (altered, or their key is no longer in the
    // key file) cannot be re-encrypted: they are reported, never skipped
    // silently, and everything else is still rotated.
    let mut failed: Vec<String> = Vec::new();
    for (table, column, key) in columns {
        let rows: Vec<(Option<String>, Option<encrypted_token>)> = Spi::connect_mut(|client| {
            client
                .update(&format!("SELECT {key}::text, {column} FROM {table} WHERE {column} IS NOT NULL FOR UPDATE"), None, &[])
                .and_then(|t| t.map(|r| Ok((r.get::<String>(1)?, r.get::<encrypted_token>(2)?))).collect())
                .unwrap_or_else(|e| pgrx::error!("notion_rbac: reading {table}.{column} failed: {e}"))
        });
        for (row, value) in rows {
            let (Some(row), Some(value)) = (row, value) else { continue };
            let env = value.envelope();
            let new = match token::rotate(&keys, &env, &Aad::new(table, column, &row).or_raise()) {
                Ok(Some(new)) => new,
                Ok(None) => continue,
                Err(e) => {
                    failed.push(format!("{table}.{column} of row {row}: {}", e.message));
                    continue;
                }
            };
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
    if !failed.is_empty() {
        pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION,
            format!("{} stored token(s) could not be re-encrypted; {rotated} were", failed.len()),
            "",
        )
        .set_detail(failed.join("\n"))
        .set_hint(
            "these values do not decrypt with any key of the key file: restore the key line they need, \
             or replace the tokens (re-authorize the workspace)",
        )
        .report(PgLogLevel::WARNING);
    }
    crate::audit::record(
        "token_keys_rotated",
        if failed.is_empty() { "success" } else { "error" },
        (None, None),
        None,
        serde_json::json!({ "rotated": rotated, "failed": failed.len(), "newest_key": keys.newest_id().as_str() }),
    );
    rotated
}
