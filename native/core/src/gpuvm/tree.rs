//! The ordered store of VA nodes: a treap kept in a slab, ordered by
//! `(addr, seq)`.
//!
//! The kernel keeps its mappings in an rb interval tree with parent pointers,
//! so the split/merge walk steps to the next node and removes the current one
//! without searching. A slab treap gives the same: nodes are addressed by a
//! u32 slot, `next` is a short climb, removal needs no search, and a search
//! descends once. Treap priorities are a fixed scramble of the slot number, so
//! the shape is random without storing a priority.
//!
//! A search only reads start addresses and child links, so those live in a
//! dense 16-byte array of their own (four nodes per cache line); everything
//! else sits in a 48-byte companion record. 64 bytes per node in all.

use super::Va;

pub(crate) const NIL: u32 = u32::MAX;

/// Flag bits kept next to the user-visible VA flags (16 bits in all).
pub(crate) const LIVE: u32 = 1 << 15;
pub(crate) const LINKED: u32 = 1 << 14;
const FLAG_BITS: u32 = 16;
const FLAG_MASK: u64 = (1 << FLAG_BITS) - 1;
/// `seq` shares a word with the flags; 2^48 inserts outlast any simulation.
pub(crate) const SEQ_MAX: u64 = (1 << (64 - FLAG_BITS)) - 1;
pub(crate) const INTERNAL_FLAGS: u32 = LIVE | LINKED;

/// What a descent reads.
#[derive(Clone, Copy)]
struct Hot {
  addr: u64,
  left: u32,
  right: u32,
}

/// The rest of a node.
#[derive(Clone, Copy)]
pub(crate) struct Cold {
  /// `seq << 16 | flags`.
  tag: u64,
  pub range: u64,
  pub offset: u64,
  pub obj: u32,
  parent: u32,
  /// Neighbours in key order, as the kernel's address-ordered list: stepping
  /// is one load instead of a climb through the tree.
  lprev: u32,
  lnext: u32,
  /// The object's list of linked mappings, in link order.
  pub gem_prev: u32,
  pub gem_next: u32,
}

impl Cold {
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
}

/// A bijective scramble of the slot number (murmur3's finaliser).
fn priority(slot: u32) -> u32 {
  let mut h = slot;
  h ^= h >> 16;
  h = h.wrapping_mul(0x85eb_ca6b);
  h ^= h >> 13;
  h = h.wrapping_mul(0xc2b2_ae35);
  h ^ (h >> 16)
}

#[derive(Default)]
pub(crate) struct Tree {
  hot: Vec<Hot>,
  cold: Vec<Cold>,
  free: Vec<u32>,
  root: u32,
  head: u32,
  tail: u32,
  len: usize,
}

impl Tree {
  pub fn new() -> Tree {
    Tree {
      hot: Vec::new(),
      cold: Vec::new(),
      free: Vec::new(),
      root: NIL,
      head: NIL,
      tail: NIL,
      len: 0,
    }
  }

  pub fn len(&self) -> usize {
    self.len
  }

  pub fn capacity_bytes(&self) -> usize {
    self.hot.capacity() * std::mem::size_of::<Hot>()
      + self.cold.capacity() * std::mem::size_of::<Cold>()
      + self.free.capacity() * 4
  }

  #[inline]
  pub fn addr(&self, s: u32) -> u64 {
    self.hot[s as usize].addr
  }

  #[inline]
  pub fn key(&self, s: u32) -> (u64, u64) {
    (self.hot[s as usize].addr, self.cold[s as usize].seq())
  }

  /// Compares node `s` with `key`, reading `seq` only on an address tie.
  #[inline]
  fn cmp_key(&self, s: u32, key: (u64, u64)) -> std::cmp::Ordering {
    let addr = self.hot[s as usize].addr;
    addr
      .cmp(&key.0)
      .then_with(|| self.cold[s as usize].seq().cmp(&key.1))
  }

  #[inline]
  pub fn cold(&self, s: u32) -> &Cold {
    &self.cold[s as usize]
  }

  #[inline]
  pub fn cold_mut(&mut self, s: u32) -> &mut Cold {
    &mut self.cold[s as usize]
  }

  /// The node as a record (internal flag bits included).
  #[inline]
  pub fn va(&self, s: u32) -> Va {
    let c = &self.cold[s as usize];
    Va {
      addr: self.hot[s as usize].addr,
      range: c.range,
      obj: c.obj,
      offset: c.offset,
      seq: c.seq(),
      flags: c.flags(),
      slot: s,
    }
  }

  #[inline]
  fn left(&self, s: u32) -> u32 {
    self.hot[s as usize].left
  }
  #[inline]
  fn right(&self, s: u32) -> u32 {
    self.hot[s as usize].right
  }
  #[inline]
  fn parent(&self, s: u32) -> u32 {
    self.cold[s as usize].parent
  }
  fn set_left(&mut self, s: u32, v: u32) {
    self.hot[s as usize].left = v;
  }
  fn set_right(&mut self, s: u32, v: u32) {
    self.hot[s as usize].right = v;
  }
  fn set_parent(&mut self, s: u32, v: u32) {
    self.cold[s as usize].parent = v;
  }

  pub fn is_live(&self, s: u32) -> bool {
    self.cold.get(s as usize).is_some_and(|c| c.flags() & LIVE != 0)
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
    let (mut cur, mut found) = (self.root, NIL);
    while cur != NIL {
      if self.cmp_key(cur, key).is_ge() {
        found = cur;
        cur = self.left(cur);
      } else {
        cur = self.right(cur);
      }
    }
    found
  }

  pub fn first(&self) -> u32 {
    self.head
  }

  pub fn last(&self) -> u32 {
    self.tail
  }

  fn rightmost(&self, mut s: u32) -> u32 {
    while self.right(s) != NIL {
      s = self.right(s);
    }
    s
  }

  /// The node after `s` in key order.
  #[inline]
  pub fn next(&self, s: u32) -> u32 {
    self.cold[s as usize].lnext
  }

  /// The node before `s` in key order.
  #[inline]
  pub fn prev(&self, s: u32) -> u32 {
    self.cold[s as usize].lprev
  }

  /// Adds a node; among equal addresses it goes last, as `seq` grows.
  pub fn insert(&mut self, va: Va) -> u32 {
    let at = self.lower_bound((va.addr, 0));
    self.insert_at(va, at)
  }

  /// Adds a node whose key is the greatest among nodes at its address, given
  /// `at`, the first node whose key is at or after `(va.addr, 0)`; this saves
  /// the descent when the caller has just searched there.
  pub fn insert_at(&mut self, va: Va, mut at: u32) -> u32 {
    while at != NIL && self.addr(at) == va.addr {
      at = self.next(at);
    }
    self.insert_before(va, at)
  }

  /// Adds a node right before `at` (at the end when `at` is NIL); the caller
  /// guarantees that this keeps key order.
  fn insert_before(&mut self, va: Va, at: u32) -> u32 {
    let hot = Hot {
      addr: va.addr,
      left: NIL,
      right: NIL,
    };
    let cold = Cold {
      tag: va.seq << FLAG_BITS | u64::from((va.flags & !INTERNAL_FLAGS) | LIVE) & FLAG_MASK,
      range: va.range,
      offset: va.offset,
      obj: va.obj,
      parent: NIL,
      lprev: if at == NIL { self.tail } else { self.prev(at) },
      lnext: at,
      gem_prev: NIL,
      gem_next: NIL,
    };
    let s = match self.free.pop() {
      Some(s) => {
        self.hot[s as usize] = hot;
        self.cold[s as usize] = cold;
        s
      }
      None => {
        self.hot.push(hot);
        self.cold.push(cold);
        (self.hot.len() - 1) as u32
      }
    };
    // The in-order predecessor position of `at` is a free leaf slot.
    let (parent, left) = if at == NIL {
      (self.last(), false)
    } else if self.left(at) == NIL {
      (at, true)
    } else {
      (self.rightmost(self.left(at)), false)
    };
    let (lprev, lnext) = (self.prev(s), self.next(s));
    match lprev {
      NIL => self.head = s,
      p => self.cold[p as usize].lnext = s,
    }
    match lnext {
      NIL => self.tail = s,
      n => self.cold[n as usize].lprev = s,
    }
    self.set_parent(s, parent);
    match (parent, left) {
      (NIL, _) => self.root = s,
      (p, true) => self.set_left(p, s),
      (p, false) => self.set_right(p, s),
    }
    while self.parent(s) != NIL && priority(s) > priority(self.parent(s)) {
      self.rotate_up(s);
    }
    self.len += 1;
    s
  }

  /// Gives node `s` a new key in place when that keeps key order; the split
  /// pieces of a remap usually can, which saves a removal and an insertion.
  pub fn rekey(&mut self, s: u32, addr: u64, seq: u64) -> bool {
    let key = (addr, seq);
    let (p, n) = (self.prev(s), self.next(s));
    if (p != NIL && self.cmp_key(p, key).is_ge()) || (n != NIL && self.cmp_key(n, key).is_le()) {
      return false;
    }
    self.hot[s as usize].addr = addr;
    let c = &mut self.cold[s as usize];
    c.tag = seq << FLAG_BITS | (c.tag & FLAG_MASK);
    true
  }

  /// Takes a node out and frees its slot.
  pub fn remove(&mut self, s: u32) {
    loop {
      let (l, r) = (self.left(s), self.right(s));
      if l == NIL || r == NIL {
        let child = if l == NIL { r } else { l };
        let parent = self.parent(s);
        self.replace_child(parent, s, child);
        if child != NIL {
          self.set_parent(child, parent);
        }
        break;
      }
      // Two children: lift the one with the higher priority above `s`.
      let lift = if priority(l) > priority(r) { l } else { r };
      self.rotate_up(lift);
    }
    let (lprev, lnext) = (self.prev(s), self.next(s));
    match lprev {
      NIL => self.head = lnext,
      p => self.cold[p as usize].lnext = lnext,
    }
    match lnext {
      NIL => self.tail = lprev,
      n => self.cold[n as usize].lprev = lprev,
    }
    self.hot[s as usize] = Hot {
      addr: 0,
      left: NIL,
      right: NIL,
    };
    let c = self.cold_mut(s);
    c.tag = 0;
    c.parent = NIL;
    c.lprev = NIL;
    c.lnext = NIL;
    self.free.push(s);
    self.len -= 1;
  }

  fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
    if parent == NIL {
      self.root = new;
    } else if self.left(parent) == old {
      self.set_left(parent, new);
    } else {
      self.set_right(parent, new);
    }
  }

  /// Rotates `x` above its parent, keeping key order.
  fn rotate_up(&mut self, x: u32) {
    let p = self.parent(x);
    let g = self.parent(p);
    if self.left(p) == x {
      let b = self.right(x);
      self.set_left(p, b);
      if b != NIL {
        self.set_parent(b, p);
      }
      self.set_right(x, p);
    } else {
      let b = self.left(x);
      self.set_right(p, b);
      if b != NIL {
        self.set_parent(b, p);
      }
      self.set_left(x, p);
    }
    self.set_parent(p, x);
    self.set_parent(x, g);
    self.replace_child(g, p, x);
  }

  pub fn clear(&mut self) {
    *self = Tree::new();
  }
}

#[cfg(test)]
impl Tree {
  /// Average and maximum node depth, to check the balance.
  pub fn depth_stats(&self) -> (f64, usize) {
    let (mut sum, mut max, mut stack) = (0usize, 0usize, vec![(self.root, 1usize)]);
    while let Some((s, d)) = stack.pop() {
      if s == NIL {
        continue;
      }
      sum += d;
      max = max.max(d);
      stack.push((self.left(s), d + 1));
      stack.push((self.right(s), d + 1));
    }
    (sum as f64 / self.len.max(1) as f64, max)
  }
}
