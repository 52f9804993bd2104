//! The drm_gpuvm hub's calls on `NativeVm` (lib/contract/hub.ts
//! `VmHubCore`): cold napi-rs methods that convert and forward to the core
//! (`drmsim_core::gpuvm`, hub/). vm_bo ids cross as numbers; one that is
//! not a whole u32 names no vm_bo (id 0 is never handed out).

use crate::convert::{einval, key, va_record, Result, VaRecord};
use crate::vm::NativeVm;
use drmsim_core::gpuvm::{HubRecord, VmBoRecord as CoreVmBo};
use napi::bindgen_prelude::BigInt;
use napi::Env;
use napi_derive::napi;

#[napi(object)]
pub struct VmBoRecord {
  pub id: u32,
  pub obj: u32,
  pub refcount: u32,
  pub vas: u32,
  pub evicted: bool,
  pub external: bool,
  pub on_extobj_list: bool,
  pub on_evict_list: bool,
  pub zombie: bool,
  pub freed: bool,
}

#[napi(object)]
pub struct VmHubRecord {
  pub era: u32,
  pub flags: u32,
  pub resv: u32,
  pub refcount: f64,
}

fn bo(r: CoreVmBo) -> VmBoRecord {
  VmBoRecord {
    id: r.id,
    obj: r.obj,
    refcount: r.refcount,
    vas: r.vas,
    evicted: r.evicted,
    external: r.external,
    on_extobj_list: r.on_extobj_list,
    on_evict_list: r.on_evict_list,
    zombie: r.zombie,
    freed: r.freed,
  }
}

fn hub(r: HubRecord) -> VmHubRecord {
  VmHubRecord {
    era: r.era,
    flags: r.flags,
    resv: r.resv,
    refcount: r.refcount as f64,
  }
}

/// A vm_bo id as JavaScript passes it; anything but a whole u32 is 0, which
/// names no vm_bo.
fn id_arg(id: f64) -> u32 {
  if id >= 0.0 && id <= f64::from(u32::MAX) && id.fract() == 0.0 {
    id as u32
  } else {
    0
  }
}

#[napi]
impl NativeVm {
  /// The VM's era, flags, resv and refcount (in every era).
  #[napi(catch_unwind)]
  pub fn hub_info(&self) -> Result<VmHubRecord> {
    self.reading(|vm| vm.hub_info().map(hub))
  }

  /// `drm_gpuvm_get`: the new refcount.
  #[napi(catch_unwind)]
  pub fn vm_get(&self, env: Env) -> Result<f64> {
    self.changing(&env, |vm| vm.vm_get().map(|n| n as f64))
  }

  /// `drm_gpuvm_put`: the new refcount; at 0 the VA space is torn down.
  #[napi(catch_unwind)]
  pub fn vm_put(&self, env: Env) -> Result<f64> {
    self.changing(&env, |vm| vm.vm_put().map(|n| n as f64))
  }

  /// Records that `obj`'s reservation is not the VM's.
  #[napi(catch_unwind)]
  pub fn declare_external(&self, env: Env, obj: u32) -> Result<()> {
    self.changing(&env, |vm| vm.declare_external(obj))
  }

  /// `drm_gpuvm_bo_obtain_locked` (how 0) or `_obtain_prealloc` (1).
  #[napi(catch_unwind)]
  pub fn vm_bo_obtain(&self, env: Env, obj: u32, how: u32) -> Result<VmBoRecord> {
    self.changing(&env, |vm| vm.vm_bo_obtain(obj, how).map(bo))
  }

  /// `drm_gpuvm_bo_find`: the live vm_bo of `obj`, +1, or null.
  #[napi(catch_unwind)]
  pub fn vm_bo_find(&self, env: Env, obj: u32) -> Result<Option<VmBoRecord>> {
    self.changing(&env, |vm| vm.vm_bo_find(obj).map(|r| r.map(bo)))
  }

  /// `drm_gpuvm_bo_get`.
  #[napi(catch_unwind)]
  pub fn vm_bo_get(&self, env: Env, id: f64) -> Result<VmBoRecord> {
    self.changing(&env, |vm| vm.vm_bo_get(id_arg(id)).map(bo))
  }

  /// `drm_gpuvm_bo_put` / `_put_deferred`: whether that was the last reference.
  #[napi(catch_unwind)]
  pub fn vm_bo_put(&self, env: Env, id: f64, deferred: bool) -> Result<bool> {
    self.changing(&env, |vm| vm.vm_bo_put(id_arg(id), deferred))
  }

  /// The record of a vm_bo not freed, else null.
  #[napi(catch_unwind)]
  pub fn vm_bo_info(&self, id: f64) -> Result<Option<VmBoRecord>> {
    self.reading(|vm| vm.vm_bo_info(id_arg(id)).map(|r| r.map(bo)))
  }

  /// Its mappings, in link order.
  #[napi(catch_unwind)]
  pub fn vm_bo_vas(&self, id: f64) -> Result<Vec<VaRecord>> {
    self.reading(|vm| {
      vm.vm_bo_vas(id_arg(id))
        .map(|vas| vas.into_iter().map(va_record).collect())
    })
  }

  /// Every vm_bo not freed (zombies included), by id.
  #[napi(catch_unwind)]
  pub fn vm_bos(&self) -> Result<Vec<VmBoRecord>> {
    self.reading(|vm| vm.vm_bos().map(|v| v.into_iter().map(bo).collect()))
  }

  /// Keeps (or drops) a log of freed vm_bos.
  #[napi(catch_unwind)]
  pub fn track_freed_vm_bos(&self, env: Env, on: bool) -> Result<()> {
    self.changing(&env, |vm| vm.track_freed_vm_bos(on))
  }

  /// The vm_bos freed since the last call, oldest first.
  #[napi(catch_unwind)]
  pub fn take_freed_vm_bos(&self, env: Env) -> Result<Vec<VmBoRecord>> {
    self.changing(&env, |vm| {
      vm.take_freed_vm_bos().map(|v| v.into_iter().map(bo).collect())
    })
  }

  /// `drm_gpuva_link(va, vm_bo)`.
  #[napi(catch_unwind)]
  pub fn link_vm_bo(&self, env: Env, addr: BigInt, seq: f64, vm_bo: f64) -> Result<()> {
    let key = key(&addr, seq)?;
    self.changing(&env, |vm| vm.link_vm_bo(key, id_arg(vm_bo)))
  }

  /// `drm_gpuva_unlink_defer`.
  #[napi(catch_unwind)]
  pub fn unlink_defer(&self, env: Env, addr: BigInt, seq: f64) -> Result<()> {
    let key = key(&addr, seq)?;
    self.changing(&env, |vm| vm.unlink_defer(key))
  }

  /// `drm_gpuvm_bo_extobj_add`.
  #[napi(catch_unwind)]
  pub fn extobj_add(&self, env: Env, id: f64) -> Result<()> {
    self.changing(&env, |vm| vm.extobj_add(id_arg(id)))
  }

  /// `drm_gpuvm_bo_evict`.
  #[napi(catch_unwind)]
  pub fn bo_evict(&self, env: Env, id: f64, evict: bool) -> Result<()> {
    self.changing(&env, |vm| vm.bo_evict(id_arg(id), evict))
  }

  /// `drm_gpuvm_bo_gem_evict`.
  #[napi(catch_unwind)]
  pub fn gem_evict(&self, env: Env, obj: u32, evict: bool) -> Result<()> {
    self.changing(&env, |vm| vm.gem_evict(obj, evict))
  }

  /// The extobj list's vm_bo ids, zombies skipped.
  #[napi(catch_unwind)]
  pub fn extobj_list(&self) -> Result<Vec<u32>> {
    self.reading(|vm| vm.extobj_list())
  }

  /// The evict list's vm_bo ids, zombies skipped.
  #[napi(catch_unwind)]
  pub fn evict_list(&self) -> Result<Vec<u32>> {
    self.reading(|vm| vm.evict_list())
  }

  /// The defer list, newest first.
  #[napi(catch_unwind)]
  pub fn defer_list(&self) -> Result<Vec<u32>> {
    self.reading(|vm| vm.defer_list())
  }

  /// `drm_gpuvm_bo_deferred_cleanup`: how many vm_bos it freed.
  #[napi(catch_unwind)]
  pub fn deferred_cleanup(&self, env: Env) -> Result<u32> {
    self.changing(&env, |vm| vm.deferred_cleanup())
  }

  /// The objects `drm_gpuvm_prepare_objects` locks.
  #[napi(catch_unwind)]
  pub fn prepare_objects(&self, env: Env) -> Result<Vec<u32>> {
    self.changing(&env, |vm| vm.prepare_objects())
  }

  /// After `vm_bo_validate` succeeded for vm_bo `id`.
  #[napi(catch_unwind)]
  pub fn validated(&self, env: Env, id: f64) -> Result<()> {
    self.changing(&env, |vm| vm.validated(id_arg(id)))
  }

  /// A placement move of `obj` (the device calls it inside Rust once attached).
  #[napi(catch_unwind)]
  pub fn object_moved(&self, env: Env, obj: u32, evicted: bool) -> Result<()> {
    self.changing(&env, |vm| vm.object_moved(obj, evicted))
  }

  /// Replaces a mapping's flags word (16 bits).
  #[napi(catch_unwind)]
  pub fn set_va_flags(&self, addr: BigInt, seq: f64, flags: f64) -> Result<()> {
    let key = key(&addr, seq)?;
    self.reading(|vm| {
      vm.alive()?;
      Ok(())
    })?;
    if !(flags >= 0.0 && flags <= f64::from(u32::MAX) && flags.fract() == 0.0) {
      return Err(einval(format!("flags must be a u32, got {flags}")));
    }
    self.reading(|vm| vm.set_va_flags(key, flags as u32))
  }
}
