//! The feed service: home timelines built from events, read with `GET /feed`.
//! (Trimming to the newest 800 is covered by the feed crate's unit tests,
//! which run the same SQL against SQLite; 800 posts are too slow here.)

use crate::helpers::*;
use host::client::Request;
use http::Method;
use serde_json::{Value, json};

/// `user`'s feed page for `query`, asserting 200.
async fn feed_page(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let r = app.feed(&user.token, query).await;
    assert_eq!(r.status, 200, "feed{query}: {}", r.text());
    r.json().unwrap()
}

/// Posts an event batch to the feed with `token` as the bearer.
async fn send_events(app: &TestApp, token: Option<&str>, events: Value) -> host::client::Response {
    app.send(
        Svc::Feed,
        Method::POST,
        "/internal/feed/events",
        token,
        Some(json!({ "events": events })),
    )
    .await
}

async fn own_posts_and_followed_posts_appear_newest_first(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;

    // Act
    let a1 = id_of(&app.post(&alice, "alice one").await);
    let b1 = id_of(&app.post(&bob, "bob one").await);
    let a2 = id_of(&app.post(&alice, "alice two").await);
    app.settle().await;

    // Assert: bob sees alice's posts and his own; alice only hers; carol none.
    assert_eq!(app.feed_ids(&bob).await, vec![a2.clone(), b1, a1.clone()]);
    assert_eq!(app.feed_ids(&alice).await, vec![a2, a1]);
    let empty = feed_page(app, &carol, "").await;
    assert_eq!(empty, json!({"items": [], "next_cursor": null}));
    // Items are whole Posts, as the post service shows them.
    let page = feed_page(app, &bob, "").await;
    let newest = &page["items"][0];
    assert_eq!(newest["body"], "alice two");
    assert_eq!(newest["author"]["username"], "alice");
    assert_eq!(newest["author"]["id"], alice.id.as_str());
    assert_eq!(newest["reply_to"], Value::Null);
    assert_eq!(
        (
            newest["like_count"].as_i64(),
            newest["reply_count"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert!(newest["created_at"].is_string());
}
crate::both_modes!(own_posts_and_followed_posts_appear_newest_first);

async fn a_cached_first_page_gains_new_posts_as_a_fresh_read_shows_them(app: &TestApp) {
    // Arrange: bob follows alice and reads his first page once (cached).
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    for i in 0..3 {
        app.post(&alice, &format!("early {i}")).await;
    }
    app.settle().await;
    assert_eq!(
        feed_page(app, &bob, "?limit=5").await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Act: more posts than a page holds, from both.
    let mut newest = Vec::new();
    for i in 0..24 {
        newest.push(id_of(&app.post(&alice, &format!("later {i}")).await));
    }
    newest.push(id_of(&app.post(&bob, "bob's own").await));
    app.settle().await;

    // Assert: the first pages hold the newest posts, exactly as a page read
    // afresh from the store (a larger one, which the cached entry cannot
    // serve) renders them, cursor included.
    newest.reverse();
    let five = feed_page(app, &bob, "?limit=5").await;
    assert_eq!(ids(&five), newest[..5].to_vec());
    let cached = feed_page(app, &bob, "?limit=20").await;
    let fresh = feed_page(app, &bob, "?limit=30").await;
    assert_eq!(ids(&fresh).len(), 28);
    assert_first_page_is_fresh(&cached, &fresh, "");
    let cursor = cached["next_cursor"].as_str().unwrap();
    let rest = feed_page(app, &bob, &format!("?limit=30&cursor={cursor}")).await;
    assert_eq!(ids(&rest), ids(&fresh)[20..].to_vec());
    // A post deleted afterwards leaves the cached page too.
    assert_eq!(app.delete_post(&alice.token, &newest[1]).await.status, 204);
    app.settle().await;
    let after = ids(&feed_page(app, &bob, "?limit=20").await);
    assert!(!after.contains(&newest[1]));
    assert_eq!(
        after[..3],
        [newest[0].clone(), newest[2].clone(), newest[3].clone()]
    );
}
crate::both_modes!(a_cached_first_page_gains_new_posts_as_a_fresh_read_shows_them);

async fn a_page_read_while_posts_are_delivered_ends_as_a_fresh_read_shows_it(app: &TestApp) {
    // Arrange: bob follows alice, who has a page's worth of posts.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    for i in 0..20 {
        app.post(&alice, &format!("early {i}")).await;
    }
    app.settle().await;

    for round in 0..3 {
        // A delete drops bob's page, so the reads below miss and fill while
        // the new posts are delivered.
        let gone = id_of(&app.post(&alice, "gone").await);
        app.settle().await;
        assert_eq!(app.delete_post(&alice.token, &gone).await.status, 204);
        app.settle().await;

        // Act: posts and first-page reads at the same time.
        let first_page = format!("{}/feed?limit=20", app.base(Svc::Feed));
        all_at_once(
            (0..6)
                .flat_map(|i| {
                    [
                        app.post_request(&alice, &format!("round {round} post {i}")),
                        Request::new(Method::GET, first_page.clone())
                            .header("authorization", format!("Bearer {}", bob.token)),
                    ]
                })
                .collect(),
        )
        .await;
        app.settle().await;

        // Assert: the cached first page is what a page read afresh shows.
        let cached = feed_page(app, &bob, "?limit=20").await;
        let fresh = feed_page(app, &bob, "?limit=30").await;
        assert_first_page_is_fresh(&cached, &fresh, &format!("round {round}"));
    }
}
crate::both_modes!(a_page_read_while_posts_are_delivered_ends_as_a_fresh_read_shows_it);

async fn posts_written_while_a_deliverer_is_at_work_reach_the_feed_with_no_flush(app: &TestApp) {
    // Arrange: bob follows alice.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;

    // Act: thirty posts at once. Most find the first one's deliverer at
    // work and leave their events to it; nobody flushes or checks health,
    // which would deliver too.
    all_at_once(
        (0..30)
            .map(|i| app.post_request(&alice, &format!("together {i}")))
            .collect(),
    )
    .await;

    // Assert: bob's feed comes to hold every post, each once.
    let mut written = ids(&ok_json(&app.posts_by("alice", "&limit=100").await));
    assert_eq!(written.len(), 30);
    eventually(|| async { app.feed_ids(&bob).await.len() >= 30 }).await;
    let mut entries = app.feed_ids(&bob).await;
    entries.sort();
    written.sort();
    assert_eq!(entries, written);
}
crate::both_modes!(posts_written_while_a_deliverer_is_at_work_reach_the_feed_with_no_flush);

async fn the_first_read_of_a_cold_cache_warms_every_readers_first_page(app: &TestApp) {
    // Arrange: bob and carol follow alice, who posts; nobody has read a feed.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    for reader in [&bob, &carol] {
        assert_eq!(app.follow(&reader.token, "alice").await.status, 204);
    }
    for i in 0..3 {
        app.post(&alice, &format!("before {i}")).await;
    }
    app.settle().await;
    let warms = || app.stderr(Svc::Feed).matches("feed: warmed ").count();

    // Act: alice's read misses on the cold cache.
    feed_page(app, &alice, "").await;

    // Assert: after the response, every reader's page was filled; a post
    // made afterwards reaches the warmed pages, which stay what a fresh read
    // shows; a later miss does not warm again while the turn is held.
    eventually(|| async { warms() == 1 }).await;
    assert!(app.stderr(Svc::Feed).contains("feed: warmed 3 first pages"));
    let newest = id_of(&app.post(&alice, "after the warm").await);
    app.settle().await;
    for reader in [&bob, &carol] {
        let cached = feed_page(app, reader, "?limit=20").await;
        let fresh = feed_page(app, reader, "?limit=30").await;
        assert_eq!(cached, fresh, "{}", reader.username);
        assert_eq!(ids(&cached).len(), 4);
        assert_eq!(ids(&cached)[0], newest);
    }
    let dave = app.user("dave").await;
    app.post(&dave, "dave's own").await;
    app.settle().await;
    feed_page(app, &dave, "").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(warms(), 1);
}
crate::both_modes!(the_first_read_of_a_cold_cache_warms_every_readers_first_page);

async fn a_lone_readers_cached_page_gains_their_own_posts(app: &TestApp) {
    // Arrange: a user nobody follows reads their first page (cached), so a
    // post of theirs reaches exactly one cached page. (Spin's Redis store
    // panics on a get-many of one key that exists.)
    let alice = app.user("alice").await;
    let first = id_of(&app.post(&alice, "first").await);
    app.settle().await;
    assert_eq!(ids(&feed_page(app, &alice, "").await), vec![first.clone()]);

    // Act: two more posts, each delivered on its own.
    let second = id_of(&app.post(&alice, "second").await);
    app.settle().await;
    let third = id_of(&app.post(&alice, "third").await);
    app.settle().await;

    // Assert
    assert_eq!(
        ids(&feed_page(app, &alice, "").await),
        vec![third, second, first]
    );
}
crate::both_modes!(a_lone_readers_cached_page_gains_their_own_posts);

async fn following_backfills_recent_posts_and_unfollowing_removes_them(app: &TestApp) {
    // Arrange: alice has posted before bob follows her.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let a1 = id_of(&app.post(&alice, "before one").await);
    let a2 = id_of(&app.post(&alice, "before two").await);
    let b1 = id_of(&app.post(&bob, "bob's own").await);
    app.settle().await;
    assert_eq!(app.feed_ids(&bob).await, vec![b1.clone()]);

    // Act: follow brings her recent posts in, new ones arrive too.
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;
    assert_eq!(
        app.feed_ids(&bob).await,
        vec![b1.clone(), a2.clone(), a1.clone()]
    );
    let a3 = id_of(&app.post(&alice, "after").await);
    app.settle().await;
    assert_eq!(app.feed_ids(&bob).await, vec![a3, b1.clone(), a2, a1]);

    // Act: unfollowing removes all of hers and keeps his.
    assert_eq!(app.unfollow(&bob.token, "alice").await.status, 204);
    app.settle().await;
    assert_eq!(app.feed_ids(&bob).await, vec![b1.clone()]);
    app.post(&alice, "unseen").await;
    app.settle().await;
    assert_eq!(app.feed_ids(&bob).await, vec![b1]);
}
crate::both_modes!(following_backfills_recent_posts_and_unfollowing_removes_them);

async fn deleted_posts_disappear_from_every_feed(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;
    let a1 = id_of(&app.post(&alice, "keep").await);
    let a2 = id_of(&app.post(&alice, "delete me").await);
    app.settle().await;
    assert_eq!(app.feed_ids(&bob).await, vec![a2.clone(), a1.clone()]);

    // Act
    assert_eq!(app.delete_post(&alice.token, &a2).await.status, 204);

    // Assert: gone once the event has reached the feed.
    app.settle().await;
    assert_eq!(app.feed_ids(&bob).await, vec![a1.clone()]);
    assert_eq!(app.feed_ids(&alice).await, vec![a1]);
}
crate::both_modes!(deleted_posts_disappear_from_every_feed);

async fn a_deleted_accounts_posts_disappear_from_followers_feeds(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    assert_eq!(app.follow(&alice.token, "bob").await.status, 204);
    app.settle().await;
    app.post(&alice, "alice one").await;
    app.post(&alice, "alice two").await;
    let b1 = id_of(&app.post(&bob, "bob one").await);
    app.settle().await;
    assert_eq!(app.feed_ids(&bob).await.len(), 3);

    // Act
    assert_eq!(app.delete_me(&alice.token).await.status, 204);
    app.settle().await;

    // Assert: bob keeps only his own; alice's timeline is gone too.
    assert_eq!(app.feed_ids(&bob).await, vec![b1]);
    let r = app.feed(&alice.token, "").await;
    if r.status == 200 {
        assert!(ids(&r.json().unwrap()).is_empty());
    } else {
        assert_error(&r, 401, "unauthorized");
    }
}
crate::both_modes!(a_deleted_accounts_posts_disappear_from_followers_feeds);

async fn pages_follow_the_cursor_and_the_link_header(app: &TestApp) {
    // Arrange: five posts.
    let alice = app.user("alice").await;
    let mut posted = Vec::new();
    for i in 0..5 {
        posted.push(id_of(&app.post(&alice, &format!("post {i}")).await));
    }
    app.settle().await;
    posted.reverse();

    // Act + Assert: pages of two, newest first, via next_cursor.
    let first = app.feed(&alice.token, "?limit=2").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let link = first.header("link").expect("a Link header").to_string();
    let body = first.json().unwrap();
    assert_eq!(ids(&body), posted[..2]);
    let cursor = body["next_cursor"].as_str().unwrap();
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    assert!(
        link.contains("limit=2") && link.contains(&format!("cursor={cursor}")),
        "{link}"
    );
    let second = feed_page(app, &alice, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), posted[2..4]);

    // The Link header's URL works as is.
    let url = link.trim_start_matches('<').split('>').next().unwrap();
    let via_link = Request::new(Method::GET, url)
        .header("authorization", format!("Bearer {}", alice.token))
        .send()
        .await
        .unwrap();
    assert_eq!(via_link.status, 200, "{}", via_link.text());
    assert_eq!(ids(&via_link.json().unwrap()), posted[2..4]);

    // The last page has no cursor and no Link.
    let cursor = second["next_cursor"].as_str().unwrap();
    let last = app
        .feed(&alice.token, &format!("?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(last.header("link"), None);
    let last = last.json().unwrap();
    assert_eq!(ids(&last), posted[4..]);
    assert_eq!(last["next_cursor"], Value::Null);

    // The default page holds all five, newest first.
    assert_eq!(ids(&feed_page(app, &alice, "").await), posted);
}
crate::both_modes!(pages_follow_the_cursor_and_the_link_header);

async fn the_feed_requires_a_valid_token(app: &TestApp) {
    let alice = app.user("alice").await;
    let r = app.send(Svc::Feed, Method::GET, "/feed", None, None).await;
    assert_error(&r, 401, "unauthorized");
    for bad in ["not-a-token", "a.b.c"] {
        assert_error(&app.feed(bad, "").await, 401, "unauthorized");
    }
    // alice's token with its signature altered.
    let (head, signature) = alice.token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{head}.{flipped}{}", &signature[1..]);
    assert_error(&app.feed(&forged, "").await, 401, "unauthorized");
    assert_eq!(app.feed(&alice.token, "").await.status, 200);
}
crate::both_modes!(the_feed_requires_a_valid_token);

async fn bad_paging_parameters_are_rejected(app: &TestApp) {
    let alice = app.user("alice").await;
    for limit in ["0", "101", "-1", "ten", ""] {
        let r = app.feed(&alice.token, &format!("?limit={limit}")).await;
        assert_error(&r, 422, "validation_failed");
        assert!(
            r.json().unwrap()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("limit")
        );
    }
    // Garbage, and a well-formed cursor whose key is not a post id ("c1:nope").
    for cursor in ["garbage!", "YzE6bm9wZQ"] {
        let r = app.feed(&alice.token, &format!("?cursor={cursor}")).await;
        assert_error(&r, 400, "bad_request");
    }
    let r = app
        .send(Svc::Feed, Method::POST, "/feed", Some(&alice.token), None)
        .await;
    assert_error(&r, 405, "method_not_allowed");
}
crate::both_modes!(bad_paging_parameters_are_rejected);

async fn redelivered_events_never_duplicate_entries(app: &TestApp) {
    // Arrange: alice's post has reached her feed; bob does not follow her.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.post(&alice, "once only").await;
    let post_id = id_of(&post);
    app.settle().await;
    let events = json!([
        {"id": "e2e-follow-1", "occurred_at": "2026-01-01T00:00:00.000Z",
         "payload": {"FollowCreated": {"follower_id": bob.id, "followee_id": alice.id}}},
        {"id": "e2e-post-1", "occurred_at": "2026-01-01T00:00:00.000Z",
         "payload": {"PostCreated": {"post_id": post_id, "author_id": alice.id,
                                     "created_at": post["created_at"], "reply_to": null}}},
        {"id": "e2e-post-1", "occurred_at": "2026-01-01T00:00:00.000Z",
         "payload": {"PostCreated": {"post_id": post_id, "author_id": alice.id,
                                     "created_at": post["created_at"], "reply_to": null}}},
    ]);

    // Act: the same batch twice, with one event repeated inside it.
    for _ in 0..2 {
        let r = send_events(app, Some(CREDENTIAL), events.clone()).await;
        assert_eq!(r.status, 204, "{}", r.text());
    }

    // Assert: one entry each.
    assert_eq!(app.feed_ids(&bob).await, vec![post_id.clone()]);
    assert_eq!(app.feed_ids(&alice).await, vec![post_id]);
}
crate::both_modes!(redelivered_events_never_duplicate_entries);

/// With `event_retention_seconds` at 1, applied-event ids and tombstones
/// are forgotten a second after they were written, so however many events
/// flow, the feed keeps only the last second's.
async fn applied_events_and_tombstones_are_forgotten_after_the_retention(mode: Mode) {
    // Arrange
    let app = TestApp::spawn_with(mode, &[("event_retention_seconds", "1")]).await;
    let alice = app.user("alice").await;
    let flush_feed = || async {
        let r = app.flush(Svc::Feed).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json().unwrap()["pruned"].as_i64().unwrap()
    };
    for round in 0..3 {
        // Act: ten events and one tombstone, then a little over the retention.
        let events: Vec<Value> = (0..10)
            .map(|i| {
                json!({"id": format!("e2e-r{round}-{i}"), "occurred_at": "2026-01-01T00:00:00.000Z",
                       "payload": {"PostDeleted": {"post_id": format!("01JDQ2Z3X4Y5Z6A7B8C9D0EF{round}{i}"),
                                                   "author_id": alice.id}}})
            })
            .collect();
        let r = send_events(&app, Some(CREDENTIAL), json!(events)).await;
        assert_eq!(r.status, 204, "{}", r.text());
        // Inside the retention a repeat is still recognised.
        let r = send_events(&app, Some(CREDENTIAL), json!(events)).await;
        assert_eq!(r.status, 204, "{}", r.text());
        tokio::time::sleep(std::time::Duration::from_millis(1_300)).await;

        // Assert: this round's ten ids and ten tombstones are forgotten;
        // earlier rounds' went already.
        assert_eq!(flush_feed().await, 20, "round {round}");
    }
    assert_eq!(flush_feed().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn applied_events_and_tombstones_are_forgotten_after_the_retention_as_one_application() {
    applied_events_and_tombstones_are_forgotten_after_the_retention(Mode::OneApp).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn applied_events_and_tombstones_are_forgotten_after_the_retention_as_three_instances() {
    applied_events_and_tombstones_are_forgotten_after_the_retention(Mode::ThreeInstances).await;
}

async fn a_follow_delivered_after_its_unfollow_stays_undone(app: &TestApp) {
    // Arrange: alice has a post; bob does not follow her.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.post(&alice, "not for bob").await;
    app.settle().await;
    let pair = json!({"follower_id": bob.id, "followee_id": alice.id});
    let follow = json!({"id": "e2e-1", "occurred_at": "2026-01-01T00:00:00.000Z",
                        "payload": {"FollowCreated": pair}});
    let unfollow = json!({"id": "e2e-2", "occurred_at": "2026-01-01T00:00:01.000Z",
                          "payload": {"FollowDeleted": pair}});

    // Act: the unfollow overtakes the follow it undoes.
    for event in [unfollow, follow] {
        let r = send_events(app, Some(CREDENTIAL), json!([event])).await;
        assert_eq!(r.status, 204, "{}", r.text());
    }

    // Assert
    assert!(app.feed_ids(&bob).await.is_empty());
}
crate::both_modes!(a_follow_delivered_after_its_unfollow_stays_undone);

async fn internal_routes_require_the_service_credential(app: &TestApp) {
    let alice = app.user("alice").await;
    for path in ["/internal/feed/events", "/internal/feed/outbox/flush"] {
        let body = Some(json!({"events": []}));
        let r = app
            .send(Svc::Feed, Method::POST, path, None, body.clone())
            .await;
        assert_error(&r, 401, "unauthorized");
        let r = app
            .send(Svc::Feed, Method::POST, path, Some("wrong"), body.clone())
            .await;
        assert_error(&r, 403, "forbidden");
        // A user's token is no service credential either.
        let r = app
            .send(Svc::Feed, Method::POST, path, Some(&alice.token), body)
            .await;
        assert_error(&r, 403, "forbidden");
    }
    let flush = app.flush(Svc::Feed).await;
    assert_eq!(flush.status, 200, "{}", flush.text());
    assert_eq!(
        flush.json().unwrap(),
        json!({"delivered": 0, "failed": 0, "pending": 0, "pruned": 0})
    );
    let r = send_events(app, Some(CREDENTIAL), json!([])).await;
    assert_eq!(r.status, 204, "{}", r.text());
    // A kind of event the feed does not know is accepted and ignored.
    let unknown = json!([{"id": "e2e-unknown", "occurred_at": "2026-01-01T00:00:00.000Z",
                          "payload": {"PostLiked": {"post_id": "x"}}}]);
    let r = send_events(app, Some(CREDENTIAL), unknown).await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = app
        .send_raw(
            Svc::Feed,
            Method::POST,
            "/internal/feed/events",
            Some(CREDENTIAL),
            b"{not json",
        )
        .await;
    assert_error(&r, 400, "bad_request");
    let r = app
        .send(
            Svc::Feed,
            Method::POST,
            "/internal/feed/events",
            Some(CREDENTIAL),
            Some(json!({"events": 1})),
        )
        .await;
    assert_error(&r, 400, "bad_request");
}
crate::both_modes!(internal_routes_require_the_service_credential);

async fn health_reports_the_store_and_undelivered_events(app: &TestApp) {
    let r = app.health(Svc::Feed).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json().unwrap(),
        json!({"status": "ok", "service": "feed", "store": "ok", "undelivered_events": 0})
    );
}
crate::both_modes!(health_reports_the_store_and_undelivered_events);

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_keeps_serving_while_the_post_service_is_down() {
    // Arrange
    let mut app = TestApp::spawn(Mode::ThreeInstances).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;
    let post_id = id_of(&app.post(&alice, "hello").await);
    assert_eq!(app.like(&bob.token, &post_id).await.status, 204);
    app.settle().await;

    // Act
    app.stop(Svc::Post).await;

    // Assert: the feed answers from its own copy, counts included.
    let page = feed_page(&app, &bob, "").await;
    assert_eq!(ids(&page), vec![post_id]);
    assert_eq!(page["items"][0]["body"], "hello");
    assert_eq!(page["items"][0]["like_count"], 1);
}

async fn counts_in_the_feed_follow_likes_and_replies(app: &TestApp) {
    // Arrange
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;
    let post_id = id_of(&app.post(&alice, "count me").await);
    let counts = |page: &Value| {
        let item = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == post_id.as_str())
            .cloned()
            .unwrap();
        (item["like_count"].as_i64(), item["reply_count"].as_i64())
    };

    // Act: a like and a reply.
    assert_eq!(app.like(&bob.token, &post_id).await.status, 204);
    let reply = app
        .create_post(&bob.token, json!({"body": "re", "reply_to": post_id}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    app.settle().await;

    // Assert: the feed's copy has the post service's counts.
    assert_eq!(counts(&feed_page(app, &bob, "").await), (Some(1), Some(1)));

    // Act: both taken back.
    assert_eq!(app.unlike(&bob.token, &post_id).await.status, 204);
    let reply_id = id_of(&reply.json().unwrap());
    assert_eq!(app.delete_post(&bob.token, &reply_id).await.status, 204);
    app.settle().await;

    // Assert
    assert_eq!(
        counts(&feed_page(app, &alice, "").await),
        (Some(0), Some(0))
    );
}
crate::both_modes!(counts_in_the_feed_follow_likes_and_replies);

/// With `feed_fanout_limit` at 2, an author with 3 followers is popular:
/// their posts are read by the followers' feeds, not copied into them.
async fn a_popular_authors_posts_reach_every_follower(mode: Mode) {
    // Arrange
    let app = TestApp::spawn_with(mode, &[("feed_fanout_limit", "2")]).await;
    let star = app.user("star").await;
    let mut fans = Vec::new();
    for name in ["fan_a", "fan_b", "fan_c"] {
        let fan = app.user(name).await;
        assert_eq!(app.follow(&fan.token, "star").await.status, 204);
        fans.push(fan);
    }
    app.settle().await;

    // Act
    let p1 = id_of(&app.post(&star, "to all my fans").await);
    let own = id_of(&app.post(&fans[0], "a fan's own").await);
    app.settle().await;

    // Assert: everyone sees it once, in order with their own posts.
    assert_eq!(app.feed_ids(&fans[0]).await, vec![own, p1.clone()]);
    for reader in [&star, &fans[1], &fans[2]] {
        assert_eq!(app.feed_ids(reader).await, vec![p1.clone()]);
    }
    // A new follower sees it at once; one who leaves does not; a deleted
    // post is gone for all.
    let late = app.user("late_fan").await;
    assert_eq!(app.follow(&late.token, "star").await.status, 204);
    assert_eq!(app.unfollow(&fans[1].token, "star").await.status, 204);
    app.settle().await;
    assert_eq!(app.feed_ids(&late).await, vec![p1.clone()]);
    assert!(app.feed_ids(&fans[1]).await.is_empty());
    assert_eq!(app.delete_post(&star.token, &p1).await.status, 204);
    app.settle().await;
    assert!(app.feed_ids(&fans[2]).await.is_empty());
}

async fn a_delivered_batch_is_copied_into_the_database_file_by_the_request(app: &TestApp) {
    // Only local stores have a file to look into.
    let Some(file) = app.database_file("feed") else {
        eprintln!("skipped: the stores are networked");
        return;
    };
    // Arrange: another connection keeps the log open, as a concurrent reader
    // would, so that closing the batch's connection does not checkpoint it.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;
    let keeper = rusqlite::Connection::open(&file).unwrap();
    let _: i64 = keeper
        .query_row("SELECT count(*) FROM timeline", [], |r| r.get(0))
        .unwrap();

    // Act
    let post = id_of(&app.post(&alice, "into the file").await);
    app.settle().await;

    // Assert: the database file itself (read without its log) holds bob's
    // entry, copied there by the request that applied the batch.
    let uri = format!("file:{}?immutable=1", file.display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    eventually(|| async {
        let file_only = rusqlite::Connection::open_with_flags(&uri, flags).unwrap();
        file_only
            .query_row(
                "SELECT count(*) FROM timeline WHERE user_id = ?1 AND post_id = ?2",
                [&bob.id, &post],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 1
    })
    .await;
    drop(keeper);
}
crate::both_modes!(a_delivered_batch_is_copied_into_the_database_file_by_the_request);

#[tokio::test(flavor = "multi_thread")]
async fn a_popular_authors_posts_reach_every_follower_as_one_application() {
    a_popular_authors_posts_reach_every_follower(Mode::OneApp).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_popular_authors_posts_reach_every_follower_as_three_instances() {
    a_popular_authors_posts_reach_every_follower(Mode::ThreeInstances).await;
}
