//! The outbox's sender: on every instance a background task claims due mails (never one
//! another instance holds), sends them over SMTP and marks them sent; a failed send is tried
//! again later, each time after twice the wait, up to `MAX_RETRY_DELAY`. A mail waits while
//! the SMTP server is down and goes when it is back, for up to `GIVE_UP_AFTER`; one the server
//! refuses for good (5xx), or whose recipient is not one plain address, is marked failed at
//! once. A failed mail is never tried again, and `/metrics` counts it.

use std::fmt;

use chrono::Duration;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::clock::Clock;
use crate::db::models::notifications::{self, OutboxMail};
use crate::db::{self, DbError, Pool};
use crate::domain::Email;
use crate::domain::PublicUrl;

/// The longest wait between two attempts at one mail.
const MAX_RETRY_DELAY: Duration = Duration::minutes(10);
/// A mail still failing this long after it was queued is given up on: by then the SMTP
/// server has been down, or refusing it, for longer than anyone waits for a notice.
const GIVE_UP_AFTER: Duration = Duration::days(3);
/// Mails claimed at once by one sender.
const BATCH: i64 = 20;

/// `MANTEL_SMTP_URL`: `smtp://[user:pass@]host:port` (plain, or `?tls=required` for
/// STARTTLS) or `smtps://…`. It may hold a password, so it never prints.
#[derive(Clone)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn new(url: String) -> SmtpUrl {
        SmtpUrl(url)
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpUrl(<redacted>)")
    }
}

/// Where mail goes, from `MANTEL_SMTP_URL` and `MANTEL_MAIL_FROM`.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub smtp_url: SmtpUrl,
    /// `None`: `Mantel <noreply@HOST>`, HOST from the public URL.
    pub from: Option<String>,
}

pub struct Sender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Sender {
    pub fn new(settings: &MailSettings, public_url: &PublicUrl) -> anyhow::Result<Sender> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url.0)
            .map_err(|e| anyhow::anyhow!("MANTEL_SMTP_URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = match &settings.from {
            Some(from) => from,
            None => &format!("Mantel <noreply@{}>", public_url.host()),
        };
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("MANTEL_MAIL_FROM {from:?}: {e}"))?;
        Ok(Sender { transport, from })
    }

    /// Sends every mail that is due now; answers how many went out.
    pub async fn send_due(&self, pool: &Pool, clock: &Clock) -> Result<usize, DbError> {
        let now = clock.now();
        let mails =
            db::write_query(pool, move |conn| notifications::claim_due(conn, now, BATCH)).await?;
        let mut sent = 0;
        for mail in mails {
            let outcome = self.send(&mail).await;
            let (id, now) = (mail.id.clone(), clock.now());
            match outcome {
                Ok(()) => {
                    sent += 1;
                    db::write_query(pool, move |conn| notifications::mark_sent(conn, &id, now))
                        .await?;
                }
                Err(failure) => {
                    // Refused for good, or failing since too long ago: given up on.
                    let (error, give_up) = match failure {
                        Failure::Permanent(error) => (error, true),
                        Failure::Transient(error) => {
                            (error, now - mail.created_at >= GIVE_UP_AFTER)
                        }
                    };
                    if give_up {
                        tracing::warn!(attempts = mail.attempts + 1, error = %error, "a notification mail failed for good; it will not be tried again");
                        db::write_query(pool, move |conn| {
                            notifications::mark_failed(conn, &id, now, &error)
                        })
                        .await?;
                    } else {
                        let retry_at = now + retry_delay(mail.attempts + 1);
                        tracing::warn!(attempts = mail.attempts + 1, %retry_at, error = %error, "could not send a notification mail; will retry");
                        db::write_query(pool, move |conn| {
                            notifications::retry_later(conn, &id, retry_at, &error)
                        })
                        .await?;
                    }
                }
            }
        }
        Ok(sent)
    }

    async fn send(&self, mail: &OutboxMail) -> Result<(), Failure> {
        let to = Email::parse(&mail.recipient)
            .map_err(|_| Failure::Permanent("recipient: not one plain address".into()))
            .and_then(|to| {
                mailbox(&to).map_err(|e| Failure::Permanent(format!("recipient: {e}")))
            })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(MultiPart::alternative_plain_html(
                mail.text_body.clone(),
                mail.html_body.clone(),
            ))
            .map_err(|e| Failure::Permanent(format!("message: {e}")))?;
        self.transport.send(message).await.map(drop).map_err(|e| {
            if e.is_permanent() {
                Failure::Permanent(e.to_string())
            } else {
                Failure::Transient(e.to_string())
            }
        })
    }
}

/// Why a mail did not go: worth trying again, or never.
enum Failure {
    Transient(String),
    Permanent(String),
}

/// The one mailbox of `email`, without a display name, built from its two parts: a string is
/// never parsed as a mailbox, which could bring a name, brackets or a second address with it.
fn mailbox(email: &Email) -> Result<Mailbox, lettre::address::AddressError> {
    Address::new(email.local_part(), email.domain()).map(|address| Mailbox::new(None, address))
}

/// 2 s, 4 s, 8 s, … after the first, second, third failure, at most `MAX_RETRY_DELAY`.
fn retry_delay(failures: i32) -> Duration {
    let exponent = failures.clamp(1, 16) as u32;
    Duration::seconds(2i64.pow(exponent)).min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_is_the_bare_address() {
        let email = Email::parse("Ada+x@Example.com").unwrap();
        assert_eq!(mailbox(&email).unwrap().to_string(), "ada+x@example.com");
    }

    #[test]
    fn retries_back_off_up_to_a_limit() {
        assert_eq!(retry_delay(1), Duration::seconds(2));
        assert_eq!(retry_delay(3), Duration::seconds(8));
        assert_eq!(retry_delay(30), MAX_RETRY_DELAY);
        let url = SmtpUrl::new("smtp://me:secret@mail.example:25".into());
        assert!(!format!("{url:?}").contains("secret"));
    }
}
