//! The one-time reveal behind the dashboard's post/redirect/get: a new token's plaintext,
//! between the form POST and the GET of its reveal page, handed out once, then gone, through
//! whichever instance the GET reaches (SPEC §4).
//!
//! The POST seals the plaintext with AES-256-GCM under a fresh random key and keeps only the
//! ciphertext, in a database row that expires after a minute. The key goes to the browser
//! alone, in a cookie on the 303 (`HttpOnly`, `SameSite=Strict`, scoped to that token's reveal
//! page, `Secure` when the public URL is https, a minute long). The row alone or the cookie
//! alone reveals nothing; the plaintext is written nowhere. The first view deletes the row
//! (`DELETE … RETURNING`: two views racing through two instances cannot both have it) and the
//! cookie; a later view, or one without the cookie, says the token was created and can no
//! longer be shown, as after a reload.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpRequest;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use chrono::NaiveDateTime;
use rand::RngCore;

use crate::db::models::reveals;
use crate::db::{self, Pool};
use crate::domain::PlainToken;
use crate::domain::{TokenId, UserId};
use crate::error::AppError;

/// The redirect is followed at once; a minute covers a slow phone on a bad network.
const HOLD_FOR_MS: i64 = 60_000;
const COOKIE: &str = "mm_reveal";
const NONCE_LEN: usize = 12;

pub struct PendingReveals {
    /// `Secure` cookies (the public URL is https).
    secure: bool,
}

/// The reveal page of a token: the only path its key cookie is sent to.
pub fn page(token_id: &TokenId) -> String {
    format!("/settings/tokens/{token_id}/created")
}

/// What a token's seal is bound to: a ciphertext moved to another token's or owner's row does
/// not open.
fn bound_to(owner: &UserId, token_id: &TokenId) -> Vec<u8> {
    format!("{owner}\0{token_id}").into_bytes()
}

impl PendingReveals {
    pub fn new(secure: bool) -> Self {
        PendingReveals { secure }
    }

    /// Seals `plain` for one `take` by its owner and keeps the ciphertext; answers the cookie
    /// that carries its key, for the redirect to the reveal page.
    pub async fn hold(
        &self,
        pool: &Pool,
        owner: &UserId,
        token_id: &TokenId,
        plain: PlainToken,
        now: NaiveDateTime,
    ) -> Result<Cookie<'static>, AppError> {
        let mut key = [0u8; 32];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = bound_to(owner, token_id);
        let sealed = Aes256Gcm::new(&key.into())
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| AppError::Internal(anyhow::anyhow!("cannot seal a reveal")))?;
        let row = [nonce.as_slice(), &sealed].concat();
        let expires_ms = now.and_utc().timestamp_millis() + HOLD_FOR_MS;
        let (owner_id, id) = (owner.clone(), token_id.clone());
        db::write_query(pool, move |conn| {
            reveals::insert(conn, &id, &owner_id, &row, expires_ms)
        })
        .await?;
        Ok(self.cookie(token_id, hex::encode(key), HOLD_FOR_MS / 1000))
    }

    /// The plaintext of the owner's new token, once, with the cookie that removes its key;
    /// `None` when it was already taken, is too old, or this browser has no key for it. Without
    /// a key nothing is touched: only the browser that created the token can use up its view.
    pub async fn take(
        &self,
        pool: &Pool,
        req: &HttpRequest,
        owner: &UserId,
        token_id: &TokenId,
        now: NaiveDateTime,
    ) -> Result<(Option<PlainToken>, Option<Cookie<'static>>), AppError> {
        let Some(key) = req
            .cookie(COOKIE)
            .and_then(|c| hex::decode(c.value()).ok())
            .filter(|k| k.len() == 32)
        else {
            return Ok((None, None));
        };
        let now_ms = now.and_utc().timestamp_millis();
        let (owner_id, id) = (owner.clone(), token_id.clone());
        let sealed = db::write_query(pool, move |conn| {
            reveals::take(conn, &id, &owner_id, now_ms)
        })
        .await?;
        let removal = self.cookie(token_id, String::new(), 0);
        let plain = sealed.and_then(|sealed| {
            let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
            let aad = bound_to(owner, token_id);
            let opened = Aes256Gcm::new_from_slice(&key)
                .ok()?
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: &aad,
                    },
                )
                .ok()?;
            PlainToken::parse(std::str::from_utf8(&opened).ok()?).ok()
        });
        Ok((plain, Some(removal)))
    }

    fn cookie(&self, token_id: &TokenId, value: String, max_age_secs: i64) -> Cookie<'static> {
        Cookie::build(COOKIE, value)
            .path(page(token_id))
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .max_age(time::Duration::seconds(max_age_secs))
            .finish()
    }
}

/// Forgets reveals nobody came for, on the periodic sweep.
pub async fn sweep(pool: &Pool, now: NaiveDateTime) -> Result<usize, db::DbError> {
    let now_ms = now.and_utc().timestamp_millis();
    db::write_query(pool, move |conn| reveals::delete_expired(conn, now_ms)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn start() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
    }

    #[actix_web::test]
    async fn a_reveal_is_taken_once_by_its_owner_with_its_key_only() {
        let (_dir, pool) = db::temp_pool().await;
        let reveals = PendingReveals::new(true);
        let (alice, mallory, t1) = (UserId::new(), UserId::new(), TokenId::new());
        let plain = PlainToken::generate();
        let expected = plain.expose().to_owned();
        let cookie = reveals
            .hold(&pool, &alice, &t1, plain, start())
            .await
            .unwrap();
        assert!(cookie.http_only().unwrap() && cookie.secure().unwrap());
        assert_eq!(cookie.path(), Some(page(&t1).as_str()));
        assert!(!cookie.value().contains(&expected));

        let with = TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request();
        let without = TestRequest::default().to_http_request();
        let wrong_key = Cookie::new(COOKIE, hex::encode([9u8; 32]));
        let wrong = TestRequest::default().cookie(wrong_key).to_http_request();

        let take = |req: HttpRequest, owner: UserId| {
            let (reveals, pool, t1) = (&reveals, pool.clone(), t1.clone());
            async move { reveals.take(&pool, &req, &owner, &t1, start()).await }
        };
        assert!(take(without, alice.clone()).await.unwrap().0.is_none());
        assert!(take(with.clone(), mallory).await.unwrap().0.is_none());
        let (plain, removal) = take(with.clone(), alice.clone()).await.unwrap();
        assert_eq!(plain.unwrap().expose(), expected);
        assert_eq!(removal.unwrap().max_age(), Some(time::Duration::ZERO));
        let again = take(with, alice.clone()).await.unwrap();
        assert!(again.0.is_none(), "only once");

        // A wrong key opens nothing, and the view is used up all the same.
        let t2 = TokenId::new();
        let cookie = reveals
            .hold(&pool, &alice, &t2, PlainToken::generate(), start())
            .await
            .unwrap();
        let taken = reveals.take(&pool, &wrong, &alice, &t2, start()).await;
        assert!(taken.unwrap().0.is_none());
        let with = TestRequest::default().cookie(cookie).to_http_request();
        let taken = reveals.take(&pool, &with, &alice, &t2, start()).await;
        assert!(taken.unwrap().0.is_none());
    }

    #[actix_web::test]
    async fn a_reveal_expires_after_a_minute() {
        let (_dir, pool) = db::temp_pool().await;
        let reveals = PendingReveals::new(false);
        let (alice, t1) = (UserId::new(), TokenId::new());
        let cookie = reveals
            .hold(&pool, &alice, &t1, PlainToken::generate(), start())
            .await
            .unwrap();
        let later = start() + chrono::Duration::seconds(60);
        assert_eq!(sweep(&pool, start()).await.unwrap(), 0);
        let with = TestRequest::default().cookie(cookie).to_http_request();
        let taken = reveals.take(&pool, &with, &alice, &t1, later).await;
        assert!(taken.unwrap().0.is_none());
        let _ = reveals
            .hold(
                &pool,
                &alice,
                &TokenId::new(),
                PlainToken::generate(),
                start(),
            )
            .await
            .unwrap();
        assert_eq!(sweep(&pool, later).await.unwrap(), 1);
    }
}
