//! The Create token form (SPEC §4, §8.5, §9): what it offers (scopes, the expiries the
//! instance's token policy allows with their dates, the creator's projects with the token
//! policy each would apply), what was typed, and the errors to show beside each field.

use chrono::NaiveDateTime;
use serde::Deserialize;

use super::DashboardUser;
use crate::db::models::{projects, settings};
use crate::db::{self, DbConnection};
use crate::domain::{
    Expiry, FieldErrors, InstancePolicy, PolicyBreach, ProjectId, ProjectName, Scope, TokenPolicy,
    UserId,
};
use crate::error::AppError;
use crate::state::AppState;

/// The Create token form, as typed, with its errors.
pub struct NewTokenForm {
    pub name: String,
    pub scopes: Vec<String>,
    pub expiry: String,
    /// "Only these projects" rather than "All my projects".
    pub restrict: bool,
    /// The ids ticked.
    pub chosen: Vec<String>,
    /// The creator's projects, to choose from, with the token policy each would apply.
    pub projects: Vec<(ProjectId, ProjectName, TokenPolicy)>,
    /// The instance's token policy: the expiries offered, the most scopes.
    pub instance: InstancePolicy,
    /// Allowed addresses as typed: one per line (or comma-separated).
    pub allowed_ips: String,
    pub name_error: Option<String>,
    pub scopes_error: Option<String>,
    pub expiry_error: Option<String>,
    pub projects_error: Option<String>,
    pub allowed_ips_error: Option<String>,
    pub now: NaiveDateTime,
}

/// The projects a creator may choose from: the first this many of theirs, oldest first.
const PROJECTS_IN_FORM: i64 = 200;

/// What the form offers a creator: their projects with their policies, and the instance's.
pub struct Choices {
    pub projects: Vec<(ProjectId, ProjectName, TokenPolicy)>,
    pub instance: InstancePolicy,
}

/// The creator's projects, for the form's "Only these projects" and its policy warnings, and
/// the instance's token policy, for the expiries it offers.
pub(super) fn choices(conn: &mut DbConnection, user_id: &UserId) -> diesel::QueryResult<Choices> {
    Ok(Choices {
        projects: projects::policies_for(conn, user_id, PROJECTS_IN_FORM)?,
        instance: settings::token_policy(conn)?,
    })
}

/// The instance's refusal of a token, as the field of the form to fix.
pub fn policy_fields(breach: PolicyBreach) -> FieldErrors {
    let field = match breach {
        PolicyBreach::TooManyScopes(_) => "scopes",
        _ => "expiry",
    };
    FieldErrors::from([(field, breach.to_string())])
}

/// A project's choice in the form: what the person reads, and what app.js compares.
pub struct ProjectChoice<'a> {
    pub id: &'a ProjectId,
    pub name: &'a ProjectName,
    pub checked: bool,
    /// The policy in words, when there is one ("tokens of at most 30 days").
    pub rule: Option<String>,
    pub max_days: Option<u16>,
    pub require_restricted: bool,
}

impl NewTokenForm {
    pub fn new(now: NaiveDateTime, choices: Choices) -> Self {
        let Choices { projects, instance } = choices;
        // The default (a year), or the longest the instance allows.
        let expiry = [Expiry::default(), Expiry::SixMonths, Expiry::OneMonth]
            .into_iter()
            .find(|e| instance.allows_expiry(*e, now))
            .unwrap_or(Expiry::OneMonth);
        NewTokenForm {
            name: String::new(),
            scopes: Vec::new(),
            expiry: expiry.as_str().to_owned(),
            restrict: false,
            chosen: Vec::new(),
            projects,
            instance,
            allowed_ips: String::new(),
            name_error: None,
            scopes_error: None,
            expiry_error: None,
            projects_error: None,
            allowed_ips_error: None,
            now,
        }
    }

    /// Each of the creator's projects, whether it is ticked, and its token policy.
    pub fn project_choices(&self) -> Vec<ProjectChoice<'_>> {
        self.projects
            .iter()
            .map(|(id, name, policy)| {
                let max_days = policy.max_lifetime_days.map(|d| d.get());
                let rule = match (max_days, policy.require_restricted) {
                    (None, false) => None,
                    (Some(d), false) => Some(format!("accepts tokens of at most {d} days")),
                    (None, true) => Some("accepts only project-restricted tokens".to_owned()),
                    (Some(d), true) => Some(format!(
                        "accepts only project-restricted tokens of at most {d} days"
                    )),
                };
                ProjectChoice {
                    id,
                    name,
                    checked: self.chosen.iter().any(|c| c == id.as_str()),
                    rule,
                    max_days,
                    require_restricted: policy.require_restricted,
                }
            })
            .collect()
    }

    /// The expiries the instance's token policy allows now: the only ones offered.
    fn expiries(&self) -> impl Iterator<Item = Expiry> + '_ {
        Expiry::ALL
            .into_iter()
            .filter(|e| self.instance.allows_expiry(*e, self.now))
    }

    /// The instance's limits in words, under the fields they bound; `None`: no limit.
    pub fn instance_rule(&self) -> Option<String> {
        let days = self.instance.max_lifetime_days.map(|d| d.get());
        let scopes = self.instance.max_scopes.map(|n| n.get());
        let never =
            (days.is_none() && !self.instance.allow_never).then(|| "tokens that expire".to_owned());
        let parts: Vec<String> = [
            days.map(|d| format!("tokens of at most {d} days")),
            never,
            scopes.map(|n| format!("at most {n} scopes per token")),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| format!("This instance allows {}.", parts.join(", ")))
    }

    /// Each expiry's lifetime in seconds ("" for never), for app.js's policy warning: the
    /// same comparison as `TokenPolicy::check`.
    pub fn lifetimes(&self) -> Vec<(&'static str, String)> {
        self.expiries()
            .map(|e| {
                let secs = e
                    .expires_at(self.now)
                    .map(|at| (at - self.now).num_seconds());
                (e.as_str(), secs.map(|s| s.to_string()).unwrap_or_default())
            })
            .collect()
    }

    /// Each expiry choice, labelled with the date it leads to, and whether it is selected.
    pub fn expiry_options(&self) -> Vec<(&'static str, String, bool)> {
        self.expiries()
            .map(|e| {
                let label = match e.expires_at(self.now) {
                    Some(at) => format!("{} ({})", e.label(), at.format("%b %-d, %Y")),
                    None => "Never".to_owned(),
                };
                (e.as_str(), label, e.as_str() == self.expiry)
            })
            .collect()
    }

    /// The sentence under the select for each choice; only the selected one is shown
    /// (app.js switches them). `None` is the choice that never expires: a warning instead.
    pub fn expiry_notes(&self) -> Vec<(&'static str, Option<String>, bool)> {
        self.expiries()
            .map(|e| {
                let note = e.expires_at(self.now).map(|at| {
                    at.format("The token will expire on %A, %B %-d, %Y at %H:%M UTC.")
                        .to_string()
                });
                (e.as_str(), note, e.as_str() == self.expiry)
            })
            .collect()
    }

    pub fn all_scopes(&self) -> Vec<(&'static str, &'static str, bool)> {
        Scope::ALL
            .into_iter()
            .map(|s| {
                (
                    s.as_str(),
                    s.description(),
                    self.scopes.iter().any(|c| c == s.as_str()),
                )
            })
            .collect()
    }

    /// The problems, in the order of the fields, with the id of the field to jump to.
    pub fn errors(&self) -> Vec<(&'static str, &str)> {
        [
            ("token-name", &self.name_error),
            ("scope-publish", &self.scopes_error),
            ("token-expiry", &self.expiry_error),
            ("projects-all", &self.projects_error),
            ("token-allowed-ips", &self.allowed_ips_error),
        ]
        .into_iter()
        .filter_map(|(id, e)| e.as_deref().map(|e| (id, e)))
        .collect()
    }
}

/// A fresh form with the creator's projects to choose from.
pub(super) async fn new_token_form(
    state: &AppState,
    user: &DashboardUser,
) -> Result<NewTokenForm, AppError> {
    let user_id = user.user.id.clone();
    let own = db::query(&state.pool, move |conn| choices(conn, &user_id)).await?;
    Ok(NewTokenForm::new(state.clock.now(), own))
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub expiry: Option<String>,
    /// `all` (the default) or `only`.
    pub projects: Option<String>,
    /// The projects ticked, for `only`.
    #[serde(default)]
    pub project_ids: Vec<String>,
    /// Allowed addresses, one per line or comma-separated.
    #[serde(default)]
    pub allowed_ips: String,
    pub csrf_token: Option<String>,
}

impl CreateForm {
    /// The allowed addresses typed, one per line or separated by commas or spaces.
    pub fn allowed_ips(&self) -> Vec<String> {
        self.allowed_ips
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn restricts(&self) -> bool {
        self.projects.as_deref() == Some("only")
    }

    /// The chosen ids for `only`; for "All my projects", a form with projects ticked is
    /// refused rather than read either way (a person who ticked some may have meant them).
    pub fn chosen(&self) -> Result<Option<&[String]>, &'static str> {
        match (self.restricts(), self.project_ids.is_empty()) {
            (true, _) => Ok(Some(&self.project_ids)),
            (false, true) => Ok(None),
            (false, false) => Err("You ticked projects but chose “All my projects”: pick \
                 “Only these projects”, or untick them."),
        }
    }
}
