//! The user service: accounts, login, keys, profiles, the follow graph, its
//! internal routes and health, through the real `.wasm` in both deployment
//! modes.

use crate::helpers::*;
use host::client::{Request, Response};
use http::Method;
use serde_json::{Value, json};

/// Asserts a 422 whose message names `field`.
fn assert_invalid(r: &Response, field: &str) {
    assert_error(r, 422, "validation_failed");
    let message = r.json().unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(field), "{field} not named in {message:?}");
}

/// Base64url without padding, for forging token segments by hand.
fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Decodes base64url without padding.
fn b64url_decode(s: &str) -> Vec<u8> {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = ABC.iter().position(|a| *a == c).expect("base64url") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// `GET /users/{username}`, asserting 200.
async fn profile(app: &TestApp, username: &str) -> Value {
    ok_json(&app.get_user(username).await)
}

/// The usernames of a page of users.
fn usernames(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

/// A request to an internal user route.
async fn internal(app: &TestApp, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
    app.send(Svc::User, Method::POST, path, token, body).await
}

async fn registration_returns_the_user_with_its_location(app: &TestApp) {
    // Act
    let r = app
        .register(json!({
            "username": "Alice_1",
            "password": "correct horse",
            "display_name": "Alice Liddell",
            "bio": "Down the rabbit hole"
        }))
        .await;

    // Assert
    assert_eq!(r.status, 201, "{}", r.text());
    let user = r.json().unwrap();
    assert_eq!(user["username"], "alice_1");
    assert_eq!(user["display_name"], "Alice Liddell");
    assert_eq!(user["bio"], "Down the rabbit hole");
    assert_eq!(user["followers_count"], 0);
    assert_eq!(user["following_count"], 0);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());
    // The host the request named (with replicas, the one that served it).
    let location = r.header("location").unwrap();
    assert!(
        app.replicas(Svc::User)
            .iter()
            .any(|base| location == format!("{base}/users/alice_1")),
        "{location}"
    );
    assert_eq!(profile(app, "alice_1").await, user);
    assert_eq!(profile(app, "ALICE_1").await, user);

    // Defaults: the display name is the username, the bio empty.
    let r = app
        .register(json!({"username": "carol", "password": "12345678"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let carol = r.json().unwrap();
    assert_eq!(carol["display_name"], "carol");
    assert_eq!(carol["bio"], "");
    assert_ne!(carol["id"], user["id"]);
}
crate::both_modes!(registration_returns_the_user_with_its_location);

async fn registration_rejects_bad_input_and_creates_nothing(app: &TestApp) {
    // Arrange
    let ok = |field: &str, value: Value| {
        let mut body = json!({"username": "dave", "password": "password1"});
        body[field] = value;
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({"password": "password1"}), "username"),
        (json!({"username": "dave"}), "password"),
        (ok("username", json!("ab")), "username"),
        (ok("username", json!("a".repeat(31))), "username"),
        (ok("username", json!("1dave")), "username"),
        (ok("username", json!("_dave")), "username"),
        (ok("username", json!("da-ve")), "username"),
        (ok("username", json!("da ve")), "username"),
        (ok("username", json!("me")), "username"),
        (ok("username", json!("ME")), "username"),
        (ok("password", json!("1234567")), "password"),
        (ok("password", json!("x".repeat(129))), "password"),
        (ok("display_name", json!("é".repeat(51))), "display_name"),
        (ok("display_name", json!("   ")), "display_name"),
        (ok("bio", json!("é".repeat(161))), "bio"),
    ];

    // Act + Assert: each bad field is a 422 naming it.
    for (body, field) in cases {
        let r = app.register(body.clone()).await;
        assert_invalid(&r, field);
    }

    // Limits are counted in Unicode characters, inclusive.
    let r = app
        .register(json!({
            "username": &format!("d{}", "a".repeat(29)),
            "password": "é".repeat(128),
            "display_name": "é".repeat(50),
            "bio": "é".repeat(160)
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Malformed JSON, wrong types and an empty body are 400s.
    for raw in [
        &b"{"[..],
        b"not json",
        b"",
        br#"{"username": 5, "password": "password1"}"#,
        br#"{"username": "dave", "password": ["password1"]}"#,
        br#"{"username": "dave", "password": "password1", "bio": 1}"#,
        b"[]",
    ] {
        let r = app
            .send_raw(Svc::User, Method::POST, "/users", None, raw)
            .await;
        assert_error(&r, 400, "bad_request");
    }

    // Over 64 KiB: 413.
    let r = app
        .register(json!({"username": "dave", "password": "password1", "bio": "x".repeat(70_000)}))
        .await;
    assert_error(&r, 413, "payload_too_large");

    // Nothing was created by any of these.
    assert_error(&app.get_user("dave").await, 404, "not_found");

    // A taken username, in any case, is a 409.
    app.user("erin").await;
    let r = app
        .register(json!({"username": "ERIN", "password": "password1"}))
        .await;
    assert_error(&r, 409, "username_taken");
}
crate::both_modes!(registration_rejects_bad_input_and_creates_nothing);

async fn login_issues_a_token_and_failures_look_the_same(app: &TestApp) {
    // Arrange
    let r = app
        .register(json!({"username": "alice", "password": "wonderland"}))
        .await;
    let alice = r.json().unwrap();

    // Act
    let r = app.login("ALICE", "wonderland").await;

    // Assert
    let body = ok_json(&r);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 86400);
    assert_eq!(body["user"], alice);
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    assert_eq!(ok_json(&app.me(token).await), alice);

    // Wrong password and unknown user: the same 401, word for word.
    let wrong = app.login("alice", "wonderlant").await;
    let unknown = app.login("nobody", "wonderland").await;
    let impossible = app.login("x", "short").await;
    for r in [&wrong, &unknown, &impossible] {
        assert_error(r, 401, "invalid_credentials");
        assert_eq!(r.text(), wrong.text());
    }

    // Missing fields name the field; malformed bodies are 400s.
    let r = app
        .send(
            Svc::User,
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"username": "alice"})),
        )
        .await;
    assert_invalid(&r, "password");
    let r = app
        .send(
            Svc::User,
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"password": "wonderland"})),
        )
        .await;
    assert_invalid(&r, "username");
    let r = app
        .send_raw(Svc::User, Method::POST, "/auth/login", None, b"{nope")
        .await;
    assert_error(&r, 400, "bad_request");
}
crate::both_modes!(login_issues_a_token_and_failures_look_the_same);

async fn the_jwks_publishes_the_key_that_signs_tokens(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;

    // Act
    let set = ok_json(&app.jwks().await);

    // Assert: one Ed25519 key whose kid is the one tokens carry.
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{set}");
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["x"].as_str().unwrap().len(), 43, "32 bytes, base64url");
    assert!(key.get("d").is_none(), "the private key is never published");
    let header: Value =
        serde_json::from_slice(&b64url_decode(alice.token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    assert!(!key["kid"].as_str().unwrap().is_empty());
    assert_eq!(header["kid"], key["kid"]);

    // The key is stable: the same set later, and tokens keep working.
    assert_eq!(ok_json(&app.jwks().await), set);
    let again = ok_json(&app.login(&alice.username, &alice.password).await);
    assert_eq!(
        ok_json(&app.me(again["token"].as_str().unwrap()).await)["id"],
        alice.id.as_str()
    );
}
crate::both_modes!(the_jwks_publishes_the_key_that_signs_tokens);

async fn the_caller_reads_updates_and_deletes_their_own_account(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&alice.token, "bob").await.status, 204);
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);

    // Act + Assert: read.
    let me = ok_json(&app.me(&alice.token).await);
    assert_eq!(me["id"], alice.id.as_str());
    assert_eq!(me["followers_count"], 1);
    assert_eq!(me["following_count"], 1);

    // Update one field, then the other; the rest stays.
    let r = app
        .update_me(&alice.token, json!({"display_name": "Alice"}))
        .await;
    let updated = ok_json(&r);
    assert_eq!(updated["display_name"], "Alice");
    assert_eq!(updated["bio"], "");
    let updated = ok_json(&app.update_me(&alice.token, json!({"bio": "hi"})).await);
    assert_eq!(updated["display_name"], "Alice");
    assert_eq!(updated["bio"], "hi");
    assert_eq!(
        ok_json(&app.update_me(&alice.token, json!({})).await),
        updated
    );
    assert_eq!(profile(app, "alice").await, updated);

    // Bad updates change nothing.
    assert_invalid(
        &app.update_me(
            &alice.token,
            json!({"display_name": "x".repeat(51), "bio": "new"}),
        )
        .await,
        "display_name",
    );
    assert_invalid(
        &app.update_me(&alice.token, json!({"bio": "x".repeat(161)}))
            .await,
        "bio",
    );
    let r = app
        .send_raw(
            Svc::User,
            Method::PATCH,
            "/users/me",
            Some(&alice.token),
            b"{",
        )
        .await;
    assert_error(&r, 400, "bad_request");
    let r = app.update_me(&alice.token, json!({"bio": 7})).await;
    assert_error(&r, 400, "bad_request");
    assert_eq!(profile(app, "alice").await, updated);

    // Delete: 204, and the account and its follows are gone both ways.
    assert_eq!(app.delete_me(&alice.token).await.status, 204);
    assert_error(&app.get_user("alice").await, 404, "not_found");
    let bob_now = profile(app, "bob").await;
    assert_eq!(bob_now["followers_count"], 0);
    assert_eq!(bob_now["following_count"], 0);
    assert!(usernames(&ok_json(&app.followers("bob", "").await)).is_empty());

    // Its token no longer works, nor does its password.
    assert_error(&app.me(&alice.token).await, 401, "unauthorized");
    assert_error(
        &app.update_me(&alice.token, json!({"bio": "back"})).await,
        401,
        "unauthorized",
    );
    assert_error(&app.delete_me(&alice.token).await, 401, "unauthorized");
    assert_error(&app.follow(&alice.token, "bob").await, 401, "unauthorized");
    assert_error(
        &app.login("alice", &alice.password).await,
        401,
        "invalid_credentials",
    );

    // The deletion reaches the other services; the name is free again.
    app.settle().await;
    let r = app
        .register(json!({"username": "alice", "password": "password2"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_ne!(r.json().unwrap()["id"], alice.id.as_str());
}
crate::both_modes!(the_caller_reads_updates_and_deletes_their_own_account);

async fn following_is_idempotent_and_counted_exactly(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    // Act: follow twice (once by another spelling).
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    assert_eq!(app.follow(&bob.token, "ALICE").await.status, 204);

    // Assert
    assert_eq!(profile(app, "alice").await["followers_count"], 1);
    assert_eq!(profile(app, "bob").await["following_count"], 1);
    assert_eq!(
        usernames(&ok_json(&app.followers("alice", "").await)),
        vec!["bob"]
    );
    assert_eq!(
        usernames(&ok_json(&app.following("bob", "").await)),
        vec!["alice"]
    );
    assert!(usernames(&ok_json(&app.following("alice", "").await)).is_empty());
    let listed = &ok_json(&app.followers("alice", "").await)["items"][0];
    assert_eq!(listed, &profile(app, "bob").await);

    // Errors: unknown users, impossible names, yourself.
    assert_error(&app.follow(&bob.token, "nobody").await, 404, "not_found");
    assert_error(&app.follow(&bob.token, "me").await, 404, "not_found");
    assert_error(&app.unfollow(&bob.token, "nobody").await, 404, "not_found");
    assert_invalid(&app.follow(&bob.token, "bob").await, "username");
    assert_invalid(&app.follow(&bob.token, "BOB").await, "username");
    assert_error(&app.followers("nobody", "").await, 404, "not_found");
    assert_error(&app.following("nobody", "").await, 404, "not_found");
    assert_eq!(profile(app, "bob").await["following_count"], 1);

    // Unfollow twice: 204 both times, counted once.
    assert_eq!(app.unfollow(&bob.token, "alice").await.status, 204);
    assert_eq!(app.unfollow(&bob.token, "alice").await.status, 204);
    assert_eq!(profile(app, "alice").await["followers_count"], 0);
    assert_eq!(profile(app, "bob").await["following_count"], 0);
    assert!(usernames(&ok_json(&app.followers("alice", "").await)).is_empty());

    // Following again works, and all events are delivered.
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    assert_eq!(app.follow(&alice.token, "bob").await.status, 204);
    assert_eq!(profile(app, "alice").await["followers_count"], 1);
    assert_eq!(profile(app, "alice").await["following_count"], 1);
    app.settle().await;
    let health = ok_json(&app.health(Svc::User).await);
    assert_eq!(health["undelivered_events"], 0);
}
crate::both_modes!(following_is_idempotent_and_counted_exactly);

async fn follower_pages_are_newest_first_with_cursor_and_link(app: &TestApp) {
    // Arrange: five followers, in order.
    let star = app.user("star").await;
    let mut fans = Vec::new();
    for i in 0..5 {
        let fan = app.user(&format!("fan{i}")).await;
        assert_eq!(app.follow(&fan.token, "star").await.status, 204);
        assert_eq!(app.follow(&star.token, &fan.username).await.status, 204);
        fans.push(fan.username);
    }
    let newest_first: Vec<String> = fans.iter().rev().cloned().collect();

    for list in ["followers", "following"] {
        // Act: walk the pages two at a time.
        let mut seen = Vec::new();
        let mut query = "?limit=2".to_string();
        let mut pages = 0;
        loop {
            let r = match list {
                "followers" => app.followers("star", &query).await,
                _ => app.following("star", &query).await,
            };
            let body = ok_json(&r);
            pages += 1;
            seen.extend(usernames(&body));
            match body["next_cursor"].as_str() {
                Some(cursor) => {
                    let link = r.header("link").expect("a Link header with a next page");
                    assert!(link.contains("rel=\"next\""), "{link}");
                    assert!(link.contains(cursor), "{link}");
                    assert!(link.contains("limit=2"), "{link}");
                    query = format!("?limit=2&cursor={cursor}");
                }
                None => {
                    assert!(r.header("link").is_none(), "no Link on the last page");
                    break;
                }
            }
        }

        // Assert
        assert_eq!(seen, newest_first, "{list}");
        assert_eq!(pages, 3, "{list}");
    }

    // The default page holds everything; no Link without a next page.
    let r = app.followers("star", "").await;
    let body = ok_json(&r);
    assert_eq!(usernames(&body), newest_first);
    assert_eq!(body["next_cursor"], Value::Null);
    assert!(r.header("link").is_none());
    let r = app.followers("star", "?limit=5").await;
    assert!(r.header("link").is_none());

    // Bad limits are 422s, bad cursors 400s.
    for bad in ["0", "101", "-1", "two"] {
        let r = app.followers("star", &format!("?limit={bad}")).await;
        assert_invalid(&r, "limit");
    }
    for bad in ["garbage", "Zm9v", "YzE6bm90LWFuLWlk"] {
        let r = app.following("star", &format!("?cursor={bad}")).await;
        assert_error(&r, 400, "bad_request");
    }
}
crate::both_modes!(follower_pages_are_newest_first_with_cursor_and_link);

async fn unknown_routes_are_not_found_and_wrong_methods_not_allowed(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;

    // Act + Assert
    assert_error(&app.get_user("nobody").await, 404, "not_found");
    assert_error(&app.get_user("x").await, 404, "not_found");
    for (method, path) in [
        (Method::GET, "/users"),
        (Method::DELETE, "/users"),
        (Method::GET, "/auth/login"),
        (Method::POST, "/auth/jwks"),
        (Method::POST, "/users/me"),
        (Method::PUT, "/users/alice"),
        (Method::GET, "/users/me/following/alice"),
        (Method::POST, "/users/alice/followers"),
        (Method::GET, "/internal/user/events"),
        (Method::POST, "/health/user"),
    ] {
        let r = app
            .send(Svc::User, method.clone(), path, Some(&alice.token), None)
            .await;
        assert_error(&r, 405, "method_not_allowed");
    }
    let r = app
        .send(Svc::User, Method::GET, "/users/alice/friends", None, None)
        .await;
    assert_error(&r, 404, "not_found");
}
crate::both_modes!(unknown_routes_are_not_found_and_wrong_methods_not_allowed);

async fn account_routes_need_a_valid_token(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let parts: Vec<&str> = alice.token.split('.').collect();
    // A changed signature byte (not the last character, whose low bits
    // base64 may ignore).
    let mut signature: Vec<char> = parts[2].chars().collect();
    let at = signature.len() - 10;
    signature[at] = if signature[at] == 'A' { 'B' } else { 'A' };
    let signature: String = signature.into_iter().collect();
    let tampered_signature = format!("{}.{}.{signature}", parts[0], parts[1]);
    let far = 4_000_000_000u64;
    let as_bob = b64url(
        json!({"sub": bob.id, "username": "bob", "exp": far, "iat": 1})
            .to_string()
            .as_bytes(),
    );
    let tampered_payload = format!("{}.{as_bob}.{}", parts[0], parts[2]);
    let expired = b64url(
        json!({"sub": alice.id, "username": "alice", "exp": 1, "iat": 0})
            .to_string()
            .as_bytes(),
    );
    let expired = format!("{}.{expired}.{}", parts[0], parts[2]);
    let hs256 = format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(
            json!({"sub": alice.id, "username": "alice", "exp": far})
                .to_string()
                .as_bytes()
        ),
        b64url(b"not a real signature at all, 32b")
    );
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(json!({"sub": alice.id, "exp": far}).to_string().as_bytes()),
    );
    let routes: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::GET, "/users/me", None),
        (Method::PATCH, "/users/me", Some(json!({"bio": "pwned"}))),
        (Method::DELETE, "/users/me", None),
        (Method::PUT, "/users/me/following/bob", None),
        (Method::DELETE, "/users/me/following/bob", None),
    ];

    // Act + Assert
    for (method, path, body) in &routes {
        for token in [
            None,
            Some("garbage"),
            Some("a.b.c"),
            Some(tampered_signature.as_str()),
            Some(tampered_payload.as_str()),
            Some(expired.as_str()),
            Some(hs256.as_str()),
            Some(none.as_str()),
        ] {
            let r = app
                .send(Svc::User, method.clone(), path, token, body.clone())
                .await;
            assert_error(&r, 401, "unauthorized");
            assert!(r.header("www-authenticate").is_some());
        }
    }
    let r = Request::new(Method::GET, format!("{}/users/me", app.base(Svc::User)))
        .header("authorization", format!("Basic {}", alice.token))
        .send()
        .await
        .unwrap();
    assert_error(&r, 401, "unauthorized");

    // Nothing changed; the real token still works.
    assert_eq!(ok_json(&app.me(&alice.token).await)["bio"], "");
    assert_eq!(profile(app, "bob").await["bio"], "");
    assert_eq!(profile(app, "bob").await["followers_count"], 0);
}
crate::both_modes!(account_routes_need_a_valid_token);

async fn internal_routes_need_the_service_credential(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let batch = json!({"events": [{
        "id": "01JDQ2Z3X4Y5Z6A7B8C9D0EFGH",
        "occurred-at": "2026-01-01T00:00:00.000Z",
        "payload": {"post-created": {
            "post-id": "01JDQ2Z3X4Y5Z6A7B8C9D0EFGJ",
            "author-id": alice.id,
            "created-at": "2026-01-01T00:00:00.000Z",
            "reply-to": null
        }}
    }]});

    for (path, body) in [
        ("/internal/user/events", Some(batch.clone())),
        ("/internal/user/outbox/flush", None),
    ] {
        // Act + Assert: no credential 401, a wrong one (or a user token) 403.
        assert_error(
            &internal(app, path, None, body.clone()).await,
            401,
            "unauthorized",
        );
        for wrong in ["wrong-credential", alice.token.as_str()] {
            let r = internal(app, path, Some(wrong), body.clone()).await;
            assert_error(&r, 403, "forbidden");
        }
    }

    // With it: events are accepted (and ignored), even twice.
    for _ in 0..2 {
        let r = internal(
            app,
            "/internal/user/events",
            Some(CREDENTIAL),
            Some(batch.clone()),
        )
        .await;
        assert_eq!(r.status, 204, "{}", r.text());
    }
    let r = internal(
        app,
        "/internal/user/events",
        Some(CREDENTIAL),
        Some(json!({"events": []})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = app
        .send_raw(
            Svc::User,
            Method::POST,
            "/internal/user/events",
            Some(CREDENTIAL),
            b"{\"events\": 3}",
        )
        .await;
    assert_error(&r, 400, "bad_request");
    let r = internal(app, "/internal/user/events", Some(CREDENTIAL), None).await;
    assert_error(&r, 400, "bad_request");

    // The flush reports what it did.
    let report = ok_json(&app.flush(Svc::User).await);
    for field in ["delivered", "failed", "pending"] {
        assert!(report[field].is_u64(), "{report}");
    }
    app.settle().await;
    assert_eq!(ok_json(&app.flush(Svc::User).await)["pending"], 0);
    assert_eq!(ok_json(&app.me(&alice.token).await)["username"], "alice");
}
crate::both_modes!(internal_routes_need_the_service_credential);

async fn health_reports_the_store_and_undelivered_events(app: &TestApp) {
    // Act
    let r = app.health(Svc::User).await;

    // Assert
    let body = ok_json(&r);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "user");
    assert_eq!(body["store"], "ok");
    assert_eq!(body["undelivered_events"], 0);
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{:?}",
        r.headers
    );
}
crate::both_modes!(health_reports_the_store_and_undelivered_events);

async fn every_response_is_json_that_browsers_must_not_sniff(app: &TestApp) {
    // Arrange: one of each kind of answer, from every service.
    let alice = app.user("alice").await;
    let cases = [
        (Svc::User, Method::GET, "/users/alice", None, 200),
        (Svc::User, Method::GET, "/users/nobody", None, 404),
        (Svc::User, Method::GET, "/users/me", None, 401),
        (Svc::Post, Method::GET, "/posts/nope", None, 404),
        (Svc::Post, Method::GET, "/posts?author=alice", None, 200),
        (
            Svc::Feed,
            Method::GET,
            "/feed",
            Some(alice.token.as_str()),
            200,
        ),
        (Svc::Feed, Method::GET, "/feed", None, 401),
        (Svc::Feed, Method::GET, "/health/feed", None, 200),
    ];
    for (svc, method, path, token, status) in cases {
        // Act
        let r = app.send(svc, method.clone(), path, token, None).await;

        // Assert
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{method} {path}"
        );
    }
    // An empty answer is not sniffed either.
    let bob = app.user("bob").await;
    let r = app.follow(&bob.token, "alice").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}
crate::both_modes!(every_response_is_json_that_browsers_must_not_sniff);
