"""The web client in a real browser, in both deployment modes: what two
people do with it, what a person sees when the API says no, and the
screenshots in the README."""

import re
import time

from playwright.sync_api import expect

from conftest import DESKTOP, PHONE, SCREENSHOTS, unique


def sign_up(page, base, username, display_name):
    page.goto(base + "/")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(base + "/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Display name (optional)").fill(display_name)
    page.get_by_label("Password").fill(f"{username} password")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    expect(page.locator("#notice")).to_contain_text(f"Welcome, @{username}")


def log_in(page, base, username):
    page.goto(base + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"{username} password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()


def post_card(page, text):
    return page.locator("article.post", has=page.locator(".body", has_text=text))


def reload_until(page, check, seconds=15):
    """Reloads until `check()` holds: the feed shows an event's effect
    once the event arrives, normally within milliseconds."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not reached within {seconds} s: {page.url}"
        time.sleep(0.2)
        page.reload()
        page.wait_for_load_state("networkidle")


def no_json(page):
    """What the page shows has no raw JSON in it."""
    text = page.locator("main").inner_text()
    assert "{" not in text and '"error"' not in text, text


def test_two_people_follow_post_like_reply_unfollow_and_delete_an_account(deployment, person):
    base = deployment.url
    alice, bob = unique("alice"), unique("bob")
    a, b = person(), person()

    # Both sign up, each in a browser of their own; Alice logs out and in.
    sign_up(a, base, alice, "Alice Liddell")
    sign_up(b, base, bob, "Bob Builder")
    a.get_by_role("button", name="Log out").click()
    expect(a.locator("#notice")).to_have_text("You are logged out.")
    expect(a.get_by_role("link", name="Log in").first).to_be_visible()
    assert a.evaluate("sessionStorage.getItem('token')") is None
    log_in(a, base, alice)
    assert a.evaluate("localStorage.length") == 0, "the token is kept for the session only"

    # Bob follows Alice from her profile.
    b.goto(f"{base}/@{alice}")
    expect(b.get_by_role("heading", name="Alice Liddell")).to_be_visible()
    follow = b.get_by_role("button", name="Follow", exact=True)
    expect(follow).to_be_enabled()
    follow.click()
    expect(b.get_by_role("button", name="Unfollow")).to_be_visible()
    expect(b.locator(".stats a", has_text="follower")).to_have_text("1 follower")

    # Alice posts; it shows in Bob's feed.
    text = f"Hello from the browser, says {alice} <b>not bold</b>"
    a.get_by_label("What is happening?").fill(text)
    a.get_by_role("button", name="Post", exact=True).click()
    expect(a.locator(".compose .message")).to_have_text("Your post is published.")
    expect(post_card(a, text)).to_be_visible()
    b.goto(base + "/")
    reload_until(b, lambda: post_card(b, text).count() == 1)
    card = post_card(b, text)
    # User text is text: the markup in it is shown, not applied.
    expect(card.locator(".body")).to_have_text(text)
    assert card.locator(".body b").count() == 0

    # Bob likes it and replies; the counts follow.
    card.locator("button.like").click()
    expect(card.locator("button.like")).to_have_attribute("aria-pressed", "true")
    expect(card.locator("button.like .count")).to_have_text("1")
    card.locator("a.replies").click()
    expect(b).to_have_url(re.compile(r"/p/[0-9A-Z]{26}$"))
    post_url = b.url
    b.get_by_label("Your reply").fill(f"Welcome, {alice}!")
    b.get_by_role("button", name="Reply", exact=True).click()
    expect(b.locator(".list.replies .body")).to_have_text([f"Welcome, {alice}!"])
    big = b.locator("article.post.big")
    expect(big.locator("a.replies .count")).to_have_text("1")
    expect(big.locator("button.like .count")).to_have_text("1")

    # Alice sees both on her post's page.
    a.goto(post_url)
    expect(a.locator("article.post.big a.replies .count")).to_have_text("1")
    expect(a.locator("article.post.big button.like .count")).to_have_text("1")
    expect(a.locator(".list.replies .author")).to_have_text([f"@{bob}"])

    # Bob unlikes, then unfollows: Alice's post leaves his feed.
    b.goto(base + "/")
    card = post_card(b, text)
    card.locator("button.like").click()
    expect(card.locator("button.like")).to_have_attribute("aria-pressed", "false")
    expect(card.locator("button.like .count")).to_have_text("0")
    b.goto(f"{base}/@{alice}")
    unfollow = b.get_by_role("button", name="Unfollow")
    expect(unfollow).to_be_enabled()
    unfollow.click()
    expect(b.get_by_role("button", name="Follow", exact=True)).to_be_visible()
    expect(b.locator(".stats a", has_text="follower")).to_have_text("0 followers")
    b.goto(base + "/")
    reload_until(b, lambda: post_card(b, text).count() == 0)
    expect(post_card(b, f"Welcome, {alice}!")).to_be_visible()

    # Alice deletes her account: she is logged out, and her profile is gone.
    a.get_by_role("link", name="Settings").click()
    delete = a.get_by_role("button", name="Delete my account")
    expect(delete).to_be_disabled()
    a.get_by_label(re.compile("Type your username")).fill(alice)
    delete.click()
    expect(a.locator("#notice")).to_have_text("Your account was deleted. Goodbye!")
    expect(a.get_by_role("link", name="Sign up")).to_be_visible()
    assert a.evaluate("sessionStorage.getItem('token')") is None
    b.goto(f"{base}/@{alice}")
    expect(b.get_by_role("alert")).to_contain_text(f"There is no one called @{alice} here.")
    no_json(b)


def test_validation_errors_are_shown_in_words(deployment, person):
    base = deployment.url
    page = person()

    # A username the API refuses, with the API's reason in a sentence.
    page.goto(base + "/signup")
    page.get_by_label("Username").fill("9lives")
    page.get_by_label("Password").fill("long enough password")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_have_text("The username must start with a letter.")
    no_json(page)

    # A post one character too long: the counter says so as you type, and
    # the API's refusal is shown in words.
    sign_up(page, base, unique("carol"), "Carol")
    box = page.get_by_label("What is happening?")
    box.fill("é" * 280)
    expect(page.locator(".counter")).to_have_text("280/280")
    box.press("End")
    box.press_sequentially("!")
    expect(page.locator(".counter")).to_have_text("281/280")
    expect(page.locator(".counter")).to_have_class(re.compile(r"\bover\b"))
    expect(page.locator(".compose .hint")).to_have_text("1 character too many")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator(".compose .message")).to_have_text(
        "Your post must be at most 280 characters.")
    no_json(page)
    assert page.locator("article.post").count() == 0


def test_a_stopped_feed_instance_is_a_message_in_words_and_the_feed_comes_back(
        own_three_instances, person):
    deployment = own_three_instances
    base = deployment.url
    page = person()
    sign_up(page, base, unique("dave"), "Dave")
    expect(page.get_by_text("Your feed is empty.")).to_be_visible()

    deployment.instances["feed"].stop()
    page.reload()
    alert = page.locator(".error-panel")
    expect(alert).to_contain_text(
        "Your feed is unavailable right now. Please try again in 1 second.")
    no_json(page)
    # Everything that does not need the feed still works.
    page.get_by_label("What is happening?").fill("Posting while the feed is down")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator(".compose .message")).to_have_text("Your post is published.")

    deployment.instances["feed"].start()
    page.get_by_role("button", name="Try again").click()
    expect(alert).to_have_count(0)
    reload_until(page, lambda: post_card(page, "Posting while the feed is down").count() == 1)


def test_the_home_feed_loads_more_from_the_cursor_and_a_post_can_be_deleted(deployment, person):
    erin = unique("erin")
    token = deployment.account(erin, "Erin")
    for n in range(1, 26):
        status, _ = deployment.api("POST", "/posts", {"body": f"Post number {n}"}, token)
        assert status == 201
    page = person()
    log_in(page, deployment.url, erin)
    reload_until(page, lambda: post_card(page, "Post number 25").count() == 1)
    expect(page.locator("article.post")).to_have_count(20)
    expect(page.locator("article.post .body").first).to_have_text("Post number 25")
    page.get_by_role("button", name="Load more").click()
    expect(page.locator("article.post")).to_have_count(25)
    expect(page.locator("article.post .body").last).to_have_text("Post number 1")
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    # Deleting asks first, then the post goes, here and in the API.
    card = post_card(page, "Post number 25")
    card.get_by_role("button", name="Delete").click()
    expect(card.get_by_text("Delete this post?")).to_be_visible()
    card.get_by_role("button", name="Cancel").click()
    expect(card.get_by_role("button", name="Delete")).to_be_visible()
    card.get_by_role("button", name="Delete").click()
    card.get_by_role("button", name="Yes, delete").click()
    expect(card).to_have_count(0)
    reload_until(page, lambda: post_card(page, "Post number 25").count() == 0)
    expect(page.locator("article.post .body").first).to_have_text("Post number 24")


def test_too_many_failed_logins_are_a_429_in_words(strict_logins, person):
    frank = unique("frank")
    strict_logins.account(frank)
    page = person()
    page.goto(strict_logins.url + "/login")
    page.get_by_label("Username").fill(frank)
    page.get_by_label("Password").fill("not the password")
    for _ in range(2):
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_have_text(
            "That username and password do not match.")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile(
        r"^You are doing that too often\. Please wait \d+ (seconds?|minutes?) and try again\.$"))
    no_json(page)


def test_screenshots_of_the_feed_a_profile_and_a_post_with_replies(deployment, person):
    """The README's pictures, of Bob's view on a desktop and on a phone: the
    pages are checked in both modes, and saved from one."""
    # Plain names read better in the pictures; the other tests of a
    # deployment take names with a number, so these are free.
    people = {
        "alice": ("Alice Liddell", "Curious. Falls down rabbit holes, mostly distributed ones."),
        "bob": ("Bob Builder", "Can we fix it? Usually."),
        "carol": ("Carol Danvers", "Higher, further, faster."),
        "dave": ("Dave Lister", None),
        "erin": ("Erin", None),
        "frank": ("Frank", None),
    }
    tokens = {name: deployment.account(name, *about) for name, about in people.items()}
    # Bob follows Alice and Carol; those who reply to Alice he does not
    # follow, so his feed shows posts rather than replies.
    for who, whom in [("bob", "alice"), ("bob", "carol"), ("alice", "carol"), ("carol", "alice"),
                      ("dave", "alice"), ("erin", "alice"), ("frank", "bob")]:
        status, _ = deployment.api("PUT", f"/users/me/following/{whom}", token=tokens[who])
        assert status == 204

    def post(who, body, reply_to=None):
        payload = {"body": body} | ({"reply_to": reply_to} if reply_to else {})
        status, answer = deployment.api("POST", "/posts", payload, tokens[who])
        assert status == 201, answer
        return answer["id"]

    post("carol", "Morning run done. 10 km before the coffee, which is the correct order.")
    main = post("alice", "Tried the new web client on my phone: sign up, follow, post. "
                         "No app store needed.")
    post("dave", "Does it have a dark mode? Asking for a friend.", main)
    post("erin", "It does: it follows your system's setting.", main)
    post("frank", "Replying from the train. The page fits my phone nicely.", main)
    for who in ("carol", "dave", "erin"):
        status, _ = deployment.api("PUT", f"/posts/{main}/like", token=tokens[who])
        assert status == 204
    post("bob", "Building a shed this weekend. Measure twice, post once.")
    post("alice", "Three services, one spin.toml, and a feed that fills itself. "
                  "It is a good day to ship.")
    # Wait until the events are in: Bob's feed has every post and the likes.
    deadline = time.monotonic() + 15
    while True:
        status, feed = deployment.api("GET", "/feed?limit=20", token=tokens["bob"])
        if status == 200 and len(feed["items"]) == 4 and any(
                p["id"] == main and p["like_count"] == 3 for p in feed["items"]):
            break
        assert time.monotonic() < deadline, feed
        time.sleep(0.2)

    save = deployment.mode == "one-app"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shoot(page, name):
        if save:
            page.screenshot(path=SCREENSHOTS / f"{name}.png")

    for device, options in (("desktop", DESKTOP), ("phone", PHONE)):
        page = person(**options)
        log_in(page, deployment.url, "bob")
        card = post_card(page, "No app store needed.")
        expect(card.locator("a.replies .count")).to_have_text("3")
        # Bob likes it (on the phone, a new session, the like is repeated:
        # the page cannot know he liked it on the desktop, and a like is
        # idempotent).
        card.locator("button.like").click()
        expect(card.locator("button.like")).to_have_attribute("aria-pressed", "true")
        expect(card.locator("button.like .count")).to_have_text("4")
        page.mouse.move(0, 0)
        shoot(page, f"feed-{device}")
        page.goto(f"{deployment.url}/@alice")
        expect(page.get_by_role("button", name="Unfollow")).to_be_enabled()
        expect(page.locator("article.post")).to_have_count(2)
        shoot(page, f"profile-{device}")
        page.goto(f"{deployment.url}/p/{main}")
        expect(page.locator(".list.replies article")).to_have_count(3)
        expect(page.locator("article.post.big button.like .count")).to_have_text("4")
        shoot(page, f"post-{device}")
