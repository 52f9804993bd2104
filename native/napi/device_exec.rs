//! drm_exec's runs (execloop): one crossing locks, fences or unlocks a run
//! of objects (`drmsim_core::device` exec_run.rs), where the single calls of
//! device.rs and fences.rs cross once per object and step. Each returns how
//! many elements it did; the caller does the element it stopped at with the
//! single calls, which report that element's outcome.

use crate::convert::{einval, to_js, Result};
use crate::device::NativeDevice;
use crate::external::Reported;
use drmsim_core::device::Device;
use napi::bindgen_prelude::{Env, Uint32Array};
use napi_derive::napi;

/// `[from, to)` of a run over `len` elements, checked.
fn window(from: u32, to: u32, len: usize) -> Result<std::ops::Range<usize>> {
  let (f, t) = (from as usize, to as usize);
  if f > t || t > len {
    return Err(einval(format!(
      "a run's window [{from}, {to}) must lie inside its {len} elements"
    )));
  }
  Ok(f..t)
}

#[napi]
impl NativeDevice {
  /// Locks `objs[from..to]` (reservations `resvs[..]`) through `ctx`, taking a reference to each and,
  /// when `reserve` is not negative, reserving that many fence slots.
  #[napi(catch_unwind)]
  #[allow(clippy::too_many_arguments)]
  pub fn exec_lock_run(
    &mut self,
    env: Env,
    thread: u32,
    ctx: u32,
    objs: Uint32Array,
    resvs: Uint32Array,
    from: u32,
    to: u32,
    reserve: i64,
  ) -> Result<u32> {
    Device::run_lengths(&objs, &resvs).map_err(to_js)?;
    let w = window(from, to, objs.len())?;
    let reserve = match reserve {
      -1 => None,
      n if (0..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
      n => return Err(einval(format!("reserve must be -1 or a u32, got {n}"))),
    };
    self.changing(&env, |this| {
      Ok(
        this
          .dev
          .exec_lock_run(thread, ctx, &objs[w.clone()], &resvs[w], reserve) as u32,
      )
    })
  }

  /// Adds `fence` to `resvs[from..to]` with `usages[..]`.
  #[napi(catch_unwind)]
  #[allow(clippy::too_many_arguments)]
  pub fn add_fence_run(
    &mut self,
    env: Env,
    thread: u32,
    resvs: Uint32Array,
    usages: Uint32Array,
    fence: u32,
    from: u32,
    to: u32,
  ) -> Result<u32> {
    Device::run_lengths(&resvs, &usages).map_err(to_js)?;
    let w = window(from, to, resvs.len())?;
    self.changing(&env, |this| {
      Ok(
        this
          .dev
          .add_fence_run(thread, &resvs[w.clone()], &usages[w], fence) as u32,
      )
    })
  }

  /// Unlocks `resvs[from..to]` and drops a reference to each of `objs[..]`.
  #[napi(catch_unwind)]
  pub fn exec_unlock_run(
    &mut self,
    env: Env,
    thread: u32,
    objs: Uint32Array,
    resvs: Uint32Array,
    from: u32,
    to: u32,
  ) -> Result<u32> {
    Device::run_lengths(&objs, &resvs).map_err(to_js)?;
    let w = window(from, to, objs.len())?;
    self.changing(&env, |this| {
      Ok(this.dev.exec_unlock_run(thread, &objs[w.clone()], &resvs[w]) as u32)
    })
  }
}
