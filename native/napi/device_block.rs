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
use crate::env_block::{self, EnvBlock, Hooked, Shown};
use crate::raw::{einval, Failure};
use drmsim_core::device::Place;
use napi::sys;
use std::cell::{Cell, RefCell};
use std::ptr;
use std::thread::LocalKey;

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
pub(crate) struct Block {
  slots: [f64; SLOTS],
  places: [u32; PLACE_WORDS],
}

/// This kind of block, for env_block.rs.
pub(crate) struct DeviceBlock;

thread_local! {
  static BLOCK: Shown<Block> = const { Cell::new((ptr::null_mut(), ptr::null_mut(), ptr::null_mut())) };
  static HOOKED: Hooked = const { RefCell::new(Vec::new()) };
}

impl EnvBlock for DeviceBlock {
  type Mem = Block;
  fn zeroed() -> Block {
    Block {
      slots: [0.0; SLOTS],
      places: [0; PLACE_WORDS],
    }
  }
  fn shown() -> &'static LocalKey<Shown<Block>> {
    &BLOCK
  }
  fn hooked() -> &'static LocalKey<Hooked> {
    &HOOKED
  }
}

/// The block of this thread for a call on `env`.
#[inline(always)]
fn block(env: sys::napi_env) -> Result<*mut Block, Failure> {
  env_block::current::<DeviceBlock>(env)
    .ok_or_else(|| einval("no argument block on this thread for this env (deviceFastCalls makes it)"))
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
