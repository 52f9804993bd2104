use super::*;

const UC: Caching = Caching::Uncached;
const WC: Caching = Caching::WriteCombined;
const WB: Caching = Caching::Cached;

fn orders(m: &PoolManager, tt: u32) -> Vec<u32> {
  m.chunks(tt).unwrap().iter().map(|c| c.order).collect()
}

fn own(pool: u32, caching: Caching, order: u32) -> TypeId {
  TypeId {
    owner: Owner::Pool(pool),
    caching,
    order,
  }
}

fn global(caching: Caching, order: u32) -> TypeId {
  TypeId {
    owner: Owner::Global { dma32: false },
    caching,
    order,
  }
}

#[test]
fn chunks_take_the_largest_order_that_fits_and_never_grow() {
  let mut m = PoolManager::new(DEFAULT_PAGE_POOL_SIZE);
  let p = m.create_pool(false, false);
  let tt = m.alloc(p, 2048 + 5, UC).unwrap();
  assert_eq!(orders(&m, tt), vec![10, 10, 2, 0]);
  let tt = m.alloc(p, 7, WB).unwrap();
  assert_eq!(orders(&m, tt), vec![2, 1, 0]);
  let c = m.chunks(tt).unwrap();
  // Fresh chunks are naturally aligned on the bus, above 4 GiB.
  assert!(c
    .iter()
    .all(|c| c.dma >= 1 << 32 && c.dma % (PAGE_SIZE << c.order) == 0));
}

#[test]
fn uncached_chunks_go_to_the_global_pool_and_come_back() {
  let mut m = PoolManager::new(DEFAULT_PAGE_POOL_SIZE);
  let p = m.create_pool(false, false);
  let tt = m.alloc(p, 4, UC).unwrap();
  let dma = m.chunks(tt).unwrap()[0].dma;
  assert_eq!(m.totals().caching_set, 4);
  m.free(tt).unwrap();
  assert_eq!(m.type_chunks(global(UC, 2)).unwrap(), 1);
  assert_eq!(m.type_chunks(own(p, UC, 2)).unwrap(), 0);
  assert_eq!(m.totals().pooled, 4);
  // Another device without coherent DMA shares the global pools.
  let q = m.create_pool(false, false);
  let tt = m.alloc(q, 4, UC).unwrap();
  assert_eq!(
    m.chunks(tt).unwrap(),
    &[Chunk {
      order: 2,
      dma,
      from_pool: true
    }]
  );
  let t = m.totals();
  assert_eq!(
    (t.pooled, t.reused, t.fresh, t.caching_set, t.in_use),
    (0, 4, 4, 4, 4)
  );
}

#[test]
fn cached_pages_without_dma_alloc_are_not_pooled() {
  let mut m = PoolManager::new(DEFAULT_PAGE_POOL_SIZE);
  let p = m.create_pool(false, false);
  assert_eq!(m.select_type(p, WB, 0).unwrap(), None);
  let tt = m.alloc(p, 3, WB).unwrap();
  m.free(tt).unwrap();
  let t = m.totals();
  assert_eq!(
    (t.pooled, t.released, t.caching_set, t.caching_reset),
    (0, 3, 0, 0)
  );
}

#[test]
fn dma_alloc_pools_every_caching_in_its_own_types() {
  let mut m = PoolManager::new(DEFAULT_PAGE_POOL_SIZE);
  let p = m.create_pool(true, false);
  assert_eq!(m.types().len(), 44 + 33);
  let tt = m.alloc(p, 2, WB).unwrap();
  m.free(tt).unwrap();
  assert_eq!(m.type_chunks(own(p, WB, 1)).unwrap(), 1);
  m.fini(p).unwrap();
  assert_eq!(m.types().len(), 44);
  let t = m.totals();
  assert_eq!((t.pooled, t.released, t.caching_reset), (0, 2, 0));
  assert_eq!(m.alloc(p, 1, WB).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn after_the_first_miss_every_chunk_is_fresh() {
  let mut m = PoolManager::new(DEFAULT_PAGE_POOL_SIZE);
  let p = m.create_pool(false, false);
  let one = m.alloc(p, 1, WC).unwrap();
  m.free(one).unwrap();
  // Order 1 misses (nothing pooled), so the order-0 chunk is fresh too.
  let tt = m.alloc(p, 3, WC).unwrap();
  assert!(m.chunks(tt).unwrap().iter().all(|c| !c.from_pool));
  assert_eq!(m.totals().pooled, 1);
}

#[test]
fn dma32_pools_use_their_own_globals_and_low_addresses() {
  let mut m = PoolManager::new(DEFAULT_PAGE_POOL_SIZE);
  let p = m.create_pool(false, true);
  let tt = m.alloc(p, 1, WC).unwrap();
  assert!(m.chunks(tt).unwrap()[0].dma < 1 << 32);
  m.free(tt).unwrap();
  let dma32 = TypeId {
    owner: Owner::Global { dma32: true },
    caching: WC,
    order: 0,
  };
  assert_eq!(m.type_chunks(dma32).unwrap(), 1);
  assert_eq!(m.type_chunks(global(WC, 0)).unwrap(), 0);
}

#[test]
fn shrink_walks_pool_types_round_robin() {
  let mut m = PoolManager::new(DEFAULT_PAGE_POOL_SIZE);
  let p = m.create_pool(false, false);
  let a = m.alloc(p, 1, WC).unwrap();
  let b = m.alloc(p, 1, UC).unwrap();
  m.free(a).unwrap();
  m.free(b).unwrap();
  // The head of the list is global wc order 0: one step frees its page.
  assert_eq!(m.shrink(1), 1);
  assert_eq!(m.type_chunks(global(WC, 0)).unwrap(), 0);
  assert_eq!(m.types()[0].id, global(UC, 0));
  // Scanning for more than is pooled stops when the pools are empty.
  assert_eq!(m.shrink(100), 1);
  let t = m.totals();
  assert_eq!((t.pooled, t.shrunk, t.caching_reset, t.released), (0, 2, 2, 2));
}

#[test]
fn free_trims_the_pools_to_page_pool_size() {
  let mut m = PoolManager::new(4);
  let p = m.create_pool(false, false);
  let a = m.alloc(p, 4, UC).unwrap();
  let b = m.alloc(p, 2, UC).unwrap();
  m.free(a).unwrap();
  assert_eq!(m.totals().pooled, 4);
  m.free(b).unwrap();
  let t = m.totals();
  assert!(t.pooled <= 4);
  assert_eq!(t.pooled + t.shrunk, 6);
}

#[test]
fn bad_input_leaves_the_manager_unchanged() {
  let mut m = PoolManager::new(DEFAULT_PAGE_POOL_SIZE);
  let p = m.create_pool(true, false);
  let tt = m.alloc(p, 4, UC).unwrap();
  let before = (m.totals(), m.types());
  assert_eq!(m.alloc(p, 0, UC).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(m.alloc(p, MAX_TT_PAGES + 1, UC).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(m.alloc(9, 1, UC).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(Caching::from_index(3).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(m.fini(p).unwrap_err().errno, Errno::EBUSY);
  assert_eq!(m.type_chunks(own(p, UC, 11)).unwrap_err().errno, Errno::EINVAL);
  assert_eq!((m.totals(), m.types()), before);
  m.free(tt).unwrap();
  let after = (m.totals(), m.types());
  assert_eq!(m.free(tt).unwrap_err().errno, Errno::EINVAL);
  assert_eq!((m.totals(), m.types()), after);
}
