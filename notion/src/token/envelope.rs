//! The stored form of an encrypted token: a versioned envelope around the
//! AES-256-GCM output, in a binary layout (what the column stores) and a text
//! layout (what the SQL type prints and accepts).
//!
//! Binary layout, version 1 (all lengths in bytes):
//!
//! ```text
//! version (1) = 0x01 | key_id_len (1) | key_id (key_id_len) | nonce (12)
//!   | ct_len (4, big-endian u32) | ciphertext ‖ tag (ct_len = n + 16)
//! ```
//!
//! The explicit `ct_len` makes the binary form self-delimiting, so a value cut
//! short anywhere (or with bytes appended) is reported as *truncated* by
//! [`Envelope::decode`] instead of surfacing later as an authentication
//! failure.
//!
//! Text layout, version 1:
//!
//! ```text
//! enc:v1:<key_id>:<base64url without padding of (nonce ‖ ciphertext ‖ tag)>
//! ```
//!
//! The text form carries no length: a shortened text value is either not
//! canonical base64url (a parse error) or decodes to a shorter ciphertext,
//! which [`super::decrypt`] rejects as an authentication failure. Either way
//! it never yields plaintext.
//!
//! Why both are strict (exact version, exact lengths, canonical base64, no
//! surrounding whitespace): the text form is the type's *input* function, so
//! anything that is not an envelope — in particular a plaintext token cast
//! with `'ntn_…'::rbac.encrypted_token` — must be refused rather than stored
//! unencrypted; and a canonical form means `decode(encode(x)) == x` and
//! `parse(print(x)) == x`, so dump/restore round-trips byte for byte.
//!
//! Nothing in an envelope is secret (the key id is a name, the nonce is
//! public, the ciphertext is what encryption is for), so `Display` prints the
//! text form and `Debug` shows lengths. Decoding checks only the shape; the
//! AEAD tag (checked by [`super::decrypt`]) is what detects tampering.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::key_id::{self, KeyId, MAX_KEY_ID_LEN};
use crate::{Error, ErrorKind, Result};

/// The only envelope version this build writes and reads.
pub const VERSION: u8 = 1;
/// AES-GCM nonce length (96 bits, the size GCM is designed for).
pub const NONCE_LEN: usize = 12;
/// AES-GCM authentication tag length.
pub const TAG_LEN: usize = 16;
/// The largest plaintext accepted. Notion tokens are ~50 bytes; the cap keeps
/// a hostile text value from making the input function allocate gigabytes.
pub const MAX_PLAINTEXT_LEN: usize = 16 * 1024;
/// Size of the big-endian ciphertext length field of the binary form.
pub const CT_LEN_LEN: usize = 4;
/// Prefix of the version-1 text form.
pub const TEXT_PREFIX: &str = "enc:v1:";

/// An encrypted token: key id, nonce and ciphertext with its tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    key_id: KeyId,
    nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the 16-byte tag; at least 17 bytes because
    /// empty plaintexts are refused at encryption time.
    ciphertext: Vec<u8>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidText, message.into())
}

/// The length rules for the (ciphertext ‖ tag) part, shared by both forms.
fn check_ciphertext_len(len: usize) -> Result<()> {
    if len <= TAG_LEN {
        return Err(invalid(format!(
            "invalid encrypted token: truncated (ciphertext and tag are {len} bytes, at least {} expected)",
            TAG_LEN + 1
        )));
    }
    if len > MAX_PLAINTEXT_LEN + TAG_LEN {
        return Err(invalid(format!(
            "invalid encrypted token: ciphertext of {len} bytes exceeds the {} byte maximum",
            MAX_PLAINTEXT_LEN + TAG_LEN
        )));
    }
    Ok(())
}

impl Envelope {
    /// Assembles an envelope from its parts (used by the encryptor; checks
    /// the same length rules as decoding).
    pub(crate) fn from_parts(key_id: KeyId, nonce: [u8; NONCE_LEN], ciphertext: Vec<u8>) -> Result<Envelope> {
        check_ciphertext_len(ciphertext.len())?;
        Ok(Envelope { key_id, nonce, ciphertext })
    }

    /// The id of the key that sealed this value.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The envelope format version (always [`VERSION`] for a decoded value).
    pub fn version(&self) -> u8 {
        VERSION
    }

    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// Ciphertext followed by the GCM tag.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The binary (column) form.
    pub fn encode(&self) -> Vec<u8> {
        let id = self.key_id.as_str().as_bytes();
        let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + CT_LEN_LEN + self.ciphertext.len());
        out.push(VERSION);
        // A KeyId is at most MAX_KEY_ID_LEN (32) bytes and the ciphertext at
        // most MAX_PLAINTEXT_LEN + TAG_LEN bytes (both enforced on every
        // construction), so neither conversion can fail.
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&u32::try_from(self.ciphertext.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parses the binary form. Every malformation — empty, wrong version,
    /// bad key id, truncated anywhere, trailing bytes — is an `InvalidText`
    /// error that says what is wrong and never echoes the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Envelope> {
        let (&version, rest) = bytes.split_first().ok_or_else(|| invalid("invalid encrypted token: empty value"))?;
        if version != VERSION {
            return Err(invalid(format!(
                "invalid encrypted token: unsupported format version {version} (this build reads version {VERSION})"
            )));
        }
        let (&id_len, rest) =
            rest.split_first().ok_or_else(|| invalid("invalid encrypted token: truncated before the key id"))?;
        let id_len = usize::from(id_len);
        if id_len == 0 || id_len > MAX_KEY_ID_LEN {
            return Err(invalid(format!(
                "invalid encrypted token: key id length {id_len} is outside 1..={MAX_KEY_ID_LEN}"
            )));
        }
        let (id, rest) = rest
            .split_at_checked(id_len)
            .ok_or_else(|| invalid("invalid encrypted token: truncated inside the key id"))?;
        let id = std::str::from_utf8(id).ok().filter(|s| key_id::is_valid(s)).ok_or_else(|| {
            invalid("invalid encrypted token: the key id contains characters outside A-Z a-z 0-9 _ - .")
        })?;
        let key_id = KeyId::new(id)?;
        let (nonce, rest) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(|| invalid("invalid encrypted token: truncated inside the nonce"))?;
        let (len, ciphertext) = rest
            .split_first_chunk::<CT_LEN_LEN>()
            .ok_or_else(|| invalid("invalid encrypted token: truncated inside the ciphertext length"))?;
        let declared = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
        check_ciphertext_len(declared)?;
        if ciphertext.len() < declared {
            return Err(invalid(format!(
                "invalid encrypted token: truncated (ciphertext is {} of {declared} bytes)",
                ciphertext.len()
            )));
        }
        if ciphertext.len() > declared {
            return Err(invalid(format!(
                "invalid encrypted token: {} unexpected bytes after the ciphertext",
                ciphertext.len() - declared
            )));
        }
        Ok(Envelope { key_id, nonce: *nonce, ciphertext: ciphertext.to_vec() })
    }

    /// Parses the text form `enc:v1:<key_id>:<base64url>`; see the module
    /// docs for why nothing else is accepted.
    pub fn parse_text(text: &str) -> Result<Envelope> {
        const EXPECTED: &str = "expected enc:v1:<key id>:<base64url data> as printed by rbac.encrypted_token \
             (plaintext cannot be cast to an encrypted token; use the encrypting constructor)";
        let rest = text.strip_prefix(TEXT_PREFIX).ok_or_else(|| {
            let e = if text.starts_with("enc:") {
                invalid("invalid encrypted token: unsupported text format version (this build reads enc:v1:)")
            } else {
                invalid("invalid input syntax for type encrypted_token")
            };
            e.with_hint(EXPECTED)
        })?;
        let (id, data) = rest.split_once(':').ok_or_else(|| {
            invalid("invalid input syntax for type encrypted_token: missing ':' after the key id").with_hint(EXPECTED)
        })?;
        let key_id = if key_id::is_valid(id) {
            KeyId::new(id)?
        } else {
            return Err(invalid("invalid input syntax for type encrypted_token: malformed key id").with_hint(EXPECTED));
        };
        // Refuse oversized input before decoding it (4 chars per 3 bytes).
        let max_chars = (NONCE_LEN + MAX_PLAINTEXT_LEN + TAG_LEN).div_ceil(3) * 4;
        if data.len() > max_chars {
            return Err(invalid(format!(
                "invalid encrypted token: ciphertext exceeds the {} byte maximum",
                MAX_PLAINTEXT_LEN + TAG_LEN
            )));
        }
        let raw = URL_SAFE_NO_PAD.decode(data).map_err(|_| {
            invalid("invalid input syntax for type encrypted_token: the data part is not canonical unpadded base64url")
                .with_hint(EXPECTED)
        })?;
        let (nonce, ciphertext) = raw
            .split_first_chunk::<NONCE_LEN>()
            .ok_or_else(|| invalid("invalid encrypted token: truncated inside the nonce"))?;
        check_ciphertext_len(ciphertext.len())?;
        Ok(Envelope { key_id, nonce: *nonce, ciphertext: ciphertext.to_vec() })
    }

    /// The text form (what the SQL type's output function prints).
    pub fn to_text(&self) -> String {
        let mut raw = Vec::with_capacity(NONCE_LEN + self.ciphertext.len());
        raw.extend_from_slice(&self.nonce);
        raw.extend_from_slice(&self.ciphertext);
        let mut out = String::with_capacity(TEXT_PREFIX.len() + MAX_KEY_ID_LEN + 1 + raw.len().div_ceil(3) * 4);
        out.push_str(TEXT_PREFIX);
        out.push_str(self.key_id.as_str());
        out.push(':');
        URL_SAFE_NO_PAD.encode_string(&raw, &mut out);
        out
    }
}

impl fmt::Display for Envelope {
    /// The text form; an envelope holds nothing secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("version", &VERSION)
            .field("key_id", &self.key_id.as_str())
            .field("nonce_len", &NONCE_LEN)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl FromStr for Envelope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Envelope> {
        Envelope::parse_text(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope::from_parts(KeyId::new("k2026a").unwrap(), [7; NONCE_LEN], (0u8..40).collect()).unwrap()
    }

    #[test]
    fn binary_layout_is_as_documented() {
        let bytes = sample().encode();
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1], 6);
        assert_eq!(&bytes[2..8], b"k2026a");
        assert_eq!(&bytes[8..20], &[7; 12]);
        assert_eq!(&bytes[20..24], &[0, 0, 0, 40]);
        assert_eq!(&bytes[24..], &(0u8..40).collect::<Vec<_>>()[..]);
        assert_eq!(Envelope::decode(&bytes).unwrap(), sample());
    }

    #[test]
    fn text_layout_is_as_documented() {
        let text = sample().to_text();
        assert!(text.starts_with("enc:v1:k2026a:"), "{text}");
        let data = text.rsplit(':').next().unwrap();
        assert!(data.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(text.parse::<Envelope>().unwrap(), sample());
        assert_eq!(format!("{}", sample()), text);
    }

    #[test]
    fn every_truncation_of_the_binary_form_fails() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            let err = Envelope::decode(&bytes[..n]).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidText, "length {n}");
            assert!(err.message.starts_with("invalid encrypted token"), "{}", err.message);
        }
    }

    #[test]
    fn appended_bytes_are_rejected() {
        let mut bytes = sample().encode();
        bytes.push(0);
        let err = Envelope::decode(&bytes).unwrap_err();
        assert_eq!(err.message, "invalid encrypted token: 1 unexpected bytes after the ciphertext");
    }

    #[test]
    fn text_truncations_never_panic_and_never_round_trip_to_the_original() {
        // Structural rejection is not guaranteed for the text form (see the
        // module docs); decryption rejects the rest (tested in token::tests).
        let text = sample().to_text();
        for n in 0..text.len() {
            if let Ok(env) = Envelope::parse_text(&text[..n]) {
                assert_ne!(env, sample());
                assert_eq!(env.to_text(), &text[..n]);
            }
        }
    }

    #[test]
    fn binary_decode_rejects_bad_headers() {
        let good = sample().encode();
        let mut v = good.clone();
        v[0] = 2;
        assert!(Envelope::decode(&v).unwrap_err().message.contains("unsupported format version 2"));
        let mut v = good.clone();
        v[1] = 0;
        assert!(Envelope::decode(&v).unwrap_err().message.contains("key id length 0"));
        let mut v = good.clone();
        v[1] = 33;
        assert!(Envelope::decode(&v).unwrap_err().message.contains("key id length 33"));
        let mut v = good.clone();
        v[2] = b':';
        assert!(Envelope::decode(&v).unwrap_err().message.contains("key id contains"));
        let mut v = good.clone();
        v[2] = 0xff;
        assert!(Envelope::decode(&v).unwrap_err().message.contains("key id contains"));
        // Exactly a tag's worth of ciphertext means an empty plaintext, which
        // is never produced.
        let mut v = good[..24 + TAG_LEN].to_vec();
        v[20..24].copy_from_slice(&(TAG_LEN as u32).to_be_bytes());
        assert!(Envelope::decode(&v).unwrap_err().message.contains("at least 17 expected"));
        // A declared length beyond the maximum.
        let mut v = good.clone();
        v[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Envelope::decode(&v).unwrap_err().message.contains("exceeds"));
    }

    #[test]
    fn text_parse_rejects_non_envelopes() {
        let good = sample().to_text();
        let data = good.strip_prefix("enc:v1:k2026a:").unwrap();
        let cases = [
            "secret_NOTION_TOKEN_xyz".to_string(),
            "ntn_1234567890".to_string(),
            String::new(),
            format!(" {good}"),
            format!("{good} "),
            format!("{good}\n"),
            format!("ENC:v1:k2026a:{data}"),
            format!("enc:v2:k2026a:{data}"),
            format!("enc:v1::{data}"),
            format!("enc:v1:k 1:{data}"),
            format!("enc:v1:k2026a{data}"),
            format!("enc:v1:k2026a:{data}="),
            format!("enc:v1:k2026a:{}", data.replace('-', "+").replace('_', "/") + "+"),
            format!("enc:v1:k2026a:{data}:extra"),
            "enc:v1:k2026a:".to_string(),
        ];
        for c in &cases {
            let err = Envelope::parse_text(c).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidText, "{c:?}");
            // Never echo the input: it may be a plaintext token.
            assert!(!err.message.contains("secret_NOTION") && !err.message.contains("ntn_"), "{err}");
        }
        let err = Envelope::parse_text("secret_NOTION_TOKEN_xyz").unwrap_err();
        assert_eq!(err.message, "invalid input syntax for type encrypted_token");
        assert!(err.hint.unwrap().contains("plaintext cannot be cast"));
    }

    #[test]
    fn non_canonical_base64_trailing_bits_are_rejected() {
        // 29 raw bytes -> 39 chars, the last char carries 2 unused bits.
        let env = Envelope::from_parts(KeyId::new("k").unwrap(), [0; NONCE_LEN], vec![0; 17]).unwrap();
        let text = env.to_text();
        assert!(text.ends_with('A'));
        let tweaked = format!("{}B", &text[..text.len() - 1]);
        assert!(Envelope::parse_text(&tweaked).is_err());
    }

    #[test]
    fn oversized_values_are_refused() {
        let err =
            Envelope::from_parts(KeyId::new("k").unwrap(), [0; NONCE_LEN], vec![0; MAX_PLAINTEXT_LEN + TAG_LEN + 1])
                .unwrap_err();
        assert!(err.message.contains("exceeds"));
        let huge = format!("enc:v1:k:{}", "A".repeat(40_000));
        assert!(Envelope::parse_text(&huge).unwrap_err().message.contains("exceeds"));
    }

    #[test]
    fn debug_shows_only_shape() {
        let d = format!("{:?}", sample());
        assert_eq!(d, "Envelope { version: 1, key_id: \"k2026a\", nonce_len: 12, ciphertext_len: 40 }");
    }
}
