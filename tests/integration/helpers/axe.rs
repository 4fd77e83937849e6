//! axe-core over each screen: WCAG 2.1 A/AA and axe's best practices, failing on any serious
//! or critical violation. axe.min.js comes from the `axe-core` npm package
//! (tests/integration/browser/package.json; `npm ci --prefix tests/integration/browser`) and is injected through
//! WebDriver, which the page's CSP does not govern, so the app serves nothing extra for it.

use std::io::Write;
use std::sync::{Once, OnceLock};

use serde_json::Value;

use super::browser::Browser;

fn axe_source() -> Option<&'static str> {
    static SOURCE: OnceLock<Option<String>> = OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/integration/browser/node_modules/axe-core/axe.min.js"
            );
            std::fs::read_to_string(path).ok()
        })
        .as_deref()
}

/// Checks the page as it is now (an open dialog included); `screen` names it in the failure.
pub async fn check(b: &Browser, screen: &str) {
    let Some(source) = axe_source() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but no axe-core: run `npm ci --prefix tests/integration/browser` (see .ci/run)");
        }
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "\nSKIPPED the axe-core checks: run `npm ci --prefix tests/integration/browser` to install it.\n"
            );
        });
        return;
    };
    if b.js("return typeof window.axe").await != "object" {
        b.js(source).await;
    }
    let found = b
        .client
        .execute_async(
            "axe.run(document, {
               runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
               resultTypes: ['violations'],
             }).then(r => arguments[0](r.violations.map(v => ({
               id: v.id, impact: v.impact, help: v.help,
               nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
             }))), e => arguments[0]('axe failed: ' + e))",
            vec![],
        )
        .await
        .unwrap();
    let Value::Array(violations) = found else {
        panic!("{screen}: {found}");
    };
    let serious: Vec<&Value> = violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        serious.is_empty(),
        "axe-core on {screen}: {}",
        serde_json::to_string_pretty(&serious).unwrap()
    );
}
