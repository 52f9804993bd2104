//! ttm-pool: the device's tts drawn from TTM page pools (`crate::pool`),
//! opt-in with `pool_setup`. A buffer's tt is populated when a move puts it
//! in a `use_tt` type other than SYSTEM (`ttm_bo_handle_move_mem`) and
//! unpopulated, its chunks back to the pool, when it lands in a type without
//! a tt, is purged, swapped out or freed. Without a pool every hook is one
//! `None` test.

use super::{Device, Domain};
use crate::errno::{fail, Errno, Result};
use crate::pool::{Caching, PoolManager, PAGE_SIZE};
use rustc_hash::FxHashMap;

pub(crate) struct TtPool {
  pub(crate) mgr: PoolManager,
  pool: u32,
  caching: Caching,
  /// Populated tts by object id.
  tts: FxHashMap<u32, u32>,
}

impl Device {
  /// Gives the device a page pool (`ttm_pool_init`) in its own TTM globals;
  /// EEXIST when it has one.
  pub fn pool_setup(
    &mut self,
    dma_alloc: bool,
    dma32: bool,
    caching: Caching,
    page_pool_size: u64,
  ) -> Result<()> {
    if self.tt_pool.is_some() {
      return fail(Errno::EEXIST, "the device already has a page pool");
    }
    let mut mgr = PoolManager::new(page_pool_size);
    let pool = mgr.create_pool(dma_alloc, dma32);
    self.tt_pool = Some(Box::new(TtPool {
      mgr,
      pool,
      caching,
      tts: FxHashMap::default(),
    }));
    Ok(())
  }

  /// The device's page pools, when it has them.
  pub fn pool_manager(&self) -> Option<&PoolManager> {
    self.tt_pool.as_ref().map(|p| &p.mgr)
  }

  /// After a move: populate in a tt type, unpopulate outside one.
  pub(super) fn tt_after_move(&mut self, id: u32, to: Domain) {
    let Some(p) = self.tt_pool.as_mut() else { return };
    let use_tt = self.mem.get(to).is_some_and(|m| m.use_tt);
    let size = self.objects.get(id).map_or(0, |o| o.size);
    if !use_tt {
      if let Some(tt) = p.tts.remove(&id) {
        let _ = p.mgr.free(tt);
      }
    } else if to != Domain::System && !p.tts.contains_key(&id) && size > 0 {
      // Only a tt of more than MAX_TT_PAGES fails: it stays unpopulated.
      if let Ok(tt) = p.mgr.alloc(p.pool, size.div_ceil(PAGE_SIZE), p.caching) {
        p.tts.insert(id, tt);
      }
    }
  }

  /// Purge, swap-out, free: the tt's chunks go back to the pool.
  pub(super) fn tt_unpopulate(&mut self, id: u32) {
    let Some(p) = self.tt_pool.as_mut() else { return };
    if let Some(tt) = p.tts.remove(&id) {
      let _ = p.mgr.free(tt);
    }
  }
}

#[cfg(test)]
mod tests;
