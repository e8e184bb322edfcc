//! Ed25519 detached signatures over plugin library bytes.
//!
//! Files are text so they survive copy-paste and review: a key file holds
//! 64 hex digits (the 32-byte secret seed or public key), a signature file
//! `LIB.sig` holds 128 hex digits. A trusted key in the configuration is
//! either such hex text or the path of a `.pub` file.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::path::{Path, PathBuf};

/// A signing or verification step failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS message.
        message: String,
    },
    /// A key or signature file is not what it should be.
    #[error("{path}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A trusted key in the configuration is neither hex nor a readable file.
    #[error("trusted key `{0}`: neither 64 hex digits nor a readable .pub file")]
    BadTrustedKey(String),
    /// No `.sig` file next to the library.
    #[error("{lib}: unsigned (no {sig})")]
    Unsigned {
        /// The library.
        lib: PathBuf,
        /// The signature file looked for.
        sig: PathBuf,
    },
    /// The signature does not verify with any trusted key.
    #[error("{lib}: bad signature (not made by any of the {keys} trusted key(s) over these bytes)")]
    BadSignature {
        /// The library.
        lib: PathBuf,
        /// How many keys were tried.
        keys: usize,
    },
    /// Signed, but no key is trusted.
    #[error("{lib}: signed, but no trusted key is configured ([hotswap] trusted_keys)")]
    NoTrustedKeys {
        /// The library.
        lib: PathBuf,
    },
}

impl SignError {
    /// Short machine-readable name: `unsigned` for a library without a
    /// signature file, `bad_signature` for every other failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unsigned { .. } => "unsigned",
            _ => "bad_signature",
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> SignError {
    SignError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn read_hex<const N: usize>(path: &Path, what: &str) -> Result<[u8; N], SignError> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    parse_hex(text.trim()).ok_or_else(|| SignError::Malformed {
        path: path.to_owned(),
        message: format!("expected {what} as {} hex digits", N * 2),
    })
}

fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// The signature file of a library: `LIB.sig` beside it.
pub fn sig_path(lib: &Path) -> PathBuf {
    let mut name = lib.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

/// Generates a key pair and writes `KEY` (secret, mode 0600) and `PUB`.
/// Refuses to overwrite an existing secret key.
pub fn keygen(secret: &Path, public: &Path) -> Result<VerifyingKey, SignError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| SignError::Io {
        path: secret.to_owned(),
        message: format!("no randomness for a key: {e}"),
    })?;
    let key = SigningKey::from_bytes(&seed);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(secret).map_err(|e| io(secret, e))?;
    std::io::Write::write_all(&mut f, format!("{}\n", hex::encode(seed)).as_bytes())
        .map_err(|e| io(secret, e))?;
    let public_key = key.verifying_key();
    std::fs::write(public, format!("{}\n", hex::encode(public_key.as_bytes())))
        .map_err(|e| io(public, e))?;
    Ok(public_key)
}

/// Signs `lib` with the secret key in `key_file`; writes and returns `LIB.sig`.
pub fn sign_file(key_file: &Path, lib: &Path) -> Result<PathBuf, SignError> {
    let seed: [u8; 32] = read_hex(key_file, "a secret key")?;
    let key = SigningKey::from_bytes(&seed);
    let bytes = std::fs::read(lib).map_err(|e| io(lib, e))?;
    let sig = key.sign(&bytes);
    let out = sig_path(lib);
    std::fs::write(&out, format!("{}\n", hex::encode(sig.to_bytes()))).map_err(|e| io(&out, e))?;
    Ok(out)
}

/// Reads a public key file.
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, SignError> {
    let bytes: [u8; 32] = read_hex(path, "a public key")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| SignError::Malformed {
        path: path.to_owned(),
        message: format!("not an ed25519 public key: {e}"),
    })
}

/// Resolves configured trusted keys (hex text or `.pub` paths).
pub fn trusted_keys(entries: &[String]) -> Result<Vec<VerifyingKey>, SignError> {
    entries
        .iter()
        .map(|entry| {
            if let Some(bytes) = parse_hex::<32>(entry.trim()) {
                VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| SignError::BadTrustedKey(entry.clone()))
            } else {
                read_public_key(Path::new(entry))
                    .map_err(|_| SignError::BadTrustedKey(entry.clone()))
            }
        })
        .collect()
}

/// Verifies `bytes` (the content of `lib`) against `LIB.sig` with any of
/// `keys`.
pub fn verify_bytes(lib: &Path, bytes: &[u8], keys: &[VerifyingKey]) -> Result<(), SignError> {
    let sig_file = sig_path(lib);
    if !sig_file.is_file() {
        return Err(SignError::Unsigned {
            lib: lib.to_owned(),
            sig: sig_file,
        });
    }
    let sig: [u8; 64] = read_hex(&sig_file, "a signature")?;
    if keys.is_empty() {
        return Err(SignError::NoTrustedKeys {
            lib: lib.to_owned(),
        });
    }
    let sig = Signature::from_bytes(&sig);
    if keys.iter().any(|k| k.verify(bytes, &sig).is_ok()) {
        Ok(())
    } else {
        Err(SignError::BadSignature {
            lib: lib.to_owned(),
            keys: keys.len(),
        })
    }
}

/// Reads `lib` and verifies it (see [`verify_bytes`]).
pub fn verify_file(lib: &Path, keys: &[VerifyingKey]) -> Result<(), SignError> {
    let bytes = std::fs::read(lib).map_err(|e| io(lib, e))?;
    verify_bytes(lib, &bytes, keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        keygen(&key, &public).unwrap();
        assert!(keygen(&key, &public).is_err(), "never overwrites a key");
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"library bytes").unwrap();
        let keys = trusted_keys(&[public.display().to_string()]).unwrap();
        assert!(matches!(
            verify_file(&lib, &keys),
            Err(SignError::Unsigned { .. })
        ));
        sign_file(&key, &lib).unwrap();
        verify_file(&lib, &keys).unwrap();
        assert!(matches!(
            verify_file(&lib, &[]),
            Err(SignError::NoTrustedKeys { .. })
        ));
        std::fs::write(&lib, b"library bytes, patched").unwrap();
        let err = verify_file(&lib, &keys).unwrap_err();
        assert!(
            matches!(err, SignError::BadSignature { keys: 1, .. }),
            "{err}"
        );
        // The hex form of the key is accepted as well as the file.
        let hex = std::fs::read_to_string(&public).unwrap();
        assert_eq!(trusted_keys(&[hex.trim().to_owned()]).unwrap(), keys);
        assert!(trusted_keys(&["nope".into()]).is_err());
    }
}
