//! End-to-end tests of the token modules together: encryption round trips,
//! tampering, context binding, rotation, key files on disk, and the
//! guarantee that no message or `Debug` output carries plaintext or keys.

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::ErrorKind;

const PLAINTEXT: &str = "secret_NOTION_TOKEN_xyz";
/// A fixed key (32 bytes) whose base64 and byte pattern the leak tests look for.
const KEY_A: &str = "kA:S0VZX0FfU0VDUkVUX0JZVEVTX18wMTIzNDU2Nzg5QUI=";
const KEY_A_B64: &str = "S0VZX0FfU0VDUkVUX0JZVEVTX18wMTIzNDU2Nzg5QUI=";
const KEY_A_RAW: &str = "KEY_A_SECRET_BYTES__0123456789AB";

fn ring(text: &str) -> Keyring {
    Keyring::parse(text).unwrap()
}

fn one_key() -> Keyring {
    ring(KEY_A)
}

fn aad() -> Aad {
    Aad::new("rbac.workspaces", "access_token", "bot-1").unwrap()
}

/// Every string a failure or a value can show a person.
fn shown(err: &crate::Error) -> String {
    format!("{err} | {err:?} | {:?} | {:?}", err.detail, err.hint)
}

fn assert_no_secret(text: &str) {
    for needle in [PLAINTEXT, KEY_A_B64, KEY_A_RAW, "KEY_A_SECRET"] {
        assert!(!text.contains(needle), "leaked {needle:?} in: {text}");
    }
}

#[test]
fn round_trip_binary_and_text() {
    let k = one_key();
    let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
    assert_eq!(env.key_id().as_str(), "kA");
    assert_eq!(env.ciphertext().len(), PLAINTEXT.len() + 16);
    let from_bin = Envelope::decode(&env.encode()).unwrap();
    let from_text = Envelope::parse_text(&env.to_text()).unwrap();
    assert_eq!(from_bin, env);
    assert_eq!(from_text, env);
    assert_eq!(&decrypt(&k, &from_bin, &aad()).unwrap()[..], PLAINTEXT.as_bytes());
    assert_eq!(decrypt_utf8(&k, &from_text, &aad()).unwrap().expose_secret(), PLAINTEXT);
}

#[test]
fn output_never_shows_plaintext() {
    let k = one_key();
    let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
    assert_no_secret(&env.to_text());
    assert_no_secret(&format!("{env} {env:?} {k:?}"));
    assert_no_secret(&String::from_utf8_lossy(&env.encode()));
}

#[test]
fn every_encryption_uses_a_fresh_nonce() {
    let k = one_key();
    let mut nonces = std::collections::HashSet::new();
    for _ in 0..200 {
        let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
        assert!(nonces.insert(*env.nonce()), "nonce reused");
    }
}

#[test]
fn a_value_copied_to_another_row_or_column_does_not_decrypt() {
    let k = one_key();
    let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
    let elsewhere = [
        Aad::new("rbac.workspaces", "access_token", "bot-2").unwrap(),
        Aad::new("rbac.workspaces", "refresh_token", "bot-1").unwrap(),
        Aad::new("rbac.other", "access_token", "bot-1").unwrap(),
        Aad::new("rbac.workspaces", "access_tokenbot-1", "x").unwrap(),
    ];
    for other in &elsewhere {
        let err = decrypt(&k, &env, other).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Decrypt);
        assert_eq!(err.message, AUTH_FAILED);
        assert_no_secret(&shown(&err));
    }
}

#[test]
fn a_changed_byte_anywhere_fails_cleanly() {
    // Two keys, so a key id switched to the other valid id is covered too.
    let k = ring(&format!("{}\n{KEY_A}", generate_key_line("kB").unwrap().expose_secret()));
    let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
    let bytes = env.encode();
    let mut switched = bytes.clone();
    switched[3] = b'B';
    let err = decrypt(&k, &Envelope::decode(&switched).unwrap(), &aad()).unwrap_err();
    assert_eq!(err.message, AUTH_FAILED);
    // Flip one bit in every byte: header, key id, nonce, length, ciphertext, tag.
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= bit;
            let outcome = Envelope::decode(&t).and_then(|e| decrypt(&k, &e, &aad()));
            let err = outcome.expect_err(&format!("byte {i} bit {bit:#x} was accepted"));
            assert!(matches!(err.kind, ErrorKind::InvalidText | ErrorKind::Decrypt), "byte {i}: {err:?}");
            assert_no_secret(&shown(&err));
        }
    }
}

#[test]
fn tag_region_and_nonce_region_fail_authentication() {
    let k = one_key();
    let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
    let bytes = env.encode();
    let header = 2 + 2 + 12 + 4;
    for i in [header - 5, header, header + 3, bytes.len() - 16, bytes.len() - 1] {
        let mut t = bytes.clone();
        t[i] ^= 0x55;
        let env = Envelope::decode(&t).unwrap();
        assert_eq!(decrypt(&k, &env, &aad()).unwrap_err().message, AUTH_FAILED);
    }
}

#[test]
fn every_truncation_fails_in_both_forms() {
    let k = one_key();
    let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
    let bytes = env.encode();
    for n in 0..bytes.len() {
        let err = Envelope::decode(&bytes[..n]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidText);
        assert_no_secret(&shown(&err));
    }
    let text = env.to_text();
    for n in 0..text.len() {
        let err = Envelope::parse_text(&text[..n]).and_then(|e| decrypt(&k, &e, &aad())).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::InvalidText | ErrorKind::Decrypt));
        assert_no_secret(&shown(&err));
    }
}

#[test]
fn wrong_key_with_the_same_id_fails_authentication() {
    let env = encrypt(&one_key(), PLAINTEXT.as_bytes(), &aad()).unwrap();
    let impostor = ring(generate_key_line("kA").unwrap().expose_secret());
    let err = decrypt(&impostor, &env, &aad()).unwrap_err();
    assert_eq!((err.kind, err.message.as_str()), (ErrorKind::Decrypt, AUTH_FAILED));
}

#[test]
fn unknown_key_id_names_the_key_not_the_data() {
    let env = encrypt(&one_key(), PLAINTEXT.as_bytes(), &aad()).unwrap();
    let other = ring(generate_key_line("k2026b").unwrap().expose_secret());
    let err = decrypt(&other, &env, &aad()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Decrypt);
    assert_eq!(err.message, "token was encrypted with key \"kA\", which is not in the key file (it holds: k2026b)");
    assert!(err.hint.as_deref().unwrap().contains("rbac.rotate_token_keys()"));
    assert_no_secret(&shown(&err));
}

#[test]
fn empty_and_oversized_plaintexts_are_refused() {
    let k = one_key();
    assert_eq!(encrypt(&k, b"", &aad()).unwrap_err().message, "cannot encrypt an empty token");
    let big = vec![b'a'; envelope::MAX_PLAINTEXT_LEN + 1];
    assert_eq!(encrypt(&k, &big, &aad()).unwrap_err().kind, ErrorKind::InvalidArgument);
    let max = vec![b'a'; envelope::MAX_PLAINTEXT_LEN];
    let env = encrypt(&k, &max, &aad()).unwrap();
    assert_eq!(Envelope::parse_text(&env.to_text()).unwrap(), env);
    assert_eq!(Envelope::decode(&env.encode()).unwrap(), env);
}

#[test]
fn non_utf8_plaintext_is_reported_without_bytes() {
    let k = one_key();
    let env = encrypt(&k, &[0xff, 0xfe, b's', b'e'], &aad()).unwrap();
    let err = decrypt_utf8(&k, &env, &aad()).unwrap_err();
    assert_eq!(err.message, "decrypted token is not valid UTF-8 text");
}

#[test]
fn rotation_old_keys_decrypt_newest_encrypts() {
    let old = one_key();
    let v_old = encrypt(&old, PLAINTEXT.as_bytes(), &aad()).unwrap();
    let new_line = generate_key_line("kB").unwrap();
    let rotated = ring(&format!("# old first\n{KEY_A}\n\n{}\n", new_line.expose_secret()));
    assert_eq!(rotated.newest_id().as_str(), "kB");
    assert_eq!(rotated.key_ids().map(KeyId::as_str).collect::<Vec<_>>(), ["kA", "kB"]);
    assert_eq!(rotated.len(), 2);
    assert!(needs_rotation(&rotated, &v_old));
    assert!(!needs_rotation(&old, &v_old));
    // The old value still decrypts.
    assert_eq!(&decrypt(&rotated, &v_old, &aad()).unwrap()[..], PLAINTEXT.as_bytes());
    // New values use the newest key.
    let v_new = encrypt(&rotated, PLAINTEXT.as_bytes(), &aad()).unwrap();
    assert_eq!(v_new.key_id().as_str(), "kB");
    assert!(!needs_rotation(&rotated, &v_new));
    // Re-encryption moves the old value to the newest key, same context.
    let re = reencrypt(&rotated, &v_old, &aad()).unwrap();
    assert_eq!(re.key_id().as_str(), "kB");
    assert_ne!(re.nonce(), v_old.nonce());
    assert_eq!(&decrypt(&rotated, &re, &aad()).unwrap()[..], PLAINTEXT.as_bytes());
    assert_eq!(rotate(&rotated, &re, &aad()).unwrap(), None);
    let r = rotate(&rotated, &v_old, &aad()).unwrap().unwrap();
    assert_eq!(r.key_id().as_str(), "kB");
    // After dropping the old key from the file, only rotated values decrypt.
    let only_new = ring(new_line.expose_secret());
    assert!(decrypt(&only_new, &r, &aad()).is_ok());
    assert_eq!(decrypt(&only_new, &v_old, &aad()).unwrap_err().kind, ErrorKind::Decrypt);
    // Rotation refuses a value that does not authenticate in its context.
    let other = Aad::new("rbac.workspaces", "access_token", "bot-2").unwrap();
    assert_eq!(rotate(&rotated, &v_old, &other).unwrap_err().message, AUTH_FAILED);
}

#[test]
fn key_file_parse_errors_are_clear_and_never_echo_keys() {
    let good = KEY_A;
    let cases: &[(&str, &str)] = &[
        ("", "key file contains no keys"),
        ("# only a comment\n\n   \n", "key file contains no keys"),
        (KEY_A_B64, "key file line 1: expected <key id>:<base64 key>"),
        (&format!("{KEY_A_B64}:kA"), "key file line 1: invalid key id"),
        ("bad id:S0VZX0FfU0VDUkVUX0JZVEVTX18wMTIzNDU2Nzg5QUI=", "key file line 1: invalid key id"),
        ("kA:S0VZX0FfU0VDUkVUX0JZVEVTX18wMTIzNDU2Nzg5QU*=", "key file line 1: key \"kA\" is not valid base64"),
        ("kA:S0VZX0FfU0VDUkVUX0JZVEVTX18wMTIzNDU2Nzg5QUI==", "key file line 1: key \"kA\" is not valid base64"),
        ("kA:S0VZX0FfU0VDUkVUX0JZVEVT", "key file line 1: key \"kA\" is 18 bytes; AES-256 needs exactly 32 bytes"),
        ("kA:S0VZX0FfU0VDUkVUX0JZVEVTX18wMTIzNDU2Nzg5QUJD", "key file line 1: key \"kA\" is 33 bytes"),
        (&format!("kA:{}", "QUJD".repeat(20)), "key file line 1: key \"kA\" is too long"),
        ("kA:", "key file line 1: key \"kA\" is empty"),
        ("kA:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "key file line 1: key \"kA\" is one byte repeated"),
        (&format!("# c\n{good}\n\n{good}\n"), "key file: key id \"kA\" appears on line 2 and again on line 4"),
    ];
    for (text, want) in cases {
        let err = Keyring::parse(text).unwrap_err();
        assert_eq!(err.kind, ErrorKind::KeyConfig, "{text:?}");
        assert!(err.message.starts_with(want), "{text:?}: got {:?}, want {want:?}", err.message);
        assert_no_secret(&shown(&err));
    }
    // The missing-line and empty-file errors carry the format hint.
    assert!(Keyring::parse("").unwrap_err().hint.unwrap().contains("openssl rand -base64 32"));
}

#[test]
fn key_file_accepts_whitespace_crlf_and_unpadded_base64() {
    let k = ring("  kA : S0VZX0FfU0VDUkVUX0JZVEVTX18wMTIzNDU2Nzg5QUI  \r\n# comment\r\n");
    assert_eq!(k.newest_id().as_str(), "kA");
    // Same key as KEY_A: values interoperate.
    let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
    assert!(decrypt(&one_key(), &env, &aad()).is_ok());
}

#[test]
fn keyring_debug_shows_ids_only() {
    let k = ring(&format!("{KEY_A}\n{}", generate_key_line("kB").unwrap().expose_secret()));
    let d = format!("{k:?}");
    assert_eq!(d, "Keyring { key_ids: [\"kA\", \"kB\"], newest: \"kB\" }");
}

#[test]
fn generated_key_lines_parse_and_differ() {
    let a = generate_key_line("k2026a").unwrap();
    let b = generate_key_line("k2026a").unwrap();
    assert_ne!(a, b);
    assert_eq!(format!("{a:?}"), "<redacted>");
    let (id, b64) = a.expose_secret().split_once(':').unwrap();
    assert_eq!((id, b64.len()), ("k2026a", 44));
    assert_eq!(ring(a.expose_secret()).newest_id().as_str(), "k2026a");
    assert_eq!(generate_key_line("bad:id").unwrap_err().kind, ErrorKind::InvalidArgument);
}

#[test]
fn no_key_configured_says_how_to_configure_one() {
    let err = no_key_configured();
    assert_eq!(err.kind, ErrorKind::KeyConfig);
    assert_eq!(err.kind.sqlstate(), "F0000");
    assert_eq!(err.message, "no token encryption key is configured");
    let hint = err.hint.unwrap();
    for needle in [
        "notion_rbac.key_file = '/path/to/keyfile'",
        "postgresql.conf",
        "restart",
        "0600",
        "rbac.generate_token_key(",
        "openssl rand -base64 32",
    ] {
        assert!(hint.contains(needle), "hint lacks {needle:?}: {hint}");
    }
}

#[test]
fn error_kinds_map_to_the_proposed_sqlstates() {
    assert_eq!(ErrorKind::Decrypt.sqlstate(), "39000");
    assert_eq!(ErrorKind::KeyConfig.sqlstate(), "F0000");
}

/// A uniquely named file in the temp dir, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str, mode: u32) -> TempFile {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "notion_rbac_keytest_{}_{}_{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).unwrap();
        set_mode(&path, mode);
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn key_file_mode_is_checked() {
    for ok in [0o600, 0o400] {
        let f = TempFile::new("ok", KEY_A, ok);
        check_file_mode(&f.0).unwrap();
        assert_eq!(Keyring::load(&f.0, None).unwrap().newest_id().as_str(), "kA");
    }
    for bad in [0o644, 0o640, 0o604, 0o660, 0o606, 0o610] {
        let f = TempFile::new("loose", KEY_A, bad);
        let err = check_file_mode(&f.0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::KeyConfig);
        let path = f.0.display().to_string();
        assert_eq!(
            err.message,
            format!(
                "key file \"{path}\" has group or world access (mode {bad:04o}); it must be readable by its owner only"
            )
        );
        assert_eq!(err.hint.as_deref(), Some(format!("run: chmod 600 {path}").as_str()));
        let err = Keyring::load(&f.0, None).unwrap_err();
        assert!(err.message.contains("group or world access"));
        assert_no_secret(&shown(&err));
    }
}

#[cfg(unix)]
#[test]
fn key_file_owner_is_checked_when_asked() {
    use std::os::unix::fs::MetadataExt;
    let f = TempFile::new("owner", KEY_A, 0o600);
    let uid = std::fs::metadata(&f.0).unwrap().uid();
    check_file_owner(&f.0, uid).unwrap();
    assert!(Keyring::load(&f.0, Some(uid)).is_ok());
    let other = uid.wrapping_add(1);
    let err = check_file_owner(&f.0, other).unwrap_err();
    assert!(err.message.contains(&format!("is owned by uid {uid}")), "{}", err.message);
    assert!(err.hint.unwrap().contains("chmod 600"));
    assert!(Keyring::load(&f.0, Some(other)).is_err());
}

#[cfg(unix)]
#[test]
fn key_file_load_errors_name_the_path() {
    let missing = std::env::temp_dir().join("notion_rbac_keytest_does_not_exist");
    let err = Keyring::load(&missing, None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::KeyConfig);
    assert!(err.message.starts_with(&format!("could not open key file \"{}\"", missing.display())));
    assert!(check_file_mode(&missing).is_err());

    let dir = std::env::temp_dir();
    assert!(check_file_mode(&dir).unwrap_err().message.contains("is not a regular file"));

    let f = TempFile::new("bad", &format!("# keys\n{KEY_A_B64}\n"), 0o600);
    let err = Keyring::load(&f.0, None).unwrap_err();
    assert_eq!(err.message, format!("key file \"{}\" line 2: expected <key id>:<base64 key>", f.0.display()));
    assert_no_secret(&shown(&err));

    let f = TempFile::new("big", &"#".repeat(70_000), 0o600);
    assert!(Keyring::load(&f.0, None).unwrap_err().message.contains("is larger than"));

    let f = TempFile::new("latin1", "", 0o600);
    std::fs::write(&f.0, [b'#', 0xff, b'\n']).unwrap();
    assert!(Keyring::load(&f.0, None).unwrap_err().message.ends_with("is not UTF-8 text"));
}

#[test]
fn secrets_never_appear_in_any_error_or_debug_output() {
    // Collect everything a failure can print across the token API.
    let k = one_key();
    let env = encrypt(&k, PLAINTEXT.as_bytes(), &aad()).unwrap();
    let mut outputs = vec![format!("{k:?}"), format!("{env:?}"), env.to_string(), format!("{:?}", aad())];
    let mut errors = vec![
        decrypt(&k, &env, &Aad::new("t", "c", "r").unwrap()).unwrap_err(),
        decrypt(&ring(generate_key_line("zz").unwrap().expose_secret()), &env, &aad()).unwrap_err(),
        Envelope::parse_text(PLAINTEXT).unwrap_err(),
        Envelope::parse_text(&format!("enc:v1:kA:{PLAINTEXT}")).unwrap_err(),
        Envelope::parse_text(&format!("enc:v1:{PLAINTEXT}")).unwrap_err(),
        Envelope::decode(PLAINTEXT.as_bytes()).unwrap_err(),
        Keyring::parse(PLAINTEXT).unwrap_err(),
        Keyring::parse(&format!("{KEY_A_B64}:{PLAINTEXT}")).unwrap_err(),
        Keyring::parse(KEY_A_B64).unwrap_err(),
        Keyring::parse(&format!("kA:{PLAINTEXT}")).unwrap_err(),
        KeyId::new(&format!("{PLAINTEXT}!")).unwrap_err(),
        encrypt(&k, b"", &aad()).unwrap_err(),
        no_key_configured(),
    ];
    let mut t = env.encode();
    let last = t.len() - 1;
    t[last] ^= 1;
    errors.push(decrypt(&k, &Envelope::decode(&t).unwrap(), &aad()).unwrap_err());
    let decrypted = decrypt_utf8(&k, &env, &aad()).unwrap();
    outputs.push(format!("{decrypted:?}"));
    let plain = decrypt(&k, &env, &aad()).unwrap();
    outputs.push(format!("{:?}", plain.len()));
    for e in &errors {
        outputs.push(shown(e));
    }
    for o in &outputs {
        assert_no_secret(o);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary text never panics the parser, and whatever it accepts is
    /// exactly the canonical form of an envelope.
    #[test]
    fn arbitrary_text_parses_only_if_canonical(s in any::<String>()) {
        if let Ok(env) = Envelope::parse_text(&s) {
            prop_assert_eq!(env.to_text(), s);
        }
    }

    /// Text shaped like an envelope, with arbitrary id and data parts.
    #[test]
    fn envelope_shaped_text_parses_only_if_canonical(
        id in "[A-Za-z0-9_.:+/ -]{0,40}",
        data in "[A-Za-z0-9_=+/ -]{0,120}",
    ) {
        let s = format!("enc:v1:{id}:{data}");
        match Envelope::parse_text(&s) {
            Ok(env) => prop_assert_eq!(env.to_text(), s),
            Err(e) => prop_assert_eq!(e.kind, ErrorKind::InvalidText),
        }
    }

    /// Arbitrary bytes never panic the decoder, and whatever it accepts
    /// re-encodes to the same bytes.
    #[test]
    fn arbitrary_bytes_decode_only_if_canonical(mut b in proptest::collection::vec(any::<u8>(), 0..96), v1 in any::<bool>()) {
        if v1 && !b.is_empty() { b[0] = 1; }
        if let Ok(env) = Envelope::decode(&b) {
            prop_assert_eq!(env.encode(), b);
        }
    }

    /// Any plaintext round-trips through both forms in any context.
    #[test]
    fn encrypt_decrypt_round_trip(pt in proptest::collection::vec(any::<u8>(), 1..200), row in "[a-z0-9-]{1,40}") {
        let k = one_key();
        let a = Aad::new("rbac.workspaces", "refresh_token", &row).unwrap();
        let env = encrypt(&k, &pt, &a).unwrap();
        let back = Envelope::parse_text(&env.to_text()).unwrap();
        prop_assert_eq!(&decrypt(&k, &back, &a).unwrap()[..], &pt[..]);
        let back = Envelope::decode(&env.encode()).unwrap();
        prop_assert_eq!(&decrypt(&k, &back, &a).unwrap()[..], &pt[..]);
    }
}
