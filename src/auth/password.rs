//! Passwords: argon2id, hashed and checked on the blocking pool because each costs
//! tens of milliseconds of CPU.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 1024;

/// A plaintext password; its `Debug` shows nothing.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(s: String) -> Self {
        Password(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Checks the length rules for a new password (counted in characters); the message says
    /// what to change.
    pub fn validate_new(&self) -> Result<(), String> {
        let len = self.0.chars().count();
        if len < MIN_LEN {
            Err(format!("Use at least {MIN_LEN} characters."))
        } else if len > MAX_LEN {
            Err(format!("Use at most {MAX_LEN} characters."))
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// `hash` on the blocking pool: argon2 must not stall an async worker.
pub async fn hash_off_thread(password: Password) -> anyhow::Result<String> {
    actix_web::web::block(move || hash(&password)).await?
}

/// `verify` on the blocking pool.
pub async fn verify_off_thread(
    password: Password,
    stored: Option<String>,
) -> Result<bool, actix_web::error::BlockingError> {
    actix_web::web::block(move || verify(&password, stored.as_deref())).await
}

pub fn hash(password: &Password) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// Checks `password` against `stored`, or against a throwaway hash when there is no such
/// user, so that an unknown email costs as much time as a wrong password.
pub fn verify(password: &Password, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash(&Password("not a password of anyone".into())).expect("argon2 hashes a constant")
    });
    let found = stored.is_some();
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(dummy)) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.expose().as_bytes(), &parsed)
        .is_ok();
    ok && found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_do_not_contain_the_password() {
        let p = Password::new("correct horse battery".into());
        let h = hash(&p).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains(p.expose()));
        assert!(verify(&p, Some(&h)));
        assert!(!verify(
            &Password::new("wrong horse battery".into()),
            Some(&h)
        ));
        assert!(!verify(&p, None));
        assert!(!format!("{p:?}").contains("horse"));
    }
}
