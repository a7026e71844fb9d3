//! Which connections the network task keeps (owner: net).
//!
//! A region of `n` members does not need `n - 1` connections per node: gossip needs a
//! connected graph of a few peers each, and a query can dial the members it asks. So each
//! node keeps connections to its **neighbours** only, and closes any other connection once it
//! has carried no request for the idle timeout.
//!
//! - Regions of at most [`Mesh::full_mesh_up_to`] members (16 by default): every member is a
//!   neighbour (a full mesh; queries never wait for a dial).
//! - Larger regions: the members, sorted by peer id, form a ring; the neighbours of the member
//!   at position `i` are those at `i ± 2^k` (k = 0, 1, 2, …), about `2·log2(n)` of them
//!   (12 in a region of 50, 18 in one of 300). The relation is symmetric, so both ends of a
//!   connection agree to keep it and no two nodes fight over one; the ring alone makes the
//!   graph connected and the powers of two keep every member within about `log2(n)` hops.
//! - A neighbour that is not connected is dialled on [`Mesh::tick`], with a per-peer backoff
//!   (1 s, doubling up to 30 s; reset when a connection is made). Of two neighbours, the one
//!   with the lower peer id dials first; the other waits [`DEFER`] before it dials too, so
//!   that the two do not usually open two connections to each other.
//!
//! The mesh also remembers when each peer last authored gossip ([`Mesh::heard`]): in a
//! region where not every member is a neighbour, that is how a node knows a member is alive
//! (every member publishes a digest each anti-entropy interval).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// First wait before redialling a neighbour that could not be reached.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between two dials of an unreachable neighbour.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long the higher-id end of a missing neighbour connection waits for the lower-id end
/// to dial before it dials itself.
pub(crate) const DEFER: Duration = Duration::from_secs(2);

/// The keep/close/redial state of the network task's connections.
#[derive(Debug)]
pub(crate) struct Mesh {
    /// Regions of at most this many members are a full mesh.
    pub(crate) full_mesh_up_to: usize,
    /// A connection to a peer that is not a neighbour is closed after this long without a
    /// request to or from it.
    pub(crate) linger: Duration,
    local: Option<PeerId>,
    neighbours: HashSet<PeerId>,
    used: HashMap<PeerId, Instant>,
    retry: HashMap<PeerId, (Instant, Duration)>,
    heard: HashMap<PeerId, Instant>,
}

impl Mesh {
    pub(crate) fn new(full_mesh_up_to: usize, linger: Duration) -> Mesh {
        Mesh {
            full_mesh_up_to,
            linger,
            local: None,
            neighbours: HashSet::new(),
            used: HashMap::new(),
            retry: HashMap::new(),
            heard: HashMap::new(),
        }
    }

    /// Recomputes the neighbours from the member lists of every region (each list may or
    /// may not contain `local`; a region without it gives no neighbours). Forgets backoff
    /// and gossip times of peers that are no longer members of any region.
    pub(crate) fn set_regions(
        &mut self,
        local: &PeerId,
        regions: impl Iterator<Item = Vec<PeerId>>,
        members: &HashSet<PeerId>,
    ) {
        self.local = Some(*local);
        self.neighbours = regions
            .flat_map(|m| neighbours(local, m, self.full_mesh_up_to))
            .collect();
        self.retry.retain(|p, _| self.neighbours.contains(p));
        self.heard.retain(|p, _| members.contains(p));
    }

    /// Whether `peer` is a neighbour (its connection is kept).
    pub(crate) fn is_neighbour(&self, peer: &PeerId) -> bool {
        self.neighbours.contains(peer)
    }

    /// The neighbours.
    pub(crate) fn neighbour_set(&self) -> &HashSet<PeerId> {
        &self.neighbours
    }

    /// A request went to or came from `peer`, or a connection to it was just made: its
    /// connection is in use and stays for at least [`Mesh::linger`] more.
    pub(crate) fn used(&mut self, peer: PeerId, now: Instant) {
        self.used.insert(peer, now);
    }

    /// A connection to `peer` is up: the next time it is lost, redial after the first backoff.
    pub(crate) fn connected(&mut self, peer: &PeerId) {
        self.retry.remove(peer);
    }

    /// `peer` authored a gossip message just now.
    pub(crate) fn heard(&mut self, peer: PeerId, now: Instant) {
        self.heard.insert(peer, now);
    }

    /// How long ago `peer` last authored gossip, if ever.
    pub(crate) fn heard_ago(&self, peer: &PeerId, now: Instant) -> Option<Duration> {
        self.heard
            .get(peer)
            .map(|t| now.saturating_duration_since(*t))
    }

    /// One round of upkeep: the neighbours to dial now (not connected, their backoff over;
    /// each gets its next backoff), and the connected peers to disconnect (not neighbours,
    /// no request pending, unused for [`Mesh::linger`]).
    pub(crate) fn tick(
        &mut self,
        now: Instant,
        connected: &HashSet<PeerId>,
        busy: &HashSet<PeerId>,
    ) -> (Vec<PeerId>, Vec<PeerId>) {
        let mut dial = Vec::new();
        for peer in &self.neighbours {
            if connected.contains(peer) {
                continue;
            }
            let (due, backoff) = match self.retry.get(peer) {
                Some(r) => *r,
                None if self.local.is_some_and(|l| l > *peer) => {
                    self.retry.insert(*peer, (now + DEFER, FIRST_BACKOFF));
                    continue;
                }
                None => (now, FIRST_BACKOFF),
            };
            if due <= now {
                dial.push(*peer);
                self.retry
                    .insert(*peer, (now + backoff, (backoff * 2).min(MAX_BACKOFF)));
            }
        }
        let mut close = Vec::new();
        for peer in connected {
            if self.neighbours.contains(peer) || busy.contains(peer) {
                continue;
            }
            match self.used.get(peer) {
                Some(t) if now.saturating_duration_since(*t) < self.linger => {}
                Some(_) => close.push(*peer),
                // Never seen in use (connected before this tick saw it): start its clock now.
                None => {
                    self.used.insert(*peer, now);
                }
            }
        }
        self.used.retain(|p, _| connected.contains(p));
        dial.sort();
        close.sort();
        (dial, close)
    }
}

/// The neighbours of `local` among `members` (see the module doc): every other member when
/// there are at most `full_mesh_up_to`, else the members at ring distance `± 2^k`. Empty when
/// `local` is not a member.
pub(crate) fn neighbours(
    local: &PeerId,
    mut members: Vec<PeerId>,
    full_mesh_up_to: usize,
) -> Vec<PeerId> {
    members.sort();
    members.dedup();
    let Ok(i) = members.binary_search(local) else {
        return Vec::new();
    };
    let n = members.len();
    if n <= full_mesh_up_to {
        return members.into_iter().filter(|p| p != local).collect();
    }
    let mut out = HashSet::new();
    let mut d = 1;
    while d < n {
        out.insert(members[(i + d) % n]);
        out.insert(members[(i + n - d) % n]);
        d *= 2;
    }
    out.remove(local);
    let mut out: Vec<PeerId> = out.into_iter().collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    /// Members reachable from the first one over neighbour links.
    fn reach(members: &[PeerId], full: usize) -> (usize, usize) {
        let mut seen = HashSet::from([members[0]]);
        let mut frontier = vec![members[0]];
        let mut hops = 0;
        while !frontier.is_empty() && seen.len() < members.len() {
            hops += 1;
            let mut next = Vec::new();
            for p in frontier {
                for q in neighbours(&p, members.to_vec(), full) {
                    if seen.insert(q) {
                        next.push(q);
                    }
                }
            }
            frontier = next;
        }
        (seen.len(), hops)
    }

    #[test]
    fn small_regions_are_a_full_mesh() {
        let m = peers(16);
        for p in &m {
            assert_eq!(neighbours(p, m.clone(), 16).len(), 15);
        }
    }

    #[test]
    fn large_regions_keep_about_two_log_n_neighbours_symmetrically_and_stay_connected() {
        for (n, most) in [(17, 10), (50, 12), (300, 18)] {
            let m = peers(n);
            for p in &m {
                let mine = neighbours(p, m.clone(), 16);
                assert!(
                    mine.len() <= most && mine.len() >= most - 2,
                    "n={n}: {} neighbours",
                    mine.len()
                );
                assert!(!mine.contains(p));
                for q in &mine {
                    assert!(
                        neighbours(q, m.clone(), 16).contains(p),
                        "n={n}: not symmetric"
                    );
                }
            }
            let (reached, hops) = reach(&m, 16);
            assert_eq!(reached, n);
            assert!(
                hops <= 2 * (usize::BITS - n.leading_zeros()) as usize,
                "n={n}: {hops} hops"
            );
        }
    }

    #[test]
    fn not_a_member_no_neighbours() {
        assert!(neighbours(&PeerId::random(), peers(40), 16).is_empty());
    }

    #[test]
    fn unreachable_neighbours_are_redialled_with_growing_backoff() {
        let mut m = peers(3);
        m.sort(); // m[0] has the lowest id: it dials first
        let mut mesh = Mesh::new(16, Duration::from_secs(60));
        mesh.set_regions(&m[0], [m.clone()].into_iter(), &m.iter().copied().collect());
        let t0 = Instant::now();
        let none = HashSet::new();
        let (dial, _) = mesh.tick(t0, &none, &none);
        assert_eq!(dial.len(), 2);
        assert!(mesh
            .tick(t0 + Duration::from_millis(900), &none, &none)
            .0
            .is_empty());
        assert_eq!(
            mesh.tick(t0 + Duration::from_secs(1), &none, &none).0.len(),
            2
        ); // after 1 s
        assert!(mesh
            .tick(t0 + Duration::from_millis(2900), &none, &none)
            .0
            .is_empty());
        assert_eq!(
            mesh.tick(t0 + Duration::from_secs(3), &none, &none).0.len(),
            2
        ); // after 2 s more
        mesh.connected(&m[1]);
        let (dial, _) = mesh.tick(
            t0 + Duration::from_secs(3) + Duration::from_millis(1),
            &none,
            &none,
        );
        assert_eq!(dial, vec![m[1]], "a reset backoff dials at once");
    }

    #[test]
    fn the_higher_id_end_waits_before_it_dials() {
        let mut m = peers(3);
        m.sort();
        let mut mesh = Mesh::new(16, Duration::from_secs(60));
        mesh.set_regions(&m[1], [m.clone()].into_iter(), &m.iter().copied().collect());
        let t0 = Instant::now();
        let none = HashSet::new();
        assert_eq!(
            mesh.tick(t0, &none, &none).0,
            vec![m[2]],
            "dials the higher one at once"
        );
        mesh.connected(&m[2]);
        let up: HashSet<PeerId> = [m[2]].into();
        assert!(mesh
            .tick(t0 + DEFER - Duration::from_millis(1), &up, &none)
            .0
            .is_empty());
        assert_eq!(
            mesh.tick(t0 + DEFER, &up, &none).0,
            vec![m[0]],
            "the lower one had its chance"
        );
    }

    #[test]
    fn idle_connections_to_non_neighbours_close_after_the_linger_unless_busy() {
        let m = peers(3);
        let stranger = PeerId::random();
        let mut mesh = Mesh::new(16, Duration::from_secs(60));
        mesh.set_regions(&m[0], [m.clone()].into_iter(), &m.iter().copied().collect());
        let t0 = Instant::now();
        let connected: HashSet<PeerId> = [m[1], m[2], stranger].into();
        let none = HashSet::new();
        assert!(
            mesh.tick(t0, &connected, &none).1.is_empty(),
            "a connection first seen now gets its full linger"
        );
        mesh.used(stranger, t0 + Duration::from_secs(30));
        assert!(mesh
            .tick(t0 + Duration::from_secs(89), &connected, &none)
            .1
            .is_empty());
        let busy: HashSet<PeerId> = [stranger].into();
        assert!(mesh
            .tick(t0 + Duration::from_secs(91), &connected, &busy)
            .1
            .is_empty());
        assert_eq!(
            mesh.tick(t0 + Duration::from_secs(91), &connected, &none).1,
            vec![stranger]
        );
    }
}
