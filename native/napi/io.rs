//! The I/O buffer of this thread, through which the fast entry points
//! (calls.rs) take their arguments and give their results: an `ArrayBuffer`
//! JavaScript hands to `fastInit(io)` once and then reads and writes through
//! typed-array views. Its layout is `drmsim_core::wire` (`IO_BYTES` and the
//! `IO_*` slots), which lib/contract/wire.gen.ts renders for JavaScript.
//!
//! The first buffer of a thread stays: a later `fastInit` (another copy of the
//! package in the thread) is handed it back. It cannot be shared with another
//! thread (a SharedArrayBuffer is refused), and it is only touched through raw
//! pointers, one value at a time, never through a Rust reference, so no
//! reference aliases another view of the same bytes.

use crate::raw::{check, einval, Failure};
use crate::thread::THREAD;
use drmsim_core::gpuvm::{Op, OpCounts, Va};
use drmsim_core::wire::{
  pack_op, IO_ADDR, IO_BYTES, IO_MIN_BYTES, IO_OBJ, IO_OFFSET, IO_OUT, IO_OUT_MAP, IO_OUT_NUMBER,
  IO_OUT_REMAP, IO_OUT_REQUESTS, IO_OUT_UNMAP, IO_RANGE, IO_SEQ, IO_VA_ADDR, IO_VA_FLAGS, IO_VA_FOUND,
  IO_VA_OBJ, IO_VA_OFFSET, IO_VA_RANGE, IO_VA_SEQ, OP_WORDS,
};
use napi::bindgen_prelude::{Env, Unknown};
use napi::{sys, JsValue};
use std::ffi::c_void;
use std::mem::size_of;
use std::ptr;

/// The buffer of this thread: the env that registered it and a strong
/// reference to it (both null until `fastInit`).
#[derive(Clone, Copy)]
pub(crate) struct Registered {
  env: sys::napi_env,
  buffer: sys::napi_ref,
}

impl Registered {
  pub(crate) const NONE: Registered = Registered {
    env: ptr::null_mut(),
    buffer: ptr::null_mut(),
  };
}

/// The thread's buffer (`io`), if it is still usable on `env`, and where its
/// bytes are now. Asked on every call, so a buffer that JavaScript detached or
/// shrank since is refused instead of written.
///
/// # Safety
/// `env` is the env of the call in progress.
#[inline(always)]
unsafe fn usable(env: sys::napi_env, io: Registered) -> Result<(sys::napi_value, *mut u8, usize), Failure> {
  if io.buffer.is_null() || io.env != env {
    return Err(einval("fastInit(io) was not called on this thread"));
  }
  let mut value = ptr::null_mut();
  let mut data: *mut c_void = ptr::null_mut();
  let mut len = 0usize;
  // SAFETY: env is the current call's (the caller's contract) and the one the
  // reference was made on; the reference is deleted only by `install` or the
  // env's cleanup hook, which take it out of the thread's state first. The out pointers
  // are live locals.
  unsafe {
    check(
      sys::napi_get_reference_value(env, io.buffer, &mut value),
      "the I/O buffer is gone",
    )?;
    check(
      sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len),
      "the I/O buffer is not an ArrayBuffer",
    )?;
  }
  if data.is_null() || len < IO_MIN_BYTES {
    return Err(einval(format!(
      "the I/O buffer holds {len} bytes (detached?), not {IO_MIN_BYTES}"
    )));
  }
  Ok((value, data.cast(), len))
}

/// The bytes of the thread's I/O buffer (`io`, from `thread::visit`) for the
/// call in progress.
///
/// # Safety
/// `env` is the env of the call in progress, and the view is dropped before
/// that call returns.
#[inline(always)]
pub(crate) unsafe fn current(env: sys::napi_env, io: Registered) -> Result<Io, Failure> {
  // SAFETY: the caller's contract.
  let (_, data, len) = unsafe { usable(env, io) }?;
  Ok(Io { data, len })
}

/// A value the buffer holds: read and written whole, unaligned.
pub(crate) trait Plain: Copy {}
impl Plain for u32 {}
impl Plain for u64 {}
impl Plain for f64 {}

/// The fields of a request, as the calls that take one read them: addr,
/// range, obj (a walk's id for `step` and `close`), offset, and the same
/// word as a seq (`remove`, `get`).
#[derive(Clone, Copy)]
pub(crate) struct Request {
  pub(crate) addr: u64,
  pub(crate) range: u64,
  pub(crate) obj: u32,
  pub(crate) offset: u64,
  pub(crate) seq: f64,
}

/// Step counts as JavaScript reads them (f64: plain numbers).
#[derive(Default)]
pub(crate) struct Totals {
  map: f64,
  remap: f64,
  unmap: f64,
}

impl Totals {
  pub(crate) fn add(&mut self, c: &OpCounts) {
    self.map += c.map as f64;
    self.remap += c.remap as f64;
    self.unmap += c.unmap as f64;
  }
}

/// The I/O buffer's bytes during one call: `len` bytes from `data`, at least
/// `IO_MIN_BYTES`. Every access is bounds-checked against `len`.
#[derive(Clone, Copy)]
pub(crate) struct Io {
  data: *mut u8,
  len: usize,
}

impl Io {
  /// The bytes of the VA block (vm_block.rs) as a call's I/O bytes.
  ///
  /// # Safety
  /// `data` is `len` (at least `IO_MIN_BYTES`) live bytes that no other
  /// thread sees and nothing else touches while the call runs.
  #[inline(always)]
  pub(crate) unsafe fn over(data: *mut u8, len: usize) -> Io {
    debug_assert!(len >= IO_MIN_BYTES);
    Io { data, len }
  }

  #[inline(always)]
  pub(crate) fn get<T: Plain>(self, at: usize) -> T {
    assert!(at + size_of::<T>() <= self.len);
    // SAFETY: in bounds, as just checked; `current` made `data` point to `len`
    // bytes of an ArrayBuffer that no other thread sees (SharedArrayBuffers
    // are refused) and that nothing else touches while JavaScript waits for
    // the call, during which the view lives.
    unsafe { ptr::read_unaligned(self.data.add(at).cast::<T>()) }
  }

  #[inline(always)]
  pub(crate) fn set<T: Plain>(self, at: usize, v: T) {
    assert!(at + size_of::<T>() <= self.len);
    // SAFETY: as for `get`.
    unsafe { ptr::write_unaligned(self.data.add(at).cast::<T>(), v) }
  }

  /// The request of the call.
  #[inline]
  pub(crate) fn request(self) -> Request {
    Request {
      addr: self.get(IO_ADDR),
      range: self.get(IO_RANGE),
      obj: self.get(IO_OBJ),
      offset: self.get(IO_OFFSET),
      seq: self.get(IO_SEQ),
    }
  }

  /// Writes step counts and how many requests they are of.
  #[inline]
  pub(crate) fn counts(self, t: &Totals, requests: f64) {
    for (slot, v) in [
      (IO_OUT_MAP, t.map),
      (IO_OUT_REMAP, t.remap),
      (IO_OUT_UNMAP, t.unmap),
      (IO_OUT_REQUESTS, requests),
    ] {
      self.set(IO_OUT + 8 * slot, v);
    }
  }

  /// Writes a single number answer (a walk's id, a count).
  #[inline]
  pub(crate) fn number(self, n: f64) {
    self.set(IO_OUT + 8 * IO_OUT_NUMBER, n);
  }

  /// Writes the mapping a tree call answers with, or that there is none.
  #[inline]
  pub(crate) fn va(self, va: Option<Va>) {
    let Some(va) = va else {
      self.set(IO_VA_FOUND, 0u32);
      return;
    };
    self.set(IO_VA_ADDR, va.addr);
    self.set(IO_VA_RANGE, va.range);
    self.set(IO_VA_OFFSET, va.offset);
    self.set(IO_VA_SEQ, va.seq as f64);
    self.set(IO_VA_OBJ, va.obj);
    self.set(IO_VA_FLAGS, va.flags);
    self.set(IO_VA_FOUND, 1u32);
  }

  /// The packed op in the op area (`apply`).
  #[inline]
  pub(crate) fn op(self) -> [u64; OP_WORDS] {
    let mut w = [0u64; OP_WORDS];
    for (i, w) in w.iter_mut().enumerate() {
      *w = self.get(IO_BYTES + 8 * i);
    }
    w
  }

  /// Hands `ops` to JavaScript, packed: written to the op area when they fit,
  /// their length in words as the number answer, and undefined (null)
  /// returned; else in a new BigUint64Array, whose memory is V8's own, so it
  /// needs no finalizer, unlike a typed array over a Rust vector.
  ///
  /// # Safety
  /// `env` is the env of the call in progress.
  pub(crate) unsafe fn ops(self, env: sys::napi_env, ops: &[Op]) -> Result<sys::napi_value, Failure> {
    let words = ops.len() * OP_WORDS;
    let bytes = words * 8;
    if bytes <= self.len - IO_BYTES {
      for (i, op) in ops.iter().enumerate() {
        for (j, w) in pack_op(op).into_iter().enumerate() {
          self.set(IO_BYTES + 8 * (i * OP_WORDS + j), w);
        }
      }
      self.number(words as f64);
      return Ok(ptr::null_mut());
    }
    let mut data: *mut c_void = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut array = ptr::null_mut();
    // SAFETY: env is the current call's (the caller's contract); Node makes
    // `data` point to `bytes` fresh bytes that nothing else sees until the
    // array is returned, and each op's words go to [8 * OP_WORDS * i,
    // 8 * OP_WORDS * (i + 1)), inside them. The out pointers are live locals.
    unsafe {
      check(
        sys::napi_create_arraybuffer(env, bytes, &mut data, &mut buffer),
        "cannot allocate the op list",
      )?;
      let out = data.cast::<u64>();
      for (i, op) in ops.iter().enumerate() {
        ptr::copy_nonoverlapping(pack_op(op).as_ptr(), out.add(i * OP_WORDS), OP_WORDS);
      }
      check(
        sys::napi_create_typedarray(
          env,
          sys::TypedarrayType::biguint64_array,
          words,
          buffer,
          0,
          &mut array,
        ),
        "cannot make the op list's array",
      )?;
    }
    Ok(array)
  }
}

// ---- registration -----------------------------------------------------------

/// Deletes this thread's reference to the I/O buffer when the env that holds
/// it goes away (`env` is the hook's argument).
unsafe extern "C" fn forget(env: *mut c_void) {
  let _ = THREAD.try_with(|t| {
    if let Ok(mut hooked) = t.hooked.try_borrow_mut() {
      hooked.retain(|&e| e != env as usize);
    }
    let io = t.buffer.get();
    if io.env.cast::<c_void>() == env && !io.buffer.is_null() {
      t.buffer.set(Registered::NONE);
      // SAFETY: the reference was made on `io.env`, the env being torn down,
      // which still accepts calls in its cleanup hooks; it was just taken out
      // of the thread's state, so nothing uses or deletes it again.
      unsafe { sys::napi_delete_reference(io.env, io.buffer) };
    }
  });
}

fn status(s: sys::napi_status, what: &str) -> napi::Result<()> {
  if s == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(napi::Error::from_reason(format!(
      "fastInit: {what} failed (Node-API status {s})"
    )))
  }
}

/// Makes `value` (a checked ArrayBuffer) this thread's I/O buffer, in place
/// of the one it had.
///
/// # Safety
/// `env` and `value` are those of the current call.
unsafe fn install(env: sys::napi_env, value: sys::napi_value) -> napi::Result<()> {
  let mut reference = ptr::null_mut();
  // SAFETY: env and value are the current call's (the caller's contract);
  // `reference` is a live local.
  let s = unsafe { sys::napi_create_reference(env, value, 1, &mut reference) };
  status(s, "napi_create_reference")?;
  if !THREAD.with(|t| t.hooked.borrow().contains(&(env as usize))) {
    // SAFETY: env is the current call's; `forget` has the hook's signature
    // and takes the env as its argument.
    let s = unsafe { sys::napi_add_env_cleanup_hook(env, Some(forget), env.cast()) };
    status(s, "napi_add_env_cleanup_hook")?;
    THREAD.with(|t| t.hooked.borrow_mut().push(env as usize));
  }
  let old = THREAD.with(|t| {
    t.buffer.replace(Registered {
      env,
      buffer: reference,
    })
  });
  if !old.buffer.is_null() {
    // SAFETY: the old reference was made on `old.env` and is no longer in
    // the thread's state, so nothing uses or deletes it again. Its env is
    // this one or gone: a gone env's hook would have cleared it.
    unsafe { sys::napi_delete_reference(old.env, old.buffer) };
  }
  Ok(())
}

/// Takes `io` as this thread's I/O buffer (an ArrayBuffer of at least 240
/// bytes, kept alive from now on) and returns the raw entry points of the hot
/// calls (native/napi/calls.rs), with the buffer they use as `io`: the one
/// the thread already has if it is still usable (every copy of the package in
/// a thread shares it: one copy's buffer replacing another's would leave the
/// other's views on a buffer no call reads), else `io`. Each takes a VA space
/// id (`NativeVm.id`), reads its arguments from the buffer and writes its
/// results back to it (layout: `drmsim_core::wire`), and throws an Error with
/// the errno as `code` when it fails. An op list too long for the buffer is
/// returned as a BigUint64Array instead.
#[napi_derive::napi(
  ts_args_type = "io: ArrayBuffer",
  ts_return_type = "{ io: ArrayBuffer; bind(id: number): void; unbind(id: number): void; bindBatch(id: number, words: BigUint64Array, perRequest: Uint32Array | null): void; bindArray(id: number, words: BigUint64Array, perRequest: Uint32Array | null): void; insert(id: number): void; remove(id: number): void; get(id: number): void; find(id: number): void; findFirst(id: number): void; smMapOps(id: number): BigUint64Array | undefined; smUnmapOps(id: number): BigUint64Array | undefined; prefetchOps(id: number): BigUint64Array | undefined; gemUnmapOps(id: number): BigUint64Array | undefined; madviseOps(id: number): BigUint64Array | undefined; smMap(id: number): void; smUnmap(id: number): void; step(id: number): BigUint64Array | undefined; close(id: number): void; apply(id: number): void; warnings(id: number): void; block: ArrayBuffer | null; blockBind(): void; blockUnbind(): void; blockInsert(): void; blockRemove(): void; blockGet(): void; blockFind(): void; blockFindFirst(): void }"
)]
pub fn fast_init<'env>(env: &'env Env, io: Unknown<'env>) -> napi::Result<Unknown<'env>> {
  let env = env.raw();
  let value = io.raw();
  let mut data: *mut c_void = ptr::null_mut();
  let mut len = 0usize;
  let mut is_buffer = false;
  // SAFETY: env and value are those of the current napi-rs call; the out
  // pointer is a live local.
  let s = unsafe { sys::napi_is_arraybuffer(env, value, &mut is_buffer) };
  status(s, "napi_is_arraybuffer")?;
  if !is_buffer {
    return Err(napi::Error::new(
      napi::Status::InvalidArg,
      "fastInit: io must be an ArrayBuffer".to_string(),
    ));
  }
  // SAFETY: as above, and value is an ArrayBuffer.
  let s = unsafe { sys::napi_get_arraybuffer_info(env, value, &mut data, &mut len) };
  status(s, "napi_get_arraybuffer_info")?;
  if len < IO_MIN_BYTES {
    return Err(napi::Error::new(
      napi::Status::InvalidArg,
      format!("fastInit: io must hold at least {IO_MIN_BYTES} bytes, not {len}"),
    ));
  }
  // SAFETY: env is the current call's.
  let in_use = match unsafe { usable(env, THREAD.with(|t| t.buffer.get())) } {
    Ok((kept, _, _)) => kept,
    Err(_) => {
      // SAFETY: env and value are the current call's; value is a checked
      // ArrayBuffer.
      unsafe { install(env, value) }?;
      value
    }
  };
  let mut fns = ptr::null_mut();
  // SAFETY: env is the current call's; the names are NUL-terminated, the
  // callbacks have the signature Node-API expects, and every out pointer is a
  // live local.
  unsafe {
    status(sys::napi_create_object(env, &mut fns), "napi_create_object")?;
    status(
      sys::napi_set_named_property(env, fns, c"io".as_ptr(), in_use),
      "napi_set_named_property",
    )?;
    // The VA block (vm_block.rs), or null where the runtime refuses it.
    status(
      crate::env_block::show::<crate::vm_block::VmBlock>(env, fns),
      "showing the VA block",
    )?;
    for &(name, cb) in crate::calls::ENTRIES {
      let mut f = ptr::null_mut();
      let name = name.as_ptr();
      status(
        sys::napi_create_function(env, name, -1, cb, ptr::null_mut(), &mut f),
        "napi_create_function",
      )?;
      status(
        sys::napi_set_named_property(env, fns, name, f),
        "napi_set_named_property",
      )?;
    }
    Ok(Unknown::from_raw_unchecked(env, fns))
  }
}
