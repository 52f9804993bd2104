//! drmsim-core: a model of the Linux kernel's DRM GPU memory-management stack.
//!
//! Nothing here knows about N-API; the binding in `native/napi` is a thin layer
//! over these types, so `cargo test` exercises the whole model.

pub mod alloc;
pub mod device;
pub mod errno;
pub mod gpuvm;
pub mod vmbind;
pub mod warning;
pub mod wire;

/// Estimates of the heap bytes containers hold, for the binding to report to
/// V8: constant time, from lengths and capacities, not exact.
pub(crate) mod heap {
  use std::mem::size_of;

  pub fn vec<T>(v: &Vec<T>) -> usize {
    v.capacity() * size_of::<T>()
  }

  /// A BTreeMap or BTreeSet of `len` entries: a node has room for 11, a
  /// header and the malloc chunk's own, and is about two thirds full (one
  /// node, however small the map).
  pub fn btree<K, V>(len: usize) -> usize {
    len.div_ceil(8) * (11 * (size_of::<K>() + size_of::<V>()) + 32)
  }
}

pub use errno::{Errno, Error, Result};
pub use warning::{WarnKind, Warning};
