//! The page-table cost model: what a driver's GPU page table would do for
//! the steps a VA space applies, counted. drmsim adds this model; the kernel's
//! drm_gpuvm has no page table (each driver keeps its own).
//!
//! The table has the shape a [`Profile`] names. The leaves are a function of
//! the live mappings: each mapping is cut, from its first whole page on, into
//! the largest leaves that fit, where a leaf of size S needs an S-aligned VA,
//! a whole S-aligned block inside the mapping and, for an object-backed
//! mapping, a backing offset congruent to the VA modulo S (an object's backing
//! is taken as contiguous). A mapping without an object (sparse or NULL)
//! writes its NULL entries the same way, alignment of the VA alone deciding.
//! Bytes of a mapping outside whole pages map nothing.
//!
//! Costs, as the steps are applied:
//! - map: each leaf is one PTE write (a leaf above level 0 is a huge page
//!   formed); a table page is allocated when the first entry under it is
//!   written, its directory entry being one PDE write.
//! - unmap: each leaf cleared is one PTE write; a table page whose last entry
//!   is cleared is freed (one PDE write to clear its directory entry; the
//!   root is never freed); one TLB invalidation covers the range.
//! - remap: the pieces a remap keeps (same object, same backing) keep their
//!   leaves; the unmapped middle is cleared as by an unmap, one TLB
//!   invalidation for each contiguous range removed. A huge leaf the cut
//!   crosses is split: a table of the next leaf size is allocated and every
//!   one of its entries written as a copy of the huge leaf (the copy is whole
//!   before it replaces the leaf, so the rest of the range never faults), the
//!   directory entry rewritten to point at it (one PDE write); then the part
//!   unmapped is cleared from it.
//!
//! So unbinding 4 KiB out of a 2 MiB huge leaf (512-entry tables) costs one
//! split, 512 PTE writes filling the new table plus 1 clearing the 4 KiB
//! (513), one PDE write, one table page allocated, one TLB invalidation of
//! 4 KiB.

mod profile;

pub use profile::{LevelSpec, Profile, PROFILE_NAMES};

use crate::errno::{fail, Errno, Result};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A mapping as the page table sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
  pub addr: u64,
  pub range: u64,
  pub obj: u32,
  pub offset: u64,
}

impl Mapping {
  fn end(&self) -> u64 {
    self.addr.saturating_add(self.range)
  }
}

/// What page-table work a request (or a whole run) cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
  /// Leaf entries written or cleared (split fills included).
  pub pte_writes: u64,
  /// Directory entries written or cleared (pointers to tables).
  pub pde_writes: u64,
  pub pt_pages_allocated: u64,
  pub pt_pages_freed: u64,
  pub tlb_invalidations: u64,
  /// The VA bytes the invalidations covered.
  pub tlb_bytes: u64,
  pub huge_page_splits: u64,
  /// Leaves above level 0 written by map steps.
  pub huge_pages_formed: u64,
}

impl Cost {
  fn minus(&self, o: &Cost) -> Cost {
    Cost {
      pte_writes: self.pte_writes - o.pte_writes,
      pde_writes: self.pde_writes - o.pde_writes,
      pt_pages_allocated: self.pt_pages_allocated - o.pt_pages_allocated,
      pt_pages_freed: self.pt_pages_freed - o.pt_pages_freed,
      tlb_invalidations: self.tlb_invalidations - o.tlb_invalidations,
      tlb_bytes: self.tlb_bytes - o.tlb_bytes,
      huge_page_splits: self.huge_page_splits - o.huge_page_splits,
      huge_pages_formed: self.huge_pages_formed - o.huge_pages_formed,
    }
  }
}

/// The table as it stands: per level (0 first, the root last), the table
/// pages, the valid entries and the leaves; and the bytes of all table pages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Occupancy {
  pub tables: Vec<u64>,
  pub entries: Vec<u64>,
  pub leaves: Vec<u64>,
  pub bytes: u64,
}

/// The most TLB ranges kept for one request (the count goes on).
pub const TLB_RANGES_MAX: usize = 1024;

/// A multiplicative hash for table indexes (the keys are plain integers).
#[derive(Default)]
struct IndexHasher(u64);

impl Hasher for IndexHasher {
  fn finish(&self) -> u64 {
    self.0
  }
  fn write(&mut self, bytes: &[u8]) {
    for &b in bytes {
      self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
  }
  fn write_u64(&mut self, v: u64) {
    self.0 = (v ^ (v >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
  }
}

type Tables = HashMap<u64, u32, BuildHasherDefault<IndexHasher>>;

/// A remap's old mapping, taken out, whose pieces are being put back: its
/// leaves stay until the step is over, the pieces that keep them known.
#[derive(Clone)]
struct Pending {
  old: Mapping,
  /// The pieces that keep the old mapping's leaves, in the order they come.
  expected: Vec<Mapping>,
  kept: Vec<(u64, u64)>,
}

/// Whether piece `m` of `old` keeps its leaves: non-empty, inside, the same
/// object and backing.
fn keeps(old: &Mapping, m: &Mapping) -> bool {
  let same_backing =
    m.obj == old.obj && (m.obj == 0 || m.addr.wrapping_sub(m.offset) == old.addr.wrapping_sub(old.offset));
  m.range != 0 && m.addr >= old.addr && m.end() <= old.end() && same_backing
}

/// Runs of equal leaves, in address order: `(level, start, end)`.
type Run = (usize, u64, u64);

#[derive(Clone)]
pub struct PageTable {
  profile: Profile,
  /// `shifts[i]`: log2 of the VA a level-i entry covers; one more for the root's span.
  shifts: Vec<u32>,
  /// Per level below the root: table index (`addr >> shifts[i + 1]`) -> valid entries.
  tables: Vec<Tables>,
  root_used: u64,
  leaves: Vec<u64>,
  total: Cost,
  at_request: Cost,
  tlb: Vec<(u64, u64)>,
  pending: Option<Pending>,
}

impl PageTable {
  pub fn new(profile: Profile) -> Result<PageTable> {
    profile.validate()?;
    let n = profile.levels.len();
    Ok(PageTable {
      shifts: (0..=n).map(|i| profile.shift(i)).collect(),
      tables: (0..n - 1).map(|_| Tables::default()).collect(),
      root_used: 0,
      leaves: vec![0; n],
      total: Cost::default(),
      at_request: Cost::default(),
      tlb: Vec::new(),
      pending: None,
      profile,
    })
  }

  /// EINVAL unless `[start, start + range)` lies in the profile's VA.
  pub fn check_fits(&self, start: u64, range: u64) -> Result<()> {
    let limit = 1u64 << self.profile.va_bits();
    match start.checked_add(range) {
      Some(end) if end <= limit => Ok(()),
      _ => fail(
        Errno::EINVAL,
        format!(
          "VA space [{start:#x}, +{range:#x}) does not fit the {}-bit VA of page-table profile '{}'",
          self.profile.va_bits(),
          self.profile.name
        ),
      ),
    }
  }

  pub fn profile(&self) -> &Profile {
    &self.profile
  }

  fn top(&self) -> usize {
    self.profile.levels.len() - 1
  }

  fn size(&self, level: usize) -> u64 {
    1u64 << self.shifts[level]
  }

  // ---- the hooks the VA space calls -----------------------------------------

  /// A mapping was inserted.
  pub fn mapped(&mut self, m: &Mapping) {
    if let Some(p) = self.pending.as_mut() {
      if p.expected.get(p.kept.len()) == Some(m) {
        p.kept.push((m.addr, m.end()));
        if p.kept.len() == p.expected.len() {
          self.flush();
        }
        return;
      }
    }
    self.flush();
    self.write(m);
  }

  /// A mapping was removed.
  pub fn unmapped(&mut self, m: &Mapping) {
    if self
      .pending
      .as_ref()
      .is_some_and(|p| p.old == *m && p.kept.is_empty())
    {
      // Already taken out by `detached` (a remap that re-inserts its piece).
      return;
    }
    self.flush();
    self.clear(m, &[(m.addr, m.end())]);
  }

  /// A remap takes `old` out and puts `pieces` (in address order) in: they
  /// follow as `mapped`, and those with the old backing keep its leaves.
  pub fn detached(&mut self, old: &Mapping, pieces: &[Mapping]) {
    self.flush();
    self.pending = Some(Pending {
      old: *old,
      expected: pieces.iter().filter(|p| keeps(old, p)).copied().collect(),
      kept: Vec::with_capacity(2),
    });
  }

  /// Starts a new request: its cost is what follows.
  pub fn begin_request(&mut self) {
    self.flush();
    self.at_request = self.total;
    self.tlb.clear();
  }

  // ---- reading --------------------------------------------------------------

  /// The cost of everything so far.
  pub fn total(&mut self) -> Cost {
    self.flush();
    self.total
  }

  /// The cost since the last `begin_request`.
  pub fn last_request(&mut self) -> Cost {
    self.flush();
    self.total.minus(&self.at_request)
  }

  /// The ranges the last request invalidated (at most `TLB_RANGES_MAX`).
  pub fn last_tlb_ranges(&mut self) -> &[(u64, u64)] {
    self.flush();
    &self.tlb
  }

  pub fn occupancy(&mut self) -> Occupancy {
    self.flush();
    let top = self.top();
    let mut o = Occupancy::default();
    for (i, spec) in self.profile.levels.iter().enumerate() {
      let (tables, entries) = if i == top {
        (1, self.root_used)
      } else {
        let t = &self.tables[i];
        (t.len() as u64, t.values().map(|&u| u64::from(u)).sum())
      };
      o.tables.push(tables);
      o.entries.push(entries);
      o.leaves.push(self.leaves[i]);
      o.bytes += tables * (1u64 << spec.bits) * u64::from(spec.entry_bytes);
    }
    o
  }

  /// Heap bytes held (an estimate, for the garbage collector).
  pub fn heap_bytes(&self) -> usize {
    self.tables.iter().map(|t| t.capacity() * 16).sum::<usize>() + self.tlb.capacity() * 16
  }

  // ---- the model ------------------------------------------------------------

  fn flush(&mut self) {
    let Some(p) = self.pending.take() else {
      return;
    };
    let mut kept = p.kept;
    kept.sort_unstable();
    let mut removed = Vec::with_capacity(kept.len() + 1);
    let mut at = p.old.addr;
    for (a, b) in kept {
      if at < a {
        removed.push((at, a));
      }
      at = b;
    }
    if at < p.old.end() {
      removed.push((at, p.old.end()));
    }
    self.clear(&p.old, &removed);
  }

  /// The leaves of `m`, as runs: from its first whole page, at each address
  /// the largest leaf that is aligned, fits and (with an object) has its
  /// backing aligned alike.
  fn layout(&self, m: &Mapping) -> ([Run; 16], usize) {
    let mut runs = [(0, 0, 0); 16];
    let mut n = 0;
    let page = self.size(0);
    let hi = m.end() & !(page - 1);
    let mut x = m.addr.saturating_add(page - 1) & !(page - 1);
    let delta = m.addr.wrapping_sub(m.offset);
    let levels = self.profile.levels.len();
    let allowed =
      |l: usize| l == 0 || (self.profile.levels[l].leaf && (m.obj == 0 || delta & (self.size(l) - 1) == 0));
    let fits =
      |l: usize, x: u64| x & (self.size(l) - 1) == 0 && x.checked_add(self.size(l)).is_some_and(|e| e <= hi);
    while x < hi && n < runs.len() {
      let level = (1..levels).rev().find(|&l| allowed(l) && fits(l, x)).unwrap_or(0);
      let mut end = hi & !(self.size(level) - 1);
      if let Some(b) = (level + 1..levels).find(|&l| allowed(l)) {
        let sb = self.size(b);
        let next = (x | (sb - 1)).wrapping_add(1);
        if next != 0 && fits(b, next) {
          end = end.min(next);
        }
      }
      runs[n] = (level, x, end);
      n += 1;
      x = end;
    }
    (runs, n)
  }

  fn write(&mut self, m: &Mapping) {
    let (runs, n) = self.layout(m);
    for &(level, a, b) in &runs[..n] {
      self.write_run(level, a, b, true);
    }
  }

  fn clear(&mut self, m: &Mapping, removed: &[(u64, u64)]) {
    if m.range == 0 {
      return;
    }
    for &(a, b) in removed.iter().filter(|r| r.0 < r.1) {
      self.total.tlb_invalidations += 1;
      self.total.tlb_bytes += b - a;
      if self.tlb.len() < TLB_RANGES_MAX {
        self.tlb.push((a, b - a));
      }
    }
    let (runs, n) = self.layout(m);
    for &(level, a, b) in &runs[..n] {
      self.clear_run(level, a, b, removed);
    }
  }

  /// Writes leaves of `level` over `[a, b)` (aligned).
  fn write_run(&mut self, level: usize, a: u64, b: u64, formed: bool) {
    let count = (b - a) >> self.shifts[level];
    self.total.pte_writes += count;
    self.leaves[level] += count;
    if formed && level > 0 {
      self.total.huge_pages_formed += count;
    }
    self.each_table(level, a, b, |pt, idx, k| pt.table_add(level, idx, k));
  }

  fn clear_leaves(&mut self, level: usize, a: u64, b: u64) {
    let count = (b - a) >> self.shifts[level];
    self.total.pte_writes += count;
    self.leaves[level] -= count;
    self.each_table(level, a, b, |pt, idx, k| pt.table_sub(level, idx, k));
  }

  /// Calls `f(table index, entries)` for each table of `level` under `[a, b)`.
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

  fn table_add(&mut self, level: usize, idx: u64, k: u64) {
    if level == self.top() {
      self.root_used += k;
      return;
    }
    let used = self.tables[level].entry(idx).or_insert(0);
    let fresh = *used == 0;
    *used += k as u32;
    if fresh {
      self.total.pt_pages_allocated += 1;
      self.total.pde_writes += 1;
      let parent = idx >> self.profile.levels[level + 1].bits;
      self.table_add(level + 1, parent, 1);
    }
  }

  fn table_sub(&mut self, level: usize, idx: u64, k: u64) {
    if level == self.top() {
      self.root_used -= k;
      return;
    }
    let Some(used) = self.tables[level].get_mut(&idx) else {
      return;
    };
    *used -= k as u32;
    if *used == 0 {
      self.tables[level].remove(&idx);
      self.total.pt_pages_freed += 1;
      self.total.pde_writes += 1;
      let parent = idx >> self.profile.levels[level + 1].bits;
      self.table_sub(level + 1, parent, 1);
    }
  }

  /// The next smaller size a huge leaf of `level` splits into.
  fn child_leaf(&self, level: usize) -> usize {
    (1..level)
      .rev()
      .find(|&l| self.profile.levels[l].leaf)
      .unwrap_or(0)
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
    let idx = if level == self.top() {
      0
    } else {
      b >> self.shifts[level + 1]
    };
    self.table_sub_raw(level, idx);
  }

  fn table_sub_raw(&mut self, level: usize, idx: u64) {
    if level == self.top() {
      self.root_used -= 1;
    } else if let Some(used) = self.tables[level].get_mut(&idx) {
      *used -= 1;
    }
  }

  /// Clears from the run of `level` leaves over `[start, end)` what
  /// `removed` covers, splitting the leaves a removed range cuts.
  fn clear_run(&mut self, level: usize, start: u64, end: u64, removed: &[(u64, u64)]) {
    let size = self.size(level);
    let mask = size - 1;
    let mut cut: Vec<u64> = Vec::new();
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
      if lo & mask != 0 {
        cut.push(lo & !mask);
      }
      if hi & mask != 0 {
        cut.push(hi & !mask);
      }
    }
    cut.sort_unstable();
    cut.dedup();
    for b in cut {
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

#[cfg(test)]
mod tests;
