//! Patient numbers → keyed pseudonyms (HMAC-SHA256, truncated to 128 bits).
//!
//! A plain or salted hash of a patient number can be reversed by trying every number (10^8
//! tries for 8 digits); a keyed hash cannot without the key, which is kept outside the config
//! and the repository. Only a key id (a hash of the key) is ever recorded.

use std::fmt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::text::{fullwidth_to_ascii, trim};

/// Environment variable holding the pseudonymisation key.
pub(crate) const KEY_ENV_VAR: &str = "REFRATE_PSEUDONYM_KEY";
/// Config option naming a file that holds the key.
pub(crate) const KEY_FILE_OPTION: &str = "pseudonym_key_file";
/// Shortest key accepted, in bytes.
pub(crate) const MIN_KEY_BYTES: usize = 16;

const KEY_ID_DOMAIN: &[u8] = b"refrate/pseudonym-key-id/v1\0";

const HOW_TO_SET: &str = "generate one with `openssl rand -hex 32` and put it in the \
                          environment variable REFRATE_PSEUDONYM_KEY, or in a file (chmod 600) \
                          named by the config option pseudonym_key_file; keep it out of the \
                          repository and reuse the same key every run, or duplicates across runs \
                          will not be recognised";

/// Why no pseudonymisation key could be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "no pseudonymisation key: neither REFRATE_PSEUDONYM_KEY nor pseudonym_key_file is set; {HOW_TO_SET}"
    )]
    Missing,
    #[error("the pseudonymisation key in {source_name} is {len} bytes; at least 16 are needed; {HOW_TO_SET}")]
    TooShort { source_name: String, len: usize },
    #[error("cannot read the pseudonymisation key file {} (pseudonym_key_file): {source}; check the path, or set REFRATE_PSEUDONYM_KEY instead", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("the pseudonymisation key file {} (pseudonym_key_file) can be accessed by group or others (mode {mode:04o}); run `chmod 600 {}`", path.display(), path.display())]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "the pseudonymisation key in {source_name} is a published demo or benchmark key (it ends in \"{PUBLIC_KEY_SUFFIX}\"); anyone could reverse its pseudonyms. It works only under `make demo` and `make bench`; {HOW_TO_SET}"
    )]
    PublicKey { source_name: String },
}

/// How the keys published in this repository end (`make demo`, `make bench`).
pub(crate) const PUBLIC_KEY_SUFFIX: &str = "-not-for-real-data";

/// Set to `1` by `make demo` and `make bench`, the only places a public key is accepted.
pub(crate) const DEMO_ENV_VAR: &str = "REFRATE_DEMO";

/// A warning for a key that looks like fewer than 128 random bits: hex of fewer than 32
/// digits, or base64 of fewer than 22 characters. (A passphrase is not judged: its strength
/// cannot be read off its characters.)
pub(crate) fn weak_key_warning(key: &[u8]) -> Option<String> {
    let hex = key.iter().all(u8::is_ascii_hexdigit);
    let base64 =
        key.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'='));
    let bits = if hex {
        key.len() * 4
    } else if base64 {
        key.iter().filter(|b| **b != b'=').count() * 6
    } else {
        return None;
    };
    (bits < 128).then(|| {
        format!(
            "the pseudonymisation key looks like about {bits} random bits, less than 128: make one with `openssl rand -hex 32`"
        )
    })
}

/// Replaces patient numbers by HMAC-SHA256 pseudonyms. `Debug` shows the key id only.
#[derive(Clone)]
pub(crate) struct Pseudonymizer {
    /// HMAC state with the key already absorbed; cloned per number.
    mac: Hmac<Sha256>,
    key_id: String,
    /// Why the key looks weak, if it does ([`weak_key_warning`]).
    weakness: Option<String>,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl Pseudonymizer {
    /// Refuses keys shorter than 16 bytes.
    pub(crate) fn new(key: &[u8]) -> Result<Self, KeyError> {
        Self::with_source(key, "the argument of Pseudonymizer::new")
    }

    fn with_source(key: &[u8], source_name: &str) -> Result<Self, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort { source_name: source_name.to_owned(), len: key.len() });
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update(key);
        let key_id = hex::encode(h.finalize())[..16].to_owned();
        Ok(Pseudonymizer { mac, key_id, weakness: weak_key_warning(key) })
    }

    /// A warning to show when the key looks like fewer than 128 random bits.
    pub(crate) fn weakness(&self) -> Option<&str> {
        self.weakness.as_deref()
    }

    /// 16 hex chars identifying the key without revealing it: the first 64 bits of
    /// SHA-256(domain prefix ‖ key). Record it with the data so a run with another key is
    /// noticed.
    pub(crate) fn key_id(&self) -> String {
        self.key_id.clone()
    }

    /// A tag of `content` under the key, for a record refrate writes outside the warehouse and
    /// must trust when it reads it back (the render record): HMAC-SHA256(key, `domain` ‖ NUL ‖
    /// content), 64 hex chars. The domain keeps it apart from pseudonyms, whose input never
    /// holds a NUL.
    pub(crate) fn seal(&self, domain: &str, content: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(content);
        hex::encode(mac.finalize().into_bytes())
    }

    /// The pseudonym of a patient number: 32 lowercase hex chars. The number is normalised
    /// first (blanks trimmed, full-width digits and letters made ASCII, leading zeros kept), so
    /// "００１２３" and "00123" give the same pseudonym.
    pub(crate) fn pseudonymize(&self, patient_id: &str) -> String {
        let id = fullwidth_to_ascii(trim(patient_id));
        let id = trim(&id);
        let mut mac = self.mac.clone();
        mac.update(id.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = [0u8; 32];
        hex::encode_to_slice(&tag[..16], &mut out).expect("32 hex chars for 16 bytes");
        std::str::from_utf8(&out).expect("hex is ASCII").to_owned()
    }
}

/// Loads the key: `env_value` (the value of REFRATE_PSEUDONYM_KEY, if set and not blank)
/// first, else the content of `key_file` (trimmed). On unix a key file that group or others
/// can access is refused.
pub(crate) fn load_key(
    env_value: Option<String>,
    key_file: Option<&Path>,
) -> Result<Pseudonymizer, KeyError> {
    if let Some(v) = env_value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        refuse_public_key(v.as_bytes(), KEY_ENV_VAR)?;
        return Pseudonymizer::with_source(v.as_bytes(), KEY_ENV_VAR);
    }
    let Some(path) = key_file else {
        return Err(KeyError::Missing);
    };
    let unreadable = |source| KeyError::Unreadable { path: path.to_owned(), source };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    check_permissions(path, &meta)?;
    let content = std::fs::read(path).map_err(unreadable)?;
    let key = content.trim_ascii();
    let source_name = format!("{} ({KEY_FILE_OPTION})", path.display());
    refuse_public_key(key, &source_name)?;
    Pseudonymizer::with_source(key, &source_name)
}

/// The demo and benchmark keys are in the repository: real data under them would be
/// pseudonymised with a key everyone has.
fn refuse_public_key(key: &[u8], source_name: &str) -> Result<(), KeyError> {
    let public = key.ends_with(PUBLIC_KEY_SUFFIX.as_bytes());
    if public && std::env::var(DEMO_ENV_VAR).as_deref() != Ok("1") {
        return Err(KeyError::PublicKey { source_name: source_name.to_owned() });
    }
    Ok(())
}

#[cfg(unix)]
fn check_permissions(path: &Path, meta: &std::fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { path: path.to_owned(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path, _: &std::fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_keys_are_recognised() {
        assert!(weak_key_warning(b"0123456789abcdef").is_some_and(|w| w.contains("64 random bits")));
        assert!(weak_key_warning(b"0123456789abcdef0123456789abcdef").is_none());
        assert!(weak_key_warning(b"c2hvcnQga2V5IDEyMw==").is_some());
        assert!(weak_key_warning(b"a long passphrase, with spaces").is_none());
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_seal_depends_on_the_key_the_domain_and_every_byte() {
        let p = Pseudonymizer::new(KEY).unwrap();
        let tag = p.seal("record", b"{\"a\":1}");
        assert_eq!(tag.len(), 64);
        assert_eq!(tag, p.seal("record", b"{\"a\":1}"));
        assert_ne!(tag, p.seal("record", b"{\"a\":2}"));
        assert_ne!(tag, p.seal("other", b"{\"a\":1}"));
        // The domain and the content are separated: moving a byte across changes the tag.
        assert_ne!(p.seal("ab", b"c"), p.seal("a", b"bc"));
        let other = Pseudonymizer::new(b"fedcba9876543210fedcba9876543210").unwrap();
        assert_ne!(tag, other.seal("record", b"{\"a\":1}"));
    }

    #[test]
    fn known_answer() {
        // HMAC-SHA256 test case 2 of RFC 4231 ("Jefe", "what do ya want for nothing?") is
        // below 16 bytes of key, so check against an independent computation instead:
        // HMAC(K, m) = H((K^opad) ‖ H((K^ipad) ‖ m)) for a key shorter than the block.
        let p = Pseudonymizer::new(KEY).unwrap();
        let mut k = [0u8; 64];
        k[..KEY.len()].copy_from_slice(KEY);
        let inner = Sha256::new().chain_update(k.map(|b| b ^ 0x36)).chain_update(b"00123").finalize();
        let outer = Sha256::new().chain_update(k.map(|b| b ^ 0x5c)).chain_update(inner).finalize();
        assert_eq!(p.pseudonymize("00123"), hex::encode(&outer[..16]));
    }

    #[test]
    fn deterministic_and_key_separated() {
        let a = Pseudonymizer::new(KEY).unwrap();
        let a2 = Pseudonymizer::new(KEY).unwrap();
        let b = Pseudonymizer::new(b"another key, 16+ bytes").unwrap();
        let x = a.pseudonymize("12345678");
        assert_eq!(x.len(), 32);
        assert!(x.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(x, a2.pseudonymize("12345678"));
        assert_ne!(x, b.pseudonymize("12345678"));
        assert_ne!(x, a.pseudonymize("12345679"));
        assert_eq!(a.key_id(), a2.key_id());
        assert_ne!(a.key_id(), b.key_id());
        assert_eq!(a.key_id().len(), 16);
        // the key id is not the plain SHA-256 of the key
        assert!(!hex::encode(Sha256::digest(KEY)).starts_with(&a.key_id()));
    }

    #[test]
    fn normalisation_keeps_leading_zeros() {
        let p = Pseudonymizer::new(KEY).unwrap();
        assert_eq!(p.pseudonymize("００１２３"), p.pseudonymize("00123"));
        assert_eq!(p.pseudonymize(" 00123\u{3000}"), p.pseudonymize("00123"));
        assert_eq!(p.pseudonymize("Ａ０１"), p.pseudonymize("A01"));
        assert_ne!(p.pseudonymize("00123"), p.pseudonymize("123"));
        assert_ne!(p.pseudonymize("A01"), p.pseudonymize("a01"));
    }

    #[test]
    fn short_keys_are_refused() {
        let e = Pseudonymizer::new(b"short").unwrap_err().to_string();
        assert!(e.contains("5 bytes") && e.contains("REFRATE_PSEUDONYM_KEY"), "{e}");
        let e = load_key(Some("  tiny ".into()), None).unwrap_err().to_string();
        assert!(e.contains("in REFRATE_PSEUDONYM_KEY is 4 bytes"), "{e}");
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let p = Pseudonymizer::new(KEY).unwrap();
        let dbg = format!("{p:?}");
        assert!(dbg.contains(&p.key_id()), "{dbg}");
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
        assert!(!dbg.contains("48, 49, 50"), "{dbg}");
    }

    #[test]
    fn env_wins_over_file_and_missing_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        std::fs::write(&f, "file key, long enough\n").unwrap();
        set_mode(&f, 0o600);
        let from_env = load_key(Some(String::from_utf8(KEY.to_vec()).unwrap()), Some(&f)).unwrap();
        assert_eq!(from_env.key_id(), Pseudonymizer::new(KEY).unwrap().key_id());
        let from_file = load_key(None, Some(&f)).unwrap();
        assert_eq!(from_file.key_id(), Pseudonymizer::new(b"file key, long enough").unwrap().key_id());
        // a blank variable counts as unset
        let blank = load_key(Some("  ".into()), Some(&f)).unwrap();
        assert_eq!(blank.key_id(), from_file.key_id());

        let e = load_key(None, None).unwrap_err().to_string();
        assert!(e.contains("REFRATE_PSEUDONYM_KEY") && e.contains("pseudonym_key_file"), "{e}");
        let e = load_key(None, Some(&dir.path().join("nope"))).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("pseudonym_key_file"), "{e}");
    }

    #[cfg(unix)]
    fn set_mode(p: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(not(unix))]
    fn set_mode(_: &Path, _: u32) {}

    #[cfg(unix)]
    #[test]
    fn key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        std::fs::write(&f, "a key that is long enough").unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            set_mode(&f, mode);
            let e = load_key(None, Some(&f)).unwrap_err();
            assert!(matches!(e, KeyError::Permissions { .. }), "{mode:o}");
            let msg = e.to_string();
            assert!(msg.contains("chmod 600") && msg.contains(&format!("{mode:04o}")), "{msg}");
        }
        set_mode(&f, 0o400);
        assert!(load_key(None, Some(&f)).is_ok());
    }
}
