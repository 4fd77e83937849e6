//! Notifications (SPEC §8.2): what a person is told about their tokens, in the dashboard and by
//! mail. `Notifier::record` writes a notification once per occasion, and its mail into the
//! outbox in the same transaction; `mail` sends the outbox. The occasions time brings (expiry,
//! inactivity) are found by `ops::sweep`, which also revokes for disuse.

pub mod mail;

use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};

use crate::db::models::notifications::{self, Mail, NotificationRow};
use crate::db::models::tokens::TokenRow;
use crate::db::models::WriteError;
use crate::db::{write_transaction, DbConnection};
use crate::domain::{Email, NoticeKind, TokenId, UserId};

/// Something that happened to a token that its owner is told of.
#[derive(Clone, Debug)]
pub enum Notice {
    Created,
    /// Expires within this many days (30, 7 or 1).
    Expiring {
        days: u32,
    },
    Expired,
    ReportedPublic {
        url: Option<String>,
    },
    UsedFromNewIp {
        ip: String,
    },
    /// Presented after it stopped working: told at most once a day.
    UsedAfterRevocation {
        ip: Option<String>,
        day: NaiveDate,
    },
    /// Unused for almost a year: revoked at `revoke_at` unless used before.
    Inactive {
        revoke_at: NaiveDateTime,
    },
    RevokedInactive,
    /// Revoked by an instance admin, who said why.
    RevokedByAdmin {
        reason: String,
    },
}

impl Notice {
    fn kind(&self) -> NoticeKind {
        match self {
            Notice::Created => NoticeKind::TokenCreated,
            Notice::Expiring { .. } => NoticeKind::TokenExpiring,
            Notice::Expired => NoticeKind::TokenExpired,
            Notice::ReportedPublic { .. } => NoticeKind::TokenReportedPublic,
            Notice::UsedFromNewIp { .. } => NoticeKind::TokenUsedFromNewIp,
            Notice::UsedAfterRevocation { .. } => NoticeKind::TokenUsedAfterRevocation,
            Notice::Inactive { .. } => NoticeKind::TokenInactive,
            Notice::RevokedInactive => NoticeKind::TokenRevokedInactive,
            Notice::RevokedByAdmin { .. } => NoticeKind::TokenRevokedByAdmin,
        }
    }

    /// The occasion: a notice with the same key is never recorded twice. Expiry thresholds
    /// once per token, presentations after revocation once a day, an inactivity warning once
    /// per period of disuse (a token used again and idle for another year is warned again).
    pub fn dedupe_key(&self, token: &TokenRow) -> String {
        let id = &token.id;
        match self {
            Notice::Created => format!("created:{id}"),
            Notice::Expiring { days } => format!("expiring:{days}:{id}"),
            Notice::Expired => format!("expired:{id}"),
            Notice::ReportedPublic { .. } => format!("reported_public:{id}"),
            Notice::UsedFromNewIp { ip } => format!("new_ip:{id}:{ip}"),
            Notice::UsedAfterRevocation { day, .. } => format!("after_revocation:{id}:{day}"),
            Notice::Inactive { .. } => format!("inactive:{id}:{}", idle_since(token)),
            Notice::RevokedInactive => format!("revoked_inactive:{id}"),
            Notice::RevokedByAdmin { .. } => format!("revoked_by_admin:{id}"),
        }
    }
}

/// Something that happened to an account's second factor (SPEC §3.1), told to its owner each
/// time: a change the owner did not make is how a taken-over account is found out.
#[derive(Clone, Debug)]
pub enum AccountNotice {
    SecondFactorAdded,
    SecondFactorRemoved,
    /// A recovery code stood in for a code; `left` are still unused.
    RecoveryCodeUsed {
        left: u32,
    },
    RecoveryCodesRegenerated,
    /// A passkey, by its name.
    PasskeyAdded(String),
    PasskeyRemoved(String),
    /// A passkey signed in without the password.
    PasskeySignIn(String),
}

impl AccountNotice {
    fn kind(&self) -> NoticeKind {
        match self {
            AccountNotice::SecondFactorAdded => NoticeKind::SecondFactorAdded,
            AccountNotice::SecondFactorRemoved => NoticeKind::SecondFactorRemoved,
            AccountNotice::RecoveryCodeUsed { .. } => NoticeKind::RecoveryCodeUsed,
            AccountNotice::RecoveryCodesRegenerated => NoticeKind::RecoveryCodesRegenerated,
            AccountNotice::PasskeyAdded(_) => NoticeKind::PasskeyAdded,
            AccountNotice::PasskeyRemoved(_) => NoticeKind::PasskeyRemoved,
            AccountNotice::PasskeySignIn(_) => NoticeKind::PasskeySignIn,
        }
    }
}

/// The start of a token's current disuse: its last use, or its creation if never used.
pub fn idle_since(token: &TokenRow) -> NaiveDateTime {
    token.last_used_at.unwrap_or(token.created_at)
}

/// What a notification keeps of its token and occasion, as JSON: the token's name and prefix
/// as they were, never anything secret.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    pub token_id: Option<TokenId>,
    pub token_name: String,
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The token's expiry, or when an idle token will be revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<NaiveDateTime>,
    /// Why an admin revoked it, in their words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Recovery codes still unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<u32>,
    /// A passkey's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<String>,
}

impl Details {
    fn new(token: &TokenRow, notice: &Notice) -> Details {
        let mut details = Details {
            token_id: Some(token.id.clone()),
            token_name: token.name.to_string(),
            prefix: token.prefix.clone(),
            ..Details::default()
        };
        match notice {
            Notice::Expiring { days } => {
                details.days = Some(*days);
                details.at = token.expires_at;
            }
            Notice::Expired => details.at = token.expires_at,
            Notice::ReportedPublic { url } => details.url = url.clone(),
            Notice::UsedFromNewIp { ip } => details.ip = Some(ip.clone()),
            Notice::UsedAfterRevocation { ip, .. } => details.ip = ip.clone(),
            Notice::Inactive { revoke_at } => details.at = Some(*revoke_at),
            Notice::RevokedByAdmin { reason } => details.reason = Some(reason.clone()),
            Notice::Created | Notice::RevokedInactive => {}
        }
        details
    }

    /// A stored notification's details (an unreadable one reads as empty, never an error).
    pub fn of(row: &NotificationRow) -> Details {
        serde_json::from_str(&row.details).unwrap_or_default()
    }
}

/// A notification in words, for the dashboard and the mail alike.
pub struct Message {
    pub subject: String,
    pub text: String,
    /// Where to act on it: a path on this site, and what the link says.
    pub link: Option<(String, &'static str)>,
}

/// Says what happened. The one place notifications are worded.
pub fn describe(kind: NoticeKind, d: &Details) -> Message {
    let name = &d.token_name;
    let token = format!("“{name}” ({}…)", d.prefix);
    let date = |at: Option<NaiveDateTime>| {
        at.map(|t| t.format("%b %-d, %Y, %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    let id = d.token_id.as_ref().map(TokenId::as_str).unwrap_or_default();
    let regenerate = Some((
        format!("/settings/tokens/{id}/regenerate"),
        "Regenerate the token",
    ));
    let tokens = Some(("/settings/tokens".to_owned(), "Your API tokens"));
    let security = Some((
        "/settings/security".to_owned(),
        "Your sign-in security settings",
    ));
    let not_you = "If this was not you, change your password now and check your sessions.";
    let passkey = d.passkey.as_deref().unwrap_or("unnamed");
    let (subject, text, link) = match kind {
        NoticeKind::TokenCreated => (
            format!("A new API token “{name}” was created"),
            format!(
                "A new API token {token} was created for your account. If this was not you, \
                 revoke it and change your password."
            ),
            tokens,
        ),
        NoticeKind::TokenExpiring => {
            let days = d.days.unwrap_or(1);
            let plural = if days == 1 { "" } else { "s" };
            (
                format!("Your API token “{name}” expires in {days} day{plural}"),
                format!(
                    "Your API token {token} expires in {days} day{plural}, on {}. Anything \
                     still using it will then be refused; regenerate it now to keep its \
                     settings and swap it in at leisure.",
                    date(d.at)
                ),
                regenerate,
            )
        }
        NoticeKind::TokenExpired => (
            format!("Your API token “{name}” has expired"),
            format!(
                "Your API token {token} expired on {}. Requests with it are refused; create \
                 a new token to replace it.",
                date(d.at)
            ),
            tokens,
        ),
        NoticeKind::TokenReportedPublic => (
            format!("Your API token “{name}” was found in public and revoked"),
            match &d.url {
                Some(url) => format!(
                    "Your API token {token} was found in public ({url}) and has been revoked, \
                     so nobody can use it. Create a new one for whatever used it, and remove \
                     the old one from where it was published."
                ),
                None => format!(
                    "Your API token {token} was reported as published and has been revoked, \
                     so nobody can use it. Create a new one for whatever used it."
                ),
            },
            tokens,
        ),
        NoticeKind::TokenUsedFromNewIp => (
            format!("Your API token “{name}” was used from a new address"),
            format!(
                "Your API token {token} was used from {}, an address it had not been used \
                 from before. If you do not recognise it, revoke the token.",
                d.ip.as_deref().unwrap_or("an unknown address")
            ),
            tokens,
        ),
        NoticeKind::TokenUsedAfterRevocation => (
            format!("Your stopped API token “{name}” is still being presented"),
            format!(
                "Something is still sending your API token {token}, which no longer works{}. \
                 It was refused. Find what still holds it and give it a working token.",
                d.ip.as_deref()
                    .map(|ip| format!(", from {ip}"))
                    .unwrap_or_default()
            ),
            tokens,
        ),
        NoticeKind::TokenInactive => (
            format!("Your API token “{name}” will be revoked for inactivity"),
            format!(
                "Your API token {token} has not been used for almost a year. Unused tokens \
                 are revoked: it will be on {} unless it is used before then.",
                date(d.at)
            ),
            tokens,
        ),
        NoticeKind::TokenRevokedInactive => (
            format!("Your API token “{name}” was revoked for inactivity"),
            format!("Your API token {token} was not used for a year and has been revoked."),
            tokens,
        ),
        NoticeKind::TokenRevokedByAdmin => (
            format!("Your API token “{name}” was revoked by an administrator"),
            format!(
                "An administrator of this Mantel revoked your API token {token}, so nobody can \
                 use it. Their reason: “{}”. Create a new one if you still need it.",
                d.reason.as_deref().unwrap_or("none given")
            ),
            tokens,
        ),
        NoticeKind::SecondFactorAdded => (
            "A second factor was added to your account".to_owned(),
            format!(
                "An authenticator app was added to your account: signing in now asks for its \
                 code after the password. {not_you}"
            ),
            security,
        ),
        NoticeKind::SecondFactorRemoved => (
            "The second factor of your account was removed".to_owned(),
            format!(
                "The authenticator app of your account was removed, with its recovery codes: \
                 signing in asks for the password alone unless the account has a passkey. \
                 {not_you}"
            ),
            security,
        ),
        NoticeKind::RecoveryCodeUsed => {
            let left = d.left.unwrap_or(0);
            (
                "A recovery code was used to sign in".to_owned(),
                format!(
                    "One of your recovery codes was used in place of your authenticator's code; \
                     {left} unused remain. If you have lost your authenticator, remove it and \
                     add it again. {not_you}"
                ),
                security,
            )
        }
        NoticeKind::RecoveryCodesRegenerated => (
            "New recovery codes were made for your account".to_owned(),
            format!(
                "Your account has 10 new recovery codes; the old ones no longer work. {not_you}"
            ),
            security,
        ),
        NoticeKind::PasskeyAdded => (
            "A passkey was added to your account".to_owned(),
            format!(
                "The passkey “{passkey}” was added to your account: it can sign in without your \
                 password, or stand in for your authenticator's code. {not_you}"
            ),
            security,
        ),
        NoticeKind::PasskeyRemoved => (
            "A passkey was removed from your account".to_owned(),
            format!("The passkey “{passkey}” no longer signs in to your account. {not_you}"),
            security,
        ),
        NoticeKind::PasskeySignIn => (
            "Someone signed in to your account with a passkey".to_owned(),
            format!(
                "The passkey “{passkey}” signed in to your account without a password. {not_you}"
            ),
            security,
        ),
    };
    Message {
        subject,
        text,
        link,
    }
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct TextMail<'a> {
    message: &'a Message,
    /// The absolute link, and what it says.
    link: Option<(String, &'a str)>,
    site: &'a str,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct HtmlMail<'a> {
    message: &'a Message,
    link: Option<(String, &'a str)>,
    site: &'a str,
}

/// Records notifications, and queues their mail when mail is configured.
#[derive(Clone, Debug)]
pub struct Notifier {
    mail: bool,
    /// The public URL without its trailing slash: mail links are absolute.
    site: String,
}

impl Notifier {
    pub fn new(mail: bool, public_url: &str) -> Notifier {
        Notifier {
            mail,
            site: public_url.trim().trim_end_matches('/').to_owned(),
        }
    }

    /// Records `notice` about `token` for its owner, unless this occasion was recorded
    /// already; in the caller's transaction when there is one, so the event and its
    /// notification (and mail) commit together. True when recorded now.
    pub fn record(
        &self,
        conn: &mut DbConnection,
        token: &TokenRow,
        notice: &Notice,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let details = Details::new(token, notice);
        let row = NotificationRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: token.user_id.clone(),
            token_id: Some(token.id.clone()),
            kind: notice.kind(),
            dedupe_key: notice.dedupe_key(token),
            details: serde_json::to_string(&details).unwrap_or_default(),
            created_at: now,
            read_at: None,
        };
        let render = |recipient: &Email| self.render(recipient, row.kind, &details);
        notifications::record_once(
            conn,
            &row,
            self.mail.then_some(&render as &dyn Fn(&Email) -> Mail),
        )
    }

    /// Records `notice` about the account `user_id`'s second factor; in the caller's
    /// transaction, so the event and its notification (and mail) commit together. Each is its
    /// own occasion.
    pub fn record_account(
        &self,
        conn: &mut DbConnection,
        user_id: &UserId,
        notice: AccountNotice,
        now: NaiveDateTime,
    ) -> QueryResult<bool> {
        let details = Details {
            left: match notice {
                AccountNotice::RecoveryCodeUsed { left } => Some(left),
                _ => None,
            },
            passkey: match &notice {
                AccountNotice::PasskeyAdded(name)
                | AccountNotice::PasskeyRemoved(name)
                | AccountNotice::PasskeySignIn(name) => Some(name.clone()),
                _ => None,
            },
            ..Details::default()
        };
        let id = uuid::Uuid::new_v4().to_string();
        let row = NotificationRow {
            dedupe_key: format!("account:{id}"),
            id,
            user_id: user_id.clone(),
            token_id: None,
            kind: notice.kind(),
            details: serde_json::to_string(&details).unwrap_or_default(),
            created_at: now,
            read_at: None,
        };
        let render = |recipient: &Email| self.render(recipient, row.kind, &details);
        notifications::record_once(
            conn,
            &row,
            self.mail.then_some(&render as &dyn Fn(&Email) -> Mail),
        )
    }

    /// Runs `issue` (a token's creation or rotation) and records the new token's "created"
    /// notification in the same transaction: a token never exists untold.
    pub fn issue<T>(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
        issue: impl FnOnce(&mut DbConnection) -> Result<(TokenRow, T), WriteError>,
    ) -> Result<(TokenRow, T), WriteError> {
        write_transaction(conn, |conn| {
            let (token, plain) = issue(conn)?;
            self.record(conn, &token, &Notice::Created, now)?;
            Ok((token, plain))
        })
    }

    fn render(&self, recipient: &Email, kind: NoticeKind, details: &Details) -> Mail {
        let message = describe(kind, details);
        let link = message
            .link
            .as_ref()
            .map(|(path, label)| (format!("{}{path}", self.site), *label));
        let text = TextMail {
            message: &message,
            link: link.clone(),
            site: &self.site,
        };
        let html = HtmlMail {
            message: &message,
            link,
            site: &self.site,
        };
        Mail {
            recipient: recipient.clone(),
            subject: message.subject.clone(),
            // Both are plain templates over our own strings: rendering cannot fail.
            text_body: text.render().unwrap_or_default(),
            html_body: html.render().unwrap_or_default(),
        }
    }
}
