//! The GPU VA space of seed 004 (`drm_gpuva_manager`, today's `drm_gpuvm`).
//!
//! Mappings live in an ordered map keyed by `(addr, seq)`. `seq` is a counter
//! taken at insert time; it breaks ties between mappings that start at the same
//! address (only zero-length mappings can), in insertion order, which is the
//! order the kernel's interval tree gives them. A `VaKey` is also the handle a
//! caller holds: it never names another mapping once its own is gone.

mod apply;
mod ops;
mod sm;

pub use apply::OpCounts;
pub use ops::{Op, OpMap, OpRemap, OpUnmap};
pub use sm::{SmCursor, SmKind};

use crate::errno::{fail, Errno, Result};
use crate::warning::{WarnKind, Warning};
use std::collections::{BTreeMap, HashMap};

/// Identifies one mapping: its start address and its insertion number.
pub type VaKey = (u64, u64);

/// GEM object ids are small integers chosen by the caller; 0 means no object
/// (a sparse or null mapping).
pub type ObjId = u32;
pub const NO_OBJ: ObjId = 0;

/// The insertion number of the kernel-reserved node.
pub const KERNEL_SEQ: u64 = 0;

/// `DRM_GPUVA_INVALIDATED`: the backing object moved.
pub const VA_INVALIDATED: u32 = 1 << 0;
/// `DRM_GPUVA_SPARSE`: informational only, never read by the VA manager.
pub const VA_SPARSE: u32 = 1 << 1;

const NIL: u32 = u32::MAX;

/// A mapping as callers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Va {
  pub addr: u64,
  pub range: u64,
  pub obj: ObjId,
  pub offset: u64,
  pub seq: u64,
  pub flags: u32,
}

impl Va {
  pub fn key(&self) -> VaKey {
    (self.addr, self.seq)
  }
  pub fn end(&self) -> u64 {
    self.addr.wrapping_add(self.range)
  }
  /// The inclusive last address, as the kernel's interval tree stores it. A
  /// zero-length mapping at `a` has `last == a - 1` (and `u64::MAX` at 0).
  pub fn last(&self) -> u64 {
    self.end().wrapping_sub(1)
  }
  pub fn is_kernel_node(&self) -> bool {
    self.seq == KERNEL_SEQ
  }
}

#[derive(Clone, Copy)]
struct Slot {
  va: Va,
  linked: bool,
  gem_prev: u32,
  gem_next: u32,
}

/// The per-object list of linked mappings, in link order.
#[derive(Clone, Copy)]
struct GemList {
  head: u32,
  tail: u32,
  len: u32,
}

pub struct GpuVm {
  name: String,
  mm_start: u64,
  mm_range: u64,
  /// The reserved node as given at init; range checks use it even when its own
  /// insertion failed, as the kernel does.
  kernel: Option<(u64, u64)>,
  tree: BTreeMap<VaKey, u32>,
  slots: Vec<Slot>,
  free: Vec<u32>,
  gem: HashMap<ObjId, GemList>,
  next_seq: u64,
  warnings: Vec<Warning>,
  destroyed: bool,
}

impl GpuVm {
  /// `drm_gpuva_manager_init`. An overflowing VA space or reserved node is
  /// recorded, not refused, as in the kernel.
  pub fn new(name: &str, start: u64, range: u64, reserve: Option<(u64, u64)>) -> GpuVm {
    let mut vm = GpuVm {
      name: if name.is_empty() { "unknown".into() } else { name.into() },
      mm_start: start,
      mm_range: range,
      kernel: None,
      tree: BTreeMap::new(),
      slots: Vec::new(),
      free: Vec::new(),
      gem: HashMap::new(),
      next_seq: KERNEL_SEQ + 1,
      warnings: Vec::new(),
      destroyed: false,
    };
    vm.check_overflow(start, range);
    if let Some((addr, krange)) = reserve.filter(|r| r.1 != 0) {
      vm.kernel = Some((addr, krange));
      if !vm.check_overflow(addr, krange) {
        let va = Va { addr, range: krange, obj: NO_OBJ, offset: 0, seq: KERNEL_SEQ, flags: 0 };
        vm.place(va);
      }
    }
    vm
  }

  pub fn name(&self) -> &str {
    &self.name
  }
  pub fn start(&self) -> u64 {
    self.mm_start
  }
  pub fn range(&self) -> u64 {
    self.mm_range
  }
  pub fn kernel_node(&self) -> Option<Va> {
    self.kernel.and_then(|(addr, _)| self.get((addr, KERNEL_SEQ)))
  }
  pub fn is_destroyed(&self) -> bool {
    self.destroyed
  }

  /// Number of nodes in the tree, the kernel node included.
  pub fn len(&self) -> usize {
    self.tree.len()
  }
  pub fn is_empty(&self) -> bool {
    self.tree.is_empty()
  }
  /// Number of mappings, the kernel node excluded.
  pub fn mapping_count(&self) -> usize {
    self.tree.len() - usize::from(self.kernel_node().is_some())
  }

  /// Takes the warnings recorded since the last call.
  pub fn take_warnings(&mut self) -> Vec<Warning> {
    std::mem::take(&mut self.warnings)
  }
  pub fn warning_count(&self) -> usize {
    self.warnings.len()
  }

  fn warn(&mut self, kind: WarnKind, message: String) {
    self.warnings.push(Warning { kind, message });
  }

  pub(crate) fn alive(&self) -> Result<()> {
    if self.destroyed {
      return fail(Errno::EINVAL, format!("VA space '{}' was destroyed", self.name));
    }
    Ok(())
  }

  /// The seed's `drm_gpuva_check_overflow`: true (and a warning) when
  /// `addr + range` does not fit in u64.
  fn check_overflow(&mut self, addr: u64, range: u64) -> bool {
    if addr.checked_add(range).is_none() {
      self.warn(
        WarnKind::Overflow,
        format!("GPUVA address limited to 8 bytes: {addr:#x} + {range:#x} overflows"),
      );
      return true;
    }
    false
  }

  /// `drm_gpuva_range_valid`: no overflow, inside the VA space, clear of the
  /// kernel-reserved node. A zero range passes.
  pub fn range_valid(&mut self, addr: u64, range: u64) -> bool {
    if self.check_overflow(addr, range) {
      return false;
    }
    let end = addr + range;
    let in_mm = addr >= self.mm_start && end <= self.mm_start.wrapping_add(self.mm_range);
    let in_kernel = match self.kernel {
      Some((kstart, krange)) => addr < kstart.wrapping_add(krange) && kstart < end,
      None => false,
    };
    in_mm && !in_kernel
  }

  fn check_range(&mut self, addr: u64, range: u64) -> Result<()> {
    if self.range_valid(addr, range) {
      return Ok(());
    }
    let why = if addr.checked_add(range).is_none() {
      "overflows u64"
    } else if self.kernel.is_some_and(|(ks, kr)| addr < ks.wrapping_add(kr) && ks < addr + range) {
      "touches the kernel-reserved node"
    } else {
      "leaves the VA space"
    };
    fail(Errno::EINVAL, format!("range [{addr:#x}, +{range:#x}) {why}"))
  }

  pub fn get(&self, key: VaKey) -> Option<Va> {
    self.tree.get(&key).map(|&s| self.slots[s as usize].va)
  }

  fn slot(&self, key: VaKey) -> Option<u32> {
    self.tree.get(&key).copied()
  }

  /// The leftmost node overlapping the inclusive interval `[first, last]`, as
  /// the kernel's interval tree answers it.
  ///
  /// Mappings never overlap, so the only node starting below `first` that can
  /// reach it is one at the greatest start below `first`. Among nodes starting
  /// at or after `first`, only zero-length ones at exactly `first` fail to
  /// overlap.
  fn iter_first(&self, first: u64, last: u64) -> Option<Va> {
    let overlaps = |va: &Va| va.addr <= last && va.last() >= first;
    if let Some((&(p, _), _)) = self.tree.range(..(first, 0)).next_back() {
      for (_, &s) in self.tree.range((p, 0)..(first, 0)) {
        let va = self.slots[s as usize].va;
        if overlaps(&va) {
          return Some(va);
        }
      }
    }
    for (_, &s) in self.tree.range((first, 0)..) {
      let va = self.slots[s as usize].va;
      if va.addr > last {
        return None;
      }
      if overlaps(&va) {
        return Some(va);
      }
    }
    None
  }

  /// `drm_gpuva_find_first`: the first node overlapping `[addr, addr+range)`.
  /// A zero range asks for `[addr, addr-1]`: nodes strictly around `addr`.
  pub fn find_first(&self, addr: u64, range: u64) -> Option<Va> {
    self.iter_first(addr, addr.wrapping_add(range).wrapping_sub(1))
  }

  /// `drm_gpuva_find`: the node at exactly `addr` with exactly `range`.
  pub fn find(&self, addr: u64, range: u64) -> Option<Va> {
    self.find_first(addr, range).filter(|va| va.addr == addr && va.range == range)
  }

  /// `drm_gpuva_find_prev`: the first node overlapping `[start-1, start]`.
  pub fn find_prev(&mut self, start: u64) -> Option<Va> {
    let before = start.wrapping_sub(1);
    if !self.range_valid(before, 1) {
      return None;
    }
    self.iter_first(before, start)
  }

  /// `drm_gpuva_find_next`: the first node overlapping `[end, end+1]`.
  pub fn find_next(&mut self, end: u64) -> Option<Va> {
    if !self.range_valid(end, 1) {
      return None;
    }
    self.iter_first(end, end.wrapping_add(1))
  }

  /// `drm_gpuva_interval_empty`; the kernel node counts as occupied.
  pub fn interval_empty(&self, addr: u64, range: u64) -> bool {
    self.find_first(addr, range).is_none()
  }

  /// The node after `key` in address order.
  pub fn next_after(&self, key: VaKey) -> Option<Va> {
    use std::ops::Bound::{Excluded, Unbounded};
    self.tree.range((Excluded(key), Unbounded)).next().map(|(_, &s)| self.slots[s as usize].va)
  }

  /// The first node whose key is at or after `key`.
  pub(crate) fn at_or_after(&self, key: VaKey) -> Option<Va> {
    self.tree.range(key..).next().map(|(_, &s)| self.slots[s as usize].va)
  }

  /// Every node in address order, the kernel node included.
  pub fn iter(&self) -> impl Iterator<Item = Va> + '_ {
    self.tree.values().map(|&s| self.slots[s as usize].va)
  }

  /// `drm_gpuva_for_each_va_range`: from the first node overlapping
  /// `[start, end)`, in address order, while a node starts below `end`.
  pub fn iter_range(&self, start: u64, end: u64) -> impl Iterator<Item = Va> + '_ {
    let first = self.find_first(start, end.wrapping_sub(start));
    let mut cur = first;
    std::iter::from_fn(move || {
      let va = cur.filter(|va| va.addr < end)?;
      cur = self.next_after(va.key());
      Some(va)
    })
  }

  /// `drm_gpuva_insert`: EINVAL for a range that is not valid, EEXIST when it
  /// overlaps a node (the kernel node included).
  pub fn insert(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Result<Va> {
    self.alive()?;
    self.check_range(addr, range)?;
    self.insert_checked(addr, range, obj, offset)
  }

  fn insert_checked(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Result<Va> {
    if let Some(other) = self.find_first(addr, range) {
      return fail(
        Errno::EEXIST,
        format!(
          "[{addr:#x}, +{range:#x}) overlaps the mapping [{:#x}, +{:#x})",
          other.addr, other.range
        ),
      );
    }
    let va = Va { addr, range, obj, offset, seq: self.next_seq, flags: 0 };
    self.next_seq += 1;
    self.place(va);
    Ok(va)
  }

  fn place(&mut self, va: Va) {
    let slot = Slot { va, linked: false, gem_prev: NIL, gem_next: NIL };
    let s = match self.free.pop() {
      Some(s) => {
        self.slots[s as usize] = slot;
        s
      }
      None => {
        self.slots.push(slot);
        (self.slots.len() - 1) as u32
      }
    };
    self.tree.insert(va.key(), s);
  }

  fn lookup(&self, key: VaKey) -> Result<u32> {
    self.alive()?;
    match self.slot(key) {
      Some(s) => Ok(s),
      None => fail(Errno::EINVAL, format!("no mapping {:#x} (#{}) in this VA space", key.0, key.1)),
    }
  }

  /// `drm_gpuva_remove`. The kernel node is refused with a warning, as the
  /// kernel does; the mapping is not unlinked (that is the caller's job).
  pub fn remove(&mut self, key: VaKey) -> Result<Va> {
    let s = self.lookup(key)?;
    let va = self.slots[s as usize].va;
    if va.is_kernel_node() {
      self.warn(WarnKind::KernelNodeRemove, "Can't destroy kernel reserved node.".into());
      return Ok(va);
    }
    if self.slots[s as usize].linked {
      self.unlink_slot(s);
    }
    self.tree.remove(&key);
    self.free.push(s);
    Ok(va)
  }

  /// `drm_gpuva_link`: appends the mapping to its object's list. A mapping
  /// without an object, or one already linked, is left as it is.
  pub fn link(&mut self, key: VaKey) -> Result<()> {
    let s = self.lookup(key)?;
    let slot = self.slots[s as usize];
    if slot.va.obj == NO_OBJ || slot.linked {
      return Ok(());
    }
    let list = self.gem.entry(slot.va.obj).or_insert(GemList { head: NIL, tail: NIL, len: 0 });
    let tail = list.tail;
    list.tail = s;
    if tail == NIL {
      list.head = s;
    }
    list.len += 1;
    if tail != NIL {
      self.slots[tail as usize].gem_next = s;
    }
    let slot = &mut self.slots[s as usize];
    slot.linked = true;
    slot.gem_prev = tail;
    slot.gem_next = NIL;
    Ok(())
  }

  /// `drm_gpuva_unlink`.
  pub fn unlink(&mut self, key: VaKey) -> Result<()> {
    let s = self.lookup(key)?;
    if self.slots[s as usize].linked {
      self.unlink_slot(s);
    }
    Ok(())
  }

  fn unlink_slot(&mut self, s: u32) {
    let Slot { va, gem_prev, gem_next, .. } = self.slots[s as usize];
    if gem_prev != NIL {
      self.slots[gem_prev as usize].gem_next = gem_next;
    }
    if gem_next != NIL {
      self.slots[gem_next as usize].gem_prev = gem_prev;
    }
    let list = self.gem.get_mut(&va.obj).expect("a linked mapping has a list");
    if list.head == s {
      list.head = gem_next;
    }
    if list.tail == s {
      list.tail = gem_prev;
    }
    list.len -= 1;
    if list.len == 0 {
      self.gem.remove(&va.obj);
    }
    let slot = &mut self.slots[s as usize];
    slot.linked = false;
    slot.gem_prev = NIL;
    slot.gem_next = NIL;
  }

  pub fn is_linked(&self, key: VaKey) -> bool {
    self.slot(key).is_some_and(|s| self.slots[s as usize].linked)
  }

  /// The mappings linked to `obj`, in link order.
  pub fn gem_vas(&self, obj: ObjId) -> Vec<Va> {
    let mut out = Vec::new();
    let mut s = self.gem.get(&obj).map_or(NIL, |l| l.head);
    while s != NIL {
      out.push(self.slots[s as usize].va);
      s = self.slots[s as usize].gem_next;
    }
    out
  }

  /// `drm_gpuva_invalidate`: sets or clears the invalidated flag.
  pub fn set_invalidated(&mut self, key: VaKey, invalidated: bool) -> Result<()> {
    let s = self.lookup(key)?;
    let flags = &mut self.slots[s as usize].va.flags;
    if invalidated {
      *flags |= VA_INVALIDATED;
    } else {
      *flags &= !VA_INVALIDATED;
    }
    Ok(())
  }

  /// `drm_gpuva_manager_destroy`: removes the kernel node and warns when
  /// mappings remain. The VA space cannot be used afterwards.
  pub fn destroy(&mut self) -> Result<()> {
    self.alive()?;
    if let Some(k) = self.kernel_node() {
      self.tree.remove(&k.key());
    }
    if !self.tree.is_empty() {
      let n = self.tree.len();
      self.warn(
        WarnKind::TreeNotEmpty,
        format!("GPUVA tree is not empty, potentially leaking memory ({n} mappings remain)"),
      );
    }
    self.destroyed = true;
    self.tree.clear();
    self.slots = Vec::new();
    self.free = Vec::new();
    self.gem.clear();
    Ok(())
  }

  /// Approximate heap bytes held, for reporting to a garbage collector.
  pub fn heap_bytes(&self) -> usize {
    let entry = std::mem::size_of::<VaKey>() + std::mem::size_of::<u32>();
    self.slots.capacity() * std::mem::size_of::<Slot>() + self.tree.len() * entry * 3 / 2
  }
}

#[cfg(test)]
mod tests;
