//! The ordered store of VA nodes: a slab of 56-byte records linked in
//! `(addr, seq)` order, with a sparse B-tree index for searches.
//!
//! The kernel keeps its mappings in an rb interval tree plus an address-ordered
//! list, so the split/merge walk steps to the next node and removes the current
//! one without searching. The list here does the same. A search needs an index,
//! but a balanced binary tree is a chain of cache misses (about 19 of them for
//! 40,000 mappings); instead one node in `INDEX_EVERY` (chosen by a scramble of
//! its slot number, so the choice is random but fixed) is entered in a std
//! B-tree. A search asks the B-tree for the indexed node just before the key
//! and walks the list from there: a short, cache-friendly descent and a few
//! hops. Changes touch the B-tree only for indexed nodes.

use super::Va;
use std::collections::BTreeMap;

pub(crate) const NIL: u32 = u32::MAX;

/// Flag bits kept next to the user-visible VA flags (16 bits in all).
pub(crate) const LIVE: u32 = 1 << 15;
pub(crate) const LINKED: u32 = 1 << 14;
pub(crate) const INTERNAL_FLAGS: u32 = LIVE | LINKED;
const FLAG_BITS: u32 = 16;
const FLAG_MASK: u64 = (1 << FLAG_BITS) - 1;
/// `seq` shares a word with the flags; 2^48 inserts outlast any simulation.
pub(crate) const SEQ_MAX: u64 = (1 << (64 - FLAG_BITS)) - 1;

/// One node in this many is indexed: the expected walk after a B-tree lookup.
const INDEX_EVERY: u32 = 4;

/// What a list walk reads comes first, so a hop touches one cache line.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct Node {
  pub addr: u64,
  /// `seq << 16 | flags`.
  tag: u64,
  /// Neighbours in key order (the kernel's address-ordered list).
  lnext: u32,
  lprev: u32,
  pub range: u64,
  pub offset: u64,
  pub obj: u32,
  /// The object's list of linked mappings, in link order.
  pub gem_prev: u32,
  pub gem_next: u32,
}

impl Node {
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
  #[inline]
  pub fn key(&self) -> (u64, u64) {
    (self.addr, self.seq())
  }
}

/// Whether the node in slot `s` is indexed: a murmur3-finalised scramble of
/// the slot number, so about one slot in `INDEX_EVERY` is, at random.
#[inline]
fn indexed(s: u32) -> bool {
  let mut h = s;
  h ^= h >> 16;
  h = h.wrapping_mul(0x85eb_ca6b);
  h ^= h >> 13;
  h = h.wrapping_mul(0xc2b2_ae35);
  (h ^ (h >> 16)).is_multiple_of(INDEX_EVERY)
}

#[derive(Default)]
pub(crate) struct Store {
  nodes: Vec<Node>,
  free: Vec<u32>,
  /// Start address → an indexed node there. Only the address is kept: any
  /// node below a key is a valid place to start walking, and when two
  /// indexed nodes share an address (only zero-length ones can) one entry
  /// serves.
  index: BTreeMap<u64, u32>,
  head: u32,
  tail: u32,
  len: usize,
}

impl Store {
  pub fn new() -> Store {
    Store {
      nodes: Vec::new(),
      free: Vec::new(),
      index: BTreeMap::new(),
      head: NIL,
      tail: NIL,
      len: 0,
    }
  }

  pub fn len(&self) -> usize {
    self.len
  }

  /// Heap bytes held (the B-tree's nodes estimated at two-thirds full).
  pub fn heap_bytes(&self) -> usize {
    let entry = std::mem::size_of::<(u64, u32)>();
    self.nodes.capacity() * std::mem::size_of::<Node>()
      + self.free.capacity() * 4
      + self.index.len() * entry * 3 / 2
  }

  #[inline]
  pub fn node(&self, s: u32) -> &Node {
    &self.nodes[s as usize]
  }

  #[inline]
  pub fn node_mut(&mut self, s: u32) -> &mut Node {
    &mut self.nodes[s as usize]
  }

  #[inline]
  pub fn key(&self, s: u32) -> (u64, u64) {
    self.node(s).key()
  }

  #[inline]
  pub fn addr(&self, s: u32) -> u64 {
    self.node(s).addr
  }

  /// The node as a record (internal flag bits included).
  #[inline]
  pub fn va(&self, s: u32) -> Va {
    let n = self.node(s);
    Va {
      addr: n.addr,
      range: n.range,
      obj: n.obj,
      offset: n.offset,
      seq: n.seq(),
      flags: n.flags(),
      slot: s,
    }
  }

  pub fn is_live(&self, s: u32) -> bool {
    self.nodes.get(s as usize).is_some_and(|n| n.flags() & LIVE != 0)
  }

  /// The slot of a live node with exactly this key, trusting `hint` when it
  /// names that node.
  pub fn locate(&self, key: (u64, u64), hint: u32) -> Option<u32> {
    if self.is_live(hint) && self.key(hint) == key {
      return Some(hint);
    }
    let s = self.lower_bound(key);
    (s != NIL && self.key(s) == key).then_some(s)
  }

  /// The first node whose key is at or after `key`.
  pub fn lower_bound(&self, key: (u64, u64)) -> u32 {
    let mut s = match self.index.range(..key.0).next_back() {
      Some((_, &s)) => self.next(s),
      None => self.head,
    };
    while s != NIL && self.key(s) < key {
      s = self.next(s);
    }
    s
  }

  pub fn first(&self) -> u32 {
    self.head
  }

  pub fn last(&self) -> u32 {
    self.tail
  }

  #[inline]
  pub fn next(&self, s: u32) -> u32 {
    self.node(s).lnext
  }

  #[inline]
  pub fn prev(&self, s: u32) -> u32 {
    self.node(s).lprev
  }

  /// Adds a node; among equal addresses it goes last, as `seq` grows.
  pub fn insert(&mut self, va: Va) -> u32 {
    let at = self.lower_bound((va.addr, 0));
    self.insert_at(va, at)
  }

  /// Adds a node whose key is the greatest among nodes at its address, given
  /// `at`, the first node whose key is at or after `(va.addr, 0)`; this saves
  /// the search when the caller has just made it.
  pub fn insert_at(&mut self, va: Va, mut at: u32) -> u32 {
    while at != NIL && self.addr(at) == va.addr {
      at = self.next(at);
    }
    self.insert_before(va, at)
  }

  /// Adds a node right before `at` (at the end when `at` is NIL); the caller
  /// guarantees that this keeps key order.
  fn insert_before(&mut self, va: Va, at: u32) -> u32 {
    let lprev = if at == NIL { self.tail } else { self.prev(at) };
    let node = Node {
      addr: va.addr,
      tag: va.seq << FLAG_BITS | u64::from((va.flags & !INTERNAL_FLAGS) | LIVE) & FLAG_MASK,
      range: va.range,
      offset: va.offset,
      obj: va.obj,
      lprev,
      lnext: at,
      gem_prev: NIL,
      gem_next: NIL,
    };
    let s = match self.free.pop() {
      Some(s) => {
        self.nodes[s as usize] = node;
        s
      }
      None => {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
      }
    };
    match lprev {
      NIL => self.head = s,
      p => self.node_mut(p).lnext = s,
    }
    match at {
      NIL => self.tail = s,
      n => self.node_mut(n).lprev = s,
    }
    if indexed(s) {
      self.index.entry(node.addr).or_insert(s);
    }
    self.len += 1;
    s
  }

  /// Gives node `s` a new key in place when that keeps key order; the split
  /// pieces of a remap usually can, which saves a removal and an insertion.
  pub fn rekey(&mut self, s: u32, addr: u64, seq: u64) -> bool {
    let key = (addr, seq);
    let (p, n) = (self.prev(s), self.next(s));
    if (p != NIL && self.key(p) >= key) || (n != NIL && self.key(n) <= key) {
      return false;
    }
    if addr != self.addr(s) && indexed(s) {
      self.unindex(s);
      self.index.entry(addr).or_insert(s);
    }
    let node = self.node_mut(s);
    node.addr = addr;
    node.tag = seq << FLAG_BITS | (node.tag & FLAG_MASK);
    true
  }

  /// Takes a node out and frees its slot.
  pub fn remove(&mut self, s: u32) {
    if indexed(s) {
      self.unindex(s);
    }
    let (lprev, lnext) = (self.prev(s), self.next(s));
    match lprev {
      NIL => self.head = lnext,
      p => self.node_mut(p).lnext = lnext,
    }
    match lnext {
      NIL => self.tail = lprev,
      n => self.node_mut(n).lprev = lprev,
    }
    let node = self.node_mut(s);
    node.tag = 0;
    node.lprev = NIL;
    node.lnext = NIL;
    self.free.push(s);
    self.len -= 1;
  }

  fn unindex(&mut self, s: u32) {
    let addr = self.addr(s);
    if self.index.get(&addr) == Some(&s) {
      self.index.remove(&addr);
    }
  }

  pub fn clear(&mut self) {
    *self = Store::new();
  }
}

#[cfg(test)]
impl Store {
  /// The longest run of unindexed nodes: the worst walk after a lookup.
  pub fn longest_gap(&self) -> usize {
    let (mut gap, mut longest, mut s) = (0, 0, self.head);
    while s != NIL {
      gap = if indexed(s) { 0 } else { gap + 1 };
      longest = longest.max(gap);
      s = self.next(s);
    }
    longest
  }
}
