//! Binding of the TTM page pools (`drmsim_core::pool`): one class for the
//! TTM globals and every device pool made in it. One crossing per call;
//! lists cross packed: `[order, dma, from_pool]` per chunk (BigUint64Array),
//! `[owner, caching, order, chunks]` per pool type (Float64Array; owner -1
//! the global types, -2 their DMA32 twins, else a pool id).

use crate::convert::{einval, to_js, Result};
use crate::external::{reported, External, Reported};
use drmsim_core::pool::{Caching, Owner, PoolManager, PoolTotals, TypeId};
use napi::bindgen_prelude::{BigUint64Array, Env, Float64Array};
use napi_derive::napi;

/// A page count as JavaScript passes it: a safe non-negative integer.
fn pages_arg(v: f64, what: &str) -> Result<u64> {
  if v >= 0.0 && v.fract() == 0.0 && v <= 9007199254740991.0 {
    Ok(v as u64)
  } else {
    Err(einval(format!("{what} must be a safe non-negative integer")))
  }
}

fn caching_arg(c: u32) -> Result<Caching> {
  Caching::from_index(c).map_err(to_js)
}

fn owner_code(o: Owner) -> f64 {
  match o {
    Owner::Global { dma32: false } => -1.0,
    Owner::Global { dma32: true } => -2.0,
    Owner::Pool(p) => f64::from(p),
  }
}

fn owner_arg(code: i32) -> Result<Owner> {
  match code {
    -1 => Ok(Owner::Global { dma32: false }),
    -2 => Ok(Owner::Global { dma32: true }),
    p if p >= 0 => Ok(Owner::Pool(p as u32)),
    _ => Err(einval(format!("unknown pool type owner {code}"))),
  }
}

/// The TTM globals (`ttm_pool_mgr_init`) and the device pools made in them.
#[napi(custom_finalize)]
pub struct NativeTtmPools {
  mgr: PoolManager,
  external: External,
}

reported!(NativeTtmPools, |this| this.mgr.heap_bytes());

#[napi]
impl NativeTtmPools {
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, page_pool_size: f64) -> Result<Self> {
    let this = NativeTtmPools {
      mgr: PoolManager::new(pages_arg(page_pool_size, "pagePoolSize")?),
      external: External::default(),
    };
    this.report(&env);
    Ok(this)
  }

  #[napi(catch_unwind)]
  pub fn create_pool(&mut self, dma_alloc: bool, dma32: bool) -> Result<u32> {
    Ok(self.mgr.create_pool(dma_alloc, dma32))
  }

  #[napi(catch_unwind)]
  pub fn fini(&mut self, env: Env, pool: u32) -> Result<()> {
    self.changing(&env, |this| this.mgr.fini(pool).map_err(to_js))
  }

  /// `ttm_pool_alloc`: the new tt's id.
  #[napi(catch_unwind)]
  pub fn alloc(&mut self, env: Env, pool: u32, num_pages: f64, caching: u32) -> Result<u32> {
    self.changing(&env, |this| {
      let (n, c) = (pages_arg(num_pages, "numPages")?, caching_arg(caching)?);
      this.mgr.alloc(pool, n, c).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn free(&mut self, env: Env, tt: u32) -> Result<()> {
    self.changing(&env, |this| this.mgr.free(tt).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn chunks(&self, tt: u32) -> Result<BigUint64Array> {
    let chunks = self.mgr.chunks(tt).map_err(to_js)?;
    Ok(BigUint64Array::new(
      chunks
        .iter()
        .flat_map(|c| [u64::from(c.order), c.dma, u64::from(c.from_pool)])
        .collect(),
    ))
  }

  /// `ttm_pool_shrinker_scan`: pages freed.
  #[napi(catch_unwind)]
  pub fn shrink(&mut self, env: Env, nr_to_scan: f64) -> Result<f64> {
    self.changing(&env, |this| {
      Ok(this.mgr.shrink(pages_arg(nr_to_scan, "nrToScan")?) as f64)
    })
  }

  /// The owner code of the pool type `ttm_pool_select_type` picks, or null.
  #[napi(catch_unwind)]
  pub fn select_type(&self, pool: u32, caching: u32, order: u32) -> Result<Option<f64>> {
    let t = self
      .mgr
      .select_type(pool, caching_arg(caching)?, order)
      .map_err(to_js)?;
    Ok(t.map(|t| owner_code(t.owner)))
  }

  #[napi(catch_unwind)]
  pub fn type_chunks(&self, owner: i32, caching: u32, order: u32) -> Result<u32> {
    let id = TypeId {
      owner: owner_arg(owner)?,
      caching: caching_arg(caching)?,
      order,
    };
    Ok(self.mgr.type_chunks(id).map_err(to_js)? as u32)
  }

  /// Every pool type in shrinker-list order.
  #[napi(catch_unwind)]
  pub fn types(&self) -> Result<Float64Array> {
    Ok(Float64Array::new(
      self
        .mgr
        .types()
        .iter()
        .flat_map(|t| {
          [
            owner_code(t.id.owner),
            t.id.caching as u32 as f64,
            f64::from(t.id.order),
            t.chunks as f64,
          ]
        })
        .collect(),
    ))
  }

  /// `[pooled, pagePoolSize, inUse, fresh, reused, cachingSet, cachingReset, released, shrunk]`.
  #[napi(catch_unwind)]
  pub fn totals(&self) -> Result<Float64Array> {
    Ok(pack_totals(&self.mgr.totals()))
  }

  /// Bytes of native memory reported to V8.
  #[napi(getter)]
  pub fn external_bytes(&self) -> f64 {
    self.external.bytes()
  }
}

/// `[pooled, pagePoolSize, inUse, fresh, reused, cachingSet, cachingReset, released, shrunk]`, as
/// `NativeTtmPools.totals` and `NativeDevice.poolTotals` hand them over.
pub(crate) fn pack_totals(t: &PoolTotals) -> Float64Array {
  let v = [
    t.pooled,
    t.page_pool_size,
    t.in_use,
    t.fresh,
    t.reused,
    t.caching_set,
    t.caching_reset,
    t.released,
    t.shrunk,
  ];
  Float64Array::new(v.iter().map(|&x| x as f64).collect())
}
