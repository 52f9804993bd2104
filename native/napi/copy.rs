//! The device binding's time (issue 16): the copy engine's configuration and
//! jobs, timed validation with `no_wait_gpu`, and the destroys that wait for
//! fences. Like device.rs, it converts and forwards to `drmsim_core::device`.

use crate::convert::{einval, to_js, u64_arg, Result};
use crate::device::{places, NativeDevice};
use crate::external::Reported;
use drmsim_core::device::{CopyConfig, CopyJob};
use napi::bindgen_prelude::{BigInt, Env};
use napi_derive::napi;

#[napi(object)]
pub struct TimedValidateRecord {
  pub moved: bool,
  pub bytes_moved: BigInt,
  pub evictions: u32,
  /// The fence the buffer waits for before CPU access (0: none).
  pub fence: u32,
  pub fence_end: Option<BigInt>,
}

#[napi(object)]
pub struct CopyJobRecord {
  pub fence: u32,
  pub object: u32,
  pub from: u32,
  pub to: u32,
  pub bytes: BigInt,
  pub evicted: bool,
  pub submitted: BigInt,
  pub duration: BigInt,
  pub start: Option<BigInt>,
  pub end: Option<BigInt>,
  pub deps: Vec<u32>,
}

#[napi(object)]
pub struct PendingDestroyRecord {
  pub id: u32,
  pub domain: u32,
  pub size: BigInt,
  pub fences: Vec<u32>,
  pub until: Option<BigInt>,
}

fn job_record(j: &CopyJob) -> CopyJobRecord {
  CopyJobRecord {
    fence: j.fence,
    object: j.object,
    from: j.from.index(),
    to: j.to.index(),
    bytes: BigInt::from(j.bytes),
    evicted: j.evicted,
    submitted: BigInt::from(j.submitted),
    duration: BigInt::from(j.duration),
    start: j.start.map(BigInt::from),
    end: j.end.map(BigInt::from),
    deps: j.deps.clone(),
  }
}

#[napi]
impl NativeDevice {
  /// `bandwidth`: 9 bytes-per-second values, `(from - 1) * 3 + (to - 1)`.
  #[napi(catch_unwind)]
  pub fn configure_copy(&mut self, env: Env, bandwidth: Vec<BigInt>, latency: BigInt) -> Result<()> {
    self.changing(&env, |this| {
      if bandwidth.len() != 9 {
        return Err(einval(format!(
          "copy bandwidth needs 9 values, got {}",
          bandwidth.len()
        )));
      }
      let mut cfg = CopyConfig {
        bandwidth: [0; 9],
        latency: u64_arg(&latency, "latency")?,
      };
      for (slot, v) in cfg.bandwidth.iter_mut().zip(&bandwidth) {
        *slot = u64_arg(v, "bandwidth")?;
      }
      this.dev.configure_copy(cfg).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn copy_jobs(&self) -> Vec<CopyJobRecord> {
    self.dev.copy_jobs().iter().map(job_record).collect()
  }

  #[napi(catch_unwind)]
  pub fn validate_timed(
    &mut self,
    env: Env,
    thread: u32,
    id: u32,
    places_: Vec<u32>,
    no_wait_gpu: bool,
  ) -> Result<TimedValidateRecord> {
    self.moving(&env, |this| {
      let p = places(&places_)?;
      let v = this
        .dev
        .validate_timed(thread, id, &p, no_wait_gpu)
        .map_err(to_js)?;
      Ok(TimedValidateRecord {
        moved: v.base.moved,
        bytes_moved: BigInt::from(v.base.bytes_moved),
        evictions: v.base.evictions,
        fence: v.fence.unwrap_or(0),
        fence_end: v.fence_end.map(BigInt::from),
      })
    })
  }

  #[napi(catch_unwind)]
  pub fn pending_destroy(&mut self, env: Env) -> Vec<PendingDestroyRecord> {
    self.changing(&env, |this| {
      let list = this.dev.pending_destroy();
      list
        .iter()
        .map(|p| PendingDestroyRecord {
          id: p.id,
          domain: p.domain.index(),
          size: BigInt::from(p.size),
          fences: p.fences.clone(),
          until: this.dev.pending_until(p).map(BigInt::from),
        })
        .collect()
    })
  }
}
