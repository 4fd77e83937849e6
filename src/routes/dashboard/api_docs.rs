//! `GET /docs/api`: the API reference, rendered on the server from the same OpenAPI document
//! as `/api/openapi.json`, so the page cannot disagree with it. The document is handed over by
//! `routes::configure` (`ApiDocument`): the dashboard does not import the API's modules.
//! Readable without logging in.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde_json::Value;

use super::{page, DashboardUser, HtmlError, Layout};

/// The JSON API's OpenAPI document, as `routes::configure` registers it.
pub struct ApiDocument(pub &'static utoipa::openapi::OpenApi);

#[derive(Template)]
#[template(path = "docs/api.html")]
struct ApiPage {
    layout: Layout,
    title: String,
    intro: String,
    operations: Vec<Operation>,
    schemas: Vec<SchemaView>,
}

struct Operation {
    /// For the page's anchors: `get-api-me`.
    anchor: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    security: Vec<String>,
    params: Vec<Field>,
    body: Option<String>,
    responses: Vec<Reply>,
}

struct Field {
    name: String,
    place: String,
    ty: String,
    required: bool,
    description: String,
}

struct Reply {
    status: String,
    description: String,
    body: Option<String>,
}

struct SchemaView {
    name: String,
    description: String,
    ty: String,
    fields: Vec<Field>,
}

pub async fn api_reference(
    user: Option<DashboardUser>,
    document: web::Data<ApiDocument>,
) -> Result<HttpResponse, HtmlError> {
    let layout = match &user {
        Some(user) => user.layout(),
        None => Layout {
            csrf_token: String::new(),
            user_email: None,
            unread: 0,
            admin: false,
        },
    };
    let doc = serde_json::to_value(document.0)
        .map_err(|e| HtmlError(crate::error::AppError::Internal(e.into())))?;
    page(&ApiPage {
        layout,
        title: text(&doc["info"]["title"]),
        intro: text(&doc["info"]["description"]),
        operations: operations(&doc),
        schemas: schemas(&doc),
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// `#/components/responses/NotFound` → the response it names.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => r
            .strip_prefix("#/")
            .map(|p| p.split('/').fold(doc, |v, key| &v[key]))
            .unwrap_or(v),
        None => v,
    }
}

/// A schema in a few words: `Token`, `array of Token`, `string (uuid)`, `one of a, b`, with
/// the limits the server checks: `integer, 1 to 200`, `string, matching ^mm_pat_…$`.
fn type_of(schema: &Value) -> String {
    let ty = bare_type_of(schema);
    let number = |key: &str| {
        schema[key]
            .as_i64()
            .or_else(|| schema[key].as_f64().map(|f| f as i64))
    };
    let range = |min: Option<i64>, max: Option<i64>, unit: &str| match (min, max) {
        (Some(min), Some(max)) => Some(format!("{min} to {max}{unit}")),
        (Some(min), None) => Some(format!("at least {min}{unit}")),
        (None, Some(max)) => Some(format!("at most {max}{unit}")),
        (None, None) => None,
    };
    let limits = [
        range(number("minimum"), number("maximum"), ""),
        range(number("minLength"), number("maxLength"), " characters"),
        range(number("minItems"), number("maxItems"), " items"),
        schema["pattern"].as_str().map(pattern_text),
    ];
    let limits: Vec<String> = limits.into_iter().flatten().collect();
    if limits.is_empty() {
        ty
    } else {
        format!("{ty}, {}", limits.join(", "))
    }
}

/// A pattern a reader can take in at a glance is shown; a long one (an address range's,
/// RFC 3986's IPv6 grammar spelled out) is named and left to the document.
fn pattern_text(p: &str) -> String {
    if p.len() <= 120 {
        format!("matching {p}")
    } else {
        "matching the pattern /api/openapi.json gives".to_owned()
    }
}

fn bare_type_of(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let names: Vec<String> = options.iter().map(type_of).collect();
        return names.join(" or ");
    }
    if let Some(values) = schema["enum"].as_array() {
        let names: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        return format!("one of {}", names.join(", "));
    }
    let base = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().map(text).collect::<Vec<_>>().join(" or "),
        _ => "any".to_owned(),
    };
    if base.starts_with("array") {
        return format!("array of {}", type_of(&schema["items"]));
    }
    match schema["format"].as_str() {
        Some(format) => format!("{base} ({format})"),
        None => base,
    }
}

fn content_of(content: &Value) -> Option<String> {
    let content = content.as_object()?;
    let parts: Vec<String> = content
        .iter()
        .map(|(media, c)| format!("{media}: {}", type_of(&c["schema"])))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn security_of(op: &Value) -> Vec<String> {
    let Some(requirements) = op["security"].as_array() else {
        return vec![];
    };
    requirements
        .iter()
        .filter_map(|r| r.as_object())
        .map(|r| {
            if r.is_empty() {
                return "none".to_owned();
            }
            // The cookie, then the header that goes with it.
            let mut schemes: Vec<_> = r.iter().collect();
            schemes.sort_by_key(|(scheme, _)| *scheme == "csrf");
            let parts: Vec<String> = schemes
                .into_iter()
                .map(|(scheme, scopes)| {
                    let scopes: Vec<String> = scopes
                        .as_array()
                        .map(|s| s.iter().map(text).collect())
                        .unwrap_or_default();
                    match (scheme.as_str(), scopes.is_empty()) {
                        ("bearer", true) => "bearer token (any scope)".to_owned(),
                        ("bearer", false) => format!("bearer token with {}", scopes.join(", ")),
                        ("session", _) => "session cookie".to_owned(),
                        ("csrf", _) => "X-CSRF-Token".to_owned(),
                        (other, _) => other.to_owned(),
                    }
                })
                .collect();
            parts.join(" + ")
        })
        .collect()
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut list = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return list;
    };
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let op = &item[method];
            if op.is_null() {
                continue;
            }
            let params = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| Field {
                            name: text(&p["name"]),
                            place: text(&p["in"]),
                            ty: type_of(&p["schema"]),
                            required: p["required"].as_bool().unwrap_or(false),
                            description: text(&p["description"]),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let responses = op["responses"]
                .as_object()
                .map(|rs| {
                    rs.iter()
                        .map(|(status, r)| {
                            let r = resolve(doc, r);
                            Reply {
                                status: status.clone(),
                                description: text(&r["description"]),
                                body: content_of(&r["content"]),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            list.push(Operation {
                anchor: format!("{method}{}", path.replace(['/', '{', '}', '.'], "-")),
                method: method.to_uppercase(),
                path: path.clone(),
                summary: text(&op["summary"]),
                description: text(&op["description"]),
                security: security_of(op),
                params,
                body: content_of(&resolve(doc, &op["requestBody"])["content"]),
                responses,
            });
        }
    }
    list
}

fn schemas(doc: &Value) -> Vec<SchemaView> {
    let Some(schemas) = doc["components"]["schemas"].as_object() else {
        return vec![];
    };
    schemas
        .iter()
        .map(|(name, s)| {
            let required: Vec<&str> = s["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let fields = s["properties"]
                .as_object()
                .map(|props| {
                    props
                        .iter()
                        .map(|(field, p)| Field {
                            name: field.clone(),
                            place: String::new(),
                            ty: type_of(p),
                            required: required.contains(&field.as_str()),
                            description: text(&p["description"]),
                        })
                        .collect()
                })
                .unwrap_or_default();
            SchemaView {
                name: name.clone(),
                description: text(&s["description"]),
                ty: type_of(s),
                fields,
            }
        })
        .collect()
}
