//! A small HTTP/1.1 client on hyper's `client::conn::http1` over a tokio
//! `TcpStream`: kept-alive connections, one request in flight on each, and
//! nothing else (no pool, proxy, redirect or TLS machinery to measure).

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::time::Duration;

/// A request ready to send on a [`Conn`].
pub type HttpRequest = http::Request<Full<Bytes>>;

/// Statuses worth retrying (outside load measurement): the service is
/// overloaded or restarting.
const RETRY_STATUSES: [u16; 4] = [429, 502, 503, 504];
/// Tries per request in [`Client::send_retrying`].
const ATTEMPTS: u32 = 5;

/// Where a service is reached: `http://host:port` and an optional path
/// prefix, from a base URL such as `http://127.0.0.1:3000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    authority: String,
    host: HeaderValue,
    prefix: String,
}

impl Endpoint {
    /// Parses a base URL; only `http://` is supported (put a local
    /// TLS-terminating proxy in front of an `https://` deployment).
    pub fn parse(url: &str) -> Result<Self> {
        let uri: http::Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => bail!("{url}: only http:// URLs are supported, not {other}://"),
            None => bail!("{url}: the URL needs http:// in front"),
        }
        let authority = uri
            .authority()
            .with_context(|| format!("{url}: no host"))?
            .as_str()
            .to_string();
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority
        } else {
            format!("{authority}:80")
        };
        let host = HeaderValue::from_str(uri.authority().map_or("", |a| a.as_str()))?;
        let mut prefix = uri.path().trim_end_matches('/').to_string();
        if let Some(query) = uri.query() {
            // A query belongs to a full URL (`--hello-url`), kept as is.
            prefix = format!("{}?{query}", uri.path());
        }
        Ok(Self {
            authority,
            host,
            prefix,
        })
    }

    /// `host:port`, what a connection is opened to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The request target for `path` (which starts with `/`, or is empty for
    /// the URL itself): the URL's path prefix, then `path`.
    pub fn target(&self, path: &str) -> String {
        let target = format!("{}{path}", self.prefix);
        if target.is_empty() {
            "/".into()
        } else {
            target
        }
    }

    /// The full URL of `path`, for messages.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://{}{}",
            self.host.to_str().unwrap_or("?"),
            self.target(path)
        )
    }

    /// A request for `path`, with `Host`, an optional bearer token and an
    /// optional JSON body.
    pub fn request(
        &self,
        method: http::Method,
        path: &str,
        token: Option<&str>,
        json: Option<Bytes>,
    ) -> HttpRequest {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(self.target(path))
            .header(HOST, self.host.clone());
        if let Some(token) = token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match json {
            Some(body) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                body
            }
            None => Bytes::new(),
        };
        builder
            .body(Full::new(body))
            .expect("a request from parts that were checked")
    }

    /// A request for `path` with a prepared `Authorization` header value
    /// (the load loops build these once per user).
    pub fn request_with_auth(
        &self,
        method: http::Method,
        path: &str,
        auth: Option<&HeaderValue>,
        json: Option<Bytes>,
    ) -> HttpRequest {
        let mut request = self.request(method, path, None, json);
        if let Some(auth) = auth {
            request.headers_mut().insert(AUTHORIZATION, auth.clone());
        }
        request
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "unexpected body (status {}): {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    /// An error naming `what` and this response's status and body.
    pub fn error(&self, what: &str) -> anyhow::Error {
        anyhow!(
            "{what}: status {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
        )
    }
}

/// One kept-alive HTTP/1.1 connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects to `authority` (`host:port`).
    pub async fn open(authority: &str) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .with_context(|| format!("cannot connect to {authority}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped or the server
            // closes it; the next send then reports the error.
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    /// Whether the connection can no longer be used.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request and reads the whole response.
    pub async fn send(&mut self, request: HttpRequest) -> Result<Response> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            body,
        })
    }
}

/// Connections of one task: one per authority, opened on first use and
/// dropped after an error or a timeout (its state is then unknown).
pub struct Client {
    conns: HashMap<String, Conn>,
    timeout: Duration,
}

impl Client {
    /// A client whose requests (including connecting) time out after
    /// `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            conns: HashMap::new(),
            timeout,
        }
    }

    /// Sends `request` to `endpoint` once.
    pub async fn send(&mut self, endpoint: &Endpoint, request: HttpRequest) -> Result<Response> {
        let authority = endpoint.authority();
        let result = tokio::time::timeout(self.timeout, async {
            let conn = match self.conns.remove(authority) {
                Some(conn) if !conn.is_closed() => conn,
                _ => Conn::open(authority).await?,
            };
            let mut conn = conn;
            let response = conn.send(request).await?;
            self.conns.insert(authority.to_string(), conn);
            anyhow::Ok(response)
        })
        .await;
        match result {
            Ok(result) => result,
            Err(_) => Err(anyhow!(
                "no response from {authority} within {:?}",
                self.timeout
            )),
        }
    }

    /// Sends the request `build` makes, again (after a growing pause) on a
    /// connection error or a 429/502/503/504, up to 5 tries: for setting up
    /// and checking, not for measuring. Only for requests that are safe to
    /// repeat.
    pub async fn send_retrying(
        &mut self,
        endpoint: &Endpoint,
        build: impl Fn() -> HttpRequest,
    ) -> Result<Response> {
        let mut pause = Duration::from_millis(100);
        for attempt in 1.. {
            let last = attempt >= ATTEMPTS;
            match self.send(endpoint, build()).await {
                Ok(response) if last || !RETRY_STATUSES.contains(&response.status) => {
                    return Ok(response);
                }
                Err(e) if last => return Err(e),
                _ => {}
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        unreachable!("the loop returns on its last try")
    }
}

/// Percent-encodes `raw` for a query parameter (cursors are opaque).
pub fn encode_query_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_gives_the_authority_and_path_prefix() {
        let e = Endpoint::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(e.authority(), "127.0.0.1:3000");
        assert_eq!(e.target("/feed?limit=10"), "/feed?limit=10");
        let e = Endpoint::parse("http://localhost/api/").unwrap();
        assert_eq!(e.authority(), "localhost:80");
        assert_eq!(e.target("/posts"), "/api/posts");
        assert_eq!(e.url("/posts"), "http://localhost/api/posts");
        let e = Endpoint::parse("http://[::1]:8080/hello").unwrap();
        assert_eq!(e.authority(), "[::1]:8080");
        assert_eq!(e.target(""), "/hello");
    }

    #[test]
    fn other_schemes_and_bare_hosts_are_refused() {
        assert!(Endpoint::parse("https://example.com").is_err());
        assert!(Endpoint::parse("example.com:80").is_err());
    }

    #[test]
    fn requests_carry_host_token_and_json_type() {
        let e = Endpoint::parse("http://127.0.0.1:3000").unwrap();
        let r = e.request(http::Method::POST, "/posts", Some("t"), Some("{}".into()));
        assert_eq!(r.uri(), "/posts");
        assert_eq!(r.headers()[HOST], "127.0.0.1:3000");
        assert_eq!(r.headers()[AUTHORIZATION], "Bearer t");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query_value("a+b/c=="), "a%2Bb%2Fc%3D%3D");
        assert_eq!(encode_query_value("01JDQ-_.~"), "01JDQ-_.~");
    }
}
