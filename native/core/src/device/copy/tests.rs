use super::super::test_support::place;
use super::super::*;

const T: u32 = 0;
const MIB: u64 = 1 << 20;
/// 5 us latency + 1 MiB at 16 GB/s (65536 ns).
const VRAM_HOP: u64 = 5_000 + 65_536;
/// 5 us latency + 1 MiB at 10 GB/s (104857.6 ns, rounded up).
const HOST_HOP: u64 = 5_000 + 104_858;

fn timed_dev(vram: u64) -> Device {
  let mut d = Device::with_memory(
    WwClass::WaitDie,
    MemoryConfig {
      vram,
      gtt: 64 * MIB,
      system: None,
    },
  )
  .unwrap();
  d.configure_copy(CopyConfig::default()).unwrap();
  d
}

/// A locked 1 MiB buffer moved into `to` (through GTT, so it has pages).
fn buffer(d: &mut Device, id: u32, to: Domain) {
  d.create_object(id, MIB, None, Profile::GemVram2024).unwrap();
  let r = d.object(id).unwrap().resv;
  assert_eq!(d.lock(T, r, None, LockMode::Normal).unwrap(), LockResult::Ok);
  d.validate_timed(T, id, &[place(Domain::Gtt)], false).unwrap();
  if to != Domain::Gtt {
    d.validate_timed(T, id, &[place(to)], false).unwrap();
  }
  d.unlock(T, r).unwrap();
}

#[test]
fn moves_are_instant_without_a_copy_engine() {
  let mut d = Device::new(WwClass::WaitDie);
  d.create_object(1, MIB, None, Profile::GemVram2024).unwrap();
  let r = d.object(1).unwrap().resv;
  d.lock(T, r, None, LockMode::Normal).unwrap();
  let v = d.validate_timed(T, 1, &[place(Domain::Vram)], false).unwrap();
  assert!(v.base.moved);
  assert_eq!((v.fence, v.fence_end), (None, None));
  assert!(d.copy_jobs().is_empty());
  assert!(d.fences(r, Usage::Bookkeep).unwrap().is_empty());
}

#[test]
fn a_move_is_a_copy_job_with_a_kernel_fence() {
  let mut d = timed_dev(256 * MIB);
  d.create_object(1, MIB, None, Profile::GemVram2024).unwrap();
  let r = d.object(1).unwrap().resv;
  d.lock(T, r, None, LockMode::Normal).unwrap();
  // SYSTEM without pages -> GTT: a null move, no job.
  let v = d.validate_timed(T, 1, &[place(Domain::Gtt)], false).unwrap();
  assert_eq!(v.fence, None);
  let v = d.validate_timed(T, 1, &[place(Domain::Vram)], false).unwrap();
  let f = v.fence.unwrap();
  assert_eq!(v.fence_end, Some(VRAM_HOP));
  assert_eq!(d.object(1).unwrap().domain, Domain::Vram);
  assert_eq!(d.fences(r, Usage::Kernel).unwrap(), vec![(f, Usage::Kernel)]);
  assert!(!d.fence_signaled(f).unwrap());
  d.advance(VRAM_HOP).unwrap();
  assert!(d.fence_signaled(f).unwrap());
  // VRAM -> SYSTEM bounces through GTT (multihop): two hops, a job each, the second after the first.
  let v = d.validate_timed(T, 1, &[place(Domain::System)], false).unwrap();
  assert_eq!(v.fence_end, Some(VRAM_HOP + VRAM_HOP + HOST_HOP));
  assert_eq!(d.copy_jobs().len(), 3);
  assert!(kinds_empty(&mut d));
}

fn kinds_empty(d: &mut Device) -> bool {
  d.take_violations().is_empty()
}

#[test]
fn pipelined_eviction_orders_the_evictors_copy_after_the_victims() {
  let mut d = timed_dev(2 * MIB);
  buffer(&mut d, 1, Domain::Vram);
  buffer(&mut d, 2, Domain::Vram);
  d.advance(1_000_000).unwrap();
  buffer(&mut d, 3, Domain::Gtt);
  let r = d.object(3).unwrap().resv;
  d.lock(T, r, None, LockMode::Normal).unwrap();
  let now = d.now();
  let v = d.validate_timed(T, 3, &[place(Domain::Vram)], false).unwrap();
  assert_eq!(v.base.evictions, 1);
  let jobs = d.copy_jobs();
  let (victim, own) = (&jobs[jobs.len() - 2], &jobs[jobs.len() - 1]);
  assert_eq!(
    (victim.object, victim.from, victim.to, victim.evicted),
    (1, Domain::Vram, Domain::Gtt, true)
  );
  assert_eq!(victim.start, Some(now));
  assert_eq!(own.object, 3);
  assert!(own.deps.contains(&victim.fence));
  assert_eq!(own.start, victim.end);
  assert_eq!(v.fence_end, Some(now + 2 * VRAM_HOP));
  // The victim's fence went onto the evictor's resv, then its own move (same
  // context, later) replaced it, as dma_resv_add_fence does.
  assert_eq!(
    d.fences(r, Usage::Bookkeep).unwrap(),
    vec![(own.fence, Usage::Kernel)]
  );
}

#[test]
fn no_wait_gpu_refuses_busy_victims_and_busy_buffers() {
  let mut d = timed_dev(MIB);
  buffer(&mut d, 1, Domain::Vram);
  d.advance(1_000_000).unwrap();
  let r1 = d.object(1).unwrap().resv;
  let busy = d.create_fence(1, 1, Some(5_000_000)).unwrap();
  d.lock(T, r1, None, LockMode::Normal).unwrap();
  d.reserve_fences(T, r1, 1).unwrap();
  d.add_fence(T, r1, busy, Usage::Write).unwrap();
  d.unlock(T, r1).unwrap();
  buffer(&mut d, 2, Domain::Gtt);
  let r2 = d.object(2).unwrap().resv;
  d.lock(T, r2, None, LockMode::Normal).unwrap();
  let e = d.validate_timed(T, 2, &[place(Domain::Vram)], true).unwrap_err();
  assert_eq!(e.errno, Errno::EBUSY);
  assert_eq!(d.object(1).unwrap().domain, Domain::Vram);
  // Waiting: the victim's copy starts when its fence signals.
  d.validate_timed(T, 2, &[place(Domain::Vram)], false).unwrap();
  let jobs = d.copy_jobs();
  let victim = jobs.iter().find(|j| j.object == 1 && j.evicted).unwrap();
  assert_eq!(victim.start, Some(5_000_000));
  // The buffer itself is busy (its move fence): no_wait_gpu refuses to move it.
  let e = d.validate_timed(T, 2, &[place(Domain::Gtt)], true).unwrap_err();
  assert_eq!(e.errno, Errno::EBUSY);
}

#[test]
fn a_dependency_signaled_by_hand_times_the_job_then() {
  let mut d = timed_dev(256 * MIB);
  buffer(&mut d, 1, Domain::Gtt);
  let r = d.object(1).unwrap().resv;
  let f = d.create_fence(1, 1, None).unwrap();
  d.lock(T, r, None, LockMode::Normal).unwrap();
  d.reserve_fences(T, r, 1).unwrap();
  d.add_fence(T, r, f, Usage::Read).unwrap();
  let v = d.validate_timed(T, 1, &[place(Domain::Vram)], false).unwrap();
  assert_eq!(v.fence_end, None);
  d.advance(777).unwrap();
  d.signal_fence(f).unwrap();
  let job = d.copy_jobs().last().unwrap().clone();
  assert_eq!((job.start, job.end), (Some(777), Some(777 + VRAM_HOP)));
  assert_eq!(d.fence(job.fence).unwrap().signal_at, Some(777 + VRAM_HOP));
}

#[test]
fn a_destroy_waits_for_the_fences() {
  let mut d = timed_dev(256 * MIB);
  buffer(&mut d, 1, Domain::Vram);
  assert_eq!(d.domain_stats(Domain::Vram).unwrap().used, MIB);
  assert!(d.put(1, 0).unwrap());
  let pending = d.pending_destroy();
  assert_eq!(pending.len(), 1);
  assert_eq!((pending[0].id, pending[0].domain), (1, Domain::Vram));
  assert_eq!(d.pending_until(&pending[0]), Some(VRAM_HOP));
  let s = d.domain_stats(Domain::Vram).unwrap();
  assert_eq!((s.used, s.lru_len), (MIB, 0));
  d.advance(VRAM_HOP).unwrap();
  assert!(d.pending_destroy().is_empty());
  assert_eq!(d.domain_stats(Domain::Vram).unwrap().used, 0);
}

#[test]
fn zero_bandwidth_is_refused() {
  let mut d = Device::new(WwClass::WaitDie);
  let mut c = CopyConfig::default();
  c.bandwidth[1] = 0;
  assert_eq!(d.configure_copy(c).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(d.copy_config(), None);
}

#[test]
fn cpu_access_before_the_move_fence_signals_is_recorded() {
  let mut d = timed_dev(256 * MIB);
  buffer(&mut d, 1, Domain::Gtt);
  let r = d.object(1).unwrap().resv;
  d.lock(T, r, None, LockMode::Normal).unwrap();
  let v = d.validate_timed(T, 1, &[place(Domain::Vram)], false).unwrap();
  let m = d.vmap(T, 1, VmapKind::Vmap).unwrap();
  assert!(!d.access(T, 1, m.generation).unwrap());
  let kinds: Vec<&str> = d.take_violations().iter().map(|v| v.kind.name()).collect();
  assert_eq!(kinds, ["access-during-move"]);
  d.advance(v.fence_end.unwrap() - d.now()).unwrap();
  assert!(d.access(T, 1, m.generation).unwrap());
}
