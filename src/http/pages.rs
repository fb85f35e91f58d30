//! The original application's pages: server-rendered login and registration
//! forms, logout, and `/` (the chat client for a logged-in user).

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::error::{status_of, with_retry_after};
use super::security::{set_session_cookie, session_cookie};
use super::{AppState, ClientAddr, CurrentUser};
use crate::chat::{Registration, SessionToken};
use crate::domain::ChatError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_form).post(login_submit))
        .route("/register", get(register_form).post(register_submit))
        .route("/logout", get(logout))
        .route("/static/auth.css", get(auth_css))
}

#[derive(Template, Default)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
    username: String,
}

#[derive(Template, Default)]
#[template(path = "register.html")]
struct RegisterPage {
    error: Option<String>,
    username: String,
    email: String,
    display_name: String,
    /// An invite code, carried from `/register?invite=` to the form's post.
    invite: String,
}

fn render(page: &impl Template, status: StatusCode) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// `GET /` → the chat client when logged in, else 302 to `/login`.
#[utoipa::path(get, tag = "pages", path = "/", responses((status = 200, description = "the chat client"), (status = 302, description = "to /login")))]
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match CurrentUser::optional(&headers, &state).await {
        Ok(Some(_)) => super::web::index_html(),
        Ok(None) => found("/login"),
        Err(e) => (status_of(&e), e.to_string()).into_response(),
    }
}

/// A 302 Found, as the original application answered (axum's `Redirect::to` is a 303).
fn found(location: &'static str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `GET /login` → the login form.
#[utoipa::path(get, tag = "pages", path = "/login", responses((status = 200, description = "the login form")))]
pub async fn login_form() -> Response {
    render(&LoginPage::default(), StatusCode::OK)
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// `POST /login` (form `username`, `password`) → 302 to `/` with the session
/// cookie; or the form again with the error, 401 (429 when rate-limited).
#[utoipa::path(post, tag = "pages", path = "/login", responses((status = 302, description = "logged in"), (status = 401, description = "the form with an error"), (status = 403, description = "cross-site post"), (status = 429)))]
pub async fn login_submit(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let page = |e: &ChatError| {
        let page = LoginPage { error: Some(e.to_string()), username: form.username.clone() };
        with_retry_after(render(&page, status_of(e)), e)
    };
    if !state.web.origins.allows(&headers) {
        return page(&ChatError::CrossSite);
    }
    match state.chat.login(&form.username, &form.password, ip).await {
        Ok((token, _)) => {
            let cookie = set_session_cookie(Some(token.expose()), state.web.session_ttl.as_secs(), state.web.secure_cookies);
            ([(header::SET_COOKIE, cookie)], found("/")).into_response()
        }
        Err(e) => page(&e),
    }
}

#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[serde(default)]
pub struct RegisterQuery {
    /// An invite code: the form carries it as a hidden field.
    invite: String,
}

/// `GET /register?invite=` → the registration form (with the invite, if any).
#[utoipa::path(get, tag = "pages", path = "/register", params(RegisterQuery), responses((status = 200, description = "the registration form")))]
pub async fn register_form(query: Result<Query<RegisterQuery>, QueryRejection>) -> Response {
    // A malformed query string is not worth an error page: the form without an invite.
    let invite = query.map(|Query(q)| q.invite).unwrap_or_default();
    let invite = if invite.len() <= MAX_INVITE_LEN { invite } else { String::new() };
    render(&RegisterPage { invite, ..RegisterPage::default() }, StatusCode::OK)
}

/// Longer than any invite code (22 characters): not carried.
const MAX_INVITE_LEN: usize = 64;

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct RegisterForm {
    username: String,
    email: String,
    display_name: String,
    password: String,
    invite: String,
}

/// `POST /register` (form `username`, `email`, `display_name`, `password`,
/// `invite`) → 302 to `/`, signed in (the new account is a member of
/// General); or the form again with the error, 400 (invalid), 403
/// (registration closed, invite required or invalid) or 409 (taken).
#[utoipa::path(post, tag = "pages", path = "/register", responses((status = 302, description = "registered and signed in"), (status = 400, description = "invalid input"), (status = 403, description = "registration_closed, invite_required, invite_invalid"), (status = 409, description = "username or email taken"), (status = 429, description = "too many registrations from this address"), (status = 503, description = "server busy")))]
pub async fn register_submit(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> Response {
    let page = |e: &ChatError| {
        let page = RegisterPage {
            error: Some(e.to_string()),
            username: form.username.clone(),
            email: form.email.clone(),
            display_name: form.display_name.clone(),
            invite: form.invite.clone(),
        };
        with_retry_after(render(&page, status_of(e)), e)
    };
    if !state.web.origins.allows(&headers) {
        return page(&ChatError::CrossSite);
    }
    let registration = Registration {
        username: &form.username,
        email: &form.email,
        display_name: Some(form.display_name.as_str()),
        password: &form.password,
        invite: Some(form.invite.as_str()).filter(|i| !i.is_empty()),
    };
    match state.chat.register_signed_in(registration, ip).await {
        Ok((token, _)) => {
            let cookie = set_session_cookie(Some(token.expose()), state.web.session_ttl.as_secs(), state.web.secure_cookies);
            ([(header::SET_COOKIE, cookie)], found("/")).into_response()
        }
        Err(e) => page(&e),
    }
}

/// `GET /logout` → ends the session on the server; 302 to `/login`.
#[utoipa::path(get, tag = "pages", path = "/logout", responses((status = 302, description = "to /login")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // A link on another site must not end the session (POST forms are
    // checked the same way).
    if !state.web.origins.allows_link(&headers) {
        let e = ChatError::CrossSite;
        return (status_of(&e), e.to_string()).into_response();
    }
    if let Some(token) = session_cookie(&headers)
        && let Err(e) = state.chat.logout(&SessionToken::from_client(&token)).await {
            return (status_of(&e), e.to_string()).into_response();
        }
    let cookie = set_session_cookie(None, 0, state.web.secure_cookies);
    ([(header::SET_COOKIE, cookie)], found("/login")).into_response()
}

async fn auth_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../static/auth.css")).into_response()
}
