//! `/settings/security-log` (SPEC §8.3): the account's security events, newest first, of one
//! kind or all, a page at a time, with the page as CSV from the API.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::time::When;
use super::{page, DashboardUser, HtmlError, Layout};
use crate::db::{self, models::security_log, models::security_log::SecurityEventRow};
use crate::domain::{PageRequest, SecurityKind};
use crate::error::AppError;
use crate::state::AppState;

super::pages!(
    GET "/settings/security-log" => list,
);

const PER_PAGE: i64 = 50;

struct EventView {
    label: &'static str,
    kind: &'static str,
    what: String,
    at: When,
    ip: String,
    user_agent: String,
}

/// A choice of the kind filter.
struct KindOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "security_log/index.html")]
struct SecurityLogPage {
    layout: Layout,
    events: Vec<EventView>,
    kinds: Vec<KindOption>,
    /// `kind=…&` of the filter in force, for the links ("" for every kind).
    filter: String,
    /// This page's cursor (for its CSV), and the next page's.
    cursor: Option<String>,
    more: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    kind: Option<String>,
    cursor: Option<String>,
}

async fn list(
    user: DashboardUser,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, HtmlError> {
    let kind = match query.kind.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            SecurityKind::parse(raw)
                .ok_or_else(|| AppError::validation("kind", SecurityKind::EXPECTED))?,
        ),
    };
    let request = PageRequest::parse(Some(&PER_PAGE.to_string()), query.cursor.as_deref())
        .map_err(|e| AppError::validation("cursor", e.to_string()))?;
    let (user_id, now, read) = (user.user.id.clone(), state.clock.now(), request.clone());
    let rows = db::query(&state.pool, move |conn| {
        security_log::list(conn, &user_id, kind, &read)
    })
    .await?;
    let (rows, more) = request.cut(rows, SecurityEventRow::cursor);
    let events = rows
        .iter()
        .map(|row| EventView {
            label: row.kind.label(),
            kind: row.kind.as_str(),
            what: describe(row.kind, &row.details()),
            at: When::new(row.at, now),
            ip: row.ip.clone().unwrap_or_default(),
            user_agent: row.user_agent.clone().unwrap_or_default(),
        })
        .collect();
    let kinds = SecurityKind::ALL
        .into_iter()
        .map(|k| KindOption {
            value: k.as_str(),
            label: k.label(),
            selected: Some(k) == kind,
        })
        .collect();
    page(&SecurityLogPage {
        layout: user.layout(),
        events,
        kinds,
        filter: kind.map(|k| format!("kind={k}&")).unwrap_or_default(),
        cursor: request.after.as_ref().map(|c| c.encode()),
        more: more.map(|c| c.encode()),
    })
}

/// What an event was about, in words: the token or the membership its details name.
fn describe(kind: SecurityKind, d: &Value) -> String {
    let text = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
    match kind {
        SecurityKind::TokenCreated
        | SecurityKind::TokenRotated
        | SecurityKind::TokenRevoked
        | SecurityKind::TokenExpired
        | SecurityKind::TokenReportedPublic
        | SecurityKind::TokenUsedFromNewIp
        | SecurityKind::TokenUsedAfterRevocation
        | SecurityKind::TokenShortened => {
            let mut s = format!("“{}” ({}…)", text("tokenName"), text("prefix"));
            if let Some(reason) = d["reason"].as_str() {
                s.push_str(&format!(", {}", reason.replace('_', " ")));
            }
            s
        }
        SecurityKind::MemberAdded
        | SecurityKind::MemberRemoved
        | SecurityKind::MemberRoleChanged => {
            let role = match (d["previousRole"].as_str(), d["role"].as_str()) {
                (Some(before), Some(after)) => format!("{before} → {after}"),
                (None, Some(role)) => role.to_owned(),
                _ => String::new(),
            };
            format!(
                "{} as {role} on “{}”, by {}",
                text("memberEmail"),
                text("projectName"),
                text("by")
            )
        }
        _ => String::new(),
    }
}
