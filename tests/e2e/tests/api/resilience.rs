//! Outages, concurrency and restarts: nothing lost, nothing doubled.

use crate::helpers::*;
use host::client::Request;
use http::Method;
use std::collections::HashSet;

/// Every post id in `user`'s feed, following `next_cursor` to the end.
async fn whole_feed(app: &TestApp, user: &TestUser) -> Vec<String> {
    let mut all = Vec::new();
    let mut query = "?limit=100".to_string();
    loop {
        let r = app.feed(&user.token, &query).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json().unwrap();
        all.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=100&cursor={cursor}"),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_made_while_feed_is_down_reach_every_follower_exactly_once() {
    // Arrange: alice has two followers; then the feed instance goes down.
    let mut app = TestApp::spawn(Mode::ThreeInstances).await;
    let alice = app.user("alice").await;
    let followers = [app.user("bob").await, app.user("carol").await];
    for f in &followers {
        assert_eq!(app.follow(&f.token, "alice").await.status, 204);
    }
    app.settle().await;
    app.stop(Svc::Feed).await;

    // Act: 200 posts, all accepted while feed is unreachable.
    let mut posted = Vec::new();
    for i in 0..200 {
        posted.push(
            app.post(&alice, &format!("post {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let health = app.health(Svc::Post).await.json().unwrap();
    assert!(
        health["undelivered_events"].as_i64().unwrap() > 0,
        "{health}"
    );
    app.start(Svc::Feed).await;
    app.settle().await;

    // Assert: each follower's feed holds each post exactly once.
    let expected: HashSet<String> = posted.into_iter().collect();
    for f in &followers {
        let feed = whole_feed(&app, f).await;
        assert_eq!(
            feed.len(),
            200,
            "{}'s feed has duplicates or gaps",
            f.username
        );
        assert_eq!(feed.iter().cloned().collect::<HashSet<_>>(), expected);
    }
    assert_eq!(
        app.health(Svc::Post).await.json().unwrap()["undelivered_events"],
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_likes_count_a_hundred() {
    let app = TestApp::spawn(Mode::OneApp).await;
    let author = app.user("author").await;
    let post_id = app.post(&author, "like me").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut likers = Vec::new();
    for i in 0..100 {
        likers.push(app.user(&format!("liker{i}")).await);
    }
    let url = format!("{}/posts/{post_id}/like", app.base(Svc::Post));
    let mut tasks = tokio::task::JoinSet::new();
    for liker in likers {
        let req = Request::new(Method::PUT, url.clone())
            .header("authorization", format!("Bearer {}", liker.token));
        tasks.spawn(req.send());
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap().unwrap().status, 204);
    }
    assert_eq!(
        app.get_post(&post_id).await.json().unwrap()["like_count"],
        100
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_follow_sent_twenty_times_at_once_is_one_follow() {
    let app = TestApp::spawn(Mode::OneApp).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.post(&alice, "one").await;
    let url = format!("{}/users/me/following/alice", app.base(Svc::User));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let req = Request::new(Method::PUT, url.clone())
            .header("authorization", format!("Bearer {}", bob.token));
        tasks.spawn(req.send());
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap().unwrap().status, 204);
    }
    app.settle().await;
    assert_eq!(
        app.get_user("alice").await.json().unwrap()["followers_count"],
        1
    );
    assert_eq!(
        ids(&app.followers("alice", "").await.json().unwrap()),
        vec![bob.id.clone()]
    );
    assert_eq!(app.feed_ids(&bob).await.len(), 1);
}

async fn data_survives_a_restart(mode: Mode) {
    let mut app = TestApp::spawn(mode).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.follow(&bob.token, "alice").await;
    let post_id = app.post(&alice, "durable").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.settle().await;

    app.restart_all().await;

    let r = app.login("alice", &alice.password).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Tokens issued before the restart still verify: the signing key was kept.
    assert_eq!(app.me(&bob.token).await.status, 200);
    assert_eq!(app.get_post(&post_id).await.status, 200);
    assert_eq!(app.feed_ids(&bob).await, vec![post_id]);
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_restarting_one_application() {
    data_survives_a_restart(Mode::OneApp).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_restarting_three_instances() {
    data_survives_a_restart(Mode::ThreeInstances).await;
}
