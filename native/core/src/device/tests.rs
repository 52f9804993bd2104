use super::*;

const T0: u32 = 0;
const T1: u32 = 1;

fn kinds(d: &mut Device) -> Vec<&'static str> {
  d.take_violations().iter().map(|v| v.kind.name()).collect()
}

fn dev_with(objs: &[u32], profile: Profile) -> Device {
  let mut d = Device::new(WwClass::WaitDie);
  for &id in objs {
    d.create_object(id, 4096, None, profile).unwrap();
  }
  d
}

#[test]
fn plain_lock_trylock_and_unlock() {
  let mut d = dev_with(&[1], Profile::GemVram2024);
  let r = d.object(1).unwrap().resv;
  assert_eq!(d.lock(T0, r, None, LockMode::Normal).unwrap(), LockResult::Ok);
  assert_eq!(d.lock(T1, r, None, LockMode::Try).unwrap(), LockResult::Busy);
  assert_eq!(
    d.lock(T1, r, None, LockMode::Normal).unwrap(),
    LockResult::Blocked { holder: T0 }
  );
  assert!(kinds(&mut d).is_empty());
  d.unlock(T1, r).unwrap();
  assert_eq!(kinds(&mut d), ["unlock-not-owner"]);
  d.unlock(T0, r).unwrap();
  d.unlock(T0, r).unwrap();
  assert_eq!(kinds(&mut d), ["unlock-not-held"]);
  assert_eq!(d.lock(T1, r, None, LockMode::Try).unwrap(), LockResult::Ok);
  assert_eq!(
    d.lock(T1, r, None, LockMode::Normal).unwrap(),
    LockResult::Blocked { holder: T1 }
  );
  assert_eq!(kinds(&mut d), ["recursive-lock"]);
}

#[test]
fn wait_die_younger_with_locks_dies_and_backs_off() {
  let mut d = dev_with(&[1, 2], Profile::GemVram2024);
  let (r1, r2) = (d.object(1).unwrap().resv, d.object(2).unwrap().resv);
  let old = d.ctx_init(T0).unwrap();
  let young = d.ctx_init(T1).unwrap();
  assert_eq!(
    d.lock(T0, r2, Some(old), LockMode::Normal).unwrap(),
    LockResult::Ok
  );
  assert_eq!(
    d.lock(T0, r2, Some(old), LockMode::Normal).unwrap(),
    LockResult::Already
  );
  assert_eq!(
    d.lock(T1, r1, Some(young), LockMode::Normal).unwrap(),
    LockResult::Ok
  );
  assert_eq!(
    d.lock(T1, r2, Some(young), LockMode::Normal).unwrap(),
    LockResult::Deadlk
  );
  // The older one waits instead of dying.
  assert_eq!(
    d.lock(T0, r1, Some(old), LockMode::Normal).unwrap(),
    LockResult::Blocked { holder: T1 }
  );
  d.unlock(T1, r1).unwrap();
  assert_eq!(
    d.lock(T0, r1, Some(old), LockMode::Normal).unwrap(),
    LockResult::Ok
  );
  d.unlock(T0, r1).unwrap();
  d.unlock(T0, r2).unwrap();
  assert_eq!(
    d.lock(T1, r2, Some(young), LockMode::Slow).unwrap(),
    LockResult::Ok
  );
  assert_eq!(
    d.lock(T1, r1, Some(young), LockMode::Normal).unwrap(),
    LockResult::Ok
  );
  d.unlock(T1, r1).unwrap();
  d.unlock(T1, r2).unwrap();
  d.ctx_fini(T1, young).unwrap();
  d.ctx_fini(T0, old).unwrap();
  assert!(kinds(&mut d).is_empty());
}

#[test]
fn a_context_without_locks_waits_in_wait_die() {
  let mut d = dev_with(&[1], Profile::GemVram2024);
  let r1 = d.object(1).unwrap().resv;
  let old = d.ctx_init(T0).unwrap();
  let young = d.ctx_init(T1).unwrap();
  d.lock(T0, r1, Some(old), LockMode::Normal).unwrap();
  assert_eq!(
    d.lock(T1, r1, Some(young), LockMode::Normal).unwrap(),
    LockResult::Blocked { holder: T0 }
  );
}

#[test]
fn lockdep_catches_slow_path_misuse() {
  let mut d = dev_with(&[1, 2, 3], Profile::GemVram2024);
  let [r1, r2, r3] = [1, 2, 3].map(|o| d.object(o).unwrap().resv);
  let c = d.ctx_init(T0).unwrap();
  d.lock(T0, r1, Some(c), LockMode::Slow).unwrap();
  assert_eq!(kinds(&mut d), ["slow-without-edeadlk"]);
  let other = d.ctx_init(T1).unwrap();
  assert_eq!(kinds(&mut d), Vec::<&str>::new());
  d.lock(T1, r3, Some(other), LockMode::Normal).unwrap();
  d.lock(T1, r2, Some(other), LockMode::Normal).unwrap();
  // c is older: it waits on r2. Make a younger one die.
  let young = d.ctx_init(T0);
  assert_eq!(kinds(&mut d), ["ctx-nested-init"]);
  let young = young.unwrap();
  let _ = young;
  d.unlock(T0, r1).unwrap();
  d.ctx_fini(T0, c).unwrap();
  // T1 is older than `young`.
  d.lock(T0, r1, Some(young), LockMode::Normal).unwrap();
  assert_eq!(
    d.lock(T0, r2, Some(young), LockMode::Normal).unwrap(),
    LockResult::Deadlk
  );
  // Not backing off: slow-lock the wrong lock while holding r1.
  d.lock(T0, r3, Some(young), LockMode::Slow).unwrap();
  assert_eq!(kinds(&mut d), ["slow-wrong-lock", "slow-while-holding"]);
  d.ctx_fini(T0, young).unwrap();
  assert_eq!(kinds(&mut d), ["fini-with-locks-held"]);
  assert_eq!(d.ctx_fini(T0, young).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn wound_wait_wounds_the_younger_holder() {
  let mut d = Device::new(WwClass::WoundWait);
  d.create_object(1, 4096, None, Profile::GemVram2024).unwrap();
  d.create_object(2, 4096, None, Profile::GemVram2024).unwrap();
  let (r1, r2) = (1, 2);
  let old = d.ctx_init(T0).unwrap();
  let young = d.ctx_init(T1).unwrap();
  d.lock(T0, r1, Some(old), LockMode::Normal).unwrap();
  d.lock(T1, r2, Some(young), LockMode::Normal).unwrap();
  // Older meets younger: it wounds and waits.
  assert_eq!(
    d.lock(T0, r2, Some(old), LockMode::Normal).unwrap(),
    LockResult::Blocked { holder: T1 }
  );
  assert!(d.ctx(young).unwrap().wounded);
  // The wounded one dies at its next contended lock.
  assert_eq!(
    d.lock(T1, r1, Some(young), LockMode::Normal).unwrap(),
    LockResult::Deadlk
  );
  d.unlock(T1, r2).unwrap();
  assert_eq!(
    d.lock(T0, r2, Some(old), LockMode::Normal).unwrap(),
    LockResult::Ok
  );
  // A younger requester just waits in wound-wait.
  let mut d2 = Device::new(WwClass::WoundWait);
  d2.create_resv(0).unwrap();
  d2.create_resv(0).unwrap();
  let o = d2.ctx_init(T0).unwrap();
  let y = d2.ctx_init(T1).unwrap();
  d2.lock(T1, 2, Some(y), LockMode::Normal).unwrap();
  d2.lock(T0, 1, Some(o), LockMode::Normal).unwrap();
  assert_eq!(
    d2.lock(T1, 1, Some(y), LockMode::Normal).unwrap(),
    LockResult::Blocked { holder: T0 }
  );
}

#[test]
fn fences_usage_query_promote_and_slots() {
  let mut d = dev_with(&[1], Profile::GemVram2024);
  let r = 1;
  let f1 = d.create_fence(7, 1, Some(100)).unwrap();
  let f2 = d.create_fence(8, 1, None).unwrap();
  d.lock(T0, r, None, LockMode::Normal).unwrap();
  d.reserve_fences(T0, r, 2).unwrap();
  d.add_fence(T0, r, f1, Usage::Bookkeep).unwrap();
  d.add_fence(T0, r, f2, Usage::Write).unwrap();
  assert_eq!(d.fences(r, Usage::Write).unwrap(), vec![(f2, Usage::Write)]);
  assert_eq!(d.fences(r, Usage::Bookkeep).unwrap().len(), 2);
  // Promote f1 from bookkeep to read: replaced in place.
  d.add_fence(T0, r, f1, Usage::Read).unwrap();
  assert_eq!(
    d.fences(r, Usage::Read).unwrap(),
    vec![(f1, Usage::Read), (f2, Usage::Write)]
  );
  // Degrading appends instead, so the strong entry stays.
  d.reserve_fences(T0, r, 1).unwrap();
  d.add_fence(T0, r, f2, Usage::Bookkeep).unwrap();
  assert_eq!(d.fences(r, Usage::Write).unwrap(), vec![(f2, Usage::Write)]);
  assert!(kinds(&mut d).is_empty());
  assert!(!d.test_signaled(r, Usage::Read).unwrap());
  d.advance(100).unwrap();
  assert!(d.fence_signaled(f1).unwrap());
  d.signal_fence(f2).unwrap();
  assert!(d.test_signaled(r, Usage::Bookkeep).unwrap());
  d.unlock(T0, r).unwrap();
  d.lock(T0, r, None, LockMode::Normal).unwrap();
  let f3 = d.create_fence(9, 1, None).unwrap();
  let f4 = d.create_fence(10, 1, None).unwrap();
  d.add_fence(T0, r, f3, Usage::Kernel).unwrap(); // replaces a signaled one
  assert!(kinds(&mut d).is_empty());
  d.add_fence(T0, r, f4, Usage::Kernel).unwrap();
  d.add_fence(T0, r, f4, Usage::Kernel).unwrap();
  d.unlock(T0, r).unwrap();
  d.add_fence(T0, r, f4, Usage::Kernel).unwrap();
  assert_eq!(kinds(&mut d), ["resv-not-held"]);
}

#[test]
fn pin_counts_domains_and_moves() {
  let mut d = dev_with(&[1], Profile::GemVram2024);
  d.lock(T0, 1, None, LockMode::Normal).unwrap();
  assert_eq!(d.pin(T0, 1, PinDomain::In(Domain::Vram)).unwrap(), 1);
  assert_eq!(d.object(1).unwrap().generation, 1);
  assert_eq!(d.pin(T0, 1, PinDomain::In(Domain::System)).unwrap(), 2);
  assert_eq!(kinds(&mut d), ["repin-other-domain"]);
  assert_eq!(d.object(1).unwrap().pin_domain, Some(Domain::Vram));
  assert_eq!(d.move_to(T0, 1, Domain::System).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(d.unpin(T0, 1).unwrap(), 1);
  assert_eq!(d.unpin(T0, 1).unwrap(), 0);
  assert_eq!(d.unpin(T0, 1).unwrap(), 0);
  assert_eq!(kinds(&mut d), ["unpin-unpinned"]);
  d.unlock(T0, 1).unwrap();
  d.pin(T0, 1, PinDomain::Current).unwrap();
  assert_eq!(kinds(&mut d), ["pin-unlocked"]);
}

#[test]
fn vmap_rules_per_profile() {
  let mut d = dev_with(&[1], Profile::GemVram2024);
  let m = d.vmap(T0, 1, VmapKind::Vmap).unwrap();
  assert_eq!(kinds(&mut d), ["vmap-unlocked"]);
  d.lock(T0, 1, None, LockMode::Normal).unwrap();
  d.vmap(T0, 1, VmapKind::Vmap).unwrap();
  assert_eq!(d.object(1).unwrap().pin_count, 0);
  assert!(d.move_to(T0, 1, Domain::Vram).unwrap());
  assert_eq!(kinds(&mut d), ["move-while-vmapped"]);
  d.access(T0, 1, m.generation).unwrap();
  assert_eq!(kinds(&mut d), ["stale-mapping"]);
  assert_eq!(d.vunmap(T0, 1, VmapKind::Vmap).unwrap(), 1);
  assert_eq!(d.vunmap(T0, 1, VmapKind::Vmap).unwrap(), 0);
  assert_eq!(d.vunmap(T0, 1, VmapKind::Vmap).unwrap(), 0);
  assert_eq!(kinds(&mut d), ["vunmap-unbalanced"]);
  assert_eq!(d.vmap(T0, 1, VmapKind::Kmap).unwrap_err().errno, Errno::EINVAL);

  let mut d = dev_with(&[1], Profile::GemVram2019);
  d.vmap(T0, 1, VmapKind::Vmap).unwrap();
  let k = d.vmap(T0, 1, VmapKind::Kmap).unwrap();
  assert_eq!(d.object(1).unwrap().pin_count, 1);
  assert_eq!(d.object(1).unwrap().vmap_count, 2);
  d.access(T0, 1, k.generation).unwrap();
  assert!(kinds(&mut d).is_empty());
  d.vunmap(T0, 1, VmapKind::Vmap).unwrap();
  assert_eq!(d.object(1).unwrap().pin_count, 0);
  d.access(T0, 1, k.generation).unwrap();
  assert_eq!(kinds(&mut d), ["unprotected-access"]);

  let mut d = dev_with(&[1], Profile::Shmem);
  d.lock(T0, 1, None, LockMode::Normal).unwrap();
  d.vmap(T0, 1, VmapKind::Vmap).unwrap();
  d.vmap(T0, 1, VmapKind::Vmap).unwrap();
  assert_eq!(d.object(1).unwrap().pin_count, 1);
  assert_eq!(d.move_to(T0, 1, Domain::Vram).unwrap_err().errno, Errno::EINVAL);
  d.vunmap(T0, 1, VmapKind::Vmap).unwrap();
  d.vunmap(T0, 1, VmapKind::Vmap).unwrap();
  assert_eq!(d.object(1).unwrap().pin_count, 0);
  assert!(kinds(&mut d).is_empty());
}

#[test]
fn refcount_and_free_checks() {
  let mut d = dev_with(&[1], Profile::GemVram2024);
  assert_eq!(d.get(1).unwrap(), 2);
  assert!(!d.put(1, 0).unwrap());
  d.lock(T0, 1, None, LockMode::Normal).unwrap();
  d.pin(T0, 1, PinDomain::Current).unwrap();
  d.vmap(T0, 1, VmapKind::Vmap).unwrap();
  assert!(d.put(1, 2).unwrap());
  assert_eq!(
    kinds(&mut d),
    ["free-while-va-mapped", "free-while-vmapped", "free-while-pinned"]
  );
  assert_eq!(d.get(1).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(d.create_object(1, 1, None, Profile::Shmem), Ok(()));
  assert_eq!(
    d.create_object(1, 1, None, Profile::Shmem).unwrap_err().errno,
    Errno::EEXIST
  );
  assert_eq!(
    d.create_object(2, 1, Some(99), Profile::Shmem).unwrap_err().errno,
    Errno::EINVAL
  );
  assert!(d.object(2).is_err());
}

#[test]
fn fence_errors_set_before_or_after_signal() {
  use crate::errno::Errno;
  let mut d = Device::new(WwClass::WaitDie);
  let f = d.create_fence(1, 1, None).unwrap();
  assert_eq!(d.fence(f).unwrap().error, 0);
  d.set_fence_error(f, -Errno::ECANCELED.code()).unwrap();
  assert_eq!(d.fence(f).unwrap().error, -125);
  assert!(!d.fence_signaled(f).unwrap());
  d.signal_fence(f).unwrap();
  assert!(kinds(&mut d).is_empty());
  // After the signal: the kernel WARNs and still sets it.
  d.set_fence_error(f, -Errno::EIO.code()).unwrap();
  assert_eq!(kinds(&mut d), ["fence-error-after-signal"]);
  assert_eq!(d.fence(f).unwrap().error, -5);
  // Not a negative errno: refused, nothing changes.
  for bad in [0, 1, -4096, i32::MIN] {
    assert_eq!(d.set_fence_error(f, bad).unwrap_err().errno, Errno::EINVAL);
  }
  assert_eq!(d.fence(f).unwrap().error, -5);
  assert_eq!(d.set_fence_error(99, -5).unwrap_err().errno, Errno::EINVAL);
}

#[test]
fn scheduled_fences_signal_on_the_clock_with_their_error() {
  use crate::errno::Errno;
  let mut d = Device::new(WwClass::WaitDie);
  let f = d.create_fence(1, 1, None).unwrap();
  d.schedule_fence(f, Some(50), -Errno::ETIME.code()).unwrap();
  // Moved later and cleared: allowed while it has not signaled.
  d.schedule_fence(f, Some(80), 0).unwrap();
  d.advance(79).unwrap();
  assert!(!d.fence_signaled(f).unwrap());
  d.schedule_fence(f, Some(100), -Errno::ECANCELED.code()).unwrap();
  assert_eq!(
    d.schedule_fence(f, Some(100), 7).unwrap_err().errno,
    Errno::EINVAL
  );
  d.advance(21).unwrap();
  assert!(d.fence_signaled(f).unwrap());
  assert_eq!(d.fence(f).unwrap().error, -125);
  assert_eq!(d.fence(f).unwrap().signal_at, Some(100));
  // Final once signaled, by time or by hand.
  assert_eq!(d.schedule_fence(f, None, 0).unwrap_err().errno, Errno::EINVAL);
  let g = d.create_fence(1, 2, None).unwrap();
  d.signal_fence(g).unwrap();
  assert_eq!(
    d.schedule_fence(g, Some(500), 0).unwrap_err().errno,
    Errno::EINVAL
  );
  assert!(kinds(&mut d).is_empty());
}
