//! JSON bodies of the hottest routes, written directly with
//! [`jwtd_core::json::JsonObject`] (see there for why).

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use jwtd_core::json::JsonObject;

/// A `200 OK` response with `object` as its `application/json` body.
pub fn respond(object: JsonObject) -> Response {
    let mut resp = Response::new(Body::from(object.finish()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
