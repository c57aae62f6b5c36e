//! The state file: what `seed` created (accounts, tokens, follows, posts)
//! and the posts `run` got accepted, so that later commands reuse the
//! accounts and `verify` knows what every feed must hold.

use crate::api::{Accounts, Login};
use crate::client::Endpoint;
use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The state file format's version.
pub const VERSION: u32 = 1;

/// Everything seeded, and every post accepted since.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// [`VERSION`].
    pub version: u32,
    /// What was seeded, to tell whether a later `seed` asks for the same.
    pub plan: SeedPlan,
    /// One account per person of the graph, by index.
    pub users: Vec<SeededUser>,
    /// For each person (by index), whom they follow.
    pub following: Vec<Vec<u32>>,
    /// Posts made by `seed`.
    pub posts: Vec<PostRecord>,
    /// Posts accepted (201) during `run`.
    #[serde(default)]
    pub accepted: Vec<PostRecord>,
}

/// The parameters a seeded state came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeedPlan {
    /// The user service's base URL the accounts live on.
    pub user_url: String,
    /// Where the graph came from (a file, or the generator and its seed).
    pub graph_source: String,
    /// [`crate::graph::Graph::fingerprint`].
    pub graph_fingerprint: String,
    /// People.
    pub nodes: usize,
    /// Friendships (half the follows).
    pub friendships: usize,
    /// The seed of the post counts and texts.
    pub seed: u64,
    /// Username prefix: accounts are `{prefix}{index}`.
    pub prefix: String,
    /// Each person made 0..=this many posts.
    pub max_posts: u32,
}

/// One seeded account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeededUser {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// User id.
    pub id: String,
    /// The last bearer token.
    pub token: String,
    /// When it expires (Unix seconds).
    pub token_expires_at: u64,
}

/// A post and its author's index.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PostRecord {
    /// The post id (ids sort by creation time).
    pub id: String,
    /// The author, an index into [`State::users`].
    pub author: u32,
}

impl State {
    /// Reads a state file.
    pub fn load(path: &Path) -> Result<Self> {
        let raw = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the state file {} (run `loadtest seed` first)",
                path.display()
            )
        })?;
        let state: Self = serde_json::from_slice(&raw)
            .with_context(|| format!("{} is not a loadtest state file", path.display()))?;
        ensure!(
            state.version == VERSION,
            "{} is version {}, this tool reads version {VERSION}: seed again with --reseed",
            path.display(),
            state.version
        );
        ensure!(
            state.following.len() == state.users.len(),
            "{}: following lists do not match the users",
            path.display()
        );
        Ok(state)
    }

    /// Writes the state file (to a temporary file, then renamed over it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    }

    /// For each person, who follows them.
    pub fn followers(&self) -> Vec<Vec<u32>> {
        let mut lists = vec![Vec::new(); self.users.len()];
        for (follower, followees) in self.following.iter().enumerate() {
            for &f in followees {
                lists[f as usize].push(follower as u32);
            }
        }
        lists
    }

    /// The accounts, with their kept tokens, for API calls.
    pub fn accounts(&self, user: &Endpoint) -> Accounts {
        Accounts::new(
            user.clone(),
            self.users
                .iter()
                .map(|u| {
                    let login = Login {
                        token: u.token.clone(),
                        expires_at: u.token_expires_at,
                        user_id: u.id.clone(),
                    };
                    (u.username.clone(), u.password.clone(), Some(login))
                })
                .collect(),
        )
    }

    /// Copies the tokens `accounts` holds now back into the state.
    pub fn keep_tokens(&mut self, accounts: &Accounts) {
        for (i, user) in self.users.iter_mut().enumerate() {
            if let Some(login) = accounts.login_of(i) {
                user.token = login.token;
                user.token_expires_at = login.expires_at;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> State {
        let user = |i: u32| SeededUser {
            username: format!("user{i}"),
            password: "password".into(),
            id: format!("id{i}"),
            token: format!("t{i}"),
            token_expires_at: 1,
        };
        State {
            version: VERSION,
            plan: SeedPlan {
                user_url: "http://127.0.0.1:3000".into(),
                graph_source: "test".into(),
                graph_fingerprint: "0".into(),
                nodes: 3,
                friendships: 1,
                seed: 1,
                prefix: "user".into(),
                max_posts: 1,
            },
            users: (0..3).map(user).collect(),
            following: vec![vec![1], vec![0], vec![]],
            posts: vec![PostRecord {
                id: "p1".into(),
                author: 0,
            }],
            accepted: vec![],
        }
    }

    #[test]
    fn followers_are_the_reverse_of_following() {
        assert_eq!(sample().followers(), vec![vec![1], vec![0], vec![]]);
    }

    #[test]
    fn a_saved_state_loads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = sample();
        state.accepted.push(PostRecord {
            id: "p2".into(),
            author: 2,
        });
        state.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), state);
    }

    #[test]
    fn a_state_of_another_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = sample();
        state.version = VERSION + 1;
        state.save(&path).unwrap();
        assert!(State::load(&path).is_err());
    }

    #[test]
    fn fresh_tokens_are_kept_in_the_state() {
        let mut state = sample();
        let accounts = state.accounts(&Endpoint::parse("http://127.0.0.1:1").unwrap());
        assert_eq!(accounts.login_of(1).unwrap().token, "t1");
        state.users[1].token = "old".into();
        state.keep_tokens(&accounts);
        assert_eq!(state.users[1].token, "t1");
    }
}
