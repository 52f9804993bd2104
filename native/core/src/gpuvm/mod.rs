//! The GPU VA space of seed 004 (`drm_gpuva_manager`, today's `drm_gpuvm`).
//!
//! Mappings are ordered by `(addr, seq)`. `seq` is a counter taken at insert
//! time; it breaks ties between mappings that start at the same address (only
//! zero-length mappings can), in insertion order, which is the order the
//! kernel's interval tree gives them. A `VaKey` is also the handle a caller
//! holds: it never names another mapping once its own is gone.
//!
//! A VA space follows one kernel era (`hub::ERA_*`). The seed's (0) is the
//! VA manager alone; from era 1 on the drm_gpuvm hub (vm_bo, refcount, the
//! extobj, evict and defer lists) lives beside the tree, behind one pointer
//! that a VA space of the seed's era leaves empty.

mod apply;
mod hub;
mod links;
mod obj_lists;
mod ops;
mod page_table;
mod sm;
mod store;
mod undo;
mod walk;

pub use apply::{Link, OpCounts};
pub use hub::{
  HubRecord, VmBoRecord, VmOptions, ERAS, ERA_GPUVM, ERA_NEXT, ERA_SEED, OBTAIN_LOCKED, OBTAIN_PREALLOC,
  VM_IMMEDIATE_MODE, VM_RESV_PROTECTED,
};
pub use links::VA_FLAGS_MAX;
pub use ops::{Op, OpMap, OpRemap, OpUnmap};
pub use sm::{SmCursor, SmKind};
pub use undo::{ArrayFailure, ArrayRequest, INJECTED_ERRNO};
pub(crate) use walk::WalkTally;

use crate::errno::{fail, Errno, Result};
use crate::warning::{WarnKind, Warning};
use obj_lists::ObjLists;
use store::{Pos, Store, NIL};

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

/// A mapping as callers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Va {
  pub addr: u64,
  pub range: u64,
  pub obj: ObjId,
  pub offset: u64,
  pub seq: u64,
  pub flags: u32,
  /// Where the record was last seen in the store: a hint that lets a step
  /// find it again without a search. It is checked against the key first.
  pub slot: u32,
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

/// Clone is a whole copy: an atomic bind array that may fail after its
/// checks restores one (undo.rs).
#[derive(Clone)]
pub struct GpuVm {
  name: String,
  mm_start: u64,
  mm_range: u64,
  /// The reserved node as given at init; range checks use it even when its own
  /// insertion failed, as the kernel does.
  kernel: Option<(u64, u64)>,
  store: Store,
  /// How many mappings have range 0 (see `apply_own_step`).
  empty_nodes: usize,
  obj_lists: ObjLists,
  next_seq: u64,
  warnings: Vec<Warning>,
  /// The drm_gpuvm hub, from era 1 on (`None` in the seed's era).
  hub: Option<Box<hub::Hub>>,
  /// The page-table cost model, when asked for (`page_table.rs`).
  pt: Option<Box<crate::pagetable::PageTable>>,
  /// The kernel era (`hub::ERA_*`), the VM flags and the VM-wide
  /// reservation's id, as given at creation (small: they share the padding
  /// after `destroyed`).
  era: u8,
  vm_flags: u8,
  resv: u32,
  destroyed: bool,
}

impl GpuVm {
  /// `drm_gpuva_manager_init`. An overflowing VA space or reserved node is
  /// recorded, not refused, as in the kernel.
  pub fn new(name: &str, start: u64, range: u64, reserve: Option<(u64, u64)>) -> GpuVm {
    let mut vm = GpuVm {
      name: if name.is_empty() {
        "unknown".into()
      } else {
        name.into()
      },
      mm_start: start,
      mm_range: range,
      kernel: None,
      store: Store::new(),
      empty_nodes: 0,
      obj_lists: ObjLists::default(),
      next_seq: KERNEL_SEQ + 1,
      warnings: Vec::new(),
      hub: None,
      pt: None,
      era: ERA_SEED,
      vm_flags: 0,
      resv: 0,
      destroyed: false,
    };
    vm.check_overflow(start, range);
    if let Some((addr, krange)) = reserve.filter(|r| r.1 != 0) {
      vm.kernel = Some((addr, krange));
      if !vm.check_overflow(addr, krange) {
        let va = Va {
          addr,
          range: krange,
          obj: NO_OBJ,
          offset: 0,
          seq: KERNEL_SEQ,
          flags: 0,
          slot: 0,
        };
        vm.store.insert(va);
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
    self.store.len()
  }
  pub fn is_empty(&self) -> bool {
    self.store.len() == 0
  }
  /// Number of mappings, the kernel node excluded.
  pub fn mapping_count(&self) -> usize {
    self.store.len() - usize::from(self.kernel_node().is_some())
  }

  /// Tells the VA space the start addresses of the next two requests, so
  /// that in a tree past the cache it asks for what they will read while the
  /// current one runs: the leaf of `next` and the lowest inner node of
  /// `after` (store/search.rs, `prefetch_toward`). A loop that knows its
  /// requests calls it before each one; a small tree ignores it.
  #[inline]
  pub fn look_ahead(&self, next: u64, after: u64) {
    if self.store.past_cache() {
      self.store.prefetch_toward((after, 0), 1);
      self.store.prefetch_toward((next, 0), 0);
    }
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

  pub fn alive(&self) -> Result<()> {
    if self.destroyed {
      return fail(Errno::EINVAL, format!("VA space '{}' was destroyed", self.name));
    }
    Ok(())
  }

  /// `drm_gpuva_check_overflow`: true (and a warning) when `addr + range`
  /// does not fit in u64. The seed warns on every check; from era 1 on only
  /// init warns (the era is set after init's checks), range checks are silent.
  /// (Inlined: it runs on every request, and overflows are rare.)
  #[inline]
  fn check_overflow(&mut self, addr: u64, range: u64) -> bool {
    addr.checked_add(range).is_none() && self.overflowed(addr, range)
  }

  #[cold]
  fn overflowed(&mut self, addr: u64, range: u64) -> bool {
    if self.era == ERA_SEED {
      self.warn(
        WarnKind::Overflow,
        format!("GPUVA address limited to 8 bytes: {addr:#x} + {range:#x} overflows"),
      );
    }
    true
  }

  /// `drm_gpuva_range_valid`: no overflow, inside the VA space, clear of the
  /// kernel-reserved node. A zero range passes, but from era 2 on.
  #[inline]
  pub fn range_valid(&mut self, addr: u64, range: u64) -> bool {
    if self.check_overflow(addr, range) {
      return false;
    }
    let end = addr + range;
    let in_mm = addr >= self.mm_start && end <= self.mm_start.wrapping_add(self.mm_range);
    in_mm && !self.touches_kernel_node(addr, end) && (range != 0 || self.era < ERA_NEXT)
  }

  fn touches_kernel_node(&self, addr: u64, end: u64) -> bool {
    self
      .kernel
      .is_some_and(|(kstart, krange)| addr < kstart.wrapping_add(krange) && kstart < end)
  }

  #[inline]
  fn check_range(&mut self, addr: u64, range: u64) -> Result<()> {
    if self.range_valid(addr, range) {
      return Ok(());
    }
    self.range_refused(addr, range)
  }

  #[cold]
  fn range_refused(&self, addr: u64, range: u64) -> Result<()> {
    let why = match addr.checked_add(range) {
      None => "overflows u64",
      Some(_) if range == 0 && self.era >= ERA_NEXT => "is empty (refused from era 2, drm_gpuvm-next)",
      Some(end) if self.touches_kernel_node(addr, end) => "touches the kernel-reserved node",
      Some(_) => "leaves the VA space",
    };
    fail(Errno::EINVAL, format!("range [{addr:#x}, +{range:#x}) {why}"))
  }

  pub fn get(&self, key: VaKey) -> Option<Va> {
    self.store.locate(key, NIL).map(|p| self.store.va(p))
  }

  #[inline]
  fn va_at(&self, p: Pos) -> Option<Va> {
    (!p.is_nil()).then(|| self.store.va(p))
  }

  /// The leftmost node overlapping the inclusive interval `[first, last]`, as
  /// the kernel's interval tree answers it.
  ///
  /// Mappings never overlap, so the only node starting below `first` that can
  /// reach it is the one non-empty node at the greatest start below `first`.
  /// Among nodes starting at or after `first`, only zero-length ones at
  /// exactly `first` fail to overlap.
  fn iter_first(&self, first: u64, last: u64) -> Option<Va> {
    self.va_at(self.first_overlap(first, last)?)
  }

  /// `iter_first`'s position (`None` when no node overlaps).
  #[inline]
  fn first_overlap(&self, first: u64, last: u64) -> Option<Pos> {
    let store = &self.store;
    // `Va::last` of the record at `p`, read without building the `Va`.
    let overlaps = |p: Pos| {
      let addr = store.addr(p);
      addr <= last && addr.wrapping_add(store.range(p)).wrapping_sub(1) >= first
    };
    // One search: the first node at or after `first`; the nodes before it
    // are reached by stepping back.
    let at = store.lower_bound((first, 0));
    let mut p = if at.is_nil() { store.last() } else { store.prev(at) };
    if !p.is_nil() {
      let start = store.addr(p);
      while !p.is_nil() && store.addr(p) == start {
        if overlaps(p) {
          return Some(p);
        }
        p = store.prev(p);
      }
    }
    let mut p = at;
    while !p.is_nil() && store.addr(p) <= last {
      if overlaps(p) {
        return Some(p);
      }
      p = store.next(p);
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
    self
      .find_first(addr, range)
      .filter(|va| va.addr == addr && va.range == range)
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

  /// The node after `va` in address order; `va` must be in the tree.
  pub fn next_after(&self, va: &Va) -> Option<Va> {
    let p = self.store.locate(va.key(), va.slot)?;
    self.va_at(self.store.next(p))
  }

  /// `find_first` and the node after it, from one search (a walk's start).
  pub(crate) fn first_and_next(&self, addr: u64, range: u64) -> Option<(Va, Option<Va>)> {
    let p = self.first_overlap(addr, addr.wrapping_add(range).wrapping_sub(1))?;
    Some((self.store.va(p), self.va_at(self.store.next(p))))
  }

  /// The node `va` names if it is still in the tree, else the first node after
  /// where it was; and the node after that one.
  pub(crate) fn at_or_after(&self, va: &Va) -> Option<(Va, Option<Va>)> {
    let p = match self.store.locate(va.key(), va.slot) {
      Some(p) => p,
      None => self.store.lower_bound(va.key()),
    };
    let found = self.va_at(p)?;
    Some((found, self.va_at(self.store.next(p))))
  }

  /// Every node in address order, the kernel node included.
  pub fn iter(&self) -> impl Iterator<Item = Va> + '_ {
    let mut p = self.store.first();
    std::iter::from_fn(move || {
      let va = self.va_at(p)?;
      p = self.store.next(p);
      Some(va)
    })
  }

  /// `drm_gpuva_for_each_va_range`: from the first node overlapping
  /// `[start, end)`, in address order, while a node starts below `end`.
  pub fn iter_range(&self, start: u64, end: u64) -> impl Iterator<Item = Va> + '_ {
    let mut cur = self.find_first(start, end.wrapping_sub(start));
    std::iter::from_fn(move || {
      let va = cur.filter(|va| va.addr < end)?;
      cur = self.next_after(&va);
      Some(va)
    })
  }

  /// `drm_gpuva_insert`: EINVAL for a range that is not valid, EEXIST when it
  /// overlaps a node (the kernel node included).
  pub fn insert(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Result<Va> {
    self.alive()?;
    self.seq_room(1)?;
    self.check_range(addr, range)?;
    self.insert_checked(addr, range, obj, offset)
  }

  pub(crate) fn insert_checked(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Result<Va> {
    if let Some(other) = self.iter_first(addr, addr.wrapping_add(range).wrapping_sub(1)) {
      return fail(
        Errno::EEXIST,
        format!(
          "[{addr:#x}, +{range:#x}) overlaps the mapping [{:#x}, +{:#x})",
          other.addr, other.range
        ),
      );
    }
    Ok(self.insert_unchecked(addr, range, obj, offset))
  }

  pub(super) fn new_va(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Va {
    self.next_seq += 1;
    Va {
      addr,
      range,
      obj,
      offset,
      seq: self.next_seq - 1,
      flags: 0,
      slot: NIL,
    }
  }

  /// Inserts a node the caller knows to be free of overlaps.
  pub(crate) fn insert_unchecked(&mut self, addr: u64, range: u64, obj: ObjId, offset: u64) -> Va {
    let va = self.new_va(addr, range, obj, offset);
    self.empty_nodes += usize::from(range == 0);
    let p = self.store.insert(va);
    let va = self.store.va(p);
    self.pt_mapped(&va);
    va
  }

  /// Turns the node of `old` into a new mapping that lies inside it (a remap
  /// piece): the same as removing it and inserting the piece, without the
  /// store work when key order allows. Like a fresh node, the piece is not
  /// linked.
  pub(crate) fn replace_with_piece(&mut self, old: &Va, piece: &OpMap) -> Result<Va> {
    let p = self.lookup(old)?;
    if !self.store.rekey(p, piece.addr, self.next_seq) {
      self.remove_va(old)?;
      return Ok(self.insert_unchecked(piece.addr, piece.range, piece.obj, piece.offset));
    }
    self.next_seq += 1;
    self.unlink_at(p);
    self.empty_nodes = self.empty_nodes + usize::from(piece.range == 0) - usize::from(old.range == 0);
    self.store.set_range(p, piece.range);
    let rec = self.store.rec_mut(p);
    rec.obj = piece.obj;
    rec.offset = piece.offset;
    // A piece starts with no flags, as a new mapping (the kernel copies none).
    rec.set_all_flags(0);
    let va = self.store.va(p);
    self.pt_mapped(&va);
    Ok(va)
  }

  /// Refuses work that could run out of insertion numbers (after 2^48
  /// inserts; no simulation gets there, but nothing may wrap silently).
  pub(crate) fn seq_room(&self, inserts: u64) -> Result<()> {
    if self.next_seq + inserts > store::SEQ_MAX {
      return fail(
        Errno::ENOSPC,
        "this VA space has used up its 2^48 insertion numbers",
      );
    }
    Ok(())
  }

  pub(crate) fn lookup(&self, va: &Va) -> Result<Pos> {
    self.alive()?;
    match self.store.locate(va.key(), va.slot) {
      Some(p) => Ok(p),
      None => fail(
        Errno::EINVAL,
        format!("no mapping {:#x} (#{}) in this VA space", va.addr, va.seq),
      ),
    }
  }

  fn key_ref(key: VaKey) -> Va {
    Va {
      addr: key.0,
      range: 0,
      obj: NO_OBJ,
      offset: 0,
      seq: key.1,
      flags: 0,
      slot: NIL,
    }
  }

  /// `drm_gpuva_remove`. The kernel node is refused with a warning, as the
  /// kernel does. A linked mapping is unlinked first, so that no object list
  /// names a mapping the tree no longer has (from era 1 on through the hub,
  /// not deferred; the VM is torn down if that was its last reference).
  pub fn remove(&mut self, key: VaKey) -> Result<Va> {
    if self.hub.is_some() {
      return self.hub_remove(key);
    }
    self.remove_va(&Self::key_ref(key))
  }

  pub(crate) fn remove_va(&mut self, va: &Va) -> Result<Va> {
    let p = self.lookup(va)?;
    let va = self.store.va(p);
    self.remove_at(p);
    Ok(va)
  }

  fn remove_at(&mut self, p: Pos) {
    if self.store.rec(p).seq() == KERNEL_SEQ {
      self.warn(
        WarnKind::KernelNodeRemove,
        "Can't destroy kernel reserved node.".into(),
      );
      return;
    }
    self.unlink_at(p);
    self.empty_nodes -= usize::from(self.store.range(p) == 0);
    if self.pt.is_some() {
      let va = self.store.va(p);
      self.pt_unmapped(&va);
    }
    self.store.remove(p);
  }

  /// `remove_va` for a step's mapping, without handing it back.
  pub(crate) fn remove_step_va(&mut self, va: &Va) -> Result<()> {
    let p = self.lookup(va)?;
    self.remove_at(p);
    Ok(())
  }

  /// `drm_gpuva_manager_destroy` / `drm_gpuvm_destroy`: removes the kernel
  /// node and warns when mappings remain (and, from era 1 on, for each hub
  /// list left non-empty). The VA space cannot be used afterwards.
  pub fn destroy(&mut self) -> Result<()> {
    self.alive()?;
    self.teardown();
    Ok(())
  }

  fn teardown(&mut self) {
    let remaining = self.mapping_count();
    if remaining != 0 {
      self.warn(
        WarnKind::TreeNotEmpty,
        format!("GPUVA tree is not empty, potentially leaking memory ({remaining} mappings remain)"),
      );
    }
    if let Some(hub) = self.hub.take() {
      for (kind, message) in hub.leftovers() {
        self.warn(kind, message);
      }
      self.hub = hub.into_freed_log().map(Box::new);
    }
    self.destroyed = true;
    self.store.clear();
    self.empty_nodes = 0;
    self.obj_lists = ObjLists::default();
  }

  /// Heap bytes held, for reporting to a garbage collector.
  pub fn heap_bytes(&self) -> usize {
    self.store.heap_bytes()
      + self.obj_lists.heap_bytes()
      + self.hub.as_ref().map_or(0, |h| h.heap_bytes())
      + self.pt.as_ref().map_or(0, |pt| pt.heap_bytes())
  }
}

#[cfg(test)]
mod tests;
