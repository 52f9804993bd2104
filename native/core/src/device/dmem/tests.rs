//! The dmem controller against hand-computed page-counter values and
//! eviction outcomes (both modes).

use crate::device::test_support::place;
use crate::device::*;
use crate::errno::{Errno, Result};

const T0: u32 = 0;
const U: u64 = 1024;
const VRAM: Domain = Domain::Vram;
const GTT: Domain = Domain::Gtt;

fn dev(mode: DmemMode) -> Device {
  let cfg = MemoryConfig {
    vram: 100 * U,
    gtt: 1 << 20,
    system: None,
  };
  let mut d = Device::with_memory(WwClass::WaitDie, cfg).unwrap();
  d.dmem_setup(mode, true, false).unwrap();
  d
}

fn validate(d: &mut Device, id: u32, to: &[Place]) -> Result<Validated> {
  let r = d.object(id).unwrap().resv;
  assert_eq!(d.lock(T0, r, None, LockMode::Normal).unwrap(), LockResult::Ok);
  let v = d.validate(T0, id, to);
  d.unlock(T0, r).unwrap();
  v
}

/// A buffer of `units` KiB in cgroup `cg`, validated into VRAM.
fn buffer(d: &mut Device, id: u32, units: u64, cg: u32) {
  d.create_object(id, units * U, None, Profile::GemVram2024)
    .unwrap();
  d.cgroup_assign(id, cg).unwrap();
  validate(d, id, &[place(VRAM)]).unwrap();
}

fn limit(d: &mut Device, cg: u32, min: u64, low: u64, max: Option<u64>) {
  d.cgroup_set_limit(cg, VRAM, 0, min * U).unwrap();
  d.cgroup_set_limit(cg, VRAM, 1, low * U).unwrap();
  if let Some(m) = max {
    d.cgroup_set_limit(cg, VRAM, 2, m * U).unwrap();
  }
}

fn at(d: &Device, id: u32) -> Domain {
  d.object(id).unwrap().domain
}

fn usage(d: &Device, cg: u32) -> u64 {
  d.cgroup_stats(cg, VRAM).unwrap().counter.usage / U
}

#[test]
fn effective_protection_is_shared_among_siblings() {
  let mut d = dev(DmemMode::Upstream);
  let p = d.cgroup_create(CGROUP_ROOT, "p").unwrap();
  let a = d.cgroup_create(p, "a").unwrap();
  let b = d.cgroup_create(p, "b").unwrap();
  buffer(&mut d, 1, 80, a);
  buffer(&mut d, 2, 20, b);
  limit(&mut d, a, 60, 0, None);
  limit(&mut d, b, 60, 0, None);
  let e = |d: &Device, c: u32| d.cgroup_stats(c, VRAM).unwrap().emin / U;
  // The parent claims exactly what its children use under their min (60 + 20).
  limit(&mut d, p, 80, 0, None);
  assert_eq!((e(&d, p), e(&d, a), e(&d, b)), (80, 60, 20));
  // Less than claimed: shares in proportion, 60 * 40 / 80 and 20 * 40 / 80.
  limit(&mut d, p, 40, 0, None);
  assert_eq!((e(&d, a), e(&d, b)), (30, 10));
  // More than claimed: the rest by unprotected usage, (100-80) * (80-60) / (100-80).
  limit(&mut d, p, 100, 0, None);
  assert_eq!((e(&d, a), e(&d, b)), (80, 20));
  assert_eq!(usage(&d, p), 100);
  assert_eq!(usage(&d, CGROUP_ROOT), 100);
}

#[test]
fn min_protected_buffers_survive_contention() {
  let mut d = dev(DmemMode::Upstream);
  let a = d.cgroup_create(CGROUP_ROOT, "a").unwrap();
  let b = d.cgroup_create(CGROUP_ROOT, "b").unwrap();
  limit(&mut d, a, 50, 0, None);
  buffer(&mut d, 1, 50, a);
  buffer(&mut d, 2, 30, b);
  d.create_object(3, 40 * U, None, Profile::GemVram2024).unwrap();
  d.cgroup_assign(3, b).unwrap();
  let v = validate(&mut d, 3, &[place(VRAM)]).unwrap();
  assert_eq!(v.evictions, 1);
  assert_eq!((at(&d, 1), at(&d, 2), at(&d, 3)), (VRAM, GTT, VRAM));
  // Nothing unprotected is left: a 60 KiB buffer cannot get in.
  d.create_object(4, 60 * U, None, Profile::GemVram2024).unwrap();
  d.cgroup_assign(4, b).unwrap();
  let e = validate(&mut d, 4, &[place(VRAM)]).unwrap_err();
  assert_eq!(e.errno, Errno::ENOMEM);
  // It evicted B's buffer on the way; A's stays.
  assert_eq!((at(&d, 1), at(&d, 3)), (VRAM, GTT));
  assert_eq!((usage(&d, a), usage(&d, b)), (50, 0));
}

#[test]
fn low_protection_breaks_only_when_nothing_else_is_left() {
  let mut d = dev(DmemMode::Upstream);
  let a = d.cgroup_create(CGROUP_ROOT, "a").unwrap();
  let b = d.cgroup_create(CGROUP_ROOT, "b").unwrap();
  limit(&mut d, a, 0, 50, None);
  buffer(&mut d, 1, 50, a);
  buffer(&mut d, 2, 30, b);
  d.create_object(3, 70 * U, None, Profile::GemVram2024).unwrap();
  d.cgroup_assign(3, b).unwrap();
  d.track_moves(true);
  let v = validate(&mut d, 3, &[place(VRAM)]).unwrap();
  assert_eq!(v.evictions, 2);
  // The unprotected buffer first, although the protected one is older.
  let order: Vec<u32> = d
    .take_moves()
    .iter()
    .filter(|m| m.evicted)
    .map(|m| m.id)
    .collect();
  assert_eq!(order, vec![2, 1]);
  assert_eq!(usage(&d, a), 0);
}

#[test]
fn max_evicts_within_the_cgroup_that_hit_it() {
  let mut d = dev(DmemMode::Upstream);
  let a = d.cgroup_create(CGROUP_ROOT, "a").unwrap();
  let b = d.cgroup_create(CGROUP_ROOT, "b").unwrap();
  limit(&mut d, a, 0, 0, Some(60));
  buffer(&mut d, 2, 20, b);
  buffer(&mut d, 1, 40, a);
  d.create_object(3, 30 * U, None, Profile::GemVram2024).unwrap();
  d.cgroup_assign(3, a).unwrap();
  // VRAM has room; the cgroup has not. b's older buffer stays.
  let v = validate(&mut d, 3, &[place(VRAM)]).unwrap();
  assert_eq!(v.evictions, 1);
  assert_eq!((at(&d, 1), at(&d, 2), at(&d, 3)), (GTT, VRAM, VRAM));
  let s = d.cgroup_stats(a, VRAM).unwrap().counter;
  assert_eq!((s.usage / U, s.max_hits), (30, 2));
  // With only a GTT fallback and no eviction, the first pass skips VRAM.
  d.create_object(4, 40 * U, None, Profile::GemVram2024).unwrap();
  d.cgroup_assign(4, a).unwrap();
  let v = validate(&mut d, 4, &[place(VRAM), place(GTT)]).unwrap();
  assert_eq!((v.evictions, at(&d, 4)), (0, GTT));
}

#[test]
fn a_refused_charge_after_an_eviction_is_eagain_upstream_only() {
  for mode in [DmemMode::Upstream, DmemMode::Proposed] {
    let mut d = dev(mode);
    let a = d.cgroup_create(CGROUP_ROOT, "a").unwrap();
    limit(&mut d, a, 0, 0, Some(60));
    buffer(&mut d, 1, 10, a);
    buffer(&mut d, 2, 40, a);
    d.create_object(3, 30 * U, None, Profile::GemVram2024).unwrap();
    d.cgroup_assign(3, a).unwrap();
    let r = validate(&mut d, 3, &[place(VRAM)]);
    match mode {
      DmemMode::Upstream => {
        assert_eq!(r.unwrap_err().errno, Errno::EAGAIN);
        assert_eq!(
          (at(&d, 1), at(&d, 2), at(&d, 3), usage(&d, a)),
          (GTT, VRAM, Domain::System, 40)
        );
      }
      DmemMode::Proposed => {
        assert_eq!(r.unwrap().evictions, 2);
        assert_eq!(
          (at(&d, 1), at(&d, 2), at(&d, 3), usage(&d, a)),
          (GTT, GTT, VRAM, 30)
        );
      }
    }
  }
}

/// P -> {A (low 60), B, C (low 50)}: A allocates with a GTT fallback while
/// VRAM is full of B's and C's buffers.
fn contention(mode: DmemMode, nested: bool) -> Device {
  let mut d = dev(mode);
  let p = if nested {
    d.cgroup_create(CGROUP_ROOT, "p").unwrap()
  } else {
    CGROUP_ROOT
  };
  let a = d.cgroup_create(p, "a").unwrap();
  let b = d.cgroup_create(p, "b").unwrap();
  let c = d.cgroup_create(p, "c").unwrap();
  if nested {
    limit(&mut d, p, 0, 110, None);
  }
  limit(&mut d, a, 0, 60, None);
  limit(&mut d, c, 0, 50, None);
  buffer(&mut d, 1, 50, c);
  buffer(&mut d, 2, 40, b);
  d.create_object(3, 30 * U, None, Profile::GemVram2024).unwrap();
  d.cgroup_assign(3, a).unwrap();
  validate(&mut d, 3, &[place(VRAM), place(GTT)]).unwrap();
  d
}

#[test]
fn proposed_evicts_unprotected_instead_of_falling_back() {
  let d = contention(DmemMode::Upstream, true);
  assert_eq!((at(&d, 1), at(&d, 2), at(&d, 3)), (VRAM, VRAM, GTT));
  let d = contention(DmemMode::Proposed, true);
  // The common ancestor P judges C (under its low) and B (unprotected).
  assert_eq!((at(&d, 1), at(&d, 2), at(&d, 3)), (VRAM, GTT, VRAM));
  // With the root as the common ancestor, dmem lets any victim go: the LRU head.
  let d = contention(DmemMode::Proposed, false);
  assert_eq!((at(&d, 1), at(&d, 2), at(&d, 3)), (GTT, VRAM, VRAM));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
  let mut d = dev(DmemMode::Upstream);
  let a = d.cgroup_create(CGROUP_ROOT, "a").unwrap();
  assert_eq!(
    d.cgroup_create(CGROUP_ROOT, "a").unwrap_err().errno,
    Errno::EEXIST
  );
  assert_eq!(d.cgroup_create(9, "x").unwrap_err().errno, Errno::EINVAL);
  assert_eq!(d.cgroup_create(a, "x/y").unwrap_err().errno, Errno::EINVAL);
  assert_eq!(
    d.cgroup_set_limit(CGROUP_ROOT, VRAM, 2, 0).unwrap_err().errno,
    Errno::EINVAL
  );
  assert_eq!(d.cgroup_set_limit(a, GTT, 2, 0).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(
    d.cgroup_set_limit(a, VRAM, 3, 0).unwrap_err().errno,
    Errno::EINVAL
  );
  buffer(&mut d, 1, 20, a);
  assert_eq!(
    d.cgroup_set_limit(a, VRAM, 2, 10 * U).unwrap_err().errno,
    Errno::EBUSY
  );
  assert_eq!(d.cgroup_stats(a, VRAM).unwrap().counter.max, u64::MAX);
  assert_eq!(d.cgroup_destroy(a).unwrap_err().errno, Errno::EBUSY);
  assert_eq!(d.cgroup_destroy(CGROUP_ROOT).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(
    d.dmem_setup(DmemMode::Proposed, true, true).unwrap_err().errno,
    Errno::EBUSY
  );
  assert_eq!(d.cgroup_assign(1, CGROUP_ROOT).unwrap_err().errno, Errno::EBUSY);
  d.put(1, 0).unwrap();
  assert_eq!(usage(&d, a), 0);
  d.cgroup_destroy(a).unwrap();
  assert_eq!(d.cgroup_stats(a, VRAM).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(d.cgroup_create(a, "x").unwrap_err().errno, Errno::EINVAL);
  // The name is free again.
  assert_eq!(d.cgroup_create(CGROUP_ROOT, "a").unwrap(), 3);
}
