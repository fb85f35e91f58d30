//! An HTTP helper bound to one Parley server: a `reqwest::Client` with its own
//! cookie jar (so each `HttpClient` is one browser-like user), redirects not
//! followed, and shortcuts for the JSON auth endpoints.

use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Response, StatusCode, Url, redirect};
use serde_json::{Value, json};

use crate::sio::ConnectOptions;

/// An HTTP client for one server and one cookie jar.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    jar: Arc<Jar>,
    base_url: String,
    base: Url,
}

impl HttpClient {
    /// A client for `base_url` (e.g. `"http://127.0.0.1:5000"`, trailing `/`
    /// optional) with an empty cookie jar. Redirects are not followed.
    ///
    /// # Panics
    /// If `base_url` is not an absolute URL.
    pub fn new(base_url: &str) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let base =
            Url::parse(&base_url).unwrap_or_else(|e| panic!("invalid base url {base_url:?}: {e}"));
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(redirect::Policy::none())
            .build()
            .expect("building a reqwest client without TLS cannot fail");
        HttpClient {
            client,
            jar,
            base_url,
            base,
        }
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The underlying client (shares this client's cookie jar), for arbitrary requests.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// The cookie jar, e.g. to plant or inspect cookies.
    pub fn jar(&self) -> &Arc<Jar> {
        &self.jar
    }

    /// `base_url` + `path` (a missing leading `/` is added).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base_url)
        } else {
            format!("{}/{path}", self.base_url)
        }
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Result<Response> {
        self.client.post(self.url(path)).json(body).send().await
    }

    /// `POST /api/register` with `{username, email, password}`.
    pub async fn api_register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Result<Response> {
        self.post_json(
            "/api/register",
            &json!({ "username": username, "email": email, "password": password }),
        )
        .await
    }

    /// `POST /api/register` with a display name as well.
    pub async fn api_register_with_display_name(
        &self,
        username: &str,
        email: &str,
        password: &str,
        display_name: &str,
    ) -> reqwest::Result<Response> {
        self.post_json(
            "/api/register",
            &json!({ "username": username, "email": email, "password": password, "display_name": display_name }),
        )
        .await
    }

    /// `POST /api/login` with `{username, password}`; a session cookie set by the
    /// response lands in this client's jar.
    pub async fn api_login(&self, username: &str, password: &str) -> reqwest::Result<Response> {
        self.post_json(
            "/api/login",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Registers `username` (email `"{username}@example.test"`) and logs in. Any
    /// transport error or non-2xx answer becomes `Err` with the step, status and body.
    pub async fn register_and_login(&self, username: &str, password: &str) -> Result<(), String> {
        let email = format!("{username}@example.test");
        check(
            "register",
            self.api_register(username, &email, password).await,
        )
        .await?;
        check("login", self.api_login(username, password).await).await
    }

    /// The `Cookie` header value this client would send to the base URL (e.g.
    /// `"parley_session=abc"`), if it holds any cookie for it.
    pub fn cookie_header(&self) -> Option<String> {
        let value = self.jar.cookies(&self.base)?;
        value.to_str().ok().map(str::to_owned)
    }

    /// [`ConnectOptions`] carrying this client's cookies, for [`crate::SioClient::connect`].
    pub fn sio_options(&self) -> ConnectOptions {
        ConnectOptions {
            cookie: self.cookie_header(),
            ..Default::default()
        }
    }

    /// `GET path` and its body as JSON. An empty body gives `Value::Null`; a body that
    /// is not JSON gives `Value::String` with the raw text (so error pages can
    /// still be inspected).
    pub async fn get_json(&self, path: &str) -> reqwest::Result<(StatusCode, Value)> {
        let resp = self.client.get(self.url(path)).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        Ok((status, body_to_json(&body)))
    }
}

fn body_to_json(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn check(step: &str, resp: reqwest::Result<Response>) -> Result<(), String> {
    let resp = resp.map_err(|e| format!("{step} failed: {e}"))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    Err(format!("{step} failed with {status}: {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_to_the_base_with_exactly_one_slash() {
        let c = HttpClient::new("http://127.0.0.1:5000/");
        assert_eq!(c.base_url(), "http://127.0.0.1:5000");
        assert_eq!(c.url("/api/login"), "http://127.0.0.1:5000/api/login");
        assert_eq!(c.url("healthz"), "http://127.0.0.1:5000/healthz");
    }

    #[test]
    fn a_fresh_client_has_no_cookie_header() {
        assert_eq!(
            HttpClient::new("http://127.0.0.1:5000").cookie_header(),
            None
        );
    }

    #[test]
    fn cookies_set_for_the_base_show_up_in_the_cookie_header() {
        let c = HttpClient::new("http://127.0.0.1:5000");
        let url = Url::parse("http://127.0.0.1:5000/api/login").unwrap();
        c.jar()
            .add_cookie_str("parley_session=abc; Path=/; HttpOnly; SameSite=Lax", &url);
        assert_eq!(c.cookie_header().as_deref(), Some("parley_session=abc"));
        assert_eq!(
            c.sio_options().cookie.as_deref(),
            Some("parley_session=abc")
        );
    }

    #[test]
    fn bodies_that_are_not_json_are_kept_as_text() {
        assert_eq!(body_to_json(b""), Value::Null);
        assert_eq!(body_to_json(br#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(
            body_to_json(b"<h1>Not found</h1>"),
            json!("<h1>Not found</h1>")
        );
    }
}
