//! The device binding's memory pressure and policy: LRU priorities, bulk
//! moves, eviction policy and veto, evict placements in a batch, swap. Like
//! device.rs, it converts and forwards to `drmsim_core::device`.

use crate::convert::{einval, to_js, u64_arg, Result};
use crate::device::NativeDevice;
use crate::external::Reported;
use drmsim_core::device::{EvictionPolicy, Place};
use napi::bindgen_prelude::{BigInt, Env};
use napi_derive::napi;

#[napi(object)]
pub struct PressureRecord {
  pub priority: u32,
  pub tags: u32,
  pub bulk: u32,
  pub purgeable: bool,
  pub swapped: bool,
  pub content_lost: bool,
}

#[napi(object)]
pub struct SwapTotalsRecord {
  pub swapouts: BigInt,
  pub swapins: BigInt,
  pub bytes_swapped_out: BigInt,
  pub bytes_swapped_in: BigInt,
  pub purges: BigInt,
  pub bytes_purged: BigInt,
  pub swap_used: BigInt,
}

#[napi]
impl NativeDevice {
  #[napi(catch_unwind)]
  pub fn set_priority(&mut self, env: Env, id: u32, priority: u32) -> Result<()> {
    self.changing(&env, |this| this.dev.set_priority(id, priority).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn set_tags(&mut self, env: Env, id: u32, tags: u32) -> Result<()> {
    self.changing(&env, |this| this.dev.set_tags(id, tags).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn set_purgeable(&mut self, env: Env, id: u32, on: bool) -> Result<()> {
    self.changing(&env, |this| this.dev.set_purgeable(id, on).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn pressure_info(&self, id: u32) -> Result<PressureRecord> {
    let p = self.dev.object(id).map_err(to_js)?.pressure;
    Ok(PressureRecord {
      priority: p.priority as u32,
      tags: p.tags,
      bulk: p.bulk,
      purgeable: p.purgeable,
      swapped: p.swapped,
      content_lost: p.content_lost,
    })
  }

  #[napi(catch_unwind)]
  pub fn lru_lengths(&self, domain: u32) -> Result<Vec<u32>> {
    let d = crate::device::domain(domain)?;
    Ok(self.dev.lru_lengths(d).iter().map(|&n| n as u32).collect())
  }

  #[napi(catch_unwind)]
  pub fn create_bulk_move(&mut self, env: Env, resv: u32) -> Result<u32> {
    self.changing(&env, |this| {
      this
        .dev
        .create_bulk_move((resv != 0).then_some(resv))
        .map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn set_bulk_move(&mut self, env: Env, id: u32, bulk: u32) -> Result<()> {
    self.changing(&env, |this| this.dev.set_bulk_move(id, bulk).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn bulk_move_tail(&mut self, env: Env, bulk: u32) -> Result<()> {
    self.changing(&env, |this| this.dev.bulk_move_tail(bulk).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn set_eviction_policy(
    &mut self,
    env: Env,
    protect_from_priority: u32,
    protect_tags: u32,
  ) -> Result<()> {
    self.changing(&env, |this| {
      let from = u8::try_from(protect_from_priority).map_err(|_| {
        einval(format!(
          "protectFromPriority is 0..4, got {protect_from_priority}"
        ))
      })?;
      this
        .dev
        .set_eviction_policy(EvictionPolicy {
          protect_from_priority: from,
          protect_tags,
        })
        .map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn set_eviction_veto(&mut self, env: Env, ids: Vec<u32>) {
    self.changing(&env, |this| this.dev.set_eviction_veto(&ids))
  }

  #[napi(catch_unwind)]
  pub fn set_evict_placements(
    &mut self,
    env: Env,
    ids: Vec<u32>,
    lens: Vec<u32>,
    places: Vec<u32>,
  ) -> Result<()> {
    self.changing(&env, |this| {
      if ids.len() != lens.len() || lens.iter().map(|&n| n as usize).sum::<usize>() != places.len() {
        return Err(einval(
          "evict placements: ids, lengths and places do not match".into(),
        ));
      }
      let mut batch = Vec::with_capacity(ids.len());
      let mut at = 0;
      for (&id, &n) in ids.iter().zip(&lens) {
        let p = Place::decode_all(&places[at..at + n as usize]).map_err(to_js)?;
        at += n as usize;
        batch.push((id, p));
      }
      this.dev.set_evict_placements(batch).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn configure_swap(&mut self, env: Env, capacity: Option<BigInt>) -> Result<()> {
    self.changing(&env, |this| {
      let c = capacity.map(|c| u64_arg(&c, "capacity")).transpose()?;
      this.dev.configure_swap(c).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn swapout(&mut self, env: Env, bytes: BigInt) -> Result<BigInt> {
    self.moving(&env, |this| {
      let n = u64_arg(&bytes, "bytes")?;
      this.dev.swapout(n).map(BigInt::from).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn swap_totals(&self) -> SwapTotalsRecord {
    let t = self.dev.swap_totals();
    SwapTotalsRecord {
      swapouts: BigInt::from(t.swapouts),
      swapins: BigInt::from(t.swapins),
      bytes_swapped_out: BigInt::from(t.bytes_swapped_out),
      bytes_swapped_in: BigInt::from(t.bytes_swapped_in),
      purges: BigInt::from(t.purges),
      bytes_purged: BigInt::from(t.bytes_purged),
      swap_used: BigInt::from(t.swap_used),
    }
  }
}
