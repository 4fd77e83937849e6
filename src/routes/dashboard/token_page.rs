//! `/settings/tokens/{id}`, the token page (SPEC §8.3): its settings, where and how it was
//! used, requests a day as a chart drawn here (inline SVG, with a table for screen readers
//! and without images), its latest requests, and for a token that stopped working whether
//! something still presents it.

use actix_web::{web, HttpResponse};
use askama::Template;
use chrono::NaiveDateTime;
use serde::Deserialize;

use super::time::When;
use super::token_view::TokenView;
use super::{page, DashboardUser, HtmlError, Layout};
use crate::db::models::token_activity::{self, RequestRow, Summary};
use crate::db::{self, models::leaks, models::tokens};
use crate::domain::{PageRequest, TokenId};
use crate::error::AppError;
use crate::state::AppState;

super::pages!(
    GET "/settings/tokens/{id}" => show,
);

const REQUESTS_PER_PAGE: usize = 50;

/// The chart's drawing area, in SVG user units.
const CHART_WIDTH: u32 = 600;
const CHART_HEIGHT: u32 = 120;

struct Bar {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    label: String,
}

/// Requests a day, as bars and as words.
struct Chart {
    bars: Vec<Bar>,
    rows: Vec<(String, i64)>,
    /// The text alternative: the total and the busiest day.
    summary: String,
    max: i64,
}

impl Chart {
    fn new(per_day: &[(chrono::NaiveDate, i64)]) -> Chart {
        let max = per_day.iter().map(|(_, n)| *n).max().unwrap_or(0);
        let total: i64 = per_day.iter().map(|(_, n)| n).sum();
        let slot = CHART_WIDTH / per_day.len().max(1) as u32;
        let bars = per_day
            .iter()
            .enumerate()
            .map(|(i, (day, n))| {
                // A day with requests is never drawn flat: at least 2 units tall.
                let height = if *n == 0 {
                    0
                } else {
                    ((*n as f64 / max as f64) * f64::from(CHART_HEIGHT)).round() as u32
                }
                .max(u32::from(*n > 0) * 2);
                Bar {
                    x: i as u32 * slot + 1,
                    y: CHART_HEIGHT - height,
                    width: slot.saturating_sub(2).max(1),
                    height,
                    label: format!("{}: {n} request{}", day.format("%b %-d"), plural(*n)),
                }
            })
            .collect();
        let summary = match per_day.iter().max_by_key(|(_, n)| *n) {
            Some((day, n)) if *n > 0 => format!(
                "{total} request{} in the last {} days; the busiest day was {} with {n}.",
                plural(total),
                per_day.len(),
                day.format("%b %-d")
            ),
            _ => format!("No requests in the last {} days.", per_day.len()),
        };
        Chart {
            bars,
            rows: per_day
                .iter()
                .map(|(day, n)| (day.format("%b %-d, %Y").to_string(), *n))
                .collect(),
            summary,
            max,
        }
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

struct RequestView {
    at: When,
    method: String,
    route: String,
    status: i32,
    ip: String,
    user_agent: String,
    outcome: &'static str,
    /// Identical requests within the second this row stands for.
    count: i64,
}

impl RequestView {
    fn new(r: RequestRow, now: NaiveDateTime) -> RequestView {
        RequestView {
            at: When::new(r.at, now),
            method: r.method,
            route: r.route,
            status: r.status,
            ip: r.ip.unwrap_or_default(),
            user_agent: r.user_agent.unwrap_or_default(),
            outcome: r.outcome.as_str(),
            count: r.count,
        }
    }
}

struct AddressView {
    ip: String,
    first_seen: When,
    last_seen: When,
    count: i64,
}

/// "Still presented 3 times since it was revoked, last from 203.0.113.7, 2 hours ago."
struct AfterStop {
    /// "was revoked", "expired", "was replaced".
    how: &'static str,
    count: i64,
    last: Option<(String, When)>,
}

#[derive(Template)]
#[template(path = "tokens/show.html")]
struct TokenPage {
    layout: Layout,
    token: TokenView,
    chart: Chart,
    addresses: Vec<AddressView>,
    user_agents: Vec<(String, i64)>,
    requests: Vec<RequestView>,
    more: Option<String>,
    unrecorded: i64,
    after_stop: Option<AfterStop>,
    chart_width: u32,
    chart_height: u32,
}

#[derive(Deserialize)]
struct ShowQuery {
    cursor: Option<String>,
}

async fn show(
    user: DashboardUser,
    state: web::Data<AppState>,
    id: web::Path<TokenId>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, HtmlError> {
    let limit = REQUESTS_PER_PAGE.to_string();
    let request = PageRequest::parse(Some(&limit), query.cursor.as_deref())
        .map_err(|e| AppError::validation("cursor", e.to_string()))?;
    let (user_id, id, now, read) = (
        user.user.id.clone(),
        id.into_inner(),
        state.clock.now(),
        request.clone(),
    );
    let (row, summary, requests, leaks, chosen) = db::query(&state.pool, move |conn| {
        let row = tokens::find_mine(conn, &user_id, &id)?;
        let summary = token_activity::summary(conn, &row.id, row.stopped_at(now), now)?;
        let requests = token_activity::list(conn, &row.id, &read)?;
        let leaks = leaks::reports_for(
            conn,
            super::token_view::reported(std::slice::from_ref(&row)),
        )?;
        let chosen = tokens::chosen_projects(conn, std::slice::from_ref(&row.id))?;
        Ok((row, summary, requests, leaks, chosen))
    })
    .await?;
    let (requests, more) = request.cut(requests, RequestRow::cursor);
    let Summary {
        addresses,
        per_day,
        unrecorded,
        user_agents,
        after_stop,
    } = summary;
    page(&TokenPage {
        layout: user.layout(),
        token: TokenView::new(&row, now, &chosen).with_leak(&leaks),
        chart: Chart::new(&per_day),
        addresses: addresses
            .into_iter()
            .map(|a| AddressView {
                ip: a.ip,
                first_seen: When::new(a.first_seen_at, now),
                last_seen: When::new(a.last_seen_at, now),
                count: a.count,
            })
            .collect(),
        user_agents,
        requests: requests
            .into_iter()
            .map(|r| RequestView::new(r, now))
            .collect(),
        more: more.map(|c| c.encode()),
        unrecorded,
        after_stop: after_stop.map(|(count, last)| AfterStop {
            how: match (row.status(now), row.revoked_reason) {
                (tokens::TokenStatus::Expired, _) => "expired",
                (_, Some(crate::domain::RevokedReason::Rotated)) => "was replaced",
                _ => "was revoked",
            },
            count,
            last: last.map(|r| (r.ip.unwrap_or_default(), When::new(r.at, now))),
        }),
        chart_width: CHART_WIDTH,
        chart_height: CHART_HEIGHT,
    })
}
