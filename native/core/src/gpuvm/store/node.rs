//! The B+tree's nodes: leaves holding the records in key order, inner nodes
//! routing a key to a child (the search inside one node is `count`'s).

use super::count::count_below;
use super::{Rec, FLAG_BITS, FLAG_MASK, NIL};
use crate::gpuvm::Va;

/// Records per leaf: 32 addresses are four cache lines, as are 32 ranges;
/// the rest of the records take twelve more.
pub(super) const CAP: usize = 32;
/// A leaf that a removal leaves below this many records borrows from or
/// merges with a sibling: half, as in a textbook B+tree. A quarter let the
/// canonical workload's leaves drift to 59 % full (with splits alone).
pub(super) const MIN: usize = CAP / 2;
/// Children per inner node, and the fewest a non-root inner node keeps.
pub(super) const FAN: usize = 32;
pub(super) const FAN_MIN: usize = FAN / 4;
/// Unused key words hold this, so that a search can read all 32.
pub(super) const PAD: u64 = u64::MAX;

/// One record, as it moves between leaves.
#[derive(Clone, Copy)]
pub(super) struct Entry {
  pub(super) addr: u64,
  pub(super) range: u64,
  pub(super) rec: Rec,
}

/// What a search reads comes first: the length, the addresses and the
/// ranges (an overlap test needs the range of the record before the key),
/// from the start of a cache line, so one prefetch brings all of it.
#[derive(Clone)]
#[repr(C, align(64))]
pub(super) struct Leaf {
  pub(super) len: u32,
  /// Neighbouring leaves in key order.
  pub(super) prev: u32,
  pub(super) next: u32,
  pub(super) addrs: [u64; CAP],
  pub(super) ranges: [u64; CAP],
  pub(super) recs: [Rec; CAP],
}

impl Entry {
  /// A new record for `va` (its fields; linked to no list).
  #[inline]
  pub(super) fn of(va: &Va) -> Entry {
    Entry {
      addr: va.addr,
      range: va.range,
      rec: Rec {
        offset: va.offset,
        tag: va.seq << FLAG_BITS | u64::from(va.flags) & FLAG_MASK,
        obj: va.obj,
        link: NIL,
      },
    }
  }
}

impl Leaf {
  pub(super) fn empty() -> Leaf {
    Leaf {
      addrs: [PAD; CAP],
      ranges: [0; CAP],
      recs: [Rec::default(); CAP],
      len: 0,
      prev: NIL,
      next: NIL,
    }
  }

  #[inline]
  pub(super) fn key(&self, i: usize) -> (u64, u64) {
    (self.addrs[i], self.recs[i].seq())
  }

  /// The first index whose key is at or after `key` (`len` when none is).
  /// Always inlined: a call would sit on the path from the leaf's lines
  /// arriving to the next load.
  #[inline(always)]
  pub(super) fn search(&self, key: (u64, u64)) -> usize {
    let n = self.len as usize;
    let mut i = count_below(&self.addrs, key.0);
    // Equal addresses (zero-length mappings) are ordered by seq.
    while i < n && self.addrs[i] == key.0 && self.recs[i].seq() < key.1 {
      i += 1;
    }
    i
  }

  /// Whether `key` lies between this leaf's first and last keys, so a search
  /// for it can start here without a descent.
  #[inline]
  pub(super) fn spans(&self, key: (u64, u64)) -> bool {
    let n = self.len as usize;
    n != 0 && self.key(0) <= key && key <= self.key(n - 1)
  }

  pub(super) fn insert(&mut self, i: usize, e: Entry) {
    let n = self.len as usize;
    self.addrs.copy_within(i..n, i + 1);
    self.ranges.copy_within(i..n, i + 1);
    self.recs.copy_within(i..n, i + 1);
    self.addrs[i] = e.addr;
    self.ranges[i] = e.range;
    self.recs[i] = e.rec;
    self.len += 1;
  }

  pub(super) fn remove(&mut self, i: usize) {
    let n = self.len as usize;
    self.addrs.copy_within(i + 1..n, i);
    self.ranges.copy_within(i + 1..n, i);
    self.recs.copy_within(i + 1..n, i);
    self.addrs[n - 1] = PAD;
    self.len -= 1;
  }

  /// Appends `other`'s records `from..` to this leaf.
  pub(super) fn append_from(&mut self, other: &Leaf, from: usize) {
    self.append_from_range(other, from, other.len as usize - from);
  }

  /// Appends `other`'s `m` records from `from` to this leaf.
  pub(super) fn append_from_range(&mut self, other: &Leaf, from: usize, m: usize) {
    let n = self.len as usize;
    self.addrs[n..n + m].copy_from_slice(&other.addrs[from..from + m]);
    self.ranges[n..n + m].copy_from_slice(&other.ranges[from..from + m]);
    self.recs[n..n + m].copy_from_slice(&other.recs[from..from + m]);
    self.len += m as u32;
  }

  /// Moves this leaf's last `k` records to the front of `to`.
  pub(super) fn move_tail_to(&mut self, to: &mut Leaf, k: usize) {
    let (n, from) = (to.len as usize, self.len as usize - k);
    to.addrs.copy_within(..n, k);
    to.ranges.copy_within(..n, k);
    to.recs.copy_within(..n, k);
    to.addrs[..k].copy_from_slice(&self.addrs[from..from + k]);
    to.ranges[..k].copy_from_slice(&self.ranges[from..from + k]);
    to.recs[..k].copy_from_slice(&self.recs[from..from + k]);
    to.len += k as u32;
    self.truncate(from);
  }

  /// Moves this leaf's first `k` records to the end of `to`.
  pub(super) fn move_head_to(&mut self, to: &mut Leaf, k: usize) {
    to.append_from_range(self, 0, k);
    let n = self.len as usize;
    self.addrs.copy_within(k..n, 0);
    self.ranges.copy_within(k..n, 0);
    self.recs.copy_within(k..n, 0);
    self.truncate(n - k);
  }

  pub(super) fn truncate(&mut self, n: usize) {
    self.addrs[n..].fill(PAD);
    self.len = n as u32;
  }
}

/// Children `c[0..len]`; `sep[i]` (i ≥ 1) is a key at or below every key
/// under `c[i]` and above every key under `c[i-1]`.
#[derive(Clone)]
#[repr(C, align(64))]
pub(super) struct Inner {
  pub(super) len: u32,
  pub(super) child: [u32; FAN],
  pub(super) sep_addr: [u64; FAN],
  pub(super) sep_seq: [u64; FAN],
}

impl Inner {
  pub(super) fn empty() -> Inner {
    let mut sep_addr = [PAD; FAN];
    sep_addr[0] = 0;
    Inner {
      sep_addr,
      sep_seq: [0; FAN],
      child: [NIL; FAN],
      len: 0,
    }
  }

  #[inline]
  pub(super) fn sep(&self, i: usize) -> (u64, u64) {
    (self.sep_addr[i], self.sep_seq[i])
  }

  pub(super) fn set_sep(&mut self, i: usize, key: (u64, u64)) {
    self.sep_addr[i] = key.0;
    self.sep_seq[i] = key.1;
  }

  /// The child whose keys may include `key`.
  #[inline]
  pub(super) fn route(&self, key: (u64, u64)) -> usize {
    let n = self.len as usize;
    // As in `Leaf::search`: the separators below the address (word 0 holds
    // 0 and is no separator), then those at the address with a smaller or
    // equal seq.
    let mut c = count_below(&self.sep_addr, key.0) - usize::from(key.0 > 0);
    while c + 1 < n && self.sep_addr[c + 1] == key.0 && self.sep_seq[c + 1] <= key.1 {
      c += 1;
    }
    c
  }

  /// Puts `child` at `i`, with separator `sep` (ignored at 0).
  pub(super) fn insert(&mut self, i: usize, sep: (u64, u64), child: u32) {
    let n = self.len as usize;
    self.child.copy_within(i..n, i + 1);
    self.sep_addr.copy_within(i..n, i + 1);
    self.sep_seq.copy_within(i..n, i + 1);
    self.child[i] = child;
    self.set_sep(i, sep);
    self.sep_addr[0] = 0;
    self.len += 1;
  }

  /// Takes out child `i` and its separator (child 0 hands its place, and no
  /// separator, to child 1).
  pub(super) fn remove(&mut self, i: usize) {
    let n = self.len as usize;
    self.child.copy_within(i + 1..n, i);
    self.sep_addr.copy_within(i + 1..n, i);
    self.sep_seq.copy_within(i + 1..n, i);
    self.sep_addr[n - 1] = PAD;
    self.sep_addr[0] = 0;
    self.len -= 1;
  }

  /// Keeps the first `n` children; word 0 of the separators goes back to 0
  /// and the unused ones to `PAD`, as `route` expects.
  pub(super) fn truncate(&mut self, n: usize) {
    self.sep_addr[n..].fill(PAD);
    self.sep_addr[0] = 0;
    self.len = n as u32;
  }
}

/// The cache lines of a leaf, and those a search reads from the start of an
/// inner node (its length, children and addresses).
pub(super) const LEAF_LINES: usize = size_of::<Leaf>().div_ceil(64);
pub(super) const INNER_SEARCH_LINES: usize = (4 + 4 * FAN + 8 * FAN).div_ceil(64);

/// Asks the CPU to bring the first `lines` cache lines of `*r` into cache.
#[inline(always)]
pub(super) fn prefetch<T>(r: &T, lines: usize) {
  #[cfg(target_arch = "x86_64")]
  {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    let p = (r as *const T).cast::<i8>();
    for i in 0..lines.min(size_of::<T>().div_ceil(64)) {
      // SAFETY: a prefetch is a hint with no architectural effect; it cannot
      // fault, and the address stays inside `*r` anyway.
      unsafe { _mm_prefetch(p.wrapping_add(64 * i), _MM_HINT_T0) };
    }
  }
  #[cfg(not(target_arch = "x86_64"))]
  let _ = (r, lines);
}

/// Two distinct elements of a slice, both mutable.
pub(super) fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
  debug_assert_ne!(a, b);
  if a < b {
    let (x, y) = v.split_at_mut(b);
    (&mut x[a], &mut y[0])
  } else {
    let (x, y) = v.split_at_mut(a);
    (&mut y[0], &mut x[b])
  }
}
