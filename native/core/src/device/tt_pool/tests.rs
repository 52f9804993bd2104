use crate::device::test_support::*;
use crate::device::*;
use crate::errno::Errno;
use crate::pool::Caching;

fn dev() -> Device {
  let cfg = MemoryConfig {
    vram: 1 << 20,
    gtt: 1 << 20,
    system: None,
  };
  let mut d = Device::with_memory(WwClass::WaitDie, cfg).unwrap();
  d.pool_setup(false, false, Caching::WriteCombined, 1 << 20)
    .unwrap();
  d
}

fn move_to(d: &mut Device, id: u32, to: Domain) {
  lock(d, id);
  d.validate(T0, id, &[place(to)]).unwrap();
  unlock(d, id);
}

#[test]
fn gtt_populates_vram_unpopulates_free_returns() {
  let mut d = dev();
  put_in(&mut d, 1, 20 * 1024, Domain::Gtt);
  let t = d.pool_manager().unwrap().totals();
  assert_eq!((t.in_use, t.fresh, t.caching_set), (5, 5, 5));
  move_to(&mut d, 1, Domain::System);
  assert_eq!(d.pool_manager().unwrap().totals().in_use, 5);
  move_to(&mut d, 1, Domain::Vram);
  let t = d.pool_manager().unwrap().totals();
  assert_eq!((t.in_use, t.pooled), (0, 5));
  move_to(&mut d, 1, Domain::Gtt);
  let t = d.pool_manager().unwrap().totals();
  assert_eq!((t.in_use, t.pooled, t.reused), (5, 0, 5));
  d.put(1, 0).unwrap();
  assert_eq!(d.pool_manager().unwrap().totals().pooled, 5);
}

#[test]
fn no_pool_by_default_and_one_at_most() {
  let mut d = Device::new(WwClass::WaitDie);
  assert!(d.pool_manager().is_none());
  put_in(&mut d, 1, 4096, Domain::Gtt);
  d.pool_setup(true, false, Caching::Cached, 16).unwrap();
  let e = d.pool_setup(true, false, Caching::Cached, 16).unwrap_err();
  assert_eq!(e.errno, Errno::EEXIST);
}
