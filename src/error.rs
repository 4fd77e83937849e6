//! `AppError`: every error the product answers at the HTTP edge, the one place that maps each
//! to a status and a code, and its JSON shape. (The dashboard writes the same errors as pages:
//! `routes::dashboard::HtmlError`.) Layers below answer their own errors — `DbError`,
//! `WriteError`, `anyhow` — and the `From`s at the bottom turn them into answers.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::models::{FieldErrors, WriteError};
use crate::db::DbError;
use crate::domain::Scope;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("Authentication required.")]
    Unauthenticated,
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// A method HTTP does not define (`routes::refuse_unknown_method`): 400 `invalid_request`,
    /// with no `WWW-Authenticate` (nothing is wrong with the credentials).
    #[error("Unknown HTTP method.")]
    UnknownMethod,
    #[error("{0}")]
    InvalidToken(&'static str),
    /// A CI platform's token refused by the exchange (SPEC §8.8): 401 `invalid_token`, with
    /// the reason the CI log shows (`auth::oidc::Refused`: our words, never the token's).
    #[error("{0}")]
    CiTokenRefused(String),
    /// A secret-scanning report whose signature is missing, malformed, by an unknown key or
    /// wrong (SPEC §8.4): 401 `unauthenticated`, and nothing is done.
    #[error("{0}")]
    BadSignature(&'static str),
    #[error("This token lacks the `{}` scope.", .0.as_str())]
    InsufficientScope(Scope),
    #[error("Your role on this project does not allow this.")]
    Forbidden,
    /// A credential on a session-only route; names what the route is for
    /// (`auth::caller::session_only`), e.g. "Managing tokens".
    #[error("{0} needs a dashboard session; an API token cannot do it.")]
    SessionRequired(&'static str),
    #[error("CSRF check failed; reload the page and try again.")]
    CsrfFailed,
    /// A cookie request whose `Origin` is not the public URL's: 403 `csrf_failed`, naming the
    /// origin expected (public: it is the address people use), since reloading cannot help.
    #[error(
        "CSRF check failed: this server takes such requests only from pages of {0} (its \
         public URL); open Mantel there, or start it with --public-url set to the address you use."
    )]
    ForeignOrigin(String),
    #[error("Not found.")]
    NotFound,
    /// A project the caller may not see (not a member, or not one its token chose): answered
    /// exactly as one that does not exist (SPEC §5), but it is a refusal, not use (§8.7).
    #[error("Not found.")]
    Hidden,
    /// The path exists but not with this method (RFC 9110 §15.5.6); `Allow` lists the methods
    /// it has (`routes::methods`).
    #[error("This path does not take this method; it takes {0}.")]
    MethodNotAllowed(String),
    #[error("Some fields are invalid.")]
    Validation(FieldErrors),
    #[error("{0}")]
    BadJson(String),
    #[error("The request body is too large.")]
    PayloadTooLarge,
    #[error("Send the body as JSON, with Content-Type: application/json.")]
    UnsupportedMediaType,
    #[error("Too many attempts; try again in {retry_after} seconds.")]
    RateLimited { retry_after: u64 },
    /// A good token used from outside its allowed addresses; the address it came from is
    /// named, so whoever runs the client can see what to allow.
    #[error("This token may not be used from {0}.")]
    IpNotAllowed(String),
    #[error(
        "Enter your password again to do this: POST /api/session/reauthenticate with \
         {{\"password\"}}, then repeat the request within 10 minutes."
    )]
    ReauthenticationRequired,
    /// The project's token policy blocks this token there (it is not revoked).
    #[error("{0}")]
    TokenPolicy(crate::domain::PolicyBreach),
    /// The project requires a second factor of its members, and this token's owner has none
    /// (SPEC §3.1): blocked there, not revoked.
    #[error(
        "This project requires its members to have a second factor; add one on \
         /settings/security, and this token works here again."
    )]
    SecondFactorRequired,
    /// A session halfway signed in: the password was right, the second factor is still due
    /// (SPEC §3.1). The API answers it as 401 `unauthenticated`; pages send it to
    /// `/login/verify`.
    #[error("Authentication required: enter the code of your second factor first.")]
    SecondFactorPending,
    /// The request body did not arrive within its deadline (`routes::deadline`): 408, and the
    /// connection is closed.
    #[error("The request body did not arrive in time.")]
    BodyTimeout,
    /// Too busy to take this on now (a full queue of password checks), or the database cannot
    /// be reached (restarting, its connections dropped): 503 with `Retry-After`, rather than
    /// memory without bound or a 500 for what is over in a moment.
    #[error("The server is busy; try again in {retry_after} seconds.")]
    Unavailable { retry_after: u64 },
    /// The token's or session's account is suspended by an admin (SPEC §9).
    #[error("This account is suspended.")]
    AccountSuspended,
    /// The cause is logged, never shown.
    #[error("Something went wrong on our side.")]
    Internal(anyhow::Error),
}

/// Every JSON error: `{"error": {…}}`. The answer is written from this type, and
/// `/api/openapi.json` describes it from the same type.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    // In the order the fields were always written (alphabetical).
    /// What went wrong, for programs: one of SPEC §5's codes.
    code: ErrorCode,
    /// With `validation_failed`: each invalid field (or `body`) and what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>, nullable = false)]
    fields: Option<&'a crate::db::models::FieldErrors>,
    /// What went wrong, for people.
    message: String,
    /// With `insufficient_scope`: the scope the token lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    scope: Option<Scope>,
}

crate::domain::string_enum! {
    /// The error codes of the contract (SPEC §5); `AppError::code` answers one of them.
    pub enum ErrorCode {
        Unauthenticated = "unauthenticated",
        InvalidRequest = "invalid_request",
        InvalidToken = "invalid_token",
        InsufficientScope = "insufficient_scope",
        Forbidden = "forbidden",
        SessionRequired = "session_required",
        CsrfFailed = "csrf_failed",
        NotFound = "not_found",
        MethodNotAllowed = "method_not_allowed",
        ValidationFailed = "validation_failed",
        BadJson = "bad_json",
        PayloadTooLarge = "payload_too_large",
        UnsupportedMediaType = "unsupported_media_type",
        RateLimited = "rate_limited",
        ReauthenticationRequired = "reauthentication_required",
        IpNotAllowed = "ip_not_allowed",
        TokenPolicy = "token_policy",
        SecondFactorRequired = "second_factor_required",
        Unavailable = "unavailable",
        AccountSuspended = "account_suspended",
        Internal = "internal",
    }
}

impl AppError {
    pub fn validation(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Validation(BTreeMap::from([(field, message.into())]))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Unauthenticated
            | AppError::SecondFactorPending
            | AppError::BadSignature(_) => ErrorCode::Unauthenticated,
            AppError::InvalidRequest(_) | AppError::UnknownMethod | AppError::BodyTimeout => {
                ErrorCode::InvalidRequest
            }
            AppError::InvalidToken(_) | AppError::CiTokenRefused(_) => ErrorCode::InvalidToken,
            AppError::AccountSuspended => ErrorCode::AccountSuspended,
            AppError::InsufficientScope(_) => ErrorCode::InsufficientScope,
            AppError::Forbidden => ErrorCode::Forbidden,
            AppError::SessionRequired(_) => ErrorCode::SessionRequired,
            AppError::CsrfFailed | AppError::ForeignOrigin(_) => ErrorCode::CsrfFailed,
            AppError::NotFound | AppError::Hidden => ErrorCode::NotFound,
            AppError::MethodNotAllowed(_) => ErrorCode::MethodNotAllowed,
            AppError::Validation(_) => ErrorCode::ValidationFailed,
            AppError::BadJson(_) => ErrorCode::BadJson,
            AppError::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            AppError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            AppError::RateLimited { .. } => ErrorCode::RateLimited,
            AppError::IpNotAllowed(_) => ErrorCode::IpNotAllowed,
            AppError::ReauthenticationRequired => ErrorCode::ReauthenticationRequired,
            AppError::TokenPolicy(_) => ErrorCode::TokenPolicy,
            AppError::SecondFactorRequired => ErrorCode::SecondFactorRequired,
            AppError::Unavailable { .. } => ErrorCode::Unavailable,
            AppError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Whether the caller was refused by an access rule (a scope, a role, a project it may not
    /// see, its allowed addresses, a policy, a limit) rather than answered: a refused request
    /// is recorded as `denied` and never counts as use of a token or a project (SPEC §8.7).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            AppError::InsufficientScope(_)
                | AppError::Forbidden
                | AppError::Hidden
                | AppError::SessionRequired(_)
                | AppError::CsrfFailed
                | AppError::ForeignOrigin(_)
                | AppError::IpNotAllowed(_)
                | AppError::ReauthenticationRequired
                | AppError::TokenPolicy(_)
                | AppError::SecondFactorRequired
                | AppError::RateLimited { .. }
        )
    }

    /// RFC 6750 §3: no error code when no credentials were sent.
    // Concatenated, not `format!`ed: a bearer refusal is on the hot path of a scan.
    fn www_authenticate(&self) -> Option<String> {
        const REALM: &str = r#"Bearer realm="mantel""#;
        let (error, detail, value) = match self {
            AppError::Unauthenticated | AppError::SecondFactorPending => {
                return Some(REALM.to_owned())
            }
            AppError::InvalidRequest(msg) => ("invalid_request", "error_description", *msg),
            AppError::InvalidToken(msg) => ("invalid_token", "error_description", *msg),
            AppError::CiTokenRefused(msg) => ("invalid_token", "error_description", msg.as_str()),
            AppError::AccountSuspended => (
                "invalid_token",
                "error_description",
                "This account is suspended.",
            ),
            AppError::InsufficientScope(scope) => ("insufficient_scope", "scope", scope.as_str()),
            _ => return None,
        };
        Some(
            [
                REALM,
                ", error=\"",
                error,
                "\", ",
                detail,
                "=\"",
                value,
                "\"",
            ]
            .concat(),
        )
    }

    fn log(&self) {
        if let AppError::Internal(cause) = self {
            tracing::error!(error = %cause, "internal error");
        }
    }

    /// A response with this error's status and headers, for either body format.
    pub(crate) fn response_builder(&self) -> actix_web::HttpResponseBuilder {
        self.log();
        let mut builder = HttpResponse::build(self.status_code());
        if let Some(value) = self.www_authenticate() {
            builder.insert_header((header::WWW_AUTHENTICATE, value));
        }
        if let AppError::RateLimited { retry_after } | AppError::Unavailable { retry_after } = self
        {
            builder.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        if let AppError::MethodNotAllowed(allow) = self {
            builder.insert_header((header::ALLOW, allow.as_str()));
        }
        builder
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated
            | AppError::SecondFactorPending
            | AppError::InvalidToken(_)
            | AppError::CiTokenRefused(_)
            | AppError::BadSignature(_)
            | AppError::AccountSuspended => StatusCode::UNAUTHORIZED,
            AppError::InvalidRequest(_) | AppError::UnknownMethod | AppError::BadJson(_) => {
                StatusCode::BAD_REQUEST
            }
            AppError::InsufficientScope(_)
            | AppError::Forbidden
            | AppError::SessionRequired(_)
            | AppError::CsrfFailed
            | AppError::ForeignOrigin(_)
            | AppError::IpNotAllowed(_)
            | AppError::ReauthenticationRequired
            | AppError::TokenPolicy(_)
            | AppError::SecondFactorRequired => StatusCode::FORBIDDEN,
            AppError::NotFound | AppError::Hidden => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(fixed) = fixed(self) {
            let mut builder = HttpResponse::build(self.status_code());
            if let Some(value) = &fixed.www_authenticate {
                builder.insert_header((header::WWW_AUTHENTICATE, value.clone()));
            }
            return builder
                .content_type(actix_web::mime::APPLICATION_JSON)
                .body(fixed.body.clone());
        }
        self.rendered()
    }
}

/// An answer whose every byte its variant fixes, rendered once.
struct Fixed {
    www_authenticate: Option<header::HeaderValue>,
    /// The JSON body with its final newline (`routes::end_json_with_newline` adds none then).
    body: actix_web::web::Bytes,
}

/// The two refusals a client repeats in a loop, without credentials and with a token that
/// lacks a scope, are copied from a table made once rather than rendered for each request
/// (the error's text, the JSON, the header: some 2 000 instructions of a request that is
/// otherwise nearly free; docs/benchmarks.md). The table is made by `rendered`, so the two
/// cannot differ (`fixed_answers_are_the_rendered_ones`).
fn fixed(error: &AppError) -> Option<&'static Fixed> {
    static TABLE: std::sync::OnceLock<(Fixed, Vec<Fixed>)> = std::sync::OnceLock::new();
    let (unauthenticated, scopes) = TABLE.get_or_init(|| {
        let fix = |error: AppError| {
            let res = error.rendered();
            let www_authenticate = res.headers().get(header::WWW_AUTHENTICATE).cloned();
            let body = actix_web::body::MessageBody::try_into_bytes(res.into_body())
                .unwrap_or_else(|_| unreachable!("a JSON body is bytes in memory"));
            Fixed {
                www_authenticate,
                body: [&body[..], b"\n"].concat().into(),
            }
        };
        (
            fix(AppError::Unauthenticated),
            Scope::ALL.map(AppError::InsufficientScope).map(fix).into(),
        )
    });
    match error {
        AppError::Unauthenticated => Some(unauthenticated),
        AppError::InsufficientScope(scope) => Scope::ALL
            .iter()
            .position(|s| s == scope)
            .map(|i| &scopes[i]),
        _ => None,
    }
}

impl AppError {
    /// The JSON answer, rendered.
    fn rendered(&self) -> HttpResponse {
        let error = ErrorDetail {
            code: self.code(),
            fields: match self {
                AppError::Validation(fields) => Some(fields),
                _ => None,
            },
            message: self.to_string(),
            scope: match self {
                AppError::InsufficientScope(scope) => Some(*scope),
                _ => None,
            },
        };
        self.response_builder().json(ErrorBody { error })
    }
}

macro_rules! internal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self {
                AppError::Internal(e.into())
            }
        }
    )*};
}
internal_from!(
    anyhow::Error,
    actix_web::error::BlockingError,
    askama::Error,
    actix_session::SessionGetError,
    actix_session::SessionInsertError
);

/// How long a client is asked to wait while the database cannot be reached: the pool tries
/// again every second (`db::connect`).
const DATABASE_RETRY_AFTER: u64 = 1;

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => AppError::NotFound,
            e => DbError::Query(e).into(),
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Query(diesel::result::Error::NotFound) => AppError::NotFound,
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable: answered 503");
                AppError::Unavailable {
                    retry_after: DATABASE_RETRY_AFTER,
                }
            }
            e => AppError::Internal(e.into()),
        }
    }
}

impl From<FieldErrors> for AppError {
    fn from(fields: FieldErrors) -> Self {
        AppError::Validation(fields)
    }
}

impl From<WriteError> for AppError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Invalid(fields) => AppError::Validation(fields),
            WriteError::Db(e) => e.into(),
        }
    }
}

impl From<actix_web::error::JsonPayloadError> for AppError {
    fn from(e: actix_web::error::JsonPayloadError) -> Self {
        use actix_web::error::JsonPayloadError as E;
        match e {
            E::Overflow { .. } | E::OverflowKnownLength { .. } => AppError::PayloadTooLarge,
            E::ContentType => AppError::UnsupportedMediaType,
            // A well-formed document with a field of the wrong type is a validation problem.
            E::Deserialize(e) if e.classify() == serde_json::error::Category::Data => {
                AppError::Validation(BTreeMap::from([("body", e.to_string())]))
            }
            E::Deserialize(e) => AppError::BadJson(format!("Malformed JSON: {e}")),
            e => AppError::BadJson(e.to_string()),
        }
    }
}

impl From<actix_web::error::PayloadError> for AppError {
    fn from(e: actix_web::error::PayloadError) -> Self {
        match e {
            actix_web::error::PayloadError::Overflow => AppError::PayloadTooLarge,
            e => AppError::BadJson(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A fixed answer is byte for byte what rendering gives (with the newline every JSON
    /// answer ends with), status and headers included.
    #[test]
    fn fixed_answers_are_the_rendered_ones() {
        use actix_web::body::MessageBody;
        let errors = Scope::ALL
            .map(AppError::InsufficientScope)
            .into_iter()
            .chain([AppError::Unauthenticated]);
        for error in errors {
            let (fixed, rendered) = (error.error_response(), error.rendered());
            assert_eq!(fixed.status(), rendered.status(), "{error:?}");
            let headers = |res: &HttpResponse| {
                let mut all: Vec<_> = res
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                    .collect();
                all.sort();
                all
            };
            assert_eq!(headers(&fixed), headers(&rendered), "{error:?}");
            let fixed = fixed.into_body().try_into_bytes().ok().unwrap();
            let rendered = rendered.into_body().try_into_bytes().ok().unwrap();
            assert_eq!(fixed, [&rendered[..], b"\n"].concat(), "{error:?}");
        }
        assert!(fixed(&AppError::Forbidden).is_none());
    }

    /// Every code of the table is answered by some error (and `code` can answer no other).
    #[test]
    fn every_code_is_some_errors_code() {
        let errors = [
            AppError::Unauthenticated,
            AppError::InvalidRequest(""),
            AppError::InvalidToken(""),
            AppError::InsufficientScope(Scope::Files),
            AppError::Forbidden,
            AppError::SessionRequired(""),
            AppError::CsrfFailed,
            AppError::NotFound,
            AppError::MethodNotAllowed(String::new()),
            AppError::validation("field", ""),
            AppError::BadJson(String::new()),
            AppError::PayloadTooLarge,
            AppError::UnsupportedMediaType,
            AppError::RateLimited { retry_after: 1 },
            AppError::ReauthenticationRequired,
            AppError::IpNotAllowed(String::new()),
            AppError::TokenPolicy(crate::domain::PolicyBreach::Unrestricted),
            AppError::SecondFactorRequired,
            AppError::Unavailable { retry_after: 1 },
            AppError::AccountSuspended,
            AppError::Internal(anyhow::anyhow!("cause")),
        ];
        let answered: BTreeSet<&str> = errors.iter().map(|e| e.code().as_str()).collect();
        let table: BTreeSet<&str> = ErrorCode::ALL.map(ErrorCode::as_str).into();
        assert_eq!(answered, table);
    }
}
