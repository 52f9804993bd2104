//! The steps of the split/merge engine (`struct drm_gpuva_op`).

use super::{ObjId, Va};

/// A new mapping to create: the request itself, or a piece kept by a remap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpMap {
  pub addr: u64,
  pub range: u64,
  pub obj: ObjId,
  pub offset: u64,
}

impl OpMap {
  /// A range with no object behind it: what an unmap request walks over.
  pub fn bare(addr: u64, range: u64) -> OpMap {
    OpMap {
      addr,
      range,
      obj: super::NO_OBJ,
      offset: 0,
    }
  }
}

/// An existing mapping to take down. `keep` says the new mapping continues it
/// physically (same object, consistent offset), so page tables may stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpUnmap {
  pub va: Va,
  pub keep: bool,
}

/// An existing mapping split by a request: it goes, and the pieces outside the
/// request (`prev` before it, `next` after it) come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpRemap {
  pub prev: Option<OpMap>,
  pub next: Option<OpMap>,
  pub unmap: OpUnmap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
  Map(OpMap),
  Remap(OpRemap),
  Unmap(OpUnmap),
  Prefetch(Va),
}

impl Op {
  pub fn kind_name(&self) -> &'static str {
    match self {
      Op::Map(_) => "map",
      Op::Remap(_) => "remap",
      Op::Unmap(_) => "unmap",
      Op::Prefetch(_) => "prefetch",
    }
  }
}
