//! The social network's public HTTP API as the tool uses it: accounts,
//! follows, posts, feeds and health, each call retried on connection errors
//! and overload (these are set-up and check calls, not measured ones).

use crate::client::{Client, Endpoint, Response, encode_query_value};
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::Method;
use serde::Deserialize;
use serde_json::json;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What `POST /auth/login` returns.
#[derive(Debug, Clone)]
pub struct Login {
    /// The bearer token.
    pub token: String,
    /// When it expires, in Unix seconds.
    pub expires_at: u64,
    /// The account's id.
    pub user_id: String,
}

#[derive(Deserialize)]
struct LoginBody {
    token: String,
    expires_in: Option<u64>,
    user: IdOnly,
}

/// Any JSON object with an `id`.
#[derive(Debug, Clone, Deserialize)]
pub struct IdOnly {
    /// The id.
    pub id: String,
}

/// A post as a feed page lists it (only what the tool looks at).
#[derive(Debug, Clone, Deserialize)]
pub struct FeedItem {
    /// The post's id.
    pub id: String,
    /// Who wrote it.
    pub author: Author,
}

/// A post's author.
#[derive(Debug, Clone, Deserialize)]
pub struct Author {
    /// The author's user id.
    pub id: String,
    /// The author's username.
    #[serde(default)]
    pub username: String,
}

/// A page of a list.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

fn json_body(value: &serde_json::Value) -> Option<Bytes> {
    Some(Bytes::from(value.to_string()))
}

/// `POST /users`: creates the account; `Ok(false)` if the name is taken.
pub async fn register(
    client: &mut Client,
    user: &Endpoint,
    username: &str,
    password: &str,
) -> Result<bool> {
    let body = json!({"username": username, "password": password});
    let response = client
        .send_retrying(user, || {
            user.request(Method::POST, "/users", None, json_body(&body))
        })
        .await
        .with_context(|| format!("registering {username}"))?;
    match response.status {
        201 => Ok(true),
        409 => Ok(false),
        _ => Err(response.error(&format!("registering {username}"))),
    }
}

/// `POST /auth/login`.
pub async fn login(
    client: &mut Client,
    user: &Endpoint,
    username: &str,
    password: &str,
) -> Result<Login> {
    let body = json!({"username": username, "password": password});
    let response = client
        .send_retrying(user, || {
            user.request(Method::POST, "/auth/login", None, json_body(&body))
        })
        .await
        .with_context(|| format!("logging in {username}"))?;
    if response.status == 401 {
        bail!(
            "cannot log in as {username}: the name is taken with another password \
             (pick another --prefix, or use a fresh deployment)"
        );
    }
    if response.status != 200 {
        return Err(response.error(&format!("logging in {username}")));
    }
    let body: LoginBody = response.json()?;
    Ok(Login {
        token: body.token,
        expires_at: now_unix() + body.expires_in.unwrap_or(86_400),
        user_id: body.user.id,
    })
}

/// Registers `username` unless it exists, then logs in: running it again
/// (a resumed or repeated seed) finds the same account.
pub async fn ensure_account(
    client: &mut Client,
    user: &Endpoint,
    username: &str,
    password: &str,
) -> Result<Login> {
    register(client, user, username, password).await?;
    login(client, user, username, password).await
}

/// `PUT /users/me/following/{followee}` as the holder of `token`.
pub async fn follow(
    client: &mut Client,
    user: &Endpoint,
    token: &str,
    followee: &str,
) -> Result<Response> {
    let path = format!("/users/me/following/{followee}");
    client
        .send_retrying(user, || user.request(Method::PUT, &path, Some(token), None))
        .await
}

/// `POST /posts {"body"}` as the holder of `token`; with an
/// `Idempotency-Key`, a repeat returns the first post instead of a new one.
pub async fn create_post(
    client: &mut Client,
    post: &Endpoint,
    token: &str,
    body: &str,
    idempotency_key: Option<&str>,
) -> Result<Response> {
    let json = json!({"body": body});
    client
        .send_retrying(post, || {
            let mut request = post.request(Method::POST, "/posts", Some(token), json_body(&json));
            if let Some(key) = idempotency_key
                && let Ok(value) = http::HeaderValue::from_str(key)
            {
                request.headers_mut().insert("idempotency-key", value);
            }
            request
        })
        .await
}

/// `GET /feed?limit=…[&cursor=…]` as the holder of `token`.
pub async fn feed_page(
    client: &mut Client,
    feed: &Endpoint,
    token: &str,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Response> {
    let mut path = format!("/feed?limit={limit}");
    if let Some(cursor) = cursor {
        path.push_str("&cursor=");
        path.push_str(&encode_query_value(cursor));
    }
    client
        .send_retrying(feed, || feed.request(Method::GET, &path, Some(token), None))
        .await
}

/// `GET /health/{service}`: the service's health document.
pub async fn health(
    client: &mut Client,
    endpoint: &Endpoint,
    service: &str,
) -> Result<serde_json::Value> {
    let path = format!("/health/{service}");
    let response = client
        .send_retrying(endpoint, || {
            endpoint.request(Method::GET, &path, None, None)
        })
        .await
        .with_context(|| format!("GET {}", endpoint.url(&path)))?;
    let mut value: serde_json::Value = response.json()?;
    if let Some(object) = value.as_object_mut() {
        object.insert("http_status".into(), response.status.into());
    }
    Ok(value)
}

/// Known accounts (username, password) and their current tokens, shared by
/// the tasks of one command: a request that gets 401 (an expired token)
/// logs in again and is sent once more.
pub struct Accounts {
    user: Endpoint,
    credentials: Vec<(String, String)>,
    logins: Vec<Mutex<Option<Login>>>,
}

impl Accounts {
    /// Accounts on the user service at `user`, with their logins if known.
    pub fn new(user: Endpoint, accounts: Vec<(String, String, Option<Login>)>) -> Self {
        let (credentials, logins) = accounts
            .into_iter()
            .map(|(name, password, login)| ((name, password), Mutex::new(login)))
            .unzip();
        Self {
            user,
            credentials,
            logins,
        }
    }

    /// How many accounts there are.
    pub fn len(&self) -> usize {
        self.credentials.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }

    /// The `i`th username.
    pub fn username(&self, i: usize) -> &str {
        &self.credentials[i].0
    }

    /// The `i`th account's login, if it has one.
    pub fn login_of(&self, i: usize) -> Option<Login> {
        self.logins[i].lock().expect("login lock").clone()
    }

    /// Logs the `i`th account in (registering it first if `register`),
    /// keeping the new token.
    pub async fn log_in(&self, client: &mut Client, i: usize, register: bool) -> Result<Login> {
        let (name, password) = &self.credentials[i];
        let login = if register {
            ensure_account(client, &self.user, name, password).await?
        } else {
            login(client, &self.user, name, password).await?
        };
        *self.logins[i].lock().expect("login lock") = Some(login.clone());
        Ok(login)
    }

    /// Logs in unless the token is valid for `min_validity_s` more seconds.
    pub async fn ensure_fresh(
        &self,
        client: &mut Client,
        i: usize,
        min_validity_s: u64,
    ) -> Result<Login> {
        match self.login_of(i) {
            Some(login) if login.expires_at > now_unix() + min_validity_s => Ok(login),
            _ => self.log_in(client, i, false).await,
        }
    }

    /// The `i`th account's token: the kept one, or a new login if there is
    /// none or `renew`.
    async fn token(&self, client: &mut Client, i: usize, renew: bool) -> Result<String> {
        match self.login_of(i) {
            Some(login) if !renew => Ok(login.token),
            _ => Ok(self.log_in(client, i, false).await?.token),
        }
    }

    /// [`follow`] as the `i`th account (a 401 logs in again and retries).
    pub async fn follow_as(
        &self,
        client: &mut Client,
        i: usize,
        followee: &str,
    ) -> Result<Response> {
        let token = self.token(client, i, false).await?;
        let response = follow(client, &self.user, &token, followee).await?;
        if response.status != 401 {
            return Ok(response);
        }
        let token = self.token(client, i, true).await?;
        follow(client, &self.user, &token, followee).await
    }

    /// [`create_post`] as the `i`th account (a 401 logs in again and
    /// retries).
    pub async fn post_as(
        &self,
        client: &mut Client,
        post: &Endpoint,
        i: usize,
        body: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Response> {
        let token = self.token(client, i, false).await?;
        let response = create_post(client, post, &token, body, idempotency_key).await?;
        if response.status != 401 {
            return Ok(response);
        }
        let token = self.token(client, i, true).await?;
        create_post(client, post, &token, body, idempotency_key).await
    }

    /// [`feed_page`] as the `i`th account (a 401 logs in again and
    /// retries).
    pub async fn feed_page_as(
        &self,
        client: &mut Client,
        feed: &Endpoint,
        i: usize,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Response> {
        let token = self.token(client, i, false).await?;
        let response = feed_page(client, feed, &token, limit, cursor).await?;
        if response.status != 401 {
            return Ok(response);
        }
        let token = self.token(client, i, true).await?;
        feed_page(client, feed, &token, limit, cursor).await
    }

    /// The `i`th account's whole home feed, newest first, read
    /// `GET /feed?limit=100` page by page along `next_cursor`.
    pub async fn whole_feed(
        &self,
        client: &mut Client,
        feed: &Endpoint,
        i: usize,
    ) -> Result<Vec<FeedItem>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let response = self
                .feed_page_as(client, feed, i, 100, cursor.as_deref())
                .await?;
            if response.status != 200 {
                return Err(response.error(&format!("reading the feed of {}", self.username(i))));
            }
            let page: Page<FeedItem> = response.json()?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(next) => bail!("the feed of {} repeats cursor {next}", self.username(i)),
                None => return Ok(items),
            }
        }
    }
}
