//! drmsim-core: a model of the Linux kernel's DRM GPU memory-management stack.
//!
//! Nothing here knows about N-API; the binding in `native/napi` is a thin layer
//! over these types, so `cargo test` exercises the whole model.
//!
//! Tests. A module's unit tests are its child module `tests`, declared last
//! in the module as `#[cfg(test)] mod tests;` and kept in `tests.rs` inside
//! the module's folder (`foo/mod.rs` or `foo.rs` -> `foo/tests.rs`, the path
//! rustc looks for), or, for a module with several test files, in a `tests/`
//! folder: `foo/tests/mod.rs` plus one file per topic, declared last in it
//! (`mod clear;` -> `foo/tests/clear.rs`; see `alloc/buddy/tests/`). No
//! `#[path]`, no inline `mod tests { .. }`, no sibling `*_tests.rs`. They may
//! reach private items. Tests that use only the public API (properties
//! against a model, size and speed thresholds) are integration tests in
//! `native/core/tests/`.
//!
//! No hand-written source file passes 600 lines: a module that grows past it
//! becomes a folder split along its seams (see `gpuvm/store/`,
//! `alloc/buddy/`).

pub mod alloc;
pub mod device;
pub mod errno;
pub mod gpuvm;
// The benchmarks' LCG, for the examples and randomized tests.
pub mod lcg;
// The page-table cost model (issue 15).
pub mod pagetable;
// ttm-pool: TTM page pools per caching and order (issue 16).
pub mod pool;
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
