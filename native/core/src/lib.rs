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

pub use errno::{Errno, Error, Result};
pub use warning::{WarnKind, Warning};
