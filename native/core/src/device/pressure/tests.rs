//! Priorities, bulk moves, eviction policy and swap, hand-computed.

use crate::device::test_support::*;
use crate::device::*;

const K: u64 = 1024;

fn dev(vram: u64, system: Option<u64>) -> Device {
  let cfg = MemoryConfig {
    vram,
    gtt: 1 << 20,
    system,
  };
  Device::with_memory(WwClass::WaitDie, cfg).unwrap()
}

#[test]
fn priority_zero_is_walked_first() {
  let mut d = dev(64 * K, None);
  for id in 1..=4 {
    put_in(&mut d, id, 16 * K, Domain::Vram);
  }
  d.set_priority(1, 2).unwrap();
  d.set_priority(2, 1).unwrap();
  assert_eq!(d.lru(Domain::Vram), [3, 4, 2, 1]);
  assert_eq!(d.lru_lengths(Domain::Vram), [2, 1, 1, 0]);
  assert_eq!(d.set_priority(1, 4).unwrap_err().errno, Errno::EINVAL);
  d.create_object(5, 32 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 5);
  d.track_moves(true);
  let v = d.validate(T0, 5, &[place(Domain::Vram)]).unwrap();
  assert_eq!(v.evictions, 2);
  let gone: Vec<u32> = d
    .take_moves()
    .iter()
    .filter(|m| m.evicted)
    .map(|m| m.id)
    .collect();
  assert_eq!(gone, [3, 4]);
}

#[test]
fn bulk_ranges_move_together_and_keep_their_order() {
  let mut d = dev(1 << 20, None);
  for id in 1..=5 {
    put_in(&mut d, id, 4 * K, Domain::Vram);
  }
  let b = d.create_bulk_move(None).unwrap();
  d.set_bulk_move(2, b).unwrap();
  d.set_bulk_move(4, b).unwrap();
  // Joining puts 2 at the tail as the range's first member; 4 follows it.
  assert_eq!(d.lru(Domain::Vram), [1, 3, 5, 2, 4]);
  d.set_bulk_move(1, b).unwrap();
  assert_eq!(d.lru(Domain::Vram), [3, 5, 2, 4, 1]);
  put_in(&mut d, 6, 4 * K, Domain::Vram);
  d.bulk_move_tail(b).unwrap();
  assert_eq!(d.lru(Domain::Vram), [3, 5, 6, 2, 4, 1]);
  // Touching a member moves it to the end of its range, not to the tail.
  lock(&mut d, 2);
  unlock(&mut d, 2);
  put_in(&mut d, 7, 4 * K, Domain::Vram);
  assert_eq!(d.lru(Domain::Vram), [3, 5, 6, 4, 1, 2, 7]);
  // One range per priority.
  d.set_priority(4, 3).unwrap();
  assert_eq!(d.lru(Domain::Vram), [3, 5, 6, 1, 2, 7, 4]);
  d.set_bulk_move(1, 0).unwrap();
  assert_eq!(d.lru(Domain::Vram), [3, 5, 6, 2, 7, 1, 4]);
  assert_eq!(d.bulk_move_tail(9).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(d.lru_lengths(Domain::Vram), [6, 0, 0, 1]);
}

#[test]
fn bulk_tied_to_a_resv_follows_its_unlock() {
  let mut d = dev(1 << 20, None);
  let vm = d.create_resv(0).unwrap();
  let b = d.create_bulk_move(Some(vm)).unwrap();
  for id in 1..=3 {
    d.create_object(id, 4 * K, Some(vm), Profile::GemVram2024)
      .unwrap();
    d.set_bulk_move(id, b).unwrap();
  }
  put_in(&mut d, 4, 4 * K, Domain::System);
  assert_eq!(d.lru(Domain::System), [1, 2, 3, 4]);
  assert_eq!(d.lock(T0, vm, None, LockMode::Normal).unwrap(), LockResult::Ok);
  d.unlock(T0, vm).unwrap();
  assert_eq!(d.lru(Domain::System), [4, 1, 2, 3]);
}

#[test]
fn policy_and_veto_skip_victims() {
  let mut d = dev(32 * K, None);
  put_in(&mut d, 1, 16 * K, Domain::Vram);
  put_in(&mut d, 2, 16 * K, Domain::Vram);
  d.set_tags(1, 0b10).unwrap();
  d.set_eviction_policy(EvictionPolicy {
    protect_from_priority: 4,
    protect_tags: 0b10,
  })
  .unwrap();
  d.create_object(3, 16 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 3);
  d.validate(T0, 3, &[place(Domain::Vram)]).unwrap();
  assert_eq!(d.object(1).unwrap().domain, Domain::Vram);
  assert_eq!(d.object(2).unwrap().domain, Domain::Gtt);
  unlock(&mut d, 3);
  d.set_eviction_veto(&[3]);
  d.create_object(4, 16 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 4);
  assert_eq!(
    d.validate(T0, 4, &[place(Domain::Vram)]).unwrap_err().errno,
    Errno::ENOMEM
  );
  d.set_eviction_veto(&[]);
  d.set_priority(3, 1).unwrap();
  d.set_eviction_policy(EvictionPolicy {
    protect_from_priority: 1,
    protect_tags: 0b10,
  })
  .unwrap();
  assert_eq!(
    d.validate(T0, 4, &[place(Domain::Vram)]).unwrap_err().errno,
    Errno::ENOMEM
  );
  d.set_eviction_policy(EvictionPolicy::default()).unwrap();
  assert_eq!(d.validate(T0, 4, &[place(Domain::Vram)]).unwrap().evictions, 1);
}

#[test]
fn full_system_purges_then_swaps_and_swaps_back_in() {
  let mut d = dev(0, Some(64 * K));
  for id in 1..=4 {
    d.create_object(id, 16 * K, None, Profile::GemVram2024).unwrap();
  }
  // No shrinker: ENOMEM as before.
  assert_eq!(
    d.create_object(5, 16 * K, None, Profile::GemVram2024)
      .unwrap_err()
      .errno,
    Errno::ENOMEM
  );
  d.configure_swap(Some(u64::MAX)).unwrap();
  d.set_purgeable(3, true).unwrap();
  d.create_object(5, 16 * K, None, Profile::GemVram2024).unwrap();
  let o3 = d.object(3).unwrap();
  assert!(o3.purged && o3.pressure.content_lost);
  d.create_object(6, 16 * K, None, Profile::GemVram2024).unwrap();
  assert!(d.object(1).unwrap().pressure.swapped);
  assert_eq!(d.lru(Domain::System), [2, 4, 5, 6]);
  let t = d.swap_totals();
  assert_eq!((t.purges, t.swapouts, t.swap_used), (1, 1, 16 * K));
  // Locked buffers are skipped: 2 stays, 4 goes.
  lock(&mut d, 2);
  lock(&mut d, 1);
  let v = d.validate(T0, 1, &[place(Domain::System)]).unwrap();
  assert_eq!((v.moved, v.bytes_moved), (true, 16 * K));
  assert!(!d.object(1).unwrap().pressure.swapped);
  assert!(d.object(4).unwrap().pressure.swapped);
  let t = d.swap_totals();
  assert_eq!((t.swapins, t.swapouts, t.swap_used), (1, 2, 16 * K));
  d.put(4, 0).unwrap();
  assert_eq!(d.swap_totals().swap_used, 0);
  assert_eq!(d.swapout(1).unwrap(), 16 * K);
  assert!(d.object(5).unwrap().pressure.swapped);
}

#[test]
fn bounded_swap_and_pinned_buffers_stay() {
  let mut d = dev(0, Some(32 * K));
  d.configure_swap(Some(16 * K)).unwrap();
  d.create_object(1, 16 * K, None, Profile::GemVram2024).unwrap();
  lock(&mut d, 1);
  d.pin(T0, 1, PinDomain::Current).unwrap();
  unlock(&mut d, 1);
  d.create_object(2, 16 * K, None, Profile::GemVram2024).unwrap();
  d.create_object(3, 16 * K, None, Profile::GemVram2024).unwrap();
  assert!(d.object(2).unwrap().pressure.swapped);
  // Swap is full and 1 is pinned: nothing more can go.
  assert_eq!(
    d.create_object(4, 16 * K, None, Profile::GemVram2024)
      .unwrap_err()
      .errno,
    Errno::ENOMEM
  );
  assert_eq!(d.configure_swap(Some(0)).unwrap_err().errno, Errno::EINVAL);
}
