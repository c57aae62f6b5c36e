//! A small HTTP/1.1 client for tests and benchmarks: one connection per
//! request unless a [`Connection`] is kept.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// A buffered response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Response {
    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("body is not JSON: {:?}", self.text()))
    }

    /// A header's value, if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: http::Method,
    /// Absolute `http://` URL.
    pub url: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and an empty body.
    pub fn new(method: http::Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its content type.
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("content-type", "application/json")
            .body(value.to_string())
    }

    /// Sends the request on a new connection.
    pub async fn send(self) -> Result<Response> {
        let uri: http::Uri = self
            .url
            .parse()
            .with_context(|| format!("bad URL {}", self.url))?;
        let mut conn = Connection::open(&uri).await?;
        conn.send(self).await
    }
}

/// A kept-alive HTTP/1.1 connection (for load generation).
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects to the authority of `uri`.
    pub async fn open(uri: &http::Uri) -> Result<Self> {
        let authority = uri
            .authority()
            .context("URL has no host")?
            .as_str()
            .to_string();
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .with_context(|| format!("cannot connect to {authority}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { sender })
    }

    /// Sends one request and reads the whole response.
    pub async fn send(&mut self, request: Request) -> Result<Response> {
        let uri: http::Uri = request.url.parse()?;
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut builder = hyper::Request::builder().method(request.method).uri(path);
        if !request
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("host"))
        {
            builder = builder.header(
                http::header::HOST,
                uri.authority().context("URL has no host")?.as_str(),
            );
        }
        for (k, v) in &request.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder.body(Full::new(Bytes::from(request.body)))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

/// `GET url`.
pub async fn get(url: impl Into<String>) -> Result<Response> {
    Request::new(http::Method::GET, url).send().await
}

/// `POST url` with a text body.
pub async fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Result<Response> {
    Request::new(http::Method::POST, url)
        .body(body)
        .send()
        .await
}
