//! Which methods each path takes, and the answer to a method it lacks (SPEC §5, §8.6): on a
//! path the server routes, `OPTIONS` is 204 with `Allow` and any method the path lacks is 405
//! `method_not_allowed` with `Allow` (JSON under `/api`, the error page elsewhere). The table
//! is built once from the lists that register the routes — the JSON API's from
//! `/api/openapi.json` (each `resource!` list registers its handlers and documents them), the
//! dashboard's from its `pages!` lists — so `Allow` and the document cannot disagree.
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
use actix_web::HttpResponse;

use super::{api, dashboard, error_for};
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

/// Every path template the server routes, with its methods, as a tree of segments: a
/// request's path is looked up in as many steps as it has segments, whatever the number of
/// routes (each template tried in turn cost the floor of every request some 5 000
/// instructions: docs/benchmarks.md). A `{…}` segment matches any one non-empty segment, as
/// actix's default `[^/]+` does (no route here uses a custom pattern).
#[derive(Default)]
struct Table {
    /// Where a template ends here, its methods.
    methods: Option<Methods>,
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
                (Method::GET, item.get.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::DELETE, item.delete.is_some()),
            ];
            for (method, has) in operations {
                if has {
                    table.add(path, &method);
                }
            }
        }
        for (method, path) in dashboard::all_pages() {
            let method = Method::from_bytes(method.as_bytes()).expect("a method's name");
            table.add(path, &method);
        }
        table.add(super::health::PATH, &Method::GET);
        table
    }

    fn add(&mut self, template: &str, method: &Method) {
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
        node.methods = Some(node.methods.unwrap_or_default().with(method));
    }

    /// The methods of every template `path` matches (`/settings/tokens/new` is also a
    /// `/settings/tokens/{id}`), or `None` when no route has this path.
    fn methods(&self, path: &str) -> Option<Methods> {
        self.find(segments(path))
    }

    fn find(&self, mut rest: std::str::Split<'_, char>) -> Option<Methods> {
        let Some(segment) = rest.next() else {
            return self.methods;
        };
        let literal = self
            .literal
            .iter()
            .find(|(s, _)| s == segment)
            .and_then(|(_, next)| next.find(rest.clone()));
        let any = match &self.any {
            Some(next) if !segment.is_empty() => next.find(rest),
            _ => None,
        };
        match (literal, any) {
            (Some(a), Some(b)) => Some(Methods(a.0 | b.0)),
            (a, b) => a.or(b),
        }
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
    table().methods(path).map(Methods::allow)
}

/// Answers `OPTIONS` and a method the path lacks; everything else goes on to be routed (an
/// unknown path is 404 there).
pub async fn answer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let refused = match table().methods(req.path()) {
        Some(methods) if !methods.has(req.method()) => methods,
        _ => return Ok(next.call(req).await?.map_into_boxed_body()),
    };
    let response = if req.method() == Method::OPTIONS {
        HttpResponse::NoContent()
            .insert_header((header::ALLOW, refused.allow()))
            .finish()
    } else {
        let error = AppError::MethodNotAllowed(refused.allow());
        HttpResponse::from_error(error_for(req.path(), error))
    };
    Ok(req.into_response(response))
}

#[cfg(test)]
mod tests {
    use super::*;

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
