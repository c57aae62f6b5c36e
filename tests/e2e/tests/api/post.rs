//! The post service: posts, replies, likes, user timelines, its internal
//! routes and health, through the real `.wasm` in both deployment modes.

use crate::helpers::*;
use host::client::{Request, Response};
use http::Method;
use serde_json::{Value, json};

/// An id that is well formed but names no post.
const UNKNOWN_ID: &str = "01JDQ2Z3X4Y5Z6A7B8C9D0EFGH";

/// `GET /posts/{id}`, asserting 200.
async fn fetch(app: &TestApp, id: &str) -> Value {
    let r = app.get_post(id).await;
    assert_eq!(r.status, 200, "get {id}: {}", r.text());
    r.json().unwrap()
}

/// A page of `GET /posts?author=...`, asserting 200.
async fn page_by(app: &TestApp, author: &str, extra: &str) -> Value {
    let r = app.posts_by(author, extra).await;
    assert_eq!(r.status, 200, "posts by {author}{extra}: {}", r.text());
    r.json().unwrap()
}

/// `POST /posts` with an `Idempotency-Key` header.
async fn create_with_key(app: &TestApp, token: &str, key: &str, body: Value) -> Response {
    Request::new(Method::POST, format!("{}/posts", app.base(Svc::Post)))
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A request to an internal post route with `token` as the bearer.
async fn internal(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Response {
    app.send(Svc::Post, method, path, token, body).await
}

/// Asserts a 422 whose message names `field`.
fn assert_invalid(r: &Response, field: &str) {
    assert_error(r, 422, "validation_failed");
    let message = r.json().unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains(field), "{field} not named in {message:?}");
}

async fn a_new_post_is_returned_with_its_location_and_can_be_read(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;

    // Act
    let r = app
        .create_post(&alice.token, json!({"body": "hello world"}))
        .await;

    // Assert
    assert_eq!(r.status, 201, "{}", r.text());
    let post = r.json().unwrap();
    let id = id_of(&post);
    assert_eq!(post["author"], json!({"id": alice.id, "username": "alice"}));
    assert_eq!(post["body"], "hello world");
    assert_eq!(post["reply_to"], Value::Null);
    assert_eq!(post["like_count"], 0);
    assert_eq!(post["reply_count"], 0);
    let created_at = post["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.contains('T'),
        "{created_at}"
    );
    let location = r.header("location").expect("a Location header");
    assert!(location.ends_with(&format!("/posts/{id}")), "{location}");
    assert_eq!(fetch(app, &id).await, post);
}
crate::both_modes!(a_new_post_is_returned_with_its_location_and_can_be_read);

async fn post_bodies_are_validated_and_bad_input_creates_nothing(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;

    // Act + Assert: each invalid body is a 422 naming `body`.
    let invalid = [
        ("empty", json!({"body": ""})),
        ("whitespace only", json!({"body": " \n\t "})),
        ("281 characters", json!({"body": "a".repeat(281)})),
        (
            "281 multi-byte characters",
            json!({"body": "é".repeat(281)}),
        ),
        ("missing", json!({})),
        ("null", json!({"body": null})),
    ];
    for (why, body) in invalid {
        let r = app.create_post(&alice.token, body).await;
        assert_eq!(r.status, 422, "{why}: {}", r.text());
        assert_invalid(&r, "body");
    }

    // Wrong JSON types and malformed JSON are 400s.
    let wrong_types = [
        json!({"body": 5}),
        json!({"body": ["a"]}),
        json!({"body": "ok", "reply_to": 7}),
        json!("just a string"),
    ];
    for body in wrong_types {
        let r = app.create_post(&alice.token, body.clone()).await;
        assert_error(&r, 400, "bad_request");
    }
    let r = app
        .send_raw(
            Svc::Post,
            Method::POST,
            "/posts",
            Some(&alice.token),
            b"{\"body\": ",
        )
        .await;
    assert_error(&r, 400, "bad_request");
    let r = app
        .send_raw(Svc::Post, Method::POST, "/posts", Some(&alice.token), b"")
        .await;
    assert_error(&r, 400, "bad_request");
    // Bodies over 64 KiB are refused before they are read as posts.
    let r = app
        .create_post(&alice.token, json!({"body": "a".repeat(70_000)}))
        .await;
    assert_error(&r, 413, "payload_too_large");
    assert_eq!(page_by(app, "alice", "").await["items"], json!([]));

    // 280 characters are fine, multi-byte ones too, kept exactly.
    for body in ["a".repeat(280), "é".repeat(280), "🦀".repeat(280)] {
        let post = app.post(&alice, &body).await;
        assert_eq!(post["body"], body.as_str());
    }
    assert_eq!(ids(&page_by(app, "alice", "").await).len(), 3);
}
crate::both_modes!(post_bodies_are_validated_and_bad_input_creates_nothing);

async fn replies_need_an_existing_parent_and_list_oldest_first(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let parent = id_of(&app.post(&alice, "parent").await);

    // Act + Assert: an unknown or malformed parent is a 422 naming reply_to.
    for reply_to in [UNKNOWN_ID, "not-an-id", ""] {
        let r = app
            .create_post(&bob.token, json!({"body": "hi", "reply_to": reply_to}))
            .await;
        assert_invalid(&r, "reply_to");
    }
    assert_eq!(page_by(app, "bob", "").await["items"], json!([]));

    // Replies count on the parent and list oldest first; `null` is no parent.
    let mut replies = Vec::new();
    for (who, text) in [(&bob, "first"), (&alice, "second"), (&bob, "third")] {
        let r = app
            .create_post(&who.token, json!({"body": text, "reply_to": parent}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let reply = r.json().unwrap();
        assert_eq!(reply["reply_to"], parent.as_str());
        replies.push(id_of(&reply));
    }
    let r = app
        .create_post(&bob.token, json!({"body": "top level", "reply_to": null}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json().unwrap()["reply_to"], Value::Null);
    assert_eq!(fetch(app, &parent).await["reply_count"], 3);
    let r = app.replies(&parent, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json().unwrap();
    assert_eq!(ids(&page), replies);
    assert_eq!(page["next_cursor"], Value::Null);

    // Paged: two, then the last one.
    let first = app.replies(&parent, "?limit=2").await.json().unwrap();
    assert_eq!(ids(&first), replies[..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .replies(&parent, &format!("?limit=2&cursor={cursor}"))
        .await
        .json()
        .unwrap();
    assert_eq!(ids(&rest), replies[2..]);

    // A reply can itself be replied to; a post without replies has none.
    let nested = app
        .create_post(
            &alice.token,
            json!({"body": "nested", "reply_to": replies[0]}),
        )
        .await;
    assert_eq!(nested.status, 201, "{}", nested.text());
    assert_eq!(fetch(app, &replies[0]).await["reply_count"], 1);
    assert_eq!(
        ids(&app.replies(&replies[2], "").await.json().unwrap()),
        Vec::<String>::new()
    );

    // Unknown posts have no replies page.
    assert_error(&app.replies(UNKNOWN_ID, "").await, 404, "not_found");
    assert_error(&app.replies("nope", "").await, 404, "not_found");
}
crate::both_modes!(replies_need_an_existing_parent_and_list_oldest_first);

async fn an_idempotency_key_replay_returns_the_first_post_and_creates_nothing(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    // Act: the same key twice, the second time even with another body.
    let first = create_with_key(app, &alice.token, "key-1", json!({"body": "once"})).await;
    let again = create_with_key(app, &alice.token, "key-1", json!({"body": "twice?"})).await;

    // Assert: the same post, created once.
    assert_eq!(first.status, 201, "{}", first.text());
    assert_eq!(again.status, 201, "{}", again.text());
    let post = first.json().unwrap();
    assert_eq!(again.json().unwrap(), post);
    assert_eq!(ids(&page_by(app, "alice", "").await), vec![id_of(&post)]);

    // Another key, or the same key from another user, creates a new post.
    let other_key = create_with_key(app, &alice.token, "key-2", json!({"body": "two"})).await;
    assert_eq!(other_key.status, 201);
    assert_ne!(id_of(&other_key.json().unwrap()), id_of(&post));
    let other_user = create_with_key(app, &bob.token, "key-1", json!({"body": "bob"})).await;
    assert_eq!(other_user.status, 201);
    assert_eq!(other_user.json().unwrap()["author"]["username"], "bob");
    assert_eq!(ids(&page_by(app, "alice", "").await).len(), 2);

    // The feed hears about the post once.
    app.settle().await;
    let feed = app.feed_ids(&alice).await;
    assert_eq!(feed.iter().filter(|id| **id == id_of(&post)).count(), 1);

    // A malformed key is a 422 naming the header, and creates nothing.
    let r = create_with_key(app, &alice.token, &"k".repeat(256), json!({"body": "x"})).await;
    assert_invalid(&r, "Idempotency-Key");
    // Invalid input with a fresh key is refused and does not use up the key.
    let r = create_with_key(app, &alice.token, "key-3", json!({"body": ""})).await;
    assert_invalid(&r, "body");
    let r = create_with_key(app, &alice.token, "key-3", json!({"body": "now valid"})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json().unwrap()["body"], "now valid");
    assert_eq!(ids(&page_by(app, "alice", "").await).len(), 3);
}
crate::both_modes!(an_idempotency_key_replay_returns_the_first_post_and_creates_nothing);

async fn only_the_author_deletes_a_post_and_it_leaves_its_parent(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let parent = id_of(&app.post(&alice, "parent").await);
    let reply = app
        .create_post(&bob.token, json!({"body": "reply", "reply_to": parent}))
        .await
        .json()
        .unwrap();
    let reply = id_of(&reply);
    assert_eq!(app.like(&alice.token, &reply).await.status, 204);
    assert_eq!(fetch(app, &parent).await["reply_count"], 1);

    // Act + Assert: someone else may not.
    assert_error(
        &app.delete_post(&alice.token, &reply).await,
        403,
        "forbidden",
    );
    assert_eq!(fetch(app, &reply).await["like_count"], 1);

    // The author may: the reply is gone everywhere.
    let r = app.delete_post(&bob.token, &reply).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_error(&app.get_post(&reply).await, 404, "not_found");
    assert_eq!(fetch(app, &parent).await["reply_count"], 0);
    assert_eq!(
        ids(&app.replies(&parent, "").await.json().unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(page_by(app, "bob", "").await["items"], json!([]));

    // Deleting again, or something that never existed, is a 404.
    assert_error(&app.delete_post(&bob.token, &reply).await, 404, "not_found");
    assert_error(
        &app.delete_post(&bob.token, UNKNOWN_ID).await,
        404,
        "not_found",
    );
    assert_error(&app.delete_post(&bob.token, "nope").await, 404, "not_found");

    // A deleted parent leaves its replies in place.
    let kept = app
        .create_post(&bob.token, json!({"body": "kept", "reply_to": parent}))
        .await
        .json()
        .unwrap();
    assert_eq!(app.delete_post(&alice.token, &parent).await.status, 204);
    assert_eq!(fetch(app, &id_of(&kept)).await["reply_to"], parent.as_str());

    // The feed hears of the deletion.
    app.settle().await;
    assert!(!app.feed_ids(&alice).await.contains(&parent));
}
crate::both_modes!(only_the_author_deletes_a_post_and_it_leaves_its_parent);

async fn likes_are_idempotent_and_counted_exactly(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = id_of(&app.post(&alice, "like me").await);

    // Act + Assert: liking twice counts once.
    for _ in 0..2 {
        let r = app.like(&bob.token, &post).await;
        assert_eq!(r.status, 204, "{}", r.text());
    }
    assert_eq!(fetch(app, &post).await["like_count"], 1);
    assert_eq!(app.like(&alice.token, &post).await.status, 204);
    assert_eq!(fetch(app, &post).await["like_count"], 2);

    // Unliking twice uncounts once; unliking without a like changes nothing.
    for _ in 0..2 {
        assert_eq!(app.unlike(&bob.token, &post).await.status, 204);
    }
    assert_eq!(fetch(app, &post).await["like_count"], 1);
    let carol = app.user("carol").await;
    assert_eq!(app.unlike(&carol.token, &post).await.status, 204);
    assert_eq!(fetch(app, &post).await["like_count"], 1);

    // Concurrent likes by the same user still count once.
    let url = format!("{}/posts/{post}/like", app.base(Svc::Post));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let req = Request::new(Method::PUT, url.clone())
            .header("authorization", format!("Bearer {}", carol.token));
        tasks.push(tokio::spawn(req.send()));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().status, 204);
    }
    assert_eq!(fetch(app, &post).await["like_count"], 2);

    // Unknown posts cannot be liked or unliked.
    for id in [UNKNOWN_ID, "nope"] {
        assert_error(&app.like(&bob.token, id).await, 404, "not_found");
        assert_error(&app.unlike(&bob.token, id).await, 404, "not_found");
    }
}
crate::both_modes!(likes_are_idempotent_and_counted_exactly);

async fn unknown_posts_are_not_found_and_unknown_methods_not_allowed(app: &TestApp) {
    for id in [UNKNOWN_ID, "nope", "1", "01jdq2z3x4y5z6a7b8c9d0efgh"] {
        assert_error(&app.get_post(id).await, 404, "not_found");
    }
    let alice = app.user("alice").await;
    let post = id_of(&app.post(&alice, "hi").await);
    let r = app
        .send(
            Svc::Post,
            Method::PATCH,
            &format!("/posts/{post}"),
            Some(&alice.token),
            Some(json!({"body": "x"})),
        )
        .await;
    assert_error(&r, 405, "method_not_allowed");
    let r = app
        .send(
            Svc::Post,
            Method::DELETE,
            "/posts",
            Some(&alice.token),
            None,
        )
        .await;
    assert_error(&r, 405, "method_not_allowed");
}
crate::both_modes!(unknown_posts_are_not_found_and_unknown_methods_not_allowed);

async fn a_users_posts_page_newest_first_with_cursor_and_link(app: &TestApp) {
    // Arrange: five posts by alice (a reply among them), one by bob.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut posted = Vec::new();
    for i in 0..4 {
        posted.push(id_of(&app.post(&alice, &format!("post {i}")).await));
    }
    let reply = app
        .create_post(
            &alice.token,
            json!({"body": "reply", "reply_to": posted[0]}),
        )
        .await;
    posted.push(id_of(&reply.json().unwrap()));
    app.post(&bob, "bob's").await;
    posted.reverse();

    // Act + Assert: the default page holds all five, newest first; the
    // username is looked up case-insensitively.
    let all = page_by(app, "alice", "").await;
    assert_eq!(ids(&all), posted);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(ids(&page_by(app, "ALICE", "").await), posted);

    // Pages of two via next_cursor and the Link header.
    let first = app.posts_by("alice", "&limit=2").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let link = first.header("link").expect("a Link header").to_string();
    let body = first.json().unwrap();
    assert_eq!(ids(&body), posted[..2]);
    let cursor = body["next_cursor"].as_str().unwrap();
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    assert!(
        link.contains("author=alice") && link.contains(&format!("cursor={cursor}")),
        "{link}"
    );
    let url = link.trim_start_matches('<').split('>').next().unwrap();
    let second = host::client::get(url).await.unwrap();
    assert_eq!(second.status, 200, "{}", second.text());
    let second = second.json().unwrap();
    assert_eq!(ids(&second), posted[2..4]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let last = app
        .posts_by("alice", &format!("&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(last.header("link"), None);
    let last = last.json().unwrap();
    assert_eq!(ids(&last), posted[4..]);
    assert_eq!(last["next_cursor"], Value::Null);

    // Someone without posts, or no one at all: an empty page.
    let carol = app.user("carol").await;
    let empty = json!({"items": [], "next_cursor": null});
    assert_eq!(page_by(app, &carol.username, "").await, empty);
    assert_eq!(page_by(app, "nobody", "").await, empty);

    // A missing author, a bad limit and a bad cursor are refused.
    let r = app.send(Svc::Post, Method::GET, "/posts", None, None).await;
    assert_invalid(&r, "author");
    assert_invalid(&app.posts_by("", "").await, "author");
    for limit in ["0", "101", "x"] {
        assert_invalid(
            &app.posts_by("alice", &format!("&limit={limit}")).await,
            "limit",
        );
    }
    assert_error(
        &app.posts_by("alice", "&cursor=garbage").await,
        400,
        "bad_request",
    );
    assert_error(
        &app.replies(&posted[4], "?cursor=garbage").await,
        400,
        "bad_request",
    );
}
crate::both_modes!(a_users_posts_page_newest_first_with_cursor_and_link);

async fn writes_need_a_valid_token_and_reads_do_not(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let post = id_of(&app.post(&alice, "hi").await);
    let like = format!("/posts/{post}/like");
    let one = format!("/posts/{post}");
    let writes = [
        (Method::POST, "/posts", Some(json!({"body": "x"}))),
        (Method::DELETE, one.as_str(), None),
        (Method::PUT, like.as_str(), None),
        (Method::DELETE, like.as_str(), None),
    ];

    // Act + Assert: no token, a garbage token, a tampered token: 401.
    // A changed signature byte (not the last character, whose low bits
    // base64 may ignore).
    let mut tampered: Vec<char> = alice.token.chars().collect();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for (method, path, body) in &writes {
        for token in [
            None,
            Some("garbage"),
            Some("a.b.c"),
            Some(tampered.as_str()),
        ] {
            let r = app
                .send(Svc::Post, method.clone(), path, token, body.clone())
                .await;
            assert_error(&r, 401, "unauthorized");
        }
    }
    let r = Request::new(Method::POST, format!("{}/posts", app.base(Svc::Post)))
        .header("authorization", format!("Basic {}", alice.token))
        .json(&json!({"body": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(&r, 401, "unauthorized");

    // Nothing changed, and reads need no token.
    let seen = fetch(app, &post).await;
    assert_eq!(seen["like_count"], 0);
    assert_eq!(ids(&page_by(app, "alice", "").await), vec![post.clone()]);
    assert_eq!(app.replies(&post, "").await.status, 200);
}
crate::both_modes!(writes_need_a_valid_token_and_reads_do_not);

async fn a_deleted_account_loses_its_posts_likes_and_write_access(app: &TestApp) {
    // Arrange: alice posts, likes and replies to bob's post; bob likes hers.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let hers = id_of(&app.post(&alice, "mine").await);
    let his = id_of(&app.post(&bob, "his").await);
    assert_eq!(app.like(&alice.token, &his).await.status, 204);
    assert_eq!(app.like(&bob.token, &hers).await.status, 204);
    let reply = app
        .create_post(&alice.token, json!({"body": "reply", "reply_to": his}))
        .await
        .json()
        .unwrap();
    let his_before = fetch(app, &his).await;
    assert_eq!(
        (
            his_before["like_count"].as_i64(),
            his_before["reply_count"].as_i64()
        ),
        (Some(1), Some(1))
    );

    // Act
    assert_eq!(app.delete_me(&alice.token).await.status, 204);
    app.settle().await;

    // Assert: her posts and replies are gone, and uncounted from bob's.
    eventually(|| async { app.get_post(&hers).await.status == 404 }).await;
    assert_error(&app.get_post(&id_of(&reply)).await, 404, "not_found");
    assert_eq!(page_by(app, "alice", "").await["items"], json!([]));
    let his_after = fetch(app, &his).await;
    assert_eq!(
        (
            his_after["like_count"].as_i64(),
            his_after["reply_count"].as_i64()
        ),
        (Some(0), Some(0))
    );
    // Her still unexpired token can no longer write.
    let r = app
        .create_post(&alice.token, json!({"body": "ghost"}))
        .await;
    assert_error(&r, 401, "unauthorized");
    assert_error(&app.like(&alice.token, &his).await, 401, "unauthorized");
    assert_eq!(fetch(app, &his).await["like_count"], 0);
    // Bob is unaffected.
    assert_eq!(app.like(&bob.token, &his).await.status, 204);
}
crate::both_modes!(a_deleted_account_loses_its_posts_likes_and_write_access);

async fn internal_routes_need_the_service_credential(app: &TestApp) {
    let alice = app.user("alice").await;
    let routes = [
        (
            Method::POST,
            "/internal/post/events",
            Some(json!({"events": []})),
        ),
        (Method::POST, "/internal/post/outbox/flush", None),
        (Method::GET, "/internal/post/posts?ids=", None),
    ];
    for (method, path, body) in routes {
        let r = internal(app, method.clone(), path, None, body.clone()).await;
        assert_error(&r, 401, "unauthorized");
        let r = internal(
            app,
            method.clone(),
            path,
            Some("wrong-credential"),
            body.clone(),
        )
        .await;
        assert_error(&r, 403, "forbidden");
        // A user's token is not the service credential.
        let r = internal(app, method, path, Some(&alice.token), body).await;
        assert_error(&r, 403, "forbidden");
    }
}
crate::both_modes!(internal_routes_need_the_service_credential);

async fn the_batch_route_returns_posts_in_the_order_asked(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let a = id_of(&app.post(&alice, "a").await);
    let b = id_of(&app.post(&alice, "b").await);
    let c = id_of(&app.post(&alice, "c").await);
    assert_eq!(app.delete_post(&alice.token, &b).await.status, 204);

    // Act
    let path = format!("/internal/post/posts?ids={c},{UNKNOWN_ID},{b},nope,{a}");
    let r = internal(app, Method::GET, &path, Some(CREDENTIAL), None).await;

    // Assert: asked order, unknown and deleted ids left out, whole Posts.
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json().unwrap();
    assert_eq!(ids(&body), vec![c.clone(), a.clone()]);
    assert_eq!(body["items"][1], fetch(app, &a).await);

    // No ids: no items. Over 100: a 422 naming ids. None at all: 422 too.
    let r = internal(
        app,
        Method::GET,
        "/internal/post/posts?ids=",
        Some(CREDENTIAL),
        None,
    )
    .await;
    assert_eq!(r.json().unwrap(), json!({"items": []}));
    let many = vec![a.as_str(); 101].join(",");
    let r = internal(
        app,
        Method::GET,
        &format!("/internal/post/posts?ids={many}"),
        Some(CREDENTIAL),
        None,
    )
    .await;
    assert_invalid(&r, "ids");
    let r = internal(
        app,
        Method::GET,
        "/internal/post/posts",
        Some(CREDENTIAL),
        None,
    )
    .await;
    assert_invalid(&r, "ids");
}
crate::both_modes!(the_batch_route_returns_posts_in_the_order_asked);

async fn events_are_applied_once_and_unknown_kinds_ignored(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let hers = id_of(&app.post(&alice, "hers").await);
    let his = id_of(&app.post(&bob, "his").await);
    let event = json!({"id": "01JDQ2Z3X4Y5Z6A7B8C9D0EFG1", "occurred_at": "2026-01-01T00:00:00.000Z",
        "payload": {"UserDeleted": {"user_id": alice.id}}});
    let ignored = json!({"id": "01JDQ2Z3X4Y5Z6A7B8C9D0EFG2", "occurred_at": "2026-01-01T00:00:00.000Z",
        "payload": {"FollowCreated": {"follower_id": alice.id, "followee_id": bob.id}}});
    let unknown = json!({"id": "01JDQ2Z3X4Y5Z6A7B8C9D0EFG3", "occurred_at": "2026-01-01T00:00:00.000Z",
        "payload": {"PostLiked": {"post_id": his}}});

    // Act: delivered twice, among events the post service does not use.
    for _ in 0..2 {
        let r = internal(
            app,
            Method::POST,
            "/internal/post/events",
            Some(CREDENTIAL),
            Some(json!({"events": [ignored, event, unknown]})),
        )
        .await;
        assert_eq!(r.status, 204, "{}", r.text());
    }

    // Assert
    assert_error(&app.get_post(&hers).await, 404, "not_found");
    assert_eq!(fetch(app, &his).await["id"], his.as_str());
    assert_error(
        &app.create_post(&alice.token, json!({"body": "x"})).await,
        401,
        "unauthorized",
    );

    // A body that is not a batch is a 400.
    let r = app
        .send_raw(
            Svc::Post,
            Method::POST,
            "/internal/post/events",
            Some(CREDENTIAL),
            b"{\"events\": 1}",
        )
        .await;
    assert_error(&r, 400, "bad_request");
}
crate::both_modes!(events_are_applied_once_and_unknown_kinds_ignored);

async fn flushing_and_health_report_undelivered_events(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    app.post(&alice, "hi").await;

    // Act
    let r = app.flush(Svc::Post).await;

    // Assert
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json().unwrap();
    for field in ["delivered", "failed", "pending"] {
        assert!(report[field].is_u64(), "{field} in {report}");
    }
    app.settle().await;
    let r = app.health(Svc::Post).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json().unwrap(),
        json!({"status": "ok", "service": "post", "store": "ok", "undelivered_events": 0})
    );
}
crate::both_modes!(flushing_and_health_report_undelivered_events);

async fn a_users_first_page_follows_each_change_at_once(app: &TestApp) {
    // Arrange: the first page is read, so it is cached.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let first = id_of(&app.post(&alice, "first").await);
    assert_eq!(
        ids(&app.posts_by("alice", "").await.json().unwrap()),
        vec![first.clone()]
    );

    // Act + Assert: each change shows in the very next read.
    let second = id_of(&app.post(&alice, "second").await);
    let read = app.posts_by("alice", "&limit=1").await.json().unwrap();
    assert_eq!(ids(&read), vec![second.clone()]);
    assert!(read["next_cursor"].is_string(), "{read}");
    assert_eq!(app.like(&bob.token, &first).await.status, 204);
    let read = app.posts_by("alice", "").await.json().unwrap();
    assert_eq!(read["items"][1]["like_count"], 1);
    let reply = app
        .create_post(&bob.token, json!({"body": "re", "reply_to": first}))
        .await;
    assert_eq!(reply.status, 201);
    let read = app.posts_by("alice", "").await.json().unwrap();
    assert_eq!(read["items"][1]["reply_count"], 1);
    assert_eq!(app.delete_post(&alice.token, &second).await.status, 204);
    assert_eq!(
        ids(&app.posts_by("alice", "").await.json().unwrap()),
        vec![first]
    );
}
crate::both_modes!(a_users_first_page_follows_each_change_at_once);

async fn the_first_read_of_a_cold_cache_warms_every_authors_first_page(app: &TestApp) {
    // Arrange: three authors have posted; nobody has read a page.
    let authors = [
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    ];
    for author in &authors {
        for i in 0..2 {
            app.post(author, &format!("{} {i}", author.username)).await;
        }
    }
    let warms = || app.stderr(Svc::Post).matches("post: warmed ").count();

    // Act: a read of alice's page misses on the cold cache.
    page_by(app, "alice", "").await;

    // Assert: every author's page was filled once; a post made afterwards
    // reaches the warmed pages, which stay what a fresh read shows.
    eventually(|| async { warms() == 1 }).await;
    assert!(app.stderr(Svc::Post).contains("post: warmed 3 first pages"));
    let newest = id_of(&app.post(&authors[1], "after the warm").await);
    for author in ["bob", "carol"] {
        let cached = page_by(app, author, "&limit=20").await;
        let fresh = page_by(app, author, "&limit=30").await;
        assert_eq!(cached, fresh, "{author}");
    }
    assert_eq!(ids(&page_by(app, "bob", "").await)[0], newest);
    page_by(app, "nobody-posted", "").await;
    assert_eq!(warms(), 1);
}
crate::both_modes!(the_first_read_of_a_cold_cache_warms_every_authors_first_page);

async fn a_cached_first_page_gains_new_posts_as_a_fresh_read_shows_them(app: &TestApp) {
    // Arrange: alice's first page is read once (cached).
    let alice = app.user("alice").await;
    let early = id_of(&app.post(&alice, "early").await);
    assert_eq!(ids(&page_by(app, "alice", "&limit=5").await), vec![early]);

    // Act: more posts than a page holds, some of them at the same time.
    for i in 0..16 {
        app.post(&alice, &format!("later {i}")).await;
    }
    let mut together = tokio::task::JoinSet::new();
    for i in 0..8 {
        together.spawn(
            Request::new(Method::POST, format!("{}/posts", app.base(Svc::Post)))
                .header("authorization", format!("Bearer {}", alice.token))
                .json(&json!({"body": format!("together {i}")}))
                .send(),
        );
    }
    for done in together.join_all().await {
        let r = done.expect("request failed");
        assert_eq!(r.status, 201, "{}", r.text());
    }

    // Assert: the cached first page is exactly what a page read afresh (a
    // larger one, which the cached entry cannot serve) shows, cursor
    // included.
    let cached = page_by(app, "alice", "&limit=20").await;
    let fresh = page_by(app, "alice", "&limit=30").await;
    assert_eq!(ids(&fresh).len(), 25);
    assert_first_page_is_fresh(&cached, &fresh, "");
    let cursor = cached["next_cursor"].as_str().unwrap();
    let rest = page_by(app, "alice", &format!("&limit=30&cursor={cursor}")).await;
    assert_eq!(ids(&rest), ids(&fresh)[20..].to_vec());
    // A post deleted afterwards leaves the cached page too.
    let newest = ids(&fresh);
    assert_eq!(app.delete_post(&alice.token, &newest[1]).await.status, 204);
    let after = ids(&page_by(app, "alice", "&limit=20").await);
    assert_eq!(
        after[..3],
        [newest[0].clone(), newest[2].clone(), newest[3].clone()]
    );
}
crate::both_modes!(a_cached_first_page_gains_new_posts_as_a_fresh_read_shows_them);

async fn pages_read_while_posts_arrive_end_as_a_fresh_read_shows_them(app: &TestApp) {
    // Arrange: alice has a page's worth of posts; a delete leaves her page
    // uncached, so the reads below miss and fill while posts commit.
    let alice = app.user("alice").await;
    for i in 0..20 {
        app.post(&alice, &format!("early {i}")).await;
    }

    for round in 0..3 {
        let gone = id_of(&app.post(&alice, "gone").await);
        assert_eq!(
            page_by(app, "alice", "&limit=20").await["items"][0]["id"],
            gone
        );
        assert_eq!(app.delete_post(&alice.token, &gone).await.status, 204);
        // Act: posts and first-page reads at the same time.
        let first_page = format!("{}/posts?author=alice&limit=20", app.base(Svc::Post));
        all_at_once(
            (0..6)
                .flat_map(|i| {
                    [
                        app.post_request(&alice, &format!("round {round} post {i}")),
                        Request::new(Method::GET, first_page.clone()),
                    ]
                })
                .collect(),
        )
        .await;

        // Assert: the cached first page is what a page read afresh shows.
        let cached = page_by(app, "alice", "&limit=20").await;
        let fresh = page_by(app, "alice", "&limit=30").await;
        assert_first_page_is_fresh(&cached, &fresh, &format!("round {round}"));
    }
}
crate::both_modes!(pages_read_while_posts_arrive_end_as_a_fresh_read_shows_them);
