//! `GET /openapi.json`: the OpenAPI 3 document, generated from the
//! `#[utoipa::path]` annotations on the handlers themselves.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// The API description; the paths are added from the router (see
/// [`super::router`]).
#[derive(OpenApi)]
#[openapi(
    info(title = "jwtd", description = "JWT issuer and revocation service: logout that actually works."),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        let bearer = |desc: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(desc))
                    .build(),
            )
        };
        components.add_security_scheme("bearer", bearer("an access token (JWT, typ at+jwt)"));
        components.add_security_scheme("admin", bearer("the configured admin_token"));
        components.add_security_scheme(
            "client",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "a registered client: client_secret_basic (or, on POST forms, client_secret_post)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The document, serialised once when the first router is built, with
/// the error sets of [`document_error_sets`].
static DOCUMENT: OnceLock<String> = OnceLock::new();

/// Keeps the document the router was built from, for [`openapi_json`].
pub fn publish(api: &utoipa::openapi::OpenApi) {
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(api).unwrap_or_default();
        document_error_sets(&mut doc);
        doc.to_string()
    });
}

/// The errors every operation of a kind can answer, said once here
/// rather than on each handler: a status an operation documents itself
/// (with its own description) is left as it is.
fn document_error_sets(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let error = |description: &str| {
        serde_json::json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        })
    };
    for op in paths
        .values_mut()
        .filter_map(|p| p.as_object_mut())
        .flat_map(|p| p.values_mut())
    {
        let schemes: Vec<String> = op["security"]
            .as_array()
            .map(|reqs| {
                reqs.iter()
                    .filter_map(|r| r.as_object())
                    .flat_map(|r| r.keys().cloned())
                    .collect()
            })
            .unwrap_or_default();
        let has = |s: &str| schemes.iter().any(|k| k == s);
        let mut set: Vec<(&str, &str)> = Vec::new();
        if op.get("requestBody").is_some() {
            set.extend([
                ("400", "invalid_request: malformed body or fields"),
                ("413", "payload_too_large"),
                ("415", "unsupported_media_type"),
            ]);
        }
        if has("bearer") {
            set.push((
                "401",
                "missing or refused access token (RFC 6750 challenge)",
            ));
        }
        match (has("admin"), has("client")) {
            (true, true) => set.extend([
                ("401", "invalid_client, or a wrong admin token"),
                ("403", "unauthorized_client, or admin_disabled"),
            ]),
            (true, false) => set.extend([
                ("401", "unauthorized: missing or wrong admin token"),
                ("403", "admin_disabled"),
            ]),
            (false, true) => set.push(("401", "invalid_client: wrong client credentials")),
            (false, false) => {}
        }
        if has("admin") || has("client") {
            set.push((
                "429",
                "too_many_attempts: too many failed client or admin authentications (see Retry-After)",
            ));
        }
        if let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) {
            for (status, description) in set {
                responses
                    .entry(status)
                    .or_insert_with(|| error(description));
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json", body = Object)))]
async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.get().cloned().unwrap_or_default(),
    )
}
