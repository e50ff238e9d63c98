//! Encryption and decryption of tokens with AES-256-GCM, and key rotation.
//!
//! All cryptography is the `aes-gcm` crate's: this module only chooses the
//! key (newest to encrypt, the envelope's key id to decrypt), draws a fresh
//! random 96-bit nonce from the OS for every encryption, binds the
//! [`Aad`], and turns failures into messages that say what to do without
//! showing data. GCM's tag check makes any change to the nonce, ciphertext,
//! tag, key id, or context fail authentication; there is no way to get
//! "garbage" plaintext out.
//!
//! Plaintext buffers are `Zeroizing`, so they are wiped when dropped,
//! including on error paths.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Generate, KeyInit, Nonce};
use zeroize::{Zeroize, Zeroizing};

use super::aad::Aad;
use super::envelope::{Envelope, MAX_PLAINTEXT_LEN, NONCE_LEN, TAG_LEN};
use super::keyring::{KEY_LEN, Keyring};
use super::secret::SecretString;
use crate::{Error, ErrorKind, Result};

/// The message for every authentication failure. One message for all causes
/// on purpose: GCM cannot tell them apart, and guessing would mislead.
pub const AUTH_FAILED: &str = "token authentication failed: the value was altered, copied from another row \
                               or column, or encrypted with a different key";

fn cipher(key: &[u8; KEY_LEN]) -> Result<Aes256Gcm> {
    Aes256Gcm::new_from_slice(key).map_err(|_| Error::internal("AES-256-GCM rejected a 32-byte key"))
}

/// Encrypts `plaintext` under the keyring's newest key, bound to `aad`, with
/// a fresh random nonce. Empty and oversized plaintexts are refused (an
/// empty token is always a bug upstream).
pub fn encrypt(keyring: &Keyring, plaintext: &[u8], aad: &Aad) -> Result<Envelope> {
    if plaintext.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "cannot encrypt an empty token"));
    }
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("cannot encrypt a token longer than {MAX_PLAINTEXT_LEN} bytes"),
        ));
    }
    let (key_id, key) = keyring.newest_key();
    let cipher = cipher(key)?;
    let nonce = Nonce::<Aes256Gcm>::try_generate()
        .map_err(|e| Error::internal(format!("the operating system's random generator failed: {e}")))?;
    // Sized for the tag so the buffer never reallocates and leaves an
    // unwiped copy of the plaintext behind; wiped if encryption fails.
    let mut buf = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    buf.extend_from_slice(plaintext);
    cipher
        .encrypt_in_place(&nonce, &aad.to_bytes(key_id), &mut *buf)
        .map_err(|_| Error::internal("AES-256-GCM encryption failed"))?;
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(&nonce);
    // `buf` now holds ciphertext ‖ tag, which is not secret.
    Envelope::from_parts(key_id.clone(), n, std::mem::take(&mut *buf))
}

/// Decrypts `envelope`, which must have been sealed for exactly `aad` under a
/// key still in `keyring`.
///
/// Errors (kind [`ErrorKind::Decrypt`]): the key id is not in the key file
/// (the message names the key id and the ids loaded), or [`AUTH_FAILED`].
pub fn decrypt(keyring: &Keyring, envelope: &Envelope, aad: &Aad) -> Result<Zeroizing<Vec<u8>>> {
    let key_id = envelope.key_id();
    let key = keyring.key(key_id).ok_or_else(|| {
        Error::new(
            ErrorKind::Decrypt,
            format!(
                "token was encrypted with key \"{key_id}\", which is not in the key file (it holds: {})",
                keyring.id_list()
            ),
        )
        .with_hint(format!(
            "put the line for key \"{key_id}\" back into the key file and restart the server; \
             run rbac.rotate_token_keys() before removing a key from the file"
        ))
    })?;
    let cipher = cipher(key)?;
    let nonce = Nonce::<Aes256Gcm>::from(*envelope.nonce());
    let mut buf = Zeroizing::new(Vec::with_capacity(envelope.ciphertext().len()));
    buf.extend_from_slice(envelope.ciphertext());
    cipher
        .decrypt_in_place(&nonce, &aad.to_bytes(key_id), &mut *buf)
        .map_err(|_| Error::new(ErrorKind::Decrypt, AUTH_FAILED))?;
    Ok(buf)
}

/// [`decrypt`], for tokens that are text (all OAuth tokens are). A value
/// that decrypts but is not UTF-8 is reported without its bytes.
pub fn decrypt_utf8(keyring: &Keyring, envelope: &Envelope, aad: &Aad) -> Result<SecretString> {
    let mut bytes = decrypt(keyring, envelope, aad)?;
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(s) => Ok(SecretString::new(s)),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(Error::new(ErrorKind::Decrypt, "decrypted token is not valid UTF-8 text"))
        }
    }
}

/// Whether `envelope` is sealed under a key other than the newest, i.e.
/// whether `rbac.rotate_token_keys()` should re-encrypt it.
pub fn needs_rotation(keyring: &Keyring, envelope: &Envelope) -> bool {
    envelope.key_id() != keyring.newest_id()
}

/// Decrypts `envelope` and encrypts the plaintext again under the newest key
/// with a fresh nonce, bound to the same `aad`.
pub fn reencrypt(keyring: &Keyring, envelope: &Envelope, aad: &Aad) -> Result<Envelope> {
    let plaintext = decrypt(keyring, envelope, aad)?;
    encrypt(keyring, &plaintext, aad)
}

/// [`reencrypt`] only if [`needs_rotation`]: `Ok(None)` means the value is
/// already under the newest key and was left alone (not even decrypted).
/// This is the per-row step of `rbac.rotate_token_keys()`; a value that
/// needs rotation but does not authenticate is an error, not skipped.
pub fn rotate(keyring: &Keyring, envelope: &Envelope, aad: &Aad) -> Result<Option<Envelope>> {
    if needs_rotation(keyring, envelope) { reencrypt(keyring, envelope, aad).map(Some) } else { Ok(None) }
}
