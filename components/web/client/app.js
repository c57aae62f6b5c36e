// The social network's web client: one page whose script renders each path
// (history API), calling the JSON API at the same origin.
//
// Rules kept throughout: user text only ever goes into the page as text
// (textContent, text nodes), never as markup; the token lives in
// sessionStorage only, so it ends with the tab; every API error is shown
// as a sentence, never as the JSON it came in.
(() => {
  'use strict';

  const MAX_POST = 280;
  const PAGE = 20;

  // ---------- building the page ----------

  // An element: h('a', {href: '/', class: 'x'}, 'text', child). Strings
  // become text nodes; handlers are `on<event>` properties.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const $main = () => document.getElementById('main');
  const profilePath = (username) => '/@' + encodeURIComponent(username);
  const postPath = (id) => '/p/' + encodeURIComponent(id);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  // ---------- the session ----------

  const session = {
    get token() { return sessionStorage.getItem('token'); },
    get user() {
      try { return JSON.parse(sessionStorage.getItem('user')); } catch { return null; }
    },
    save(token, user) {
      sessionStorage.setItem('token', token);
      sessionStorage.setItem('user', JSON.stringify({ id: user.id, username: user.username }));
    },
    clear() {
      sessionStorage.removeItem('token');
      sessionStorage.removeItem('user');
      sessionStorage.removeItem('liked');
    },
    // The API does not say whether you like a post, so the client remembers
    // what you liked and unliked in this session.
    liked(id) { return this.likes().includes(id); },
    setLiked(id, on) {
      const likes = this.likes().filter((x) => x !== id);
      if (on) likes.push(id);
      sessionStorage.setItem('liked', JSON.stringify(likes.slice(-500)));
    },
    likes() {
      try { return JSON.parse(sessionStorage.getItem('liked')) || []; } catch { return []; }
    },
  };

  // ---------- the API ----------

  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message || `HTTP ${status}`);
      this.status = status;
      this.code = code;
      this.apiMessage = message;
      this.retryAfter = retryAfter;
    }
  }

  // Calls the API; resolves to the parsed body (or null), rejects with an
  // ApiError. A 401 on a signed-in call ends the session.
  async function api(method, path, options = {}) {
    const headers = { accept: 'application/json', ...(options.headers || {}) };
    const signedIn = options.auth !== false && session.token;
    if (signedIn) headers.authorization = 'Bearer ' + session.token;
    const init = { method, headers, credentials: 'omit' };
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      throw new ApiError(0, 'network', '', null);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (res.ok) return data;
    const error = (data && data.error) || {};
    const failure = new ApiError(res.status, error.code || '', error.message || '', res.headers.get('retry-after'));
    if (res.status === 401 && signedIn) {
      session.clear();
      flash('Your session has ended. Please log in again.');
      navigate('/login', { replace: true });
    }
    throw failure;
  }

  const FIELDS = {
    body: 'Your post',
    username: 'The username',
    password: 'The password',
    display_name: 'The display name',
    bio: 'The bio',
    reply_to: 'The post you reply to',
  };

  function waitText(retryAfter) {
    const s = Number.parseInt(retryAfter, 10);
    if (!Number.isFinite(s) || s <= 0) return null;
    if (s < 120) return plural(s, 'second', 'seconds');
    if (s < 7200) return plural(Math.ceil(s / 60), 'minute', 'minutes');
    return plural(Math.ceil(s / 3600), 'hour', 'hours');
  }

  // An API error in words. `what` names what was asked for: `{thing:
  // 'Your feed', missing: 'This post does not exist…'}`.
  function describe(err, what = {}) {
    if (!(err instanceof ApiError)) return 'Something went wrong in this page. Please reload it.';
    const wait = waitText(err.retryAfter);
    switch (err.status) {
      case 0:
        return 'The server cannot be reached. Check your connection and try again.';
      case 401:
        return err.code === 'invalid_credentials'
          ? 'That username and password do not match.'
          : 'Your session has ended. Please log in again.';
      case 403:
        return 'You are not allowed to do that.';
      case 404:
        return what.missing || 'That was not found. It may have been deleted.';
      case 409:
        return 'That username is already taken. Please choose another one.';
      case 413:
        return 'That is too long to send.';
      case 422: {
        const [field, ...rest] = (err.apiMessage || '').split(': ');
        const label = FIELDS[field];
        const detail = rest.join(': ');
        if (label && detail) return `${label} ${detail}.`;
        return `Please check what you entered: ${err.apiMessage || 'it was not accepted'}.`;
      }
      case 429:
        return `You are doing that too often. Please wait ${wait || 'a little'} and try again.`;
      case 503:
        return `${what.thing || 'This'} is unavailable right now. Please try again in ${wait || 'a moment'}.`;
      default:
        if (err.status >= 500) return 'Something went wrong on our side. Please try again.';
        return `That did not work (${err.apiMessage || 'error ' + err.status}).`;
    }
  }

  // A fresh key per post attempt: a retry of the same attempt (a lost
  // answer, a double click) gives back the first post instead of a second.
  function idempotencyKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ---------- notices and messages ----------

  let pendingFlash = null;

  // A notice shown after the next navigation.
  function flash(text) { pendingFlash = text; }

  function showNotice(text) {
    const notice = document.getElementById('notice');
    notice.textContent = text || '';
    notice.hidden = !text;
  }

  // A box for a form's or a section's message.
  function messageBox() {
    return h('p', { class: 'message', role: 'alert', hidden: true });
  }

  function say(box, text, kind = 'error') {
    box.textContent = text || '';
    box.hidden = !text;
    box.className = 'message ' + kind;
  }

  function errorPanel(text, retry) {
    return h('div', { class: 'panel error-panel', role: 'alert' },
      h('p', {}, text),
      retry ? h('button', { type: 'button', class: 'secondary', onclick: retry }, 'Try again') : null);
  }

  // ---------- time ----------

  function timeAgo(iso) {
    const then = new Date(iso);
    const s = Math.max(0, (Date.now() - then.getTime()) / 1000);
    let text;
    if (s < 45) text = 'now';
    else if (s < 3600) text = `${Math.round(s / 60)}m`;
    else if (s < 86400) text = `${Math.round(s / 3600)}h`;
    else {
      const sameYear = then.getFullYear() === new Date().getFullYear();
      text = then.toLocaleDateString(undefined, sameYear
        ? { month: 'short', day: 'numeric' }
        : { year: 'numeric', month: 'short', day: 'numeric' });
    }
    return h('time', { datetime: iso, title: then.toLocaleString() }, text);
  }

  // ---------- posts ----------

  // A post's card. `options.onDeleted` runs after its author deletes it.
  function postCard(post, options = {}) {
    const me = session.user;
    const likes = h('span', { class: 'count' }, String(post.like_count));
    const replies = h('span', { class: 'count' }, String(post.reply_count));
    const likeButton = h('button', { type: 'button', class: 'action like' });
    const status = messageBox();
    let liked = session.liked(post.id);

    const paint = (p) => {
      likes.textContent = String(p.like_count);
      replies.textContent = String(p.reply_count);
      likeButton.setAttribute('aria-pressed', String(liked));
      likeButton.setAttribute('aria-label', `${liked ? 'Unlike' : 'Like'} (${plural(p.like_count, 'like', 'likes')})`);
      likeButton.classList.toggle('on', liked);
      likeButton.replaceChildren(h('span', { class: 'icon', 'aria-hidden': 'true' }, liked ? '♥' : '♡'), ' ', likes);
    };

    likeButton.addEventListener('click', async () => {
      if (!session.token) { navigate('/login'); return; }
      likeButton.disabled = true;
      say(status, '');
      try {
        await api(liked ? 'DELETE' : 'PUT', `/posts/${encodeURIComponent(post.id)}/like`);
        liked = !liked;
        session.setLiked(post.id, liked);
        // The post service keeps the exact counts.
        Object.assign(post, await api('GET', `/posts/${encodeURIComponent(post.id)}`));
      } catch (err) {
        say(status, describe(err, { thing: 'Liking', missing: 'This post was deleted.' }));
      } finally {
        likeButton.disabled = false;
        paint(post);
      }
    });

    const actions = h('footer', { class: 'actions' },
      h('a', { class: 'action replies', href: postPath(post.id), 'aria-label': `Replies (${plural(post.reply_count, 'reply', 'replies')})` },
        h('span', { class: 'icon', 'aria-hidden': 'true' }, '↩'), ' ', replies),
      likeButton);

    if (me && me.id === post.author.id) {
      const remove = h('button', { type: 'button', class: 'action delete' }, 'Delete');
      const confirmRow = h('span', { class: 'confirm', hidden: true },
        h('span', {}, 'Delete this post?'),
        h('button', { type: 'button', class: 'danger small', onclick: async (e) => {
          e.target.disabled = true;
          try {
            await api('DELETE', `/posts/${encodeURIComponent(post.id)}`);
            if (options.onDeleted) options.onDeleted(post);
            else card.remove();
          } catch (err) {
            e.target.disabled = false;
            say(status, describe(err, { thing: 'Deleting posts', missing: 'This post was already deleted.' }));
          }
        } }, 'Yes, delete'),
        h('button', { type: 'button', class: 'secondary small', onclick: () => {
          confirmRow.hidden = true;
          remove.hidden = false;
        } }, 'Cancel'));
      remove.addEventListener('click', () => {
        remove.hidden = true;
        confirmRow.hidden = false;
      });
      actions.append(remove, confirmRow);
    }

    const card = h('article', { class: 'post' + (options.big ? ' big' : ''), 'data-id': post.id },
      h('header', { class: 'meta' },
        h('a', { class: 'author', href: profilePath(post.author.username) }, '@' + post.author.username),
        h('span', { class: 'dot', 'aria-hidden': 'true' }, '·'),
        h('a', { class: 'when', href: postPath(post.id) }, timeAgo(post.created_at))),
      post.reply_to && options.showContext !== false
        ? h('a', { class: 'context', href: postPath(post.reply_to) }, 'Replying to a post')
        : null,
      h('p', { class: 'body' }, post.body),
      actions,
      status);
    paint(post);
    return card;
  }

  // A list that pages with "Load more": `load(cursor)` resolves to a page.
  function pagedList({ load, render, empty, thing, className = 'list' }) {
    const list = h('div', { class: className });
    const more = h('button', { type: 'button', class: 'secondary more', hidden: true }, 'Load more');
    const note = h('div', { class: 'list-note' });
    const failure = h('div', { class: 'list-failure' });
    const seen = new Set();
    let cursor = null;

    const append = (items, atTop = false) => {
      for (const item of items) {
        if (seen.has(item.id)) continue;
        seen.add(item.id);
        const node = render(item);
        if (atTop) list.prepend(node); else list.append(node);
      }
      note.replaceChildren();
      if (!list.children.length) note.append(h('p', { class: 'quiet empty' }, empty));
    };

    const next = async () => {
      more.disabled = true;
      more.textContent = 'Loading…';
      failure.replaceChildren();
      try {
        const page = await load(cursor);
        cursor = page.next_cursor;
        append(page.items);
        more.hidden = !cursor;
      } catch (err) {
        failure.replaceChildren(errorPanel(describe(err, { thing }), next));
        more.hidden = true;
      } finally {
        more.disabled = false;
        more.textContent = 'Load more';
      }
    };

    const el = h('section', { class: 'paged' }, failure, list, note, more);
    more.addEventListener('click', next);
    return {
      el,
      start: next,
      prepend: (item) => append([item], true),
      add: (item) => append([item]),
    };
  }

  // The compose form: a live counter, and the API's verdict in words.
  function composer({ replyTo = null, onPosted }) {
    const label = replyTo ? 'Your reply' : 'What is happening?';
    const text = h('textarea', { name: 'body', rows: 3, placeholder: replyTo ? 'Write a reply' : 'What is happening?', 'aria-label': label });
    // The count is read on demand; only going over the limit is announced.
    const counter = h('span', { class: 'counter' }, `0/${MAX_POST}`);
    const hint = h('span', { class: 'hint', 'aria-live': 'polite' });
    const button = h('button', { type: 'submit' }, replyTo ? 'Reply' : 'Post');
    const status = messageBox();
    let key = idempotencyKey();

    const count = () => {
      const n = [...text.value].length;
      counter.textContent = `${n}/${MAX_POST}`;
      const over = n - MAX_POST;
      counter.classList.toggle('over', over > 0);
      counter.classList.toggle('near', over <= 0 && over > -20);
      hint.textContent = over > 0 ? `${plural(over, 'character', 'characters')} too many` : '';
      return n;
    };
    text.addEventListener('input', () => { count(); say(status, ''); });

    const form = h('form', { class: 'compose panel', novalidate: true },
      text,
      h('div', { class: 'compose-row' }, h('span', { class: 'meter' }, counter, hint), button),
      status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      button.disabled = true;
      say(status, '');
      try {
        const body = { body: text.value };
        if (replyTo) body.reply_to = replyTo;
        const post = await api('POST', '/posts', { body, headers: { 'idempotency-key': key } });
        key = idempotencyKey();
        text.value = '';
        count();
        say(status, replyTo ? 'Your reply is posted.' : 'Your post is published.', 'ok');
        if (onPosted) onPosted(post);
      } catch (err) {
        say(status, describe(err, { thing: 'Posting', missing: 'The post you reply to was deleted.' }));
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  // ---------- users ----------

  function userRow(user) {
    return h('article', { class: 'user-row', 'data-id': user.id },
      h('a', { class: 'name', href: profilePath(user.username) }, user.display_name || user.username),
      h('span', { class: 'handle' }, '@' + user.username),
      user.bio ? h('p', { class: 'bio' }, user.bio) : null);
  }

  // Whether `me` follows `them`, read from the shorter of the two lists
  // that say so (the API has no direct question for it); null when both
  // are too long to read here.
  async function follows(me, them) {
    const mine = me.following_count <= them.followers_count;
    const path = mine
      ? `/users/${encodeURIComponent(me.username)}/following`
      : `/users/${encodeURIComponent(them.username)}/followers`;
    const wanted = mine ? them.id : me.id;
    let cursor = null;
    for (let i = 0; i < 10; i += 1) {
      const page = await api('GET', `${path}?limit=100${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`, { auth: false });
      if (page.items.some((u) => u.id === wanted)) return true;
      if (!page.next_cursor) return false;
      cursor = page.next_cursor;
    }
    return null;
  }

  // ---------- pages ----------

  function heading(text) { return h('h1', {}, text); }

  function requireLogin() {
    if (session.token) return true;
    flash('Please log in first.');
    navigate('/login', { replace: true });
    return false;
  }

  async function homePage(main) {
    if (!session.token) {
      document.title = 'social';
      main.append(
        h('section', { class: 'hero panel' },
          h('h1', {}, 'Say what is happening.'),
          h('p', {}, 'Follow people, read their posts in your feed, like them and reply.'),
          h('div', { class: 'row' },
            h('a', { class: 'button', href: '/signup' }, 'Create an account'),
            h('a', { class: 'button secondary', href: '/login' }, 'Log in'))));
      return;
    }
    document.title = 'Home · social';
    const feed = pagedList({
      load: (cursor) => api('GET', `/feed?limit=${PAGE}${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`),
      render: (post) => postCard(post),
      empty: 'Your feed is empty. Follow people to see their posts here, or write your first post above.',
      thing: 'Your feed',
      className: 'list feed',
    });
    main.append(heading('Home'), composer({ onPosted: (post) => feed.prepend(post) }), feed.el);
    await feed.start();
  }

  function authForm({ title, submitText, fields, submit, footer }) {
    const status = messageBox();
    const button = h('button', { type: 'submit' }, submitText);
    const inputs = {};
    const form = h('form', { class: 'panel auth', novalidate: true },
      h('h1', {}, title),
      fields.map((f) => {
        const input = h('input', { name: f.name, id: 'f-' + f.name, type: f.type || 'text', autocomplete: f.autocomplete, required: f.required, autocapitalize: 'off', spellcheck: 'false' });
        inputs[f.name] = input;
        return h('div', { class: 'field' },
          h('label', { for: 'f-' + f.name }, f.label),
          input,
          f.hint ? h('small', { class: 'quiet' }, f.hint) : null);
      }),
      button, status, footer);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      button.disabled = true;
      say(status, '');
      const values = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.value]));
      try {
        await submit(values);
      } catch (err) {
        say(status, describe(err, { thing: 'Signing in' }));
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  async function logIn(username, password) {
    const answer = await api('POST', '/auth/login', { body: { username, password }, auth: false });
    session.save(answer.token, answer.user);
  }

  async function loginPage(main) {
    if (session.token) { navigate('/', { replace: true }); return; }
    document.title = 'Log in · social';
    main.append(authForm({
      title: 'Log in',
      submitText: 'Log in',
      fields: [
        { name: 'username', label: 'Username', autocomplete: 'username', required: true },
        { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true },
      ],
      submit: async ({ username, password }) => {
        await logIn(username.trim(), password);
        navigate('/');
      },
      footer: h('p', { class: 'quiet' }, 'New here? ', h('a', { href: '/signup' }, 'Create an account')),
    }));
  }

  async function signupPage(main) {
    if (session.token) { navigate('/', { replace: true }); return; }
    document.title = 'Sign up · social';
    main.append(authForm({
      title: 'Create your account',
      submitText: 'Sign up',
      fields: [
        { name: 'username', label: 'Username', autocomplete: 'username', required: true, hint: '3 to 30 letters, digits or underscores, starting with a letter.' },
        { name: 'display_name', label: 'Display name (optional)', autocomplete: 'name' },
        { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', required: true, hint: 'At least 8 characters.' },
      ],
      submit: async ({ username, display_name: displayName, password }) => {
        const body = { username: username.trim(), password };
        if (displayName.trim()) body.display_name = displayName.trim();
        const user = await api('POST', '/users', { body, auth: false });
        await logIn(user.username, password);
        flash(`Welcome, @${user.username}! Follow people to fill your feed.`);
        navigate('/');
      },
      footer: h('p', { class: 'quiet' }, 'Already have an account? ', h('a', { href: '/login' }, 'Log in')),
    }));
  }

  async function profilePage(main, username, tab) {
    const missing = `There is no one called @${username} here. The account may have been deleted.`;
    let user;
    try {
      user = await api('GET', `/users/${encodeURIComponent(username)}`, { auth: false });
    } catch (err) {
      document.title = 'Not found · social';
      main.append(heading('Profile'), errorPanel(describe(err, { thing: 'Profiles', missing }),
        err.status === 404 ? null : () => render()));
      return;
    }
    document.title = `${user.display_name || '@' + user.username} · social`;
    const me = session.user;
    const followers = h('span', { class: 'count' }, String(user.followers_count));
    const followersWord = h('span', {}, user.followers_count === 1 ? ' follower' : ' followers');
    const following = h('span', { class: 'count' }, String(user.following_count));
    const status = messageBox();
    const head = h('section', { class: 'profile panel' },
      h('div', { class: 'profile-top' },
        h('div', {},
          h('h1', {}, user.display_name || user.username),
          h('p', { class: 'handle' }, '@' + user.username)),
        h('div', { class: 'follow-slot' })),
      user.bio ? h('p', { class: 'bio' }, user.bio) : null,
      h('p', { class: 'stats' },
        h('a', { href: profilePath(user.username) + '/followers' }, followers, followersWord),
        h('a', { href: profilePath(user.username) + '/following' }, following, ' following'),
        h('span', { class: 'quiet' }, 'Joined ', new Date(user.created_at).toLocaleDateString(undefined, { year: 'numeric', month: 'long' }))),
      status);

    const refresh = async () => {
      try {
        Object.assign(user, await api('GET', `/users/${encodeURIComponent(user.username)}`, { auth: false }));
        followers.textContent = String(user.followers_count);
        followersWord.textContent = user.followers_count === 1 ? ' follower' : ' followers';
        following.textContent = String(user.following_count);
      } catch { /* the counts stay as they were */ }
    };

    if (me && me.id !== user.id) {
      const button = h('button', { type: 'button', class: 'follow', disabled: true }, 'Follow');
      let on = false;
      const paint = () => {
        button.textContent = on ? 'Unfollow' : 'Follow';
        button.classList.toggle('secondary', on);
        button.setAttribute('aria-pressed', String(on));
      };
      button.addEventListener('click', async () => {
        button.disabled = true;
        say(status, '');
        try {
          await api(on ? 'DELETE' : 'PUT', `/users/me/following/${encodeURIComponent(user.username)}`);
          on = !on;
          await refresh();
        } catch (err) {
          say(status, describe(err, { thing: 'Following', missing }));
        } finally {
          button.disabled = false;
          paint();
        }
      });
      head.querySelector('.follow-slot').append(button);
      api('GET', '/users/me')
        .then((fresh) => follows(fresh, user))
        .then((known) => { on = known === true; })
        .catch(() => { /* unknown: offer to follow, which is idempotent */ })
        .finally(() => { button.disabled = false; paint(); });
    } else if (me && me.id === user.id) {
      head.querySelector('.follow-slot').append(h('a', { class: 'button secondary', href: '/settings' }, 'Edit profile'));
    }

    const base = profilePath(user.username);
    const tabs = h('nav', { class: 'tabs', 'aria-label': 'Profile' },
      [['', 'Posts'], ['/followers', 'Followers'], ['/following', 'Following']].map(([suffix, label]) =>
        h('a', { href: base + suffix, 'aria-current': (tab || '') === suffix.slice(1) ? 'page' : null }, label)));
    main.append(head, tabs);

    const page = (path) => (cursor) =>
      api('GET', `${path}${path.includes('?') ? '&' : '?'}limit=${PAGE}${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`, { auth: false });
    let list;
    if (tab === 'followers' || tab === 'following') {
      list = pagedList({
        load: page(`/users/${encodeURIComponent(user.username)}/${tab}`),
        render: userRow,
        empty: tab === 'followers' ? `No one follows @${user.username} yet.` : `@${user.username} follows no one yet.`,
        thing: 'This list',
      });
    } else {
      list = pagedList({
        load: page(`/posts?author=${encodeURIComponent(user.username)}`),
        render: (post) => postCard(post),
        empty: `@${user.username} has not posted yet.`,
        thing: 'These posts',
      });
    }
    main.append(list.el);
    await list.start();
  }

  async function postPage(main, id) {
    const missing = 'This post does not exist. It may have been deleted.';
    let post;
    try {
      post = await api('GET', `/posts/${encodeURIComponent(id)}`, { auth: false });
    } catch (err) {
      document.title = 'Post · social';
      main.append(heading('Post'), errorPanel(describe(err, { thing: 'Posts', missing }),
        err.status === 404 ? null : () => render()));
      return;
    }
    document.title = `@${post.author.username}: “${[...post.body].slice(0, 40).join('')}” · social`;
    let card = postCard(post, {
      big: true,
      onDeleted: () => {
        flash('Your post was deleted.');
        navigate('/');
      },
    });
    const replies = pagedList({
      load: (cursor) => api('GET', `/posts/${encodeURIComponent(id)}/replies?limit=${PAGE}${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`, { auth: false }),
      render: (reply) => postCard(reply, { showContext: false }),
      empty: 'No replies yet.',
      thing: 'Replies',
      className: 'list replies',
    });
    const refresh = async () => {
      try {
        Object.assign(post, await api('GET', `/posts/${encodeURIComponent(id)}`, { auth: false }));
        const fresh = postCard(post, { big: true, onDeleted: () => { flash('Your post was deleted.'); navigate('/'); } });
        card.replaceWith(fresh);
        card = fresh;
      } catch { /* the counts stay as they were */ }
    };
    main.append(h('h1', { class: 'page-title' }, 'Post'), card, h('h2', {}, 'Replies'));
    if (session.token) {
      main.append(composer({ replyTo: id, onPosted: async (reply) => { replies.add(reply); await refresh(); } }));
    } else {
      main.append(h('p', { class: 'quiet' }, h('a', { href: '/login' }, 'Log in'), ' to reply.'));
    }
    main.append(replies.el);
    await replies.start();
  }

  async function settingsPage(main) {
    if (!requireLogin()) return;
    document.title = 'Settings · social';
    let me;
    try {
      me = await api('GET', '/users/me');
    } catch (err) {
      main.append(heading('Settings'), errorPanel(describe(err, { thing: 'Your account' }), () => render()));
      return;
    }

    const profileStatus = messageBox();
    const name = h('input', { id: 'f-display', name: 'display_name', value: me.display_name || '', autocomplete: 'name' });
    const bio = h('textarea', { id: 'f-bio', name: 'bio', rows: 3 });
    bio.value = me.bio || '';
    const save = h('button', { type: 'submit' }, 'Save profile');
    const profileForm = h('form', { class: 'panel', novalidate: true },
      h('h2', {}, 'Profile'),
      h('div', { class: 'field' }, h('label', { for: 'f-display' }, 'Display name'), name),
      h('div', { class: 'field' }, h('label', { for: 'f-bio' }, 'Bio'), bio, h('small', { class: 'quiet' }, 'Up to 160 characters.')),
      save, profileStatus);
    profileForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      save.disabled = true;
      try {
        const body = { bio: bio.value };
        if (name.value.trim()) body.display_name = name.value;
        await api('PATCH', '/users/me', { body });
        say(profileStatus, 'Your profile is saved.', 'ok');
      } catch (err) {
        say(profileStatus, describe(err, { thing: 'Your profile' }));
      } finally {
        save.disabled = false;
      }
    });

    const confirmInput = h('input', { id: 'f-confirm', name: 'confirm', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false' });
    const remove = h('button', { type: 'submit', class: 'danger', disabled: true }, 'Delete my account');
    const deleteStatus = messageBox();
    confirmInput.addEventListener('input', () => {
      remove.disabled = confirmInput.value.trim().toLowerCase() !== me.username;
    });
    const deleteForm = h('form', { class: 'panel danger-zone', novalidate: true },
      h('h2', {}, 'Delete your account'),
      h('p', {}, 'Your posts, replies, likes and follows go with it, and this cannot be undone.'),
      h('div', { class: 'field' },
        h('label', { for: 'f-confirm' }, `Type your username, ${me.username}, to confirm`),
        confirmInput),
      remove, deleteStatus);
    deleteForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (remove.disabled) return;
      remove.disabled = true;
      try {
        await api('DELETE', '/users/me');
        session.clear();
        flash('Your account was deleted. Goodbye!');
        navigate('/');
      } catch (err) {
        remove.disabled = false;
        say(deleteStatus, describe(err, { thing: 'Deleting accounts' }));
      }
    });
    main.append(heading('Settings'), profileForm, deleteForm);
  }

  function notFoundPage(main) {
    document.title = 'Not found · social';
    main.append(heading('Page not found'),
      h('p', {}, 'There is nothing at this address. ', h('a', { href: '/' }, 'Go to the home page'), '.'));
  }

  // ---------- navigation ----------

  const ROUTES = [
    [/^\/$/, (m) => homePage(m)],
    [/^\/login$/, (m) => loginPage(m)],
    [/^\/signup$/, (m) => signupPage(m)],
    [/^\/settings$/, (m) => settingsPage(m)],
    [/^\/@([A-Za-z0-9_]+)(?:\/(followers|following))?$/, (m, name, tab) => profilePage(m, name, tab)],
    [/^\/p\/([A-Za-z0-9_]+)$/, (m, id) => postPage(m, id)],
  ];

  function renderNav() {
    const nav = document.getElementById('nav');
    const me = session.user;
    const here = location.pathname;
    const link = (href, text) => h('a', { href, 'aria-current': here === href ? 'page' : null }, text);
    nav.replaceChildren(
      h('a', { class: 'brand', href: '/' }, h('img', { src: document.querySelector('link[rel=icon]').getAttribute('href'), alt: '', width: 24, height: 24 }), 'social'),
      h('span', { class: 'grow' }),
      ...(me
        ? [link('/', 'Home'), link(profilePath(me.username), 'Profile'), link('/settings', 'Settings'),
          h('button', { type: 'button', class: 'link', onclick: () => {
            session.clear();
            flash('You are logged out.');
            navigate('/');
          } }, 'Log out')]
        : [link('/login', 'Log in'), link('/signup', 'Sign up')]));
  }

  let rendering = 0;

  async function render() {
    const ticket = ++rendering;
    let path = location.pathname;
    try { path = decodeURIComponent(path); } catch { /* a malformed escape matches no page */ }
    renderNav();
    showNotice(pendingFlash);
    pendingFlash = null;
    const main = h('main', { id: 'main', tabindex: '-1' });
    $main().replaceWith(main);
    const route = ROUTES.find(([pattern]) => pattern.test(path));
    try {
      if (route) await route[1](main, ...path.match(route[0]).slice(1));
      else notFoundPage(main);
    } catch (err) {
      if (ticket === rendering) main.append(errorPanel(describe(err), () => render()));
    }
  }

  function navigate(path, { replace = false } = {}) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    window.scrollTo(0, 0);
    render();
  }

  document.addEventListener('click', (e) => {
    const a = e.target.closest('a');
    if (!a || a.origin !== location.origin || a.target || a.hasAttribute('download')) return;
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (a.getAttribute('href').startsWith('#')) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
  window.addEventListener('popstate', () => render());
  render();
})();
