//! The device binding's fences: made on the simulated clock, signalled with
//! an error or not, reserved and added to a reservation, queried by usage.
//! Like device.rs, it converts and forwards to `drmsim_core::device`.

use crate::convert::{to_js, u64_arg, Result};
use crate::device::NativeDevice;
use crate::external::Reported;
use drmsim_core::device::Usage;
use napi::bindgen_prelude::{BigInt, Env};
use napi_derive::napi;

#[napi(object)]
pub struct FenceRecord {
  pub context: u32,
  pub seqno: u32,
  pub signal_at: Option<BigInt>,
  pub signaled: bool,
  /// 0, or the negative errno it signals with.
  pub error: i32,
}

#[napi(object)]
pub struct FenceEntry {
  pub fence: u32,
  pub usage: u32,
}

#[napi]
impl NativeDevice {
  #[napi(catch_unwind)]
  pub fn create_fence(
    &mut self,
    env: Env,
    context: u32,
    seqno: u32,
    signal_at: Option<BigInt>,
  ) -> Result<u32> {
    self.changing(&env, |this| {
      let at = match signal_at {
        Some(t) => Some(u64_arg(&t, "signalAt")?),
        None => None,
      };
      this.dev.create_fence(context, seqno, at).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn fence_info(&self, fence: u32) -> Result<FenceRecord> {
    let signaled = self.dev.fence_signaled(fence).map_err(to_js)?;
    let f = self.dev.fence(fence).map_err(to_js)?;
    Ok(FenceRecord {
      context: f.context,
      seqno: f.seqno,
      signal_at: f.signal_at.map(BigInt::from),
      signaled,
      error: f.error,
    })
  }

  #[napi(catch_unwind)]
  pub fn set_fence_error(&mut self, env: Env, fence: u32, error: i32) -> Result<()> {
    self.changing(&env, |this| this.dev.set_fence_error(fence, error).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn schedule_fence(
    &mut self,
    env: Env,
    fence: u32,
    signal_at: Option<BigInt>,
    error: i32,
  ) -> Result<()> {
    self.changing(&env, |this| {
      let at = match signal_at {
        Some(t) => Some(u64_arg(&t, "signalAt")?),
        None => None,
      };
      this.dev.schedule_fence(fence, at, error).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn signal_fence(&mut self, env: Env, fence: u32) -> Result<()> {
    self.changing(&env, |this| this.dev.signal_fence(fence).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn reserve_fences(&mut self, env: Env, thread: u32, resv: u32, n: u32) -> Result<()> {
    self.changing(&env, |this| {
      this.dev.reserve_fences(thread, resv, n).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn add_fence(&mut self, env: Env, thread: u32, resv: u32, fence: u32, usage: u32) -> Result<()> {
    self.changing(&env, |this| {
      let u = Usage::from_u32(usage).map_err(to_js)?;
      this.dev.add_fence(thread, resv, fence, u).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn fences(&self, resv: u32, usage: u32) -> Result<Vec<FenceEntry>> {
    let u = Usage::from_u32(usage).map_err(to_js)?;
    Ok(
      self
        .dev
        .fences(resv, u)
        .map_err(to_js)?
        .into_iter()
        .map(|(fence, usage)| FenceEntry {
          fence,
          usage: usage as u32,
        })
        .collect(),
    )
  }

  #[napi(catch_unwind)]
  pub fn test_signaled(&self, resv: u32, usage: u32) -> Result<bool> {
    let u = Usage::from_u32(usage).map_err(to_js)?;
    self.dev.test_signaled(resv, u).map_err(to_js)
  }
}
