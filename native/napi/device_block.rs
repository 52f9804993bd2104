//! The device's hot calls without Node-API arguments: `blockLock`,
//! `blockUnlock` and `blockValidate` read their arguments from this thread's
//! argument block and write their results back to it, so that a call costs no
//! `napi_get_cb_info`, no number conversions and no typed-array queries (with
//! them, half of what the binding spent on a lock / validate / unlock step).
//! They check and forward as `lock`, `unlock` and `validate` of
//! device_fast.rs do: same checks, same messages, same errors.
//!
//! The block is memory this module allocates once per env and never frees,
//! shown to JavaScript as one external ArrayBuffer (`block` of
//! `deviceFastCalls()`): whatever JavaScript does to that ArrayBuffer
//! (transfer, detach, drop), the bytes the calls read stay valid. The calls
//! touch it through raw pointers, one value at a time, while JavaScript
//! waits for them, never through a Rust reference. A runtime that refuses
//! external buffers gets no block (`block: null`), and JavaScript keeps to
//! the calls with arguments.

use crate::device_fast::{check_u32, lock_on, validate_on};
use crate::raw::{einval, Failure};
use drmsim_core::device::Place;
use napi::sys;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;

/// Number slots (f64) at the start of the block.
pub(crate) const SLOTS: usize = 8;
/// Arguments: the device's fast id, the thread, the resv or object id, the
/// context (lock), the lock mode or the number of place words (validate).
const DEVICE: usize = 0;
const THREAD: usize = 1;
const TARGET: usize = 2;
const CTX: usize = 3;
const COUNT: usize = 4;
/// Results: the lock result (0 ok .. 4 blocked) or moved (0, 1); the holder
/// when blocked or the evictions; the bytes moved as a u64's bits.
const RESULT: usize = 5;
const DETAIL: usize = 6;
const BYTES: usize = 7;
/// Place words (u32) after the slots: 16 places; longer placements take `validate`.
pub(crate) const PLACE_WORDS: usize = 48;
const MAX_PLACES: usize = PLACE_WORDS / 3;

#[repr(C)]
struct Block {
  slots: [f64; SLOTS],
  places: [u32; PLACE_WORDS],
}

thread_local! {
  /// The env whose ArrayBuffer shows this thread's block, the block, and a
  /// strong reference to that ArrayBuffer (all null until `deviceFastCalls`).
  static BLOCK: Cell<(sys::napi_env, *mut Block, sys::napi_ref)> =
    const { Cell::new((ptr::null_mut(), ptr::null_mut(), ptr::null_mut())) };
  /// The envs given `forget` as a cleanup hook (Node aborts on a hook registered twice).
  static HOOKED: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The block of this thread for a call on `env`.
#[inline(always)]
fn block(env: sys::napi_env) -> Result<*mut Block, Failure> {
  let (e, b, _) = BLOCK.with(Cell::get);
  if b.is_null() || e != env {
    return Err(einval(
      "no argument block on this thread for this env (deviceFastCalls makes it)",
    ));
  }
  Ok(b)
}

/// Slot `i` as a u32 (the checks and messages of device_fast.rs's arguments).
#[inline(always)]
fn slot(b: *mut Block, i: usize, what: &str) -> Result<u32, Failure> {
  // SAFETY: `b` is a live block (never freed) and i < SLOTS at every call site.
  let v = unsafe { ptr::addr_of!((*b).slots).cast::<f64>().add(i).read() };
  check_u32(v, what)
}

#[inline(always)]
fn put(b: *mut Block, i: usize, v: f64) {
  // SAFETY: as in `slot`.
  unsafe { ptr::addr_of_mut!((*b).slots).cast::<f64>().add(i).write(v) };
}

/// `blockLock()`: device, thread, resv, ctx, mode from the block; the result and holder to it.
pub(crate) unsafe fn block_lock(env: sys::napi_env, _info: sys::napi_callback_info) -> Result<f64, Failure> {
  let b = block(env)?;
  let (d, thread, resv, ctx, mode) = (
    slot(b, DEVICE, "device")?,
    slot(b, THREAD, "thread")?,
    slot(b, TARGET, "resv")?,
    slot(b, CTX, "ctx")?,
    slot(b, COUNT, "mode")?,
  );
  lock_on(env, d, thread, resv, ctx, mode, |code, holder| {
    put(b, RESULT, f64::from(code));
    put(b, DETAIL, f64::from(holder));
  })
}

/// `blockUnlock()`: device, thread, resv from the block.
pub(crate) unsafe fn block_unlock(
  env: sys::napi_env,
  _info: sys::napi_callback_info,
) -> Result<f64, Failure> {
  let b = block(env)?;
  let (d, thread, resv) = (
    slot(b, DEVICE, "device")?,
    slot(b, THREAD, "thread")?,
    slot(b, TARGET, "resv")?,
  );
  crate::device_fast::unlock_on(env, d, thread, resv)
}

/// `blockValidate()`: device, thread, object id and the number of place words from the block, then
/// that many words of its places; moved, evictions and the bytes moved to it.
pub(crate) unsafe fn block_validate(
  env: sys::napi_env,
  _info: sys::napi_callback_info,
) -> Result<f64, Failure> {
  let b = block(env)?;
  let (d, thread, id, n) = (
    slot(b, DEVICE, "device")?,
    slot(b, THREAD, "thread")?,
    slot(b, TARGET, "id")?,
    slot(b, COUNT, "n")? as usize,
  );
  if n > PLACE_WORDS {
    return Err(einval(format!("{n} places asked for, {PLACE_WORDS} given")));
  }
  let mut words = [0u32; PLACE_WORDS];
  // SAFETY: a live block; n <= PLACE_WORDS words, read one at a time.
  let src = unsafe { ptr::addr_of!((*b).places).cast::<u32>() };
  for (i, w) in words.iter_mut().enumerate().take(n) {
    // SAFETY: i < n <= PLACE_WORDS.
    *w = unsafe { src.add(i).read() };
  }
  let words = &words[..n];
  let mut places = [Place::default(); MAX_PLACES];
  let k = decode_into(words, &mut places)?;
  validate_on(env, d, thread, id, &places[..k], |moved, evictions, bytes| {
    put(b, RESULT, if moved { 1.0 } else { 0.0 });
    put(b, DETAIL, f64::from(evictions));
    // SAFETY: as in `slot`; the u64 is written whole (JavaScript reads it through a BigUint64Array).
    unsafe {
      ptr::addr_of_mut!((*b).slots)
        .cast::<f64>()
        .add(BYTES)
        .cast::<u64>()
        .write(bytes)
    };
  })
}

/// Decodes a placement of at most MAX_PLACES places into `out` without a heap allocation, with
/// `Place::decode_all`'s errors; the number of places.
fn decode_into(words: &[u32], out: &mut [Place; MAX_PLACES]) -> Result<usize, Failure> {
  if !words.len().is_multiple_of(3) {
    // The length error, worded as decode_all words it.
    return Err(
      Place::decode_all(words)
        .err()
        .map_or_else(|| einval("a placement is three numbers per place"), Failure::from),
    );
  }
  for (slot, c) in out.iter_mut().zip(words.chunks_exact(3)) {
    *slot = Place::decode(c[0], c[1], c[2])?;
  }
  Ok(words.len() / 3)
}

/// Clears this thread's block when the env that shows it goes away (`env` is the hook's argument); the
/// memory itself stays (an ArrayBuffer may still show it until that env's heap is gone).
unsafe extern "C" fn forget(env: *mut c_void) {
  let _ = HOOKED.try_with(|h| h.try_borrow_mut().map(|mut h| h.retain(|&e| e != env as usize)));
  let _ = BLOCK.try_with(|cell| {
    let (e, _, r) = cell.get();
    if e.cast::<c_void>() == env && !r.is_null() {
      cell.set((ptr::null_mut(), ptr::null_mut(), ptr::null_mut()));
      // SAFETY: the reference was made on `e`, the env being torn down, which still accepts calls in its
      // cleanup hooks; it was just taken out of the thread's state, so nothing uses or deletes it again.
      unsafe { sys::napi_delete_reference(e, r) };
    }
  });
}

/// The ArrayBuffer over this thread's block for `env`, made on first use; null when the runtime refuses
/// external buffers (or anything else fails: the calls with arguments still work).
///
/// # Safety
/// `env` is the env of the call in progress.
pub(crate) unsafe fn buffer(env: sys::napi_env) -> sys::napi_value {
  let (e, b, r) = BLOCK.with(Cell::get);
  let mut value = ptr::null_mut();
  if e == env && !b.is_null() {
    // SAFETY: the reference was made on this env and is deleted only by `forget`, which clears it first.
    if unsafe { sys::napi_get_reference_value(env, r, &mut value) } == sys::Status::napi_ok {
      return value;
    }
    return ptr::null_mut();
  }
  // Never freed: a view JavaScript kept (or moved by a transfer) must always point at live memory.
  let block: *mut Block = Box::into_raw(Box::new(Block {
    slots: [0.0; SLOTS],
    places: [0; PLACE_WORDS],
  }));
  let mut reference = ptr::null_mut();
  // SAFETY: env is the current call's; the block is `size_of::<Block>()` live bytes that are never freed,
  // so no finalizer is needed; the out pointers are live locals; `forget` has the hook's signature.
  unsafe {
    if sys::napi_create_external_arraybuffer(
      env,
      block.cast(),
      size_of::<Block>(),
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
