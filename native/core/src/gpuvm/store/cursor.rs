//! Reading the record at a `Pos` and stepping to its neighbours in key order.

use super::{Pos, Rec, Store, NIL};
use crate::gpuvm::Va;

impl Store {
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
  pub(super) fn at_start_of(&self, l: u32) -> Pos {
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
}
