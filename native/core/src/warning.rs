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
}

impl WarnKind {
  pub fn name(self) -> &'static str {
    match self {
      WarnKind::Overflow => "overflow",
      WarnKind::KernelNodeRemove => "kernel-node-remove",
      WarnKind::TreeNotEmpty => "tree-not-empty",
    }
  }

  /// The rule of the specification the warning comes from.
  pub fn rule(self) -> &'static str {
    match self {
      WarnKind::Overflow => "seed-004: GPUVA address limited to 8 bytes",
      WarnKind::KernelNodeRemove => "seed-004: the kernel reserved node cannot be destroyed",
      WarnKind::TreeNotEmpty => "seed-004: GPUVA tree is not empty on destroy, potentially leaking memory",
    }
  }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
  pub kind: WarnKind,
  pub message: String,
}
