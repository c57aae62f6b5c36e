//! The token lifecycle: a password change or an account's deletion stops
//! every token issued before it, in every service, within seconds.

use crate::helpers::*;
use host::client::Request;
use http::Method;
use serde_json::{Value, json};

/// Whether `token` still works on the user, post and feed services.
async fn works_anywhere(app: &TestApp, token: &str) -> [bool; 3] {
    let me = app.me(token).await.status;
    let post = app
        .create_post(token, json!({"body": "still me?"}))
        .await
        .status;
    let feed = app.feed(token, "").await.status;
    [me, post, feed].map(|status| {
        assert!(matches!(status, 200 | 201 | 401), "status {status}");
        status != 401
    })
}

async fn changing_the_password_stops_every_older_token(app: &TestApp) {
    // Arrange: alice's token has been seen (and cached) by every service.
    let alice = app.user("alice").await;
    assert_eq!(works_anywhere(app, &alice.token).await, [true; 3]);

    // Act
    let r = app
        .change_password(
            &alice.token,
            json!({"current_password": alice.password, "new_password": "a brand new secret"}),
        )
        .await;

    // Assert: the answer is a login with a new token that works everywhere.
    let body = ok_json(&r);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["username"], "alice");
    let fresh = body["token"].as_str().unwrap().to_string();
    assert_error(&app.me(&alice.token).await, 401, "unauthorized");
    // Once the event is applied, at once, although post and feed cached it.
    app.settle().await;
    assert_eq!(works_anywhere(app, &alice.token).await, [false; 3]);
    assert_eq!(works_anywhere(app, &fresh).await, [true; 3]);
    assert_error(
        &app.login("alice", &alice.password).await,
        401,
        "invalid_credentials",
    );
    assert_eq!(app.login("alice", "a brand new secret").await.status, 200);
}
crate::both_modes!(changing_the_password_stops_every_older_token);

async fn a_password_change_that_is_refused_changes_nothing(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let right = alice.password.as_str();
    let cases = [
        (json!({"new_password": "long enough"}), "current_password"),
        (
            json!({"current_password": "wrong password", "new_password": "long enough"}),
            "current_password",
        ),
        (json!({"current_password": right}), "new_password"),
        (
            json!({"current_password": right, "new_password": "short"}),
            "new_password",
        ),
    ];
    for (body, field) in cases {
        // Act
        let r = app.change_password(&alice.token, body.clone()).await;

        // Assert
        assert_error(&r, 422, "validation_failed");
        let message = r.json().unwrap()["error"]["message"].to_string();
        assert!(message.contains(field), "{body}: {message}");
    }
    let r = app
        .send(
            Svc::User,
            http::Method::PUT,
            "/users/me/password",
            None,
            Some(json!({})),
        )
        .await;
    assert_error(&r, 401, "unauthorized");
    assert_eq!(works_anywhere(app, &alice.token).await, [true; 3]);
    assert_eq!(app.login("alice", right).await.status, 200);
}
crate::both_modes!(a_password_change_that_is_refused_changes_nothing);

async fn a_deleted_accounts_token_stops_working_everywhere(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    assert_eq!(works_anywhere(app, &alice.token).await, [true; 3]);

    // Act
    assert_eq!(app.delete_me(&alice.token).await.status, 204);

    // Assert: once the event is applied, at once, the feed too, which had
    // the token cached.
    app.settle().await;
    assert_eq!(works_anywhere(app, &alice.token).await, [false; 3]);
}
crate::both_modes!(a_deleted_accounts_token_stops_working_everywhere);

async fn a_burst_of_first_requests_fetches_the_signing_keys_once(app: &TestApp) {
    // Arrange: users whose tokens only the user service has seen.
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(app.user(&format!("burst{i}")).await);
    }

    // Act: the feed service's first authenticated requests, all at once.
    let feed = format!("{}/feed", app.base(Svc::Feed));
    all_at_once(
        users
            .iter()
            .map(|u| {
                Request::new(Method::GET, feed.clone())
                    .header("authorization", format!("Bearer {}", u.token))
            })
            .collect(),
    )
    .await;

    // Assert: one of them fetched the keys, and the others waited for them.
    let fetches = app
        .stderr(Svc::User)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["route"] == "/auth/jwks")
        .count();
    assert_eq!(fetches, 1, "{}", app.stderr(Svc::User));
}
crate::both_modes!(a_burst_of_first_requests_fetches_the_signing_keys_once);
