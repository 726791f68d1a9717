//! Pairing suggestions: each person who asked for groceries or money gets
//! the volunteer shopper that makes the **total** distance smallest, with no
//! volunteer suggested for more than `cap` people — an optimal assignment,
//! not a greedy one — preferring a shared language (a mismatch costs
//! `language_penalty_miles`). Nobody is paired further than `max_miles`.
//!
//! Distance depends only on where people are (their ZIP's centroid) and which
//! languages they speak, so people are grouped by (area, languages) and the
//! problem is solved as a min-cost max-flow on the groups (primal-dual:
//! Dijkstra with potentials, then a blocking flow along every shortest path
//! at once), then split back to people in id order.
//! The result is deterministic for the same input.
//!
//! [`pair_with`] adds what the organizers know: each volunteer's own
//! capacity (the cap minus the matches they already hold), and pairs that
//! must never be suggested (a pairing an organizer declined, two people of
//! one household). Anyone in such a pair gets a group of their own, and the
//! edge between the two is left out of the flow network; every other
//! person is grouped as before. Groups of interchangeable people with a
//! missing edge only between singletons keep the flow exact, so the
//! assignment stays optimal.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};

/// Someone who asked for help, or a volunteer shopper.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// Their record id.
    pub id: String,
    /// Their area (ZIP code).
    pub area: String,
    /// The area's centroid, degrees.
    pub lat: f64,
    /// The area's centroid, degrees.
    pub lon: f64,
    /// Languages they speak (ISO codes).
    pub languages: Vec<String>,
}

/// How pairing is done.
#[derive(Debug, Clone, Copy)]
pub struct PairingConfig {
    /// The most people one volunteer is suggested for.
    pub cap: usize,
    /// Nobody is paired further than this.
    pub max_miles: f64,
    /// What not sharing a language costs, in miles.
    pub language_penalty_miles: f64,
}

impl Default for PairingConfig {
    fn default() -> Self {
        PairingConfig {
            cap: 3,
            max_miles: 10.0,
            language_penalty_miles: 2.0,
        }
    }
}

/// One suggestion.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Index into the requesters.
    pub requester: usize,
    /// Index into the volunteers.
    pub volunteer: usize,
    /// Distance between their areas' centroids.
    pub miles: f64,
    /// Whether they share a language.
    pub shared_language: bool,
}

/// The suggestions and who is left without one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pairing {
    /// Suggested pairs, in requester order.
    pub pairs: Vec<Pair>,
    /// Requesters with no volunteer within `max_miles` at all.
    pub nobody_near: Vec<usize>,
    /// Requesters with volunteers near, all already suggested `cap` times.
    pub all_busy: Vec<usize>,
}

/// Great-circle distance in miles.
pub fn miles(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_MILES: f64 = 3958.8;
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_MILES * h.sqrt().asin()
}

/// Whether two people share a language; someone who named none is not
/// counted as a mismatch.
fn shares_language(a: &[String], b: &[String]) -> bool {
    a.is_empty() || b.is_empty() || a.iter().any(|l| b.contains(l))
}

/// A group of people in one area with the same languages.
struct Group<'a> {
    first: &'a Located,
    members: Vec<usize>,
}

/// What makes people interchangeable: area, languages, and (for someone in
/// an excluded pair) their own index.
type GroupKey<'a> = (&'a str, Vec<&'a str>, Option<usize>);

/// Groups people by (area, languages); those in `alone` each get their own.
fn groups<'a>(people: &'a [Located], alone: &HashSet<usize>) -> Vec<Group<'a>> {
    let mut by_key: BTreeMap<GroupKey<'a>, Vec<usize>> = BTreeMap::new();
    let mut order: Vec<usize> = (0..people.len()).collect();
    order.sort_by(|a, b| people[*a].id.cmp(&people[*b].id));
    for i in order {
        let mut langs: Vec<&str> = people[i].languages.iter().map(String::as_str).collect();
        langs.sort_unstable();
        let own = alone.contains(&i).then_some(i);
        by_key
            .entry((people[i].area.as_str(), langs, own))
            .or_default()
            .push(i);
    }
    by_key
        .into_values()
        .map(|members| Group {
            first: &people[members[0]],
            members,
        })
        .collect()
}

/// Suggests volunteers for requesters, each volunteer at most `config.cap`
/// times.
pub fn pair(requesters: &[Located], volunteers: &[Located], config: PairingConfig) -> Pairing {
    let capacity = vec![config.cap; volunteers.len()];
    pair_with(requesters, volunteers, &capacity, &HashSet::new(), config)
}

/// Suggests volunteers for requesters: volunteer `j` at most `capacity[j]`
/// times, and never a (requester, volunteer) pair in `excluded`.
pub fn pair_with(
    requesters: &[Located],
    volunteers: &[Located],
    capacity: &[usize],
    excluded: &HashSet<(usize, usize)>,
    config: PairingConfig,
) -> Pairing {
    let alone_r: HashSet<usize> = excluded.iter().map(|(r, _)| *r).collect();
    let alone_v: HashSet<usize> = excluded.iter().map(|(_, v)| *v).collect();
    let rg = groups(requesters, &alone_r);
    let vg = groups(volunteers, &alone_v);
    let supply = |g: &Group| -> usize { g.members.iter().map(|m| capacity[*m]).sum() };
    // Nodes: source, requester groups, volunteer groups, sink.
    let source = 0;
    let r_node = |i: usize| 1 + i;
    let v_node = |j: usize| 1 + rg.len() + j;
    let sink = 1 + rg.len() + vg.len();
    let mut flow = MinCostFlow::new(sink + 1);
    for (i, g) in rg.iter().enumerate() {
        flow.add_edge(source, r_node(i), g.members.len() as i64, 0);
    }
    for (j, g) in vg.iter().enumerate() {
        flow.add_edge(v_node(j), sink, supply(g) as i64, 0);
    }
    let mut has_near = vec![false; rg.len()];
    let mut group_edges: Vec<(usize, usize, usize, f64, bool)> = Vec::new(); // (edge, i, j, miles, shared)
    for (i, r) in rg.iter().enumerate() {
        for (j, v) in vg.iter().enumerate() {
            let d = miles((r.first.lat, r.first.lon), (v.first.lat, v.first.lon));
            if d > config.max_miles {
                continue;
            }
            // Only singletons are in excluded pairs: one check covers the group.
            if excluded.contains(&(r.members[0], v.members[0])) {
                continue;
            }
            has_near[i] = true;
            let shared = shares_language(&r.first.languages, &v.first.languages);
            let penalty = if shared {
                0.0
            } else {
                config.language_penalty_miles
            };
            // Hundredths of a mile, so costs are exact integers.
            let cost = ((d + penalty) * 100.0).round() as i64;
            let edge = flow.add_edge(r_node(i), v_node(j), r.members.len() as i64, cost);
            group_edges.push((edge, i, j, d, shared));
        }
    }
    flow.run(source, sink);

    // Split group flows back to people: requesters in id order, volunteers
    // filled in id order up to the cap.
    let mut next_requester = vec![0usize; rg.len()];
    let mut volunteer_load: Vec<Vec<usize>> = vg.iter().map(|g| vec![0; g.members.len()]).collect();
    let mut pairs = Vec::new();
    for (edge, i, j, d, shared) in group_edges {
        let units = flow.flow(edge);
        for _ in 0..units {
            let requester = rg[i].members[next_requester[i]];
            next_requester[i] += 1;
            let slot = volunteer_load[j]
                .iter()
                .enumerate()
                .position(|(k, load)| *load < capacity[vg[j].members[k]])
                .expect("flow respects each volunteer's capacity");
            volunteer_load[j][slot] += 1;
            pairs.push(Pair {
                requester,
                volunteer: vg[j].members[slot],
                miles: d,
                shared_language: shared,
            });
        }
    }
    pairs.sort_by_key(|p| p.requester);
    let mut nobody_near = Vec::new();
    let mut all_busy = Vec::new();
    for (i, g) in rg.iter().enumerate() {
        for &r in &g.members[next_requester[i]..] {
            if has_near[i] {
                all_busy.push(r)
            } else {
                nobody_near.push(r)
            }
        }
    }
    nobody_near.sort_unstable();
    all_busy.sort_unstable();
    Pairing {
        pairs,
        nobody_near,
        all_busy,
    }
}

/// Min-cost max-flow by successive shortest paths (Dijkstra with Johnson
/// potentials; all costs are non-negative).
struct MinCostFlow {
    to: Vec<usize>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    adjacency: Vec<Vec<usize>>,
    original: Vec<i64>,
}

impl MinCostFlow {
    fn new(nodes: usize) -> Self {
        MinCostFlow {
            to: Vec::new(),
            cap: Vec::new(),
            cost: Vec::new(),
            adjacency: vec![Vec::new(); nodes],
            original: Vec::new(),
        }
    }

    /// Adds an edge and its residual twin; returns the edge's index.
    fn add_edge(&mut self, from: usize, to: usize, cap: i64, cost: i64) -> usize {
        let e = self.to.len();
        self.to.extend([to, from]);
        self.cap.extend([cap, 0]);
        self.cost.extend([cost, -cost]);
        self.original.extend([cap, 0]);
        self.adjacency[from].push(e);
        self.adjacency[to].push(e + 1);
        e
    }

    /// Units sent along an edge.
    fn flow(&self, edge: usize) -> i64 {
        self.original[edge] - self.cap[edge]
    }

    fn run(&mut self, source: usize, sink: usize) {
        let n = self.adjacency.len();
        let mut potential = vec![0i64; n];
        loop {
            let mut dist = vec![i64::MAX; n];
            dist[source] = 0;
            let mut heap = BinaryHeap::new();
            heap.push(Reverse((0i64, source)));
            while let Some(Reverse((d, u))) = heap.pop() {
                if d > dist[u] {
                    continue;
                }
                for &e in &self.adjacency[u] {
                    if self.cap[e] <= 0 {
                        continue;
                    }
                    let v = self.to[e];
                    let nd = d + self.cost[e] + potential[u] - potential[v];
                    if nd < dist[v] {
                        dist[v] = nd;
                        heap.push(Reverse((nd, v)));
                    }
                }
            }
            if dist[sink] == i64::MAX {
                return;
            }
            for (p, d) in potential.iter_mut().zip(&dist) {
                if *d != i64::MAX {
                    *p += *d;
                }
            }
            // Every shortest path at once: a blocking flow (Dinic) on the
            // edges whose reduced cost is now zero, before the next Dijkstra.
            self.blocking_flows(source, sink, &potential);
        }
    }

    /// Whether edge `e` out of `u` is on a shortest path under `potential`.
    fn admissible(&self, u: usize, e: usize, potential: &[i64]) -> bool {
        self.cap[e] > 0 && self.cost[e] + potential[u] - potential[self.to[e]] == 0
    }

    /// Pushes flow along every zero-reduced-cost path from `source` to
    /// `sink`, level graph by level graph, until none is left.
    fn blocking_flows(&mut self, source: usize, sink: usize, potential: &[i64]) {
        let n = self.adjacency.len();
        loop {
            let mut level = vec![usize::MAX; n];
            level[source] = 0;
            let mut queue = std::collections::VecDeque::from([source]);
            while let Some(u) = queue.pop_front() {
                for &e in &self.adjacency[u] {
                    let v = self.to[e];
                    if level[v] == usize::MAX && self.admissible(u, e, potential) {
                        level[v] = level[u] + 1;
                        queue.push_back(v);
                    }
                }
            }
            if level[sink] == usize::MAX {
                return;
            }
            let mut next = vec![0usize; n];
            while self.push(source, sink, i64::MAX, &level, &mut next, potential) > 0 {}
        }
    }

    /// One augmenting path in the level graph (depth-first, each node's
    /// edges tried once per level graph); returns the units pushed.
    fn push(
        &mut self,
        u: usize,
        sink: usize,
        limit: i64,
        level: &[usize],
        next: &mut [usize],
        potential: &[i64],
    ) -> i64 {
        if u == sink {
            return limit;
        }
        while next[u] < self.adjacency[u].len() {
            let e = self.adjacency[u][next[u]];
            let v = self.to[e];
            if level[v] == level[u] + 1 && self.admissible(u, e, potential) {
                let pushed = self.push(v, sink, limit.min(self.cap[e]), level, next, potential);
                if pushed > 0 {
                    self.cap[e] -= pushed;
                    self.cap[e ^ 1] += pushed;
                    return pushed;
                }
            }
            next[u] += 1;
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Someone at `x` miles east along the equator.
    fn at(id: &str, x: f64, langs: &[&str]) -> Located {
        Located {
            id: id.into(),
            area: format!("x{x}"),
            lat: 0.0,
            lon: x / 69.093, // miles per degree of longitude at the equator (radius 3958.8)
            languages: langs.iter().map(|l| (*l).to_owned()).collect(),
        }
    }

    fn total(p: &Pairing) -> f64 {
        p.pairs.iter().map(|p| p.miles).sum()
    }

    const ONE_EACH: PairingConfig = PairingConfig {
        cap: 1,
        max_miles: 50.0,
        language_penalty_miles: 0.0,
    };

    #[test]
    fn the_optimal_answer_beats_greedy() {
        // Greedy, taking R1 first, gives R1 the nearest volunteer V1 (4 mi),
        // leaving V2 for R2 (11 mi): 15 mi. The optimum is 6 + 1 = 7 mi.
        let requesters = [at("r1", 4.0, &[]), at("r2", -1.0, &[])];
        let volunteers = [at("v1", 0.0, &[]), at("v2", 10.0, &[])];
        let p = pair(&requesters, &volunteers, ONE_EACH);
        let chosen: Vec<(usize, usize)> =
            p.pairs.iter().map(|p| (p.requester, p.volunteer)).collect();
        assert_eq!(chosen, [(0, 1), (1, 0)]);
        assert!((total(&p) - 7.0).abs() < 0.01, "{}", total(&p));
    }

    #[test]
    fn no_volunteer_is_suggested_more_than_the_cap() {
        let requesters: Vec<Located> = (0..7)
            .map(|i| at(&format!("r{i}"), 0.1 * f64::from(i), &[]))
            .collect();
        let volunteers = [at("near", 0.0, &[]), at("far", 5.0, &[])];
        let p = pair(
            &requesters,
            &volunteers,
            PairingConfig {
                cap: 3,
                max_miles: 50.0,
                language_penalty_miles: 0.0,
            },
        );
        let near = p.pairs.iter().filter(|p| p.volunteer == 0).count();
        let far = p.pairs.iter().filter(|p| p.volunteer == 1).count();
        assert_eq!((near, far), (3, 3));
        assert_eq!(
            p.all_busy.len(),
            1,
            "the seventh waits: everyone near is busy"
        );
        assert!(p.nobody_near.is_empty());
    }

    #[test]
    fn someone_with_nobody_within_the_distance_is_flagged() {
        let requesters = [at("close", 1.0, &[]), at("remote", 40.0, &[])];
        let volunteers = [at("v", 0.0, &[])];
        let p = pair(
            &requesters,
            &volunteers,
            PairingConfig {
                cap: 3,
                max_miles: 10.0,
                language_penalty_miles: 0.0,
            },
        );
        assert_eq!(p.pairs.len(), 1);
        assert_eq!(p.nobody_near, [1]);
    }

    #[test]
    fn a_shared_language_is_preferred_within_the_penalty() {
        let requesters = [at("r", 0.0, &["es"])];
        let volunteers = [
            at("english", 1.0, &["en"]),
            at("spanish", 2.5, &["es", "en"]),
        ];
        let config = PairingConfig {
            cap: 1,
            max_miles: 10.0,
            language_penalty_miles: 2.0,
        };
        let p = pair(&requesters, &volunteers, config);
        assert_eq!(
            p.pairs[0].volunteer, 1,
            "1.5 mi further, but they share Spanish"
        );
        assert!(p.pairs[0].shared_language);
        let far = [at("english", 1.0, &["en"]), at("spanish", 4.0, &["es"])];
        assert_eq!(
            pair(&requesters, &far, config).pairs[0].volunteer,
            0,
            "3 mi further is more than the penalty"
        );
    }

    #[test]
    fn the_same_input_gives_the_same_pairs() {
        let requesters: Vec<Located> = (0..40)
            .map(|i| at(&format!("r{i:02}"), f64::from(i % 7), &[]))
            .collect();
        let volunteers: Vec<Located> = (0..9)
            .map(|i| at(&format!("v{i}"), f64::from(i % 4), &[]))
            .collect();
        let a = pair(&requesters, &volunteers, PairingConfig::default());
        let b = pair(&requesters, &volunteers, PairingConfig::default());
        assert_eq!(a, b);
        assert_eq!(a.pairs.len(), 27, "9 volunteers × 3");
    }

    #[test]
    fn the_optimum_matches_brute_force_on_small_random_cases() {
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 1000) as f64 / 100.0
        };
        for _ in 0..200 {
            let requesters: Vec<Located> =
                (0..4).map(|i| at(&format!("r{i}"), next(), &[])).collect();
            let volunteers: Vec<Located> =
                (0..3).map(|i| at(&format!("v{i}"), next(), &[])).collect();
            let config = PairingConfig {
                cap: 1,
                max_miles: 6.0,
                language_penalty_miles: 0.0,
            };
            let p = pair(&requesters, &volunteers, config);
            // Brute force: every way to give each requester a distinct volunteer or none.
            let mut best = (0usize, f64::MAX);
            let choices = 4usize.pow(4);
            for code in 0..choices {
                let picks: Vec<usize> = (0..4).map(|k| code / 4usize.pow(k as u32) % 4).collect();
                let used: Vec<usize> = picks.iter().copied().filter(|v| *v < 3).collect();
                let mut distinct = used.clone();
                distinct.sort_unstable();
                distinct.dedup();
                if distinct.len() != used.len() {
                    continue;
                }
                let mut cost = 0.0;
                let mut ok = true;
                for (r, v) in picks.iter().enumerate() {
                    if *v < 3 {
                        let d = miles((0.0, requesters[r].lon), (0.0, volunteers[*v].lon));
                        ok &= d <= config.max_miles;
                        cost += d;
                    }
                }
                if ok && (used.len() > best.0 || (used.len() == best.0 && cost < best.1 - 1e-9)) {
                    best = (used.len(), cost);
                }
            }
            assert_eq!(p.pairs.len(), best.0);
            assert!(
                (total(&p) - best.1).abs() < 0.02,
                "{} vs {}",
                total(&p),
                best.1
            );
        }
    }

    #[test]
    fn each_volunteer_is_offered_only_their_remaining_capacity() {
        let requesters: Vec<Located> = (0..4)
            .map(|i| at(&format!("r{i}"), 0.1 * f64::from(i), &[]))
            .collect();
        let volunteers = [at("busy", 0.0, &[]), at("free", 3.0, &[])];
        let p = pair_with(
            &requesters,
            &volunteers,
            &[0, 2],
            &HashSet::new(),
            PairingConfig::default(),
        );
        assert!(p.pairs.iter().all(|p| p.volunteer == 1), "{p:?}");
        assert_eq!(p.pairs.len(), 2);
        assert_eq!(
            p.all_busy.len(),
            2,
            "the rest wait: everyone near is at capacity"
        );
    }

    #[test]
    fn an_excluded_pair_is_never_suggested() {
        // r0 and v0 are one household; r1 was declined for v1.
        let requesters = [at("r0", 0.0, &[]), at("r1", 3.0, &[])];
        let volunteers = [at("v0", 0.0, &[]), at("v1", 3.0, &[])];
        let excluded = HashSet::from([(0, 0), (1, 1)]);
        let p = pair_with(
            &requesters,
            &volunteers,
            &[3, 3],
            &excluded,
            PairingConfig::default(),
        );
        let chosen: Vec<(usize, usize)> =
            p.pairs.iter().map(|p| (p.requester, p.volunteer)).collect();
        assert_eq!(chosen, [(0, 1), (1, 0)]);
    }

    #[test]
    fn with_capacities_and_exclusions_the_optimum_matches_brute_force() {
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let config = PairingConfig {
            cap: 2,
            max_miles: 6.0,
            language_penalty_miles: 0.0,
        };
        for _ in 0..300 {
            // Few distinct places, so groups form and exclusions split them.
            let requesters: Vec<Located> = (0..4)
                .map(|i| at(&format!("r{i}"), next(4) as f64 * 2.0, &[]))
                .collect();
            let volunteers: Vec<Located> = (0..3)
                .map(|i| at(&format!("v{i}"), next(4) as f64 * 2.0, &[]))
                .collect();
            let capacity: Vec<usize> = (0..3).map(|_| next(3) as usize).collect();
            let excluded: HashSet<(usize, usize)> = (0..2)
                .map(|_| (next(4) as usize, next(3) as usize))
                .collect();
            let p = pair_with(&requesters, &volunteers, &capacity, &excluded, config);
            for pair in &p.pairs {
                assert!(!excluded.contains(&(pair.requester, pair.volunteer)));
            }
            for (v, cap) in capacity.iter().enumerate() {
                assert!(p.pairs.iter().filter(|p| p.volunteer == v).count() <= *cap);
            }
            // Brute force: each requester gets a volunteer (0..3) or none (3).
            let mut best = (0usize, f64::MAX);
            for code in 0..4usize.pow(4) {
                let picks: Vec<usize> = (0..4).map(|k| code / 4usize.pow(k as u32) % 4).collect();
                let mut load = [0usize; 3];
                let mut cost = 0.0;
                let mut ok = true;
                for (r, v) in picks.iter().enumerate() {
                    if *v < 3 {
                        load[*v] += 1;
                        let d = miles((0.0, requesters[r].lon), (0.0, volunteers[*v].lon));
                        ok &= d <= config.max_miles && !excluded.contains(&(r, *v));
                        cost += d;
                    }
                }
                ok &= (0..3).all(|v| load[v] <= capacity[v]);
                let n = picks.iter().filter(|v| **v < 3).count();
                if ok && (n > best.0 || (n == best.0 && cost < best.1 - 1e-9)) {
                    best = (n, cost);
                }
            }
            assert_eq!(p.pairs.len(), best.0, "{capacity:?} {excluded:?}");
            if best.0 > 0 {
                assert!(
                    (total(&p) - best.1).abs() < 0.02,
                    "{} vs {}",
                    total(&p),
                    best.1
                );
            }
        }
    }
}
