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
mod requests;

pub use profile::{LevelSpec, Profile, PROFILE_NAMES};
pub use requests::RequestCosts;

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

/// The most levels a profile has (`Profile::validate`).
const LEVELS_MAX: usize = 6;

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
/// leaves stay until the step is over, the pieces that keep them known. A
/// remap has at most two pieces (before and after the cut), so it holds no
/// heap memory.
#[derive(Clone, Copy)]
struct Pending {
  old: Mapping,
  /// The pieces that keep the old mapping's leaves, in the order they come.
  expected: [Mapping; 2],
  expected_len: usize,
  kept: [(u64, u64); 2],
  kept_len: usize,
}

/// Whether piece `m` of `old` keeps its leaves: non-empty, inside, the same
/// object and backing.
fn keeps(old: &Mapping, m: &Mapping) -> bool {
  let same_backing =
    m.obj == old.obj && (m.obj == 0 || m.addr.wrapping_sub(m.offset) == old.addr.wrapping_sub(old.offset));
  m.range != 0 && m.addr >= old.addr && m.end() <= old.end() && same_backing
}

#[derive(Clone)]
pub struct PageTable {
  profile: Profile,
  /// The profile's shape, in fixed arrays (the hot paths index them).
  levels: usize,
  /// `shifts[i]`: log2 of the VA a level-i entry covers; one more for the root's span.
  shifts: [u32; LEVELS_MAX + 1],
  leaf: [bool; LEVELS_MAX],
  /// The lowest level above 0 that may hold a leaf (`levels` if none): a run
  /// shorter than its size is all level-0 leaves.
  first_huge: usize,
  /// Per level below the root: table index (`addr >> shifts[i + 1]`) -> valid entries.
  tables: Vec<Tables>,
  /// Per level, kept as the tables change: valid entries and leaves.
  entries: [u64; LEVELS_MAX],
  leaves: [u64; LEVELS_MAX],
  total: Cost,
  at_request: Cost,
  tlb: Vec<(u64, u64)>,
  pending: Option<Pending>,
}

impl PageTable {
  pub fn new(profile: Profile) -> Result<PageTable> {
    profile.validate()?;
    let n = profile.levels.len();
    let mut shifts = [0; LEVELS_MAX + 1];
    let mut leaf = [false; LEVELS_MAX];
    for (i, s) in shifts.iter_mut().enumerate().take(n + 1) {
      *s = profile.shift(i);
    }
    for (i, l) in profile.levels.iter().enumerate() {
      leaf[i] = l.leaf;
    }
    Ok(PageTable {
      levels: n,
      shifts,
      leaf,
      first_huge: (1..n).find(|&l| leaf[l]).unwrap_or(n),
      tables: (0..n - 1).map(|_| Tables::default()).collect(),
      entries: [0; LEVELS_MAX],
      leaves: [0; LEVELS_MAX],
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

  // ---- the hooks the VA space calls -----------------------------------------

  /// A mapping was inserted.
  pub fn mapped(&mut self, m: &Mapping) {
    if let Some(p) = self.pending.as_mut() {
      if p.kept_len < p.expected_len && p.expected[p.kept_len] == *m {
        p.kept[p.kept_len] = (m.addr, m.end());
        p.kept_len += 1;
        if p.kept_len == p.expected_len {
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
      .is_some_and(|p| p.old == *m && p.kept_len == 0)
    {
      // Already taken out by `detached` (a remap that re-inserts its piece).
      return;
    }
    self.flush();
    self.clear(m, &[(m.addr, m.end())]);
  }

  /// A remap takes `old` out and puts `pieces` (in address order, at most
  /// two: before and after the cut) in: they follow as `mapped`, and those
  /// with the old backing keep its leaves.
  pub fn detached(&mut self, old: &Mapping, pieces: &[Mapping]) {
    debug_assert!(pieces.len() <= 2, "a remap has at most two pieces");
    self.flush();
    let mut p = Pending {
      old: *old,
      expected: [*old; 2],
      expected_len: 0,
      kept: [(0, 0); 2],
      kept_len: 0,
    };
    for piece in pieces.iter().filter(|m| keeps(old, m)).take(2) {
      p.expected[p.expected_len] = *piece;
      p.expected_len += 1;
    }
    self.pending = Some(p);
  }

  /// Starts a new request: its cost is what follows.
  pub fn begin_request(&mut self) {
    self.flush();
    self.at_request = self.total;
    self.tlb.clear();
  }

  // ---- reading (each O(levels) at most, the TLB ranges aside) ---------------

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

  /// The occupancy from the counts kept as the tables change.
  pub fn occupancy(&mut self) -> Occupancy {
    self.flush();
    let n = self.levels;
    self.occupancy_of(
      |i| {
        if i == n - 1 {
          1
        } else {
          self.tables[i].len() as u64
        }
      },
      &self.entries[..n],
    )
  }

  /// Level `i`'s tables, valid entries and leaves, without allocating
  /// (`occupancy` for one level; `None` past the root).
  pub fn level_occupancy(&mut self, i: usize) -> Option<[u64; 3]> {
    self.flush();
    let n = self.levels;
    (i < n).then(|| {
      let tables = if i == n - 1 {
        1
      } else {
        self.tables[i].len() as u64
      };
      [tables, self.entries[i], self.leaves[i]]
    })
  }

  /// The occupancy counted afresh over every table (what `occupancy` keeps
  /// incrementally; the tests compare the two).
  pub fn occupancy_counted(&mut self) -> Occupancy {
    self.flush();
    let n = self.levels;
    let entries: Vec<u64> = (0..n)
      .map(|i| {
        if i == n - 1 {
          self.entries[i]
        } else {
          self.tables[i].values().map(|&u| u64::from(u)).sum()
        }
      })
      .collect();
    self.occupancy_of(
      |i| {
        if i == n - 1 {
          1
        } else {
          self.tables[i].len() as u64
        }
      },
      &entries,
    )
  }

  fn occupancy_of(&self, tables: impl Fn(usize) -> u64, entries: &[u64]) -> Occupancy {
    let mut o = Occupancy::default();
    for (i, spec) in self.profile.levels.iter().enumerate() {
      let t = tables(i);
      o.tables.push(t);
      o.entries.push(entries[i]);
      o.leaves.push(self.leaves[i]);
      o.bytes += t * (1u64 << spec.bits) * u64::from(spec.entry_bytes);
    }
    o
  }

  /// Heap bytes held (an estimate, for the garbage collector).
  pub fn heap_bytes(&self) -> usize {
    self.tables.iter().map(|t| t.capacity() * 16).sum::<usize>() + self.tlb.capacity() * 16
  }
}

mod model;

#[cfg(test)]
mod tests;
