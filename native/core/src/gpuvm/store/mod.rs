//! The ordered store of VA records: a B+tree whose leaves hold the records.
//!
//! The kernel keeps its mappings in an rb interval tree plus an address-ordered
//! list. Both are chains of pointers to nodes scattered in memory, so every
//! step of a search or a walk is a cache miss. Here the records themselves sit
//! in the leaves, in key order: a split/merge walk finds the first mapping with
//! one descent through small, hot inner nodes and then reads its neighbours
//! from the same few cache lines. Keys are `(addr, seq)`; leaves keep the
//! addresses and the ranges in arrays of their own, so that a search and an
//! overlap test read a few lines of 8-byte words.
//!
//! A `Pos` names a record by leaf and index. It is valid until the next change
//! to the store; callers that keep a mapping across changes keep its key (and
//! the leaf as a hint) and find it again, which the finger makes cheap.
//!
//! The files: `node` the leaf and inner-node types; `count` the search inside
//! one node (vector compares where the CPU has them); `cursor` reading the
//! record at a `Pos` and stepping to its neighbours; `search` the descent from
//! the root, the finger, `lower_bound` and `locate`; `insert` adding records
//! (moving some into a sibling leaf, else splitting) and `rekey`; `remove`
//! taking them out (evening out with a sibling, or merging).

mod count;
mod cursor;
mod insert;
mod node;
mod nodes;
mod remove;
mod search;

use node::{Inner, Leaf, CAP};
use nodes::Nodes;
use std::cell::Cell;

pub(crate) const NIL: u32 = u32::MAX;

const FLAG_BITS: u32 = 16;
const FLAG_MASK: u64 = (1 << FLAG_BITS) - 1;
/// `seq` shares a word with the flags; 2^48 inserts outlast any simulation.
pub(crate) const SEQ_MAX: u64 = (1 << (64 - FLAG_BITS)) - 1;

/// What a record holds besides its address and range.
#[derive(Clone, Copy, Default)]
#[repr(C)]
pub(crate) struct Rec {
  pub offset: u64,
  /// `seq << 16 | flags`.
  tag: u64,
  pub obj: u32,
  /// Index of the record's entry in its object's mapping list, or `NIL`.
  pub link: u32,
}

impl Rec {
  #[inline]
  pub fn seq(&self) -> u64 {
    self.tag >> FLAG_BITS
  }
  #[inline]
  pub fn flags(&self) -> u32 {
    (self.tag & FLAG_MASK) as u32
  }
  #[inline]
  pub fn set_flags(&mut self, mask: u32, on: bool) {
    let mask = u64::from(mask) & FLAG_MASK;
    self.tag = if on { self.tag | mask } else { self.tag & !mask };
  }
  /// Replaces the whole flags word (its low 16 bits).
  #[inline]
  pub fn set_all_flags(&mut self, flags: u32) {
    self.tag = (self.tag & !FLAG_MASK) | (u64::from(flags) & FLAG_MASK);
  }
}

/// Where a record is: valid until the store next changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
  pub leaf: u32,
  pub idx: u32,
}

impl Pos {
  pub const NIL: Pos = Pos { leaf: NIL, idx: 0 };
  #[inline]
  pub fn is_nil(self) -> bool {
    self.leaf == NIL
  }

  /// The position packed into a `Va.slot` hint (NIL if it does not fit).
  #[inline]
  pub fn hint(self) -> u32 {
    let h = u64::from(self.leaf) * CAP as u64 + u64::from(self.idx);
    u32::try_from(h).unwrap_or(NIL)
  }

  #[inline]
  fn from_hint(h: u32) -> Pos {
    Pos {
      leaf: h / CAP as u32,
      idx: h % CAP as u32,
    }
  }
}

#[derive(Clone)]
pub(crate) struct Store {
  leaves: Nodes<Leaf>,
  free_leaves: Vec<u32>,
  inners: Nodes<Inner>,
  free_inners: Vec<u32>,
  /// A leaf when `height` is 0, else an inner node.
  root: u32,
  height: usize,
  head: u32,
  tail: u32,
  len: usize,
  /// The leaf last searched or changed: most searches land next to the last
  /// one, and this one is checked before descending from the root.
  finger: Cell<u32>,
}

impl Default for Store {
  fn default() -> Self {
    Store::new()
  }
}

impl Store {
  /// An empty store; it allocates its first leaf with its first record.
  pub fn new() -> Store {
    Store {
      leaves: Nodes::new(),
      free_leaves: Vec::new(),
      inners: Nodes::new(),
      free_inners: Vec::new(),
      root: NIL,
      height: 0,
      head: NIL,
      tail: NIL,
      len: 0,
      finger: Cell::new(NIL),
    }
  }

  pub fn len(&self) -> usize {
    self.len
  }

  /// Heap bytes held by the leaves and inner nodes.
  pub fn heap_bytes(&self) -> usize {
    self.leaves.capacity() * size_of::<Leaf>()
      + self.inners.capacity() * size_of::<Inner>()
      + (self.free_leaves.capacity() + self.free_inners.capacity()) * 4
  }

  #[inline]
  fn leaf(&self, l: u32) -> &Leaf {
    &self.leaves[l as usize]
  }

  pub fn clear(&mut self) {
    *self = Store::new();
  }
}

#[cfg(test)]
mod check;
#[cfg(test)]
mod tests;
