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

use crate::io::Io;
use crate::raw::{einval, Failure};
use drmsim_core::wire::IO_MIN_BYTES;
use napi::sys;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;

/// The block's bytes: the I/O layout, then the id.
pub(crate) const BLOCK_BYTES: usize = IO_MIN_BYTES + 8;
/// Where the VA space's id (an f64) is.
const ID_AT: usize = IO_MIN_BYTES;

/// The block's memory, as words so that it is 8-byte aligned.
type Block = [u64; BLOCK_BYTES / 8];

thread_local! {
  /// The env whose ArrayBuffer shows this thread's block, the block, and a
  /// strong reference to that ArrayBuffer (all null until `fastInit`).
  static BLOCK: Cell<(sys::napi_env, *mut Block, sys::napi_ref)> =
    const { Cell::new((ptr::null_mut(), ptr::null_mut(), ptr::null_mut())) };
  /// The envs given `forget` as a cleanup hook (Node aborts on a hook registered twice).
  static HOOKED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The id a block call names its VA space by, and the block as the call's
/// I/O bytes.
#[inline(always)]
pub(crate) fn current(env: sys::napi_env) -> Result<(f64, Io), Failure> {
  let (e, b, _) = BLOCK.with(Cell::get);
  if b.is_null() || e != env {
    return Err(einval(
      "no VA block on this thread for this env (fastInit makes it)",
    ));
  }
  // SAFETY: `b` is a live block of BLOCK_BYTES bytes (never freed), read
  // whole and unaligned-safe at an 8-byte offset inside it.
  let id = unsafe { ptr::read_unaligned(b.cast::<u8>().add(ID_AT).cast::<f64>()) };
  // SAFETY: as above: BLOCK_BYTES live bytes, touched only by JavaScript
  // while no call runs and by this call while JavaScript waits.
  Ok((id, unsafe { Io::over(b.cast(), BLOCK_BYTES) }))
}

/// Clears this thread's block when the env that shows it goes away (`env` is
/// the hook's argument); the memory itself stays (an ArrayBuffer may still
/// show it until that env's heap is gone).
unsafe extern "C" fn forget(env: *mut c_void) {
  let _ = HOOKED.try_with(|h| h.try_borrow_mut().map(|mut h| h.retain(|&e| e != env as usize)));
  let _ = BLOCK.try_with(|cell| {
    let (e, _, r) = cell.get();
    if e.cast::<c_void>() == env && !r.is_null() {
      cell.set((ptr::null_mut(), ptr::null_mut(), ptr::null_mut()));
      // SAFETY: the reference was made on `e`, the env being torn down, which
      // still accepts calls in its cleanup hooks; it was just taken out of the
      // thread's state, so nothing uses or deletes it again.
      unsafe { sys::napi_delete_reference(e, r) };
    }
  });
}

/// The ArrayBuffer over this thread's block for `env`, made on first use;
/// null when the runtime refuses external buffers (or anything else fails:
/// the I/O buffer's calls still work).
///
/// # Safety
/// `env` is the env of the call in progress.
pub(crate) unsafe fn buffer(env: sys::napi_env) -> sys::napi_value {
  let (e, b, r) = BLOCK.with(Cell::get);
  let mut value = ptr::null_mut();
  if e == env && !b.is_null() {
    // SAFETY: the reference was made on this env and is deleted only by
    // `forget`, which clears it first.
    if unsafe { sys::napi_get_reference_value(env, r, &mut value) } == sys::Status::napi_ok {
      return value;
    }
    return ptr::null_mut();
  }
  // Never freed: a view JavaScript kept (or moved by a transfer) must always
  // point at live memory.
  let block: *mut Block = Box::into_raw(Box::new([0u64; BLOCK_BYTES / 8]));
  let mut reference = ptr::null_mut();
  // SAFETY: env is the current call's; the block is BLOCK_BYTES live bytes
  // that are never freed, so no finalizer is needed; the out pointers are
  // live locals; `forget` has the hook's signature.
  unsafe {
    if sys::napi_create_external_arraybuffer(
      env,
      block.cast(),
      BLOCK_BYTES,
      None,
      ptr::null_mut(),
      &mut value,
    ) != sys::Status::napi_ok
      || sys::napi_create_reference(env, value, 1, &mut reference) != sys::Status::napi_ok
    {
      return ptr::null_mut();
    }
    if !HOOKED.with(|h| h.borrow().contains(&(env as usize))) {
      if sys::napi_add_env_cleanup_hook(env, Some(forget), env.cast()) != sys::Status::napi_ok {
        sys::napi_delete_reference(env, reference);
        return ptr::null_mut();
      }
      HOOKED.with(|h| h.borrow_mut().push(env as usize));
    }
  }
  BLOCK.with(|cell| cell.set((env, block, reference)));
  value
}
