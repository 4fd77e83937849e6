//! What many browser tests do on the way to what they check: open a browser on a person
//! made through the API, sign up or log in through the forms, create a token in the dialog.

use mantel::db::{self, models::tokens, models::users::User as UserRow};

use crate::helpers::browser::Browser;
use crate::helpers::{TestApp, User, PASSWORD};

/// The server, someone signed up through the API, and a browser (with or without JavaScript)
/// logged in as them on the tokens page. `None` when the browser tests are skipped.
pub async fn logged_in(email: &str, javascript: bool) -> Option<(TestApp, User, Browser)> {
    let app = TestApp::spawn().await;
    let user = app.with_user(email).await;
    let b = if javascript {
        Browser::open(&app.address).await?
    } else {
        Browser::open_without_js(&app.address).await?
    };
    log_in(&b, &user).await;
    Some((app, user, b))
}

pub async fn sign_up(b: &Browser, email: &str) {
    b.goto("/signup").await;
    b.type_into("#email", email).await;
    b.type_into("#password", PASSWORD).await;
    b.click("form button[type=submit]").await;
    b.find("#create-token").await;
    b.arrive("/settings/tokens").await;
}

pub async fn log_in(b: &Browser, user: &User) {
    b.goto("/login").await;
    b.type_into("#email", &user.email).await;
    b.type_into("#password", PASSWORD).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.find("#create-token").await;
    b.arrive("/settings/tokens").await;
}

/// The token the create dialog shows, once the API has answered.
pub async fn revealed_token(b: &Browser) -> String {
    b.wait_visible("#create-dialog [data-dialog-reveal]").await;
    b.value("#new-token").await
}

/// Creates a token in the dialog (JavaScript on) and returns what it reveals.
pub async fn create_in_dialog(b: &Browser, name: &str, scopes: &[&str]) -> String {
    b.click("#create-token").await;
    b.type_into("#token-name", name).await;
    for scope in scopes {
        b.click(&format!("#scope-{}", scope.replace('.', "\\.")))
            .await;
    }
    b.click("#create-dialog button[type=submit]").await;
    revealed_token(b).await
}

/// How many tokens the account has, read behind the app's back.
pub async fn token_count(app: &TestApp, email: &str) -> usize {
    let email = email.to_owned();
    db::query(&app.state.pool, move |conn| {
        let user = UserRow::find_by_email(conn, &email)?.expect("the user exists");
        let all = mantel::domain::PageRequest::first(200);
        Ok(tokens::list(conn, &user.id, tokens::Which::All, &all)?.len())
    })
    .await
    .unwrap()
}

/// The fields' values and the markup: where a plaintext could linger in a page.
pub async fn page_holds(b: &Browser, token: &str) -> bool {
    let values = b
        .js("return [...document.querySelectorAll('input, textarea')].map(f => f.value).join(' ')")
        .await;
    b.source().await.contains(token) || values.as_str().unwrap().contains(token)
}
