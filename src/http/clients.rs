//! `GET/POST /admin/clients`, `DELETE /admin/clients/{id}`: registered
//! clients, managed with the admin token (SPEC §5).

use axum::Json as JsonBody;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::client_auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path};
use crate::clients;
use crate::state::AppState;
use crate::store::ClientRecord;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(remove))
}

/// A client to register.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewClient {
    /// What to call it (1-64 printable ASCII characters).
    #[schema(pattern = "^[ -~]{1,64}$")]
    name: String,
    /// May call `/oauth/introspect`.
    #[serde(default)]
    introspect: bool,
    /// May read `/revocations` and `/revocations/stream`.
    #[serde(default)]
    feed: bool,
}

/// A registered client's credentials: the secret is shown only here.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientCredentials {
    client_id: String,
    client_secret: String,
}

/// A registered client, without its secret.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientInfo {
    client_id: String,
    name: String,
    introspect: bool,
    feed: bool,
    created_at: i64,
}

/// `GET /admin/clients` body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientList {
    clients: Vec<ClientInfo>,
}

impl From<ClientRecord> for ClientInfo {
    fn from(c: ClientRecord) -> Self {
        Self {
            client_id: c.id,
            name: c.name,
            introspect: c.introspect,
            feed: c.feed,
            created_at: c.created_at,
        }
    }
}

/// List registered clients.
#[utoipa::path(get, path = "/admin/clients", tag = "admin", security(("admin" = [])),
    responses((status = 200, body = ClientList)))]
async fn list(State(state): State<AppState>, _: Admin) -> Result<JsonBody<ClientList>, ApiError> {
    let clients = state.store.clients().await?;
    Ok(JsonBody(ClientList {
        clients: clients.into_iter().map(ClientInfo::from).collect(),
    }))
}

/// Register a client; its secret is in this answer only.
#[utoipa::path(post, path = "/admin/clients", tag = "admin", security(("admin" = [])),
    request_body = NewClient,
    responses((status = 201, body = ClientCredentials),
        (status = 400, description = "invalid_request", body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    _: Admin,
    Json(c): Json<NewClient>,
) -> Result<(StatusCode, JsonBody<ClientCredentials>), ApiError> {
    clients::check_name(&c.name).map_err(|e| ApiError::InvalidRequest(e.into()))?;
    let reg = clients::register(&c.name, c.introspect, c.feed, state.clock.now());
    state.store.create_client(&reg.record).await?;
    tracing::info!(client_id = %reg.record.id, name = %reg.record.name, "client registered");
    Ok((
        StatusCode::CREATED,
        JsonBody(ClientCredentials {
            client_id: reg.record.id,
            client_secret: reg.secret,
        }),
    ))
}

/// Delete a client; the sessions it created are revoked.
#[utoipa::path(delete, path = "/admin/clients/{id}", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    let revoked = state
        .revocations()
        .delete_client(&id, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    tracing::info!(client_id = %id, sessions = revoked.len(), "client deleted");
    Ok(StatusCode::NO_CONTENT)
}
