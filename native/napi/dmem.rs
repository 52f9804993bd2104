//! The device binding's dmem cgroup calls (issue 16): converts and forwards
//! to `drmsim_core::device` (dmem.rs), like device.rs.

use crate::convert::{einval, to_js, u64_arg, Result};
use crate::device::NativeDevice;
use crate::external::Reported;
use drmsim_core::device::{DmemMode, Domain};
use napi::bindgen_prelude::{BigInt, Env};
use napi_derive::napi;

#[napi(object)]
pub struct CgroupRecord {
  pub parent: u32,
  pub name: String,
  pub usage: BigInt,
  pub min: BigInt,
  pub low: BigInt,
  pub max: BigInt,
  pub max_hits: BigInt,
  pub emin: BigInt,
  pub elow: BigInt,
}

fn region(v: u32) -> Result<Domain> {
  match v {
    1 => Ok(Domain::System),
    2 => Ok(Domain::Gtt),
    3 => Ok(Domain::Vram),
    _ => Err(einval(format!("a dmem region is a domain 1..3, got {v}"))),
  }
}

#[napi]
impl NativeDevice {
  #[napi(catch_unwind)]
  pub fn dmem_setup(&mut self, mode: u32, vram: bool, gtt: bool) -> Result<()> {
    let m = match mode {
      0 => DmemMode::Upstream,
      1 => DmemMode::Proposed,
      _ => return Err(einval(format!("dmem mode must be 0 or 1, got {mode}"))),
    };
    self.dev.dmem_setup(m, vram, gtt).map_err(to_js)
  }

  #[napi(catch_unwind)]
  pub fn cgroup_create(&mut self, env: Env, parent: u32, name: String) -> Result<u32> {
    self.changing(&env, |this| this.dev.cgroup_create(parent, &name).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn cgroup_destroy(&mut self, id: u32) -> Result<()> {
    self.dev.cgroup_destroy(id).map_err(to_js)
  }

  #[napi(catch_unwind)]
  pub fn cgroup_set_limit(&mut self, id: u32, domain: u32, which: u32, value: BigInt) -> Result<()> {
    let v = u64_arg(&value, "value")?;
    self
      .dev
      .cgroup_set_limit(id, region(domain)?, which, v)
      .map_err(to_js)
  }

  #[napi(catch_unwind)]
  pub fn cgroup_info(&self, id: u32, domain: u32) -> Result<CgroupRecord> {
    let (parent, name) = self.dev.cgroup_info(id).map_err(to_js)?;
    let name = name.to_string();
    let s = self.dev.cgroup_stats(id, region(domain)?).map_err(to_js)?;
    let k = s.counter;
    Ok(CgroupRecord {
      parent,
      name,
      usage: BigInt::from(k.usage),
      min: BigInt::from(k.min),
      low: BigInt::from(k.low),
      max: BigInt::from(k.max),
      max_hits: BigInt::from(k.max_hits),
      emin: BigInt::from(s.emin),
      elow: BigInt::from(s.elow),
    })
  }

  #[napi(catch_unwind)]
  pub fn cgroup_assign(&mut self, obj: u32, cg: u32) -> Result<()> {
    self.dev.cgroup_assign(obj, cg).map_err(to_js)
  }

  #[napi(catch_unwind)]
  pub fn object_cgroup(&self, obj: u32) -> Result<u32> {
    self.dev.object_cgroup(obj).map_err(to_js)
  }
}
