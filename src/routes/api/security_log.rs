//! `GET /api/security-log` (SPEC §8.3): the signed-in account's security events, newest first,
//! paged, of one kind or all, as JSON or CSV. Session only: a token never reads the log of
//! the account it belongs to.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::{utc, Page, QueryParams};
use crate::auth::SessionCaller;
use crate::db::{self, models::security_log, models::security_log::SecurityEventRow};
use crate::domain::SecurityKind;
use crate::error::AppError;
use crate::state::AppState;

super::resource!(read_log);

/// One event of the account's security log.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SecurityEvent)]
pub struct SecurityEventJson {
    #[schema(format = Uuid)]
    id: String,
    kind: SecurityKind,
    at: DateTime<Utc>,
    /// The client's address; null for what the server did on its own (an expiry).
    ip: Option<String>,
    /// The client's user agent, at most 200 characters.
    user_agent: Option<String>,
    /// For a token: `tokenId`, `tokenName`, `prefix`. For a project member: `projectId`,
    /// `projectName`, `memberId`, `memberEmail`, `role` (and `previousRole`), `by`.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<SecurityEventRow> for SecurityEventJson {
    fn from(row: SecurityEventRow) -> Self {
        SecurityEventJson {
            details: row.details(),
            id: row.id,
            kind: row.kind,
            at: utc(row.at),
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

/// The log's own query parameters (paging comes from `Page`), as documented; `LogFilter`
/// reads them.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LogQuery {
    /// Only events of this kind.
    #[param(value_type = Option<SecurityKind>)]
    kind: Option<String>,
    /// `json` (the default) or `csv`: the same page as a CSV file with a header row.
    #[param(value_type = Option<String>, pattern = "^(json|csv)$")]
    format: Option<String>,
}

/// What a `?kind=&format=` query asks for, parsed once.
pub struct LogFilter {
    pub kind: Option<SecurityKind>,
    pub csv: bool,
}

impl LogFilter {
    pub fn of(req: &HttpRequest) -> Result<LogFilter, AppError> {
        // Other parameters (`limit`, `cursor`) are `Page`'s; a repeated one is malformed.
        let query = QueryParams::of(req);
        let param = |key: &'static str, expected: &'static str| {
            let value = query.as_ref().map(|q| q.one(key));
            match value {
                Some(Ok(value)) => Ok(value),
                _ => Err(AppError::validation(key, expected)),
            }
        };
        let kind = match param("kind", SecurityKind::EXPECTED)? {
            None => None,
            Some(raw) => Some(
                SecurityKind::parse(raw)
                    .ok_or_else(|| AppError::validation("kind", SecurityKind::EXPECTED))?,
            ),
        };
        let csv = match param("format", "Use json or csv.")? {
            None | Some("json") => false,
            Some("csv") => true,
            Some(_) => return Err(AppError::validation("format", "Use json or csv.")),
        };
        Ok(LogFilter { kind, csv })
    }
}

/// Read your account's security log.
///
/// Newest first: sign-ins (and failed ones), sign-outs, password changes, ended sessions,
/// tokens created, regenerated, revoked or expired, project members added, removed or
/// re-roled. Kept a year. Needs a dashboard session; `?format=csv` answers the same page as
/// CSV.
#[utoipa::path(
    tag = "security log",
    params(LogQuery, Page),
    security(("session" = [])),
    responses((status = 200, description = "A page of events, as JSON or CSV.",
        content(
            ([SecurityEventJson] = "application/json"),
            (String = "text/csv"),
        ),
        headers(("Link" = String, description = "`<…>; rel=\"next\"` while more remain.")),
    )),
)]
#[get("/security-log")]
async fn read_log(
    SessionCaller(caller): SessionCaller,
    req: HttpRequest,
    state: web::Data<AppState>,
    page: Page,
) -> Result<HttpResponse, AppError> {
    let filter = LogFilter::of(&req)?;
    let (request, kind) = (page.request()?, filter.kind);
    let rows = db::query(&state.pool, move |conn| {
        security_log::list(conn, &caller.user.id, kind, &request)
    })
    .await?;
    let (rows, next) = page.cut(rows, SecurityEventRow::cursor);
    let items: Vec<SecurityEventJson> = rows.into_iter().map(SecurityEventJson::from).collect();
    if !filter.csv {
        return Ok(page.respond(&items, next));
    }
    let mut res = page.respond_with(next);
    Ok(res
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"security-log.csv\"",
        ))
        .body(csv(&items)))
}

/// The events as CSV (RFC 4180): a header row, then one row per event, `details` as its JSON.
fn csv(items: &[SecurityEventJson]) -> String {
    let rows = items.iter().map(|e| {
        vec![
            e.id.clone(),
            e.kind.as_str().to_owned(),
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            e.ip.clone().unwrap_or_default(),
            e.user_agent.clone().unwrap_or_default(),
            e.details.to_string(),
        ]
    });
    csv_table(&["id", "kind", "at", "ip", "userAgent", "details"], rows)
}

/// A CSV file (RFC 4180, CRLF): the header row, then each row, every field through
/// `csv_field`. Every CSV the API writes goes through here.
pub(super) fn csv_table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let head: Vec<String> = header.iter().map(|f| csv_field(f)).collect();
    let mut out = head.join(",");
    out.push_str("\r\n");
    for row in rows {
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV field (SPEC §8.7), always quoted, its quotes doubled. A spreadsheet runs a cell
/// that starts with `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a
/// formula, and a user agent or a token name is whatever a client sent. Where a cell starts
/// depends on the separator the reader picks, and a semicolon-locale Excel splits a comma
/// file on `;` even inside quotes: so such a character gets a `'` before it (OWASP's advice,
/// shown as text) wherever it starts the field or follows a `,`, `;` or tab.
fn csv_field(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut starts_cell = true;
    for c in value.chars() {
        if starts_cell && matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r') {
            out.push('\'');
        }
        starts_cell = matches!(c, ',' | ';' | '\t');
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        for (value, field) in [
            ("", r#""""#),
            ("curl/8.5", r#""curl/8.5""#),
            ("a,b", r#""a,b""#),
            ("say \"hi\"", r#""say ""hi""""#),
            ("=HYPERLINK(\"x\")", r#""'=HYPERLINK(""x"")""#),
            ("+1", r#""'+1""#),
            ("-1", r#""'-1""#),
            ("@SUM(A1)", r#""'@SUM(A1)""#),
            ("\tx", "\"'\tx\""),
            ("\r=1", "\"'\r=1\""),
            // After a separator, whichever one the reader splits on.
            (
                "Mozilla/5.0;=cmd|' /C calc'!A0",
                r#""Mozilla/5.0;'=cmd|' /C calc'!A0""#,
            ),
            ("x,=1+1", r#""x,'=1+1""#),
            ("x\t@y", "\"x\t'@y\""),
            ("a;-1,+2", r#""a;'-1,'+2""#),
            // A tab is guarded itself, and guards what follows it.
            ("\t=1", "\"'\t'=1\""),
            ("a,\t=1", "\"a,'\t'=1\""),
            // Inside a cell a sign is text: dates, ids, "1+1", addresses.
            ("2026-12-07", r#""2026-12-07""#),
            ("x=1+1 a@b -c", r#""x=1+1 a@b -c""#),
        ] {
            assert_eq!(csv_field(value), field, "{value:?}");
        }
    }
}
