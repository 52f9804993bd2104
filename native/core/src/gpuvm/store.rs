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

use super::Va;
use std::cell::Cell;

pub(crate) const NIL: u32 = u32::MAX;

const FLAG_BITS: u32 = 16;
const FLAG_MASK: u64 = (1 << FLAG_BITS) - 1;
/// `seq` shares a word with the flags; 2^48 inserts outlast any simulation.
pub(crate) const SEQ_MAX: u64 = (1 << (64 - FLAG_BITS)) - 1;

/// Records per leaf: 32 addresses are four cache lines, as are 32 ranges;
/// the rest of the records take twelve more.
const CAP: usize = 32;
/// A leaf that a removal leaves below this many records borrows from or
/// merges with a sibling.
const MIN: usize = CAP / 4;
/// Children per inner node, and the fewest a non-root inner node keeps.
const FAN: usize = 32;
const FAN_MIN: usize = FAN / 4;
/// Unused key words hold this, so that a search can read all 32.
const PAD: u64 = u64::MAX;
/// Deeper than any tree of 2^32 leaves can grow with `FAN_MIN` children.
const MAX_DEPTH: usize = 16;

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
}

/// One record, as it moves between leaves.
#[derive(Clone, Copy)]
struct Entry {
  addr: u64,
  range: u64,
  rec: Rec,
}

/// What a search reads comes first: the length, the addresses and the
/// ranges (an overlap test needs the range of the record before the key),
/// from the start of a cache line, so one prefetch brings all of it.
#[derive(Clone)]
#[repr(C, align(64))]
struct Leaf {
  len: u32,
  /// Neighbouring leaves in key order.
  prev: u32,
  next: u32,
  addrs: [u64; CAP],
  ranges: [u64; CAP],
  recs: [Rec; CAP],
}

impl Leaf {
  fn empty() -> Leaf {
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
  fn key(&self, i: usize) -> (u64, u64) {
    (self.addrs[i], self.recs[i].seq())
  }

  /// The first index whose key is at or after `key` (`len` when none is).
  #[inline]
  fn search(&self, key: (u64, u64)) -> usize {
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
  fn spans(&self, key: (u64, u64)) -> bool {
    let n = self.len as usize;
    n != 0 && self.key(0) <= key && key <= self.key(n - 1)
  }

  fn entry(&self, i: usize) -> Entry {
    Entry {
      addr: self.addrs[i],
      range: self.ranges[i],
      rec: self.recs[i],
    }
  }

  fn insert(&mut self, i: usize, e: Entry) {
    let n = self.len as usize;
    self.addrs.copy_within(i..n, i + 1);
    self.ranges.copy_within(i..n, i + 1);
    self.recs.copy_within(i..n, i + 1);
    self.addrs[i] = e.addr;
    self.ranges[i] = e.range;
    self.recs[i] = e.rec;
    self.len += 1;
  }

  fn remove(&mut self, i: usize) {
    let n = self.len as usize;
    self.addrs.copy_within(i + 1..n, i);
    self.ranges.copy_within(i + 1..n, i);
    self.recs.copy_within(i + 1..n, i);
    self.addrs[n - 1] = PAD;
    self.len -= 1;
  }

  /// Appends `other`'s records `from..` to this leaf.
  fn append_from(&mut self, other: &Leaf, from: usize) {
    let (n, m) = (self.len as usize, other.len as usize - from);
    self.addrs[n..n + m].copy_from_slice(&other.addrs[from..from + m]);
    self.ranges[n..n + m].copy_from_slice(&other.ranges[from..from + m]);
    self.recs[n..n + m].copy_from_slice(&other.recs[from..from + m]);
    self.len += m as u32;
  }

  fn truncate(&mut self, n: usize) {
    self.addrs[n..].fill(PAD);
    self.len = n as u32;
  }
}

/// Children `c[0..len]`; `sep[i]` (i ≥ 1) is a key at or below every key
/// under `c[i]` and above every key under `c[i-1]`.
#[derive(Clone)]
#[repr(C, align(64))]
struct Inner {
  len: u32,
  child: [u32; FAN],
  sep_addr: [u64; FAN],
  sep_seq: [u64; FAN],
}

impl Inner {
  fn empty() -> Inner {
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
  fn sep(&self, i: usize) -> (u64, u64) {
    (self.sep_addr[i], self.sep_seq[i])
  }

  fn set_sep(&mut self, i: usize, key: (u64, u64)) {
    self.sep_addr[i] = key.0;
    self.sep_seq[i] = key.1;
  }

  /// The child whose keys may include `key`.
  #[inline]
  fn route(&self, key: (u64, u64)) -> usize {
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
  fn insert(&mut self, i: usize, sep: (u64, u64), child: u32) {
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
  fn remove(&mut self, i: usize) {
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
  fn truncate(&mut self, n: usize) {
    self.sep_addr[n..].fill(PAD);
    self.sep_addr[0] = 0;
    self.len = n as u32;
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

/// The inner nodes a descent passed, with the child taken in each.
struct Path {
  steps: [(u32, u32); MAX_DEPTH],
  len: usize,
}

impl Path {
  fn new() -> Path {
    Path {
      steps: [(NIL, 0); MAX_DEPTH],
      len: 0,
    }
  }
  fn push(&mut self, node: u32, child: usize) {
    self.steps[self.len] = (node, child as u32);
    self.len += 1;
  }
  fn pop(&mut self) -> Option<(u32, usize)> {
    self.len = self.len.checked_sub(1)?;
    let (n, c) = self.steps[self.len];
    Some((n, c as usize))
  }
}

pub(crate) struct Store {
  leaves: Vec<Leaf>,
  free_leaves: Vec<u32>,
  inners: Vec<Inner>,
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
      leaves: Vec::new(),
      free_leaves: Vec::new(),
      inners: Vec::new(),
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

  // ---- reading ------------------------------------------------------------

  #[inline]
  fn leaf(&self, l: u32) -> &Leaf {
    &self.leaves[l as usize]
  }

  #[inline]
  pub fn rec(&self, p: Pos) -> &Rec {
    &self.leaf(p.leaf).recs[p.idx as usize]
  }

  /// The record at `p`, for changes that leave its key alone.
  #[inline]
  pub fn rec_mut(&mut self, p: Pos) -> &mut Rec {
    &mut self.leaves[p.leaf as usize].recs[p.idx as usize]
  }

  #[inline]
  pub fn addr(&self, p: Pos) -> u64 {
    self.leaf(p.leaf).addrs[p.idx as usize]
  }

  #[inline]
  pub fn range(&self, p: Pos) -> u64 {
    self.leaf(p.leaf).ranges[p.idx as usize]
  }

  /// Sets the range of the record at `p` (its key stays).
  #[inline]
  pub fn set_range(&mut self, p: Pos, range: u64) {
    self.leaves[p.leaf as usize].ranges[p.idx as usize] = range;
  }

  #[inline]
  pub fn key(&self, p: Pos) -> (u64, u64) {
    self.leaf(p.leaf).key(p.idx as usize)
  }

  /// The record as a `Va`; its `slot` is the position, a hint for `locate`.
  #[inline]
  pub fn va(&self, p: Pos) -> Va {
    let r = self.rec(p);
    Va {
      addr: self.addr(p),
      range: self.range(p),
      obj: r.obj,
      offset: r.offset,
      seq: r.seq(),
      flags: r.flags(),
      slot: p.hint(),
    }
  }

  pub fn first(&self) -> Pos {
    self.at_start_of(self.head)
  }

  pub fn last(&self) -> Pos {
    if self.tail == NIL {
      return Pos::NIL;
    }
    match self.leaf(self.tail).len {
      0 => Pos::NIL,
      n => Pos {
        leaf: self.tail,
        idx: n - 1,
      },
    }
  }

  #[inline]
  fn at_start_of(&self, l: u32) -> Pos {
    if l == NIL || self.leaf(l).len == 0 {
      return Pos::NIL;
    }
    Pos { leaf: l, idx: 0 }
  }

  #[inline]
  pub fn next(&self, p: Pos) -> Pos {
    let leaf = self.leaf(p.leaf);
    if p.idx + 1 < leaf.len {
      return Pos {
        leaf: p.leaf,
        idx: p.idx + 1,
      };
    }
    self.at_start_of(leaf.next)
  }

  #[inline]
  pub fn prev(&self, p: Pos) -> Pos {
    if p.idx > 0 {
      return Pos {
        leaf: p.leaf,
        idx: p.idx - 1,
      };
    }
    match self.leaf(p.leaf).prev {
      NIL => Pos::NIL,
      l => Pos {
        leaf: l,
        idx: self.leaf(l).len - 1,
      },
    }
  }

  /// The leaf a search for `key` must look in: the finger when `key` falls
  /// inside it, else the one a descent from the root reaches.
  #[inline]
  fn leaf_for(&self, key: (u64, u64)) -> u32 {
    let f = self.finger.get();
    if self.leaves.get(f as usize).is_some_and(|l| l.spans(key)) {
      return f;
    }
    let l = self.descend(key, None);
    self.finger.set(l);
    l
  }

  fn descend(&self, key: (u64, u64), mut path: Option<&mut Path>) -> u32 {
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
      if level == 0 {
        prefetch(&self.leaves[n as usize], LEAF_SEARCH_LINES);
      } else {
        prefetch(&self.inners[n as usize], INNER_SEARCH_LINES);
      }
    }
    n
  }

  /// The first record whose key is at or after `key`.
  pub fn lower_bound(&self, key: (u64, u64)) -> Pos {
    if self.root == NIL {
      return Pos::NIL;
    }
    let l = self.leaf_for(key);
    let leaf = self.leaf(l);
    let i = leaf.search(key);
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

  // ---- changing -----------------------------------------------------------

  fn new_leaf(&mut self) -> u32 {
    match self.free_leaves.pop() {
      Some(l) => l,
      None => {
        self.leaves.push(Leaf::empty());
        (self.leaves.len() - 1) as u32
      }
    }
  }

  fn free_leaf(&mut self, l: u32) {
    let leaf = &mut self.leaves[l as usize];
    leaf.truncate(0);
    leaf.prev = NIL;
    leaf.next = NIL;
    self.free_leaves.push(l);
  }

  fn new_inner(&mut self) -> u32 {
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
    let e = Entry {
      addr: va.addr,
      range: va.range,
      rec: Rec {
        offset: va.offset,
        tag: va.seq << FLAG_BITS | u64::from(va.flags) & FLAG_MASK,
        obj: va.obj,
        link: NIL,
      },
    };
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
    self.split_and_put(l, path, key, e)
  }

  fn put(&mut self, l: u32, key: (u64, u64), e: Entry) -> Pos {
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
  fn split_and_put(&mut self, l: u32, path: Path, key: (u64, u64), e: Entry) -> Pos {
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
  fn add_child(&mut self, mut path: Path, mut sep: (u64, u64), mut child: u32) {
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

  /// Takes out the record at `p`.
  pub fn remove(&mut self, p: Pos) {
    let key = self.key(p);
    self.leaves[p.leaf as usize].remove(p.idx as usize);
    self.len -= 1;
    self.finger.set(p.leaf);
    if self.height != 0 && (self.leaf(p.leaf).len as usize) < MIN {
      // Separators are unchanged, so the removed key still leads here.
      let mut path = Path::new();
      let l = self.descend(key, Some(&mut path));
      debug_assert_eq!(l, p.leaf);
      self.refill_leaf(path);
    }
  }

  /// Brings the underfull leaf the path ends in back to `MIN` records: a
  /// record from a sibling that can spare one, else a merge with it.
  fn refill_leaf(&mut self, mut path: Path) {
    let (parent, c) = path.steps[path.len - 1];
    let c = c as usize;
    let node = &self.inners[parent as usize];
    // The pair (left, right) under `parent`, `l` being one of them.
    let (lc, rc) = if c > 0 { (c - 1, c) } else { (c, c + 1) };
    let (a, b) = (node.child[lc], node.child[rc]);
    let total = (self.leaf(a).len + self.leaf(b).len) as usize;
    if total <= CAP {
      // Merge b into a.
      let (left, right) = two_mut(&mut self.leaves, a as usize, b as usize);
      left.append_from(right, 0);
      left.next = right.next;
      match left.next {
        NIL => self.tail = a,
        x => self.leaves[x as usize].prev = a,
      }
      self.free_leaf(b);
      self.finger.set(a);
      self.inners[parent as usize].remove(rc);
      path.len -= 1;
      self.refill_inner(parent, path);
      return;
    }
    // Move one record across, from the fuller side.
    let (left, right) = two_mut(&mut self.leaves, a as usize, b as usize);
    if left.len > right.len {
      let n = left.len as usize - 1;
      let e = left.entry(n);
      left.truncate(n);
      right.insert(0, e);
    } else {
      let e = right.entry(0);
      right.remove(0);
      let n = left.len as usize;
      left.insert(n, e);
    }
    let sep = self.leaf(b).key(0);
    self.inners[parent as usize].set_sep(rc, sep);
  }

  /// The inner-node counterpart of `refill_leaf`, up to the root; a root
  /// left with one child gives way to it.
  fn refill_inner(&mut self, n: u32, mut path: Path) {
    if path.len == 0 {
      if self.inners[n as usize].len == 1 {
        self.root = self.inners[n as usize].child[0];
        self.height -= 1;
        self.free_inners.push(n);
      }
      return;
    }
    if self.inners[n as usize].len as usize >= FAN_MIN {
      return;
    }
    let (parent, c) = path.steps[path.len - 1];
    let c = c as usize;
    let (lc, rc) = if c > 0 { (c - 1, c) } else { (c, c + 1) };
    let pnode = &self.inners[parent as usize];
    let (a, b) = (pnode.child[lc], pnode.child[rc]);
    let between = pnode.sep(rc);
    let total = (self.inners[a as usize].len + self.inners[b as usize].len) as usize;
    let (left, right) = two_mut(&mut self.inners, a as usize, b as usize);
    if total <= FAN {
      // Merge: the separator between them comes down in front of b's first child.
      let (k, m) = (left.len as usize, right.len as usize);
      left.child[k..k + m].copy_from_slice(&right.child[..m]);
      left.sep_addr[k..k + m].copy_from_slice(&right.sep_addr[..m]);
      left.sep_seq[k..k + m].copy_from_slice(&right.sep_seq[..m]);
      left.set_sep(k, between);
      left.len += m as u32;
      self.free_inners.push(b);
      self.inners[parent as usize].remove(rc);
      path.len -= 1;
      self.refill_inner(parent, path);
      return;
    }
    // Rotate one child through the parent.
    let up = if left.len > right.len {
      let k = left.len as usize - 1;
      let (child, sep) = (left.child[k], left.sep(k));
      left.truncate(k);
      right.insert(0, (0, 0), child);
      right.set_sep(1, between);
      sep
    } else {
      let (child, up) = (right.child[0], right.sep(1));
      right.remove(0);
      let k = left.len as usize;
      left.insert(k, between, child);
      up
    };
    self.inners[parent as usize].set_sep(rc, up);
  }

  pub fn clear(&mut self) {
    *self = Store::new();
  }
}

/// How many of the `N` sorted words are below `x` (`N` a power of two).
/// Unused words hold `PAD`, so the search has a fixed shape: log2(N) steps
/// that compile to conditional moves, where a mispredicted branch per step
/// would cost more than the whole search.
#[inline]
fn count_below<const N: usize>(a: &[u64; N], x: u64) -> usize {
  const { assert!(N.is_power_of_two()) };
  let (mut i, mut step) = (0, N / 2);
  while step > 0 {
    if a[(i + step - 1) & (N - 1)] < x {
      i += step;
    }
    step /= 2;
  }
  // The steps reach N - 1 at most; the last word decides N.
  i + usize::from(a[i & (N - 1)] < x)
}

/// The cache lines a search reads from the start of a leaf (its length,
/// addresses and ranges) and of an inner node (its length, children and
/// addresses).
const LEAF_SEARCH_LINES: usize = (16 + 16 * CAP).div_ceil(64);
const INNER_SEARCH_LINES: usize = (4 + 4 * FAN + 8 * FAN).div_ceil(64);

/// Asks the CPU to bring the first `lines` cache lines of `*r` into cache.
#[inline(always)]
fn prefetch<T>(r: &T, lines: usize) {
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
fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
  debug_assert_ne!(a, b);
  if a < b {
    let (x, y) = v.split_at_mut(b);
    (&mut x[a], &mut y[0])
  } else {
    let (x, y) = v.split_at_mut(a);
    (&mut y[0], &mut x[b])
  }
}

#[cfg(test)]
impl Store {
  /// Checks every invariant of the tree; panics on the first broken one.
  pub fn check(&self) {
    let mut keys = Vec::new();
    let mut l = self.head;
    let mut prev = NIL;
    while l != NIL {
      let leaf = self.leaf(l);
      assert_eq!(leaf.prev, prev, "leaf links");
      keys.extend((0..leaf.len as usize).map(|i| leaf.key(i)));
      prev = l;
      l = leaf.next;
    }
    assert_eq!(prev, self.tail, "tail");
    assert_eq!(keys.len(), self.len, "len");
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "key order");
    if self.root != NIL {
      self.check_node(self.root, self.height, None, None);
    }
  }

  fn check_node(&self, n: u32, height: usize, lo: Option<(u64, u64)>, hi: Option<(u64, u64)>) {
    let root = n == self.root;
    if height == 0 {
      let leaf = self.leaf(n);
      assert!(root || leaf.len != 0, "empty leaf");
      assert!(
        leaf.addrs[leaf.len as usize..].iter().all(|&a| a == PAD),
        "leaf padding"
      );
      for i in 0..leaf.len as usize {
        assert!(lo.is_none_or(|lo| leaf.key(i) >= lo), "key below its separator");
        assert!(
          hi.is_none_or(|hi| leaf.key(i) < hi),
          "key above the next separator"
        );
      }
      return;
    }
    let inner = &self.inners[n as usize];
    let len = inner.len as usize;
    assert_eq!(inner.sep_addr[0], 0, "separator word 0");
    assert!(
      inner.sep_addr[len..].iter().all(|&a| a == PAD),
      "separator padding"
    );
    assert!(
      if root { len >= 2 } else { len >= FAN_MIN },
      "underfull inner node"
    );
    for c in 0..len {
      let clo = if c == 0 { lo } else { Some(inner.sep(c)) };
      let chi = if c + 1 == len { hi } else { Some(inner.sep(c + 1)) };
      self.check_node(inner.child[c], height - 1, clo, chi);
    }
  }

  pub fn keys(&self) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut p = self.first();
    while !p.is_nil() {
      out.push(self.key(p));
      p = self.next(p);
    }
    out
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::vmbind::SplitMix64;
  use std::collections::BTreeSet;

  fn va(addr: u64, seq: u64) -> Va {
    Va {
      addr,
      range: seq,
      obj: 1,
      offset: addr ^ seq,
      seq,
      flags: 0,
      slot: NIL,
    }
  }

  #[test]
  fn count_below_counts_every_case() {
    for n in 0..=32 {
      let mut a = [PAD; 32];
      for (i, w) in a.iter_mut().take(n).enumerate() {
        *w = 10 * i as u64 + 10;
      }
      for x in 0..=10 * n as u64 + 20 {
        let want = a[..n].iter().filter(|&&w| w < x).count();
        assert_eq!(count_below(&a, x), want, "n={n} x={x}");
        if n <= 8 {
          let b: &[u64; 8] = a[..8].try_into().unwrap();
          assert_eq!(count_below(b, x), want, "N=8 n={n} x={x}");
        }
      }
    }
  }

  /// Random inserts, removals, rekeys and searches against a `BTreeSet`,
  /// with every invariant checked as the tree grows to several levels and
  /// shrinks back to one leaf. Few distinct addresses make equal-address
  /// runs (ordered by seq) cross leaf boundaries.
  #[test]
  fn the_tree_matches_a_sorted_set() {
    for (seed, spread) in [(1, 1 << 40), (2, 3000), (3, 40)] {
      let mut rng = SplitMix64::new(seed);
      let mut store = Store::new();
      let mut model = BTreeSet::new();
      let mut seq = 1;
      for round in 0..60_000u64 {
        let grow = round < 30_000;
        match rng.below(10) {
          0..=4 if grow || rng.below(3) == 0 => {
            let addr = rng.below(spread);
            let p = store.insert(va(addr, seq));
            assert_eq!(store.key(p), (addr, seq));
            model.insert((addr, seq));
            seq += 1;
          }
          0..=6 => {
            let Some(&key) = model.range((rng.below(spread), 0)..).next() else {
              continue;
            };
            let p = store.locate(key, NIL).expect("present");
            // Each record carries what it was given, through moves between leaves.
            assert_eq!((store.rec(p).offset, store.range(p)), (key.0 ^ key.1, key.1));
            store.remove(p);
            model.remove(&key);
          }
          7 => {
            let Some(&key) = model.range((rng.below(spread), 0)..).next() else {
              continue;
            };
            let p = store.locate(key, NIL).expect("present");
            let new = (key.0 + rng.below(3), seq);
            let next = model.range((key.0, key.1 + 1)..).next().copied();
            let ok = store.rekey(p, new.0, new.1);
            assert!(!ok || next.is_none_or(|n| new < n));
            if ok {
              model.remove(&key);
              model.insert(new);
              store.rec_mut(p).offset = new.0 ^ new.1;
              store.set_range(p, new.1);
            }
            seq += 1;
          }
          _ => {
            let key = (rng.below(spread + 10), rng.below(seq + 1));
            let p = store.lower_bound(key);
            let want = model.range(key..).next().copied();
            assert_eq!((!p.is_nil()).then(|| store.key(p)), want);
            if let Some(w) = want {
              let prev = store.prev(p);
              let want_prev = model.range(..w).next_back().copied();
              assert_eq!((!prev.is_nil()).then(|| store.key(prev)), want_prev);
            }
          }
        }
        if round % 997 == 0 {
          store.check();
          assert_eq!(store.keys(), model.iter().copied().collect::<Vec<_>>());
        }
      }
      while let Some(&key) = model.iter().next() {
        let p = store.locate(key, NIL).expect("present");
        store.remove(p);
        model.remove(&key);
      }
      store.check();
      assert_eq!((store.len(), store.height), (0, 0));
    }
  }
}
