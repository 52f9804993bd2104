//! The device's hot calls as raw Node-API entry points (as calls.rs is for a
//! VA space): `lock`, `unlock` and `validate`, the three calls of a driver's
//! lock / validate / unlock step, which through napi-rs's class glue cost
//! about 1 us each before any work. Each takes a device id (`fastId()` of a
//! `NativeDevice`, looked up in this thread's table), plain numbers, and an
//! `out` Float64Array for its results, and returns how many violations the
//! device holds, so that JavaScript fetches them only when there are some.
//! The rules stay in `drmsim_core::device`; this converts and forwards, as
//! the napi-rs methods of device.rs do (same checks, same errors).
//!
//! Safety of the table: a device registers the address napi-rs boxed it at
//! (it never moves afterwards) and its `FastSlot` takes it out when the
//! device is dropped (its finalizer). Nothing here calls into JavaScript
//! while it holds the `&mut NativeDevice`, and no napi-rs method of the
//! device does either, so the borrow never overlaps another.

use crate::device::NativeDevice;
use crate::external::Reported;
use crate::raw::{self, einval, panic_failure, throw, Failure};
use drmsim_core::device::{LockMode, LockResult, Place};
use napi::bindgen_prelude::{Env, Unknown};
use napi::sys;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

thread_local! {
  /// This thread's devices by fast id, and the next id to hand out (ids are never reused).
  static DEVICES: RefCell<(HashMap<u32, *mut NativeDevice>, u32)> = RefCell::new((HashMap::new(), 1));
  /// The device the last call named (fast id 0: none), so that a run of calls on one device skips the
  /// table; cleared with the device's entry.
  static LAST: Cell<(u32, *mut NativeDevice)> = const { Cell::new((0, ptr::null_mut())) };
}

/// A device's entry in the table (0: none yet); it leaves the table when the device is dropped.
#[derive(Default)]
pub(crate) struct FastSlot(Cell<u32>);

impl Drop for FastSlot {
  fn drop(&mut self) {
    let id = self.0.get();
    if id != 0 {
      let _ = LAST.try_with(|l| {
        if l.get().0 == id {
          l.set((0, ptr::null_mut()));
        }
      });
      let _ = DEVICES.try_with(|d| d.borrow_mut().0.remove(&id));
    }
  }
}

/// The device's fast id, registering it on first use. `dev` is where napi-rs keeps it (its box).
pub(crate) fn fast_id(dev: &mut NativeDevice) -> u32 {
  let id = dev.fast.0.get();
  if id != 0 {
    return id;
  }
  let ptr: *mut NativeDevice = dev;
  let id = DEVICES.with(|d| {
    let mut d = d.borrow_mut();
    let id = d.1;
    d.1 = d.1.wrapping_add(1).max(1);
    d.0.insert(id, ptr);
    id
  });
  dev.fast.0.set(id);
  id
}

/// A u32 argument (an id, a thread, a mode): a whole number in [0, 2^32).
///
/// # Safety
/// `value` is an argument of the current call on `env`, or null.
unsafe fn u32_arg(env: sys::napi_env, value: sys::napi_value, what: &str) -> Result<u32, Failure> {
  let mut v = f64::NAN;
  // SAFETY: the caller's contract; `v` is a live local.
  if value.is_null() || unsafe { sys::napi_get_value_double(env, value, &mut v) } != sys::Status::napi_ok {
    return Err(einval(format!("{what} must be a number")));
  }
  check_u32(v, what)
}

/// A number as a u32: a whole number in [0, 2^32).
#[inline(always)]
pub(crate) fn check_u32(v: f64, what: &str) -> Result<u32, Failure> {
  // `v as u32 as f64 != v` is `fract() != 0` inside the range, without a call to libm's trunc.
  if !(0.0..=f64::from(u32::MAX)).contains(&v) || f64::from(v as u32) != v {
    return Err(einval(format!("{what} must be an integer in [0, 2^32), got {v}")));
  }
  Ok(v as u32)
}

/// The `out` array: at least 4 f64 slots.
///
/// # Safety
/// As for `u32_arg`.
unsafe fn out_arg(env: sys::napi_env, value: sys::napi_value) -> Result<*mut f64, Failure> {
  // SAFETY: the caller's contract.
  let (data, len) = unsafe { raw::typed_array(env, value, sys::TypedarrayType::float64_array, "out") }?;
  if len < 4 {
    return Err(einval("out must hold 4 numbers"));
  }
  Ok(data.cast())
}

/// Runs `f` on the device `id` names, then returns how many violations it holds.
fn with_device(
  env: sys::napi_env,
  id: u32,
  f: impl FnOnce(&mut NativeDevice, &Env) -> napi::Result<(), crate::convert::Code>,
) -> Result<f64, Failure> {
  let dev = device(id).ok_or_else(|| {
    einval(format!(
      "no device has fast id {id} (finalized, or never registered)"
    ))
  })?;
  // SAFETY: the table holds only live devices at their boxed address (see the module's notes), and
  // no other reference to this one is alive during a fast call.
  let dev = unsafe { &mut *dev };
  let env = Env::from_raw(env);
  f(dev, &env)?;
  Ok(dev.dev.violations().len() as f64)
}

/// The device with fast id `id`: the one the last call named, else from the table.
#[inline(always)]
fn device(id: u32) -> Option<*mut NativeDevice> {
  let (last, dev) = LAST.with(Cell::get);
  if last == id && id != 0 {
    return Some(dev);
  }
  let dev = DEVICES.with(|d| d.try_borrow().ok().and_then(|d| d.0.get(&id).copied()))?;
  LAST.with(|l| l.set((id, dev)));
  Some(dev)
}

/// The lock mode a call names: 0 lock, 1 lock_slow, 2 trylock.
fn lock_mode(mode: u32) -> Result<LockMode, Failure> {
  match mode {
    0 => Ok(LockMode::Normal),
    1 => Ok(LockMode::Slow),
    2 => Ok(LockMode::Try),
    _ => Err(einval(format!("lock mode must be 0..2, got {mode}"))),
  }
}

/// `lock` on device `d`, its arguments checked; `answer` gets the result (0 ok, 1 EDEADLK,
/// 2 EALREADY, 3 EBUSY, 4 blocked) and the holder when blocked.
pub(crate) fn lock_on(
  env: sys::napi_env,
  d: u32,
  thread: u32,
  resv: u32,
  ctx: u32,
  mode: u32,
  answer: impl FnOnce(u32, u32),
) -> Result<f64, Failure> {
  let m = lock_mode(mode)?;
  with_device(env, d, |this, env| {
    this.changing(env, |this| {
      let r = this
        .dev
        .lock(thread, resv, (ctx != 0).then_some(ctx), m)
        .map_err(crate::convert::to_js)?;
      let (code, holder) = match r {
        LockResult::Ok => (0, 0),
        LockResult::Deadlk => (1, 0),
        LockResult::Already => (2, 0),
        LockResult::Busy => (3, 0),
        LockResult::Blocked { holder } => (4, holder),
      };
      answer(code, holder);
      Ok(())
    })
  })
}

/// `unlock` on device `d`.
pub(crate) fn unlock_on(env: sys::napi_env, d: u32, thread: u32, resv: u32) -> Result<f64, Failure> {
  with_device(env, d, |this, env| {
    this.changing(env, |this| {
      this.dev.unlock(thread, resv).map_err(crate::convert::to_js)
    })
  })
}

/// `validate` of object `id` into `places` on device `d`; `answer` gets moved, the evictions and the
/// bytes moved.
pub(crate) fn validate_on(
  env: sys::napi_env,
  d: u32,
  thread: u32,
  id: u32,
  places: &[Place],
  answer: impl FnOnce(bool, u32, u64),
) -> Result<f64, Failure> {
  with_device(env, d, |this, env| {
    this.moving(env, |this| {
      let v = this
        .dev
        .validate(thread, id, places)
        .map_err(crate::convert::to_js)?;
      answer(v.moved, v.evictions, v.bytes_moved);
      Ok(())
    })
  })
}

/// `lock(dev, thread, resv, ctx, mode, out)`: out[0] the result (0 ok, 1 EDEADLK, 2 EALREADY, 3 EBUSY,
/// 4 blocked), out[1] the holder when blocked.
unsafe fn lock(env: sys::napi_env, info: sys::napi_callback_info) -> Result<f64, Failure> {
  // SAFETY: env and info are the callback's.
  let [d, thread, resv, ctx, mode, out] = unsafe { raw::args::<6>(env, info) }?;
  // SAFETY: each is an argument of this call.
  let (d, thread, resv, ctx, mode, out) = unsafe {
    (
      u32_arg(env, d, "device")?,
      u32_arg(env, thread, "thread")?,
      u32_arg(env, resv, "resv")?,
      u32_arg(env, ctx, "ctx")?,
      u32_arg(env, mode, "mode")?,
      out_arg(env, out)?,
    )
  };
  lock_on(env, d, thread, resv, ctx, mode, |code, holder| {
    // SAFETY: out holds at least 4 f64 (out_arg), written one value at a time.
    unsafe {
      out.write_unaligned(f64::from(code));
      out.add(1).write_unaligned(f64::from(holder));
    }
  })
}

/// `unlock(dev, thread, resv)`.
unsafe fn unlock(env: sys::napi_env, info: sys::napi_callback_info) -> Result<f64, Failure> {
  // SAFETY: env and info are the callback's.
  let [d, thread, resv] = unsafe { raw::args::<3>(env, info) }?;
  // SAFETY: each is an argument of this call.
  let (d, thread, resv) = unsafe {
    (
      u32_arg(env, d, "device")?,
      u32_arg(env, thread, "thread")?,
      u32_arg(env, resv, "resv")?,
    )
  };
  unlock_on(env, d, thread, resv)
}

/// `validate(dev, thread, id, places: Uint32Array, n, out)`: the first `n` packed places; out[0] moved
/// (0 or 1), out[1] evictions, out[3] the bytes moved as a u64's bits (read through a BigUint64Array).
unsafe fn validate(env: sys::napi_env, info: sys::napi_callback_info) -> Result<f64, Failure> {
  // SAFETY: env and info are the callback's.
  let [d, thread, id, places, n, out] = unsafe { raw::args::<6>(env, info) }?;
  // SAFETY: each is an argument of this call.
  let (d, thread, id, n, out, (data, len)) = unsafe {
    (
      u32_arg(env, d, "device")?,
      u32_arg(env, thread, "thread")?,
      u32_arg(env, id, "id")?,
      u32_arg(env, n, "n")? as usize,
      out_arg(env, out)?,
      raw::typed_array(env, places, sys::TypedarrayType::uint32_array, "places")?,
    )
  };
  if n > len {
    return Err(einval(format!("{n} places asked for, {len} given")));
  }
  let words: *const u32 = data.cast();
  // Read one value at a time (the array is JavaScript's).
  // SAFETY: n <= len elements of a live typed array.
  let words: Vec<u32> = (0..n).map(|i| unsafe { words.add(i).read_unaligned() }).collect();
  let p = Place::decode_all(&words).map_err(Failure::from)?;
  validate_on(env, d, thread, id, &p, |moved, evictions, bytes| {
    // SAFETY: out holds at least 4 f64 (out_arg), written one value at a time.
    unsafe {
      out.write_unaligned(if moved { 1.0 } else { 0.0 });
      out.add(1).write_unaligned(f64::from(evictions));
      out.add(3).cast::<u64>().write_unaligned(bytes);
    }
  })
}

pub(crate) type Entry = unsafe fn(sys::napi_env, sys::napi_callback_info) -> Result<f64, Failure>;

/// The shared prelude: panics and failures become a thrown `Error` (code = errno name), as in calls.rs.
///
/// # Safety
/// `env` and `info` are those Node passed to the callback.
unsafe fn enter(env: sys::napi_env, info: sys::napi_callback_info, run: Entry) -> sys::napi_value {
  // SAFETY: the caller's contract.
  let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { run(env, info) }));
  let failure = match outcome {
    Ok(Ok(n)) => {
      let mut v = ptr::null_mut();
      // SAFETY: env is the callback's; `v` is a live local.
      unsafe { sys::napi_create_double(env, n, &mut v) };
      return v;
    }
    Ok(Err(failure)) => failure,
    Err(payload) => panic_failure(payload),
  };
  // SAFETY: still inside the callback, on its env.
  unsafe { throw(env, failure) };
  ptr::null_mut()
}

macro_rules! device_entries {
  ($($js:literal => $name:ident: $run:expr),* $(,)?) => {
    $(
      unsafe extern "C" fn $name(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
        // SAFETY: Node calls this callback with its env and callback info.
        unsafe { enter(env, info, $run) }
      }
    )*
    const ENTRIES: &[(&CStr, sys::napi_callback)] = &[$(($js, Some($name))),*];
  };
}

device_entries!(
  c"lock" => fast_lock: lock,
  c"unlock" => fast_unlock: unlock,
  c"validate" => fast_validate: validate,
  c"blockLock" => fast_block_lock: crate::device_block::block_lock,
  c"blockUnlock" => fast_block_unlock: crate::device_block::block_unlock,
  c"blockValidate" => fast_block_validate: crate::device_block::block_validate,
);

/// The device's fast entry points: `{ lock, unlock, validate }` (see the module's notes), and the same
/// three reading their arguments from `block` (device_block.rs; null where the runtime refuses external
/// buffers): slots (f64) device, thread, resv or id, ctx, mode or n, then the results; from byte 64 the
/// place words (u32, 48 of them).
#[napi_derive::napi(
  ts_return_type = "{ lock(dev: number, thread: number, resv: number, ctx: number, mode: number, out: Float64Array): number; unlock(dev: number, thread: number, resv: number): number; validate(dev: number, thread: number, id: number, places: Uint32Array, n: number, out: Float64Array): number; block: ArrayBuffer | null; blockLock(): number; blockUnlock(): number; blockValidate(): number }"
)]
pub fn device_fast_calls<'env>(env: &'env Env) -> napi::Result<Unknown<'env>> {
  let env = env.raw();
  let status = |s: sys::napi_status, what: &str| {
    if s == sys::Status::napi_ok {
      Ok(())
    } else {
      Err(napi::Error::from_reason(format!("{what} failed ({s})")))
    }
  };
  let mut fns = ptr::null_mut();
  // SAFETY: env is the current call's; the names are NUL-terminated, the callbacks have the signature
  // Node-API expects, and every out pointer is a live local.
  unsafe {
    status(sys::napi_create_object(env, &mut fns), "napi_create_object")?;
    for &(name, cb) in ENTRIES {
      let mut f = ptr::null_mut();
      status(
        sys::napi_create_function(env, name.as_ptr(), -1, cb, ptr::null_mut(), &mut f),
        "napi_create_function",
      )?;
      status(
        sys::napi_set_named_property(env, fns, name.as_ptr(), f),
        "napi_set_named_property",
      )?;
    }
    status(
      crate::env_block::show::<crate::device_block::DeviceBlock>(env, fns),
      "showing the argument block",
    )?;
    Ok(Unknown::from_raw_unchecked(env, fns))
  }
}
