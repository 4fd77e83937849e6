//! The keys secret-scanning partners sign their reports with (SPEC §8.4), and the check of a
//! report's signature: ECDSA P-256 with SHA-256, base64 DER, over the raw body, with the key
//! the request names. RustCrypto's `p256` does the cryptography.
//!
//! The keys come from a file in GitHub's format, `{"public_keys": [{"key_identifier", "key",
//! "is_current"}]}` (the answer of GitHub's `/meta/public_keys/secret_scanning`, saved as it
//! is; GitLab's keys are written the same way). The file is looked at again whenever its
//! modification time or size changes, so a partner's key rotation needs a new file, not a
//! restart. Every listed key verifies, current or not: a report signed just before a rotation
//! may arrive just after it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use base64ct::{Base64, Encoding};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

use crate::error::AppError;

type Keys = Arc<HashMap<String, VerifyingKey>>;

pub struct PartnerKeys {
    /// The partner, for the logs: "GitHub", "GitLab".
    partner: &'static str,
    path: PathBuf,
    /// The keys last read, and the file's (modified, size) when they were.
    loaded: Mutex<(Option<(SystemTime, u64)>, Keys)>,
}

#[derive(Deserialize)]
struct KeyFile {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
}

impl PartnerKeys {
    /// Keys read from `path`; a file that cannot be read yet is logged and tried again on the
    /// next report (until then every report is refused).
    pub fn new(partner: &'static str, path: PathBuf) -> Self {
        let keys = PartnerKeys {
            partner,
            path,
            loaded: Mutex::new((None, Arc::default())),
        };
        keys.current();
        keys
    }

    /// The key named `key_id` and the signature (base64 DER) a report came with, checked as far
    /// as they can be without its body: both present, the key known, the signature well formed.
    /// Any failure is 401 — answered before the body (up to 1 MiB) is read, so a stranger's
    /// report costs no more than its head.
    pub fn signed_by(
        &self,
        key_id: Option<&str>,
        signature: Option<&str>,
    ) -> Result<SignedReport, AppError> {
        let (Some(key_id), Some(signature)) = (key_id, signature) else {
            return Err(AppError::BadSignature("The report is not signed."));
        };
        let keys = self.current();
        let key = *keys.get(key_id.trim()).ok_or(AppError::BadSignature(
            "The report's signing key is unknown.",
        ))?;
        let signature = Base64::decode_vec(signature.trim())
            .ok()
            .and_then(|der| Signature::from_der(der.as_slice()).ok())
            .ok_or(AppError::BadSignature(
                "The report's signature is malformed.",
            ))?;
        Ok(SignedReport { key, signature })
    }

    /// The keys of the file as it is now: read again if it changed since the last read. A
    /// file that is unreadable or broken keeps the keys read before (and says so in the log),
    /// so a half-written file does not lock a partner out.
    fn current(&self) -> Keys {
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let mut loaded = self.loaded.lock().expect("partner keys lock");
        if stamp.is_some() && stamp == loaded.0 {
            return loaded.1.clone();
        }
        match read_keys(&self.path) {
            Ok(keys) => {
                tracing::info!(
                    partner = self.partner,
                    keys = keys.len(),
                    "secret scanning keys loaded"
                );
                *loaded = (stamp, Arc::new(keys));
            }
            Err(error) => {
                tracing::warn!(partner = self.partner, path = %self.path.display(), %error,
                    "secret scanning keys cannot be read; keeping the ones read before");
                loaded.0 = stamp;
            }
        }
        loaded.1.clone()
    }
}

fn read_keys(path: &Path) -> anyhow::Result<HashMap<String, VerifyingKey>> {
    let file: KeyFile = serde_json::from_slice(&std::fs::read(path)?)?;
    file.public_keys
        .into_iter()
        .map(|entry| {
            let key = VerifyingKey::from_public_key_pem(entry.key.trim()).map_err(|e| {
                anyhow::anyhow!(
                    "key {:?} is not a P-256 public key: {e}",
                    entry.key_identifier
                )
            })?;
            Ok((entry.key_identifier, key))
        })
        .collect()
}

/// A report's signature and the known key it names, waiting for the body it signs.
pub struct SignedReport {
    key: VerifyingKey,
    signature: Signature,
}

impl SignedReport {
    /// Checks the signature over the raw `body`; any failure is 401, and the caller does
    /// nothing.
    pub fn verify(&self, body: &[u8]) -> Result<(), AppError> {
        self.key
            .verify(body, &self.signature)
            .map_err(|_| AppError::BadSignature("The report's signature does not verify."))
    }
}

/// The partners whose reports this server takes: each needs its key file.
#[derive(Default)]
pub struct ScanningPartners {
    pub github: Option<PartnerKeys>,
    pub gitlab: Option<PartnerKeys>,
}

impl ScanningPartners {
    pub fn new(github: Option<PathBuf>, gitlab: Option<PathBuf>) -> Self {
        ScanningPartners {
            github: github.map(|p| PartnerKeys::new("GitHub", p)),
            gitlab: gitlab.map(|p| PartnerKeys::new("GitLab", p)),
        }
    }
}
