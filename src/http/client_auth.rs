//! Client and admin authentication (RFC 6749 §2.3.1, SPEC §5):
//! `client_secret_basic` or `client_secret_post`, the built-in public
//! client, the admin token, and the endpoints that take a client with a
//! right or the admin token. Failed attempts are limited per (client id or
//! admin, client IP) ([`crate::auth_limits`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use aws_lc_rs::{constant_time, digest};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, header};
use base64::Engine as _;

use super::error::ApiError;
use crate::auth_limits::{Attempt, Principal, Refused};
use crate::clients::{PUBLIC_CLIENT, Right, secret_matches, secret_matches_nobody};
use crate::state::AppState;
use crate::store::ClientRecord;

/// The client IP of a request (unspecified when it came without one, as
/// in router-level tests).
pub fn peer_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Proof that the request carries the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        check_admin(state, &parts.headers, peer_ip(&parts.extensions))
            .await
            .map(|()| Admin)
    }
}

/// The client IP of a request, as an extractor.
pub struct PeerIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(peer_ip(&parts.extensions)))
    }
}

/// Admits one check of `who`'s credentials, or answers 429.
async fn admit(state: &AppState, who: Principal, ip: IpAddr) -> Result<Attempt, ApiError> {
    let now = state.clock.now();
    match state
        .auth_limits
        .admit(&state.store, state.auth_policy(), &who, ip, now)
        .await
    {
        Ok(a) => Ok(a),
        Err(Refused::Limited(secs)) => {
            tracing::warn!(?who, %ip, "authentication failures over the limit");
            Err(ApiError::TooManyAttempts(secs))
        }
        Err(Refused::Store(e)) => Err(e.into()),
    }
}

/// Checks that `headers` carry the admin token: 403 `admin_disabled` when
/// none is configured, 401 when it is missing or wrong, 429 after
/// `client_auth_max_failures` wrong ones from `ip`.
pub async fn check_admin(
    state: &AppState,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<(), ApiError> {
    let Some(expected) = &state.admin_token_hash else {
        return Err(ApiError::AdminDisabled);
    };
    let presented = super::auth::bearer(headers)
        .ok()
        .flatten()
        .ok_or(ApiError::Unauthorized)?;
    let attempt = admit(state, Principal::Admin, ip).await?;
    // Digests first, so the comparison is constant-time over a fixed
    // length and leaks nothing about the token, not even its length.
    let d = digest::digest(&digest::SHA256, presented.as_bytes());
    if constant_time::verify_slices_are_equal(d.as_ref(), expected).is_ok() {
        attempt.succeeded(&state.store).await?;
        return Ok(());
    }
    attempt.failed(&state.store).await?;
    Err(ApiError::WrongAdminToken)
}

/// Credentials a request presented, before they are checked.
#[derive(Debug, Default)]
pub struct Presented {
    id: String,
    secret: Option<String>,
    /// Sent as HTTP Basic: a failure is answered with a Basic challenge.
    basic: bool,
}

/// The client a request acts for, authenticated.
#[derive(Clone, Debug)]
pub enum Client {
    /// `jwtd`: no credentials, no rights.
    Public,
    /// A registered client that proved its secret.
    Registered(ClientRecord),
}

impl Client {
    /// Its `client_id`.
    pub fn id(&self) -> &str {
        match self {
            Self::Public => PUBLIC_CLIENT,
            Self::Registered(c) => &c.id,
        }
    }
}

/// The `Authorization: Basic` credentials, if that is the scheme used. The
/// id and secret are form-urlencoded inside the base64 (RFC 6749 §2.3.1).
fn basic(headers: &HeaderMap) -> Result<Option<Presented>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || ApiError::InvalidClient { challenge: true };
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    Ok(Some(Presented {
        id: form_decode(id).ok_or_else(bad)?,
        secret: Some(form_decode(secret).ok_or_else(bad)?),
        basic: true,
    }))
}

/// Decodes one form-urlencoded component (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
    match pairs.as_slice() {
        [(_, v)] => Some(v.clone()),
        _ => None,
    }
}

/// What a request presented: HTTP Basic, or the `client_id` and
/// `client_secret` fields of its body. Both at once must agree (RFC 6749
/// §2.3 asks clients for one method; fields that repeat the Basic
/// credentials, or are empty, are tolerated, anything else is 401).
pub fn presented(
    headers: &HeaderMap,
    id: Option<String>,
    secret: Option<String>,
) -> Result<Option<Presented>, ApiError> {
    if let Some(b) = basic(headers)? {
        // Body fields beside Basic must say the same (or be empty):
        // credentials that disagree authenticate nobody.
        let agrees = |field: Option<&str>, value: Option<&str>| {
            field.is_none_or(|f| f.is_empty() || Some(f) == value)
        };
        if agrees(id.as_deref(), Some(&b.id)) && agrees(secret.as_deref(), b.secret.as_deref()) {
            return Ok(Some(b));
        }
        return Err(ApiError::InvalidClient { challenge: true });
    }
    match id {
        Some(id) => Ok(Some(Presented {
            id,
            secret,
            basic: false,
        })),
        // A secret alone authenticates nobody (RFC 6749 §5.2).
        None if secret.is_some() => Err(ApiError::InvalidClient { challenge: false }),
        None => Ok(None),
    }
}

/// Checks presented credentials: none (or `jwtd` without a secret) is the
/// public client; a registered client must prove its secret. An unknown
/// client or a wrong secret is 401 `invalid_client`, alike in answer and
/// work, and counts towards the failure limit of (id, `ip`).
pub async fn authenticate(
    state: &AppState,
    p: Option<Presented>,
    ip: IpAddr,
) -> Result<Client, ApiError> {
    let Some(p) = p else {
        return Ok(Client::Public);
    };
    let fail = ApiError::InvalidClient { challenge: p.basic };
    if p.id == PUBLIC_CLIENT {
        // The public client has no secret to prove; one sent is a mistake
        // worth reporting rather than ignoring.
        return match p.secret.as_deref() {
            None | Some("") => Ok(Client::Public),
            Some(_) => Err(fail),
        };
    }
    let Some(secret) = p.secret.filter(|s| !s.is_empty()) else {
        return Err(fail);
    };
    let attempt = admit(state, Principal::Client(p.id.clone()), ip).await?;
    let found = state.store.client(&p.id).await?;
    let matches = match &found {
        Some(c) => secret_matches(c, &secret),
        None => secret_matches_nobody(&secret),
    };
    match found {
        Some(c) if matches => {
            attempt.succeeded(&state.store).await?;
            Ok(Client::Registered(c))
        }
        _ => {
            attempt.failed(&state.store).await?;
            Err(fail)
        }
    }
}

/// For endpoints open to a client with `right` or the admin token (SPEC
/// §5): a bearer credential is checked as the admin token; anything else
/// as a client, which must be registered and hold the right (403
/// `unauthorized_client` if not). Nothing at all is 401 `invalid_client`
/// with a Basic challenge. Answers the client's id, `None` for the admin.
pub async fn admin_or_client(
    state: &AppState,
    (headers, ip): (&HeaderMap, IpAddr),
    id: Option<String>,
    secret: Option<String>,
    right: Right,
) -> Result<Option<String>, ApiError> {
    if super::auth::bearer(headers).ok().flatten().is_some() {
        return check_admin(state, headers, ip).await.map(|()| None);
    }
    let Some(p) = presented(headers, id, secret)? else {
        return Err(ApiError::InvalidClient { challenge: true });
    };
    match authenticate(state, Some(p), ip).await? {
        Client::Registered(c) if right.held_by(&c) => Ok(Some(c.id)),
        _ => Err(ApiError::UnauthorizedClient),
    }
}

/// Proof that the request may read the revocation feed: the admin token,
/// or a registered client with the `feed` right (HTTP Basic: the feed's
/// routes are GETs, without a body to carry `client_secret_post`).
pub struct FeedReader {
    /// The client, `None` for the admin token: a stream it opened must end
    /// once the client is deleted or loses the right.
    pub client: Option<String>,
}

impl FromRequestParts<AppState> for FeedReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let from = (&parts.headers, peer_ip(&parts.extensions));
        let client = admin_or_client(state, from, None, None, Right::Feed).await?;
        Ok(FeedReader { client })
    }
}

/// Whether the client `id` still exists and holds `right` (for a
/// long-lived response it authorised).
pub async fn still_holds(state: &AppState, id: &str, right: Right) -> Result<bool, ApiError> {
    Ok(state
        .store
        .client(id)
        .await?
        .is_some_and(|c| right.held_by(&c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, auth.parse().expect("a valid header"));
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("my%20id:s%3Acret+x");
        let p = presented(&headers(&format!("Basic {b64}")), None, None)
            .expect("well formed")
            .expect("present");
        assert_eq!(
            (p.id.as_str(), p.secret.as_deref(), p.basic),
            ("my id", Some("s:cret x"), true)
        );
        assert!(presented(&headers("Basic !!!"), None, None).is_err());
        let other = presented(&headers("Bearer abc"), None, None).expect("not ours to judge");
        assert!(other.is_none());
    }

    #[test]
    fn basic_and_body_must_agree() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("a:b");
        let h = headers(&format!("Basic {b64}"));
        assert!(presented(&h, Some("a".into()), Some(String::new())).is_ok());
        assert!(presented(&h, Some("a".into()), Some("b".into())).is_ok());
        assert!(presented(&h, Some("x".into()), None).is_err());
        assert!(presented(&h, None, Some("c".into())).is_err());
        assert!(presented(&HeaderMap::new(), None, Some("b".into())).is_err());
        let post = presented(&HeaderMap::new(), Some("a".into()), Some("b".into()))
            .expect("well formed")
            .expect("present");
        assert!(!post.basic);
    }
}
