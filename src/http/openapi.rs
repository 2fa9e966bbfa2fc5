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

/// The document, serialised once when the first router is built.
static DOCUMENT: OnceLock<String> = OnceLock::new();

/// Keeps the document the router was built from, for [`openapi_json`].
pub fn publish(api: &utoipa::openapi::OpenApi) {
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(api).unwrap_or_default();
        document_auth_limits(&mut doc);
        doc.to_string()
    });
}

/// Every operation that takes client or admin credentials may answer 429
/// once failures pass `client_auth_max_failures`: said once here for all
/// of them rather than on each handler.
fn document_auth_limits(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(|p| p.as_object_mut())
        .flat_map(|p| p.values_mut())
    {
        let takes_credentials = op["security"].as_array().is_some_and(|reqs| {
            reqs.iter()
                .any(|r| r.get("admin").is_some() || r.get("client").is_some())
        });
        if let (true, Some(responses)) = (
            takes_credentials,
            op.get_mut("responses").and_then(|r| r.as_object_mut()),
        ) {
            responses.entry("429").or_insert_with(|| {
                serde_json::json!({
                    "description": "too_many_attempts: too many failed client or admin authentications (see Retry-After)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                })
            });
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
