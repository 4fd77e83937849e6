//! The command line: `serve` (the default), `migrate`, `user create`, `admin grant|revoke`,
//! `invoice add`, `scan`, `backup`.
//! Errors here are `anyhow`; a broken rule of the data names its field.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::auth::password::{self, Password};
use crate::clock::Clock;
use crate::config::{SecretKey, Settings};
use crate::db::models::WriteError;
use crate::db::{self, models::invoices, models::users::User};
use crate::domain::Email;
use crate::notify::mail::{MailSettings, SmtpUrl};

#[derive(Parser, Debug)]
#[command(
    name = "mantel",
    version,
    about = "Personal API tokens, and the API they are for."
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Make an account an instance admin, or no longer one.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Record invoices.
    #[command(subcommand)]
    Invoice(InvoiceCommand),
    /// Copy the SQLite database to PATH while the server keeps serving, and check the copy
    /// (never overwrites a file). For PostgreSQL, prints the `pg_dump` command to use instead.
    Backup {
        path: std::path::PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Find Mantel tokens in files and folders (stdin when none is given): prints
    /// `path:line: mm_pat_XXXX…` for each, and exits 1 if it found any, 0 if not, 2 on an
    /// error. Skips `.git`, binary files and files over 10 MiB.
    Scan(ScanArgs),
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files and folders to scan; stdin when none.
    paths: Vec<std::path::PathBuf>,
    /// Also send the tokens found to this Mantel server's public revoke endpoint, which
    /// revokes those that still work (an https:// or http:// URL, e.g.
    /// https://mantel.example.com).
    #[arg(long, value_name = "URL")]
    report: Option<String>,
}

#[derive(Subcommand, Debug)]
enum InvoiceCommand {
    /// Record an invoice for the account with this email.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        amount_cents: i64,
        /// The billing period, YYYY-MM.
        #[arg(long)]
        period: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create an account; the password is read from stdin (or a prompt).
    Create {
        #[arg(long)]
        email: String,
        /// Make it an instance admin (SPEC §9: `/admin` and `/api/admin`).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Make the account with this email an instance admin.
    Grant {
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make the account with this email no longer an instance admin.
    Revoke {
        email: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// A path or sqlite://PATH for SQLite, postgres://… for PostgreSQL.
    #[arg(long, env = "DATABASE_URL", default_value = "mantel.db")]
    pub database_url: String,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[arg(long, env = "MANTEL_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    #[command(flatten)]
    db: DbArgs,
    /// The URL people use: the origin CSRF checks compare and the start of mail links; an
    /// https URL turns on Secure cookies. By default http:// and the address actually bound
    /// (http://127.0.0.1:8080 with the default --bind; 127.0.0.1 for 0.0.0.0).
    #[arg(long, env = "MANTEL_PUBLIC_URL")]
    public_url: Option<String>,
    /// Bearer requests an hour per token, counted by each instance on its own.
    #[arg(
        long,
        env = "MANTEL_TOKEN_RATE_LIMIT",
        default_value_t = crate::auth::rate_limit::DEFAULT_TOKEN_RATE_LIMIT,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    token_rate_limit: u32,
    /// Bad bearer tokens one client address may present a minute before its bearer requests
    /// get 429 without a lookup; 0 turns this off (behind a proxy every request comes from the
    /// proxy's address: limit there instead).
    #[arg(
        long,
        env = "MANTEL_BEARER_FAILURE_LIMIT",
        default_value_t = crate::auth::rate_limit::FAILURES_PER_MINUTE
    )]
    bearer_failure_limit: u32,
    /// Serve Prometheus `GET /metrics` on this address (off unless set; keep it private).
    #[arg(long, env = "MANTEL_METRICS_BIND")]
    metrics_bind: Option<String>,
    /// GitHub's secret scanning public keys, as GitHub publishes them (read again when the
    /// file changes); without it, GitHub's reports are refused.
    #[arg(long, env = "MANTEL_GITHUB_SCANNING_KEYS")]
    github_scanning_keys: Option<std::path::PathBuf>,
    /// GitLab's secret detection public keys, in the same format.
    #[arg(long, env = "MANTEL_GITLAB_SCANNING_KEYS")]
    gitlab_scanning_keys: Option<std::path::PathBuf>,
    /// Proxies (CIDR ranges, comma-separated) whose forwarding header (`--proxy-header`)
    /// names the client; by default none is trusted and the socket's address is the client's.
    #[arg(long, env = "MANTEL_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<crate::domain::Cidr>,
    /// The one header the trusted proxies name the client in; the other is never read.
    #[arg(
        long,
        env = "MANTEL_PROXY_HEADER",
        value_enum,
        default_value_t = crate::auth::client_ip::ProxyHeader::XForwardedFor
    )]
    proxy_header: crate::auth::client_ip::ProxyHeader,
    /// Send notification mail through this SMTP server: smtp://[user:pass@]host:port
    /// (`?tls=required` for STARTTLS) or smtps://…; without it, notifications are in the
    /// dashboard only. Prefer the environment variable: a flag shows in the process list.
    #[arg(long, env = "MANTEL_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of notification mail, e.g. "Mantel <noreply@example.com>" (by default
    /// noreply@ the public URL's host).
    #[arg(long, env = "MANTEL_MAIL_FROM")]
    mail_from: Option<String>,
}

impl ServeArgs {
    fn into_settings(self) -> anyhow::Result<Settings> {
        let secret_key = match std::env::var("MANTEL_SECRET_KEY") {
            Ok(s) if !s.is_empty() => Some(SecretKey::new(s).map_err(anyhow::Error::msg)?),
            _ => None,
        };
        let mail = self
            .smtp_url
            .filter(|url| !url.is_empty())
            .map(|url| MailSettings {
                smtp_url: SmtpUrl::new(url),
                from: self.mail_from.filter(|from| !from.is_empty()),
            });
        Ok(Settings {
            bind: self.bind,
            database_url: self.db.database_url,
            public_url: self.public_url.filter(|url| !url.trim().is_empty()),
            secret_key,
            token_rate_limit: self.token_rate_limit,
            bearer_failure_limit: self.bearer_failure_limit,
            metrics_bind: self.metrics_bind.filter(|bind| !bind.is_empty()),
            github_scanning_keys: self
                .github_scanning_keys
                .filter(|p| !p.as_os_str().is_empty()),
            gitlab_scanning_keys: self
                .gitlab_scanning_keys
                .filter(|p| !p.as_os_str().is_empty()),
            trusted_proxies: self.trusted_proxies,
            proxy_header: self.proxy_header,
            mail,
            sweep_every: crate::config::SWEEP_EVERY,
            activity_queue: crate::auth::activity::CAPACITY,
        })
    }
}

/// What the process exits with: 0 when all went well; for `scan`, 1 when it found tokens
/// and 2 when it could not finish.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let done: anyhow::Result<()> = match cli.command {
        Some(Command::Scan(args)) => return Ok(scan(&args)),
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Migrate(args)) => {
            let pool = db::connect(&args.database_url, 1, Default::default())?;
            db::run(&pool, db::run_migrations).await?;
            println!("migrations are up to date");
            Ok(())
        }
        Some(Command::User(UserCommand::Create {
            email,
            admin,
            db: args,
        })) => {
            let password = read_password()?;
            password.validate_new().map_err(anyhow::Error::msg)?;
            let pool = db::connect(&args.database_url, 1, Default::default())?;
            let now = Clock::default().now();
            let email = Email::parse(&email)?;
            db::run(&pool, db::run_migrations).await?;
            let hash = password::hash(&password)?;
            let user = db::write(&pool, move |conn| {
                db::write_transaction(conn, |conn| {
                    let user = User::create(conn, email, hash, now)?;
                    if !admin {
                        return Ok(user);
                    }
                    let found = User::set_admin(conn, user.email.as_str(), true)?;
                    Ok::<_, WriteError>(found.unwrap_or(user))
                })
            })
            .await
            .map_err(explain)?;
            let what = if user.admin { "admin" } else { "user" };
            println!("created {what} {} ({})", user.email, user.id);
            Ok(())
        }
        Some(Command::Admin(AdminCommand::Grant { email, db: args })) => {
            set_admin(&args, email, true).await
        }
        Some(Command::Admin(AdminCommand::Revoke { email, db: args })) => {
            set_admin(&args, email, false).await
        }
        Some(Command::Backup { path, db: args }) => {
            let copy = crate::db::backup::run(&args.database_url, &path)?;
            println!(
                "wrote {} ({} bytes): a consistent copy, integrity ok, {} migrations (latest {}), \
                 {} accounts, {} tokens",
                copy.path.display(),
                copy.bytes,
                copy.migrations,
                copy.latest_migration,
                copy.users,
                copy.tokens
            );
            Ok(())
        }
        Some(Command::Invoice(InvoiceCommand::Add {
            email,
            amount_cents,
            period,
            db: args,
        })) => {
            let pool = db::connect(&args.database_url, 1, Default::default())?;
            let now = Clock::default().now();
            db::run(&pool, db::run_migrations).await?;
            let invoice = db::write(&pool, move |conn| {
                let user = User::find_by_email(conn, &email)?.ok_or_else(|| {
                    WriteError::field("email", format!("No account has the email {email}."))
                })?;
                invoices::add(conn, &user.id, &period, amount_cents, now)
            })
            .await
            .map_err(explain)?;
            println!(
                "recorded invoice {} for {} ({} cents)",
                invoice.id, invoice.period, invoice.amount_cents
            );
            Ok(())
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// A scan's exit code: 1 when it found tokens (a pre-commit hook then stops the commit), 0
/// when not, 2 when it could not finish — so a broken scan never reads as a clean one.
fn scan(args: &ScanArgs) -> ExitCode {
    match crate::scan::run(&args.paths, args.report.as_deref()) {
        Ok(true) => ExitCode::from(1),
        Ok(false) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mantel scan: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `mantel admin grant|revoke EMAIL`. Takes effect on the account's next request, on every
/// instance: the admin flag is read with the session, from a cache that the change empties
/// before the command returns (`cache_lease::settled`).
async fn set_admin(args: &DbArgs, email: String, admin: bool) -> anyhow::Result<()> {
    let pool = db::connect(&args.database_url, 1, Default::default())?;
    db::run(&pool, db::run_migrations).await?;
    let shown = email.clone();
    let user = db::write_query(&pool, move |conn| User::set_admin(conn, &email, admin))
        .await?
        .ok_or_else(|| anyhow::anyhow!("email: No account has the email {shown}."))?;
    // On PostgreSQL, as a request that changed it does before it is answered: the instances'
    // listeners hear of it within milliseconds anyway, but "on the next request" means the one
    // sent after the command returned.
    db::cache_lease::settled(&pool, db::cache_lease::Scope::All).await?;
    let now = if admin { "now" } else { "no longer" };
    println!("{} ({}) is {now} an instance admin", user.email, user.id);
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.into_settings()?;
    let app = crate::startup::Application::build(settings, Clock::default()).await?;
    app.run_until_stopped().await?;
    Ok(())
}

/// On the command line a validation error names its fields.
fn explain(e: WriteError) -> anyhow::Error {
    match e {
        WriteError::Invalid(fields) => {
            let lines: Vec<String> = fields.iter().map(|(f, m)| format!("{f}: {m}")).collect();
            anyhow::anyhow!(lines.join("; "))
        }
        e => e.into(),
    }
}

/// One line from stdin; with a terminal, a prompt first (the input is echoed: pipe it in
/// to keep it off the screen).
fn read_password() -> anyhow::Result<Password> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(Password::new(
        line.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}
