//! What the VA space's own calls do to the hub from era 1 on: a link takes
//! a reference on the object's live vm_bo, an unlink drops it; the steps of
//! a walk or of `apply` (a MAP inserts and links, a REMAP links its pieces
//! before it unlinks the old mapping, so that their vm_bo survives, an UNMAP
//! unlinks, deferred in immediate mode, and removes); and the teardown when
//! the VM's refcount reaches 0 with no creator reference left.

use super::super::apply::{pieces_inside, Linking};
use super::super::store::{Pos, NIL};
use super::super::{GpuVm, ObjId, Op, Va, VaKey};
use crate::errno::Result;

impl GpuVm {
  /// ENOMEM when linking a mapping of `obj` would need a vm_bo id and none
  /// is left (checked before a call changes anything).
  pub(in crate::gpuvm) fn hub_room(&self, obj: ObjId) -> Result<()> {
    match self.hub.as_deref() {
      Some(hub) => hub.room(obj),
      None => Ok(()),
    }
  }

  /// `link(va)` from era 1 on: the mapping goes on its object's list and
  /// holds a reference on the object's live vm_bo (made if there is none).
  /// An object-less or linked mapping is left alone.
  pub(in crate::gpuvm) fn hub_link_at(&mut self, p: Pos) {
    let rec = self.store.rec(p);
    let obj = rec.obj;
    if obj == super::NO_OBJ || rec.link != NIL {
      return;
    }
    let Some(hub) = self.hub.as_deref_mut() else {
      return;
    };
    // Fails only when the ids are used up, which callers check first.
    if !hub.link_ref(obj) {
      return;
    }
    self.link_entry(p, obj);
  }

  /// `hub_link_at` for a mapping just handed out.
  pub(in crate::gpuvm) fn hub_link_va(&mut self, va: &Va) {
    if let Some(p) = self.store.locate(va.key(), va.slot) {
      self.hub_link_at(p);
    }
  }

  /// Unlinks a linked mapping and drops the link's reference on its vm_bo
  /// (released, deferred or not, at 0). An unlinked one is left alone.
  pub(in crate::gpuvm) fn hub_unlink_at(&mut self, p: Pos, deferred: bool) {
    let rec = self.store.rec_mut(p);
    let entry = rec.link;
    if entry == NIL {
      return;
    }
    rec.link = NIL;
    let obj = rec.obj;
    self.obj_lists.unlink(obj, entry);
    if let Some(hub) = self.hub.as_deref_mut() {
      hub.unlink_ref(obj, deferred);
    }
  }

  /// Whether a step's unlinks are deferred (immediate mode).
  pub(in crate::gpuvm) fn steps_defer(&self) -> bool {
    self.hub.as_deref().is_some_and(|h| h.immediate())
  }

  /// Applies a step of a walk, or one `apply` has checked, from era 1 on.
  /// Anything that can fail is checked before the hub or the tree changes.
  pub(in crate::gpuvm) fn apply_hub_step(&mut self, op: &Op) -> Result<()> {
    let deferred = self.steps_defer();
    match op {
      Op::Map(m) => {
        self.hub_room(m.obj)?;
        self.apply_walk_step(op, Linking::Hub)
      }
      Op::Remap(r) => {
        pieces_inside(r)?;
        let p = self.lookup(&r.unmap.va)?;
        self.seq_room(2)?;
        for piece in [r.prev, r.next].iter().flatten() {
          self.hub_room(piece.obj)?;
        }
        // The pieces link before the old mapping unlinks: a reference held
        // across the step keeps the vm_bo they share from being released in
        // between, and is dropped as the old mapping's unlink would be.
        let held = self.hub_hold(p);
        self.hub_unlink_at(p, deferred);
        let out = self.apply_walk_step(op, Linking::Hub);
        if let Some(id) = held {
          self.hub_release(id, deferred);
        }
        out
      }
      Op::Unmap(u) => {
        let p = self.lookup(&u.va)?;
        self.hub_unlink_at(p, deferred);
        self.remove_at(p);
        Ok(())
      }
      Op::Prefetch(_) => Ok(()),
    }
  }

  /// One more reference on the vm_bo a linked mapping holds, if it is linked.
  pub(in crate::gpuvm) fn hub_hold(&mut self, p: Pos) -> Option<u32> {
    let rec = self.store.rec(p);
    if rec.link == NIL {
      return None;
    }
    let obj = rec.obj;
    let hub = self.hub.as_deref_mut()?;
    let id = *hub.live.get(&obj)?;
    hub.get_ref(id).ok()?;
    Some(id)
  }

  /// Drops a reference `hub_hold` took.
  pub(in crate::gpuvm) fn hub_release(&mut self, id: u32, deferred: bool) {
    if let Some(hub) = self.hub.as_deref_mut() {
      hub.put_ref(id, deferred);
    }
  }

  /// `remove` from era 1 on: unlinks (not deferred) and removes, then tears
  /// the VM down if that was its last reference.
  pub(in crate::gpuvm) fn hub_remove(&mut self, key: VaKey) -> Result<Va> {
    let p = self.lookup(&Self::key_ref(key))?;
    let va = self.store.va(p);
    self.hub_unlink_at(p, false);
    self.remove_at(p);
    self.settle();
    Ok(va)
  }

  /// After a call that may have dropped the VM's last reference (a mapping
  /// removed, a vm_bo freed): with no creator reference left and a refcount
  /// of 0, the VM is torn down, as `destroy` does.
  pub(in crate::gpuvm) fn settle(&mut self) {
    let Some(hub) = self.hub.as_deref() else {
      return;
    };
    if hub.creator_refs == 0 && !self.destroyed && self.refcount() == 0 {
      self.teardown();
    }
  }
}

#[cfg(test)]
mod tests;
