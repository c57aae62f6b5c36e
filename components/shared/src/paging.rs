//! Pages: `?limit=` (default 20, 1..=100) and an opaque `?cursor=`; bodies
//! `{"items": [...], "next_cursor": ...}` with a `Link: <...>; rel="next"`.

use crate::http::{query_param, request_url};
use crate::{ApiError, ApiResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use spin_sdk::http::{Request, Response};

/// Items per page when `?limit=` is absent.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest `?limit=`.
pub const MAX_LIMIT: usize = 100;

const CURSOR_PREFIX: &str = "c1:";

/// What the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    /// How many items to return.
    pub limit: usize,
    /// The key after which to continue, decoded from the cursor.
    pub after: Option<String>,
}

impl PageRequest {
    /// Reads `?limit=` and `?cursor=` from the request.
    pub fn from_request(req: &Request) -> ApiResult<Self> {
        Self::parse(
            query_param(req, "limit").as_deref(),
            query_param(req, "cursor").as_deref(),
        )
    }

    /// Validates raw `limit` and `cursor` values.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> ApiResult<Self> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        let after = cursor.map(decode_cursor).transpose()?;
        Ok(Self { limit, after })
    }

    /// The SQL `LIMIT`: one extra row tells whether there is a next page.
    pub fn fetch(&self) -> i64 {
        self.limit as i64 + 1
    }
}

/// Encodes a continuation key as an opaque cursor.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{key}"))
}

fn decode_cursor(cursor: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|s| s.strip_prefix(CURSOR_PREFIX).map(str::to_string))
        .filter(|key| !key.is_empty() && key.len() <= 200)
        .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))
}

/// Builds the page response from up to `limit + 1` fetched rows; `key`
/// gives each item's continuation key.
pub fn page<T: Serialize>(
    req: &Request,
    page: &PageRequest,
    mut rows: Vec<T>,
    key: impl Fn(&T) -> String,
) -> Response {
    let has_more = rows.len() > page.limit;
    rows.truncate(page.limit);
    let next_key = if has_more {
        rows.last().map(&key)
    } else {
        None
    };
    page_response(req, rows, next_key.as_deref())
}

/// The page body for `items` (already cut to the page) and, when `next_key`
/// is given, its cursor and the `Link: <...>; rel="next"` header.
pub fn page_response<T: Serialize>(
    req: &Request,
    items: Vec<T>,
    next_key: Option<&str>,
) -> Response {
    let rendered: Result<Vec<String>, _> = items.iter().map(serde_json::to_string).collect();
    match rendered {
        Ok(rendered) => page_response_raw(req, &rendered, next_key),
        Err(e) => crate::ApiError::Internal(e.into()).to_response(),
    }
}

/// Like [`page_response`], for items already rendered as JSON.
pub fn page_response_raw(req: &Request, items: &[String], next_key: Option<&str>) -> Response {
    let next_cursor = next_key.map(encode_cursor);
    let cursor_json = match &next_cursor {
        Some(c) => serde_json::to_string(c).unwrap_or_else(|_| "null".into()),
        None => "null".into(),
    };
    let body = format!(
        "{{\"items\":[{}],\"next_cursor\":{cursor_json}}}",
        items.join(",")
    );
    let mut response = Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.into_bytes())
        .build();
    if let (Some(cursor), Some(url)) = (next_cursor, request_url(req)) {
        response.set_header(
            "link",
            format!("<{}>; rel=\"next\"", next_url(url, &cursor)),
        );
    }
    response
}

/// `url` with its `cursor` parameter replaced, other parameters kept.
fn next_url(mut url: url::Url, cursor: &str) -> url::Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("cursor", cursor);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_twenty_and_must_be_from_1_to_100() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 20);
        assert_eq!(PageRequest::parse(Some("100"), None).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "x", ""] {
            let err = PageRequest::parse(Some(bad), None).unwrap_err();
            assert_eq!(err.status(), 422, "{bad}");
        }
    }

    #[test]
    fn the_next_link_replaces_the_cursor_and_keeps_other_parameters() {
        let url = url::Url::parse("http://h/feed?cursor=old&limit=2").unwrap();
        assert_eq!(
            next_url(url, "new").as_str(),
            "http://h/feed?limit=2&cursor=new"
        );
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_a_bad_request() {
        let c = encode_cursor("01ABC");
        assert_eq!(
            PageRequest::parse(None, Some(&c)).unwrap().after.as_deref(),
            Some("01ABC")
        );
        for bad in ["", "!!!", "Zm9v", &URL_SAFE_NO_PAD.encode("c1:")] {
            assert_eq!(
                PageRequest::parse(None, Some(bad)).unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }
}
