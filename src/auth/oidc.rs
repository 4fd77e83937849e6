//! Verifying a CI platform's OIDC token (SPEC §8.8): the signature against the issuer's keys
//! (its JWKS, found through OpenID Connect discovery, cached, fetched again for a key id it
//! does not know — at most every `REFETCH_AFTER` per issuer), the algorithm from an allow-list
//! (RS256, ES256: the key's own, so an HMAC "signed" with a public key never passes), `iss`,
//! `exp`, `nbf` and `iat` with `SKEW`, and `jti` and `sub` present. The audience and the claim
//! rules are each trust configuration's, checked by `ops::trusted_ci`; `jti` single use is
//! kept in the database there too.
//!
//! Every refusal is a `Refused` with a reason a CI log can show: words of ours and the names of
//! claims, never a value taken from the token (it reaches a response header).

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use base64ct::{Base64UrlUnpadded, Encoding};
use chrono::{DateTime, Duration, NaiveDateTime};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::domain::IssuerUrl;

/// Keys fetched this recently are used without asking the issuer again.
const FRESH_FOR: Duration = Duration::minutes(10);
/// An unknown key id makes the keys be fetched again, but not more often than this per issuer:
/// tokens with made-up key ids cannot make the server hammer an issuer.
pub const REFETCH_AFTER: Duration = Duration::seconds(30);
/// Clocks differ: `exp`, `nbf` and `iat` are allowed this much either way.
const SKEW: Duration = Duration::seconds(60);
/// A token that claims to live longer than this is refused: platforms' tokens live minutes,
/// and every `jti` is kept until its token expires.
const LONGEST: Duration = Duration::hours(24);
/// A JWT, a discovery document and a JWKS are small; more is refused unread.
pub const MAX_JWT_BYTES: usize = 16 * 1024;
const MAX_DOCUMENT_BYTES: u64 = 256 * 1024;
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a token was refused, for the CI log (401 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl Refused {
    fn new(reason: impl Into<String>) -> Self {
        Refused(reason.into())
    }
}

/// What a token says before its signature is checked: only which issuer to ask.
pub struct Unverified {
    pub issuer: String,
    alg: Algorithm,
    kid: String,
}

/// A token whose signature, issuer and times were checked.
#[derive(Debug)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub jti: String,
    pub expires_at: NaiveDateTime,
    /// `aud`, one or several.
    pub audiences: Vec<String>,
    /// Every claim, for the configurations' rules.
    pub claims: Map<String, Value>,
}

/// Reads the header and the issuer of `jwt`, refusing what no key could make acceptable: not a
/// JWT, an algorithm outside the allow-list (`none`, HMAC, …), no key id, no issuer.
pub fn peek(jwt: &str) -> Result<Unverified, Refused> {
    if jwt.len() > MAX_JWT_BYTES {
        return Err(Refused::new("The token is too long to be a CI platform's."));
    }
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| {
        Refused::new(
            "Not a signed JWT with an accepted algorithm (RS256 or ES256): \
             unsigned tokens (alg none) are never accepted.",
        )
    })?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(Refused::new(
            "The token's algorithm is not accepted: use RS256 or ES256.",
        ));
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Refused::new("The token's header names no key (kid)."))?;
    let claims = payload(jwt)?;
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| Refused::new("The token names no issuer (iss)."))?
        .to_owned();
    Ok(Unverified {
        issuer,
        alg: header.alg,
        kid,
    })
}

/// The claims, unverified.
fn payload(jwt: &str) -> Result<Map<String, Value>, Refused> {
    let malformed = || Refused::new("The token is not a well-formed JWT.");
    let part = jwt.split('.').nth(1).ok_or_else(malformed)?;
    let bytes = Base64UrlUnpadded::decode_vec(part).map_err(|_| malformed())?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(malformed()),
    }
}

/// One verification key of an issuer.
struct Key {
    kid: String,
    alg: Algorithm,
    key: DecodingKey,
}

/// An issuer's keys as last fetched.
struct Entry {
    keys: Arc<Vec<Key>>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<NaiveDateTime>,
    /// When they were last asked for, successfully or not (the refetch limit).
    tried_at: NaiveDateTime,
}

/// Every issuer's keys, per instance (each instance fetches for itself; keys are public).
/// Only issuers some project trusts are ever fetched, so it holds a bounded number.
#[derive(Default)]
pub struct Issuers {
    cache: Mutex<HashMap<String, Entry>>,
}

impl Issuers {
    /// Checks `jwt` (already `peek`ed as `token`) against the keys of `issuer`.
    pub async fn verify(
        &self,
        jwt: &str,
        token: &Unverified,
        issuer: &IssuerUrl,
        now: NaiveDateTime,
    ) -> Result<Verified, Refused> {
        let key = match self.cached_key(issuer, &token.kid, now) {
            Lookup::Found(key) => key,
            Lookup::Unknown => {
                return Err(Refused::new(
                    "The issuer has no key with the token's key id (kid).",
                ))
            }
            Lookup::Fetch => self.fetch_key(issuer, &token.kid, now).await?,
        };
        check(jwt, token, &key, issuer, now)
    }

    fn cached_key(&self, issuer: &IssuerUrl, kid: &str, now: NaiveDateTime) -> Lookup {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = cache.get_mut(issuer.as_str()) else {
            cache.insert(
                issuer.as_str().to_owned(),
                Entry {
                    keys: Arc::default(),
                    fetched_at: None,
                    tried_at: now,
                },
            );
            return Lookup::Fetch;
        };
        let fresh = entry.fetched_at.is_some_and(|at| now - at < FRESH_FOR);
        let found = entry.keys.iter().position(|k| k.kid == kid);
        match found {
            Some(i) if fresh => Lookup::Found(KeyRef(entry.keys.clone(), i)),
            _ if now - entry.tried_at >= REFETCH_AFTER => {
                entry.tried_at = now;
                Lookup::Fetch
            }
            Some(i) => Lookup::Found(KeyRef(entry.keys.clone(), i)),
            None => Lookup::Unknown,
        }
    }

    async fn fetch_key(
        &self,
        issuer: &IssuerUrl,
        kid: &str,
        now: NaiveDateTime,
    ) -> Result<KeyRef, Refused> {
        let from = issuer.clone();
        // ureq blocks: on the blocking pool, never on the async workers.
        let keys = actix_web::web::block(move || fetch_keys(&from))
            .await
            .map_err(|_| Refused::new("The issuer's keys could not be fetched."))??;
        let keys = Arc::new(keys);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(
            issuer.as_str().to_owned(),
            Entry {
                keys: keys.clone(),
                fetched_at: Some(now),
                tried_at: now,
            },
        );
        keys.iter()
            .position(|k| k.kid == kid)
            .map(|i| KeyRef(keys.clone(), i))
            .ok_or_else(|| Refused::new("The issuer has no key with the token's key id (kid)."))
    }
}

/// A key in a shared set.
struct KeyRef(Arc<Vec<Key>>, usize);

enum Lookup {
    Found(KeyRef),
    /// Not known, and fetched too recently to ask again.
    Unknown,
    Fetch,
}

/// The signature and the times. (`aud` and the rules: the caller's.)
fn check(
    jwt: &str,
    token: &Unverified,
    key: &KeyRef,
    issuer: &IssuerUrl,
    now: NaiveDateTime,
) -> Result<Verified, Refused> {
    let key = &key.0[key.1];
    if key.alg != token.alg {
        return Err(Refused::new(
            "The token's algorithm is not its key's: the signature is not trusted.",
        ));
    }
    let mut validation = Validation::new(key.alg);
    // Times are checked below against the server's clock; the audience by each configuration.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.key, &validation)
        .map_err(|_| Refused::new("The token's signature does not verify with the issuer's key."))?
        .claims;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str()) {
        return Err(Refused::new(
            "The token's issuer (iss) is not the one trusted.",
        ));
    }
    let time = |name: &str| -> Result<Option<NaiveDateTime>, Refused> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .map(|t| Some(t.naive_utc()))
                .ok_or_else(|| Refused(format!("The token's {name} is not a time."))),
        }
    };
    let expires_at = time("exp")?.ok_or_else(|| Refused::new("The token has no expiry (exp)."))?;
    if now >= expires_at + SKEW {
        return Err(Refused::new("The token has expired (exp)."));
    }
    if expires_at - now > LONGEST {
        return Err(Refused::new(
            "The token lives longer than a day (exp): not a CI job's token.",
        ));
    }
    if time("nbf")?.is_some_and(|nbf| nbf > now + SKEW) {
        return Err(Refused::new("The token is not valid yet (nbf)."));
    }
    if time("iat")?.is_some_and(|iat| iat > now + SKEW) {
        return Err(Refused::new("The token was issued in the future (iat)."));
    }
    let string = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 512)
            .map(str::to_owned)
    };
    let jti = string("jti").ok_or_else(|| Refused::new("The token has no id (jti)."))?;
    let subject = string("sub").ok_or_else(|| Refused::new("The token has no subject (sub)."))?;
    let audiences = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Verified {
        issuer: issuer.as_str().to_owned(),
        subject,
        jti,
        expires_at,
        audiences,
        claims,
    })
}

/// GETs a small JSON document.
fn get_json(url: &str) -> Result<Value, Refused> {
    let unreachable = || Refused::new("The issuer's keys could not be fetched.");
    let res = ureq::get(url)
        .timeout(FETCH_TIMEOUT)
        .call()
        .map_err(|_| unreachable())?;
    let mut body = Vec::new();
    res.into_reader()
        .take(MAX_DOCUMENT_BYTES)
        .read_to_end(&mut body)
        .map_err(|_| unreachable())?;
    serde_json::from_slice(&body).map_err(|_| unreachable())
}

/// The issuer's discovery document, then its JWKS; keys of algorithms outside the allow-list
/// are left out.
fn fetch_keys(issuer: &IssuerUrl) -> Result<Vec<Key>, Refused> {
    let discovery = get_json(&issuer.discovery_url())?;
    if discovery.get("issuer").and_then(Value::as_str) != Some(issuer.as_str()) {
        return Err(Refused::new(
            "The issuer's discovery document names another issuer.",
        ));
    }
    // The key set's address obeys the issuer's rule: https, or http on loopback.
    let jwks_uri = discovery
        .get("jwks_uri")
        .and_then(Value::as_str)
        .and_then(IssuerUrl::parse)
        .ok_or_else(|| Refused::new("The issuer's discovery document has no usable jwks_uri."))?;
    let jwks = get_json(jwks_uri.as_str())?;
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| Refused::new("The issuer's key set has no keys."))?;
    Ok(keys.iter().filter_map(key_of).collect())
}

/// A JWK we can verify with: an RSA key (RS256) or a P-256 key (ES256), with a key id.
fn key_of(raw: &Value) -> Option<Key> {
    let jwk: Jwk = serde_json::from_value(raw.clone()).ok()?;
    let kid = jwk.common.key_id.clone().filter(|k| !k.is_empty())?;
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        _ => return None,
    };
    // A key that names another algorithm is for that one only.
    let named = raw.get("alg").and_then(Value::as_str);
    if named.is_some_and(|a| Some(a) != alg_name(alg)) {
        return None;
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(Key { kid, alg, key })
}

fn alg_name(alg: Algorithm) -> Option<&'static str> {
    match alg {
        Algorithm::RS256 => Some("RS256"),
        Algorithm::ES256 => Some("ES256"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            Base64UrlUnpadded::encode_string(header.as_bytes()),
            Base64UrlUnpadded::encode_string(claims.as_bytes())
        )
    }

    #[test]
    fn peek_refuses_what_no_key_could_accept() {
        let iss = r#"{"iss":"https://ci.example"}"#;
        for header in [
            r#"{"alg":"none","kid":"k"}"#,
            r#"{"alg":"HS256","kid":"k"}"#,
            r#"{"alg":"RS512","kid":"k"}"#,
            r#"{"alg":"RS256"}"#,
        ] {
            assert!(peek(&jwt(header, iss)).is_err(), "{header}");
        }
        assert!(peek(&jwt(r#"{"alg":"RS256","kid":"k"}"#, "{}")).is_err());
        assert!(peek("not.a.jwt").is_err());
        let ok = peek(&jwt(r#"{"alg":"ES256","kid":"k"}"#, iss)).unwrap();
        assert_eq!(
            (ok.issuer.as_str(), ok.kid.as_str()),
            ("https://ci.example", "k")
        );
    }
}
