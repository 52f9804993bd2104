//! The drm_gpuvm hub of eras 1 and later (lib/contract/hub.md): the vm_bos
//! that tie the VM to GEM objects, the VM's refcount, the extobj, evict and
//! defer lists and deferred cleanup.
//!
//! A linked mapping holds a reference on the live vm_bo of its object, so a
//! vm_bo's mapping list is its object's list in this VM (obj_lists.rs: as in
//! the seed's era, link stamps until a list is first read): a vm_bo only
//! counts its mappings. The hub sits behind one pointer in `GpuVm`, empty in
//! the seed's era, so that era pays nothing else for it.
//!
//! The files: `calls` the hub's calls, `lists` the extobj and evict lists, `steps` what the VA
//! space's own calls (steps, link, unlink, remove) do to the hub and the
//! teardown at refcount 0, `madvise` `drm_gpuvm_madvise_ops_create`.

mod calls;
mod lists;
mod madvise;
mod steps;

use super::{ObjId, NO_OBJ};
use crate::errno::{fail, Errno, Result};
use crate::warning::WarnKind;
use lists::{Chain, Link, EVICT, EXTOBJ};
use rustc_hash::{FxHashMap, FxHashSet};

/// The kernel eras, by index (`ERAS` in lib/contract/hub.ts).
pub const ERAS: [&str; 3] = ["drm_gpuva_mgr-6.6", "drm_gpuvm-7.2", "drm_gpuvm-next"];
/// The seed's VA manager: no hub; every overflowing range check WARNs.
pub const ERA_SEED: u8 = 0;
/// drm_gpuvm 7.2: the hub; overflow WARNs only at init.
pub const ERA_GPUVM: u8 = 1;
/// As 7.2, and `range_valid` refuses a zero-length range.
pub const ERA_NEXT: u8 = 2;

/// `DRM_GPUVM_RESV_PROTECTED`: the extobj and evict lists are under the VM's reservation.
pub const VM_RESV_PROTECTED: u32 = 1 << 0;
/// `DRM_GPUVM_IMMEDIATE_MODE`: puts and unlinks may be deferred.
pub const VM_IMMEDIATE_MODE: u32 = 1 << 1;
const VM_FLAGS_ALL: u32 = VM_RESV_PROTECTED | VM_IMMEDIATE_MODE;

/// `vm_bo_obtain`'s `how`: `drm_gpuvm_bo_obtain_locked` or `_obtain_prealloc`.
pub const OBTAIN_LOCKED: u32 = 0;
pub const OBTAIN_PREALLOC: u32 = 1;

/// What a VA space is made with besides its range (`VmCreateOptions`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmOptions {
  /// Index into `ERAS`.
  pub era: u32,
  /// `VM_*` bits; none in the seed's era.
  pub flags: u32,
  /// The VM-wide reservation's id on its device (0: none). Only stored.
  pub resv: u32,
}

/// The VM's own state (`VmHubRecord`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubRecord {
  pub era: u32,
  pub flags: u32,
  pub resv: u32,
  /// The creator's references + one per mapping (not the kernel node) + one per vm_bo not freed.
  pub refcount: u64,
}

/// One vm_bo as callers see it (`VmBoRecord`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmBoRecord {
  pub id: u32,
  pub obj: ObjId,
  pub refcount: u32,
  pub vas: u32,
  pub evicted: bool,
  pub external: bool,
  pub on_extobj_list: bool,
  pub on_evict_list: bool,
  pub zombie: bool,
  pub freed: bool,
}

#[derive(Clone)]
struct VmBo {
  obj: ObjId,
  /// The kref: obtain/find/get references plus one per linked mapping.
  refs: u32,
  /// Linked mappings (its object's list in this VM while it is live).
  vas: u32,
  evicted: bool,
  /// Released deferred, waiting on the defer list.
  zombie: bool,
  /// Its place on the extobj and evict lists.
  links: [Link; 2],
}

#[derive(Clone)]
pub(crate) struct Hub {
  flags: u32,
  /// The creator's references (`vm_get` / `vm_put`).
  creator_refs: u32,
  next_id: u64,
  /// Ids run from 1 to this (`u32::MAX` but in tests).
  id_limit: u64,
  /// Every vm_bo not yet freed, zombies included.
  bos: FxHashMap<u32, VmBo>,
  /// The live vm_bo of each object (the one on its GEM list).
  live: FxHashMap<ObjId, u32>,
  /// Objects whose reservation is not the VM's (`declare_external`).
  external: FxHashSet<ObjId>,
  chains: [Chain; 2],
  /// Zombies, oldest first (read newest first, as an llist gives them).
  defer: Vec<u32>,
  /// Freed vm_bos for `take_freed_vm_bos`, when tracking.
  freed_log: Option<Vec<VmBoRecord>>,
}

impl Hub {
  /// What is left of a hub once its VA space is torn down: the freed log
  /// alone (the driver's vm_bo_free runs before its vm_free).
  pub(crate) fn into_freed_log(mut self) -> Option<Hub> {
    let log = self.freed_log.take()?;
    let mut hub = Hub::new(0);
    hub.freed_log = Some(log);
    Some(hub)
  }

  fn new(flags: u32) -> Hub {
    Hub {
      flags,
      creator_refs: 1,
      next_id: 1,
      id_limit: u64::from(u32::MAX),
      bos: FxHashMap::default(),
      live: FxHashMap::default(),
      external: FxHashSet::default(),
      chains: [Chain::default(); 2],
      defer: Vec::new(),
      freed_log: None,
    }
  }

  fn immediate(&self) -> bool {
    self.flags & VM_IMMEDIATE_MODE != 0
  }

  fn resv_protected(&self) -> bool {
    self.flags & VM_RESV_PROTECTED != 0
  }

  fn record(&self, id: u32, bo: &VmBo, freed: bool) -> VmBoRecord {
    VmBoRecord {
      id,
      obj: bo.obj,
      refcount: bo.refs,
      vas: bo.vas,
      evicted: bo.evicted,
      external: self.external.contains(&bo.obj),
      on_extobj_list: bo.links[EXTOBJ].on,
      on_evict_list: bo.links[EVICT].on,
      zombie: bo.zombie,
      freed,
    }
  }

  fn record_of(&self, id: u32) -> VmBoRecord {
    self.record(id, &self.bos[&id], false)
  }

  /// A vm_bo not yet freed (zombies included), or EINVAL.
  fn known(&self, id: u32) -> Result<&VmBo> {
    match self.bos.get(&id) {
      Some(bo) => Ok(bo),
      None if id > 0 && u64::from(id) < self.next_id => fail(Errno::EINVAL, format!("vm_bo {id} was freed")),
      None => fail(Errno::EINVAL, format!("no vm_bo {id}")),
    }
  }

  /// A live vm_bo (neither freed nor a zombie), or EINVAL.
  fn live_bo(&self, id: u32) -> Result<&VmBo> {
    let bo = self.known(id)?;
    if bo.zombie {
      return fail(
        Errno::EINVAL,
        format!("vm_bo {id} is a zombie waiting for deferred cleanup"),
      );
    }
    Ok(bo)
  }

  /// vm_bo ids not yet handed out.
  pub(in crate::gpuvm) fn ids_left(&self) -> u64 {
    (self.id_limit + 1).saturating_sub(self.next_id)
  }

  /// Whether the creator still holds a reference (else the last mapping's removal tears the VM down).
  pub(in crate::gpuvm) fn held_by_creator(&self) -> bool {
    self.creator_refs > 0
  }

  /// ENOMEM when `obj` has no live vm_bo and no id is left for a new one.
  fn room(&self, obj: ObjId) -> Result<()> {
    if obj != NO_OBJ && !self.live.contains_key(&obj) && self.next_id > self.id_limit {
      return fail(Errno::ENOMEM, "this VA space has used up its 2^32-1 vm_bo ids");
    }
    Ok(())
  }

  /// A new live vm_bo of `obj` with no reference yet, on no list; `None`
  /// once the ids are used up (callers check `room` first).
  fn create(&mut self, obj: ObjId) -> Option<u32> {
    if self.next_id > self.id_limit {
      return None;
    }
    let id = self.next_id as u32;
    self.next_id += 1;
    self.bos.insert(
      id,
      VmBo {
        obj,
        refs: 0,
        vas: 0,
        evicted: false,
        zombie: false,
        links: [Link::default(); 2],
      },
    );
    self.live.insert(obj, id);
    Some(id)
  }

  /// One more reference on a vm_bo not freed; EINVAL at the kref's limit.
  fn get_ref(&mut self, id: u32) -> Result<()> {
    let bo = self.bos.get_mut(&id).expect("callers pass a known vm_bo");
    if bo.refs == u32::MAX {
      return fail(Errno::EINVAL, format!("vm_bo {id}: refcount overflow"));
    }
    bo.refs += 1;
    Ok(())
  }

  /// Drops one reference; the last releases the vm_bo: off its object's
  /// GEM list, then freed, or (deferred) a zombie on the defer list, which
  /// without RESV_PROTECTED also leaves the extobj and evict lists.
  fn put_ref(&mut self, id: u32, deferred: bool) -> bool {
    let Some(bo) = self.bos.get_mut(&id) else {
      return false;
    };
    bo.refs = bo.refs.saturating_sub(1);
    if bo.refs > 0 {
      return false;
    }
    let obj = bo.obj;
    if self.live.get(&obj) == Some(&id) {
      self.live.remove(&obj);
    }
    if !deferred {
      self.free(id);
      return true;
    }
    if let Some(bo) = self.bos.get_mut(&id) {
      bo.zombie = true;
    }
    if !self.resv_protected() {
      self.list_remove(EXTOBJ, id);
      self.list_remove(EVICT, id);
    }
    self.defer.push(id);
    true
  }

  /// Off every list and out of the hub; logged when tracking.
  fn free(&mut self, id: u32) {
    self.list_remove(EXTOBJ, id);
    self.list_remove(EVICT, id);
    let Some(mut bo) = self.bos.remove(&id) else {
      return;
    };
    bo.zombie = false;
    if self.freed_log.is_some() {
      let rec = self.record(id, &bo, true);
      if let Some(log) = self.freed_log.as_mut() {
        log.push(rec);
      }
    }
  }

  /// A link's reference on the live vm_bo of `obj`, made first if there is
  /// none (an external one joins the extobj list at once). False only when
  /// the ids are used up.
  fn link_ref(&mut self, obj: ObjId) -> bool {
    let id = match self.live.get(&obj) {
      Some(&id) => id,
      None => {
        let Some(id) = self.create(obj) else {
          return false;
        };
        if self.external.contains(&obj) {
          self.list_push(EXTOBJ, id);
        }
        id
      }
    };
    let bo = self.bos.get_mut(&id).expect("a live vm_bo is known");
    bo.refs += 1;
    bo.vas += 1;
    true
  }

  /// Drops an unlinked mapping's reference on the live vm_bo of `obj`.
  fn unlink_ref(&mut self, obj: ObjId, deferred: bool) {
    let Some(&id) = self.live.get(&obj) else {
      return;
    };
    if let Some(bo) = self.bos.get_mut(&id) {
      bo.vas = bo.vas.saturating_sub(1);
    }
    self.put_ref(id, deferred);
  }

  /// `drm_gpuvm_bo_evict` on a vm_bo not freed: marks it; the evict list
  /// follows, but for an external one under RESV_PROTECTED (caught up at
  /// `prepare_objects`).
  fn evict_bo(&mut self, id: u32, evict: bool) {
    let Some(bo) = self.bos.get_mut(&id) else {
      return;
    };
    bo.evicted = evict;
    let obj = bo.obj;
    if self.resv_protected() && self.external.contains(&obj) {
      return;
    }
    if evict {
      self.list_push(EVICT, id);
    } else {
      self.list_remove(EVICT, id);
    }
  }

  /// `drm_gpuvm_bo_gem_evict`: on the live vm_bo of `obj`, if any.
  pub(super) fn gem_evict(&mut self, obj: ObjId, evict: bool) {
    if let Some(&id) = self.live.get(&obj) {
      self.evict_bo(id, evict);
    }
  }

  /// A list's ids in order, zombies skipped.
  fn list_live(&self, which: usize) -> Vec<u32> {
    self.list_ids(which).filter(|id| !self.bos[id].zombie).collect()
  }

  /// The warnings of a teardown for the lists left non-empty, zombies counted.
  pub(super) fn leftovers(&self) -> Vec<(WarnKind, String)> {
    let mut out = Vec::new();
    let (extobj, evict) = (self.chains[EXTOBJ].len, self.chains[EVICT].len);
    if extobj != 0 {
      out.push((
        WarnKind::ExtobjNotEmpty,
        format!("Extobj list should be empty ({extobj} vm_bo(s))"),
      ));
    }
    if evict != 0 {
      out.push((
        WarnKind::EvictNotEmpty,
        format!("Evict list should be empty ({evict} vm_bo(s))"),
      ));
    }
    if !self.defer.is_empty() {
      out.push((
        WarnKind::DeferNotEmpty,
        format!(
          "VM BO cleanup list should be empty ({} vm_bo(s))",
          self.defer.len()
        ),
      ));
    }
    out
  }

  pub(super) fn heap_bytes(&self) -> usize {
    size_of::<Hub>()
      + self.bos.capacity() * (size_of::<(u32, VmBo)>() + 1)
      + self.live.capacity() * (size_of::<(ObjId, u32)>() + 1)
      + self.external.capacity() * (size_of::<ObjId>() + 1)
      + self.defer.capacity() * 4
      + self
        .freed_log
        .as_ref()
        .map_or(0, |l| l.capacity() * size_of::<VmBoRecord>())
  }
}

#[cfg(test)]
mod tests;
