//! The conditions the kernel WARNs about. drmsim records them instead of
//! printing a backtrace, so that users and tests can assert on them.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WarnKind {
  /// `addr + range` overflows u64 (seed 004 WARNs on every such check).
  Overflow,
  /// `drm_gpuva_remove()` called on the kernel-reserved node.
  KernelNodeRemove,
  /// The VA space was destroyed while it still held mappings.
  TreeNotEmpty,
  /// `drm_gpuvm_bo_obtain_locked` on a VM in immediate mode.
  ObtainLockedImmediate,
  /// `drm_gpuvm_bo_obtain_prealloc` on a VM not in immediate mode.
  ObtainPreallocNotImmediate,
  /// `drm_gpuvm_bo_put_deferred` on a VM not in immediate mode.
  PutDeferredNotImmediate,
  /// `drm_gpuva_unlink_defer` on a VM not in immediate mode.
  UnlinkDeferNotImmediate,
  /// `drm_gpuva_link` of a mapping to the vm_bo of another object.
  LinkWrongObject,
  /// The VM was freed with vm_bos on its extobj list.
  ExtobjNotEmpty,
  /// The VM was freed with vm_bos on its evict list.
  EvictNotEmpty,
  /// The VM was freed with vm_bos waiting for deferred cleanup.
  DeferNotEmpty,
}

impl WarnKind {
  pub fn name(self) -> &'static str {
    match self {
      WarnKind::Overflow => "overflow",
      WarnKind::KernelNodeRemove => "kernel-node-remove",
      WarnKind::TreeNotEmpty => "tree-not-empty",
      WarnKind::ObtainLockedImmediate => "obtain-locked-immediate",
      WarnKind::ObtainPreallocNotImmediate => "obtain-prealloc-not-immediate",
      WarnKind::PutDeferredNotImmediate => "put-deferred-not-immediate",
      WarnKind::UnlinkDeferNotImmediate => "unlink-defer-not-immediate",
      WarnKind::LinkWrongObject => "link-wrong-object",
      WarnKind::ExtobjNotEmpty => "extobj-not-empty",
      WarnKind::EvictNotEmpty => "evict-not-empty",
      WarnKind::DeferNotEmpty => "defer-not-empty",
    }
  }

  /// The rule of the specification the warning comes from.
  pub fn rule(self) -> &'static str {
    match self {
      WarnKind::Overflow => "seed-004: GPUVA address limited to 8 bytes",
      WarnKind::KernelNodeRemove => "seed-004: the kernel reserved node cannot be destroyed",
      WarnKind::TreeNotEmpty => "seed-004: GPUVA tree is not empty on destroy, potentially leaking memory",
      WarnKind::ObtainLockedImmediate => {
        "drm_gpuvm: obtain_locked allocates under the gpuva lock; immediate mode must use obtain_prealloc"
      }
      WarnKind::ObtainPreallocNotImmediate => "drm_gpuvm: obtain_prealloc is for immediate mode",
      WarnKind::PutDeferredNotImmediate => "drm_gpuvm: deferred puts are for immediate mode",
      WarnKind::UnlinkDeferNotImmediate => "drm_gpuvm: deferred unlinks are for immediate mode",
      WarnKind::LinkWrongObject => "drm_gpuvm: a mapping links to the vm_bo of its own object",
      WarnKind::ExtobjNotEmpty => "drm_gpuvm: the extobj list is empty when the VM is freed",
      WarnKind::EvictNotEmpty => "drm_gpuvm: the evict list is empty when the VM is freed",
      WarnKind::DeferNotEmpty => "drm_gpuvm: deferred vm_bos are cleaned up before the VM is freed",
    }
  }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
  pub kind: WarnKind,
  pub message: String,
}
