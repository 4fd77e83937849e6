//! Which methods each path takes, and the answer to a method it lacks (SPEC §5, §8.6): on a
//! path the server routes, `OPTIONS` is 204 with `Allow` and any method the path lacks is 405
//! `method_not_allowed` with `Allow` (JSON under `/api`, the error page elsewhere). The table
//! is built once from the lists that register the routes — the JSON API's from
//! `/api/openapi.json` (each `resource!` list registers its handlers and documents them), the
//! dashboard's from its `pages!` lists — so `Allow` and the document cannot disagree.
//! The same lookup names the route every routed request is for (`auth::Route`): its
//! template, for the metrics and a token's activity, and the scope a token needs there, from
//! the document's `bearer` requirement, which the caller checks before routing.
//!
//! It is asked before anything else decides (`answer`, a middleware outside the session and
//! the `/api` caller): a method is a property of the resource, not of who asks, so `TRACE
//! /api/me` is 405 with or without credentials, and a malformed `Authorization` on it is not
//! read at all. That costs each request one walk down a tree of path segments, no regular
//! expression.

use std::sync::OnceLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use utoipa::openapi::path::Operation;

use super::{api, dashboard, error_for};
use crate::auth::Route;
use crate::domain::Scope;
use crate::error::AppError;

/// The methods routes use, in the order `Allow` lists them.
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// A set of `METHODS`, one bit each.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Methods(u8);

impl Methods {
    fn with(self, method: &Method) -> Methods {
        match METHODS.iter().position(|m| m == method) {
            Some(i) => Methods(self.0 | 1 << i),
            None => self,
        }
    }

    fn has(self, method: &Method) -> bool {
        self.with(method) == self && METHODS.contains(method)
    }

    /// The `Allow` value: these methods, and `OPTIONS`, which every path answers.
    fn allow(self) -> String {
        let mut names: Vec<&str> = METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & 1 << i != 0)
            .map(|(_, m)| m.as_str())
            .collect();
        names.push("OPTIONS");
        names.join(", ")
    }
}

/// What a template routes: its methods, and the scope a token needs for each (`METHODS`'
/// order; `None`: any credential, or the route takes no token at all).
struct Endpoint {
    template: &'static str,
    methods: Methods,
    scopes: [Option<Scope>; METHODS.len()],
}

impl Endpoint {
    fn route(&self, method: &Method) -> Route {
        Route {
            template: self.template,
            scope: METHODS
                .iter()
                .position(|m| m == method)
                .and_then(|i| self.scopes[i]),
        }
    }
}

/// Every path template the server routes, with its methods, as a tree of segments: a
/// request's path is looked up in as many steps as it has segments, whatever the number of
/// routes (each template tried in turn cost the floor of every request some 5 000
/// instructions: docs/benchmarks.md). A `{…}` segment matches any one non-empty segment, as
/// actix's default `[^/]+` does (no route here uses a custom pattern).
#[derive(Default)]
struct Table {
    /// Where a template ends here, what it routes.
    endpoint: Option<Endpoint>,
    /// The next segment, spelled out; a handful each, so a scan beats hashing.
    literal: Vec<(String, Table)>,
    /// The next segment, any (`{id}`).
    any: Option<Box<Table>>,
}

impl Table {
    fn build() -> Table {
        let mut table = Table::default();
        for (path, item) in &api::openapi::document().paths.paths {
            let operations = [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::PATCH, &item.patch),
                (Method::DELETE, &item.delete),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    table.add(path, &method, bearer_scope(operation));
                }
            }
        }
        for (method, path) in dashboard::all_pages() {
            let method = Method::from_bytes(method.as_bytes()).expect("a method's name");
            table.add(path, &method, None);
        }
        table.add(super::health::PATH, &Method::GET, None);
        table
    }

    fn add(&mut self, template: &'static str, method: &Method, scope: Option<Scope>) {
        let mut node = self;
        for segment in segments(template) {
            node = if segment.starts_with('{') {
                node.any.get_or_insert_with(Box::default)
            } else {
                let i = match node.literal.iter().position(|(s, _)| s == segment) {
                    Some(i) => i,
                    None => {
                        node.literal.push((segment.to_owned(), Table::default()));
                        node.literal.len() - 1
                    }
                };
                &mut node.literal[i].1
            };
        }
        let endpoint = node.endpoint.get_or_insert(Endpoint {
            template,
            methods: Methods::default(),
            scopes: [None; METHODS.len()],
        });
        endpoint.methods = endpoint.methods.with(method);
        if let Some(i) = METHODS.iter().position(|m| m == method) {
            endpoint.scopes[i] = scope;
        }
    }

    /// The methods of every template `path` matches (`/settings/tokens/new` is also a
    /// `/settings/tokens/{id}`), and the route that answers `method` there: the first
    /// template with that method, spelled-out segments before `{…}` ones, as the routes are
    /// registered (or, for a method the path lacks, the first template, without a scope).
    /// `None` when no route has this path.
    fn lookup(&self, path: &str, method: &Method) -> Option<(Methods, Route)> {
        let mut found: Option<(Methods, Route)> = None;
        let mut answers = false;
        self.visit(segments(path), &mut |endpoint| {
            let has = endpoint.methods.has(method);
            match &mut found {
                None => found = Some((endpoint.methods, endpoint.route(method))),
                Some((methods, route)) => {
                    *methods = Methods(methods.0 | endpoint.methods.0);
                    if has && !answers {
                        *route = endpoint.route(method);
                    }
                }
            }
            answers |= has;
        });
        found
    }

    /// Calls `f` with the endpoint of every template the rest of a path matches, spelled-out
    /// segments first.
    fn visit<'t>(&'t self, mut rest: std::str::Split<'_, char>, f: &mut impl FnMut(&'t Endpoint)) {
        let Some(segment) = rest.next() else {
            if let Some(endpoint) = &self.endpoint {
                f(endpoint);
            }
            return;
        };
        if let Some((_, next)) = self.literal.iter().find(|(s, _)| s == segment) {
            next.visit(rest.clone(), f);
        }
        if let Some(next) = &self.any {
            if !segment.is_empty() {
                next.visit(rest, f);
            }
        }
    }
}

/// The scope a token needs for `operation`, as the document states it: the one scope of its
/// `bearer` security requirement (`[]`: any token; no `bearer` requirement: no token at all,
/// which the handler refuses). The document is where each route's scope is written once.
fn bearer_scope(operation: &Operation) -> Option<Scope> {
    let requirements = serde_json::to_value(operation.security.as_ref()?).ok()?;
    let scopes = requirements
        .as_array()?
        .iter()
        .find_map(|r| r.get("bearer"))?
        .as_array()?;
    match scopes.as_slice() {
        [] => None,
        [one] => {
            let name = one.as_str().expect("a scope is a string");
            Some(Scope::parse(name).unwrap_or_else(|| panic!("the document's scope {name}")))
        }
        _ => panic!("a route needs one scope at most: {scopes:?}"),
    }
}

fn segments(path: &str) -> std::str::Split<'_, char> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}

/// The `Allow` value for `path`, or `None` when no route has it.
pub fn allow(path: &str) -> Option<String> {
    table()
        .lookup(path, &Method::OPTIONS)
        .map(|(methods, _)| methods.allow())
}

/// Answers `OPTIONS` and a method the path lacks; everything else goes on to be routed (an
/// unknown path is 404 there), with its `Route` on the request for the caller's check, the
/// metrics and the token's activity.
pub async fn answer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some((methods, route)) = table().lookup(req.path(), req.method()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    req.extensions_mut().insert(route);
    if methods.has(req.method()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let response = if req.method() == Method::OPTIONS {
        HttpResponse::NoContent()
            .insert_header((header::ALLOW, methods.allow()))
            .finish()
    } else {
        let error = AppError::MethodNotAllowed(methods.allow());
        HttpResponse::from_error(error_for(req.path(), error))
    };
    Ok(req.into_response(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Table {
        fn endpoints<'t>(&'t self, all: &mut Vec<&'t Endpoint>) {
            all.extend(&self.endpoint);
            for (_, next) in &self.literal {
                next.endpoints(all);
            }
            if let Some(next) = &self.any {
                next.endpoints(all);
            }
        }
    }

    /// What the request names a route by: actix's own match of the path, and ours.
    async fn both(
        req: ServiceRequest,
        _: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let actix = req.match_pattern();
        let ours = table()
            .lookup(req.path(), req.method())
            .map(|(_, route)| route.template.to_owned());
        Ok(req.into_response(HttpResponse::Ok().body(format!("{actix:?} {ours:?}"))))
    }

    /// The table names every request by the template actix routes it to: the metrics and a
    /// token's activity, which read the table, say what they said when they asked actix.
    #[actix_web::test]
    async fn every_route_is_named_by_the_template_actix_matches() {
        use actix_web::{test, App};
        let app = test::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(both))
                .configure(super::super::configure),
        )
        .await;
        let mut endpoints = Vec::new();
        table().endpoints(&mut endpoints);
        assert!(endpoints.len() > 60, "{}", endpoints.len());
        let mut paths: Vec<String> = endpoints
            .iter()
            .map(|e| {
                let sample: Vec<&str> = segments(e.template)
                    .map(|s| if s.starts_with('{') { "x1" } else { s })
                    .collect();
                format!("/{}", sample.join("/"))
            })
            .collect();
        paths.extend(
            [
                "/api/nothing",
                "/api/me/x",
                "/nope",
                "/api/projects//files/a",
            ]
            .map(String::from),
        );
        for path in paths {
            for method in [Method::GET, Method::POST, Method::DELETE] {
                let req = test::TestRequest::default()
                    .method(method.clone())
                    .uri(&path)
                    .to_request();
                let body = test::call_and_read_body(&app, req).await;
                let body = std::str::from_utf8(&body).unwrap().to_owned();
                let (actix, ours) = body.split_once(' ').unwrap();
                assert_eq!(actix, ours, "{method} {path}");
            }
        }
    }

    #[test]
    fn the_document_states_each_routes_scope() {
        let get = |path| table().lookup(path, &Method::GET).map(|(_, r)| r);
        let scope_of = |path, method| table().lookup(path, &method).and_then(|(_, r)| r.scope);
        assert_eq!(
            get("/api/billing/invoices/latest"),
            Some(Route {
                template: "/api/billing/invoices/latest",
                scope: Some(Scope::BillingRead)
            })
        );
        assert_eq!(scope_of("/api/me", Method::GET), None);
        assert_eq!(
            scope_of("/api/projects/9b2f/messages", Method::POST),
            Some(Scope::Messages)
        );
        // Session-only: no token reaches it, whatever its scopes.
        assert_eq!(scope_of("/api/tokens", Method::POST), None);
        assert_eq!(
            get("/settings/tokens/new").map(|r| r.template),
            Some("/settings/tokens/new")
        );
        assert_eq!(
            get("/settings/tokens/9b2f").map(|r| r.template),
            Some("/settings/tokens/{id}")
        );
        assert_eq!(get("/api/nothing"), None);
    }

    #[test]
    fn allow_lists_the_methods_of_every_matching_template() {
        assert_eq!(allow("/api/me").as_deref(), Some("GET, OPTIONS"));
        assert_eq!(
            allow("/api/projects/9b2f/files/a.txt").as_deref(),
            Some("GET, PUT, DELETE, OPTIONS")
        );
        assert_eq!(
            allow("/settings/tokens/new").as_deref(),
            Some("GET, OPTIONS")
        );
        assert_eq!(allow("/login").as_deref(), Some("GET, POST, OPTIONS"));
        assert_eq!(allow("/healthz").as_deref(), Some("GET, OPTIONS"));
        assert_eq!(allow("/").as_deref(), Some("GET, OPTIONS"));
        for unknown in [
            "/api/nothing",
            "/api/me/x",
            "/api/projects//files/a",
            "/nope",
        ] {
            assert_eq!(allow(unknown), None, "{unknown}");
        }
    }
}
