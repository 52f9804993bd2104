//! Placement, validation and eviction, after ttm_bo_validate_test.c's cases.

use crate::device::test_support::*;
use crate::device::*;

const K: u64 = 1024;

fn dev(vram: u64, gtt: u64) -> Device {
  let cfg = MemoryConfig {
    vram,
    gtt,
    system: None,
  };
  // These cases count drm_mm ranges: VRAM on the range manager, not the default buddy.
  let mm = ManagerOptions {
    vram: AllocKind::Mm,
    ..ManagerOptions::default()
  };
  Device::with_managers(WwClass::WaitDie, cfg, &mm).unwrap()
}

#[test]
fn basic_and_same_placement() {
  let mut d = dev(1 << 20, 1 << 20);
  d.create_object(1, 8 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 1);
  let top = Place::new(Domain::Vram, PL_TOPDOWN).unwrap();
  let v = d.validate(T0, 1, &[top]).unwrap();
  assert_eq!(
    v,
    Validated {
      moved: true,
      bytes_moved: 8 * K,
      evictions: 0
    }
  );
  assert_eq!(d.object(1).unwrap().domain, Domain::Vram);
  assert_eq!(d.object(1).unwrap().node, Some((1 << 20) - 8 * K));
  let v = d.validate(T0, 1, &[place(Domain::Vram)]).unwrap();
  assert_eq!(v, Validated::default());
  assert_eq!(d.domain_stats(Domain::Vram).unwrap().used, 8 * K);
}

#[test]
fn unlocked_invalid_and_failed() {
  let mut d = dev(64 * K, 0);
  d.create_object(1, 128 * K, None, Profile::GemVram2024).unwrap();
  let e = d.validate(T0, 1, &[place(Domain::Vram)]).unwrap_err();
  assert_eq!(e.errno, Errno::EINVAL);
  assert_eq!(d.take_violations()[0].kind, ViolationKind::ValidateUnlocked);
  lock(&mut d, 1);
  // No GTT manager: the place is skipped, nothing else fits.
  assert_eq!(
    d.validate(T0, 1, &[place(Domain::Gtt)]).unwrap_err().errno,
    Errno::ENOMEM
  );
  assert_eq!(
    d.validate(T0, 1, &[place(Domain::Vram)]).unwrap_err().errno,
    Errno::ENOMEM
  );
  assert_eq!(Place::decode(10, 0, 0).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(Place::decode(3 | 1 << 13, 0, 0).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(d.object(1).unwrap().domain, Domain::System);
}

#[test]
fn pinned_gives_einval_and_fallback_is_used_second() {
  let mut d = dev(16 * K, 1 << 20);
  d.create_object(1, 4 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 1);
  d.pin(T0, 1, PinDomain::Current).unwrap();
  assert_eq!(
    d.validate(T0, 1, &[place(Domain::Vram)]).unwrap_err().errno,
    Errno::EINVAL
  );
  d.unpin(T0, 1).unwrap();
  d.create_object(2, 32 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 2);
  let pl = [
    Place::new(Domain::Vram, PL_DESIRED).unwrap(),
    Place::new(Domain::Gtt, PL_FALLBACK).unwrap(),
  ];
  let v = d.validate(T0, 2, &pl).unwrap();
  assert_eq!(v.bytes_moved, 32 * K);
  assert_eq!(d.object(2).unwrap().domain, Domain::Gtt);
  assert_eq!(d.lru(Domain::Gtt), [2]);
}

#[test]
fn happy_evict_takes_the_lru_head() {
  let mut d = dev(1 << 20, 1 << 20);
  put_in(&mut d, 1, 8 * K, Domain::Vram);
  put_in(&mut d, 2, 512 * K, Domain::Vram);
  put_in(&mut d, 3, (1 << 20) - 520 * K, Domain::Vram);
  for id in 1..=3 {
    d.set_evict_placement(id, Some(vec![place(Domain::System)]))
      .unwrap();
  }
  assert_eq!(d.lru(Domain::Vram), [1, 2, 3]);
  d.create_object(4, 4 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 4);
  d.track_moves(true);
  let v = d.validate(T0, 4, &[place(Domain::Vram)]).unwrap();
  assert_eq!(
    v,
    Validated {
      moved: true,
      bytes_moved: 2 * 8 * K + 4 * K,
      evictions: 1
    }
  );
  assert_eq!(d.object(1).unwrap().domain, Domain::System);
  assert_eq!(d.object(2).unwrap().domain, Domain::Vram);
  let m = d.take_moves();
  // Object 1 bounces through GTT to SYSTEM (two evicted moves), then 4 moves in.
  assert_eq!(m.len(), 3);
  assert!(m[0].evicted && m[0].id == 1 && m[0].to == Some(Domain::Gtt));
  assert!(m[1].evicted && m[1].id == 1 && m[1].to == Some(Domain::System));
  unlock(&mut d, 4);
  assert_eq!(d.lru(Domain::Vram), [2, 3, 4]);
}

#[test]
fn all_pinned_and_allowed_only() {
  let mut d = dev(1 << 20, 1 << 20);
  put_in(&mut d, 1, 1 << 20, Domain::Vram);
  lock(&mut d, 1);
  d.pin(T0, 1, PinDomain::Current).unwrap();
  unlock(&mut d, 1);
  d.create_object(2, 4 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 2);
  assert_eq!(
    d.validate(T0, 2, &[place(Domain::Vram)]).unwrap_err().errno,
    Errno::ENOMEM
  );

  let mut d = dev(1 << 20, 1 << 20);
  put_in(&mut d, 1, 512 * K, Domain::Vram);
  put_in(&mut d, 2, 512 * K, Domain::Vram);
  lock(&mut d, 1);
  d.pin(T0, 1, PinDomain::Current).unwrap();
  unlock(&mut d, 1);
  d.set_evict_placement(2, Some(vec![place(Domain::System)]))
    .unwrap();
  d.create_object(3, 4 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 3);
  let v = d.validate(T0, 3, &[place(Domain::Vram)]).unwrap();
  assert_eq!(v.bytes_moved, 2 * 512 * K + 4 * K);
  assert_eq!(d.object(1).unwrap().domain, Domain::Vram);
  assert_eq!(d.object(2).unwrap().domain, Domain::System);
}

#[test]
fn locked_victims_are_skipped_and_purge() {
  let mut d = dev(64 * K, 1 << 20);
  put_in(&mut d, 1, 32 * K, Domain::Vram);
  put_in(&mut d, 2, 32 * K, Domain::Vram);
  // Another thread holds 1: trylock fails, 2 goes instead.
  let r1 = d.object(1).unwrap().resv;
  d.lock(7, r1, None, LockMode::Normal).unwrap();
  d.set_evict_placement(2, Some(vec![])).unwrap();
  d.create_object(3, 32 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 3);
  let v = d.validate(T0, 3, &[place(Domain::Vram)]).unwrap();
  assert_eq!(v.evictions, 1);
  let o2 = d.object(2).unwrap();
  assert!(o2.purged && o2.node.is_none());
  assert_eq!(d.object(1).unwrap().domain, Domain::Vram);
}

#[test]
fn ticketed_eviction_takes_one_victim_per_walk() {
  let mut d = dev(64 * K, 1 << 20);
  put_in(&mut d, 1, 32 * K, Domain::Vram);
  put_in(&mut d, 2, 32 * K, Domain::Vram);
  d.create_object(3, 64 * K, None, Profile::GemVram2024).unwrap();
  let ctx = d.ctx_init(T0).unwrap();
  for id in [1, 2, 3] {
    let r = d.object(id).unwrap().resv;
    assert_eq!(
      d.lock(T0, r, Some(ctx), LockMode::Normal).unwrap(),
      LockResult::Ok
    );
  }
  // Only the ticket reaches 1 and 2, but they are this context's: EALREADY, skipped.
  assert_eq!(
    d.validate(T0, 3, &[place(Domain::Vram)]).unwrap_err().errno,
    Errno::ENOMEM
  );
  let r1 = d.object(1).unwrap().resv;
  let r2 = d.object(2).unwrap().resv;
  d.unlock(T0, r1).unwrap();
  d.unlock(T0, r2).unwrap();
  let v = d.validate(T0, 3, &[place(Domain::Vram)]).unwrap();
  assert_eq!(v.evictions, 2);
}

#[test]
fn pin_moves_and_fragmentation() {
  let mut d = dev(1 << 20, 1 << 20);
  d.create_object(1, 64 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 1);
  d.pin(T0, 1, PinDomain::In(Domain::Vram)).unwrap();
  assert_eq!(d.object(1).unwrap().domain, Domain::Vram);
  assert!(d.lru(Domain::Vram).is_empty());
  d.unpin(T0, 1).unwrap();
  assert_eq!(d.lru(Domain::Vram), [1]);
  let s = d.domain_stats(Domain::Vram).unwrap();
  assert_eq!((s.used, s.free, s.largest_free), (64 * K, 960 * K, 960 * K));
  assert_eq!(s.fragmentation, 0.0);
  d.put(1, 0).unwrap();
  assert_eq!(d.domain_stats(Domain::Vram).unwrap().used, 0);
  assert!(d.lru(Domain::Vram).is_empty());
}

#[test]
fn system_capacity_bounds_creation() {
  let cfg = MemoryConfig {
    vram: 0,
    gtt: 0,
    system: Some(8 * K),
  };
  let mut d = Device::with_memory(WwClass::WaitDie, cfg).unwrap();
  d.create_object(1, 8 * K, None, Profile::GemVram2024).unwrap();
  assert_eq!(
    d.create_object(2, 1, None, Profile::GemVram2024)
      .unwrap_err()
      .errno,
    Errno::ENOMEM
  );
  assert!(d.object(2).is_err());
  let zero = MemoryConfig {
    vram: 0,
    gtt: 0,
    system: Some(0),
  };
  assert!(Device::with_memory(WwClass::WaitDie, zero).is_err());
}

#[test]
fn notified_moves_are_a_log_of_their_own() {
  // The VA spaces tied to a device hear of moves through a second log,
  // apart from the one `track_moves` keeps for its own readers.
  let mut d = dev(1 << 20, 1 << 20);
  put_in(&mut d, 1, 8 * K, Domain::Vram);
  put_in(&mut d, 2, (1 << 20) - 8 * K, Domain::Vram);
  d.set_evict_placement(1, Some(vec![place(Domain::System)]))
    .unwrap();
  assert!(d.take_notified_moves().is_empty());
  d.notify_moves(true);
  d.create_object(3, 4 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 3);
  d.validate(T0, 3, &[place(Domain::Vram)]).unwrap();
  unlock(&mut d, 3);
  let m = d.take_notified_moves();
  assert_eq!(
    m.iter().map(|m| (m.id, m.to, m.evicted)).collect::<Vec<_>>(),
    // VRAM -> SYSTEM bounces through a temporary GTT resource: two moves.
    [
      (1, Some(Domain::Gtt), true),
      (1, Some(Domain::System), true),
      (3, Some(Domain::Vram), false)
    ]
  );
  assert!(d.take_moves().is_empty());
  assert!(d.take_notified_moves().is_empty());
  // Off drops what was not taken.
  lock(&mut d, 3);
  d.move_to(T0, 3, Domain::Gtt).unwrap();
  unlock(&mut d, 3);
  d.notify_moves(false);
  assert!(d.take_notified_moves().is_empty());
}

/// domain.rs skips a drm_mm request it saw refused while no range came or
/// went: freeing a range (here by destroying the pinned buffer that fills
/// the window) must make the same request be asked again. The window keeps
/// the request under the largest hole, so the manager itself refuses it.
#[test]
fn a_refused_request_is_asked_again_once_a_range_is_freed() {
  let mut d = dev(64 * K, 1 << 20);
  put_in(&mut d, 1, 40 * K, Domain::Vram);
  lock(&mut d, 1);
  d.pin(T0, 1, PinDomain::Current).unwrap();
  unlock(&mut d, 1);
  d.create_object(2, 16 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 2);
  let low = [Place::windowed(Domain::Vram, 0, 0, 8).unwrap()];
  let e = d.validate(T0, 2, &low).unwrap_err();
  assert_eq!(e.errno, Errno::ENOMEM);
  // Same request, same state: the same answer and message.
  assert_eq!(d.validate(T0, 2, &low).unwrap_err(), e);
  assert!(d.put(1, 0).unwrap());
  let v = d.validate(T0, 2, &low).unwrap();
  assert_eq!((v.moved, v.evictions), (true, 0));
  assert_eq!(d.resource(2).unwrap().unwrap().blocks, [(0, 16 * K)]);
  unlock(&mut d, 2);
}
