//! Rate limits: over a limit the answer is 429 `rate_limited` with
//! `Retry-After` and `RateLimit-*` headers, and nothing is stored. Each test
//! switches one limit on, low; the suite runs with all of them off.

use crate::helpers::*;
use host::client::Response;
use serde_json::json;

/// Asserts a 429 for a limit of `limit`, and returns its `Retry-After`.
fn assert_limited(r: &Response, limit: u32) -> u64 {
    assert_error(r, 429, "rate_limited");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "retry-after {retry}");
    assert_eq!(
        r.header("ratelimit-limit"),
        Some(limit.to_string().as_str())
    );
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert_eq!(
        r.header("ratelimit-reset"),
        Some(retry.to_string().as_str())
    );
    retry
}

async fn sign_ups_are_limited_per_client_address(app: &TestApp) {
    // Arrange: two sign-ups allowed.
    for name in ["first", "second"] {
        let r = app
            .register(json!({"username": name, "password": "long enough"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
    }

    // Act
    let r = app
        .register(json!({"username": "third", "password": "long enough"}))
        .await;

    // Assert
    assert_limited(&r, 2);
    assert_error(&app.get_user("third").await, 404, "not_found");
}
crate::both_modes!(
    sign_ups_are_limited_per_client_address,
    &[("rate_limit_signups", "2")]
);

async fn failed_logins_for_an_account_back_off_longer_and_longer(app: &TestApp) {
    // Arrange: two failures allowed; bob is someone else.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    for _ in 0..2 {
        assert_error(
            &app.login("alice", "wrong guess").await,
            401,
            "invalid_credentials",
        );
    }

    // Act: the right password is refused too now, and each try waits longer.
    let first = assert_limited(&app.login("alice", &alice.password).await, 2);
    let second = assert_limited(&app.login("alice", "wrong guess").await, 2);

    // Assert
    assert!(second > first, "the wait grows: {first} then {second}");
    assert_eq!(app.login("bob", &bob.password).await.status, 200);
}
crate::both_modes!(
    failed_logins_for_an_account_back_off_longer_and_longer,
    &[("rate_limit_failed_logins_per_user", "2")]
);

async fn failed_logins_are_limited_per_client_address(app: &TestApp) {
    // Arrange: three failures from this address allowed, whatever the account.
    let alice = app.user("alice").await;
    for name in ["alice", "bob", "carol"] {
        assert_error(
            &app.login(name, "wrong guess").await,
            401,
            "invalid_credentials",
        );
    }

    // Act + Assert
    assert_limited(&app.login("alice", &alice.password).await, 3);
}
crate::both_modes!(
    failed_logins_are_limited_per_client_address,
    &[("rate_limit_failed_logins_per_address", "3")]
);

async fn a_successful_login_clears_the_accounts_failures(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    assert_error(
        &app.login("alice", "wrong guess").await,
        401,
        "invalid_credentials",
    );

    // Act
    assert_eq!(app.login("alice", &alice.password).await.status, 200);

    // Assert: the count starts again.
    assert_error(
        &app.login("alice", "wrong guess").await,
        401,
        "invalid_credentials",
    );
    assert_eq!(app.login("alice", &alice.password).await.status, 200);
}
crate::both_modes!(
    a_successful_login_clears_the_accounts_failures,
    &[("rate_limit_failed_logins_per_user", "2")]
);

async fn posts_are_limited_per_user(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.post(&alice, "one").await;
    app.post(&alice, "two").await;

    // Act
    let r = app
        .create_post(&alice.token, json!({"body": "three"}))
        .await;

    // Assert: refused and not stored; bob has his own allowance.
    assert_limited(&r, 2);
    let page = ok_json(
        &app.send(
            Svc::Post,
            http::Method::GET,
            "/posts?author=alice",
            None,
            None,
        )
        .await,
    );
    assert_eq!(ids(&page).len(), 2);
    app.post(&bob, "mine").await;
}
crate::both_modes!(posts_are_limited_per_user, &[("rate_limit_posts", "2")]);

async fn likes_are_limited_per_user(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let first = id_of(&app.post(&alice, "one").await);
    let second = id_of(&app.post(&alice, "two").await);
    assert_eq!(app.like(&bob.token, &first).await.status, 204);

    // Act
    let r = app.like(&bob.token, &second).await;

    // Assert
    assert_limited(&r, 1);
    assert_eq!(ok_json(&app.get_post(&second).await)["like_count"], 0);
}
crate::both_modes!(likes_are_limited_per_user, &[("rate_limit_likes", "1")]);

async fn follows_are_limited_per_user(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    app.user("bob").await;
    app.user("carol").await;
    assert_eq!(app.follow(&alice.token, "bob").await.status, 204);

    // Act
    let r = app.follow(&alice.token, "carol").await;

    // Assert
    assert_limited(&r, 1);
    assert_eq!(
        ok_json(&app.followers("carol", "").await)["items"],
        json!([])
    );
}
crate::both_modes!(follows_are_limited_per_user, &[("rate_limit_follows", "1")]);
