//! Reading the record at a `Pos` and stepping to its neighbours in key order.

use super::{Pos, Rec, Store, FLAG_BITS, FLAG_MASK, NIL};
use crate::gpuvm::Va;

impl Store {
  #[inline]
  pub fn rec(&self, p: Pos) -> &Rec {
    self.leaf(p.leaf).rec(p.idx as usize)
  }

  /// The record at `p`, for changes that leave its key alone.
  #[inline]
  pub fn rec_mut(&mut self, p: Pos) -> &mut Rec {
    self.leaves[p.leaf as usize].rec_mut(p.idx as usize)
  }

  /// The insertion number of the record at `p`.
  #[inline]
  pub fn seq(&self, p: Pos) -> u64 {
    self.leaf(p.leaf).seq(p.idx as usize)
  }

  /// Sets (`on`) or clears the flags in `mask` of the record at `p`.
  #[inline]
  pub fn set_flags(&mut self, p: Pos, mask: u32, on: bool) {
    let t = &mut self.leaves[p.leaf as usize].tags[p.idx as usize];
    let mask = u64::from(mask) & FLAG_MASK;
    *t = if on { *t | mask } else { *t & !mask };
  }

  /// Replaces the whole flags word (its low 16 bits) of the record at `p`.
  #[inline]
  pub fn set_all_flags(&mut self, p: Pos, flags: u32) {
    let t = &mut self.leaves[p.leaf as usize].tags[p.idx as usize];
    *t = (*t & !FLAG_MASK) | (u64::from(flags) & FLAG_MASK);
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
    let leaf = self.leaf(p.leaf);
    let i = p.idx as usize;
    let (r, t) = (leaf.rec(i), leaf.tags[i]);
    Va {
      addr: leaf.addrs[i],
      range: leaf.ranges[i],
      obj: r.obj,
      offset: r.offset,
      seq: t >> FLAG_BITS,
      flags: (t & FLAG_MASK) as u32,
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
