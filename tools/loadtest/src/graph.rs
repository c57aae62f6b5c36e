//! The social graph to seed: read from an edge list, or generated.
//!
//! An edge list has one undirected friendship per line, `A B`, two 0-based
//! person indexes (the format of DeathStarBench's `socfb-Reed98.edges`);
//! blank lines and lines starting with `%` or `#` are skipped, and anything
//! after the second number (a weight) is ignored. The number of people comes
//! from a `.nodes` file beside it (`socfb-Reed98.nodes`: `962`), else it is
//! the largest index plus one. Each friendship becomes two follows, a→b and
//! b→a, as DeathStarBench seeds it.
//!
//! Without a file, [`Graph::generate`] makes a graph of a given size with a
//! heavy-tailed degree distribution shaped like socfb-Reed98's: a Chung–Lu
//! model. Every person gets a weight (their expected degree) from a
//! log-normal distribution, and friendships are drawn by picking both ends
//! with probability proportional to weight, dropping self-loops and repeats,
//! until the requested count is reached. The weights are the log-normal's
//! quantiles (so the shape does not depend on luck), with σ = 0.77 as in
//! socfb-Reed98 (mean degree 39.1, median 29: mean/median = e^(σ²/2)), scaled
//! so their sum is twice the number of friendships; the seed decides who
//! gets which weight and which friendships are drawn. For 962 people and
//! 18,812 friendships this gives a median degree near 29 and a largest near
//! 300 (socfb-Reed98: 29 and 313).

use crate::rng::Rng;
use anyhow::{Context, Result, bail, ensure};
use std::collections::HashSet;
use std::path::Path;

/// People in socfb-Reed98, DeathStarBench's default graph.
pub const REED98_NODES: usize = 962;
/// Friendships in socfb-Reed98.
pub const REED98_FRIENDSHIPS: usize = 18_812;

/// σ of the log-normal degree distribution of generated graphs.
const LOGNORMAL_SIGMA: f64 = 0.77;

/// An undirected social graph: people `0..nodes` and their friendships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    nodes: usize,
    friendships: Vec<(u32, u32)>,
}

/// Summary of a graph's degrees (friends per person).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DegreeStats {
    /// Fewest friends.
    pub min: u32,
    /// Median (the lower middle value for an even count).
    pub median: u32,
    /// Mean.
    pub mean: f64,
    /// Most friends.
    pub max: u32,
}

impl Graph {
    /// A graph of `nodes` people and the given friendships; self-loops,
    /// out-of-range indexes and repeated friendships (in either order) are
    /// refused.
    pub fn new(nodes: usize, friendships: Vec<(u32, u32)>) -> Result<Self> {
        ensure!(nodes <= u32::MAX as usize, "too many people: {nodes}");
        let mut seen = HashSet::with_capacity(friendships.len());
        for &(a, b) in &friendships {
            ensure!(a != b, "person {a} is their own friend");
            ensure!(
                (a as usize) < nodes && (b as usize) < nodes,
                "friendship {a} {b} is outside 0..{nodes}"
            );
            ensure!(
                seen.insert(ordered(a, b)),
                "friendship {a} {b} is listed twice"
            );
        }
        Ok(Self { nodes, friendships })
    }

    /// Parses an edge list (see the module docs); `nodes` is the number of
    /// people if known, else the largest index plus one.
    pub fn parse(text: &str, nodes: Option<usize>) -> Result<Self> {
        let mut friendships = Vec::new();
        let mut max = None::<u32>;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('%') || line.starts_with('#') {
                continue;
            }
            let mut fields = line
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|f| !f.is_empty());
            let mut index = || -> Result<u32> {
                let field = fields.next().context("expected two person indexes")?;
                field
                    .parse()
                    .with_context(|| format!("{field:?} is not a person index"))
            };
            let (a, b) = (index(), index());
            let (a, b) = (
                a.with_context(|| format!("line {}: {line:?}", n + 1))?,
                b.with_context(|| format!("line {}: {line:?}", n + 1))?,
            );
            max = max.max(Some(a.max(b)));
            friendships.push((a, b));
        }
        let inferred = max.map_or(0, |m| m as usize + 1);
        let nodes = match nodes {
            Some(n) => {
                ensure!(
                    n >= inferred,
                    "the edge list names person {} but there are only {n} people",
                    inferred - 1
                );
                n
            }
            None => inferred,
        };
        Self::new(nodes, friendships)
    }

    /// Reads an edge list file and, if present, the `.nodes` file beside it
    /// (same name, extension `nodes`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the edge list {}", path.display()))?;
        let nodes_path = path.with_extension("nodes");
        let nodes = if nodes_path != path && nodes_path.exists() {
            let raw = std::fs::read_to_string(&nodes_path)
                .with_context(|| format!("cannot read {}", nodes_path.display()))?;
            Some(
                raw.trim()
                    .parse()
                    .with_context(|| format!("{} does not hold a number", nodes_path.display()))?,
            )
        } else {
            None
        };
        Self::parse(&text, nodes).with_context(|| format!("in {}", path.display()))
    }

    /// A Chung–Lu graph of `nodes` people and exactly `friendships`
    /// friendships with a log-normal degree distribution (see the module
    /// docs), the same for the same `seed`.
    pub fn generate(nodes: usize, friendships: usize, seed: u64) -> Result<Self> {
        let possible = nodes.saturating_mul(nodes.saturating_sub(1)) / 2;
        ensure!(
            friendships <= possible,
            "{nodes} people can have at most {possible} friendships, not {friendships}"
        );
        if friendships == 0 {
            return Self::new(nodes, Vec::new());
        }
        let mut rng = Rng::new(seed);
        let mut weights: Vec<f64> = (0..nodes)
            .map(|i| (LOGNORMAL_SIGMA * inverse_normal_cdf((i as f64 + 0.5) / nodes as f64)).exp())
            .collect();
        rng.shuffle(&mut weights);
        let mut cumulative = Vec::with_capacity(nodes);
        let mut total = 0.0;
        for w in &weights {
            total += w;
            cumulative.push(total);
        }
        let pick = |rng: &mut Rng| -> u32 {
            let x = rng.unit() * total;
            cumulative.partition_point(|&c| c <= x).min(nodes - 1) as u32
        };
        let mut seen = HashSet::with_capacity(friendships);
        let mut edges = Vec::with_capacity(friendships);
        // Dense requests make repeats common; past this many draws the rest
        // are taken uniformly from the pairs still free.
        let mut draws_left = friendships.saturating_mul(50);
        while edges.len() < friendships && draws_left > 0 {
            draws_left -= 1;
            let (a, b) = (pick(&mut rng), pick(&mut rng));
            if a != b && seen.insert(ordered(a, b)) {
                edges.push((a, b));
            }
        }
        if edges.len() < friendships {
            let mut free: Vec<(u32, u32)> = (0..nodes as u32)
                .flat_map(|a| (a + 1..nodes as u32).map(move |b| (a, b)))
                .filter(|pair| !seen.contains(pair))
                .collect();
            rng.shuffle(&mut free);
            let missing = friendships - edges.len();
            edges.extend(free.into_iter().take(missing));
        }
        Self::new(nodes, edges)
    }

    /// The number of people.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The friendships, each once.
    pub fn friendships(&self) -> &[(u32, u32)] {
        &self.friendships
    }

    /// Every follow `(follower, followee)`: both directions of each
    /// friendship.
    pub fn follows(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.friendships.iter().flat_map(|&(a, b)| [(a, b), (b, a)])
    }

    /// For each person, whom they follow, in ascending order.
    pub fn following(&self) -> Vec<Vec<u32>> {
        let mut lists = vec![Vec::new(); self.nodes];
        for (a, b) in self.follows() {
            lists[a as usize].push(b);
        }
        for list in &mut lists {
            list.sort_unstable();
        }
        lists
    }

    /// Friends per person.
    pub fn degrees(&self) -> Vec<u32> {
        let mut degrees = vec![0u32; self.nodes];
        for &(a, b) in &self.friendships {
            degrees[a as usize] += 1;
            degrees[b as usize] += 1;
        }
        degrees
    }

    /// Min, median, mean and max degree (all 0 for an empty graph).
    pub fn degree_stats(&self) -> DegreeStats {
        let mut degrees = self.degrees();
        if degrees.is_empty() {
            return DegreeStats {
                min: 0,
                median: 0,
                mean: 0.0,
                max: 0,
            };
        }
        degrees.sort_unstable();
        DegreeStats {
            min: degrees[0],
            median: degrees[(degrees.len() - 1) / 2],
            mean: 2.0 * self.friendships.len() as f64 / self.nodes as f64,
            max: degrees[degrees.len() - 1],
        }
    }

    /// A 64-bit FNV-1a hash of the people count and the friendships in
    /// order, as 16 hex digits: tells whether a state file was seeded from
    /// this graph.
    pub fn fingerprint(&self) -> String {
        let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01B3);
            }
        };
        feed(&(self.nodes as u64).to_le_bytes());
        for &(a, b) in &self.friendships {
            feed(&a.to_le_bytes());
            feed(&b.to_le_bytes());
        }
        format!("{hash:016x}")
    }
}

fn ordered(a: u32, b: u32) -> (u32, u32) {
    if a < b { (a, b) } else { (b, a) }
}

/// The standard normal quantile function (Acklam's rational approximation,
/// relative error below 1.2e-9), for `p` in (0, 1).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// Reads the graph named on the command line, or generates the
/// socfb-Reed98-sized one; returns it and a description for the state file.
pub fn from_args(edges: Option<&Path>, seed: u64) -> Result<(Graph, String)> {
    match edges {
        Some(path) => Ok((Graph::load(path)?, path.display().to_string())),
        None => {
            let graph = Graph::generate(REED98_NODES, REED98_FRIENDSHIPS, seed)?;
            Ok((
                graph,
                format!("generated: Chung-Lu log-normal, seed {seed}"),
            ))
        }
    }
}

/// Refuses a graph too large to seed as usernames `prefix0..` of at most
/// 30 characters.
pub fn check_username_room(graph: &Graph, prefix: &str) -> Result<()> {
    let longest = prefix.len() + graph.nodes().saturating_sub(1).to_string().len();
    if longest > 30 {
        bail!("usernames {prefix}N would be up to {longest} characters; the limit is 30");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real file, from shared/ beside the repository (as on developer
    /// machines and in CI), if it is there.
    fn reed98() -> Option<std::path::PathBuf> {
        let relative = "shared/datasets/socfb-Reed98/socfb-Reed98.edges";
        let beside_repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../..")
            .join(relative);
        [beside_repo, Path::new("/work").join(relative)]
            .into_iter()
            .find(|p| p.exists())
    }

    #[test]
    fn an_edge_list_parses_with_comments_weights_and_commas() {
        let g = Graph::parse("% comment\n# another\n0 1\n\n1,2\n2 3 0.5\n", None).unwrap();
        assert_eq!(g.nodes(), 4);
        assert_eq!(g.friendships(), &[(0, 1), (1, 2), (2, 3)]);
        assert_eq!(g.follows().count(), 6);
    }

    #[test]
    fn a_nodes_count_adds_people_without_friends_but_cannot_drop_named_ones() {
        assert_eq!(Graph::parse("0 1\n", Some(5)).unwrap().nodes(), 5);
        assert!(Graph::parse("0 7\n", Some(5)).is_err());
    }

    #[test]
    fn malformed_lines_self_loops_and_repeats_are_refused() {
        for bad in ["0\n", "0 x\n", "1 1\n", "0 1\n1 0\n", "-1 2\n"] {
            assert!(Graph::parse(bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn following_lists_hold_both_directions_of_each_friendship() {
        let g = Graph::parse("0 1\n0 2\n", None).unwrap();
        assert_eq!(g.following(), vec![vec![1, 2], vec![0], vec![0]]);
        assert_eq!(g.degrees(), vec![2, 1, 1]);
    }

    #[test]
    fn the_reed98_file_parses_to_962_people_and_37624_follows() {
        let Some(path) = reed98() else {
            eprintln!("skipped: socfb-Reed98.edges is not on this machine");
            return;
        };
        let g = Graph::load(&path).unwrap();
        assert_eq!(g.nodes(), REED98_NODES);
        assert_eq!(g.friendships().len(), REED98_FRIENDSHIPS);
        assert_eq!(g.follows().count(), 37_624);
        let stats = g.degree_stats();
        assert_eq!((stats.median, stats.max), (29, 313));
    }

    #[test]
    fn the_generator_gives_reed98_counts_and_a_similar_degree_shape() {
        let g = Graph::generate(REED98_NODES, REED98_FRIENDSHIPS, 42).unwrap();
        assert_eq!(g.nodes(), REED98_NODES);
        assert_eq!(g.friendships().len(), REED98_FRIENDSHIPS);
        assert_eq!(g.follows().count(), 37_624);
        let stats = g.degree_stats();
        assert!((24..=34).contains(&stats.median), "{stats:?}");
        assert!((220..=420).contains(&stats.max), "{stats:?}");
        assert!((stats.mean - 39.11).abs() < 0.01, "{stats:?}");
    }

    #[test]
    fn the_generator_is_deterministic_per_seed() {
        let a = Graph::generate(200, 1000, 1).unwrap();
        assert_eq!(a, Graph::generate(200, 1000, 1).unwrap());
        assert_ne!(
            a.fingerprint(),
            Graph::generate(200, 1000, 2).unwrap().fingerprint()
        );
    }

    #[test]
    fn the_generator_fills_dense_and_complete_graphs() {
        let complete = Graph::generate(10, 45, 3).unwrap();
        assert_eq!(complete.degree_stats().min, 9);
        assert!(Graph::generate(10, 46, 3).is_err());
        assert_eq!(Graph::generate(5, 0, 3).unwrap().friendships().len(), 0);
    }

    #[test]
    fn the_normal_quantile_matches_known_values() {
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_964),
            (0.025, -1.959_964),
            (0.999, 3.090_232),
        ] {
            assert!((inverse_normal_cdf(p) - z).abs() < 1e-5, "{p}");
        }
    }

    #[test]
    fn usernames_must_fit_in_30_characters() {
        let g = Graph::generate(1000, 10, 1).unwrap();
        assert!(check_username_room(&g, "user").is_ok());
        assert!(check_username_room(&g, &"u".repeat(28)).is_err());
    }
}
