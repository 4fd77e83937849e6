//! Passkeys (WebAuthn Level 2, SPEC §3.1), ES256 only: the relying party (the public URL's host
//! and origin), the challenges a session waits on, and the checks of what the browser's
//! authenticator answers — a new credential (`register`) and a signed login (`authenticate`).
//! Written on `p256`, `sha2` and `base64ct`, which were here already, with the little CBOR an
//! attestation and an EC2 key need: a WebAuthn crate would bring OpenSSL and a dozen crates
//! for formats we do not ask for (we request `attestation: "none"`: the key is trusted
//! because the signed-in account registers it, not because of who made the authenticator).

use actix_session::Session;
use base64ct::{Base64UrlUnpadded, Encoding};
use chrono::NaiveDateTime;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AppError;

/// COSE's number for ES256 (ECDSA P-256 with SHA-256), the one algorithm asked and accepted.
pub const ES256: i64 = -7;
/// How long a challenge waits for its answer (the browser's own timeout is shorter).
const CHALLENGE_FOR_SECONDS: i64 = 300;
/// The session key of the challenge a session waits on.
const CHALLENGE: &str = "passkey_challenge";

/// Who the passkeys are for: the public URL's host (the RP ID) and its origin, which every
/// answer's `clientDataJSON` must name.
#[derive(Clone, Debug)]
pub struct RelyingParty {
    pub id: String,
    pub origin: String,
}

impl RelyingParty {
    fn id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.id.as_bytes()).into()
    }
}

/// What a challenge was given for: an answer is checked against the challenge of its own
/// purpose only, so a login's challenge cannot register a key and the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Register,
    /// The second factor after the password, or at re-authentication.
    SecondFactor,
    /// Signing in with a passkey alone.
    SignIn,
}

#[derive(Serialize, Deserialize)]
struct Waiting {
    purpose: Purpose,
    challenge: String,
    at: i64,
}

/// A new random challenge for `purpose`, kept in the session (replacing any other): the next
/// answer of that purpose must sign it, once.
pub fn issue_challenge(
    session: &Session,
    purpose: Purpose,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let challenge = Base64UrlUnpadded::encode_string(&bytes);
    let waiting = Waiting {
        purpose,
        challenge: challenge.clone(),
        at: now.and_utc().timestamp(),
    };
    session.insert(CHALLENGE, waiting)?;
    Ok(challenge)
}

/// The session's challenge for `purpose`, taken out of it (a challenge is answered once, right
/// or wrong); `None` when there is none, it was for something else, or it is too old.
pub fn take_challenge(
    session: &Session,
    purpose: Purpose,
    now: NaiveDateTime,
) -> Result<Option<Vec<u8>>, AppError> {
    let Some(waiting) = session.get::<Waiting>(CHALLENGE)? else {
        return Ok(None);
    };
    session.remove(CHALLENGE);
    let age = now.and_utc().timestamp() - waiting.at;
    if waiting.purpose != purpose || !(0..CHALLENGE_FOR_SECONDS).contains(&age) {
        return Ok(None);
    }
    Ok(decode(&waiting.challenge))
}

/// Why an answer was refused. Said to nobody but the log and the tests: the person is told the
/// passkey did not work.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the answer is not well formed: {0}")]
    Malformed(&'static str),
    #[error("the answer is not of the expected type")]
    WrongType,
    #[error("the answer signs another challenge")]
    WrongChallenge,
    #[error("the answer comes from another origin")]
    WrongOrigin,
    #[error("the answer is for another relying party")]
    WrongRelyingParty,
    #[error("the user was not present")]
    NotPresent,
    #[error("the user was not verified")]
    NotVerified,
    #[error("the key is not an ES256 P-256 key")]
    UnsupportedKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the signature counter went back: the passkey may have been cloned")]
    CounterWentBack,
}

/// Base64url, with or without padding (browsers' `toJSON` leave it off; others may not).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text.trim_end_matches('=')).ok()
}

pub fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// What a browser answers to `navigator.credentials.create`, as its `toJSON()` writes it (our
/// `static/app.js` writes the same).
#[derive(Debug, Deserialize)]
pub struct NewCredentialAnswer {
    #[serde(rename = "rawId", default)]
    pub raw_id: Option<String>,
    pub response: AttestationResponse,
}

#[derive(Debug, Deserialize)]
pub struct AttestationResponse {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    #[serde(rename = "attestationObject")]
    pub attestation_object: String,
}

/// What a browser answers to `navigator.credentials.get`.
#[derive(Debug, Deserialize)]
pub struct AssertionAnswer {
    #[serde(rename = "rawId")]
    pub raw_id: String,
    pub response: AssertionResponse,
}

#[derive(Debug, Deserialize)]
pub struct AssertionResponse {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    #[serde(rename = "authenticatorData")]
    pub authenticator_data: String,
    pub signature: String,
}

impl AssertionAnswer {
    /// The credential id the answer says it signed with (checked against the stored key by
    /// `authenticate`, whose signature decides).
    pub fn credential_id(&self) -> Result<Vec<u8>, Refusal> {
        decode(&self.raw_id).ok_or(Refusal::Malformed("rawId"))
    }
}

/// A credential an authenticator made, checked: what is kept of it.
#[derive(Debug)]
pub struct NewCredential {
    pub credential_id: Vec<u8>,
    /// The P-256 point, SEC1 uncompressed (65 bytes).
    pub public_key: Vec<u8>,
    pub sign_count: u32,
}

#[derive(Deserialize)]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
}

/// `clientDataJSON`: its type, the challenge we issued, our origin.
fn check_client_data(
    rp: &RelyingParty,
    raw: &[u8],
    kind: &str,
    challenge: &[u8],
) -> Result<(), Refusal> {
    let data: ClientData =
        serde_json::from_slice(raw).map_err(|_| Refusal::Malformed("clientDataJSON"))?;
    if data.kind != kind {
        return Err(Refusal::WrongType);
    }
    if decode(&data.challenge).as_deref() != Some(challenge) {
        return Err(Refusal::WrongChallenge);
    }
    if data.origin != rp.origin {
        return Err(Refusal::WrongOrigin);
    }
    Ok(())
}

const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const ATTESTED_DATA: u8 = 0x40;

/// The authenticator data's fixed head: the RP ID's hash, the flags, the counter.
struct AuthData<'a> {
    flags: u8,
    sign_count: u32,
    rest: &'a [u8],
}

fn check_auth_data<'a>(
    rp: &RelyingParty,
    raw: &'a [u8],
    user_verification: bool,
) -> Result<AuthData<'a>, Refusal> {
    if raw.len() < 37 {
        return Err(Refusal::Malformed("authenticatorData"));
    }
    if raw[..32] != rp.id_hash() {
        return Err(Refusal::WrongRelyingParty);
    }
    let flags = raw[32];
    if flags & USER_PRESENT == 0 {
        return Err(Refusal::NotPresent);
    }
    if user_verification && flags & USER_VERIFIED == 0 {
        return Err(Refusal::NotVerified);
    }
    let sign_count = u32::from_be_bytes([raw[33], raw[34], raw[35], raw[36]]);
    Ok(AuthData {
        flags,
        sign_count,
        rest: &raw[37..],
    })
}

/// Checks a new credential against the registration challenge: `clientDataJSON` (type
/// `webauthn.create`, the challenge, our origin), the authenticator data (our RP ID, the user
/// present, verified when `user_verification`), and its attested credential: an id and an
/// ES256 P-256 key. The attestation statement itself is not checked: we asked for none.
pub fn register(
    rp: &RelyingParty,
    challenge: &[u8],
    answer: &NewCredentialAnswer,
    user_verification: bool,
) -> Result<NewCredential, Refusal> {
    let client_data =
        decode(&answer.response.client_data_json).ok_or(Refusal::Malformed("clientDataJSON"))?;
    check_client_data(rp, &client_data, "webauthn.create", challenge)?;
    let attestation = decode(&answer.response.attestation_object)
        .ok_or(Refusal::Malformed("attestationObject"))?;
    let (object, _) = cbor::parse(&attestation).ok_or(Refusal::Malformed("attestationObject"))?;
    let auth_data = object
        .get_text("authData")
        .and_then(cbor::Value::bytes)
        .ok_or(Refusal::Malformed("authData"))?;
    let data = check_auth_data(rp, auth_data, user_verification)?;
    if data.flags & ATTESTED_DATA == 0 || data.rest.len() < 18 {
        return Err(Refusal::Malformed("attested credential data"));
    }
    // The authenticator's model (16 bytes), then the id's length and the id.
    let id_len = usize::from(u16::from_be_bytes([data.rest[16], data.rest[17]]));
    let after_id = 18 + id_len;
    if data.rest.len() < after_id || id_len == 0 {
        return Err(Refusal::Malformed("credential id"));
    }
    let credential_id = data.rest[18..after_id].to_vec();
    if let Some(raw_id) = &answer.raw_id {
        if decode(raw_id).as_deref() != Some(credential_id.as_slice()) {
            return Err(Refusal::Malformed("rawId"));
        }
    }
    let (key, _) = cbor::parse(&data.rest[after_id..]).ok_or(Refusal::Malformed("key"))?;
    let public_key = es256_key(&key)?;
    Ok(NewCredential {
        credential_id,
        public_key,
        sign_count: data.sign_count,
    })
}

/// A COSE EC2 key on P-256 for ES256, as a SEC1 uncompressed point (checked on the curve).
fn es256_key(key: &cbor::Value<'_>) -> Result<Vec<u8>, Refusal> {
    let int = |label: i64| key.get_int(label).and_then(cbor::Value::int);
    // kty 2 (EC2), alg -7 (ES256), crv 1 (P-256).
    if int(1) != Some(2) || int(3) != Some(ES256) || int(-1) != Some(1) {
        return Err(Refusal::UnsupportedKey);
    }
    let coordinate = |label: i64| {
        key.get_int(label)
            .and_then(cbor::Value::bytes)
            .filter(|b| b.len() == 32)
    };
    let (Some(x), Some(y)) = (coordinate(-2), coordinate(-3)) else {
        return Err(Refusal::UnsupportedKey);
    };
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    VerifyingKey::from_sec1_bytes(&point).map_err(|_| Refusal::UnsupportedKey)?;
    Ok(point)
}

/// Checks a signed login with the stored key and counter: `clientDataJSON` (type
/// `webauthn.get`, the challenge, our origin), the authenticator data (our RP ID, the user
/// present, verified when `user_verification`), the signature over the authenticator data and
/// the client data's hash, and a counter that went up (when either is not zero: a counter
/// that stayed or went back means two authenticators hold the key). The new counter.
pub fn authenticate(
    rp: &RelyingParty,
    challenge: &[u8],
    answer: &AssertionAnswer,
    public_key: &[u8],
    stored_count: u32,
    user_verification: bool,
) -> Result<u32, Refusal> {
    let client_data =
        decode(&answer.response.client_data_json).ok_or(Refusal::Malformed("clientDataJSON"))?;
    check_client_data(rp, &client_data, "webauthn.get", challenge)?;
    let auth_data = decode(&answer.response.authenticator_data)
        .ok_or(Refusal::Malformed("authenticatorData"))?;
    let data = check_auth_data(rp, &auth_data, user_verification)?;
    let signature = decode(&answer.response.signature).ok_or(Refusal::Malformed("signature"))?;
    let signature = Signature::from_der(&signature).map_err(|_| Refusal::BadSignature)?;
    // Some authenticators sign with a high S, which the verifier would refuse as malleable.
    let signature = signature.normalize_s().unwrap_or(signature);
    let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| Refusal::UnsupportedKey)?;
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&Sha256::digest(&client_data));
    key.verify(&signed, &signature)
        .map_err(|_| Refusal::BadSignature)?;
    if (data.sign_count != 0 || stored_count != 0) && data.sign_count <= stored_count {
        return Err(Refusal::CounterWentBack);
    }
    Ok(data.sign_count)
}

/// Just enough CBOR (RFC 8949) for an attestation object and a COSE key: integers, byte and
/// text strings, arrays, maps and the simple values, definite lengths only (what CTAP2's
/// canonical encoding uses), nested at most 8 deep.
pub mod cbor {
    #[derive(Debug, PartialEq)]
    pub enum Value<'a> {
        Int(i64),
        Bytes(&'a [u8]),
        Text(&'a str),
        Array(Vec<Value<'a>>),
        Map(Vec<(Value<'a>, Value<'a>)>),
        Simple(u8),
    }

    impl<'a> Value<'a> {
        pub fn int(&self) -> Option<i64> {
            match self {
                Value::Int(i) => Some(*i),
                _ => None,
            }
        }

        pub fn bytes(&self) -> Option<&'a [u8]> {
            match self {
                Value::Bytes(b) => Some(b),
                _ => None,
            }
        }

        fn get(&self, wanted: &Value<'_>) -> Option<&Value<'a>> {
            match self {
                Value::Map(entries) => entries.iter().find(|(k, _)| k == wanted).map(|(_, v)| v),
                _ => None,
            }
        }

        pub fn get_text(&self, key: &str) -> Option<&Value<'a>> {
            self.get(&Value::Text(key))
        }

        pub fn get_int(&self, key: i64) -> Option<&Value<'a>> {
            self.get(&Value::Int(key))
        }
    }

    /// The first value of `input` and the bytes it took; `None` when it is not well formed.
    pub fn parse(input: &[u8]) -> Option<(Value<'_>, usize)> {
        let mut at = 0;
        let value = item(input, &mut at, 0)?;
        Some((value, at))
    }

    fn take<'a>(input: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
        let end = at.checked_add(n)?;
        let bytes = input.get(*at..end)?;
        *at = end;
        Some(bytes)
    }

    fn argument(input: &[u8], at: &mut usize, info: u8) -> Option<u64> {
        let n = match info {
            0..=23 => return Some(u64::from(info)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return None, // indefinite lengths and reserved values
        };
        let bytes = take(input, at, n)?;
        Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn item<'a>(input: &'a [u8], at: &mut usize, depth: u8) -> Option<Value<'a>> {
        if depth > 8 {
            return None;
        }
        let head = *input.get(*at)?;
        *at += 1;
        let (major, info) = (head >> 5, head & 0x1f);
        let arg = argument(input, at, info)?;
        // A length can be no more than what is left: no allocation from a forged one.
        let left = (input.len() - *at) as u64;
        Some(match major {
            0 => Value::Int(i64::try_from(arg).ok()?),
            1 => Value::Int(-1 - i64::try_from(arg).ok()?),
            2 | 3 if arg > left => return None,
            2 => Value::Bytes(take(input, at, arg as usize)?),
            3 => Value::Text(std::str::from_utf8(take(input, at, arg as usize)?).ok()?),
            4 | 5 if arg > left => return None,
            4 => Value::Array(
                (0..arg)
                    .map(|_| item(input, at, depth + 1))
                    .collect::<Option<_>>()?,
            ),
            5 => Value::Map(
                (0..arg)
                    .map(|_| Some((item(input, at, depth + 1)?, item(input, at, depth + 1)?)))
                    .collect::<Option<_>>()?,
            ),
            7 if info < 24 => Value::Simple(info),
            _ => return None, // tags, floats
        })
    }
}

#[cfg(test)]
mod tests {
    use super::cbor::{parse, Value};
    use super::*;

    #[test]
    fn cbor_reads_what_an_attestation_holds() {
        // {"fmt": "none", "attStmt": {}, "n": -7, "b": h'0102'}
        let bytes = [
            0xa4, 0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e', 0x67, b'a', b't', b't',
            b'S', b't', b'm', b't', 0xa0, 0x61, b'n', 0x26, 0x61, b'b', 0x42, 1, 2,
        ];
        let (value, used) = parse(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(value.get_text("fmt"), Some(&Value::Text("none")));
        assert_eq!(value.get_text("attStmt"), Some(&Value::Map(vec![])));
        assert_eq!(value.get_text("n").and_then(Value::int), Some(-7));
        assert_eq!(
            value.get_text("b").and_then(Value::bytes),
            Some(&[1u8, 2][..])
        );
    }

    #[test]
    fn cbor_refuses_what_is_cut_short_or_forged() {
        assert_eq!(
            parse(&[0x42, 1]),
            None,
            "a byte string longer than the input"
        );
        assert_eq!(
            parse(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(parse(&[0x5f]), None, "indefinite length");
        let deep = [0x81u8; 20];
        assert_eq!(parse(&deep), None, "nested too deep");
    }

    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;

    fn rp() -> RelyingParty {
        RelyingParty {
            id: "example.com".into(),
            origin: "https://example.com".into(),
        }
    }

    fn client_data(kind: &str, challenge: &[u8]) -> String {
        let json = serde_json::json!({
            "type": kind, "challenge": encode(challenge), "origin": "https://example.com",
        });
        encode(json.to_string().as_bytes())
    }

    fn auth_data(flags: u8, count: u32) -> Vec<u8> {
        let mut data = rp().id_hash().to_vec();
        data.push(flags);
        data.extend(count.to_be_bytes());
        data
    }

    /// A `none` attestation of `key` under credential id [9, 9], the COSE key with `alg`.
    fn attestation(key: &SigningKey, alg: u8) -> String {
        let point = key.verifying_key().to_encoded_point(false);
        let mut data = auth_data(USER_PRESENT | ATTESTED_DATA, 0);
        data.extend([0u8; 16]);
        data.extend([0, 2, 9, 9]);
        data.extend([0xa5, 0x01, 0x02, 0x03, alg, 0x20, 0x01, 0x21, 0x58, 0x20]);
        data.extend(point.x().unwrap());
        data.extend([0x22, 0x58, 0x20]);
        data.extend(point.y().unwrap());
        let mut object = vec![0xa3, 0x63, b'f', b'm', b't', 0x64, b'n', b'o', b'n', b'e'];
        object.extend([0x67, b'a', b't', b't', b'S', b't', b'm', b't', 0xa0]);
        object.extend([0x68, b'a', b'u', b't', b'h', b'D', b'a', b't', b'a', 0x58]);
        object.push(data.len() as u8);
        object.extend(data);
        encode(&object)
    }

    fn assertion(key: &SigningKey, kind: &str, flags: u8, count: u32) -> AssertionAnswer {
        let client_data = client_data(kind, b"challenge");
        let data = auth_data(flags, count);
        let mut signed = data.clone();
        signed.extend(Sha256::digest(decode(&client_data).unwrap()));
        let signature: Signature = key.sign(&signed);
        AssertionAnswer {
            raw_id: encode(&[9, 9]),
            response: AssertionResponse {
                client_data_json: client_data,
                authenticator_data: encode(&data),
                signature: encode(signature.to_der().as_bytes()),
            },
        }
    }

    #[test]
    fn a_credential_is_made_and_signs_with_a_counter_that_goes_up() {
        let key = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let made = NewCredentialAnswer {
            raw_id: Some(encode(&[9, 9])),
            response: AttestationResponse {
                client_data_json: client_data("webauthn.create", b"challenge"),
                attestation_object: attestation(&key, 0x26),
            },
        };
        let credential = register(&rp(), b"challenge", &made, false).unwrap();
        assert_eq!(credential.credential_id, [9, 9]);
        let public_key = credential.public_key;
        let check = |answer: &AssertionAnswer, stored: u32, uv: bool| {
            authenticate(&rp(), b"challenge", answer, &public_key, stored, uv)
        };
        let answer = assertion(&key, "webauthn.get", USER_PRESENT, 5);
        assert_eq!(check(&answer, 4, false), Ok(5));
        assert_eq!(check(&answer, 5, false), Err(Refusal::CounterWentBack));
        assert_eq!(check(&answer, 4, true), Err(Refusal::NotVerified));
        let no_counter = assertion(&key, "webauthn.get", USER_PRESENT, 0);
        assert_eq!(
            check(&no_counter, 0, false),
            Ok(0),
            "authenticators without one"
        );
        let absent = assertion(&key, "webauthn.get", 0, 6);
        assert_eq!(check(&absent, 4, false), Err(Refusal::NotPresent));
        let wrong_type = assertion(&key, "webauthn.create", USER_PRESENT, 6);
        assert_eq!(check(&wrong_type, 4, false), Err(Refusal::WrongType));
        let other_key = SigningKey::from_slice(&[8u8; 32]).unwrap();
        let forged = assertion(&other_key, "webauthn.get", USER_PRESENT, 6);
        assert_eq!(check(&forged, 4, false), Err(Refusal::BadSignature));
        assert_eq!(
            authenticate(&rp(), b"another", &answer, &public_key, 4, false),
            Err(Refusal::WrongChallenge)
        );

        // EdDSA (-8) is not asked for, and not taken.
        let eddsa = NewCredentialAnswer {
            raw_id: None,
            response: AttestationResponse {
                client_data_json: client_data("webauthn.create", b"challenge"),
                attestation_object: attestation(&key, 0x27),
            },
        };
        let refused = register(&rp(), b"challenge", &eddsa, false).unwrap_err();
        assert_eq!(refused, Refusal::UnsupportedKey);
    }

    #[test]
    fn base64url_with_or_without_padding() {
        assert_eq!(decode("AQI="), Some(vec![1, 2]));
        assert_eq!(decode("AQI"), Some(vec![1, 2]));
        assert_eq!(encode(&[1, 2]), "AQI");
    }
}
