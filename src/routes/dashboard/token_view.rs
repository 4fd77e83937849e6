//! A token as the dashboard shows it (the list, its detail page, the confirmations): badges,
//! times, rotation links, the leak report and the projects it reaches.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};

use super::time::When;
use crate::db::models::leaks::LeakReport;
use crate::db::models::tokens::{TokenRow, TokenStatus};
use crate::domain::{
    LeakSource, ProjectId, ProjectName, RevokedReason, Scopes, TokenId, TokenName,
};

/// An active token this close to its expiry is flagged in the list.
const EXPIRES_SOON: Duration = Duration::days(7);

/// A list row, formatted for people.
pub struct TokenView {
    pub id: TokenId,
    pub name: TokenName,
    pub prefix: String,
    pub scopes: Scopes,
    pub created: When,
    /// None: the token never expires.
    pub expires: Option<When>,
    pub last_used: Option<When>,
    pub last_used_ip: String,
    /// When it stopped working, once it has.
    pub revoked: Option<When>,
    /// When a replaced token's grace ends, while it lasts.
    pub grace_ends: Option<When>,
    /// `active`, `expiring` (within 7 days, or replaced and in its grace), `expired` or
    /// `revoked`: the badge's class.
    pub badge: &'static str,
    pub badge_label: &'static str,
    pub revocable: bool,
    /// Working and not yet replaced: it can be regenerated.
    pub regenerable: bool,
    /// The display prefixes of the token this one replaced, and of its replacement.
    pub replaces: Option<String>,
    pub replaced_by: Option<String>,
    /// For a token revoked because it was reported public: where it was found.
    pub leak: Option<LeakNote>,
    /// The names of the only projects it reaches; `None`: all its owner's.
    pub projects: Option<Vec<ProjectName>>,
    /// Where it may be used from, comma-separated; empty: anywhere.
    pub allowed_ips: String,
}

/// What the owner of a token reported public is shown: "found in a public commit:
/// <url> (reported by GitHub secret scanning)".
pub struct LeakNote {
    pub place: &'static str,
    pub url: Option<String>,
    pub by: &'static str,
}

impl LeakNote {
    fn new(report: &LeakReport) -> Self {
        LeakNote {
            place: LeakSource::place(report.source.as_deref()),
            url: report.url.clone(),
            by: report.channel.label(),
        }
    }
}

/// The ids of the rows revoked because they were reported public: those with a report to show.
pub(super) fn reported(rows: &[TokenRow]) -> Vec<TokenId> {
    rows.iter()
        .filter(|r| r.revoked_reason == Some(RevokedReason::ReportedPublic))
        .map(|r| r.id.clone())
        .collect()
}

/// The projects chosen for each token shown, by token.
pub(super) type Chosen = HashMap<TokenId, Vec<(ProjectId, ProjectName)>>;

/// The names of the projects a restricted token reaches, for the list and the reveal page.
pub(super) fn chosen_names(row: &TokenRow, chosen: &Chosen) -> Option<Vec<ProjectName>> {
    row.narrowing.restricted.then(|| {
        chosen
            .get(&row.id)
            .map(|c| c.iter().map(|(_, name)| name.clone()).collect())
            .unwrap_or_default()
    })
}

/// The other token of a rotation, as the list names it.
fn label(prefixes: &HashMap<&TokenId, &str>, id: &TokenId) -> String {
    prefixes
        .get(id)
        .map_or_else(|| "another token".to_owned(), |p| format!("{p}…"))
}

impl TokenView {
    pub(super) fn new(row: &TokenRow, now: NaiveDateTime, chosen: &Chosen) -> Self {
        TokenView::linked(row, now, &HashMap::new(), chosen)
    }

    /// A row whose rotation links name the other token by its prefix, when `prefixes` (the
    /// rows shown with it) holds it.
    pub(super) fn linked(
        row: &TokenRow,
        now: NaiveDateTime,
        prefixes: &HashMap<&TokenId, &str>,
        chosen: &Chosen,
    ) -> Self {
        let status = row.status(now);
        let in_grace = status == TokenStatus::Active && row.revoked_at.is_some();
        let (badge, badge_label) = match status {
            TokenStatus::Revoked => match row.revoked_reason {
                Some(RevokedReason::Rotated) => ("revoked", "Replaced"),
                Some(RevokedReason::ReportedPublic) => ("revoked", "Revoked: reported public"),
                Some(RevokedReason::Inactive) => ("revoked", "Revoked: unused for a year"),
                _ => ("revoked", "Revoked"),
            },
            TokenStatus::Expired => ("expired", "Expired"),
            TokenStatus::Active if in_grace => ("expiring", "Replaced, in grace"),
            TokenStatus::Active if row.expires_at.is_some_and(|at| at - now <= EXPIRES_SOON) => {
                ("expiring", "Expires soon")
            }
            TokenStatus::Active => ("active", "Active"),
        };
        TokenView {
            id: row.id.clone(),
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            scopes: row.scopes.clone(),
            created: When::new(row.created_at, now),
            expires: row.expires_at.map(|t| When::new(t, now)),
            last_used: row.last_used_at.map(|t| When::new(t, now)),
            last_used_ip: row.last_used_ip.clone().unwrap_or_default(),
            revoked: row
                .revoked_at
                .filter(|_| !in_grace)
                .map(|t| When::new(t, now)),
            grace_ends: row
                .revoked_at
                .filter(|_| in_grace)
                .map(|t| When::new(t, now)),
            badge,
            badge_label,
            revocable: status != TokenStatus::Revoked,
            regenerable: status == TokenStatus::Active && row.replaced_by.is_none(),
            replaces: row.rotated_from.as_ref().map(|id| label(prefixes, id)),
            replaced_by: row.replaced_by.as_ref().map(|id| label(prefixes, id)),
            leak: None,
            projects: chosen_names(row, chosen),
            allowed_ips: row
                .narrowing
                .allowed_ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The row with the report that revoked it, if `reports` has one.
    pub(super) fn with_leak(mut self, reports: &HashMap<TokenId, LeakReport>) -> Self {
        self.leak = reports.get(&self.id).map(LeakNote::new);
        self
    }

    pub(super) fn is_expired(&self) -> bool {
        self.badge == "expired"
    }
}
