//! Resource managers (`struct ttm_resource_manager`), one per memory type:
//! a size, `use_tt`, an LRU and a pluggable range allocator, either drm_mm
//! (TTM's range manager, byte ranges) or the buddy allocator (amdgpu's and
//! Xe's VRAM managers, 4 KiB pages). Each resource remembers its blocks and
//! the flags it was placed with, for `ttm_resource_compatible`/`intersects`.

use super::lru::Lru;
use super::place::{Place, PAGE_SHIFT, PL_CONTIGUOUS, PL_TEMPORARY, PL_TOPDOWN};
use super::Domain;
use crate::alloc::buddy::{self, Buddy};
use crate::alloc::{InsertMode, Mm};
use crate::errno::{fail, Errno, Result};
use rustc_hash::FxHashMap;

const PAGE: u64 = 1 << PAGE_SHIFT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocKind {
  /// drm_mm: one contiguous byte range per resource.
  Mm,
  /// drm_buddy: page blocks, contiguous only when asked.
  Buddy,
}

/// A driver-private memory type (TTM_PL_PRIV + i).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeConfig {
  pub name: String,
  pub size: u64,
  pub allocator: AllocKind,
  /// Backed by system pages (a ttm_tt), as GTT is; else device memory.
  pub use_tt: bool,
}

/// A move the copy engine cannot make directly: `from -> to` bounces through
/// a TEMPORARY place in `via` (the driver's -EMULTIHOP answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
  pub from: Domain,
  pub to: Domain,
  pub via: Domain,
}

/// What a device's managers look like beyond their sizes (`MemoryConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagerOptions {
  pub vram: AllocKind,
  pub gtt: AllocKind,
  pub private: Vec<TypeConfig>,
  pub hops: Vec<Hop>,
}

impl Default for ManagerOptions {
  /// VRAM on the buddy allocator and VRAM <-> SYSTEM through GTT, as amdgpu.
  fn default() -> Self {
    let hop = |from, to| Hop {
      from,
      to,
      via: Domain::Gtt,
    };
    ManagerOptions {
      vram: AllocKind::Buddy,
      gtt: AllocKind::Mm,
      private: Vec::new(),
      hops: vec![
        hop(Domain::System, Domain::Vram),
        hop(Domain::Vram, Domain::System),
      ],
    }
  }
}

pub(crate) enum RangeAlloc {
  Mm(Mm),
  Buddy(Buddy),
}

/// One resource: its `(offset, size)` blocks in address order and the
/// flags it carries (CONTIGUOUS when it is one run, TEMPORARY for a bounce).
pub(crate) struct Res {
  blocks: Vec<(u64, u64)>,
  flags: u32,
}

pub(crate) struct MemDomain {
  pub alloc: RangeAlloc,
  pub capacity: u64,
  pub use_tt: bool,
  /// Its LRUs, one per priority (lru.rs).
  pub lru: Lru,
  /// Resources by their first offset (what an object's `node` holds).
  res: FxHashMap<u64, Res>,
}

pub(crate) struct ManagerStats {
  pub used: u64,
  pub free: u64,
  pub largest_free: u64,
}

impl MemDomain {
  pub fn new(capacity: u64, kind: AllocKind, use_tt: bool) -> Result<MemDomain> {
    let (alloc, capacity) = match kind {
      AllocKind::Mm => (RangeAlloc::Mm(Mm::new(0, capacity)?), capacity),
      AllocKind::Buddy => {
        let b = Buddy::new(capacity, PAGE)?;
        let size = b.size();
        (RangeAlloc::Buddy(b), size)
      }
    };
    Ok(MemDomain {
      alloc,
      capacity,
      use_tt,
      lru: Lru::default(),
      res: FxHashMap::default(),
    })
  }

  pub fn kind(&self) -> AllocKind {
    match self.alloc {
      RangeAlloc::Mm(_) => AllocKind::Mm,
      RangeAlloc::Buddy(_) => AllocKind::Buddy,
    }
  }

  pub fn heap_bytes(&self) -> usize {
    let alloc = match &self.alloc {
      RangeAlloc::Mm(m) => m.heap_bytes(),
      RangeAlloc::Buddy(b) => b.heap_bytes(),
    };
    // The hash table's slots and control bytes (the block lists are left out).
    let res = self.res.capacity() * (size_of::<(u64, Res)>() + 1);
    alloc + self.lru.heap_bytes() + res
  }

  pub fn stats(&self) -> ManagerStats {
    match &self.alloc {
      RangeAlloc::Mm(m) => {
        let s = m.stats();
        ManagerStats {
          used: s.used,
          free: s.free,
          largest_free: s.largest_hole,
        }
      }
      RangeAlloc::Buddy(b) => {
        let s = b.stats();
        ManagerStats {
          used: s.used,
          free: s.avail,
          largest_free: s.largest_free,
        }
      }
    }
  }

  /// Allocates `size` bytes for `p`: `Ok(None)` for an empty buffer, ENOSPC
  /// when the window has no room. TOPDOWN takes the highest range.
  pub fn alloc(&mut self, size: u64, p: Place) -> Result<Option<u64>> {
    if size == 0 {
      return Ok(None);
    }
    let (start, end) = p.window(self.capacity);
    // Only place_alloc asks, and its callers take ENOSPC as "no room" and
    // ask elsewhere (an eviction walk asks after every victim): no message.
    let no_room = || super::placement::unseen(Errno::ENOSPC);
    let blocks = match &mut self.alloc {
      RangeAlloc::Mm(m) => {
        if size > end - start {
          return no_room();
        }
        let mode = if p.has(PL_TOPDOWN) {
          InsertMode::High
        } else {
          InsertMode::Best
        };
        let n = m.insert(size, 0, 0, start, end, mode)?;
        vec![(n.start, size)]
      }
      RangeAlloc::Buddy(b) => {
        let pages = size.div_ceil(PAGE) * PAGE;
        // Fewer free bytes than asked: the buddy would take every block it
        // can before giving them back (an eviction walk asks after each
        // victim); the answer is the same without the work.
        if pages > end - start || pages > b.avail() {
          return no_room();
        }
        let mut flags = 0;
        if p.has(PL_TOPDOWN) {
          flags |= buddy::TOPDOWN;
        }
        if p.has(PL_CONTIGUOUS) {
          flags |= buddy::CONTIGUOUS;
        }
        if start != 0 || end != b.size() {
          flags |= buddy::RANGE;
        }
        match b.alloc_map(start, end, pages, PAGE, flags, |k| (k.offset, k.size)) {
          Ok(v) => v,
          Err(e) => return fail(Errno::ENOSPC, e.message),
        }
      }
    };
    let key = blocks[0].0;
    let mut sorted = blocks;
    // Often in order already (one block, or the buddy's blocks by luck); offsets differ, so any
    // sort gives the one order.
    if !sorted.is_sorted() {
      sorted.sort_unstable();
    }
    let one_run = sorted.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0);
    let flags = p.flags & PL_TEMPORARY | if one_run { PL_CONTIGUOUS } else { 0 };
    self.res.insert(
      key,
      Res {
        blocks: sorted,
        flags,
      },
    );
    Ok(Some(key))
  }

  pub fn free(&mut self, node: Option<u64>) {
    let Some(start) = node else {
      return;
    };
    let Some(r) = self.res.remove(&start) else {
      return;
    };
    // The ranges were handed out here; a failure would be a bug, and
    // leaking them is the safe answer to it.
    let _ = match &mut self.alloc {
      RangeAlloc::Mm(m) => m.remove(start).map(|_| ()),
      RangeAlloc::Buddy(b) => b.free_each(r.blocks.iter().map(|k| k.0), false),
    };
  }

  /// The flags the resource at `node` was placed with (CONTIGUOUS, TEMPORARY).
  pub fn res_flags(&self, node: Option<u64>) -> u32 {
    node
      .and_then(|n| self.res.get(&n))
      .map_or(PL_CONTIGUOUS, |r| r.flags)
  }

  pub fn blocks(&self, node: Option<u64>) -> Vec<(u64, u64)> {
    node
      .and_then(|n| self.res.get(&n))
      .map_or_else(Vec::new, |r| r.blocks.clone())
  }

  /// The manager's `compatible`: every block inside the place's window, and
  /// one run when the place is CONTIGUOUS.
  pub fn compatible(&self, node: Option<u64>, p: Place) -> bool {
    let Some(r) = node.and_then(|n| self.res.get(&n)) else {
      return true;
    };
    if p.has(PL_CONTIGUOUS) && r.flags & PL_CONTIGUOUS == 0 {
      return false;
    }
    let (s, e) = p.window(self.capacity);
    r.blocks.iter().all(|&(o, l)| o >= s && o + l <= e)
  }

  /// The manager's `intersects`: some block inside the window (an eviction
  /// that frees nothing there is not worth it).
  pub fn intersects(&self, node: Option<u64>, p: Place) -> bool {
    let Some(r) = node.and_then(|n| self.res.get(&n)) else {
      return !p.has_window();
    };
    let (s, e) = p.window(self.capacity);
    r.blocks.iter().any(|&(o, l)| o < e && o + l > s)
  }
}

/// The managers of a device by memory type, and its multihop rules.
pub(crate) fn check_private(private: &[TypeConfig]) -> Result<()> {
  let max = (super::mem_type::MAX_TYPES - super::mem_type::PRIV_BASE + 1) as usize;
  if private.len() > max {
    return fail(
      Errno::EINVAL,
      format!("{} private memory types, TTM has room for {max}", private.len()),
    );
  }
  for (i, t) in private.iter().enumerate() {
    if t.name.is_empty() || ["system", "gtt", "vram", "none"].contains(&t.name.as_str()) {
      return fail(
        Errno::EINVAL,
        format!(
          "private memory type {i} needs a name of its own, got {:?}",
          t.name
        ),
      );
    }
    if private[..i].iter().any(|u| u.name == t.name) {
      return fail(
        Errno::EINVAL,
        format!("private memory type {:?} is declared twice", t.name),
      );
    }
  }
  Ok(())
}

#[cfg(test)]
mod tests;
