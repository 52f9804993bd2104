//! A `drm_mm`-style range allocator over `[start, start + size)`.
//!
//! As in the kernel, a hole is "the space after a node": every slot owns the
//! hole that follows it, and a head slot sitting at the end of the range owns
//! the hole before the first node (its hole wraps around to `start`). Holes
//! are indexed three ways: by address (LOW/HIGH and reserve), by size (BEST)
//! and by when they were last formed (EVICT takes the newest). The time stamp
//! also breaks best-fit ties the way the kernel's size tree does: among holes
//! of the same size the newest wins.
//!
//! Nodes are named by their start address, which is unique among allocated
//! nodes because nodes never overlap and are never empty.
//!
//! Colouring: every node carries a colour, and an allocator may keep a
//! guard of free bytes between neighbouring allocated nodes of different
//! colours (the declarative form of the kernel's `color_adjust` hook, as i915
//! uses it for cache-level colouring). Inserts, reserves, scans and
//! `replace` honour it (`color`).
//!
//! The eviction scan is in `scan`.

mod color;
mod scan;

use crate::errno::{fail, Errno, Result};
use rustc_hash::FxHashMap;
use scan::Scan;
use std::collections::{BTreeMap, BTreeSet};

/// Where `insert` looks for a hole and where in it the node goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertMode {
  /// The smallest hole that fits; the node at its bottom.
  Best,
  /// The lowest-addressed hole that fits; the node at its bottom.
  Low,
  /// The highest-addressed hole that fits; the node at its top.
  High,
  /// The most recently formed hole first (right after an eviction scan).
  Evict,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmNode {
  pub start: u64,
  pub size: u64,
  pub color: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hole {
  pub start: u64,
  pub size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmStats {
  pub used: u64,
  pub free: u64,
  pub largest_hole: u64,
  pub nodes: usize,
  pub holes: usize,
}

impl MmStats {
  /// `1 - largest_hole / free`; 0 when nothing is free.
  pub fn fragmentation(&self) -> f64 {
    if self.free == 0 {
      0.0
    } else {
      1.0 - self.largest_hole as f64 / self.free as f64
    }
  }
}

const HEAD: u32 = 0;
/// No slot: the end of the hole stack.
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
  start: u64,
  /// The head slot stores `-size` so that `start + size` wraps to the range start.
  size: u64,
  color: u64,
  prev: u32,
  next: u32,
  /// Size of the hole after this slot; 0 when there is none.
  hole_size: u64,
  /// When that hole was last indexed.
  hole_seq: u64,
  /// The hole stack's links: the slot whose hole was indexed just before
  /// this one's (`older`) and just after (`newer`).
  older: u32,
  newer: u32,
  scanned: bool,
}

#[derive(Clone, Debug)]
pub struct Mm {
  start: u64,
  size: u64,
  slots: Vec<Slot>,
  free_slots: Vec<u32>,
  /// Start -> slot of the allocated nodes (listed in order on demand).
  by_addr: FxHashMap<u64, u32>,
  holes_addr: BTreeMap<u64, u32>,
  /// `(size, !seq, slot)`: ascending order is smallest first, newest first among equals.
  holes_size: BTreeSet<(u64, u64, u32)>,
  /// The kernel's hole stack: the slot of the newest hole, linked to older
  /// ones through `Slot::older` (the order of `hole_seq`).
  stack_top: u32,
  seq: u64,
  used: u64,
  /// Free bytes kept between allocated neighbours of different colours; 0 for none.
  guard: u64,
  scan: Option<Scan>,
  /// Slots added to the scan and not yet removed, in adding order.
  scanned: Vec<u32>,
}

impl Mm {
  /// Heap bytes held, estimated (`crate::heap`).
  pub fn heap_bytes(&self) -> usize {
    use crate::heap::{btree, vec};
    vec(&self.slots)
      + vec(&self.free_slots)
      + vec(&self.scanned)
      + self.by_addr.capacity() * (size_of::<(u64, u32)>() + 1)
      + btree::<u64, u32>(self.holes_addr.len())
      + btree::<(u64, u64, u32), ()>(self.holes_size.len())
  }
}

/// Where a node of `size` goes in the hole `[hole_start, hole_end)` under the
/// range and alignment constraints, if it fits at all. Mirrors the kernel's
/// arithmetic, wrap-arounds included (a wrapped start is caught by the checks).
fn fit(
  hole_start: u64,
  hole_end: u64,
  size: u64,
  alignment: u64,
  range_start: u64,
  range_end: u64,
  high: bool,
) -> Option<u64> {
  let lo = hole_start.max(range_start);
  let hi = hole_end.min(range_end);
  if hi <= lo || hi - lo < size {
    return None;
  }
  let mut at = if high { hi - size } else { lo };
  if alignment != 0 {
    let rem = if alignment.is_power_of_two() {
      at & (alignment - 1)
    } else {
      at % alignment
    };
    if rem != 0 {
      at -= rem;
      if !high {
        at = at.wrapping_add(alignment);
      }
      if at < lo || hi.wrapping_sub(at) < size || hi <= at {
        return None;
      }
    }
  }
  Some(at)
}

/// "no hole fits size {size:#x}", built without `format!`: a TTM eviction
/// walk asks again after every victim and most asks fail.
fn no_hole_message(size: u64) -> String {
  const PREFIX: &str = "no hole fits size 0x";
  let digits = (64 - size.leading_zeros()).div_ceil(4).max(1);
  let mut m = String::with_capacity(PREFIX.len() + 16);
  m.push_str(PREFIX);
  for i in (0..digits).rev() {
    m.push(char::from(b"0123456789abcdef"[(size >> (4 * i) & 15) as usize]));
  }
  m
}

impl Mm {
  /// `drm_mm_init`: one hole covering `[start, start + size)`.
  pub fn new(start: u64, size: u64) -> Result<Mm> {
    if size == 0 {
      return fail(Errno::EINVAL, "size must be non-zero");
    }
    let Some(end) = start.checked_add(size).filter(|&e| e != 0) else {
      return fail(
        Errno::EINVAL,
        format!("start {start:#x} + size {size:#x} overflows u64"),
      );
    };
    let head = Slot {
      start: end,
      size: size.wrapping_neg(),
      color: 0,
      prev: HEAD,
      next: HEAD,
      hole_size: 0,
      hole_seq: 0,
      older: NONE,
      newer: NONE,
      scanned: false,
    };
    let mut mm = Mm {
      start,
      size,
      slots: vec![head],
      free_slots: Vec::new(),
      by_addr: FxHashMap::default(),
      holes_addr: BTreeMap::new(),
      holes_size: BTreeSet::new(),
      stack_top: NONE,
      seq: 0,
      used: 0,
      guard: 0,
      scan: None,
      scanned: Vec::new(),
    };
    mm.add_hole(HEAD);
    Ok(mm)
  }

  pub fn start(&self) -> u64 {
    self.start
  }

  pub fn size(&self) -> u64 {
    self.size
  }

  fn hole_start(&self, id: u32) -> u64 {
    let s = &self.slots[id as usize];
    s.start.wrapping_add(s.size)
  }

  fn hole_end(&self, id: u32) -> u64 {
    self.slots[self.slots[id as usize].next as usize].start
  }

  fn add_hole(&mut self, id: u32) {
    let start = self.hole_start(id);
    let size = self.hole_end(id).wrapping_sub(start);
    self.seq += 1;
    let seq = self.seq;
    let s = &mut self.slots[id as usize];
    s.hole_size = size;
    s.hole_seq = seq;
    self.holes_addr.insert(start, id);
    self.holes_size.insert((size, !seq, id));
    s.older = self.stack_top;
    s.newer = NONE;
    if self.stack_top != NONE {
      self.slots[self.stack_top as usize].newer = id;
    }
    self.stack_top = id;
  }

  fn rm_hole(&mut self, id: u32) {
    let s = self.slots[id as usize];
    if s.hole_size == 0 {
      return;
    }
    self.holes_addr.remove(&s.start.wrapping_add(s.size));
    self.holes_size.remove(&(s.hole_size, !s.hole_seq, id));
    if s.newer == NONE {
      self.stack_top = s.older;
    } else {
      self.slots[s.newer as usize].older = s.older;
    }
    if s.older != NONE {
      self.slots[s.older as usize].newer = s.newer;
    }
    self.slots[id as usize].hole_size = 0;
  }

  /// The slots owning holes, newest hole first.
  fn hole_stack(&self) -> impl Iterator<Item = u32> + '_ {
    let mut at = self.stack_top;
    std::iter::from_fn(move || {
      let id = at;
      if id == NONE {
        return None;
      }
      at = self.slots[id as usize].older;
      Some(id)
    })
  }

  fn not_scanning(&self) -> Result<()> {
    if self.scanned.is_empty() {
      Ok(())
    } else {
      fail(
        Errno::EBUSY,
        format!("a scan is in progress ({} blocks added)", self.scanned.len()),
      )
    }
  }

  fn node_id(&self, start: u64) -> Result<u32> {
    match self.by_addr.get(&start) {
      Some(&id) => Ok(id),
      None => fail(Errno::EINVAL, format!("no node starts at {start:#x}")),
    }
  }

  fn node(&self, id: u32) -> MmNode {
    let s = &self.slots[id as usize];
    MmNode {
      start: s.start,
      size: s.size,
      color: s.color,
    }
  }

  /// Puts a node at `start` inside the hole owned by `hole`, splitting it.
  fn place(&mut self, hole: u32, start: u64, size: u64, color: u64) -> MmNode {
    let hole_start = self.hole_start(hole);
    let hole_end = self.hole_end(hole);
    let next = self.slots[hole as usize].next;
    let slot = Slot {
      start,
      size,
      color,
      prev: hole,
      next,
      hole_size: 0,
      hole_seq: 0,
      older: NONE,
      newer: NONE,
      scanned: false,
    };
    let id = match self.free_slots.pop() {
      Some(id) => {
        self.slots[id as usize] = slot;
        id
      }
      None => {
        self.slots.push(slot);
        (self.slots.len() - 1) as u32
      }
    };
    self.slots[hole as usize].next = id;
    self.slots[next as usize].prev = id;
    self.rm_hole(hole);
    if start > hole_start {
      self.add_hole(hole);
    }
    if start + size < hole_end {
      self.add_hole(id);
    }
    self.by_addr.insert(start, id);
    self.used += size;
    MmNode { start, size, color }
  }

  /// `drm_mm_insert_node_in_range`. An alignment of 0 or 1 means none; any
  /// other value works, powers of two or not.
  pub fn insert(
    &mut self,
    size: u64,
    alignment: u64,
    color: u64,
    range_start: u64,
    range_end: u64,
    mode: InsertMode,
  ) -> Result<MmNode> {
    self.not_scanning()?;
    if range_start > range_end {
      return fail(
        Errno::EINVAL,
        format!("range start {range_start:#x} is above range end {range_end:#x}"),
      );
    }
    // The kernel answers ENOSPC, not EINVAL, for an empty or oversized request.
    if size == 0 {
      return fail(Errno::ENOSPC, "size must be non-zero");
    }
    if range_end - range_start < size {
      return fail(
        Errno::ENOSPC,
        format!("size {size:#x} does not fit in range [{range_start:#x}, {range_end:#x})"),
      );
    }
    let alignment = if alignment <= 1 { 0 } else { alignment };
    let high = mode == InsertMode::High;
    let try_hole = |id: u32| {
      let hs = self.hole_start(id);
      let he = hs.wrapping_add(self.slots[id as usize].hole_size);
      let (cs, ce) = self.color_adjust(id, self.slots[id as usize].next, color, hs, he);
      fit(cs, ce, size, alignment, range_start, range_end, high).map(|at| (id, at))
    };
    let found = match mode {
      InsertMode::Best => self
        .holes_size
        .range((size, 0, 0)..)
        .find_map(|&(_, _, id)| try_hole(id)),
      InsertMode::Low => {
        // Start from the hole that holds range_start, if any.
        let from = self
          .holes_addr
          .range(..=range_start)
          .next_back()
          .map_or(range_start, |(&a, _)| a);
        self
          .holes_addr
          .range(from..)
          .take_while(|&(&a, _)| a < range_end)
          .filter(|&(_, &id)| self.slots[id as usize].hole_size >= size)
          .find_map(|(_, &id)| try_hole(id))
      }
      InsertMode::High => self
        .holes_addr
        .range(..range_end)
        .rev()
        .take_while(|&(&a, &id)| a.wrapping_add(self.slots[id as usize].hole_size) > range_start)
        .filter(|&(_, &id)| self.slots[id as usize].hole_size >= size)
        .find_map(|(_, &id)| try_hole(id)),
      InsertMode::Evict => self.hole_stack().find_map(try_hole),
    };
    match found {
      Some((hole, at)) => Ok(self.place(hole, at, size, color)),
      None => fail(Errno::ENOSPC, no_hole_message(size)),
    }
  }

  /// `insert_node`: best fit, no alignment, color 0, the whole range.
  pub fn insert_simple(&mut self, size: u64) -> Result<MmNode> {
    self.insert(size, 0, 0, 0, u64::MAX, InsertMode::Best)
  }

  /// `drm_mm_reserve_node`: a node exactly at `[start, start + size)`.
  /// ENOSPC when it is empty, wraps, or is not wholly inside one hole.
  pub fn reserve(&mut self, start: u64, size: u64, color: u64) -> Result<MmNode> {
    self.not_scanning()?;
    let end = start.wrapping_add(size);
    if end <= start {
      return fail(
        Errno::ENOSPC,
        format!("node at {start:#x} of size {size:#x} is empty or overflows u64"),
      );
    }
    let hole = self
      .holes_addr
      .range(..=start)
      .next_back()
      .map(|(&a, &id)| (a, id));
    match hole {
      Some((hs, id)) if end <= hs.wrapping_add(self.slots[id as usize].hole_size) && hs <= start => {
        let he = hs.wrapping_add(self.slots[id as usize].hole_size);
        let (cs, ce) = self.color_adjust(id, self.slots[id as usize].next, color, hs, he);
        if cs > start || ce < end {
          return fail(
            Errno::ENOSPC,
            format!("[{start:#x}, {end:#x}) is free but too close to a node of another colour"),
          );
        }
        Ok(self.place(id, start, size, color))
      }
      _ => fail(Errno::ENOSPC, format!("[{start:#x}, {end:#x}) is not free")),
    }
  }

  /// `drm_mm_remove_node`: the hole before the node absorbs it (and the hole after).
  pub fn remove(&mut self, start: u64) -> Result<MmNode> {
    self.not_scanning()?;
    let id = self.node_id(start)?;
    let node = self.node(id);
    let Slot { prev, next, .. } = self.slots[id as usize];
    self.rm_hole(id);
    self.slots[prev as usize].next = next;
    self.slots[next as usize].prev = prev;
    self.rm_hole(prev);
    self.add_hole(prev);
    self.by_addr.remove(&start);
    self.free_slots.push(id);
    self.used -= node.size;
    Ok(node)
  }

  pub fn get(&self, start: u64) -> Option<MmNode> {
    self.by_addr.get(&start).map(|&id| self.node(id))
  }

  /// Allocated nodes in address order.
  pub fn nodes(&self) -> impl Iterator<Item = MmNode> + '_ {
    let mut ids: Vec<(u64, u32)> = self.by_addr.iter().map(|(&a, &id)| (a, id)).collect();
    ids.sort_unstable();
    ids.into_iter().map(|(_, id)| self.node(id))
  }

  /// Holes in address order.
  pub fn holes(&self) -> impl Iterator<Item = Hole> + '_ {
    self.holes_addr.iter().map(|(&start, &id)| Hole {
      start,
      size: self.slots[id as usize].hole_size,
    })
  }

  pub fn stats(&self) -> MmStats {
    MmStats {
      used: self.used,
      free: self.size - self.used,
      largest_hole: self.holes_size.last().map_or(0, |&(s, _, _)| s),
      nodes: self.by_addr.len(),
      holes: self.holes_addr.len(),
    }
  }
}

#[cfg(test)]
mod tests;
