//! Finding a key: the descent from the root (remembering the path for a
//! change to walk back up), the finger that usually spares it, `lower_bound`
//! and `locate`.

use super::node::{prefetch, CAP, INNER_SEARCH_LINES, LEAF_LINES};
use super::{Pos, Store, NIL};

/// Deeper than any tree of 2^32 leaves can grow with `FAN_MIN` children.
const MAX_DEPTH: usize = 16;

/// 8,192 leaves are 10.5 MiB: more than this guest's share of a last-level
/// cache (bench/PROFILE.md, fourth round).
const PAST_CACHE_LEAVES: usize = 8192;

/// The inner nodes a descent passed, with the child taken in each.
pub(super) struct Path {
  pub(super) steps: [(u32, u32); MAX_DEPTH],
  pub(super) len: usize,
}

impl Path {
  pub(super) fn new() -> Path {
    Path {
      steps: [(NIL, 0); MAX_DEPTH],
      len: 0,
    }
  }
  pub(super) fn push(&mut self, node: u32, child: usize) {
    self.steps[self.len] = (node, child as u32);
    self.len += 1;
  }
  pub(super) fn pop(&mut self) -> Option<(u32, usize)> {
    self.len = self.len.checked_sub(1)?;
    let (n, c) = self.steps[self.len];
    Some((n, c as usize))
  }
}

impl Store {
  /// The leaf a search for `key` must look in: the finger when `key` falls
  /// inside it, else the one a descent from the root reaches.
  #[inline]
  pub(super) fn leaf_for(&self, key: (u64, u64)) -> u32 {
    let f = self.finger.get();
    if self.leaves.get(f as usize).is_some_and(|l| l.spans(key)) {
      return f;
    }
    let l = self.descend(key, None);
    self.finger.set(l);
    l
  }

  pub(super) fn descend(&self, key: (u64, u64), mut path: Option<&mut Path>) -> u32 {
    let mut n = self.root;
    for level in (0..self.height).rev() {
      let inner = &self.inners[n as usize];
      let c = inner.route(key);
      if let Some(p) = path.as_deref_mut() {
        p.push(n, c);
      }
      n = inner.child[c];
      // Each step of a binary search waits for the load before it; asking
      // for all the lines the next search reads at once overlaps the misses.
      // A leaf is asked for whole: once past the last-level cache, its
      // record lines (read by the walk, shifted by an insert or a removal)
      // would otherwise be a second wait for memory after the search's.
      if level == 0 {
        prefetch(&self.leaves[n as usize], LEAF_LINES);
      } else {
        prefetch(&self.inners[n as usize], INNER_SEARCH_LINES);
      }
    }
    n
  }

  /// Asks for the node a descent toward `key` would read at `depth` levels
  /// above the leaves (0: the leaf itself), reading only the nodes above it,
  /// and returns it (none when the tree is not that tall). A caller that
  /// knows its coming requests asks for the lowest inner node two requests
  /// ahead and for the leaf one ahead: each wait for memory then overlaps a
  /// request's work instead of following the previous wait. Only a hint: a
  /// change before the request comes makes it useless, not wrong.
  pub fn prefetch_toward(&self, key: (u64, u64), depth: usize) -> Option<u32> {
    if depth >= self.height {
      return None;
    }
    let mut n = self.root;
    for _ in depth..self.height {
      let inner = &self.inners[n as usize];
      n = inner.child[inner.route(key)];
    }
    if depth == 0 {
      prefetch(&self.leaves[n as usize], LEAF_LINES);
    } else {
      prefetch(&self.inners[n as usize], INNER_SEARCH_LINES);
    }
    Some(n)
  }

  /// Whether the leaves outgrow what a request can expect to find in cache,
  /// so that looking ahead (`prefetch_toward`) pays for its descents.
  pub fn past_cache(&self) -> bool {
    self.leaves.len() > PAST_CACHE_LEAVES
  }

  /// The first record whose key is at or after `key`.
  pub fn lower_bound(&self, key: (u64, u64)) -> Pos {
    if self.root == NIL {
      return Pos::NIL;
    }
    let l = self.leaf_for(key);
    let leaf = self.leaf(l);
    let i = leaf.search(key);
    // The caller reads the record found or the one before it next (an
    // overlap test steps back): ask for their line while it checks the
    // addresses and ranges, which are in cache already.
    prefetch(&leaf.recs[i.saturating_sub(1)], 1);
    prefetch(&leaf.recs[i.min(CAP - 1)], 1);
    if i < leaf.len as usize {
      return Pos {
        leaf: l,
        idx: i as u32,
      };
    }
    // Past this leaf's records: the next leaf starts above `key`.
    self.at_start_of(leaf.next)
  }

  /// The record with exactly this key, trying the position `hint` (a
  /// `Va.slot`) first, then its leaf: a change since the hint was taken
  /// usually moved the record by a place or two, if at all.
  pub fn locate(&self, key: (u64, u64), hint: u32) -> Option<Pos> {
    let at = Pos::from_hint(hint);
    if let Some(leaf) = self.leaves.get(at.leaf as usize) {
      // Where it was, or one place left or right (a removal or an insertion
      // before it in the same leaf).
      let i = at.idx as usize;
      for j in [i, i.wrapping_sub(1), i + 1] {
        if j < leaf.len as usize && leaf.addrs[j] == key.0 && leaf.recs[j].seq() == key.1 {
          return Some(Pos {
            leaf: at.leaf,
            idx: j as u32,
          });
        }
      }
    }
    if let Some(leaf) = self.leaves.get(at.leaf as usize).filter(|l| l.spans(key)) {
      let i = leaf.search(key);
      return (i < leaf.len as usize && leaf.key(i) == key).then_some(Pos {
        leaf: at.leaf,
        idx: i as u32,
      });
    }
    let p = self.lower_bound(key);
    (!p.is_nil() && self.key(p) == key).then_some(p)
  }
}
