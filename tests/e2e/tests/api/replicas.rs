//! Races that replicas of a service sharing its store must survive: several
//! deliverers on one outbox, one batch at several receivers, counters and
//! follows written through every instance at once. Each test sends to every
//! replica in turn, so with `REPLICAS=2 STORES=libsql` (under Spin) the races
//! are between instances; in the other modes the same races run inside one
//! instance per service.

use crate::helpers::*;
use host::client::{Request, Response};
use http::Method;
use serde_json::json;
use std::future::Future;

/// Runs every request at once and asserts each answered `status`.
async fn all_at_once<F>(requests: Vec<F>, status: u16)
where
    F: Future<Output = anyhow::Result<Response>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for request in requests {
        tasks.spawn(request);
    }
    while let Some(done) = tasks.join_next().await {
        let r = done.unwrap().expect("request failed");
        assert_eq!(r.status, status, "{}", r.text());
    }
}

/// A request with a bearer token to `path` of the next instance of `svc`.
fn request(app: &TestApp, svc: Svc, method: Method, path: &str, token: &str) -> Request {
    Request::new(method, format!("{}{path}", app.base(svc)))
        .header("authorization", format!("Bearer {token}"))
}

/// Registers `n` users named `{prefix}{i}`.
async fn users(app: &TestApp, prefix: &str, n: usize) -> Vec<TestUser> {
    let mut users = Vec::new();
    for i in 0..n {
        users.push(app.user(&format!("{prefix}{i}")).await);
    }
    users
}

/// The ids of `user`'s whole feed (at most 100 entries), duplicates kept.
async fn feed_entries(app: &TestApp, user: &TestUser) -> Vec<String> {
    ids(&ok_json(&app.feed(&user.token, "?limit=100").await))
}

async fn racing_deliverers_bring_every_post_to_every_follower_exactly_once(app: &TestApp) {
    // Arrange: eight followers of one author.
    let author = app.user("author").await;
    let followers = users(app, "reader", 8).await;
    for f in &followers {
        assert_eq!(app.follow(&f.token, "author").await.status, 204);
    }
    app.settle().await;

    // Act: forty posts at once through every post instance, while every post
    // instance is told to flush and health-checked (which also delivers), so
    // several deliverers race for the same outbox.
    let posts = (0..40)
        .map(|i| {
            request(app, Svc::Post, Method::POST, "/posts", &author.token)
                .json(&json!({ "body": format!("post {i}") }))
                .send()
        })
        .collect();
    let mut deliverers = Vec::new();
    for _ in 0..5 {
        for base in app.replicas(Svc::Post) {
            deliverers.push(
                Request::new(Method::POST, format!("{base}/internal/post/outbox/flush"))
                    .header("authorization", format!("Bearer {CREDENTIAL}"))
                    .send(),
            );
            deliverers.push(Request::new(Method::GET, format!("{base}/health/post")).send());
        }
    }
    let (_, flushes) = tokio::join!(all_at_once(posts, 201), async {
        let mut tasks = tokio::task::JoinSet::new();
        for d in deliverers {
            tasks.spawn(d);
        }
        tasks.join_all().await
    });
    for r in flushes {
        let r = r.expect("request failed");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    app.settle().await;

    // Assert: each feed holds the forty posts, each once.
    let written = ids(&ok_json(&app.posts_by("author", "&limit=100").await));
    assert_eq!(written.len(), 40);
    for reader in followers.iter().chain([&author]) {
        let mut entries = feed_entries(app, reader).await;
        assert_eq!(entries, written, "{}'s feed, newest first", reader.username);
        entries.dedup();
        assert_eq!(entries.len(), 40);
    }
}
crate::both_modes!(racing_deliverers_bring_every_post_to_every_follower_exactly_once);

async fn one_batch_sent_to_every_feed_instance_at_once_is_applied_once(app: &TestApp) {
    // Arrange: bob does not follow alice; her post reached only her feed.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let post = app.post(&alice, "once only").await;
    let post_id = id_of(&post);
    app.settle().await;
    let batch = json!({"events": [
        {"id": "e2e-replica-follow", "occurred_at": "2026-01-01T00:00:00.000Z",
         "payload": {"FollowCreated": {"follower_id": bob.id, "followee_id": alice.id}}},
        {"id": "e2e-replica-post", "occurred_at": "2026-01-01T00:00:00.000Z",
         "payload": {"PostCreated": {"post_id": post_id, "author_id": alice.id,
                                     "created_at": post["created_at"], "reply_to": null}}},
    ]});

    // Act: the batch eight times at once, spread over the feed instances, as
    // racing deliverers or retries after a lost answer would send it.
    let sends = (0..8)
        .map(|_| {
            request(
                app,
                Svc::Feed,
                Method::POST,
                "/internal/feed/events",
                CREDENTIAL,
            )
            .json(&batch)
            .send()
        })
        .collect();
    all_at_once(sends, 204).await;

    // Assert: one entry each, and one follow's worth of posts.
    assert_eq!(feed_entries(app, &bob).await, vec![post_id.clone()]);
    assert_eq!(feed_entries(app, &alice).await, vec![post_id]);
}
crate::both_modes!(one_batch_sent_to_every_feed_instance_at_once_is_applied_once);

async fn likes_and_unlikes_through_every_instance_at_once_keep_exact_counts(app: &TestApp) {
    // Arrange: thirty likers, ten of whom will take their like back; the
    // author reads the post in her feed.
    let author = app.user("author").await;
    let post_id = id_of(&app.post(&author, "like me").await);
    let likers = users(app, "liker", 30).await;
    let like_path = format!("/posts/{post_id}/like");

    // Act: every like at once, each liker twice; then ten unlikes at once,
    // each sent twice.
    let likes = likers
        .iter()
        .chain(&likers)
        .map(|l| request(app, Svc::Post, Method::PUT, &like_path, &l.token).send())
        .collect();
    all_at_once(likes, 204).await;
    let unlikes = likers[..10]
        .iter()
        .chain(&likers[..10])
        .map(|l| request(app, Svc::Post, Method::DELETE, &like_path, &l.token).send())
        .collect();
    all_at_once(unlikes, 204).await;
    app.settle().await;

    // Assert: the post service and the feed's copy both count twenty.
    assert_eq!(
        ok_json(&app.get_post(&post_id).await)["like_count"],
        20,
        "post service"
    );
    let page = ok_json(&app.feed(&author.token, "").await);
    assert_eq!(page["items"][0]["id"], post_id.as_str());
    assert_eq!(page["items"][0]["like_count"], 20, "feed copy");
}
crate::both_modes!(likes_and_unlikes_through_every_instance_at_once_keep_exact_counts);

async fn follows_and_unfollows_through_every_instance_at_once_keep_exact_counts(app: &TestApp) {
    // Arrange: twenty would-be followers of a star who has posted once.
    let star = app.user("star").await;
    let post_id = id_of(&app.post(&star, "hello followers").await);
    let fans = users(app, "fan", 20).await;
    let path = "/users/me/following/star";

    // Act: every follow twice at once; then eight unfollows twice at once.
    let follows = fans
        .iter()
        .chain(&fans)
        .map(|f| request(app, Svc::User, Method::PUT, path, &f.token).send())
        .collect();
    all_at_once(follows, 204).await;
    let unfollows = fans[..8]
        .iter()
        .chain(&fans[..8])
        .map(|f| request(app, Svc::User, Method::DELETE, path, &f.token).send())
        .collect();
    all_at_once(unfollows, 204).await;
    app.settle().await;

    // Assert: twelve followers, each following one, and only their feeds
    // show the star's post.
    assert_eq!(ok_json(&app.get_user("star").await)["followers_count"], 12);
    let mut listed = ids(&ok_json(&app.followers("star", "?limit=100").await));
    listed.sort();
    let mut staying: Vec<String> = fans[8..].iter().map(|f| f.id.clone()).collect();
    staying.sort();
    assert_eq!(listed, staying);
    for (i, fan) in fans.iter().enumerate() {
        let expected = if i < 8 { 0 } else { 1 };
        assert_eq!(
            ok_json(&app.get_user(&fan.username).await)["following_count"],
            expected,
            "{}",
            fan.username
        );
        let feed = feed_entries(app, fan).await;
        let want: Vec<String> = if i < 8 { vec![] } else { vec![post_id.clone()] };
        assert_eq!(feed, want, "{}'s feed", fan.username);
    }
}
crate::both_modes!(follows_and_unfollows_through_every_instance_at_once_keep_exact_counts);
