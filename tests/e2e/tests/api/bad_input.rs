//! Hostile input: every malformed request gets a 4xx with the JSON error
//! shape and stores nothing; text that looks like SQL or HTML is data.

use crate::helpers::*;
use host::client::{Request, Response};
use http::Method;
use serde_json::json;

/// One hostile request.
struct Case {
    what: &'static str,
    svc: Svc,
    method: Method,
    path: String,
    content_type: &'static str,
    extra_header: Option<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

impl Case {
    fn json(
        what: &'static str,
        svc: Svc,
        method: Method,
        path: &str,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            what,
            svc,
            method,
            path: path.to_string(),
            content_type: "application/json",
            extra_header: None,
            body: body.into(),
            status: 400,
            code: "bad_request",
        }
    }

    /// A JSON body that parses but fails validation: 422.
    fn invalid(what: &'static str, svc: Svc, method: Method, path: &str, body: &str) -> Self {
        Self::json(what, svc, method, path, body).expect(422, "validation_failed")
    }

    fn get(what: &'static str, svc: Svc, path: String) -> Self {
        Self::json(what, svc, Method::GET, "", Vec::new()).at(path)
    }

    fn at(mut self, path: String) -> Self {
        self.path = path;
        self
    }

    fn expect(mut self, status: u16, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }

    async fn send(&self, app: &TestApp, token: &str) -> Response {
        let mut req = Request::new(
            self.method.clone(),
            format!("{}{}", app.base(self.svc), self.path),
        )
        .header("authorization", format!("Bearer {token}"));
        if !self.body.is_empty() {
            req = req
                .header("content-type", self.content_type)
                .body(self.body.clone());
        }
        if let Some((name, value)) = &self.extra_header {
            req = req.header(*name, value.clone());
        }
        req.send().await.expect("request failed")
    }
}

async fn hostile_input_gets_a_4xx_and_stores_nothing(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let first = id_of(&app.post(&alice, "the only post").await);
    let nested = format!(
        "{{\"body\": {}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases = [
        Case::json(
            "invalid UTF-8",
            Svc::User,
            Method::POST,
            "/users",
            b"{\"username\":\"\xff\xfe\"}".to_vec(),
        ),
        Case::json(
            "nested 10,000 deep",
            Svc::Post,
            Method::POST,
            "/posts",
            nested,
        ),
        Case::json(
            "duplicate keys",
            Svc::User,
            Method::POST,
            "/users",
            r#"{"username":"dupe_one","username":"dupe_two","password":"long enough"}"#,
        ),
        Case {
            content_type: "text/plain",
            ..Case::json(
                "not JSON",
                Svc::Post,
                Method::POST,
                "/posts",
                r#"{"body":"sneaky"}"#,
            )
        }
        .expect(415, "unsupported_media_type"),
        Case {
            content_type: "application/x-www-form-urlencoded",
            ..Case::json(
                "a form",
                Svc::User,
                Method::POST,
                "/users",
                "username=formy&password=long+enough",
            )
        }
        .expect(415, "unsupported_media_type"),
        Case::invalid(
            "NUL in a username",
            Svc::User,
            Method::POST,
            "/users",
            r#"{"username":"ev\u0000il","password":"long enough"}"#,
        ),
        Case::invalid(
            "NUL in a body",
            Svc::Post,
            Method::POST,
            "/posts",
            r#"{"body":"hi\u0000there"}"#,
        ),
        Case::invalid(
            "escape in a body",
            Svc::Post,
            Method::POST,
            "/posts",
            r#"{"body":"\u001b[31mred"}"#,
        ),
        Case::invalid(
            "bell in a bio",
            Svc::User,
            Method::PATCH,
            "/users/me",
            r#"{"bio":"ding\u0007"}"#,
        ),
        Case::get(
            "forged cursor",
            Svc::Post,
            "/posts?author=alice&cursor=Zm9yZ2Vk".into(),
        ),
        Case::get(
            "long cursor",
            Svc::Feed,
            format!("/feed?cursor={}", "A".repeat(2_000)),
        ),
        Case::get("negative limit", Svc::Feed, "/feed?limit=-1".into())
            .expect(422, "validation_failed"),
        Case::get(
            "huge limit",
            Svc::Feed,
            "/feed?limit=99999999999999999999".into(),
        )
        .expect(422, "validation_failed"),
        Case::get(
            "limit not a number",
            Svc::Post,
            "/posts?author=alice&limit=ten".into(),
        )
        .expect(422, "validation_failed"),
        Case::get(
            "URL over 8 KiB",
            Svc::User,
            format!("/users/{}", "a".repeat(9_000)),
        )
        .expect(414, "uri_too_long"),
        Case::get(
            "invalid UTF-8 in the path",
            Svc::User,
            "/users/%FF%FE".into(),
        )
        .expect(404, "not_found"),
        Case {
            extra_header: Some(("x-padding", "a".repeat(70_000))),
            ..Case::get("headers over 64 KiB", Svc::Feed, "/feed".into())
        }
        .expect(431, "headers_too_large"),
    ];

    for case in &cases {
        // Act
        let r = case.send(app, &alice.token).await;

        // Assert
        assert_eq!(r.status, case.status, "{}: {}", case.what, r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{}",
            case.what
        );
        let body = r
            .json()
            .unwrap_or_else(|e| panic!("{}: not JSON ({e:?}): {}", case.what, r.text()));
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.what);
    }

    // Nothing was stored.
    for name in ["dupe_one", "dupe_two", "formy"] {
        assert_error(&app.get_user(name).await, 404, "not_found");
    }
    let page = ok_json(
        &app.send(Svc::Post, Method::GET, "/posts?author=alice", None, None)
            .await,
    );
    assert_eq!(ids(&page), vec![first]);
    assert_eq!(ok_json(&app.me(&alice.token).await)["bio"], "");
}
crate::both_modes!(hostile_input_gets_a_4xx_and_stores_nothing);

async fn text_that_looks_like_sql_or_html_is_kept_exactly(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let sql = "Robert'); DROP TABLE users;-- \" OR 1=1";
    let html = "<script>alert('x')</script> &amp;";

    // Act
    let profile = app
        .update_me(&alice.token, json!({"display_name": html, "bio": sql}))
        .await;
    let post = app
        .create_post(&alice.token, json!({"body": format!("{sql}\n{html}")}))
        .await;

    // Assert: stored and served back byte for byte, as JSON.
    assert_eq!(ok_json(&profile)["bio"], sql);
    assert_eq!(post.status, 201, "{}", post.text());
    let id = id_of(&post.json().unwrap());
    let fetched = ok_json(&app.get_post(&id).await);
    assert_eq!(fetched["body"], format!("{sql}\n{html}"));
    let me = ok_json(&app.get_user("alice").await);
    assert_eq!(
        (me["display_name"].as_str(), me["bio"].as_str()),
        (Some(html), Some(sql))
    );
    assert_eq!(
        app.user("bob").await.username,
        "bob",
        "the users table is still there"
    );
}
crate::both_modes!(text_that_looks_like_sql_or_html_is_kept_exactly);
