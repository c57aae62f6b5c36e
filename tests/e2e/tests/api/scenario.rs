//! The story from the issue, end to end.

use crate::helpers::*;
use serde_json::json;

async fn alice_and_bob(app: &TestApp) {
    // Arrange: alice and bob register and log in; bob follows alice.
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;

    // Act: alice posts.
    let post = app.post(&alice, "hello from alice").await;
    let post_id = post["id"].as_str().unwrap().to_string();
    app.settle().await;

    // Assert: bob's feed shows it.
    assert_eq!(app.feed_ids(&bob).await, vec![post_id.clone()]);

    // bob likes and replies; counts are right.
    assert_eq!(app.like(&bob.token, &post_id).await.status, 204);
    let reply = app
        .create_post(&bob.token, json!({"body": "hi alice", "reply_to": post_id}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let reply_id = reply.json().unwrap()["id"].as_str().unwrap().to_string();
    let seen = app.get_post(&post_id).await.json().unwrap();
    assert_eq!(
        (seen["like_count"].as_i64(), seen["reply_count"].as_i64()),
        (Some(1), Some(1))
    );
    let alice_profile = app.get_user("alice").await.json().unwrap();
    assert_eq!(alice_profile["followers_count"], 1);
    app.settle().await;
    let bob_feed = app.feed(&bob.token, "").await.json().unwrap();
    assert_eq!(ids(&bob_feed), vec![reply_id.clone(), post_id.clone()]);
    assert_eq!(bob_feed["items"][1]["like_count"], 1);

    // bob unfollows: alice's posts leave his feed, his own reply stays.
    assert_eq!(app.unfollow(&bob.token, "alice").await.status, 204);
    app.settle().await;
    assert_eq!(app.feed_ids(&bob).await, vec![reply_id.clone()]);

    // alice deletes her account: her posts vanish from every service.
    assert_eq!(app.follow(&bob.token, "alice").await.status, 204);
    app.settle().await;
    assert!(app.feed_ids(&bob).await.contains(&post_id));
    assert_eq!(app.delete_me(&alice.token).await.status, 204);
    app.settle().await;
    assert_eq!(app.get_user("alice").await.status, 404);
    assert_eq!(app.get_post(&post_id).await.status, 404);
    let by_alice = app.posts_by("alice", "").await.json().unwrap();
    assert!(ids(&by_alice).is_empty());
    assert_eq!(app.feed_ids(&bob).await, vec![reply_id]);
    assert_eq!(
        app.get_user("bob").await.json().unwrap()["following_count"],
        0
    );
    assert_eq!(app.me(&alice.token).await.status, 401);
}

crate::both_modes!(alice_and_bob);
