//! A small deterministic random number generator.
//!
//! `rand`'s seeded generators are documented as not reproducible across its
//! versions; a state file and a generated graph must come out the same from
//! the same `--seed` for as long as this tool exists, so it carries its own
//! SplitMix64 (public domain, Steele, Lea and Flood 2014): 64 bits of state,
//! fast, and good enough for choosing users and words.

/// A SplitMix64 generator: the same seed always gives the same sequence.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent generator for one `stream` (a worker, a user) of a
    /// run seeded with `seed`.
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut mixer = Self::new(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        let state = mixer.next_u64() ^ stream;
        Self { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `0..n` (`n` > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        // Lemire's multiply-and-reject.
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            let low = product as u64;
            if low >= n.wrapping_neg() % n {
                return (product >> 64) as u64;
            }
        }
    }

    /// A uniform index into a slice of `len` (> 0) items.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A uniform number in `lo..=hi`.
    pub fn inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

/// Words post bodies are made of.
const WORDS: &[&str] = &[
    "the",
    "a",
    "social",
    "network",
    "post",
    "feed",
    "today",
    "coffee",
    "spin",
    "wasm",
    "rust",
    "load",
    "test",
    "latency",
    "hello",
    "world",
    "friends",
    "follow",
    "morning",
    "night",
    "great",
    "news",
    "just",
    "shipped",
    "reading",
    "about",
    "benchmarks",
    "and",
    "more",
    "tail",
    "p99",
];

/// A post body of 1 to `max_chars` (≥ 1) ASCII characters made of words.
pub fn post_body(rng: &mut Rng, max_chars: usize) -> String {
    let target = rng.inclusive(1, max_chars.max(1) as u64) as usize;
    let mut text = String::with_capacity(target + 12);
    while text.len() < target {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[rng.index(WORDS.len())]);
    }
    text.truncate(target);
    let trimmed = text.trim_end().len();
    text.truncate(trimmed);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_another_seed_does_not() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let mut other = Rng::new(8);
        assert_eq!(a, b);
        assert_ne!(a[0], other.next_u64());
    }

    #[test]
    fn derived_streams_differ_from_each_other() {
        let firsts: std::collections::HashSet<u64> =
            (0..100).map(|s| Rng::derive(1, s).next_u64()).collect();
        assert_eq!(firsts.len(), 100);
    }

    #[test]
    fn bounded_numbers_stay_in_range_and_cover_it() {
        let mut r = Rng::new(3);
        let mut seen = [0u32; 6];
        for _ in 0..6000 {
            let v = r.inclusive(0, 5);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        for _ in 0..1000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn post_bodies_are_1_to_280_characters_and_not_blank() {
        let mut r = Rng::new(5);
        for _ in 0..2000 {
            let body = post_body(&mut r, 280);
            assert!((1..=280).contains(&body.chars().count()), "{body:?}");
            assert!(!body.trim().is_empty());
        }
    }

    #[test]
    fn a_shuffle_keeps_every_item() {
        let mut items: Vec<u32> = (0..50).collect();
        Rng::new(9).shuffle(&mut items);
        assert_ne!(items, (0..50).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..50).collect::<Vec<_>>());
    }
}
