//! The page-table model's work (the rules are in `mod.rs`): each mapping's
//! leaf layout, writing and clearing runs of leaves, the table counts, huge
//! leaves split. Hot on every step of a VA space with a page table, so it
//! allocates nothing: the layout is walked run by run and the small lists
//! (ranges removed, leaves cut) live on the stack.

use super::{Mapping, PageTable};

/// The most runs of equal leaves a mapping's layout is cut into (up then
/// down the levels: at most 11 with 6 levels).
const RUNS_MAX: usize = 16;

impl PageTable {
  fn top(&self) -> usize {
    self.levels - 1
  }

  fn size(&self, level: usize) -> u64 {
    1u64 << self.shifts[level]
  }

  /// The whole pages of `m`: `[first, end)`.
  fn pages(&self, m: &Mapping) -> (u64, u64) {
    let page = self.size(0);
    (
      m.addr.saturating_add(page - 1) & !(page - 1),
      m.end() & !(page - 1),
    )
  }

  /// The run of equal leaves of `m` from `x` (below `hi`, the end of its
  /// whole pages): at `x` the largest leaf that is aligned, fits and (with
  /// an object) has its backing aligned alike, repeated up to the next
  /// address where a larger leaf could start. Returns its level and end.
  #[inline]
  fn run_at(&self, m: &Mapping, x: u64, hi: u64) -> (usize, u64) {
    if self.first_huge == self.levels || hi - x < self.size(self.first_huge) {
      // No leaf above level 0 fits in what is left.
      return (0, hi);
    }
    let delta = m.addr.wrapping_sub(m.offset);
    let allowed = |l: usize| l == 0 || (self.leaf[l] && (m.obj == 0 || delta & (self.size(l) - 1) == 0));
    let fits =
      |l: usize, x: u64| x & (self.size(l) - 1) == 0 && x.checked_add(self.size(l)).is_some_and(|e| e <= hi);
    let level = (1..self.levels)
      .rev()
      .find(|&l| allowed(l) && fits(l, x))
      .unwrap_or(0);
    let mut end = hi & !(self.size(level) - 1);
    if let Some(b) = (level + 1..self.levels).find(|&l| allowed(l)) {
      let next = (x | (self.size(b) - 1)).wrapping_add(1);
      if next != 0 && fits(b, next) {
        end = end.min(next);
      }
    }
    (level, end)
  }

  pub(super) fn write(&mut self, m: &Mapping) {
    let (mut x, hi) = self.pages(m);
    let mut runs = 0;
    while x < hi && runs < RUNS_MAX {
      let (level, end) = self.run_at(m, x, hi);
      self.write_run(level, x, end, true);
      x = end;
      runs += 1;
    }
  }

  /// Clears what `removed` (sorted, disjoint, at most 3 ranges) covers of
  /// `m`'s leaves.
  pub(super) fn clear(&mut self, m: &Mapping, removed: &[(u64, u64)]) {
    if m.range == 0 {
      return;
    }
    for &(a, b) in removed.iter().filter(|r| r.0 < r.1) {
      self.total.tlb_invalidations += 1;
      self.total.tlb_bytes += b - a;
      if self.tlb.len() < super::TLB_RANGES_MAX {
        self.tlb.push((a, b - a));
      }
    }
    let (mut x, hi) = self.pages(m);
    let mut runs = 0;
    while x < hi && runs < RUNS_MAX {
      let (level, end) = self.run_at(m, x, hi);
      self.clear_run(level, x, end, removed);
      x = end;
      runs += 1;
    }
  }

  /// Ends a remap: clears what of its old mapping the kept pieces do not cover.
  #[inline(always)]
  pub(super) fn flush(&mut self) {
    if self.pending.is_some() {
      self.flush_pending();
    }
  }

  #[inline(never)]
  fn flush_pending(&mut self) {
    let Some(p) = self.pending.take() else {
      return;
    };
    let mut kept = p.kept;
    let kept = &mut kept[..p.kept_len];
    kept.sort_unstable();
    let mut removed = [(0, 0); 3];
    let mut n = 0;
    let mut at = p.old.addr;
    for &(a, b) in kept.iter() {
      if at < a {
        removed[n] = (at, a);
        n += 1;
      }
      at = b;
    }
    if at < p.old.end() {
      removed[n] = (at, p.old.end());
      n += 1;
    }
    self.clear(&p.old, &removed[..n]);
  }

  /// Writes leaves of `level` over `[a, b)` (aligned).
  #[inline]
  fn write_run(&mut self, level: usize, a: u64, b: u64, formed: bool) {
    let count = (b - a) >> self.shifts[level];
    self.total.pte_writes += count;
    self.leaves[level] += count;
    if formed && level > 0 {
      self.total.huge_pages_formed += count;
    }
    self.each_table(level, a, b, |pt, idx, k| pt.table_add(level, idx, k));
  }

  #[inline]
  fn clear_leaves(&mut self, level: usize, a: u64, b: u64) {
    let count = (b - a) >> self.shifts[level];
    self.total.pte_writes += count;
    self.leaves[level] -= count;
    self.each_table(level, a, b, |pt, idx, k| pt.table_sub(level, idx, k));
  }

  /// Calls `f(table index, entries)` for each table of `level` under `[a, b)`.
  #[inline(always)]
  fn each_table(&mut self, level: usize, a: u64, b: u64, mut f: impl FnMut(&mut Self, u64, u64)) {
    let shift = self.shifts[level];
    if level == self.top() {
      f(self, 0, (b - a) >> shift);
      return;
    }
    let span = self.shifts[level + 1];
    let mut x = a;
    while x < b {
      let idx = x >> span;
      let end = ((idx + 1) << span).min(b);
      f(self, idx, (end - x) >> shift);
      x = end;
    }
  }

  fn parent(&self, level: usize, idx: u64) -> u64 {
    idx >> (self.shifts[level + 2] - self.shifts[level + 1])
  }

  /// `k` more valid entries in table `idx` of `level`.
  #[inline(always)]
  fn table_add(&mut self, level: usize, idx: u64, k: u64) {
    self.entries[level] += k;
    if level == self.top() {
      return;
    }
    let used = self.tables[level].entry(idx).or_insert(0);
    let fresh = *used == 0;
    *used += k as u32;
    if fresh {
      self.table_allocated(level, idx);
    }
  }

  /// Table `idx` of `level` was just allocated: its directory entry is written.
  #[cold]
  #[inline(never)]
  fn table_allocated(&mut self, level: usize, idx: u64) {
    self.total.pt_pages_allocated += 1;
    self.total.pde_writes += 1;
    self.table_add(level + 1, self.parent(level, idx), 1);
  }

  /// `k` fewer valid entries in table `idx` of `level`.
  #[inline(always)]
  fn table_sub(&mut self, level: usize, idx: u64, k: u64) {
    if level == self.top() {
      self.entries[level] -= k;
      return;
    }
    let Some(used) = self.tables[level].get_mut(&idx) else {
      return;
    };
    *used -= k as u32;
    self.entries[level] -= k;
    if *used == 0 {
      self.table_freed(level, idx);
    }
  }

  /// Table `idx` of `level` has no valid entry left: freed, its directory entry cleared.
  #[cold]
  #[inline(never)]
  fn table_freed(&mut self, level: usize, idx: u64) {
    self.tables[level].remove(&idx);
    self.total.pt_pages_freed += 1;
    self.total.pde_writes += 1;
    self.table_sub(level + 1, self.parent(level, idx), 1);
  }

  /// The next smaller size a huge leaf of `level` splits into.
  fn child_leaf(&self, level: usize) -> usize {
    (1..level).rev().find(|&l| self.leaf[l]).unwrap_or(0)
  }

  /// Replaces the huge leaf of `level` at `b` by a table of the next leaf
  /// size, all of its entries written as copies of the leaf.
  fn split(&mut self, level: usize, b: u64) {
    self.leaves[level] -= 1;
    self.total.huge_page_splits += 1;
    let child = self.child_leaf(level);
    self.write_run(child, b, b + self.size(level), false);
    // The new table's pointer took the leaf's entry, which stays valid:
    // allocating the table counted it as one more entry.
    if level == self.top() {
      self.entries[level] -= 1;
    } else if let Some(used) = self.tables[level].get_mut(&(b >> self.shifts[level + 1])) {
      *used -= 1;
      self.entries[level] -= 1;
    }
  }

  /// Clears from the run of `level` leaves over `[start, end)` what
  /// `removed` covers, splitting the leaves a removed range cuts.
  fn clear_run(&mut self, level: usize, start: u64, end: u64, removed: &[(u64, u64)]) {
    let size = self.size(level);
    let mask = size - 1;
    // Each removed range cuts at most two leaves (its ends).
    let mut cut = [0u64; 8];
    let mut n = 0;
    for &(r0, r1) in removed {
      let (lo, hi) = (start.max(r0), end.min(r1));
      if lo >= hi {
        continue;
      }
      let full_lo = lo.saturating_add(mask) & !mask;
      let full_hi = hi & !mask;
      if full_lo < full_hi {
        self.clear_leaves(level, full_lo, full_hi);
      }
      for edge in [lo, hi] {
        if edge & mask != 0 && n < cut.len() {
          cut[n] = edge & !mask;
          n += 1;
        }
      }
    }
    // `removed` is sorted and disjoint, so the cuts come in order.
    let cut = &cut[..n];
    debug_assert!(cut.windows(2).all(|w| w[0] <= w[1]));
    let mut prev = None;
    for &b in cut.iter() {
      if prev == Some(b) {
        continue;
      }
      prev = Some(b);
      if level == 0 {
        // A page partly removed is whole in no piece: cleared.
        self.clear_leaves(0, b, b + size);
      } else {
        self.split(level, b);
        let child = self.child_leaf(level);
        self.clear_run(child, b, b + size, removed);
      }
    }
  }
}
