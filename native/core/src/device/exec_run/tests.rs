use super::super::*;
use crate::errno::Errno;

const T0: u32 = 0;

/// A device with objects 1..=n, each with its own reservation; returns it and their reservations.
fn dev(n: u32) -> (Device, Vec<u32>, Vec<u32>) {
  let mut d = Device::new(WwClass::WaitDie);
  let ids: Vec<u32> = (1..=n).collect();
  for &id in &ids {
    d.create_object(id, 4096, None, Profile::GemVram2024).unwrap();
  }
  let resvs = ids.iter().map(|&id| d.object(id).unwrap().resv).collect();
  (d, ids, resvs)
}

/// What a test compares: every object's refcount, every reservation's holder and fences, the context.
fn state(d: &Device, ids: &[u32], resvs: &[u32], ctx: u32) -> String {
  let objs: Vec<u32> = ids.iter().map(|&id| d.object(id).unwrap().refcount).collect();
  let rs: Vec<_> = resvs
    .iter()
    .map(|&r| {
      let r = d.resv(r).unwrap();
      (r.holder, r.fences.clone(), r.max_fences)
    })
    .collect();
  format!("{objs:?} {rs:?} {:?} {:?}", d.ctx(ctx).unwrap(), d.violations())
}

#[test]
fn a_lock_run_does_what_the_single_calls_do() {
  let (mut a, ids, resvs) = dev(4);
  let (mut b, _, _) = dev(4);
  let (ca, cb) = (a.ctx_init(T0).unwrap(), b.ctx_init(T0).unwrap());
  assert_eq!(a.exec_lock_run(T0, ca, &ids, &resvs, Some(2)), 4);
  for (&id, &r) in ids.iter().zip(&resvs) {
    assert_eq!(b.lock(T0, r, Some(cb), LockMode::Normal).unwrap(), LockResult::Ok);
    b.get(id).unwrap();
    b.reserve_fences(T0, r, 2).unwrap();
  }
  assert_eq!(state(&a, &ids, &resvs, ca), state(&b, &ids, &resvs, cb));
  assert_eq!(a.ctx(ca).unwrap().acquired, 4);
  assert_eq!(a.resv(resvs[0]).unwrap().max_fences, 4);
}

#[test]
fn a_lock_run_stops_before_a_held_lock_a_freed_object_and_a_context_it_cannot_use() {
  let (mut d, ids, resvs) = dev(4);
  let ctx = d.ctx_init(T0).unwrap();
  // Held by this context (EALREADY), by another thread (a wait): the single calls answer those.
  assert_eq!(
    d.lock(T0, resvs[1], Some(ctx), LockMode::Normal).unwrap(),
    LockResult::Ok
  );
  assert_eq!(d.exec_lock_run(T0, ctx, &ids, &resvs, None), 1);
  assert_eq!(d.exec_lock_run(T0, ctx, &ids[1..], &resvs[1..], None), 0);
  assert_eq!(
    d.lock(1, resvs[2], None, LockMode::Normal).unwrap(),
    LockResult::Ok
  );
  assert_eq!(d.exec_lock_run(T0, ctx, &ids[2..], &resvs[2..], None), 0);
  // A freed object, an unknown one, an unknown reservation.
  d.put(4, 0).unwrap();
  assert_eq!(d.exec_lock_run(T0, ctx, &ids[3..], &resvs[3..], None), 0);
  assert_eq!(d.exec_lock_run(T0, ctx, &[99], &resvs[3..], None), 0);
  assert_eq!(d.exec_lock_run(T0, ctx, &ids[..1], &[99], None), 0);
  // A context of another thread, an unknown one, one that is done or was told -EDEADLK.
  let (mut e, ids, resvs) = dev(2);
  let other = e.ctx_init(1).unwrap();
  assert_eq!(e.exec_lock_run(T0, other, &ids, &resvs, None), 0);
  assert_eq!(e.exec_lock_run(T0, 77, &ids, &resvs, None), 0);
  let done = e.ctx_init(T0).unwrap();
  e.ctx_done(T0, done).unwrap();
  assert_eq!(e.exec_lock_run(T0, done, &ids, &resvs, None), 0);
  e.ctx_fini(T0, done).unwrap();
  assert_eq!(e.exec_lock_run(T0, done, &ids, &resvs, None), 0);
  assert!(e.violations().is_empty());
  assert!(resvs.iter().all(|&r| e.resv(r).unwrap().holder.is_none()));
  let young = e.ctx_init(T0).unwrap();
  e.ctxs[young as usize - 1].contending = Some(resvs[0]);
  assert_eq!(e.exec_lock_run(T0, young, &ids, &resvs, None), 0);
}

#[test]
fn an_unlock_run_stops_before_a_lock_not_held_and_a_last_reference() {
  let (mut d, ids, resvs) = dev(3);
  let ctx = d.ctx_init(T0).unwrap();
  assert_eq!(d.exec_lock_run(T0, ctx, &ids, &resvs, Some(1)), 3);
  // Object 3's reference from the lock is its last one once the creator's is dropped.
  d.put(3, 0).unwrap();
  assert_eq!(d.exec_unlock_run(T0, &ids, &resvs), 2);
  assert_eq!(d.ctx(ctx).unwrap().acquired, 1);
  assert_eq!(d.object(1).unwrap().refcount, 1);
  assert!(d.resv(resvs[0]).unwrap().holder.is_none());
  assert_eq!(d.exec_unlock_run(T0, &ids[2..], &resvs[2..]), 0);
  assert_eq!(d.exec_unlock_run(T0, &ids[..1], &resvs[..1]), 0);
  assert!(d.violations().is_empty());
}

#[test]
fn a_fence_run_stops_after_a_violation_and_before_an_error() {
  let (mut d, ids, resvs) = dev(3);
  let ctx = d.ctx_init(T0).unwrap();
  assert_eq!(d.exec_lock_run(T0, ctx, &ids[..2], &resvs[..2], Some(1)), 2);
  let f = d.create_fence(1, 1, None).unwrap();
  // The third reservation is not held: a violation (and the fence added), then the run stops.
  assert_eq!(d.add_fence_run(T0, &resvs, &[3, 3, 3, 3], f), 3);
  assert_eq!(d.take_violations().len(), 2);
  assert_eq!(d.add_fence_run(T0, &resvs, &[0, 9, 3], f), 1);
  assert_eq!(d.add_fence_run(T0, &resvs, &[3, 3, 3], 999), 0);
  assert_eq!(d.add_fence_run(T0, &[99], &[3], f), 0);
  assert!(d.take_violations().is_empty());
  assert_eq!(Device::run_lengths(&[1], &[]).unwrap_err().errno, Errno::EINVAL);
}
