//! The client's files, compiled into the component, and the page shell.
//!
//! Each asset has a content hash, computed at compile time. The shell names
//! every asset with its hash as a version (`/assets/app.js?v=…`), so a
//! browser may keep a named version for good, and a new build is fetched at
//! once because its names differ.

/// A file the client loads.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    /// Its name under `/assets/`.
    pub name: &'static str,
    /// Its `content-type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// The FNV-1a hash of its bytes.
    pub hash: u64,
}

impl Asset {
    /// Its version: the hash as 16 hex digits.
    pub fn version(&self) -> String {
        format!("{:016x}", self.hash)
    }

    /// The URL the shell names it by.
    pub fn url(&self) -> String {
        format!("/assets/{}?v={}", self.name, self.version())
    }
}

/// FNV-1a (64 bits): enough to tell builds of a file apart, and cheap
/// enough to compute at compile time.
pub const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../client/", $name)),
            hash: fnv1a(include_bytes!(concat!("../client/", $name))),
        }
    };
}

/// Every asset served under `/assets/`.
pub static ASSETS: [Asset; 3] = [
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// The asset called `name`, if there is one.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The page shell, with `{{name}}` where each asset's URL goes.
const SHELL_TEMPLATE: &str = include_str!("../client/index.html");

/// The page shell every page is served as: the client routes by path.
pub fn shell() -> String {
    let mut html = SHELL_TEMPLATE.to_string();
    for asset in &ASSETS {
        html = html.replace(&format!("{{{{{}}}}}", asset.name), &asset.url());
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_names_every_asset_by_its_current_version_and_loads_nothing_from_elsewhere() {
        let html = shell();
        for asset in &ASSETS {
            assert!(
                html.contains(&asset.url()),
                "{} not in the shell",
                asset.url()
            );
        }
        assert!(!html.contains("{{"), "a placeholder is left: {html}");
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("<script>") && !html.contains("style="));
    }

    #[test]
    fn different_bytes_have_different_versions() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        let versions: std::collections::BTreeSet<String> =
            ASSETS.iter().map(Asset::version).collect();
        assert_eq!(versions.len(), ASSETS.len());
    }

    #[test]
    fn the_client_script_writes_no_markup_from_strings() {
        // User text must never be parsed as HTML: the script builds nodes
        // and sets textContent only.
        let js = std::str::from_utf8(asset("app.js").unwrap().body).unwrap();
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!js.contains(sink), "app.js uses {sink}");
        }
        assert!(
            !js.contains("localStorage"),
            "tokens stay in sessionStorage"
        );
    }
}
