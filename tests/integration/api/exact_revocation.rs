//! SPEC §7 under load, across processes (issue #16): whatever a token cache does, a change that
//! was answered holds on the very next request, on every instance. Three real `mantel serve`
//! processes, A, B and C, on one database — a SQLite file (always) or PostgreSQL (with
//! `MANTEL_TEST_POSTGRES_URL`) — and many trials of "change through A while every instance
//! hammers the token": a revocation, a rotation's grace ending, a project's token policy
//! tightened and relaxed again; and "sign out through A while every instance serves the
//! session", for the session caches. On PostgreSQL also revocations right after every database
//! connection of B and C was cut (whatever an instance listens on goes with them), and while
//! B is cut off from the database without knowing it.
//!
//! Every request records when it was sent and when its answer came, as the client saw them.
//! No request sent after the change was answered may get the old answer; every request answered
//! before the change was sent must have got it — otherwise the trial proves nothing. That is an
//! order of events, not a timing: nothing here asserts how fast anything is.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::rt::{spawn, task::JoinHandle, time::sleep};
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{migrate, sign_up, Instance, TestDb, PUBLIC_URL};

/// Trials of each kind, per backend (a multiple of every number of lanes below).
const TRIALS: usize = 200;
/// Hammering tasks per instance, A first: A answers the change, B and C only hear of it
/// through the database (and whatever a cache adds).
const TASKS: [usize; 3] = [1, 3, 3];
const NAMES: [&str; 3] = ["A", "B", "C"];
/// A trial that waits longer than this for the hammering has hung, not lost a race.
const STUCK: Duration = Duration::from_secs(60);

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Three instances on one freshly migrated database, and one person signed up through A, whose
/// dashboard session (cookie and CSRF token) makes every change through A.
struct Cluster {
    instances: [Instance; 3],
    browser: reqwest::Client,
    csrf: String,
    /// One client per hammering task, kept across trials: its own keep-alive connections,
    /// no cookies.
    hammers: Vec<(usize, reqwest::Client)>,
    db: TestDb,
    /// Last: released once the instances are gone.
    _turn: Option<MutexGuard<'static, ()>>,
}

/// This module's PostgreSQL clusters run one at a time: three instances hold some 30
/// connections (docs/deploy.md, Sizing), and the server allows 100 to every test at once.
static POSTGRES_TURN: Mutex<()> = Mutex::new(());

impl Cluster {
    /// `None` (after saying so) for PostgreSQL without `MANTEL_TEST_POSTGRES_URL`.
    async fn start(backend: Backend) -> Option<Cluster> {
        Cluster::start_with(backend, None).await
    }

    /// With `partition`, B reaches the database only through it.
    async fn start_with(backend: Backend, partition: Option<&Partition>) -> Option<Cluster> {
        let turn = matches!(backend, Backend::Postgres)
            .then(|| POSTGRES_TURN.lock().unwrap_or_else(|e| e.into_inner()));
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => {
                let Some(db) = TestDb::postgres() else {
                    crate::helpers::skipped("set MANTEL_TEST_POSTGRES_URL for the PostgreSQL run");
                    return None;
                };
                db
            }
        };
        migrate(&db.url());
        // Behind a balancer, as several instances are: every request comes from one address,
        // so the per-address limit on bad tokens is off (its 429s would hide whether a
        // token works), and the per-token limit is far above what the trials send.
        let flags = [
            "--token-rate-limit",
            "1000000",
            "--bearer-failure-limit",
            "0",
        ];
        // One after the other: the first creates the cookie key the others read.
        let url = db.url();
        let b_url = partition.map_or_else(|| url.clone(), |p| p.url(&url));
        let instances = [&url, &b_url, &url].map(|url| Instance::start_with(url, &flags));

        // A browser as `helpers::client` makes one, but dropping idle connections before the
        // server's keep-alive (5 s) ends them: the lanes leave some idle for seconds, and a
        // request sent on a connection the server is closing gets no answer.
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let a = &instances[0];
        let csrf = sign_up(&browser, a, a, "exact@example.com").await;
        let hammers = TASKS
            .iter()
            .enumerate()
            .flat_map(|(instance, &n)| (0..n).map(move |_| instance))
            .map(|instance| {
                // Idle connections dropped early, as for the browser.
                let http = reqwest::Client::builder()
                    .pool_idle_timeout(Duration::from_secs(1))
                    .build()
                    .unwrap();
                (instance, http)
            })
            .collect();
        Some(Cluster {
            instances,
            browser,
            csrf,
            hammers,
            db,
            _turn: turn,
        })
    }

    /// A dashboard JSON request through A (re-authenticated: signing up counts, for 10
    /// minutes).
    fn session(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.browser
            .request(method, self.instances[0].url(path))
            .header("X-CSRF-Token", &self.csrf)
            .header("Origin", PUBLIC_URL)
    }

    /// A token made through A: its id and plaintext.
    async fn token(&self, name: &str) -> (String, String) {
        let res = self
            .session(Method::POST, "/api/tokens")
            .json(&json!({ "name": name, "scopes": ["publish"], "expiry": "1y" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let created: Value = res.json().await.unwrap();
        (
            created["id"].as_str().unwrap().to_owned(),
            created["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Every hammering task sends `GET path` with the bearer `token`, again and again, until
    /// stopped.
    fn hammer(&self, path: &str, token: &str) -> Hammer {
        self.hammer_with(path, "Authorization", &format!("Bearer {token}"))
    }

    /// `hammer` with the credential in the header `name`: a bearer token, a session cookie.
    fn hammer_with(&self, path: &str, name: &str, value: &str) -> Hammer {
        let samples = Rc::new(RefCell::new(Vec::new()));
        let stop = Rc::new(Cell::new(false));
        let tasks = self
            .hammers
            .iter()
            .enumerate()
            .map(|(task, (instance, http))| {
                let request = http
                    .get(self.instances[*instance].url(path))
                    .header(name, value);
                let (samples, stop, instance) = (samples.clone(), stop.clone(), *instance);
                spawn(async move {
                    while !stop.get() {
                        let request = request.try_clone().unwrap();
                        let sent = Instant::now();
                        let res = request.send().await.unwrap_or_else(|e| {
                            panic!("{} did not answer: {e:?}", NAMES[instance])
                        });
                        let received = Instant::now();
                        let status = res.status();
                        // Read to the end, so the connection is kept for the next request.
                        let body = res.bytes().await.expect("the instance answers");
                        let error = if status.is_success() {
                            None
                        } else {
                            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
                            Some((
                                body["error"]["code"].as_str().unwrap_or("").to_owned(),
                                body["error"]["message"].as_str().unwrap_or("").to_owned(),
                            ))
                        };
                        samples.borrow_mut().push(Sample {
                            instance,
                            task,
                            sent,
                            received,
                            status,
                            error,
                        });
                    }
                })
            })
            .collect();
        Hammer {
            samples,
            stop,
            tasks,
        }
    }
}

/// One hammering request, as the client saw it. Times are taken on the client's side of
/// the wire, so `sent` is never later and `received` never earlier than the truth: a
/// request counted as sent after an answer really was.
struct Sample {
    instance: usize,
    task: usize,
    sent: Instant,
    received: Instant,
    status: StatusCode,
    /// An error answer's `code` and `message`.
    error: Option<(String, String)>,
}

impl Sample {
    fn describe(&self, since: Instant, what: &str) -> String {
        format!(
            "{} (task {}): a request sent {:?} after {what} got {} {:?}",
            NAMES[self.instance],
            self.task,
            self.sent.saturating_duration_since(since),
            self.status,
            self.error
        )
    }
}

struct Hammer {
    samples: Rc<RefCell<Vec<Sample>>>,
    stop: Rc<Cell<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Hammer {
    async fn until(&self, what: &str, done: impl Fn(&[Sample]) -> bool) {
        let start = Instant::now();
        while !done(&self.samples.borrow()) {
            assert!(start.elapsed() < STUCK, "stuck waiting until {what}");
            sleep(Duration::from_millis(1)).await;
        }
    }

    /// Until every instance has answered `status` to a request sent after `since`.
    async fn until_each_instance_answered(&self, status: StatusCode, since: Instant) {
        self.until("each instance answered", |samples| {
            (0..NAMES.len()).all(|i| {
                samples
                    .iter()
                    .any(|s| s.instance == i && s.status == status && s.sent >= since)
            })
        })
        .await
    }

    /// Until every instance has answered `n` requests sent after `since` (a request that
    /// one task has in flight since before does not hold the trial up).
    async fn until_each_instance_sent_after(&self, since: Instant, n: usize) {
        self.until("each instance answered after", |samples| {
            (0..NAMES.len()).all(|i| {
                samples
                    .iter()
                    .filter(|s| s.instance == i && s.sent >= since)
                    .count()
                    >= n
            })
        })
        .await
    }

    async fn stop(self) -> Vec<Sample> {
        self.stop.set(true);
        for task in self.tasks {
            task.await.expect("a hammering task panicked");
        }
        self.samples.take()
    }
}

/// What the trials of one test saw, summed up; a failure lists the first offending requests.
#[derive(Default)]
struct Tally {
    /// Requests that had to get the old answer, and did (answered before the change was sent).
    before: usize,
    /// Requests that had to get the new answer, and did (sent after the change was answered).
    after: usize,
    /// Requests in flight while the change was made: either answer is right.
    during: usize,
    /// 5xx answers, wherever they fell.
    failed: usize,
    wrong: Vec<String>,
}

impl Tally {
    fn check(&mut self, right: bool, sample: &Sample, since: Instant, what: &str) {
        if !right {
            self.wrong.push(sample.describe(since, what));
        }
    }

    /// Says what the trials saw, and fails on any wrong answer.
    fn finish(self, test: &str, trials: usize, started: Instant) {
        eprintln!(
            "{test}: {trials} trials in {:.1?}; {} requests answered before the change was sent, \
             {} sent after it was answered, {} in flight; {} answered 5xx",
            started.elapsed(),
            self.before,
            self.after,
            self.during,
            self.failed
        );
        assert!(
            self.wrong.is_empty(),
            "{test}: {} wrong answers, the first of them:\n{}",
            self.wrong.len(),
            self.wrong[..self.wrong.len().min(20)].join("\n")
        );
        // Every trial waits for the old answer from every instance before the change, and for
        // two requests to every instance after it: fewer would mean the checks above saw
        // nothing to check.
        assert!(
            self.before >= trials * NAMES.len(),
            "{test}: too few before"
        );
        assert!(
            self.after >= trials * NAMES.len() * 2,
            "{test}: too few after"
        );
    }

    fn add(&mut self, other: Tally) {
        self.before += other.before;
        self.after += other.after;
        self.during += other.during;
        self.failed += other.failed;
        self.wrong.extend(other.wrong);
    }
}

/// Runs `trials` trials in `lanes` lanes at once (so one slow request does not hold up every
/// trial), each lane its share one after the other, and checks what they all saw.
async fn in_lanes<F, Fut>(test: &str, trials: usize, lanes: usize, lane: F)
where
    F: Fn(usize, usize) -> Fut,
    Fut: Future<Output = Tally>,
{
    let started = Instant::now();
    let mut tally = Tally::default();
    for seen in join_all((0..lanes).map(|l| lane(l, trials / lanes))).await {
        tally.add(seen);
    }
    tally.finish(test, trials, started);
}

fn is_error(sample: &Sample, status: StatusCode, code: &str) -> bool {
    sample.status == status && sample.error.as_ref().is_some_and(|(c, _)| c == code)
}

/// Revoked through A with the dashboard session: the token gets 401 from every instance on
/// the next request.
async fn revocation(backend: Backend, test: &str) {
    let Some(cluster) = Cluster::start(backend).await else {
        return;
    };
    in_lanes(test, TRIALS, 4, |lane, trials| {
        revocation_lane(&cluster, lane, trials, Fault::None)
    })
    .await
}

/// What a revocation trial does to the database around the revocation.
#[derive(Clone, Copy)]
enum Fault<'a> {
    None,
    /// Every connection B and C hold to the PostgreSQL server on this port is cut once the
    /// token works everywhere, just before it is revoked.
    Cut(u16),
    /// B is cut off from the database just before the revocation, and healed shortly after
    /// it was answered.
    Partition(&'a Partition),
}

async fn revocation_lane(cluster: &Cluster, lane: usize, trials: usize, fault: Fault<'_>) -> Tally {
    let mut tally = Tally::default();
    for trial in 0..trials {
        let (id, token) = cluster.token(&format!("lane {lane}, trial {trial}")).await;
        let start = Instant::now();
        let hammer = cluster.hammer("/api/me", &token);
        hammer
            .until_each_instance_answered(StatusCode::OK, start)
            .await;
        let worked = Instant::now();
        match fault {
            Fault::None => {}
            Fault::Cut(port) => cut_database_connections(cluster, port),
            Fault::Partition(partition) => partition.frozen.store(true, Ordering::SeqCst),
        }
        let res = cluster
            .session(Method::DELETE, &format!("/api/tokens/{id}"))
            .send()
            .await
            .unwrap();
        let answered = Instant::now();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        if let Fault::Partition(partition) = fault {
            // Long enough for a B that still trusted what it knew to answer many requests.
            sleep(Duration::from_millis(300)).await;
            partition.frozen.store(false, Ordering::SeqCst);
        }
        hammer.until_each_instance_sent_after(answered, 2).await;
        for sample in hammer.stop().await {
            if sample.status.is_server_error() {
                tally.failed += 1;
            }
            // A fault may make an instance fail (500) for a while: cut connections until its
            // pool has replaced them, a partition until it heals. What it must never do is let
            // the token through.
            let may_fail = sample.status.is_server_error() && !matches!(fault, Fault::None);
            if sample.sent >= answered {
                tally.after += 1;
                let right =
                    is_error(&sample, StatusCode::UNAUTHORIZED, "invalid_token") || may_fail;
                tally.check(right, &sample, answered, "the revocation was answered");
            } else if sample.received <= worked {
                tally.before += 1;
                // Before the fault, only the cut connections may already have failed.
                let right =
                    sample.status == StatusCode::OK || may_fail && matches!(fault, Fault::Cut(_));
                tally.check(right, &sample, start, "the token was made");
            } else {
                tally.during += 1;
            }
        }
    }
    tally
}

/// Trials of the session kind: each signs in anew (a password hash).
const SESSION_TRIALS: usize = 40;

/// Signs in through A in a browser of its own: the session's `Cookie` header, and the CSRF
/// token its pages carry.
async fn sign_in(cluster: &Cluster, browser: &reqwest::Client) -> (String, String) {
    let a = &cluster.instances[0];
    let form = browser.get(a.url("/login")).send().await.unwrap();
    let csrf = crate::helpers::csrf_in(&form.text().await.unwrap());
    let res = browser
        .post(a.url("/login"))
        .form(&[
            ("email", "exact@example.com"),
            ("password", crate::helpers::PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed in");
    let cookie = res
        .cookies()
        .find(|c| c.name().ends_with("mm_session"))
        .map(|c| format!("{}={}", c.name(), c.value()))
        .expect("a session cookie");
    let page = browser.get(a.url("/settings/tokens")).send().await.unwrap();
    (cookie, crate::helpers::csrf_in(&page.text().await.unwrap()))
}

/// Signed out through A while every instance serves the session (from its cache, where it
/// has one): the cookie gets 401 from every instance on the next request.
async fn session_ending(backend: Backend, test: &str) {
    let Some(cluster) = Cluster::start(backend).await else {
        return;
    };
    in_lanes(test, SESSION_TRIALS, 2, |_, trials| {
        session_lane(&cluster, trials)
    })
    .await
}

async fn session_lane(cluster: &Cluster, trials: usize) -> Tally {
    let mut tally = Tally::default();
    for _ in 0..trials {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let (cookie, csrf) = sign_in(cluster, &browser).await;
        let start = Instant::now();
        let hammer = cluster.hammer_with("/api/me", "Cookie", &cookie);
        hammer
            .until_each_instance_answered(StatusCode::OK, start)
            .await;
        let worked = Instant::now();
        let res = browser
            .post(cluster.instances[0].url("/logout"))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        let answered = Instant::now();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed out");
        hammer.until_each_instance_sent_after(answered, 2).await;
        for sample in hammer.stop().await {
            if sample.status.is_server_error() {
                tally.failed += 1;
            }
            if sample.sent >= answered {
                tally.after += 1;
                let right = sample.status == StatusCode::UNAUTHORIZED;
                tally.check(right, &sample, answered, "the logout was answered");
            } else if sample.received <= worked {
                tally.before += 1;
                let right = sample.status == StatusCode::OK;
                tally.check(right, &sample, start, "the session was made");
            } else {
                tally.during += 1;
            }
        }
    }
    tally
}

#[actix_web::test]
async fn a_logout_holds_on_the_next_request_on_every_sqlite_instance() {
    session_ending(Backend::Sqlite, "logout on SQLite").await
}

#[actix_web::test]
async fn a_logout_holds_on_the_next_request_on_every_postgres_instance() {
    session_ending(Backend::Postgres, "logout on PostgreSQL").await
}

#[actix_web::test]
async fn a_revocation_holds_on_the_next_request_on_every_sqlite_instance() {
    revocation(Backend::Sqlite, "revocation on SQLite").await
}

#[actix_web::test]
async fn a_revocation_holds_on_the_next_request_on_every_postgres_instance() {
    revocation(Backend::Postgres, "revocation on PostgreSQL").await
}

/// PostgreSQL: just before each revocation, every database connection B and C hold is cut
/// (`pg_terminate_backend`, as a network fault or a failover would), whatever it was for —
/// also a connection an instance might listen on for revocations. An instance that lost
/// its connections must not answer from what it knew before: the revocation still holds on
/// its next request.
#[actix_web::test]
async fn a_revocation_holds_on_instances_whose_database_connections_were_cut() {
    let Some(cluster) = Cluster::start(Backend::Postgres).await else {
        return;
    };
    let port = cluster.db.count("SELECT inet_server_port()::bigint AS n");
    let port = u16::try_from(port).unwrap();
    let test = "revocation on PostgreSQL, connections cut";
    in_lanes(test, 20, 1, |lane, trials| {
        revocation_lane(&cluster, lane, trials, Fault::Cut(port))
    })
    .await
}

/// Ends every connection B and C hold to the PostgreSQL server on `port`, from its side.
fn cut_database_connections(cluster: &Cluster, port: u16) {
    for instance in &cluster.instances[1..] {
        let ports: Vec<String> = instance.ports_to(port).iter().map(u16::to_string).collect();
        assert!(!ports.is_empty(), "an instance holds database connections");
        let cut = cluster.db.count(&format!(
            "SELECT COUNT(*) AS n FROM (SELECT pg_terminate_backend(pid) AS cut \
             FROM pg_stat_activity WHERE client_port IN ({})) t WHERE cut",
            ports.join(",")
        ));
        assert!(cut >= 1, "no connection was cut");
    }
}

/// PostgreSQL: B cut off from the database by a network partition (silence, not a closed
/// connection: B learns nothing of it) just before each revocation, healed shortly after the
/// revocation was answered. Whatever B holds, it must not serve the revoked token in between:
/// an instance that cannot hear of revocations stops trusting what it knew (and waits for
/// the database like any other request), or the revocation is not answered until it would.
#[actix_web::test]
async fn a_revocation_holds_on_an_instance_cut_off_from_the_database() {
    let Some(base) = std::env::var("MANTEL_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        crate::helpers::skipped("set MANTEL_TEST_POSTGRES_URL for the PostgreSQL run");
        return;
    };
    let partition = Partition::start(&base);
    let cluster = Cluster::start_with(Backend::Postgres, Some(&partition))
        .await
        .unwrap();
    let test = "revocation on PostgreSQL, B partitioned";
    in_lanes(test, 4, 1, |lane, trials| {
        revocation_lane(&cluster, lane, trials, Fault::Partition(&partition))
    })
    .await
}

/// A TCP proxy between one instance and PostgreSQL. While `frozen`, no byte passes either
/// way and nothing is closed: to the instance, the database has gone silent.
struct Partition {
    address: std::net::SocketAddr,
    /// Where the database listens, as `MANTEL_TEST_POSTGRES_URL` names it.
    upstream: String,
    frozen: Arc<AtomicBool>,
}

impl Partition {
    fn start(base_url: &str) -> Partition {
        // postgres://user@host:port/db…: the part between `@` and the next `/`.
        let authority = base_url
            .split('@')
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let upstream = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:5432")
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let (to, f) = (upstream.clone(), frozen.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let server = TcpStream::connect(&to).unwrap();
                for (from, into) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let f = f.clone();
                    std::thread::spawn(move || pump(from, into, &f));
                }
            }
        });
        Partition {
            address,
            upstream,
            frozen,
        }
    }

    /// `url` (the test database's), through this proxy.
    fn url(&self, url: &str) -> String {
        let through = url.replacen(&self.upstream, &self.address.to_string(), 1);
        assert_ne!(&through, url, "the database URL names host:port");
        through
    }
}

/// Copies bytes until either side closes, holding them while the partition is frozen.
fn pump(mut from: TcpStream, mut into: TcpStream, frozen: &AtomicBool) {
    let mut buffer = [0; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        if into.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = into.shutdown(std::net::Shutdown::Write);
}

/// Rotated through A, alternately without a grace and with the shortest one (a second): the
/// old token works until the grace ends, and from then on gets 401 "replaced" from every
/// instance. The clock is real, so the grace ends at a time no instance is told about.
async fn grace_ending(backend: Backend, test: &str) {
    let Some(cluster) = Cluster::start(backend).await else {
        return;
    };
    // More lanes: half the trials wait a second each.
    in_lanes(test, TRIALS, 10, |lane, trials| {
        rotation_lane(&cluster, lane, trials)
    })
    .await
}

/// Rotates one token, then the token that replaced it, and so on.
async fn rotation_lane(cluster: &Cluster, lane: usize, trials: usize) -> Tally {
    let mut tally = Tally::default();
    let (mut id, mut token) = cluster.token(&format!("lane {lane}")).await;
    for trial in 0..trials {
        let grace = Duration::from_secs(trial as u64 % 2);
        let start = Instant::now();
        let hammer = cluster.hammer("/api/me", &token);
        hammer
            .until_each_instance_answered(StatusCode::OK, start)
            .await;
        let sent = Instant::now();
        let res = cluster
            .session(Method::POST, &format!("/api/tokens/{id}/rotate"))
            .json(&json!({ "graceSeconds": grace.as_secs() }))
            .send()
            .await
            .unwrap();
        let answered = Instant::now();
        assert_eq!(res.status(), StatusCode::CREATED);
        // The server set the grace's end from its clock while it made the change: not
        // before `sent + grace`, not after `answered + grace`.
        let (earliest, latest) = (sent + grace, answered + grace);
        let samples = if grace.is_zero() {
            hammer.until_each_instance_sent_after(latest, 2).await;
            hammer.stop().await
        } else {
            // Still working during the grace, everywhere; then a pause (hammering for a
            // whole second, in every lane, would only slow the test) until shortly before
            // the grace can end.
            hammer.until_each_instance_sent_after(answered, 1).await;
            let mut samples = hammer.stop().await;
            let resume = earliest - Duration::from_millis(100);
            sleep(resume.saturating_duration_since(Instant::now())).await;
            let hammer = cluster.hammer("/api/me", &token);
            hammer.until_each_instance_sent_after(latest, 2).await;
            samples.extend(hammer.stop().await);
            samples
        };
        for sample in samples {
            if sample.sent >= latest {
                tally.after += 1;
                let right = is_error(&sample, StatusCode::UNAUTHORIZED, "invalid_token")
                    && sample.error.as_ref().unwrap().1
                        == "This token was replaced by a newer one.";
                tally.check(right, &sample, latest, "the grace ended");
            } else if sample.received <= earliest {
                tally.before += 1;
                let right = sample.status == StatusCode::OK;
                tally.check(right, &sample, start, "the trial started");
            } else {
                tally.during += 1;
            }
        }
        let new: Value = res.json().await.unwrap();
        id = new["id"].as_str().unwrap().to_owned();
        token = new["token"].as_str().unwrap().to_owned();
    }
    tally
}

#[actix_web::test]
async fn a_grace_ending_holds_on_the_next_request_on_every_sqlite_instance() {
    grace_ending(Backend::Sqlite, "grace ending on SQLite").await
}

#[actix_web::test]
async fn a_grace_ending_holds_on_the_next_request_on_every_postgres_instance() {
    grace_ending(Backend::Postgres, "grace ending on PostgreSQL").await
}

/// A project's token policy, set through A, alternately limiting the lifetime and requiring
/// restricted tokens: a one-year unrestricted token gets 403 `token_policy` on that project
/// from every instance on the next request; relaxed again, it works again on the next request.
async fn policy_change(backend: Backend, test: &str) {
    let Some(cluster) = Cluster::start(backend).await else {
        return;
    };
    let (_, token) = cluster.token("a year, every project").await;
    in_lanes(test, TRIALS, 4, |lane, trials| {
        policy_lane(&cluster, &token, lane, trials)
    })
    .await
}

/// Tightens and relaxes the policy of a project of its own, again and again.
async fn policy_lane(cluster: &Cluster, token: &str, lane: usize, trials: usize) -> Tally {
    let res = cluster
        .session(Method::POST, "/api/projects")
        .json(&json!({ "name": format!("Strict at times {lane}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let project = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let relaxed = json!({ "maxLifetimeDays": null, "requireRestricted": false });
    let mut tally = Tally::default();
    for trial in 0..trials {
        let strict = if trial % 2 == 0 {
            json!({ "maxLifetimeDays": 31, "requireRestricted": false })
        } else {
            json!({ "maxLifetimeDays": null, "requireRestricted": true })
        };
        let start = Instant::now();
        let hammer = cluster.hammer(&format!("/api/projects/{project}/publishes"), token);
        hammer
            .until_each_instance_answered(StatusCode::OK, start)
            .await;
        let strict_sent = Instant::now();
        set_policy(cluster, &project, strict).await;
        let strict_answered = Instant::now();
        hammer
            .until_each_instance_sent_after(strict_answered, 2)
            .await;
        let relax_sent = Instant::now();
        set_policy(cluster, &project, relaxed.clone()).await;
        let relax_answered = Instant::now();
        hammer
            .until_each_instance_sent_after(relax_answered, 2)
            .await;
        for sample in hammer.stop().await {
            if sample.sent >= relax_answered {
                tally.after += 1;
                let right = sample.status == StatusCode::OK;
                tally.check(right, &sample, relax_answered, "the relaxing was answered");
            } else if sample.sent >= strict_answered && sample.received <= relax_sent {
                tally.after += 1;
                let right = is_error(&sample, StatusCode::FORBIDDEN, "token_policy");
                tally.check(right, &sample, strict_answered, "the policy was answered");
            } else if sample.received <= strict_sent {
                tally.before += 1;
                let right = sample.status == StatusCode::OK;
                tally.check(right, &sample, start, "the trial started");
            } else {
                tally.during += 1;
            }
        }
    }
    tally
}

async fn set_policy(cluster: &Cluster, project: &str, body: Value) {
    let res = cluster
        .session(
            Method::PUT,
            &format!("/api/projects/{project}/token-policy"),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_policy_change_holds_on_the_next_request_on_every_sqlite_instance() {
    policy_change(Backend::Sqlite, "policy change on SQLite").await
}

#[actix_web::test]
async fn a_policy_change_holds_on_the_next_request_on_every_postgres_instance() {
    policy_change(Backend::Postgres, "policy change on PostgreSQL").await
}
