//! Request extractors whose rejections use our error shape: wrong content
//! type → 415, body over the limit → 413, bad JSON or fields → 400.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use http_body_util::LengthLimitError;
use jwtd_core::json::BodyError;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Largest accepted request body (SPEC §5); larger gets 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// JSON body; the content type must be `application/json` (or `+json`).
pub struct Json<T>(pub T);

/// JSON body that may be absent (empty); present, it must be valid JSON.
pub struct OptionalJson<T>(pub Option<T>);

/// An `application/x-www-form-urlencoded` body (RFC 7009 and 7662).
pub struct Form<T>(pub T);

/// Path parameters; one that does not decode (`/sessions/%ff` is not
/// UTF-8) is a 400 `invalid_request` in our error shape, not axum's
/// plain-text rejection.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e| {
                ApiError::InvalidRequest(format!("invalid path parameter: {}", e.body_text()))
            })
    }
}

fn content_type(req: &Request) -> Option<&[u8]> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .map(axum::http::HeaderValue::as_bytes)
}

fn mime(req: &Request) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let form = mime(&req).is_some_and(|m| m == "application/x-www-form-urlencoded");
        let bytes = body(req).await?;
        if !form {
            return Err(ApiError::UnsupportedMediaType);
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| ApiError::InvalidRequest(format!("invalid form body: {e}")))
    }
}

/// The whole body, at most [`MAX_BODY_BYTES`]: these extractors are the
/// only readers of request bodies, so this is where the limit lives.
async fn body(req: Request) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if e.into_inner().is::<LengthLimitError>() {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidRequest("could not read request body".into())
            }
        })
}

/// Reads the body (within the limit) and applies the request-body rules
/// of [`jwtd_core::json::decode_body`]. A body of the wrong type is read
/// anyway, so an oversized one is reported as such.
async fn decode<T: DeserializeOwned>(req: Request, optional: bool) -> Result<Option<T>, ApiError> {
    let json = jwtd_core::json::is_json(content_type(&req));
    let ct: &[u8] = if json { b"application/json" } else { b"" };
    let bytes = body(req).await?;
    jwtd_core::json::decode_body(Some(ct), &bytes, optional).map_err(|e| match e {
        BodyError::NotJson => ApiError::UnsupportedMediaType,
        BodyError::Invalid(m) => ApiError::InvalidRequest(m),
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        decode(req, false)
            .await?
            .map(Self)
            .ok_or_else(|| ApiError::InvalidRequest("empty body".into()))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        Ok(Self(decode(req, true).await?))
    }
}

/// Query string; malformed → 400 in our shape.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| ApiError::InvalidRequest(e.body_text()))
    }
}
