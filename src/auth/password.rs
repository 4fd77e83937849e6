//! Passwords: argon2id, hashed and checked on the blocking pool because each costs
//! tens of milliseconds of CPU — and 19 MiB of memory (argon2's default `m`), so at most
//! one per core runs at a time (`Hashing`), each in memory kept for the next. Login, sign-up,
//! re-authentication and the password change all go through it.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{
    self, rand_core::OsRng, Output, ParamsString, PasswordHash, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;

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

/// How many requests may wait for a hashing slot, per slot. A short queue: the waits stay well
/// under a second, and a burst beyond it is told to come back rather than held in memory.
const QUEUE_PER_SLOT: usize = 8;

/// What a request refused for a full queue is told to wait, in seconds: the queue drains in
/// well under that.
const RETRY_AFTER: u64 = 1;

/// The gate every hash and check of a password passes: `slots` run at once on the blocking
/// pool (which would otherwise run hundreds, 19 MiB each: 40 logins with unknown emails took a
/// server from 28 MB to 808 MB), up to `QUEUE_PER_SLOT` per slot wait their turn in order, and
/// beyond that the answer is 503 `unavailable` with `Retry-After`.
pub struct Hashing {
    slots: Arc<Semaphore>,
    /// Argon2's memory, one per slot at most, kept between hashes (`argon2_in`).
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Requests running or waiting.
    admitted: Arc<AtomicUsize>,
    capacity: usize,
}

/// A place taken in `Hashing`: given back when dropped (the hash done, or the request gone
/// while it waited).
struct Admitted {
    admitted: Arc<AtomicUsize>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hashing {
    /// `slots` hashes at once (at least one).
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Hashing {
            slots: Arc::new(Semaphore::new(slots)),
            memory: Arc::default(),
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: slots * (1 + QUEUE_PER_SLOT),
        }
    }

    /// One slot per core.
    pub fn per_core() -> Self {
        Hashing::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Waits for a slot, or refuses at once when the queue is full.
    async fn admit(&self) -> Result<Admitted, AppError> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(AppError::Unavailable {
                retry_after: RETRY_AFTER,
            });
        }
        let mut admitted = Admitted {
            admitted: self.admitted.clone(),
            _slot: None,
        };
        let slot = self.slots.clone().acquire_owned().await;
        admitted._slot = Some(slot.map_err(|e| AppError::Internal(e.into()))?);
        Ok(admitted)
    }

    /// Runs `work` with a slot's memory on the blocking pool, in turn. The place moves into the
    /// blocking job: a request dropped meanwhile (its client gone) does not free it while
    /// argon2 still runs.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let admitted = self.admit().await?;
        let memory = self.memory.clone();
        Ok(actix_web::web::block(move || {
            let _admitted = admitted;
            let pool = || memory.lock().unwrap_or_else(|e| e.into_inner());
            let mut blocks = pool().pop().unwrap_or_default();
            let result = work(&mut blocks);
            pool().push(blocks);
            result
        })
        .await?)
    }

    /// A new hash of `password`, in turn.
    pub async fn hash(&self, password: Password) -> Result<String, AppError> {
        Ok(self.run(move |memory| hash_in(&password, memory)).await??)
    }

    /// Whether `password` matches `stored` (checked against a throwaway hash when `None`), in
    /// turn.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, AppError> {
        self.run(move |memory| verify_in(&password, stored.as_deref(), memory))
            .await
    }
}

/// A new argon2id hash of `password` (PHC string), with memory of its own: for the CLI.
pub fn hash(password: &Password) -> anyhow::Result<String> {
    hash_in(password, &mut Vec::new())
}

/// A new argon2id hash of `password`, computed in `memory`.
fn hash_in(password: &Password, memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let default = Argon2::default();
    argon2_in(
        memory,
        password,
        Algorithm::default(),
        Version::default(),
        default.params().clone(),
        salt.as_salt(),
    )
    .map(|h| h.to_string())
    .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

/// Checks `password` against `stored`, or against a throwaway hash when there is no such
/// user, so that an unknown email costs as much time as a wrong password.
fn verify_in(password: &Password, stored: Option<&str>, memory: &mut Vec<Block>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        hash(&Password("not a password of anyone".into())).expect("argon2 hashes a constant")
    });
    let found = stored.is_some();
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(dummy)) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, &parsed.hash) else {
        return false;
    };
    let computed = (|| {
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed.version.map(Version::try_from).transpose()?;
        let params = Params::try_from(&parsed)?;
        argon2_in(
            memory,
            password,
            algorithm,
            version.unwrap_or_default(),
            params,
            salt,
        )
    })();
    // `Output`'s equality is constant-time.
    let ok = computed.is_ok_and(|h| h.hash.as_ref() == Some(expected));
    ok && found
}

/// Argon2 in `memory`, which grows to what `params` need and is kept for the next hash. The
/// argon2 crate's own `hash_password` allocates its 19 MiB each time; freed, glibc keeps them
/// in the heap rather than giving them back, and a server that had hashed a few hundred
/// passwords held hundreds of megabytes. Reused, a slot's memory is allocated once.
fn argon2_in<'a>(
    memory: &mut Vec<Block>,
    password: &Password,
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Salt<'a>,
) -> password_hash::Result<PasswordHash<'a>> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| {
        Ok(argon2.hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt_bytes,
            out,
            &mut memory[..blocks],
        )?)
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(output),
    })
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
        let memory = &mut Vec::new();
        assert!(verify_in(&p, Some(&h), memory));
        assert!(!verify_in(
            &Password::new("wrong horse battery".into()),
            Some(&h),
            memory
        ));
        assert!(!verify_in(&p, None, memory));
        // What the argon2 crate itself computes, and checks.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(p.expose().as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(verify_in(&p, Some(&theirs), memory));
        let ours = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default()
            .verify_password(p.expose().as_bytes(), &ours)
            .is_ok());
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[actix_web::test]
    async fn a_full_queue_is_refused_at_once_and_its_places_come_back() {
        let hashing = std::rc::Rc::new(Hashing::new(1));
        // The slot and the whole queue taken by requests that never finish.
        let holders: Vec<_> = (0..1 + QUEUE_PER_SLOT)
            .map(|_| {
                let hashing = hashing.clone();
                actix_web::rt::spawn(async move {
                    let _admitted = hashing.admit().await;
                    std::future::pending::<()>().await
                })
            })
            .collect();
        while hashing.admitted.load(Ordering::Acquire) < hashing.capacity {
            actix_web::rt::task::yield_now().await;
        }
        let refused = hashing.hash(Password::new("one too many".into())).await;
        assert!(matches!(
            refused,
            Err(AppError::Unavailable { retry_after: 1 })
        ));
        // Requests gone (their clients hung up) give their places back, waiting or not.
        for holder in holders {
            holder.abort();
            let _ = holder.await;
        }
        assert_eq!(hashing.admitted.load(Ordering::Acquire), 0);
        let p = Password::new("in its turn again".into());
        let h = hashing.hash(p.clone()).await.unwrap();
        assert!(hashing.verify(p, Some(h)).await.unwrap());
    }
}
