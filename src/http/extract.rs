//! Extractors: the logged-in user, JSON bodies with our error shape, the client address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::wire::request::{client_ip, session_cookie};
use crate::chat::{AuthSession, SessionToken};
use crate::domain::ChatError;

/// The session of the request's cookie; 401 JSON without a valid one.
pub struct CurrentUser(pub AuthSession);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = session_cookie(&parts.headers).ok_or(ChatError::NotAuthenticated)?;
        Ok(Self(state.chat.authenticate(&SessionToken::from_client(&token)).await?))
    }
}

impl CurrentUser {
    /// Like the extractor, for pages that redirect instead of answering 401.
    pub async fn optional(headers: &HeaderMap, state: &AppState) -> Result<Option<AuthSession>, ChatError> {
        let Some(token) = session_cookie(headers) else { return Ok(None) };
        match state.chat.authenticate(&SessionToken::from_client(&token)).await {
            Ok(session) => Ok(Some(session)),
            Err(ChatError::NotAuthenticated) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A JSON body; anything that is not the expected JSON is a 400 `invalid_payload`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ChatError::PayloadTooLarge.into()),
            Err(rejection) => Err(ChatError::invalid(rejection.body_text()).into()),
        }
    }
}

/// A query string; anything that does not parse (a duplicate field, a wrong
/// type) is a 400 `invalid_payload`, as for bodies.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(rejection) => Err(ChatError::invalid(rejection.body_text()).into()),
        }
    }
}

/// The client's address, for rate limits.
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        Ok(Self(client_ip(peer, &parts.headers, state.web.trust_proxy)))
    }
}
