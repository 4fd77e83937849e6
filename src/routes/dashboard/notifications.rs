//! `/settings/notifications` (SPEC §8.2): what the person was told about their tokens, newest
//! first, the unread ones marked; the top bar counts the unread.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::time::When;
use super::{page, see_other, CsrfOnly, DashboardUser, Form, HtmlError, Layout};
use crate::db::{self, models::notifications};
use crate::domain::PageRequest;
use crate::error::AppError;
use crate::notify::{describe, Details};
use crate::ops;
use crate::state::AppState;

super::pages!(
    GET "/settings/notifications" => list,
    POST "/settings/notifications/read" => mark_read,
);

const PAGE: &str = "/settings/notifications";
const PER_PAGE: usize = 50;

struct NotificationView {
    subject: String,
    text: String,
    link: Option<(String, &'static str)>,
    at: When,
    unread: bool,
}

#[derive(Template)]
#[template(path = "notifications/index.html")]
struct NotificationsPage {
    layout: Layout,
    notifications: Vec<NotificationView>,
    more: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn list(
    user: DashboardUser,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, HtmlError> {
    let limit = PER_PAGE.to_string();
    let request = PageRequest::parse(Some(&limit), query.cursor.as_deref())
        .map_err(|e| AppError::validation("cursor", e.to_string()))?;
    let (user_id, now, read) = (user.user.id.clone(), state.clock.now(), request.clone());
    let rows = db::query(&state.pool, move |conn| {
        notifications::list(conn, &user_id, &read)
    })
    .await?;
    let (rows, more) = request.cut(rows, notifications::NotificationRow::cursor);
    let notifications = rows
        .iter()
        .map(|row| {
            let message = describe(row.kind, &Details::of(row));
            NotificationView {
                subject: message.subject,
                text: message.text,
                link: message.link,
                at: When::new(row.created_at, now),
                unread: row.read_at.is_none(),
            }
        })
        .collect();
    page(&NotificationsPage {
        layout: user.layout(),
        notifications,
        more: more.map(|c| c.encode()),
    })
}

async fn mark_read(
    user: DashboardUser,
    state: web::Data<AppState>,
    Form(form): Form<CsrfOnly>,
) -> Result<HttpResponse, HtmlError> {
    user.check_csrf(form.csrf_token.as_deref())?;
    ops::notifications::mark_all_read(&state, &user.user.id).await?;
    Ok(see_other(PAGE))
}
