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
    let mut out = String::from("id,kind,at,ip,userAgent,details\r\n");
    for e in items {
        let at = e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let fields = [
            e.id.as_str(),
            e.kind.as_str(),
            at.as_str(),
            e.ip.as_deref().unwrap_or(""),
            e.user_agent.as_deref().unwrap_or(""),
            &e.details.to_string(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// One CSV field. A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (or a tab or
/// carriage return before one) as a formula, and a user agent is whatever a client sent: such
/// a value gets a leading `'` (OWASP's advice), which spreadsheets show as text. Quoted when it
/// holds a comma, a quote or a line break, its quotes doubled.
fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("curl/8.5"), "curl/8.5");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for risky in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(csv_field(risky).trim_start_matches('"').starts_with('\''));
        }
        assert_eq!(csv_field(""), "");
    }
}
