//! Helpers that apply steps to the VA space (`drm_gpuva_map`, `_remap`,
//! `_unmap` together with link/unlink), and `bind`/`unbind`, which plan and
//! apply a request in one go, step by step, as a driver's callbacks would.
//!
//! Unlike the kernel's helpers, which ignore insert errors, these check a
//! step before touching anything, so a bad step fails with the VA space
//! unchanged.
//!
//! From era 1 on the steps also keep the vm_bos (hub/steps.rs): each entry
//! point here branches to the hub once, so the seed's era runs the code it
//! always ran.

use super::{GpuVm, Op, OpMap, OpRemap, OpUnmap, SmCursor, SmKind, Va};
use crate::errno::{fail, Errno, Result};

/// A remap may only keep non-empty, ordered pieces of the mapping it
/// replaces: nothing else can overlap those, so they go in unchecked.
#[inline(always)]
pub(super) fn pieces_inside(op: &OpRemap) -> Result<()> {
  let old = op.unmap.va;
  for piece in [op.prev, op.next].iter().flatten() {
    let end = piece.addr.checked_add(piece.range);
    let inside = piece.range != 0 && piece.addr >= old.addr && end.is_some_and(|e| e <= old.end());
    if !inside {
      return fail(
        Errno::EINVAL,
        format!(
          "remap piece [{:#x}, +{:#x}) is not a non-empty part of [{:#x}, +{:#x})",
          piece.addr, piece.range, old.addr, old.range
        ),
      );
    }
  }
  if let (Some(p), Some(n)) = (op.prev, op.next) {
    if p.addr + p.range > n.addr {
      return fail(Errno::EINVAL, "remap pieces overlap or are out of order");
    }
  }
  Ok(())
}

/// Whether applying a step also keeps the objects' mapping lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
  Yes,
  No,
}

/// How a step links the mappings it makes: not at all, on the objects'
/// lists alone (the seed), or through the hub (era 1 on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Linking {
  No,
  Seed,
  Hub,
}

/// How many steps of each kind a request produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpCounts {
  pub map: u64,
  pub remap: u64,
  pub unmap: u64,
}

impl OpCounts {
  pub fn add(&mut self, op: &Op) {
    match op {
      Op::Map(_) => self.map += 1,
      Op::Remap(_) => self.remap += 1,
      Op::Unmap(_) => self.unmap += 1,
      Op::Prefetch(_) => {}
    }
  }
}

impl GpuVm {
  /// Inserts the new mapping of a MAP step and links it to its object.
  pub fn apply_map(&mut self, op: &OpMap) -> Result<Va> {
    if self.hub.is_some() {
      // A new vm_bo needs an id: refused before anything changes.
      self.hub_room(op.obj)?;
      let va = self.insert(op.addr, op.range, op.obj, op.offset)?;
      self.hub_link_va(&va);
      return Ok(va);
    }
    let va = self.insert(op.addr, op.range, op.obj, op.offset)?;
    self.link_va(&va);
    Ok(va)
  }

  /// Unlinks and removes the mapping of an UNMAP step. The kernel node is
  /// refused with a warning, as `drm_gpuva_remove` does.
  pub fn apply_unmap(&mut self, op: &OpUnmap) -> Result<()> {
    self.same_as_tree(&op.va)?;
    if self.hub.is_some() {
      return self.apply_hub_step(&Op::Unmap(*op));
    }
    self.remove_va(&op.va)?;
    Ok(())
  }

  /// Replaces the mapping of a REMAP step by the pieces it keeps.
  pub fn apply_remap(&mut self, op: &OpRemap) -> Result<()> {
    let old = op.unmap.va;
    self.same_as_tree(&old)?;
    self.seq_room(2)?;
    if old.is_kernel_node() {
      self.remove_va(&old)?;
      return Ok(());
    }
    pieces_inside(op)?;
    // The pieces lie inside the old mapping, so nothing else can overlap them.
    if self.hub.is_some() {
      return self.apply_hub_step(&Op::Remap(*op));
    }
    self.apply_own_step(&Op::Remap(*op), Link::Yes)
  }

  /// Applies one step (from era 1 on, the VM is torn down afterwards if it
  /// left no reference).
  pub fn apply(&mut self, op: &Op) -> Result<()> {
    match op {
      Op::Map(m) => self.apply_map(m).map(|_| ()),
      Op::Remap(r) => self.apply_remap(r),
      Op::Unmap(u) => self.apply_unmap(u),
      Op::Prefetch(va) => self.same_as_tree(va),
    }?;
    self.settle();
    Ok(())
  }

  /// A step names a mapping by its key; refuse one whose other fields do not
  /// match the mapping in the tree (a forged or stale step).
  fn same_as_tree(&self, va: &Va) -> Result<()> {
    let s = self.lookup(va).ok();
    match s.map(|p| self.store.va(p)) {
      Some(cur) if cur.range == va.range && cur.obj == va.obj && cur.offset == va.offset => Ok(()),
      _ => fail(
        Errno::EINVAL,
        format!(
          "the step names a mapping [{:#x}, +{:#x}) that is not in the VA space",
          va.addr, va.range
        ),
      ),
    }
  }

  /// Applies a step this VA space's cursor has just produced, the steps of a
  /// walk being applied in order with no other change in between: it names
  /// live nodes and free ranges by construction, so the checks `apply` makes
  /// for steps that come from outside are skipped. With `Link::No` the tree alone changes, as
  /// the kernel's `drm_gpuva_map/remap/unmap` do; `Link::Yes` also keeps the
  /// objects' lists, as a driver's callbacks do.
  #[inline(always)]
  pub(crate) fn apply_own_step(&mut self, op: &Op, link: Link) -> Result<()> {
    let linking = if link == Link::Yes {
      Linking::Seed
    } else {
      Linking::No
    };
    self.apply_walk_step(op, linking)
  }

  /// `apply_own_step`, linking each new mapping as `linking` says. One
  /// function for every era (a generic one per era would leave its callees
  /// with several callers, which the inliner then calls out of line: about
  /// 2% of the seed's walk).
  pub(super) fn apply_walk_step(&mut self, op: &Op, linking: Linking) -> Result<()> {
    let linked = |vm: &mut GpuVm, va: Va| match linking {
      Linking::Seed => vm.link_va(&va),
      Linking::Hub => vm.hub_link_va(&va),
      Linking::No => {}
    };
    match op {
      Op::Map(m) => {
        // Without empty mappings, the walk before this step unmapped or split
        // every node a non-empty range overlaps, so the range is free. An
        // empty mapping can escape the walk (behind a node at its address
        // that ends the walk), and an empty range is the kernel's interval
        // [addr, addr - 1], which the walk does not cover: those are checked
        // as `insert` checks.
        let va = if m.range == 0 || self.empty_nodes != 0 {
          self.insert_checked(m.addr, m.range, m.obj, m.offset)?
        } else {
          debug_assert!(self.find_first(m.addr, m.range).is_none());
          self.insert_unchecked(m.addr, m.range, m.obj, m.offset)
        };
        linked(self, va);
      }
      Op::Remap(r) => {
        // The walk can name a zero-length mapping whose "pieces" lie outside
        // it; applying those would duplicate nodes (the kernel's insert
        // would fail on them silently), so they are refused here too.
        pieces_inside(r)?;
        self.pt_remap(r);
        let mut pieces = [r.prev, r.next].into_iter().flatten();
        match pieces.next() {
          Some(first) => {
            let va = self.replace_with_piece(&r.unmap.va, &first)?;
            linked(self, va);
          }
          None => self.remove_step_va(&r.unmap.va)?,
        };
        for piece in pieces {
          let va = self.insert_unchecked(piece.addr, piece.range, piece.obj, piece.offset);
          linked(self, va);
        }
      }
      Op::Unmap(u) => self.remove_step_va(&u.va)?,
      Op::Prefetch(_) => {}
    }
    Ok(())
  }

  /// Runs a cursor to the end, applying each step before computing the next.
  /// `on_step` sees each step before it is applied.
  pub fn run(&mut self, cursor: SmCursor, on_step: impl FnMut(&Op)) -> Result<OpCounts> {
    if self.hub.is_some() {
      let counts = self.run_with(cursor, on_step, |vm, op| vm.apply_hub_step(op))?;
      self.settle();
      return Ok(counts);
    }
    self.run_with(cursor, on_step, |vm, op| vm.apply_own_step(op, Link::Yes))
  }

  #[inline(always)]
  fn run_with(
    &mut self,
    mut cursor: SmCursor,
    mut on_step: impl FnMut(&Op),
    apply: impl Fn(&mut GpuVm, &Op) -> Result<()>,
  ) -> Result<OpCounts> {
    let mut counts = OpCounts::default();
    // A walk meets each node once, plus the MAP; more means a bug, and a
    // simulator must report it rather than hang.
    let mut budget = self.len() + 2;
    while let Some(op) = cursor.step(self) {
      budget = match budget.checked_sub(1) {
        Some(b) => b,
        None => return fail(Errno::EINVAL, "a split/merge walk did not end"),
      };
      on_step(&op);
      apply(self, &op)?;
      counts.add(&op);
    }
    Ok(counts)
  }

  /// Plans and applies a map request: in the common case by the walk that
  /// applies itself (walk.rs), else step by step.
  pub fn bind(&mut self, addr: u64, range: u64, obj: super::ObjId, offset: u64) -> Result<OpCounts> {
    self.pt_begin();
    if self.walks_in_place(range) {
      let req = OpMap {
        addr,
        range,
        obj,
        offset,
      };
      return Ok(self.walk_request(SmKind::Map, req, true)?.counts);
    }
    let cursor = self.sm_map(addr, range, obj, offset)?;
    if self.hub.is_some() {
      return self.hub_run(cursor);
    }
    self.run_with(cursor, |_| {}, |vm, op| vm.apply_own_step(op, Link::Yes))
  }

  /// Plans and applies an unmap request.
  pub fn unbind(&mut self, addr: u64, range: u64) -> Result<OpCounts> {
    self.pt_begin();
    if self.walks_in_place(range) {
      let req = OpMap {
        addr,
        range,
        obj: super::NO_OBJ,
        offset: 0,
      };
      return Ok(self.walk_request(SmKind::Unmap, req, true)?.counts);
    }
    let cursor = self.sm_unmap(addr, range)?;
    if self.hub.is_some() {
      return self.hub_run(cursor);
    }
    self.run_with(cursor, |_| {}, |vm, op| vm.apply_own_step(op, Link::Yes))
  }

  /// A whole walk from era 1 on: each step through the hub, then the VM is
  /// torn down if the request left it no reference.
  fn hub_run(&mut self, cursor: SmCursor) -> Result<OpCounts> {
    let counts = self.run_with(cursor, |_| {}, |vm, op| vm.apply_hub_step(op))?;
    self.settle();
    Ok(counts)
  }
}
