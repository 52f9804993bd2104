//! Taking records out: a leaf or inner node left underfull borrows from a
//! sibling or merges with it, up to the root.

use super::node::{two_mut, CAP, FAN, FAN_MIN, MIN};
use super::search::Path;
use super::{Pos, Store, NIL};

impl Store {
  pub(super) fn free_leaf(&mut self, l: u32) {
    let leaf = &mut self.leaves[l as usize];
    leaf.truncate(0);
    leaf.prev = NIL;
    leaf.next = NIL;
    self.free_leaves.push(l);
  }

  /// Takes out the record at `p`.
  pub fn remove(&mut self, p: Pos) {
    self.take(p);
  }

  /// Takes out the record at `p` and gives the position of the record that
  /// followed it (NIL when none did): where a walk goes on.
  #[inline(always)]
  pub fn remove_then_next(&mut self, p: Pos) -> Pos {
    let key = self.key(p);
    if self.take(p) {
      // Records moved between leaves: find the follower by its key.
      return self.lower_bound(key);
    }
    let leaf = self.leaf(p.leaf);
    if p.idx < leaf.len {
      return p;
    }
    self.at_start_of(leaf.next)
  }

  /// `remove`; true when the leaf, left underfull, took records from or
  /// gave them to a sibling (positions past `p` moved).
  #[inline]
  fn take(&mut self, p: Pos) -> bool {
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
      return true;
    }
    false
  }

  /// Brings the underfull leaf the path ends in back to `MIN` records: a
  /// merge with a sibling when the two fit in one leaf, else records from
  /// the sibling until the two hold the same number.
  pub(super) fn refill_leaf(&mut self, mut path: Path) {
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
    // Even the pair out, from the fuller side: moving a single record would
    // leave the leaf at the edge, to borrow again at its next removal.
    let (left, right) = two_mut(&mut self.leaves, a as usize, b as usize);
    if left.len > right.len {
      left.move_tail_to(right, (left.len - right.len).div_ceil(2) as usize);
    } else {
      right.move_head_to(left, (right.len - left.len).div_ceil(2) as usize);
    }
    let sep = self.leaf(b).key(0);
    self.inners[parent as usize].set_sep(rc, sep);
  }

  /// The inner-node counterpart of `refill_leaf`, up to the root; a root
  /// left with one child gives way to it.
  pub(super) fn refill_inner(&mut self, n: u32, mut path: Path) {
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
}
