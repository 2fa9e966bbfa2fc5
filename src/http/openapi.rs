//! `GET /openapi.json`: the OpenAPI 3 document, generated from the
//! `#[utoipa::path]` annotations on the handlers themselves.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, clients, feed, forward_auth, keys, login, logout, oauth, ops, refresh, sessions,
};
use crate::app::AppState;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "jwtd", description = "JWT issuer and revocation service: logout that actually works."),
    paths(
        login::register, login::login, refresh::refresh, refresh::token,
        logout::logout,
        sessions::protected, sessions::me, sessions::list, sessions::remove,
        forward_auth::verify,
        oauth::revoke_token, oauth::introspect,
        keys::jwks, keys::metadata,
        feed::list, feed::stream,
        admin::logout_user, admin::rotate, admin::revoke_key,
        clients::list, clients::create, clients::remove,
        ops::healthz, ops::readyz, ops::metrics,
        openapi_json,
    ),
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
    }
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
