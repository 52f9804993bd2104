//! The VA space's hottest calls without Node-API arguments or buffer
//! queries: `blockBind`, `blockUnbind` and `blockInsert` (calls.rs) read the
//! VA space's id and their request from this thread's VA block and write
//! their results back to it. A call through the I/O buffer asks Node for its
//! id argument (`napi_get_cb_info`, `napi_get_value_double`) and for the
//! buffer (`napi_get_reference_value`, `napi_get_arraybuffer_info`, so that a
//! detached one is refused): about 220 instructions a call, a tenth of a
//! bind (bench/PROFILE-JS.md section 1). These do none of that.
//!
//! The block has the I/O buffer's layout (`drmsim_core::wire`, its first
//! `IO_MIN_BYTES`) and one more f64 after it, the VA space's id. It is memory
//! this module allocates once per env and never frees, shown to JavaScript as
//! one external ArrayBuffer (`block` of `fastInit()`): whatever JavaScript
//! does to that ArrayBuffer (transfer, detach, drop), the bytes the calls
//! read stay valid, so they need not ask after it. The calls touch it through
//! raw pointers, one value at a time, while JavaScript waits for them, never
//! through a Rust reference. A runtime that refuses external buffers gets no
//! block (`block: null`), and JavaScript keeps to the I/O buffer's calls, as
//! it does once the block is detached.

use crate::env_block::{self, EnvBlock, Hooked, Shown};
use crate::io::Io;
use crate::raw::{einval, Failure};
use drmsim_core::wire::IO_MIN_BYTES;
use napi::sys;
use std::cell::{Cell, RefCell};
use std::ptr;
use std::thread::LocalKey;

/// The block's bytes: the I/O layout, then the id.
pub(crate) const BLOCK_BYTES: usize = IO_MIN_BYTES + 8;
/// Where the VA space's id (an f64) is.
const ID_AT: usize = IO_MIN_BYTES;

/// The block's memory, as words so that it is 8-byte aligned.
pub(crate) type Block = [u64; BLOCK_BYTES / 8];

/// This kind of block, for env_block.rs.
pub(crate) struct VmBlock;

thread_local! {
  static BLOCK: Shown<Block> = const { Cell::new((ptr::null_mut(), ptr::null_mut(), ptr::null_mut())) };
  static HOOKED: Hooked = const { RefCell::new(Vec::new()) };
}

impl EnvBlock for VmBlock {
  type Mem = Block;
  fn zeroed() -> Block {
    [0u64; BLOCK_BYTES / 8]
  }
  fn shown() -> &'static LocalKey<Shown<Block>> {
    &BLOCK
  }
  fn hooked() -> &'static LocalKey<Hooked> {
    &HOOKED
  }
}

/// The id a block call names its VA space by, and the block as the call's
/// I/O bytes.
#[inline(always)]
pub(crate) fn current(env: sys::napi_env) -> Result<(f64, Io), Failure> {
  let b = env_block::current::<VmBlock>(env)
    .ok_or_else(|| einval("no VA block on this thread for this env (fastInit makes it)"))?;
  // SAFETY: `b` is a live block of BLOCK_BYTES bytes (never freed), read
  // whole and unaligned-safe at an 8-byte offset inside it.
  let id = unsafe { ptr::read_unaligned(b.cast::<u8>().add(ID_AT).cast::<f64>()) };
  // SAFETY: as above: BLOCK_BYTES live bytes, touched only by JavaScript
  // while no call runs and by this call while JavaScript waits.
  Ok((id, unsafe { Io::over(b.cast(), BLOCK_BYTES) }))
}
