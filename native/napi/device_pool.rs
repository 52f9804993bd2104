//! ttm-pool: the device binding's page-pool calls; converts and forwards to
//! `drmsim_core::device` (tt_pool.rs), like dmem.rs.

use crate::convert::{einval, to_js, Result};
use crate::device::NativeDevice;
use drmsim_core::pool::Caching;
use napi::bindgen_prelude::Float64Array;
use napi_derive::napi;

#[napi]
impl NativeDevice {
  /// `caching`: 0 uncached, 1 write-combined, 2 cached.
  #[napi(catch_unwind)]
  pub fn pool_setup(
    &mut self,
    dma_alloc: bool,
    dma32: bool,
    caching: u32,
    page_pool_size: f64,
  ) -> Result<()> {
    if !(page_pool_size >= 0.0 && page_pool_size.fract() == 0.0 && page_pool_size <= 9007199254740991.0) {
      return Err(einval("pagePoolSize must be a safe non-negative integer".into()));
    }
    let caching = Caching::from_index(caching).map_err(to_js)?;
    self
      .dev
      .pool_setup(dma_alloc, dma32, caching, page_pool_size as u64)
      .map_err(to_js)
  }

  /// The pools' totals as `NativeTtmPools.totals` packs them; empty without a pool.
  #[napi(catch_unwind)]
  pub fn pool_totals(&self) -> Result<Float64Array> {
    let Some(m) = self.dev.pool_manager() else {
      return Ok(Float64Array::new(Vec::new()));
    };
    Ok(crate::pool::pack_totals(&m.totals()))
  }
}
