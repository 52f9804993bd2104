//! The hub's calls (`VmHubCore`): each checks that the VA space is alive
//! and has a hub (EINVAL in the seed's era, but `hub_info`), then works on
//! the hub's state (mod.rs).

use super::{
  Hub, HubRecord, VmBoRecord, VmOptions, ERAS, ERA_SEED, EVICT, EXTOBJ, OBTAIN_LOCKED, OBTAIN_PREALLOC,
  VM_FLAGS_ALL,
};
use crate::errno::{fail, Errno, Result};
use crate::gpuvm::store::NIL;
use crate::gpuvm::{GpuVm, ObjId, Va, VaKey, NO_OBJ};
use crate::warning::{WarnKind, Warning};

impl GpuVm {
  /// `drm_gpuvm_init` with an era, flags and the VM-wide reservation: EINVAL
  /// for an era past `ERAS`, unknown flags, or flags in the seed's era. As
  /// in every era, an overflowing VA space or reserved node WARNs here.
  pub fn with_options(
    name: &str,
    start: u64,
    range: u64,
    reserve: Option<(u64, u64)>,
    opts: VmOptions,
  ) -> Result<GpuVm> {
    let VmOptions { era, flags, resv } = opts;
    if era as usize >= ERAS.len() {
      return fail(
        Errno::EINVAL,
        format!(
          "era must be an index into ERAS (0..{}), got {era}",
          ERAS.len() - 1
        ),
      );
    }
    if flags & !VM_FLAGS_ALL != 0 {
      return fail(
        Errno::EINVAL,
        format!("flags must be VM_FLAGS bits (0..{VM_FLAGS_ALL}), got {flags}"),
      );
    }
    if era == u32::from(ERA_SEED) && flags != 0 {
      return fail(
        Errno::EINVAL,
        format!("flags need era 1 or later; era 0 ({}) has none", ERAS[0]),
      );
    }
    let mut vm = GpuVm::new(name, start, range, reserve);
    // Set after init's overflow checks, which warn in every era.
    vm.era = era as u8;
    vm.vm_flags = flags as u8;
    vm.resv = resv;
    if vm.era != ERA_SEED {
      vm.hub = Some(Box::new(Hub::new(flags)));
    }
    Ok(vm)
  }

  pub fn era(&self) -> u32 {
    u32::from(self.era)
  }

  /// The hub, or EINVAL once destroyed or in the seed's era.
  pub(super) fn hub_on(&self) -> Result<&Hub> {
    self.alive()?;
    match self.hub.as_deref() {
      Some(hub) => Ok(hub),
      None => self.no_hub(),
    }
  }

  fn hub_on_mut(&mut self) -> Result<&mut Hub> {
    self.alive()?;
    if self.hub.is_none() {
      return self.no_hub();
    }
    Ok(self.hub.as_deref_mut().expect("checked just above"))
  }

  fn no_hub<T>(&self) -> Result<T> {
    fail(
      Errno::EINVAL,
      format!(
        "VA space '{}' is of era 0 ({}): it has no hub",
        self.name, ERAS[0]
      ),
    )
  }

  /// The hub and the warning log, borrowed together.
  fn hub_and_warnings(&mut self) -> Result<(&mut Hub, &mut Vec<Warning>)> {
    self.hub_on_mut()?;
    let hub = self.hub.as_deref_mut().expect("checked by hub_on_mut");
    Ok((hub, &mut self.warnings))
  }

  /// The VM's refcount: the creator's references (1 in the seed's era), one
  /// per mapping (not the kernel node) and one per vm_bo not freed.
  pub fn refcount(&self) -> u64 {
    let (creator, bos) = self
      .hub
      .as_deref()
      .map_or((1, 0), |h| (u64::from(h.creator_refs), h.bos.len() as u64));
    creator + self.mapping_count() as u64 + bos
  }

  /// `hubInfo`: in every era.
  pub fn hub_info(&self) -> Result<HubRecord> {
    self.alive()?;
    Ok(HubRecord {
      era: u32::from(self.era),
      flags: u32::from(self.vm_flags),
      resv: self.resv,
      refcount: self.refcount(),
    })
  }

  /// `drm_gpuvm_get`: the new refcount.
  pub fn vm_get(&mut self) -> Result<u64> {
    let hub = self.hub_on_mut()?;
    if hub.creator_refs == u32::MAX {
      return fail(Errno::EINVAL, "the VM's refcount would overflow");
    }
    hub.creator_refs += 1;
    Ok(self.refcount())
  }

  /// `drm_gpuvm_put`: the new refcount; at 0 the VM is torn down, as
  /// `destroy` does. EINVAL with no creator reference left.
  pub fn vm_put(&mut self) -> Result<u64> {
    let name = self.name.clone();
    let hub = self.hub_on_mut()?;
    if hub.creator_refs == 0 {
      return fail(
        Errno::EINVAL,
        format!("VA space '{name}': no reference of its creator left"),
      );
    }
    hub.creator_refs -= 1;
    let refcount = self.refcount();
    if refcount == 0 {
      self.teardown();
    }
    Ok(refcount)
  }

  /// Records that `obj`'s reservation is not the VM's: its vm_bos are external.
  pub fn declare_external(&mut self, obj: ObjId) -> Result<()> {
    let hub = self.hub_on_mut()?;
    if obj == NO_OBJ {
      return fail(Errno::EINVAL, "object 0 is no GEM object");
    }
    hub.external.insert(obj);
    Ok(())
  }

  /// `drm_gpuvm_bo_obtain_locked` (`how` 0) or `_obtain_prealloc` (1): the
  /// live vm_bo of `obj`, +1, or a new one (refcount 1, on no list). The
  /// wrong one for the VM's mode is recorded and goes on.
  pub fn vm_bo_obtain(&mut self, obj: ObjId, how: u32) -> Result<VmBoRecord> {
    let (hub, warnings) = self.hub_and_warnings()?;
    if how != OBTAIN_LOCKED && how != OBTAIN_PREALLOC {
      return fail(
        Errno::EINVAL,
        format!("how must be 0 (obtain_locked) or 1 (obtain_prealloc), got {how}"),
      );
    }
    if obj == NO_OBJ {
      return fail(Errno::EINVAL, "object 0 is no GEM object");
    }
    hub.room(obj)?;
    if let Some(&id) = hub.live.get(&obj) {
      if hub.bos[&id].refs == u32::MAX {
        return fail(Errno::EINVAL, format!("vm_bo {id}: refcount overflow"));
      }
    }
    if how == OBTAIN_LOCKED && hub.immediate() {
      warnings.push(Warning {
        kind: WarnKind::ObtainLockedImmediate,
        message: format!("drm_gpuvm_bo_obtain_locked on a VM in immediate mode (object {obj})"),
      });
    }
    if how == OBTAIN_PREALLOC && !hub.immediate() {
      warnings.push(Warning {
        kind: WarnKind::ObtainPreallocNotImmediate,
        message: format!("drm_gpuvm_bo_obtain_prealloc on a VM not in immediate mode (object {obj})"),
      });
    }
    let id = match hub.live.get(&obj) {
      Some(&id) => id,
      None => hub.create(obj).expect("room checked above"),
    };
    hub.get_ref(id)?;
    Ok(hub.record_of(id))
  }

  /// `drm_gpuvm_bo_find`: the live vm_bo of `obj`, +1, if any.
  pub fn vm_bo_find(&mut self, obj: ObjId) -> Result<Option<VmBoRecord>> {
    let hub = self.hub_on_mut()?;
    let Some(&id) = hub.live.get(&obj) else {
      return Ok(None);
    };
    hub.get_ref(id)?;
    Ok(Some(hub.record_of(id)))
  }

  /// `drm_gpuvm_bo_get`: EINVAL for a vm_bo freed, unknown or a zombie.
  pub fn vm_bo_get(&mut self, id: u32) -> Result<VmBoRecord> {
    let hub = self.hub_on_mut()?;
    hub.live_bo(id)?;
    hub.get_ref(id)?;
    Ok(hub.record_of(id))
  }

  /// `drm_gpuvm_bo_put` (or `_put_deferred`): true when that was the last
  /// reference (freed, or a zombie when deferred). Then the VM is torn down
  /// if that was its last reference. EINVAL for a vm_bo freed, unknown, a
  /// zombie, or held by its mappings' links alone.
  pub fn vm_bo_put(&mut self, id: u32, deferred: bool) -> Result<bool> {
    let (hub, warnings) = self.hub_and_warnings()?;
    let bo = hub.live_bo(id)?;
    if bo.refs <= bo.vas {
      // Only unlink drops a link's reference: a vm_bo is never released
      // under its mappings (the kernel would free it with mappings still
      // pointing at it).
      return fail(
        Errno::EINVAL,
        format!(
          "vm_bo {id}: its {} reference(s) left are its mappings' links",
          bo.vas
        ),
      );
    }
    if deferred && !hub.immediate() {
      warnings.push(Warning {
        kind: WarnKind::PutDeferredNotImmediate,
        message: format!("drm_gpuvm_bo_put_deferred on a VM not in immediate mode (vm_bo {id})"),
      });
    }
    let released = hub.put_ref(id, deferred);
    self.settle();
    Ok(released)
  }

  /// The record of a vm_bo not freed; `None` once freed, or never made.
  pub fn vm_bo_info(&self, id: u32) -> Result<Option<VmBoRecord>> {
    let hub = self.hub_on()?;
    Ok(hub.bos.get(&id).map(|bo| hub.record(id, bo, false)))
  }

  /// Its mappings in link order (none for a zombie); EINVAL once freed.
  pub fn vm_bo_vas(&mut self, id: u32) -> Result<Vec<Va>> {
    let hub = self.hub_on()?;
    let bo = hub.known(id)?;
    if bo.zombie {
      return Ok(Vec::new());
    }
    let obj = bo.obj;
    Ok(self.gem_vas(obj))
  }

  /// Every vm_bo not freed, zombies included, by id.
  pub fn vm_bos(&self) -> Result<Vec<VmBoRecord>> {
    let hub = self.hub_on()?;
    let mut ids: Vec<u32> = hub.bos.keys().copied().collect();
    ids.sort_unstable();
    Ok(ids.into_iter().map(|id| hub.record_of(id)).collect())
  }

  /// Keeps (or drops, and stops keeping) a log of freed vm_bos.
  pub fn track_freed_vm_bos(&mut self, on: bool) -> Result<()> {
    let hub = self.hub_on_mut()?;
    if !on {
      hub.freed_log = None;
    } else if hub.freed_log.is_none() {
      hub.freed_log = Some(Vec::new());
    }
    Ok(())
  }

  /// The vm_bos freed since the last call, oldest first. Still answers once
  /// the VA space is torn down: the call that freed its last vm_bo freed the
  /// VM too, and the driver's `vm_bo_free` comes before its `vm_free`.
  pub fn take_freed_vm_bos(&mut self) -> Result<Vec<VmBoRecord>> {
    match self.hub.as_deref_mut() {
      Some(hub) => Ok(hub.freed_log.as_mut().map(std::mem::take).unwrap_or_default()),
      None => self.no_hub(),
    }
  }

  /// `drm_gpuva_link(va, vm_bo)`: the vm_bo must be live; an object-less
  /// mapping is left alone; a vm_bo of another object is recorded and
  /// refused (the kernel links anyway), as is a mapping linked already.
  pub fn link_vm_bo(&mut self, key: VaKey, id: u32) -> Result<()> {
    self.hub_on()?;
    let p = self.lookup(&Self::key_ref(key))?;
    let rec = *self.store.rec(p);
    let (hub, warnings) = self.hub_and_warnings()?;
    let bo_obj = hub.live_bo(id)?.obj;
    if rec.obj == NO_OBJ {
      return Ok(());
    }
    if bo_obj != rec.obj {
      warnings.push(Warning {
        kind: WarnKind::LinkWrongObject,
        message: format!(
          "drm_gpuva_link: mapping of object {} linked to the vm_bo of object {bo_obj}",
          rec.obj
        ),
      });
      return fail(
        Errno::EINVAL,
        format!(
          "vm_bo {id} is of object {bo_obj}, the mapping of object {}",
          rec.obj
        ),
      );
    }
    if rec.link != NIL {
      return fail(
        Errno::EINVAL,
        format!("the mapping {:#x} (#{}) is linked already", key.0, key.1),
      );
    }
    // The vm_bo is the live one of this object: `link` finds it.
    self.hub_link_at(p);
    Ok(())
  }

  /// `drm_gpuva_unlink_defer`: as unlink, but a last reference makes the
  /// vm_bo a zombie. Outside immediate mode the unlink of a linked mapping
  /// is recorded and goes on.
  pub fn unlink_defer(&mut self, key: VaKey) -> Result<()> {
    self.hub_on()?;
    let p = self.lookup(&Self::key_ref(key))?;
    let linked = self.store.rec(p).link != NIL;
    let (hub, warnings) = self.hub_and_warnings()?;
    if linked && !hub.immediate() {
      warnings.push(Warning {
        kind: WarnKind::UnlinkDeferNotImmediate,
        message: format!(
          "drm_gpuva_unlink_defer on a VM not in immediate mode (mapping {:#x})",
          key.0
        ),
      });
    }
    self.hub_unlink_at(p, true);
    Ok(())
  }

  /// `drm_gpuvm_bo_extobj_add`: a live external vm_bo joins the extobj list
  /// if not on it; any other live one is left alone.
  pub fn extobj_add(&mut self, id: u32) -> Result<()> {
    let hub = self.hub_on_mut()?;
    let obj = hub.live_bo(id)?.obj;
    if hub.external.contains(&obj) {
      hub.list_push(EXTOBJ, id);
    }
    Ok(())
  }

  /// `drm_gpuvm_bo_evict`: EINVAL only once freed (a zombie may be marked).
  pub fn bo_evict(&mut self, id: u32, evict: bool) -> Result<()> {
    let hub = self.hub_on_mut()?;
    hub.known(id)?;
    hub.evict_bo(id, evict);
    Ok(())
  }

  /// `drm_gpuvm_bo_gem_evict`: `bo_evict` on the live vm_bo of `obj`, if any.
  pub fn gem_evict(&mut self, obj: ObjId, evict: bool) -> Result<()> {
    self.hub_on_mut()?.gem_evict(obj, evict);
    Ok(())
  }

  /// The extobj list's ids in order, zombies skipped.
  pub fn extobj_list(&self) -> Result<Vec<u32>> {
    Ok(self.hub_on()?.list_live(EXTOBJ))
  }

  /// The evict list's ids in order, zombies skipped.
  pub fn evict_list(&self) -> Result<Vec<u32>> {
    Ok(self.hub_on()?.list_live(EVICT))
  }

  /// The defer list, newest first (the order cleanup frees it in).
  pub fn defer_list(&self) -> Result<Vec<u32>> {
    Ok(self.hub_on()?.defer.iter().rev().copied().collect())
  }

  /// `drm_gpuvm_bo_deferred_cleanup`: frees every zombie, newest first;
  /// returns how many. Then the VM is torn down if that was its last reference.
  pub fn deferred_cleanup(&mut self) -> Result<u32> {
    let hub = self.hub_on_mut()?;
    let zombies = std::mem::take(&mut hub.defer);
    for &id in zombies.iter().rev() {
      hub.free(id);
    }
    self.settle();
    Ok(zombies.len() as u32)
  }

  /// The objects `drm_gpuvm_prepare_objects` locks: the extobj list's
  /// (zombies skipped, in order). Under RESV_PROTECTED it first appends each
  /// evicted one not on the evict list to it, in extobj order.
  pub fn prepare_objects(&mut self) -> Result<Vec<ObjId>> {
    let hub = self.hub_on_mut()?;
    let ids = hub.list_live(EXTOBJ);
    if hub.resv_protected() {
      for &id in &ids {
        if hub.bos[&id].evicted {
          hub.list_push(EVICT, id);
        }
      }
    }
    Ok(ids.iter().map(|id| hub.bos[id].obj).collect())
  }

  /// After `vm_bo_validate` succeeded: under RESV_PROTECTED a vm_bo no
  /// longer evicted leaves the evict list; otherwise nothing.
  pub fn validated(&mut self, id: u32) -> Result<()> {
    let hub = self.hub_on_mut()?;
    let evicted = hub.known(id)?.evicted;
    if hub.resv_protected() && !evicted {
      hub.list_remove(EVICT, id);
    }
    Ok(())
  }

  /// Lets a test use up the vm_bo ids quickly.
  #[cfg(test)]
  pub(crate) fn set_vm_bo_id_limit(&mut self, limit: u32) {
    if let Some(hub) = self.hub.as_deref_mut() {
      hub.id_limit = u64::from(limit);
    }
  }
}

#[cfg(test)]
mod tests;
