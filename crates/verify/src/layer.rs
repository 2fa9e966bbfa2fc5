//! The tower layer and the axum extractor. Both answer exactly as jwtd
//! does (SPEC §3): no credentials is 401 `unauthorized` with a bare
//! `WWW-Authenticate: Bearer`; a refused token is 401 with the RFC 6750
//! challenge; a stale view is 503 `temporarily_unavailable` with
//! `Retry-After: 1`. A verified token goes into the request's extensions
//! as [`Auth`].

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};
use jwtd_core::token::{TokenError, VerifiedToken};
use jwtd_core::view::Rejection;
use jwtd_core::wire::{Denial, ErrorBody};

use crate::verifier::{Refusal, Verifier};

impl Verifier {
    /// The tower layer for this verifier.
    pub fn layer(&self) -> VerifyLayer {
        VerifyLayer::new(self.clone())
    }
}

/// The verified caller of a request.
#[derive(Clone, Debug)]
pub struct Auth {
    /// Its token: claims, key id, parsed ids.
    pub token: Arc<VerifiedToken>,
}

/// Why a request is turned away; its response is jwtd's (see the module
/// docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// No bearer credentials: 401 `unauthorized`.
    NoCredentials,
    /// A token jwtd would refuse: 401 `invalid_token`.
    Rejected(Rejection),
    /// The revocation view is stale: 503.
    Unavailable,
    /// [`Auth`] used on a route with neither the layer nor a verifier: 500.
    Unwired,
}

/// Verifies the request's bearer token.
pub fn authorize(verifier: &Verifier, headers: &HeaderMap) -> Result<Auth, Denied> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Denied::NoCredentials);
    };
    let token = match jwtd_core::bearer::parse(value.as_bytes()) {
        Ok(Some(t)) => t,
        Ok(None) => return Err(Denied::NoCredentials),
        Err(_) => return Err(Denied::Rejected(Rejection::Invalid(TokenError::Malformed))),
    };
    match verifier.verify(token) {
        Ok(token) => Ok(Auth { token }),
        Err(Refusal::Rejected(r)) => Err(Denied::Rejected(r)),
        Err(Refusal::Unavailable) => Err(Denied::Unavailable),
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let denial = match self {
            Self::NoCredentials => Denial::no_credentials(),
            Self::Rejected(rejection) => Denial::rejected(rejection),
            Self::Unavailable => Denial::stale(),
            Self::Unwired => Denial {
                status: 500,
                body: ErrorBody::new(
                    "server_error",
                    "jwtd-verify: route has neither VerifyLayer nor a Verifier extension",
                ),
                challenge: None,
                retry_after: None,
            },
        };
        let status =
            StatusCode::from_u16(denial.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, axum::Json(denial.body)).into_response();
        if let Some(v) = denial
            .challenge
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = denial.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// Protects every route it wraps.
#[derive(Clone)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    /// A layer checking with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> tower_layer::Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`VerifyLayer`] makes.
#[derive(Clone)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> tower_service::Service<Request<B>> for VerifyService<S>
where
    S: tower_service::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match authorize(&self.verifier, req.headers()) {
            Ok(auth) => {
                req.extensions_mut().insert(auth);
                Either::Right(self.inner.call(req))
            }
            Err(denied) => Either::Left(ready(Ok(denied.into_response()))),
        }
    }
}

/// The caller, for a handler: what [`VerifyLayer`] verified when the route
/// is behind it; else verified here with a [`Verifier`] found in the
/// request's extensions (`.layer(axum::Extension(verifier))`), for routes
/// that check only where they ask. Neither there is a wiring bug: 500.
impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Denied> {
        if let Some(auth) = parts.extensions.get::<Auth>() {
            return Ok(auth.clone());
        }
        match parts.extensions.get::<Verifier>() {
            Some(v) => authorize(v, &parts.headers),
            None => Err(Denied::Unwired),
        }
    }
}
