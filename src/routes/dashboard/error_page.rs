//! Errors as the dashboard shows them: the same `AppError`, written as a page (or, for a
//! visitor who is not signed in, a redirect to the login page).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::Layout;
use crate::error::AppError;

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    layout: Layout,
    status: u16,
    message: String,
}

impl ErrorPage {
    /// The error's page; an internal error's message never carries its cause.
    pub fn render_for(error: &AppError) -> String {
        use actix_web::ResponseError;
        let page = ErrorPage {
            layout: Layout {
                csrf_token: String::new(),
                user_email: None,
                unread: 0,
                admin: false,
            },
            status: error.status_code().as_u16(),
            message: error.to_string(),
        };
        page.render()
            .unwrap_or_else(|_| "Something went wrong.".to_owned())
    }
}

/// The same error, written as a dashboard page. Dashboard handlers return
/// `Result<_, HtmlError>` and still use `?` on anything that becomes an `AppError`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HtmlError(pub AppError);

impl<E> From<E> for HtmlError
where
    AppError: From<E>,
{
    fn from(e: E) -> Self {
        HtmlError(e.into())
    }
}

impl ResponseError for HtmlError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            AppError::Unauthenticated | AppError::SecondFactorPending => StatusCode::SEE_OTHER,
            _ => self.0.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let to_login = match self.0 {
            AppError::Unauthenticated => Some("/login"),
            // The password was right; only the second factor's page is open (SPEC §3.1).
            AppError::SecondFactorPending => Some(super::second_factor::VERIFY_PAGE),
            _ => None,
        };
        if let Some(location) = to_login {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        let page = ErrorPage::render_for(&self.0);
        self.0
            .response_builder()
            .content_type("text/html; charset=utf-8")
            .body(page)
    }
}
