//! `allowed_outbound_hosts`: parsing and matching as Spin enforces them.

use anyhow::{Result, bail};

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum AllowedHost {
    /// `http://self` / `http://self.alt`: the application's own listener.
    SelfApp,
    /// `scheme://host:port` with `*` wildcards.
    Pattern {
        /// `None` means any scheme.
        scheme: Option<String>,
        /// Host pattern.
        host: HostPattern,
        /// Port pattern.
        port: PortPattern,
    },
}

/// The host part of an allowed-host entry.
#[derive(Debug, Clone, PartialEq)]
pub enum HostPattern {
    /// `*`.
    Any,
    /// `*.suffix`: any host ending in `.suffix`.
    Subdomains(String),
    /// An exact host name or address.
    Exact(String),
}

/// The port part of an allowed-host entry.
#[derive(Debug, Clone, PartialEq)]
pub enum PortPattern {
    /// `*`.
    Any,
    /// `start..end` (end exclusive) or a single port.
    Range(u16, u16),
}

/// Where an outbound request is headed.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or address (lower-case, no port).
    pub host: String,
    /// Explicit or scheme-default port.
    pub port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl AllowedHost {
    /// Parses an entry after its templates have been expanded.
    pub fn parse(entry: &str) -> Result<Self> {
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("{entry:?} does not contain a scheme (e.g., 'http://' or '*://')");
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            bail!("{entry:?}: paths are not allowed in allowed_outbound_hosts");
        }
        if rest == "self" || rest == "self.alt" {
            return Ok(Self::SelfApp);
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
        let port = match port {
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((a, b)) => PortPattern::Range(a.parse()?, b.parse()?),
                None => {
                    let p: u16 = p.parse()?;
                    PortPattern::Range(p, p.saturating_add(1))
                }
            },
            None => match scheme.as_deref().and_then(default_port) {
                Some(p) => PortPattern::Range(p, p + 1),
                None => bail!("{entry:?}: a port is required for scheme {scheme:?}"),
            },
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Subdomains(suffix.to_string())
        } else if host.is_empty() {
            bail!("{entry:?}: empty host");
        } else {
            HostPattern::Exact(host)
        };
        Ok(Self::Pattern { scheme, host, port })
    }

    /// Whether this entry allows `dest`.
    pub fn allows(&self, dest: &Destination) -> bool {
        match self {
            Self::SelfApp => false,
            Self::Pattern { scheme, host, port } => {
                scheme.as_ref().is_none_or(|s| *s == dest.scheme)
                    && match host {
                        HostPattern::Any => true,
                        HostPattern::Subdomains(suffix) => dest
                            .host
                            .strip_suffix(suffix.as_str())
                            .is_some_and(|h| h.ends_with('.') && h.len() > 1),
                        HostPattern::Exact(h) => *h == dest.host,
                    }
                    && match port {
                        PortPattern::Any => true,
                        PortPattern::Range(a, b) => (*a..*b).contains(&dest.port),
                    }
            }
        }
    }

    /// The component id if this entry names exactly one `<id>.spin.internal`;
    /// `Some(None)` for a wildcard that covers every component.
    pub fn service_chaining_target(&self) -> Option<Option<String>> {
        match self {
            Self::Pattern { host, .. } => match host {
                HostPattern::Exact(h) => h
                    .strip_suffix(".spin.internal")
                    .map(|id| Some(id.to_string())),
                HostPattern::Subdomains(s) if s == "spin.internal" => Some(None),
                _ => None,
            },
            Self::SelfApp => None,
        }
    }
}

impl Destination {
    /// Builds a destination from a URI's parts.
    pub fn from_uri(uri: &http::Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host()?.to_ascii_lowercase();
        let port = uri.port_u16().or_else(|| default_port(&scheme))?;
        Some(Self { scheme, host, port })
    }
}

/// A component's outbound policy.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Parsed entries; empty denies everything.
    pub allowed: Vec<AllowedHost>,
}

impl OutboundPolicy {
    /// Whether `dest` may be reached.
    pub fn allows(&self, dest: &Destination) -> bool {
        self.allowed.iter().any(|a| a.allows(dest))
    }

    /// Whether `http://self.alt` may be reached: `http://self` or an entry
    /// that allows every host.
    pub fn allows_self(&self) -> bool {
        self.allowed.iter().any(|a| match a {
            AllowedHost::SelfApp => true,
            AllowedHost::Pattern { scheme, host, port } => {
                scheme.as_deref().is_none_or(|s| s == "http")
                    && *host == HostPattern::Any
                    && *port == PortPattern::Any
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(url: &str) -> Destination {
        Destination::from_uri(&url.parse().unwrap()).unwrap()
    }

    fn allowed(entry: &str, url: &str) -> bool {
        AllowedHost::parse(entry).unwrap().allows(&dest(url))
    }

    #[test]
    fn hosts_without_a_port_allow_only_the_default_port() {
        assert!(allowed("http://example.com", "http://example.com/x"));
        assert!(!allowed("http://example.com", "http://example.com:8080/x"));
        assert!(!allowed("http://example.com", "https://example.com/x"));
    }

    #[test]
    fn port_wildcards_and_ranges_match() {
        assert!(allowed("http://127.0.0.1:*", "http://127.0.0.1:3001/"));
        assert!(!allowed("http://127.0.0.1:*", "http://localhost:3001/"));
        assert!(allowed(
            "http://127.0.0.1:3000..3002",
            "http://127.0.0.1:3001/"
        ));
        assert!(!allowed(
            "http://127.0.0.1:3000..3002",
            "http://127.0.0.1:3002/"
        ));
    }

    #[test]
    fn spin_internal_needs_a_matching_scheme_and_host() {
        assert!(allowed(
            "http://*.spin.internal",
            "http://gamma.spin.internal/"
        ));
        assert!(!allowed(
            "https://c.spin.internal",
            "http://c.spin.internal/"
        ));
        assert!(allowed("*://*:*", "http://c.spin.internal/"));
        assert!(!allowed("http://127.0.0.1:*", "http://c.spin.internal/"));
    }

    #[test]
    fn self_entries_do_not_allow_literal_hosts() {
        assert_eq!(
            AllowedHost::parse("http://self").unwrap(),
            AllowedHost::SelfApp
        );
        assert_eq!(
            AllowedHost::parse("http://self.alt").unwrap(),
            AllowedHost::SelfApp
        );
        assert!(!allowed("http://self", "http://self/path"));
        assert!(!allowed("http://self", "http://127.0.0.1:3000/"));
    }

    #[test]
    fn self_is_allowed_by_self_entries_and_by_allow_everything() {
        let policy = |entries: &[&str]| OutboundPolicy {
            allowed: entries
                .iter()
                .map(|e| AllowedHost::parse(e).unwrap())
                .collect(),
        };
        assert!(policy(&["http://self"]).allows_self());
        assert!(policy(&["*://*:*"]).allows_self());
        assert!(!policy(&["http://127.0.0.1:*"]).allows_self());
        assert!(!policy(&[]).allows_self());
    }

    #[test]
    fn an_entry_without_a_scheme_is_an_error() {
        let err = AllowedHost::parse("127.0.0.1:3001")
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not contain a scheme"), "{err}");
    }

    #[test]
    fn service_chaining_targets_are_recognised() {
        let t = |e: &str| AllowedHost::parse(e).unwrap().service_chaining_target();
        assert_eq!(t("http://post.spin.internal"), Some(Some("post".into())));
        assert_eq!(t("http://*.spin.internal"), Some(None));
        assert_eq!(t("http://127.0.0.1:3000"), None);
    }
}
