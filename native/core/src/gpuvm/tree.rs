//! The ordered store of VA nodes: a treap kept in a slab, ordered by
//! `(addr, seq)`.
//!
//! The kernel keeps its mappings in an rb interval tree with parent pointers,
//! so the split/merge walk steps to the next node and removes the current one
//! without searching. A slab treap gives the same: nodes are 64-byte records
//! addressed by a u32 slot, `next` is a short climb, removal needs no search,
//! and a search descends once. Treap priorities are a fixed scramble of the
//! slot number, so the shape is random without storing a priority.

use super::Va;

pub(crate) const NIL: u32 = u32::MAX;

/// Flag bits kept next to the user-visible VA flags.
pub(crate) const LIVE: u32 = 1 << 31;
pub(crate) const LINKED: u32 = 1 << 30;
pub(crate) const INTERNAL_FLAGS: u32 = LIVE | LINKED;

#[derive(Clone, Copy)]
pub(crate) struct Node {
  pub va: Va,
  pub left: u32,
  pub right: u32,
  pub parent: u32,
  /// The object's list of linked mappings, in link order.
  pub gem_prev: u32,
  pub gem_next: u32,
}

impl Node {
  pub fn key(&self) -> (u64, u64) {
    (self.va.addr, self.va.seq)
  }
  pub fn is_live(&self) -> bool {
    self.va.flags & LIVE != 0
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
  nodes: Vec<Node>,
  free: Vec<u32>,
  root: u32,
  len: usize,
}

impl Tree {
  pub fn new() -> Tree {
    Tree { nodes: Vec::new(), free: Vec::new(), root: NIL, len: 0 }
  }

  pub fn len(&self) -> usize {
    self.len
  }

  pub fn capacity_bytes(&self) -> usize {
    self.nodes.capacity() * std::mem::size_of::<Node>() + self.free.capacity() * 4
  }

  #[inline]
  pub fn node(&self, s: u32) -> &Node {
    &self.nodes[s as usize]
  }

  #[inline]
  pub fn node_mut(&mut self, s: u32) -> &mut Node {
    &mut self.nodes[s as usize]
  }

  pub fn is_live(&self, s: u32) -> bool {
    self.nodes.get(s as usize).is_some_and(Node::is_live)
  }

  /// The slot of a live node with exactly this key, trusting `hint` when it
  /// names that node.
  pub fn locate(&self, key: (u64, u64), hint: u32) -> Option<u32> {
    if let Some(n) = self.nodes.get(hint as usize) {
      if n.is_live() && n.key() == key {
        return Some(hint);
      }
    }
    let s = self.lower_bound(key);
    (s != NIL && self.node(s).key() == key).then_some(s)
  }

  /// The first node whose key is at or after `key`.
  pub fn lower_bound(&self, key: (u64, u64)) -> u32 {
    let (mut cur, mut found) = (self.root, NIL);
    while cur != NIL {
      let n = self.node(cur);
      if n.key() >= key {
        found = cur;
        cur = n.left;
      } else {
        cur = n.right;
      }
    }
    found
  }

  pub fn first(&self) -> u32 {
    self.leftmost(self.root)
  }

  pub fn last(&self) -> u32 {
    if self.root == NIL {
      return NIL;
    }
    self.rightmost(self.root)
  }

  fn leftmost(&self, mut s: u32) -> u32 {
    if s == NIL {
      return NIL;
    }
    while self.node(s).left != NIL {
      s = self.node(s).left;
    }
    s
  }

  fn rightmost(&self, mut s: u32) -> u32 {
    while self.node(s).right != NIL {
      s = self.node(s).right;
    }
    s
  }

  /// The node after `s` in key order.
  pub fn next(&self, s: u32) -> u32 {
    let n = self.node(s);
    if n.right != NIL {
      return self.leftmost(n.right);
    }
    let (mut child, mut up) = (s, n.parent);
    while up != NIL && self.node(up).right == child {
      child = up;
      up = self.node(up).parent;
    }
    up
  }

  /// The node before `s` in key order.
  pub fn prev(&self, s: u32) -> u32 {
    let n = self.node(s);
    if n.left != NIL {
      return self.rightmost(n.left);
    }
    let (mut child, mut up) = (s, n.parent);
    while up != NIL && self.node(up).left == child {
      child = up;
      up = self.node(up).parent;
    }
    up
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
    while at != NIL && self.node(at).va.addr == va.addr {
      at = self.next(at);
    }
    self.insert_before(va, at)
  }

  /// Adds a node right before `at` (at the end when `at` is NIL); the caller
  /// guarantees that this keeps key order.
  fn insert_before(&mut self, mut va: Va, at: u32) -> u32 {
    va.flags |= LIVE;
    let node = Node { va, left: NIL, right: NIL, parent: NIL, gem_prev: NIL, gem_next: NIL };
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
    self.nodes[s as usize].va.slot = s;
    // The in-order predecessor position of `at` is a free leaf slot.
    let (parent, left) = if at == NIL {
      (self.last(), false)
    } else if self.node(at).left == NIL {
      (at, true)
    } else {
      (self.rightmost(self.node(at).left), false)
    };
    self.node_mut(s).parent = parent;
    match (parent, left) {
      (NIL, _) => self.root = s,
      (p, true) => self.node_mut(p).left = s,
      (p, false) => self.node_mut(p).right = s,
    }
    while self.node(s).parent != NIL && priority(s) > priority(self.node(s).parent) {
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
    if (p != NIL && self.node(p).key() >= key) || (n != NIL && self.node(n).key() <= key) {
      return false;
    }
    let va = &mut self.node_mut(s).va;
    va.addr = addr;
    va.seq = seq;
    true
  }

  /// Takes a node out and frees its slot.
  pub fn remove(&mut self, s: u32) {
    loop {
      let (l, r) = (self.node(s).left, self.node(s).right);
      if l == NIL || r == NIL {
        let child = if l == NIL { r } else { l };
        let parent = self.node(s).parent;
        self.replace_child(parent, s, child);
        if child != NIL {
          self.node_mut(child).parent = parent;
        }
        break;
      }
      // Two children: lift the one with the higher priority above `s`.
      let lift = if priority(l) > priority(r) { l } else { r };
      self.rotate_up(lift);
    }
    let n = self.node_mut(s);
    n.va.flags = 0;
    n.left = NIL;
    n.right = NIL;
    n.parent = NIL;
    self.free.push(s);
    self.len -= 1;
  }

  fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
    if parent == NIL {
      self.root = new;
    } else if self.node(parent).left == old {
      self.node_mut(parent).left = new;
    } else {
      self.node_mut(parent).right = new;
    }
  }

  /// Rotates `x` above its parent, keeping key order.
  fn rotate_up(&mut self, x: u32) {
    let p = self.node(x).parent;
    let g = self.node(p).parent;
    if self.node(p).left == x {
      let b = self.node(x).right;
      self.node_mut(p).left = b;
      if b != NIL {
        self.node_mut(b).parent = p;
      }
      self.node_mut(x).right = p;
    } else {
      let b = self.node(x).left;
      self.node_mut(p).right = b;
      if b != NIL {
        self.node_mut(b).parent = p;
      }
      self.node_mut(x).left = p;
    }
    self.node_mut(p).parent = x;
    self.node_mut(x).parent = g;
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
      stack.push((self.node(s).left, d + 1));
      stack.push((self.node(s).right, d + 1));
    }
    (sum as f64 / self.len.max(1) as f64, max)
  }
}
