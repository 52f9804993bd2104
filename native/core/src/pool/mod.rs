//! TTM page pools (`ttm_pool`): the pages a tt holds come in power-of-two
//! chunks, and a freed chunk whose caching is costly to set up again
//! (write-combined or uncached on x86, or anything a coherent DMA
//! allocation gave) is kept in a pool type per (caching, order) for the
//! next tt instead of going back to the system.
//!
//! One `PoolManager` is the TTM globals: the global write-combined and
//! uncached pool types (and their DMA32 twins), `page_pool_size`, the count
//! of pooled pages and the shrinker's round-robin list of pool types. Device
//! pools (`ttm_pool_init`) are made in it; a pool with `use_dma_alloc` has
//! its own pool types for every caching. Pages are 4 KiB and
//! `MAX_PAGE_ORDER` is 10, as on x86-64. Bus addresses are labels: each
//! fresh chunk gets the next naturally aligned range of its zone (below
//! 4 GiB for DMA32 pools, above it otherwise) and keeps it while pooled.

use crate::errno::{fail, Errno, Result};
use std::collections::{BTreeMap, VecDeque};

pub const PAGE_SIZE: u64 = 4096;
/// The largest chunk order (x86-64 with 4 KiB pages).
pub const MAX_PAGE_ORDER: u32 = 10;
pub const NR_PAGE_ORDERS: usize = MAX_PAGE_ORDER as usize + 1;
/// The largest tt the model takes (1 TiB of 4 KiB pages).
pub const MAX_TT_PAGES: u64 = 1 << 28;
/// `page_pool_size` when none is given: half of a 8 GiB machine, in pages.
pub const DEFAULT_PAGE_POOL_SIZE: u64 = 1 << 20;

const DMA32_BASE: u64 = 1 << 20;
const DMA32_END: u64 = 1 << 32;
const NORMAL_BASE: u64 = 1 << 32;

/// `enum ttm_caching`, numbered as the kernel does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Caching {
  Uncached = 0,
  WriteCombined = 1,
  Cached = 2,
}

impl Caching {
  pub const ALL: [Caching; 3] = [Caching::Uncached, Caching::WriteCombined, Caching::Cached];

  pub fn from_index(i: u32) -> Result<Caching> {
    match i {
      0 => Ok(Caching::Uncached),
      1 => Ok(Caching::WriteCombined),
      2 => Ok(Caching::Cached),
      _ => fail(Errno::EINVAL, format!("unknown caching {i}")),
    }
  }
}

/// Whose pool type: the global ones (`dma32` or not) or a device pool's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
  Global { dma32: bool },
  Pool(u32),
}

/// A pool type's name: `(owner, caching, order)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeId {
  pub owner: Owner,
  pub caching: Caching,
  pub order: u32,
}

/// A run of `1 << order` pages a tt holds, contiguous on the bus from `dma`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
  pub order: u32,
  pub dma: u64,
  /// Taken from a pool type rather than fresh from the system.
  pub from_pool: bool,
}

/// What a pool type holds and where it sits on the shrinker list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeCount {
  pub id: TypeId,
  pub chunks: usize,
}

/// Page counts since the manager was made, and now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolTotals {
  /// Pages in pool types now (`allocated_pages`).
  pub pooled: u64,
  pub page_pool_size: u64,
  /// Pages held by populated tts now.
  pub in_use: u64,
  /// Pages allocated fresh from the system.
  pub fresh: u64,
  /// Pages taken from a pool type.
  pub reused: u64,
  /// Fresh pages switched from write-back to the tt's WC/UC caching.
  pub caching_set: u64,
  /// Pages set back to write-back before going to the system.
  pub caching_reset: u64,
  /// Pages given back to the system (freed unpooled, shrunk or at fini).
  pub released: u64,
  /// Pages the shrinker freed (`ttm_pool_shrink`, the page_pool_size trim included).
  pub shrunk: u64,
}

struct DevicePool {
  dma_alloc: bool,
  dma32: bool,
  /// Own pool types, `[caching][order]`, when `dma_alloc`.
  own: Option<Vec<VecDeque<u64>>>,
  live_tts: u32,
}

struct Tt {
  pool: u32,
  caching: Caching,
  num_pages: u64,
  chunks: Vec<Chunk>,
}

pub struct PoolManager {
  page_pool_size: u64,
  /// Global pool types, `[dma32][wc, uc][order]`, as queues of bus addresses.
  global: Vec<VecDeque<u64>>,
  pools: Vec<Option<DevicePool>>,
  tts: BTreeMap<u32, Tt>,
  next_tt: u32,
  shrinker: VecDeque<TypeId>,
  next_dma: u64,
  next_dma32: u64,
  totals: PoolTotals,
}

fn global_index(dma32: bool, caching: Caching, order: u32) -> usize {
  let c = if caching == Caching::WriteCombined { 0 } else { 1 };
  (usize::from(dma32) * 2 + c) * NR_PAGE_ORDERS + order as usize
}

fn own_index(caching: Caching, order: u32) -> usize {
  caching as usize * NR_PAGE_ORDERS + order as usize
}

/// `__fls`: the order of the largest power of two not above `n` (n > 0).
fn fls(n: u64) -> u32 {
  63 - n.leading_zeros()
}

impl PoolManager {
  /// `ttm_pool_mgr_init`: the global pool types join the shrinker list,
  /// per order write-combined, uncached, then their DMA32 twins.
  pub fn new(page_pool_size: u64) -> PoolManager {
    let mut shrinker = VecDeque::with_capacity(4 * NR_PAGE_ORDERS);
    // Per order: write-combined, uncached, then the DMA32 twins.
    for order in 0..=MAX_PAGE_ORDER {
      for dma32 in [false, true] {
        for caching in [Caching::WriteCombined, Caching::Uncached] {
          let owner = Owner::Global { dma32 };
          shrinker.push_back(TypeId {
            owner,
            caching,
            order,
          });
        }
      }
    }
    PoolManager {
      page_pool_size,
      global: vec![VecDeque::new(); 4 * NR_PAGE_ORDERS],
      pools: Vec::new(),
      tts: BTreeMap::new(),
      next_tt: 1,
      shrinker,
      next_dma: NORMAL_BASE,
      next_dma32: DMA32_BASE,
      totals: PoolTotals {
        page_pool_size,
        ..PoolTotals::default()
      },
    }
  }

  /// `ttm_pool_init`: a device pool. With `dma_alloc` its own pool types
  /// (every caching, every order) join the shrinker list.
  pub fn create_pool(&mut self, dma_alloc: bool, dma32: bool) -> u32 {
    let id = self.pools.len() as u32;
    let own = dma_alloc.then(|| {
      for caching in Caching::ALL {
        for order in 0..=MAX_PAGE_ORDER {
          let owner = Owner::Pool(id);
          self.shrinker.push_back(TypeId {
            owner,
            caching,
            order,
          });
        }
      }
      vec![VecDeque::new(); 3 * NR_PAGE_ORDERS]
    });
    self.pools.push(Some(DevicePool {
      dma_alloc,
      dma32,
      own,
      live_tts: 0,
    }));
    id
  }

  fn pool(&self, id: u32) -> Result<&DevicePool> {
    match self.pools.get(id as usize) {
      Some(Some(p)) => Ok(p),
      Some(None) => fail(Errno::EINVAL, format!("pool {id} was finished")),
      None => fail(Errno::EINVAL, format!("no pool {id}")),
    }
  }

  /// `ttm_pool_select_type`: the pool type a chunk of this caching and
  /// order goes to, or None (cached pages without coherent DMA go back to
  /// the system).
  pub fn select_type(&self, pool: u32, caching: Caching, order: u32) -> Result<Option<TypeId>> {
    let p = self.pool(pool)?;
    Ok(select(p, pool, caching, order))
  }

  fn queue(&mut self, id: TypeId) -> &mut VecDeque<u64> {
    match id.owner {
      Owner::Global { dma32 } => &mut self.global[global_index(dma32, id.caching, id.order)],
      Owner::Pool(p) => {
        let own = self.pools[p as usize].as_mut().and_then(|p| p.own.as_mut());
        &mut own.expect("a registered pool type")[own_index(id.caching, id.order)]
      }
    }
  }

  fn chunks_in(&self, id: TypeId) -> usize {
    match id.owner {
      Owner::Global { dma32 } => self.global[global_index(dma32, id.caching, id.order)].len(),
      Owner::Pool(p) => match &self.pools[p as usize] {
        Some(DevicePool { own: Some(own), .. }) => own[own_index(id.caching, id.order)].len(),
        _ => 0,
      },
    }
  }

  /// A fresh chunk's bus address: the next aligned range of its zone.
  fn fresh_dma(&mut self, dma32: bool, order: u32) -> u64 {
    let size = PAGE_SIZE << order;
    let next = if dma32 {
      &mut self.next_dma32
    } else {
      &mut self.next_dma
    };
    let mut start = next.div_ceil(size) * size;
    if dma32 && start + size > DMA32_END {
      // Labels only: the zone wraps rather than runs out.
      start = DMA32_BASE.div_ceil(size) * size;
    }
    *next = start + size;
    start
  }

  /// `ttm_pool_alloc`: a tt of `num_pages` pages with `caching`, filled in
  /// chunks of the largest order that fits what is left (never growing
  /// again), each from its pool type while the pools give, fresh from the
  /// system from the first miss on. Returns the tt's id.
  pub fn alloc(&mut self, pool: u32, num_pages: u64, caching: Caching) -> Result<u32> {
    let p = self.pool(pool)?;
    if num_pages == 0 || num_pages > MAX_TT_PAGES {
      return fail(
        Errno::EINVAL,
        format!("a tt has 1 to {MAX_TT_PAGES} pages, not {num_pages}"),
      );
    }
    if self.next_tt == u32::MAX {
      return fail(Errno::ENOMEM, "out of tt ids");
    }
    let dma32 = p.dma32;
    let mut chunks = Vec::new();
    let mut remaining = num_pages;
    let mut order = MAX_PAGE_ORDER;
    let mut allow_pools = true;
    while remaining > 0 {
      order = order.min(fls(remaining));
      let pages = 1u64 << order;
      let taken = match select(self.pool(pool)?, pool, caching, order) {
        Some(pt) if allow_pools => self.queue(pt).pop_front(),
        _ => None,
      };
      let chunk = match taken {
        Some(dma) => {
          self.totals.pooled -= pages;
          self.totals.reused += pages;
          Chunk {
            order,
            dma,
            from_pool: true,
          }
        }
        None => {
          allow_pools = false;
          self.totals.fresh += pages;
          if caching != Caching::Cached {
            self.totals.caching_set += pages;
          }
          Chunk {
            order,
            dma: self.fresh_dma(dma32, order),
            from_pool: false,
          }
        }
      };
      chunks.push(chunk);
      remaining -= pages;
    }
    self.totals.in_use += num_pages;
    if let Some(Some(p)) = self.pools.get_mut(pool as usize) {
      p.live_tts += 1;
    }
    let id = self.next_tt;
    self.next_tt += 1;
    self.tts.insert(
      id,
      Tt {
        pool,
        caching,
        num_pages,
        chunks,
      },
    );
    Ok(id)
  }

  /// The chunks of a populated tt, in page order.
  pub fn chunks(&self, tt: u32) -> Result<&[Chunk]> {
    match self.tts.get(&tt) {
      Some(t) => Ok(&t.chunks),
      None => fail(Errno::EINVAL, format!("no populated tt {tt}")),
    }
  }

  /// `ttm_pool_free`: each chunk to its pool type, or to the system; then
  /// the shrinker trims the pools back to `page_pool_size`.
  pub fn free(&mut self, tt: u32) -> Result<()> {
    let Some(t) = self.tts.remove(&tt) else {
      return fail(Errno::EINVAL, format!("no populated tt {tt}"));
    };
    let p = self.pools[t.pool as usize]
      .as_ref()
      .expect("a tt's pool outlives it");
    let types: Vec<Option<TypeId>> = t
      .chunks
      .iter()
      .map(|c| select(p, t.pool, t.caching, c.order))
      .collect();
    for (c, pt) in t.chunks.iter().zip(types) {
      match pt {
        Some(pt) => {
          self.queue(pt).push_back(c.dma);
          self.totals.pooled += 1 << c.order;
        }
        None => self.release(t.caching, c.order),
      }
    }
    self.totals.in_use -= t.num_pages;
    if let Some(Some(p)) = self.pools.get_mut(t.pool as usize) {
      p.live_tts -= 1;
    }
    while self.totals.pooled > self.page_pool_size {
      let over = self.totals.pooled - self.page_pool_size;
      self.shrink_one(over);
    }
    Ok(())
  }

  /// A chunk goes back to the system (`ttm_pool_free_page`).
  fn release(&mut self, caching: Caching, order: u32) {
    let pages = 1u64 << order;
    if caching != Caching::Cached {
      self.totals.caching_reset += pages;
    }
    self.totals.released += pages;
  }

  /// `ttm_pool_shrink`: the pool type at the head of the shrinker list
  /// moves to its tail and gives up to `nr` of its oldest chunks back to the
  /// system. Returns the pages freed.
  fn shrink_one(&mut self, nr: u64) -> u64 {
    let Some(pt) = self.shrinker.pop_front() else {
      return 0;
    };
    self.shrinker.push_back(pt);
    let q = self.queue(pt);
    let n = (nr.min(q.len() as u64)) as usize;
    q.drain(..n);
    let pages = (n as u64) << pt.order;
    for _ in 0..n {
      self.release(pt.caching, pt.order);
    }
    self.totals.pooled -= pages;
    self.totals.shrunk += pages;
    pages
  }

  /// `ttm_pool_shrinker_scan`: shrinks until `nr_to_scan` pages are freed
  /// or the pools are empty (at least one step). Returns the pages freed.
  pub fn shrink(&mut self, nr_to_scan: u64) -> u64 {
    let mut freed = 0;
    loop {
      freed += self.shrink_one(nr_to_scan);
      if freed >= nr_to_scan || self.totals.pooled == 0 {
        return freed;
      }
    }
  }

  /// `ttm_pool_fini`: the pool's own pool types leave the shrinker list and
  /// their pages go back to the system. Refused (EBUSY) while a tt of the
  /// pool is populated: the kernel frees tts first.
  pub fn fini(&mut self, pool: u32) -> Result<()> {
    let p = self.pool(pool)?;
    if p.live_tts > 0 {
      return fail(
        Errno::EBUSY,
        format!("pool {pool} still has {} populated tts", p.live_tts),
      );
    }
    let own = self.pools[pool as usize].take().and_then(|p| p.own);
    self.shrinker.retain(|t| t.owner != Owner::Pool(pool));
    for (i, q) in own.into_iter().flatten().enumerate() {
      let caching = Caching::ALL[i / NR_PAGE_ORDERS];
      let order = (i % NR_PAGE_ORDERS) as u32;
      for _ in 0..q.len() {
        self.release(caching, order);
      }
      self.totals.pooled -= (q.len() as u64) << order;
    }
    Ok(())
  }

  /// `(dma_alloc, dma32)` of a live pool.
  pub fn pool_flags(&self, pool: u32) -> Result<(bool, bool)> {
    let p = self.pool(pool)?;
    Ok((p.dma_alloc, p.dma32))
  }

  /// Every pool type, in shrinker-list order, with its chunk count.
  pub fn types(&self) -> Vec<TypeCount> {
    self
      .shrinker
      .iter()
      .map(|&id| TypeCount {
        id,
        chunks: self.chunks_in(id),
      })
      .collect()
  }

  /// Chunks in one pool type (0 for a type that does not exist, as the
  /// own types of a pool without coherent DMA).
  pub fn type_chunks(&self, id: TypeId) -> Result<usize> {
    if id.order > MAX_PAGE_ORDER {
      return fail(
        Errno::EINVAL,
        format!("order {} is above MAX_PAGE_ORDER", id.order),
      );
    }
    if let Owner::Pool(p) = id.owner {
      self.pool(p)?;
    }
    if matches!(id.owner, Owner::Global { .. }) && id.caching == Caching::Cached {
      return Ok(0);
    }
    Ok(self.chunks_in(id))
  }

  pub fn totals(&self) -> PoolTotals {
    self.totals
  }

  /// Heap bytes, roughly, for the binding to report.
  pub fn heap_bytes(&self) -> usize {
    let chunks: usize = self.tts.values().map(|t| t.chunks.capacity()).sum();
    let pooled = (self.totals.pooled as usize / 4).max(self.global.len());
    chunks * size_of::<Chunk>() + crate::heap::btree::<u32, Tt>(self.tts.len()) + pooled * 8
  }
}

fn select(p: &DevicePool, id: u32, caching: Caching, order: u32) -> Option<TypeId> {
  if p.dma_alloc {
    return Some(TypeId {
      owner: Owner::Pool(id),
      caching,
      order,
    });
  }
  (caching != Caching::Cached).then_some(TypeId {
    owner: Owner::Global { dma32: p.dma32 },
    caching,
    order,
  })
}

#[cfg(test)]
mod tests;
