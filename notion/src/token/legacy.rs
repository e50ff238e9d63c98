//! Reading the storage of `rbac.encrypted_token` written before 0.3.0.
//!
//! Versions 0.1.0 and 0.2.0 let pgrx store the type: the CBOR encoding
//! (RFC 8949) of a one-field map `{"envelope": "<text form>"}`, through the
//! unmaintained `serde_cbor`. From 0.3.0 the column holds the envelope's own
//! binary layout ([`super::envelope`], first byte [`super::envelope::VERSION`]);
//! the 0.2.0 → 0.3.0 upgrade rewrites every stored value. This reader stays
//! so that a value written by an old version is never misread while an
//! installation runs the new library with the old SQL (between the restart
//! and `ALTER EXTENSION … UPDATE`). It accepts exactly that shape and
//! nothing else.

use super::envelope::Envelope;
use crate::{Error, ErrorKind, Result};

/// CBOR: a map with one pair.
const MAP_OF_ONE: u8 = 0xA1;
/// CBOR: a text string of 8 bytes, then "envelope".
const KEY: &[u8] = b"\x68envelope";

/// Whether `bytes` look like the pre-0.3.0 storage (they never start with
/// the binary layout's version byte).
pub fn is_legacy(bytes: &[u8]) -> bool {
    bytes.first() == Some(&MAP_OF_ONE)
}

/// Decodes a pre-0.3.0 stored value into its envelope.
pub fn decode_legacy(bytes: &[u8]) -> Result<Envelope> {
    let bad = || Error::new(ErrorKind::Decrypt, "invalid encrypted token: unreadable pre-0.3.0 storage");
    let rest = bytes.strip_prefix(&[MAP_OF_ONE]).and_then(|r| r.strip_prefix(KEY)).ok_or_else(bad)?;
    // The value: a text string (major type 3) with a definite length.
    let (&head, rest) = rest.split_first().ok_or_else(bad)?;
    if head >> 5 != 3 {
        return Err(bad());
    }
    let (len, rest) = match head & 0x1f {
        n @ 0..=23 => (usize::from(n), rest),
        24 => (usize::from(*rest.first().ok_or_else(bad)?), &rest[1..]),
        25 if rest.len() >= 2 => (usize::from(u16::from_be_bytes([rest[0], rest[1]])), &rest[2..]),
        26 if rest.len() >= 4 => (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize, &rest[4..]),
        _ => return Err(bad()),
    };
    if rest.len() != len {
        return Err(bad());
    }
    let text = std::str::from_utf8(rest).map_err(|_| bad())?;
    Envelope::parse_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Bytes a 0.2.0 installation stored for a real token (read off disk).
    const STORED_BY_0_2_0: &str = "a168656e76656c6f70657854656e633a76313a6c65676163793a5938764b4341723844705441416a4470497a5750436e58314b4930557969635f366c56592d63426d79524c717473714272745a71624c643653504562684e5961786773676f41";

    #[test]
    fn reads_what_0_2_0_stored() {
        let bytes = unhex(STORED_BY_0_2_0);
        assert!(is_legacy(&bytes));
        let env = decode_legacy(&bytes).unwrap();
        assert_eq!(env.key_id().as_str(), "legacy");
        assert_eq!(env.to_text(), "enc:v1:legacy:Y8vKCAr8DpTAAjDpIzWPCnX1KI0Uyic_6lVY-cBmyRLqtsqBrtZqbLd6SPEbhNYaxgsgoA");
        // The new layout never looks legacy.
        assert!(!is_legacy(&env.encode()));
    }

    #[test]
    fn refuses_anything_else() {
        let bytes = unhex(STORED_BY_0_2_0);
        for cut in [0, 1, 5, 10, 11, bytes.len() - 1] {
            assert!(decode_legacy(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(b'A');
        assert!(decode_legacy(&longer).is_err());
        let mut other_key = bytes.clone();
        other_key[2] = b'E';
        assert!(decode_legacy(&other_key).is_err());
    }
}
