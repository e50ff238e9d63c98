//! The key file and the keyring parsed from it.
//!
//! Keys never travel through a GUC value: a reloadable GUC is logged on every
//! change and readable in `pg_file_settings`, and `ALTER SYSTEM` writes values
//! to `postgresql.auto.conf` in clear. Instead a startup-only, superuser-only
//! GUC ([`KEY_FILE_GUC`]) *names* a file, and this module reads it.
//!
//! # Key file format
//!
//! ```text
//! # notion_rbac token keys — oldest first, the LAST key encrypts.
//! k2025b:2x6Yp1M0Qk1kL8m0y0c7HcH1n4l6kq0Yt0v2cQy3Z7s=
//! k2026a:Q0l2c3R0b3BfZ3Vlc3NpbmdfdGhpc19pc19ub3RfYV9rZXk=
//! ```
//!
//! - one key per line, `<key id>:<base64 of exactly 32 random bytes>`
//!   (standard alphabet, padding optional — the output of
//!   `openssl rand -base64 32` fits as is);
//! - key ids: 1–32 characters of `A-Z a-z 0-9 _ - .`, unique in the file;
//! - blank lines and lines whose first non-blank character is `#` are ignored;
//!   surrounding whitespace (and a trailing `\r`) is ignored;
//! - order is age: the **last** key is the newest and encrypts every new
//!   value; every key in the file decrypts. To rotate: append a new line,
//!   restart, run `rbac.rotate_token_keys()`, then (later) delete old lines.
//! - the file must be a regular file not accessible by group or others
//!   (mode 0600 or 0400), owned by the user PostgreSQL runs as.
//!
//! Error messages name line numbers and validated key ids, never the content
//! of a line: a malformed line may hold a key.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use super::key_id::{self, KeyId};
use super::secret::SecretString;
use crate::{Error, ErrorKind, Result};

/// The GUC naming the key file: `PGC_POSTMASTER`, `SUPERUSER_ONLY |
/// NO_SHOW_ALL | DISALLOW_IN_AUTO_FILE`.
pub const KEY_FILE_GUC: &str = "notion_rbac.key_file";
/// AES-256 key length.
pub const KEY_LEN: usize = 32;
/// Largest key file read; a real one is a few hundred bytes.
pub const MAX_KEY_FILE_LEN: u64 = 64 * 1024;
/// Most keys a file may hold.
pub const MAX_KEYS: usize = 256;

const FORMAT_HINT: &str = "each key line is <key id>:<base64 of 32 random bytes>, e.g. generated with \
     SELECT rbac.generate_token_key('k2026a') or `openssl rand -base64 32`; \
     key ids are 1 to 32 characters of A-Z a-z 0-9 _ - .; lines starting with # are comments";

/// Standard base64 alphabet, padding optional, canonical trailing bits.
const KEY_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One key: its id and the 32 key bytes, wiped on drop.
struct Key {
    id: KeyId,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

/// The keys of a key file, oldest first. Never empty.
///
/// Not `Clone` on purpose: key bytes should exist once per process.
pub struct Keyring {
    keys: Vec<Key>,
}

/// The error for "no key file configured", with the instructions a DBA needs.
/// The SQL layer raises it when [`KEY_FILE_GUC`] is unset and something
/// tries to encrypt or decrypt.
pub fn no_key_configured() -> Error {
    Error::new(ErrorKind::KeyConfig, "no token encryption key is configured").with_hint(format!(
        "set {KEY_FILE_GUC} = '/path/to/keyfile' in postgresql.conf and restart the server (the setting is \
         read only at server start); the file must be owned by the postgres user with mode 0600 \
         (chmod 600 /path/to/keyfile) and hold one <key id>:<base64 key> line per key; generate a line with \
         SELECT rbac.generate_token_key('k2026a') or: echo \"k2026a:$(openssl rand -base64 32)\""
    ))
}

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::KeyConfig, message)
}

/// Where an error happened, for messages: `key file` or `key file "/path"`.
fn origin(path: Option<&Path>) -> String {
    match path {
        Some(p) => format!("key file \"{}\"", p.display()),
        None => "key file".to_owned(),
    }
}

/// Refuses a key file that is not a regular file or that group or others
/// may read, write or execute (so 0600 and 0400 pass, 0640 and 0644 fail).
/// On non-Unix systems only the regular-file check applies.
pub fn check_file_mode(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| open_error(path, &e))?;
    check_metadata(path, &meta)
}

/// Refuses a key file not owned by `uid` (the glue passes the server's
/// effective uid; the core cannot ask the OS for it without `unsafe`).
#[cfg(unix)]
pub fn check_file_owner(path: &Path, uid: u32) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| open_error(path, &e))?;
    check_owner(path, &meta, uid)
}

#[cfg(unix)]
fn check_owner(path: &Path, meta: &Metadata, uid: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != uid {
        return Err(config_error(format!(
            "key file \"{}\" is owned by uid {}, not by the user the server runs as (uid {uid})",
            path.display(),
            meta.uid()
        ))
        .with_hint(format!("run: chown postgres {} && chmod 600 {}", path.display(), path.display())));
    }
    Ok(())
}

fn open_error(path: &Path, e: &std::io::Error) -> Error {
    config_error(format!("could not open key file \"{}\": {e}", path.display()))
        .with_hint(format!("{KEY_FILE_GUC} must name a readable file owned by the postgres user with mode 0600"))
}

fn check_metadata(path: &Path, meta: &Metadata) -> Result<()> {
    if !meta.is_file() {
        return Err(config_error(format!("key file \"{}\" is not a regular file", path.display())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(config_error(format!(
                "key file \"{}\" has group or world access (mode {mode:04o}); it must be readable by its owner only",
                path.display()
            ))
            .with_hint(format!("run: chmod 600 {}", path.display())));
        }
    }
    Ok(())
}

impl Keyring {
    /// Reads and parses a key file, after checking that it is a regular file
    /// of mode 0600/0400 (checked on the opened handle, so the file checked
    /// is the file read) and, if `owner_uid` is given, owned by that uid.
    pub fn load(path: &Path, owner_uid: Option<u32>) -> Result<Keyring> {
        let mut file = File::open(path).map_err(|e| open_error(path, &e))?;
        let meta = file.metadata().map_err(|e| open_error(path, &e))?;
        check_metadata(path, &meta)?;
        #[cfg(unix)]
        if let Some(uid) = owner_uid {
            check_owner(path, &meta, uid)?;
        }
        #[cfg(not(unix))]
        let _ = owner_uid;
        if meta.len() > MAX_KEY_FILE_LEN {
            return Err(config_error(format!(
                "key file \"{}\" is larger than {MAX_KEY_FILE_LEN} bytes; it should hold only key lines",
                path.display()
            )));
        }
        // Room for the whole file up front, so the buffer never reallocates
        // and leaves an unwiped copy of the keys behind.
        let cap = usize::try_from(MAX_KEY_FILE_LEN).unwrap_or(usize::MAX) + 1;
        let mut buf = Zeroizing::new(Vec::with_capacity(cap));
        (&mut file)
            .take(MAX_KEY_FILE_LEN + 1)
            .read_to_end(&mut buf)
            .map_err(|e| config_error(format!("could not read key file \"{}\": {e}", path.display())))?;
        if buf.len() as u64 > MAX_KEY_FILE_LEN {
            return Err(config_error(format!(
                "key file \"{}\" is larger than {MAX_KEY_FILE_LEN} bytes; it should hold only key lines",
                path.display()
            )));
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|_| config_error(format!("key file \"{}\" is not UTF-8 text", path.display())))?;
        parse(text, Some(path))
    }

    /// Parses key file text (see the module docs for the format).
    pub fn parse(text: &str) -> Result<Keyring> {
        parse(text, None)
    }

    /// The id of the newest key, the one [`super::encrypt`] uses.
    pub fn newest_id(&self) -> &KeyId {
        &self.newest().id
    }

    /// All key ids, oldest first.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(|k| &k.id)
    }

    pub fn contains(&self, id: &KeyId) -> bool {
        self.keys.iter().any(|k| &k.id == id)
    }

    /// Number of keys (at least 1).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a keyring holds at least one key. Present for API
    /// symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn newest(&self) -> &Key {
        // `parse` refuses an empty file, so `keys` is never empty; the
        // fallback index keeps this panic-free regardless.
        &self.keys[self.keys.len().saturating_sub(1)]
    }

    /// The newest key's id and bytes (for encryption).
    pub(crate) fn newest_key(&self) -> (&KeyId, &[u8; KEY_LEN]) {
        let k = self.newest();
        (&k.id, &k.bytes)
    }

    /// The bytes of key `id`, if the file has it (for decryption).
    pub(crate) fn key(&self, id: &KeyId) -> Option<&[u8; KEY_LEN]> {
        self.keys.iter().find(|k| &k.id == id).map(|k| &*k.bytes)
    }

    /// Comma-separated key ids, for messages.
    pub(crate) fn id_list(&self) -> String {
        self.key_ids().map(KeyId::as_str).collect::<Vec<_>>().join(", ")
    }
}

fn parse(text: &str, path: Option<&Path>) -> Result<Keyring> {
    let from = origin(path);
    let mut keys: Vec<(usize, Key)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line_error = |what: String| config_error(format!("{from} line {n}: {what}")).with_hint(FORMAT_HINT);
        let Some((id, b64)) = line.split_once(':') else {
            return Err(line_error("expected <key id>:<base64 key>".to_owned()));
        };
        let (id, b64) = (id.trim(), b64.trim());
        if !key_id::is_valid(id) {
            return Err(line_error("invalid key id".to_owned()));
        }
        let id = KeyId::new(id)?;
        if let Some((first, _)) = keys.iter().find(|(_, k)| k.id == id) {
            return Err(config_error(format!(
                "{from}: key id \"{id}\" appears on line {first} and again on line {n}; key ids must be unique"
            )));
        }
        let bytes = decode_key(b64).map_err(|what| line_error(format!("key \"{id}\" {what}")))?;
        if keys.len() == MAX_KEYS {
            return Err(config_error(format!("{from} holds more than {MAX_KEYS} keys")));
        }
        keys.push((n, Key { id, bytes }));
    }
    if keys.is_empty() {
        return Err(config_error(format!("{from} contains no keys")).with_hint(FORMAT_HINT));
    }
    Ok(Keyring { keys: keys.into_iter().map(|(_, k)| k).collect() })
}

/// Decodes one base64 key into a wiped-on-drop buffer. The error text says
/// what is wrong without repeating any of the input.
fn decode_key(b64: &str) -> std::result::Result<Zeroizing<[u8; KEY_LEN]>, String> {
    // 32 bytes are 43 or 44 base64 characters; anything much longer is
    // refused before decoding so the scratch buffer can be fixed-size.
    const SCRATCH: usize = 48;
    if b64.is_empty() {
        return Err("is empty; AES-256 needs exactly 32 bytes".to_owned());
    }
    if b64.len() > SCRATCH * 4 / 3 {
        return Err("is too long; AES-256 needs exactly 32 bytes (44 base64 characters)".to_owned());
    }
    let mut scratch = Zeroizing::new([0u8; SCRATCH]);
    let len = KEY_B64
        .decode_slice(b64, &mut scratch[..])
        .map_err(|_| "is not valid base64 (standard alphabet A-Z a-z 0-9 + /, optional = padding)".to_owned())?;
    if len != KEY_LEN {
        return Err(format!("is {len} bytes; AES-256 needs exactly {KEY_LEN} bytes"));
    }
    // (A placeholder pasted for a key, not one from a random generator.)
    if scratch[..KEY_LEN].iter().all(|b| *b == scratch[0]) {
        return Err("is one byte repeated, not a random key (openssl rand -base64 32 makes one)".to_owned());
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&scratch[..KEY_LEN]);
    Ok(key)
}

/// A new key file line `<id>:<base64 of 32 random bytes>` from the operating
/// system's CSPRNG, for `rbac.generate_token_key()`, docs and tests.
pub fn generate_key_line(id: &str) -> Result<SecretString> {
    let id = KeyId::new(id)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    getrandom::fill(&mut key[..])
        .map_err(|e| Error::internal(format!("the operating system's random generator failed: {e}")))?;
    let mut line = Zeroizing::new(String::with_capacity(id.as_str().len() + 1 + 44));
    line.push_str(id.as_str());
    line.push(':');
    KEY_B64.encode_string(&key[..], &mut line);
    Ok(SecretString::from(line))
}

impl fmt::Debug for Keyring {
    /// Ids only; key bytes are never formatted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids().map(KeyId::as_str).collect::<Vec<_>>())
            .field("newest", &self.newest_id().as_str())
            .finish()
    }
}
