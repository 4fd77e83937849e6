//! The second factor's secrets (SPEC §3.1): TOTP as RFC 6238 defines it (HMAC-SHA-1, 30-second
//! steps, 6 digits — what every authenticator app does by default), its secret sealed for the
//! database, and the one-time recovery codes.
//!
//! - A TOTP secret is 20 random bytes (RFC 4226 §4's recommended length), shown to the person
//!   as base32 and in an `otpauth://` URI (the QR code). At rest it is sealed with AES-256-GCM
//!   under a key derived from the server's key and bound to its account, so a copy of the
//!   database gives no codes and a sealed secret moved to another account does not open.
//! - A code is accepted for the current step and one step either side (RFC 6238 §5.2: a clock
//!   a little off, a code typed as the step turns), and only for a step later than the last one
//!   accepted: a code is good once, and an older one never after a newer one.
//! - Recovery codes are 12 characters of a 32-letter alphabet (60 bits each), stored as BLAKE3
//!   keyed with a key derived from the server's key: the table cannot be reversed by hashing
//!   guesses without that key.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha1::Sha1;

use crate::domain::UserId;

/// RFC 6238's default step, which authenticator apps assume.
pub const STEP_SECONDS: i64 = 30;
const DIGITS: u32 = 6;
const SECRET_LEN: usize = 20;
const NONCE_LEN: usize = 12;
/// The issuer authenticator apps show beside the account.
const ISSUER: &str = "Mantel";

/// How many recovery codes an account gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// Without look-alikes (no i, l, o, u), so a code copied by hand reads back.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const RECOVERY_LEN: usize = 12;

/// A TOTP secret. Never printed: `Debug` says nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; SECRET_LEN]);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        let mut bytes = [0u8; SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    /// The secret as people type it into an authenticator app: RFC 4648 base32, no padding
    /// (20 bytes are exactly 32 characters).
    pub fn base32(&self) -> String {
        const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = String::with_capacity(32);
        for chunk in self.0.chunks(5) {
            let mut buf = [0u8; 5];
            buf[..chunk.len()].copy_from_slice(chunk);
            let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            for i in 0..8 {
                out.push(char::from(ALPHABET[((bits >> (35 - 5 * i)) & 31) as usize]));
            }
        }
        out
    }

    /// Reads a base32 secret back (tests compute codes from what enrolment showed).
    pub fn from_base32(text: &str) -> Option<TotpSecret> {
        let mut bits = 0u64;
        let mut count = 0;
        let mut bytes = Vec::with_capacity(SECRET_LEN);
        for c in text.bytes().filter(|c| *c != b'=') {
            let value = match c.to_ascii_uppercase() {
                c @ b'A'..=b'Z' => c - b'A',
                c @ b'2'..=b'7' => c - b'2' + 26,
                _ => return None,
            };
            bits = (bits << 5) | u64::from(value);
            count += 5;
            if count >= 8 {
                count -= 8;
                bytes.push((bits >> count) as u8);
            }
        }
        bytes.try_into().ok().map(TotpSecret)
    }

    /// The `otpauth://` URI (Google Authenticator's Key Uri Format) that the QR code carries.
    pub fn otpauth_uri(&self, account: &str) -> String {
        let label = percent_encode(&format!("{ISSUER}:{account}"));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            self.base32()
        )
    }

    /// The code of time step `step` (RFC 4226's HOTP with the step as its counter).
    pub fn code_at(&self, step: i64) -> String {
        let mut mac =
            <Hmac<Sha1> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let word = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        format!("{:06}", word % 10u32.pow(DIGITS))
    }

    /// The step whose code `code` is, among the steps accepted at `now` (the current one and
    /// one either side), latest first; `None` when it is none of theirs.
    pub fn step_of(&self, code: &TotpCode, now: NaiveDateTime) -> Option<i64> {
        let current = step_at(now);
        [current + 1, current, current - 1]
            .into_iter()
            .find(|step| constant_time_eq(self.code_at(*step).as_bytes(), code.0.as_bytes()))
    }
}

/// The time step of `now`.
pub fn step_at(now: NaiveDateTime) -> i64 {
    now.and_utc().timestamp().div_euclid(STEP_SECONDS)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Everything but RFC 3986's unreserved characters, for the URI's label.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a person typed as a second factor: six digits (spaces allowed, as apps group them)
/// are a TOTP code; anything else is tried as a recovery code.
#[derive(Debug)]
pub enum FactorInput {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

/// Six digits. Never printed by `Debug`: a code not yet used still opens the account.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(<redacted>)")
    }
}

impl TotpCode {
    pub fn parse(text: &str) -> Option<TotpCode> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        (digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some(TotpCode(digits))
    }
}

impl FactorInput {
    /// `None` for what can be neither (empty, or not a recovery code's shape).
    pub fn parse(text: &str) -> Option<FactorInput> {
        if let Some(code) = TotpCode::parse(text) {
            return Some(FactorInput::Totp(code));
        }
        RecoveryCode::parse(text).map(FactorInput::Recovery)
    }
}

/// A recovery code, normalised: lower case, without the dashes and spaces it is shown and
/// typed with. Never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    fn generate() -> RecoveryCode {
        let mut rng = rand::rngs::OsRng;
        RecoveryCode(
            (0..RECOVERY_LEN)
                .map(|_| char::from(RECOVERY_ALPHABET[rng.gen_range(0..32)]))
                .collect(),
        )
    }

    /// A fresh set of codes.
    pub fn generate_set() -> Vec<RecoveryCode> {
        (0..RECOVERY_CODES)
            .map(|_| RecoveryCode::generate())
            .collect()
    }

    pub fn parse(text: &str) -> Option<RecoveryCode> {
        let code: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        (code.len() == RECOVERY_LEN && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)))
            .then_some(RecoveryCode(code))
    }

    /// As it is shown, once: `xxxx-xxxx-xxxx`.
    pub fn display(&self) -> String {
        let c = &self.0;
        format!("{}-{}-{}", &c[..4], &c[4..8], &c[8..])
    }
}

/// The keys of the second factor, derived from the server's key (the cookie key's master key,
/// which every instance shares): the seal of TOTP secrets and the hash of recovery codes.
pub struct FactorKeys {
    seal: [u8; 32],
    hash: [u8; 32],
}

impl FactorKeys {
    pub fn new(secret: &[u8]) -> FactorKeys {
        FactorKeys {
            seal: blake3::derive_key("mantel 2026-12 totp secret seal", secret),
            hash: blake3::derive_key("mantel 2026-12 recovery code hash", secret),
        }
    }

    /// The secret sealed for `owner`'s row: the nonce, then the ciphertext with its tag.
    pub fn seal(&self, owner: &UserId, secret: &TotpSecret) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = Aes256Gcm::new(&self.seal.into())
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &secret.0,
                    aad: owner.as_str().as_bytes(),
                },
            )
            .expect("AES-GCM seals any message this short");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The secret of `owner`'s row; `None` when it does not open (another key, another row).
    pub fn open(&self, owner: &UserId, sealed: &[u8]) -> Option<TotpSecret> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plain = Aes256Gcm::new(&self.seal.into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_str().as_bytes(),
                },
            )
            .ok()?;
        plain.try_into().ok().map(TotpSecret)
    }

    /// How a recovery code is stored.
    pub fn hash(&self, code: &RecoveryCode) -> Vec<u8> {
        blake3::keyed_hash(&self.hash, code.0.as_bytes())
            .as_bytes()
            .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 vectors (the 20-byte ASCII secret "12345678901234567890"),
    /// their last six digits.
    #[test]
    fn codes_are_rfc_6238s() {
        let secret = TotpSecret(*b"12345678901234567890");
        for (unix, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
            (20000000000, "353130"),
        ] {
            let at = chrono::DateTime::from_timestamp(unix, 0)
                .unwrap()
                .naive_utc();
            assert_eq!(secret.code_at(step_at(at)), code, "at {unix}");
        }
    }

    #[test]
    fn base32_reads_back_and_matches_rfc_4648() {
        let secret = TotpSecret(*b"12345678901234567890");
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            TotpSecret::from_base32(&secret.base32().to_lowercase()),
            Some(secret)
        );
        assert_eq!(TotpSecret::from_base32("GEZDGNBV"), None);
        assert_eq!(TotpSecret::from_base32("1!"), None);
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = TotpSecret::generate();
        let now = chrono::DateTime::from_timestamp(1_800_000_015, 0)
            .unwrap()
            .naive_utc();
        let step = step_at(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = TotpCode::parse(&secret.code_at(step + offset)).unwrap();
            let found = secret.step_of(&code, now);
            // A code of another step may collide (one in a million): only the accepted ones
            // must be found at their own step.
            if accepted {
                assert_eq!(found, Some(step + offset));
            } else {
                assert_ne!(found, Some(step + offset));
            }
        }
    }

    #[test]
    fn what_a_person_types_is_read_as_a_code_or_a_recovery_code() {
        assert!(matches!(
            FactorInput::parse(" 123 456 "),
            Some(FactorInput::Totp(_))
        ));
        let code = RecoveryCode::generate();
        let shown = code.display();
        assert_eq!(shown.len(), 14);
        match FactorInput::parse(&shown.to_uppercase()) {
            Some(FactorInput::Recovery(read)) => assert_eq!(read, code),
            other => panic!("{other:?}"),
        }
        assert!(FactorInput::parse("12345").is_none());
        assert!(FactorInput::parse("").is_none());
        assert!(FactorInput::parse("iiii-iiii-iiii").is_none());
    }

    #[test]
    fn a_sealed_secret_opens_for_its_owner_under_its_key_only() {
        let keys = FactorKeys::new(b"server key");
        let (owner, other) = (UserId::new(), UserId::new());
        let secret = TotpSecret::generate();
        let sealed = keys.seal(&owner, &secret);
        assert!(!sealed.windows(SECRET_LEN).any(|w| w == secret.0.as_slice()));
        assert_eq!(keys.open(&owner, &sealed), Some(secret));
        assert_eq!(keys.open(&other, &sealed), None);
        assert_eq!(FactorKeys::new(b"another").open(&owner, &sealed), None);
        assert_eq!(keys.open(&owner, &sealed[..5]), None);
    }

    #[test]
    fn the_uri_names_the_issuer_and_the_account() {
        let secret = TotpSecret(*b"12345678901234567890");
        assert_eq!(
            secret.otpauth_uri("a+b@example.com"),
            "otpauth://totp/Mantel%3Aa%2Bb%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Mantel&algorithm=SHA1&digits=6&period=30"
        );
    }
}
