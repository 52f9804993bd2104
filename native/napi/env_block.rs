//! Blocks: memory the binding allocates once per env and thread and never
//! frees, shown to JavaScript as one external ArrayBuffer, so that the hot
//! calls read their arguments from it instead of asking Node for them
//! (device_block.rs, vm_block.rs). Never freed because whatever JavaScript
//! does to the ArrayBuffer (transfer, detach, drop), the bytes a call reads
//! must stay valid without the call asking after them. The calls touch a
//! block through raw pointers while JavaScript waits for them, never through
//! a Rust reference. A runtime that refuses external buffers gets no block,
//! and JavaScript keeps to the calls with arguments.

use napi::sys;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::thread::LocalKey;

/// The env whose ArrayBuffer shows this thread's block, the block, and a
/// strong reference to that ArrayBuffer (all null until the block is made).
pub(crate) type Shown<M> = Cell<(sys::napi_env, *mut M, sys::napi_ref)>;
/// The envs given the block's cleanup hook (Node aborts on a hook registered twice).
pub(crate) type Hooked = RefCell<Vec<usize>>;

/// One kind of block: its memory and where a thread keeps it.
pub(crate) trait EnvBlock: 'static {
  /// The block's memory (plain numbers, zeroed when made).
  type Mem: 'static;
  fn zeroed() -> Self::Mem;
  fn shown() -> &'static LocalKey<Shown<Self::Mem>>;
  fn hooked() -> &'static LocalKey<Hooked>;
}

/// This thread's block for a call on `env`, or `None` when it was never made
/// on that env.
#[inline(always)]
pub(crate) fn current<B: EnvBlock>(env: sys::napi_env) -> Option<*mut B::Mem> {
  let (e, b, _) = B::shown().with(Cell::get);
  (!b.is_null() && e == env).then_some(b)
}

/// Clears this thread's block when the env that shows it goes away (`env` is
/// the hook's argument); the memory itself stays (an ArrayBuffer may still
/// show it until that env's heap is gone).
unsafe extern "C" fn forget<B: EnvBlock>(env: *mut c_void) {
  let _ = B::hooked().try_with(|h| h.try_borrow_mut().map(|mut h| h.retain(|&e| e != env as usize)));
  let _ = B::shown().try_with(|cell| {
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
/// the calls with arguments still work).
///
/// # Safety
/// `env` is the env of the call in progress.
unsafe fn buffer<B: EnvBlock>(env: sys::napi_env) -> sys::napi_value {
  let (e, b, r) = B::shown().with(Cell::get);
  let mut value = ptr::null_mut();
  if e == env && !b.is_null() {
    // SAFETY: the reference was made on this env and is deleted only by
    // `forget`, which clears it first.
    if unsafe { sys::napi_get_reference_value(env, r, &mut value) } == sys::Status::napi_ok {
      return value;
    }
    return ptr::null_mut();
  }
  let block: *mut B::Mem = Box::into_raw(Box::new(B::zeroed()));
  let mut reference = ptr::null_mut();
  // SAFETY: env is the current call's; the block is `size_of::<B::Mem>()`
  // live bytes that are never freed, so no finalizer is needed; the out
  // pointers are live locals; `forget::<B>` has the hook's signature.
  unsafe {
    if sys::napi_create_external_arraybuffer(
      env,
      block.cast(),
      size_of::<B::Mem>(),
      None,
      ptr::null_mut(),
      &mut value,
    ) != sys::Status::napi_ok
      || sys::napi_create_reference(env, value, 1, &mut reference) != sys::Status::napi_ok
    {
      return ptr::null_mut();
    }
    if !B::hooked().with(|h| h.borrow().contains(&(env as usize))) {
      if sys::napi_add_env_cleanup_hook(env, Some(forget::<B>), env.cast()) != sys::Status::napi_ok {
        sys::napi_delete_reference(env, reference);
        return ptr::null_mut();
      }
      B::hooked().with(|h| h.borrow_mut().push(env as usize));
    }
  }
  B::shown().with(|cell| cell.set((env, block, reference)));
  value
}

/// Sets `obj.block` to this thread's block for `env`, or to null where the
/// runtime refuses external buffers; the status of the Node-API call that
/// failed, else `napi_ok`.
///
/// # Safety
/// `env` is the env of the call in progress and `obj` an object of it.
pub(crate) unsafe fn show<B: EnvBlock>(env: sys::napi_env, obj: sys::napi_value) -> sys::napi_status {
  // SAFETY: the caller's.
  let mut block = unsafe { buffer::<B>(env) };
  if block.is_null() {
    // SAFETY: env is live; the out pointer is a live local.
    let s = unsafe { sys::napi_get_null(env, &mut block) };
    if s != sys::Status::napi_ok {
      return s;
    }
  }
  // SAFETY: env and obj are live; the name is NUL-terminated.
  unsafe { sys::napi_set_named_property(env, obj, c"block".as_ptr(), block) }
}
