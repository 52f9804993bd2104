//! Adding records: into a leaf with room, else into room a sibling leaf
//! makes, else splitting the leaf (and the inner nodes above it as they
//! fill); `rekey` for a key that stays in place.

use super::node::{two_mut, Entry, Inner, Leaf, CAP, FAN, MIN};
use super::search::Path;
use super::{Pos, Store, FLAG_BITS, FLAG_MASK, NIL};
use crate::gpuvm::Va;

impl Store {
  pub(super) fn new_leaf(&mut self) -> u32 {
    match self.free_leaves.pop() {
      Some(l) => l,
      None => {
        self.leaves.push(Leaf::empty());
        (self.leaves.len() - 1) as u32
      }
    }
  }

  pub(super) fn new_inner(&mut self) -> u32 {
    match self.free_inners.pop() {
      Some(n) => {
        self.inners[n as usize] = Inner::empty();
        n
      }
      None => {
        self.inners.push(Inner::empty());
        (self.inners.len() - 1) as u32
      }
    }
  }

  /// Adds a record. Its key must not be in the store; callers give each
  /// record a fresh `seq`, so among equal addresses it goes last.
  pub fn insert(&mut self, va: Va) -> Pos {
    if self.root == NIL {
      let l = self.new_leaf();
      (self.root, self.head, self.tail) = (l, l, l);
    }
    let key = (va.addr, va.seq);
    let e = Entry::of(&va);
    // The finger serves when the key falls strictly inside it (a key at a
    // leaf's edge might belong to the neighbour) and there is room.
    let f = self.finger.get();
    let fits = self.leaves.get(f as usize).is_some_and(|l| {
      let n = l.len as usize;
      n != 0 && n < CAP && l.key(0) < key && key < l.key(n - 1)
    });
    if fits {
      return self.put(f, key, e);
    }
    let mut path = Path::new();
    let l = self.descend(key, Some(&mut path));
    if (self.leaf(l).len as usize) < CAP {
      return self.put(l, key, e);
    }
    if let Some(pos) = self.shift_and_put(l, &path, key, e) {
      return pos;
    }
    self.split_and_put(l, path, key, e)
  }

  /// Makes room in the full leaf `l` by moving records into a sibling under
  /// the same parent that has room (the roomier one; the right one on a
  /// tie), then adds the record: None when neither has room. A split leaves
  /// two half-full leaves; moving half a sibling's room instead keeps leaves
  /// fuller under random inserts and removals (fewer leaves, fewer lines to
  /// miss on), and costs one more leaf read only when a leaf is full.
  fn shift_and_put(&mut self, l: u32, path: &Path, key: (u64, u64), e: Entry) -> Option<Pos> {
    let (parent, c) = *path.steps[..path.len].last()?;
    let (parent, c) = (parent as usize, c as usize);
    let node = &self.inners[parent];
    let room = |s: u32| CAP - self.leaf(s).len as usize;
    let right = (c + 1 < node.len as usize).then(|| node.child[c + 1]);
    let left = (c > 0).then(|| node.child[c - 1]);
    let (rr, lr) = (right.map_or(0, room), left.map_or(0, room));
    if rr == 0 && lr == 0 {
      return None;
    }
    let i = self.leaf(l).search(key);
    if rr >= lr {
      let r = right?;
      // Move the last k records of l to the front of r. With room for one
      // only, a record past l's end goes to r alone.
      let k = if rr >= 2 { rr / 2 } else { usize::from(i < CAP) };
      let (from, to) = two_mut(&mut self.leaves, l as usize, r as usize);
      from.move_tail_to(to, k);
      let pos = if i == CAP || i > CAP - k {
        self.put(r, key, e)
      } else {
        self.put(l, key, e)
      };
      let sep = self.leaf(r).key(0);
      self.inners[parent].set_sep(c + 1, sep);
      Some(pos)
    } else {
      let s = left?;
      // Move the first k records of l to the end of s. With room for one
      // only, a record before l's start goes to s alone.
      let k = if lr >= 2 { lr / 2 } else { usize::from(i > 0) };
      let (from, to) = two_mut(&mut self.leaves, l as usize, s as usize);
      from.move_head_to(to, k);
      let pos = if i < k || i == 0 {
        self.put(s, key, e)
      } else {
        self.put(l, key, e)
      };
      let sep = self.leaf(l).key(0);
      self.inners[parent].set_sep(c, sep);
      Some(pos)
    }
  }

  /// Whether removing the record at `p` and then inserting a record whose
  /// key falls between its neighbours would leave it where `p` is: neither
  /// the leaf's first nor its last record, and its leaf keeps enough records
  /// not to borrow or merge (so `insert` takes the finger, this leaf).
  #[inline]
  pub fn replaceable(&self, p: Pos) -> bool {
    let n = self.leaf(p.leaf).len as usize;
    let i = p.idx as usize;
    i > 0 && i + 1 < n && (self.height == 0 || n > MIN)
  }

  /// `remove(p)` then `insert(va)`, in one write, when `replaceable(p)` and
  /// `va`'s key falls between the keys of `p`'s neighbours: the leaf's bytes,
  /// the finger and the count end up as the two calls leave them.
  #[inline]
  pub fn replace(&mut self, p: Pos, va: Va) {
    debug_assert!(self.replaceable(p));
    let leaf = &mut self.leaves[p.leaf as usize];
    let i = p.idx as usize;
    debug_assert!(leaf.key(i - 1) < (va.addr, va.seq) && (va.addr, va.seq) < leaf.key(i + 1));
    let e = Entry::of(&va);
    leaf.addrs[i] = e.addr;
    leaf.ranges[i] = e.range;
    leaf.recs[i] = e.rec;
    self.finger.set(p.leaf);
  }

  /// `insert(va)` for a record whose follower in key order is at `next`
  /// (or unknown: NIL): when that is inside the finger's leaf, not its
  /// first record, and the leaf has room, `insert` would take the finger and
  /// its search would find `next`'s index; the record goes there unsearched.
  #[inline(always)]
  pub fn insert_before(&mut self, next: Pos, va: Va) -> Pos {
    let l = next.leaf;
    if next.is_nil() || next.idx == 0 || self.finger.get() != l || self.leaf(l).len as usize >= CAP {
      return self.insert(va);
    }
    let leaf = &mut self.leaves[l as usize];
    let i = next.idx as usize;
    debug_assert!(leaf.key(i - 1) < (va.addr, va.seq) && (va.addr, va.seq) < leaf.key(i));
    leaf.insert(i, Entry::of(&va));
    self.len += 1;
    next
  }

  pub(super) fn put(&mut self, l: u32, key: (u64, u64), e: Entry) -> Pos {
    let leaf = &mut self.leaves[l as usize];
    let i = leaf.search(key);
    leaf.insert(i, e);
    self.len += 1;
    self.finger.set(l);
    Pos {
      leaf: l,
      idx: i as u32,
    }
  }

  /// Splits the full leaf `l` and adds the record to the half it belongs in.
  /// A record going past the end starts a leaf of its own, so that records
  /// added in increasing order fill their leaves completely.
  pub(super) fn split_and_put(&mut self, l: u32, path: Path, key: (u64, u64), e: Entry) -> Pos {
    let i = self.leaf(l).search(key);
    let r = self.new_leaf();
    let keep = if i == CAP { CAP } else { CAP / 2 };
    let (left, right) = two_mut(&mut self.leaves, l as usize, r as usize);
    right.append_from(left, keep);
    left.truncate(keep);
    right.next = left.next;
    right.prev = l;
    left.next = r;
    match right.next {
      NIL => self.tail = r,
      n => self.leaves[n as usize].prev = r,
    }
    let pos = if i >= keep {
      self.put(r, key, e)
    } else {
      self.put(l, key, e)
    };
    let sep = self.leaf(r).key(0);
    self.add_child(path, sep, r);
    pos
  }

  /// Adds `child` with separator `sep` right after the child the path ends
  /// in, splitting inner nodes upwards as they fill.
  pub(super) fn add_child(&mut self, mut path: Path, mut sep: (u64, u64), mut child: u32) {
    while let Some((n, c)) = path.pop() {
      if (self.inners[n as usize].len as usize) < FAN {
        self.inners[n as usize].insert(c + 1, sep, child);
        return;
      }
      // Split: the upper half moves to a new node, whose first separator
      // goes up to the parent.
      let m = self.new_inner();
      let (left, right) = two_mut(&mut self.inners, n as usize, m as usize);
      let keep = FAN / 2;
      right.child[..FAN - keep].copy_from_slice(&left.child[keep..]);
      right.sep_addr[..FAN - keep].copy_from_slice(&left.sep_addr[keep..]);
      right.sep_seq[..FAN - keep].copy_from_slice(&left.sep_seq[keep..]);
      right.len = (FAN - keep) as u32;
      left.truncate(keep);
      let up = right.sep(0);
      right.sep_addr[0] = 0;
      if c < keep {
        left.insert(c + 1, sep, child);
      } else {
        right.insert(c + 1 - keep, sep, child);
      }
      sep = up;
      child = m;
    }
    // The root split: a new root above it.
    let root = self.new_inner();
    let node = &mut self.inners[root as usize];
    node.len = 2;
    node.child[0] = self.root;
    node.child[1] = child;
    node.set_sep(1, sep);
    self.root = root;
    self.height += 1;
  }

  /// Gives the record at `p` a greater key in place when it stays before the
  /// next record of its leaf (the pieces of a remap usually do); false
  /// leaves the store as it was.
  pub fn rekey(&mut self, p: Pos, addr: u64, seq: u64) -> bool {
    let key = (addr, seq);
    let leaf = &mut self.leaves[p.leaf as usize];
    let i = p.idx as usize;
    // A greater key cannot cross the separator below its leaf; the next
    // record of the same leaf bounds it from above.
    if key <= leaf.key(i) || i + 1 >= leaf.len as usize || leaf.key(i + 1) <= key {
      return false;
    }
    leaf.addrs[i] = addr;
    let r = &mut leaf.recs[i];
    r.tag = seq << FLAG_BITS | (r.tag & FLAG_MASK);
    true
  }
}
