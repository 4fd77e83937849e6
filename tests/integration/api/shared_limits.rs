//! Many instances, one set of rules (SPEC §3, §4): three real `mantel serve` processes on one
//! database, a request at a time to each in turn as a round-robin load balancer would send
//! them. The limits hold for the deployment, not N times over. Runs on one SQLite file, and on one PostgreSQL schema when
//! `MANTEL_TEST_POSTGRES_URL` is set.

use reqwest::StatusCode;

use crate::helpers::{client, csrf_in, migrate, sign_up, Instance, TestDb, PUBLIC_URL};

/// Three instances on `db`, freshly migrated.
fn three_instances(db: &TestDb) -> [Instance; 3] {
    migrate(&db.url());
    [(); 3].map(|_| Instance::start(&db.url()))
}

/// Each backend this environment offers: SQLite always, PostgreSQL when configured.
fn backends() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite()];
    match TestDb::postgres() {
        Some(db) => dbs.push(db),
        None => eprintln!("PostgreSQL part skipped: set MANTEL_TEST_POSTGRES_URL"),
    }
    dbs
}

#[actix_web::test]
async fn thirty_wrong_passwords_over_three_instances_get_at_most_ten_checks() {
    for db in backends() {
        let instances = three_instances(&db);
        let owner = client();
        sign_up(&owner, &instances[0], &instances[0], "spread@example.com").await;

        let guesser = client();
        let login_page = guesser
            .get(instances[0].url("/login"))
            .send()
            .await
            .unwrap();
        let csrf = csrf_in(&login_page.text().await.unwrap());
        let mut statuses = Vec::new();
        for i in 0..30 {
            let instance = &instances[i % 3];
            let res = guesser
                .post(instance.url("/login"))
                .header("Origin", PUBLIC_URL)
                .form(&[
                    ("email", "spread@example.com"),
                    ("password", &format!("wrong guess {i}")),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap();
            statuses.push(res.status());
        }
        let checked = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let limited = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(checked + limited, 30, "{statuses:?}");
        assert!(checked <= 10, "{checked} passwords were checked");
        // The account's security log agrees: no more failures than checks.
        let failures =
            db.count("SELECT COUNT(*) AS n FROM security_events WHERE kind = 'login_failed'");
        assert!(failures <= 10, "{failures} failed logins were logged");
    }
}

#[actix_web::test]
async fn sign_ups_over_three_instances_are_throttled_as_one() {
    for db in backends() {
        let instances = three_instances(&db);
        let visitor = client();
        let page = visitor
            .get(instances[0].url("/signup"))
            .send()
            .await
            .unwrap();
        let csrf = csrf_in(&page.text().await.unwrap());
        let mut statuses = Vec::new();
        // Refused sign-ups count too (a short password): each answers whether an email is taken.
        for i in 0..25 {
            let res = visitor
                .post(instances[i % 3].url("/signup"))
                .header("Origin", PUBLIC_URL)
                .form(&[
                    ("email", format!("s{i}@example.com").as_str()),
                    ("password", "short"),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap();
            statuses.push(res.status());
        }
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(refused, 5, "{statuses:?}");
        assert!(
            statuses[..20]
                .iter()
                .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY),
            "{statuses:?}"
        );
    }
}
