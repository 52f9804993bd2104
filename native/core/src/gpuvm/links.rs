//! The mappings' links to their objects (`drm_gpuva_link` / `drm_gpuva_unlink`)
//! and the flags of a mapping. In the seed's era a link only puts the mapping
//! on its object's list (obj_lists.rs); from era 1 on it also holds a
//! reference on the object's vm_bo (hub/), which these calls route to.

use super::store::{Pos, NIL};
use super::{GpuVm, ObjId, Va, VaKey, NO_OBJ, VA_INVALIDATED};
use crate::errno::{fail, Errno, Result};

/// The flags a mapping's record can hold (`setVaFlags`): 16 bits.
pub const VA_FLAGS_MAX: u32 = 0xffff;

impl GpuVm {
  /// `drm_gpuva_link`: appends the mapping to its object's list. A mapping
  /// without an object, or one already linked, is left as it is. From era 1
  /// on the link holds a reference on the object's live vm_bo, made first
  /// if there is none.
  pub fn link(&mut self, key: VaKey) -> Result<()> {
    let p = self.lookup(&Self::key_ref(key))?;
    if self.hub.is_some() {
      self.hub_room(self.store.rec(p).obj)?;
      self.hub_link_at(p);
      return Ok(());
    }
    self.link_at(p);
    Ok(())
  }

  /// `link` for a mapping just handed out (its leaf hint is fresh).
  pub(crate) fn link_va(&mut self, va: &Va) {
    if let Some(p) = self.store.locate(va.key(), va.slot) {
      self.link_at(p);
    }
  }

  /// The seed's link: the object's list alone.
  pub(super) fn link_at(&mut self, p: Pos) {
    let rec = self.store.rec(p);
    let obj = rec.obj;
    if obj == NO_OBJ || rec.link != NIL {
      return;
    }
    self.link_entry(p, obj);
  }

  /// Puts the unlinked mapping at `p` on `obj`'s list: a stamp in its record
  /// while the lists are not built, an entry once they are.
  #[inline]
  pub(super) fn link_entry(&mut self, p: Pos, obj: ObjId) {
    let id = match self.obj_lists.stamp() {
      Some(stamp) => stamp,
      None => {
        self.track_links();
        self.obj_lists.link(obj, self.store.key(p))
      }
    };
    self.store.rec_mut(p).link = id;
  }

  /// Builds the objects' lists from the records' stamps (see gem.rs), once:
  /// when a list is first read, or when the stamps run out.
  fn track_links(&mut self) {
    if self.obj_lists.is_tracked() {
      return;
    }
    let mut linked = Vec::new();
    let mut p = self.store.first();
    while !p.is_nil() {
      let stamp = self.store.rec(p).link;
      if stamp != NIL {
        linked.push((stamp, p));
      }
      p = self.store.next(p);
    }
    linked.sort_unstable_by_key(|&(stamp, _)| stamp);
    self.obj_lists.track();
    for (_, p) in linked {
      let id = self.obj_lists.link(self.store.rec(p).obj, self.store.key(p));
      self.store.rec_mut(p).link = id;
    }
  }

  /// `drm_gpuva_unlink`; from era 1 on it drops the link's reference on the
  /// vm_bo (freed, not deferred, at 0).
  pub fn unlink(&mut self, key: VaKey) -> Result<()> {
    let p = self.lookup(&Self::key_ref(key))?;
    if self.hub.is_some() {
      self.hub_unlink_at(p, false);
      self.settle();
      return Ok(());
    }
    self.unlink_at(p);
    Ok(())
  }

  /// The seed's unlink (from era 1 on, callers unlink through the hub first,
  /// so a mapping reaching here is no longer linked).
  #[inline]
  pub(super) fn unlink_at(&mut self, p: Pos) {
    let id = self.store.rec(p).link;
    if id != NIL {
      self.unlink_entry(p, id);
    }
  }

  fn unlink_entry(&mut self, p: Pos, id: u32) {
    let rec = self.store.rec_mut(p);
    rec.link = NIL;
    let obj = rec.obj;
    self.obj_lists.unlink(obj, id);
  }

  pub fn is_linked(&self, key: VaKey) -> bool {
    self
      .store
      .locate(key, NIL)
      .is_some_and(|p| self.store.rec(p).link != NIL)
  }

  /// The mappings linked to `obj`, in link order.
  pub fn gem_vas(&mut self, obj: ObjId) -> Vec<Va> {
    self.track_links();
    self.obj_lists.keys(obj).filter_map(|key| self.get(key)).collect()
  }

  /// `drm_gpuva_invalidate`: sets or clears the invalidated flag.
  pub fn set_invalidated(&mut self, key: VaKey, invalidated: bool) -> Result<()> {
    let p = self.lookup(&Self::key_ref(key))?;
    self.store.rec_mut(p).set_flags(VA_INVALIDATED, invalidated);
    Ok(())
  }

  /// Replaces a mapping's flags word (bit 0 invalidated, bit 1 sparse,
  /// driver bits from bit 2), in every era. The kernel node has none to set.
  /// A record keeps 16 bits of flags (the rest of its word is the seq), so
  /// a word past `VA_FLAGS_MAX` is EINVAL.
  pub fn set_va_flags(&mut self, key: VaKey, flags: u32) -> Result<()> {
    let p = self.lookup(&Self::key_ref(key))?;
    if self.store.rec(p).seq() == super::KERNEL_SEQ {
      return fail(Errno::EINVAL, "the kernel-reserved node has no flags to set");
    }
    if flags > VA_FLAGS_MAX {
      return fail(
        Errno::EINVAL,
        format!("flags must fit in 16 bits (at most {VA_FLAGS_MAX:#x}), got {flags:#x}"),
      );
    }
    self.store.rec_mut(p).set_all_flags(flags);
    Ok(())
  }

  /// A placement move of `obj` on the device: every mapping on its list
  /// here is invalidated; from era 1 on an eviction also marks its live
  /// vm_bo (`gem_evict(obj, true)`). The one hub call of the seed's era.
  pub fn object_moved(&mut self, obj: ObjId, evicted: bool) -> Result<()> {
    self.alive()?;
    if obj == NO_OBJ {
      return Ok(());
    }
    self.track_links();
    let keys: Vec<VaKey> = self.obj_lists.keys(obj).collect();
    for key in keys {
      if let Some(p) = self.store.locate(key, NIL) {
        self.store.rec_mut(p).set_flags(VA_INVALIDATED, true);
      }
    }
    if evicted {
      if let Some(hub) = self.hub.as_deref_mut() {
        hub.gem_evict(obj, true);
      }
    }
    Ok(())
  }
}
