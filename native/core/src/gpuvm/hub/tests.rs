//! One test per rule of lib/contract/hub.md, with exact values (refcounts,
//! ids, list orders, warnings): the eras, the VM and the threshold past 10^5
//! vm_bos here; the vm_bo calls and lists in calls/tests.rs, links, steps and
//! flags in steps/tests.rs, madvise in madvise/tests.rs. The helpers below
//! are theirs too.

use super::*;
pub(super) use crate::errno::Result;
pub(super) use crate::gpuvm::{
  GpuVm, Op, OpMap, OpRemap, OpUnmap, Va, VaKey, KERNEL_SEQ, VA_INVALIDATED, VA_SPARSE,
};
pub(super) use crate::warning::WarnKind as W;
pub(super) use crate::Errno;

pub(super) const P: u64 = 0x1000;
pub(super) const IMM: u32 = VM_IMMEDIATE_MODE;
pub(super) const PROT: u32 = VM_RESV_PROTECTED;
pub(super) const LOCKED: u32 = OBTAIN_LOCKED;
pub(super) const PREALLOC: u32 = OBTAIN_PREALLOC;

pub(super) fn at(page: u64) -> u64 {
  page * P
}

/// A VA space of `era` over [0, 2^48) with the kernel node [0, P).
pub(super) fn vm_of(era: u8, flags: u32) -> GpuVm {
  GpuVm::with_options(
    "hub",
    0,
    1 << 48,
    Some((0, P)),
    VmOptions {
      era: u32::from(era),
      flags,
      resv: 0,
    },
  )
  .unwrap()
}

pub(super) fn vm(flags: u32) -> GpuVm {
  vm_of(ERA_GPUVM, flags)
}

pub(super) fn errno<T>(r: Result<T>) -> Errno {
  match r {
    Ok(_) => panic!("expected an error"),
    Err(e) => e.errno,
  }
}

pub(super) fn kinds(vm: &mut GpuVm) -> Vec<W> {
  vm.take_warnings().into_iter().map(|w| w.kind).collect()
}

pub(super) fn put(vm: &mut GpuVm, page: u64, pages: u64, obj: ObjId) -> Va {
  vm.insert(at(page), pages * P, obj, 0).unwrap()
}

pub(super) fn va_at(vm: &GpuVm, page: u64) -> Va {
  vm.iter()
    .find(|v| v.addr == at(page) && v.seq != KERNEL_SEQ)
    .unwrap()
}

/// A fresh vm_bo's record (refcount 1, obtained for `obj`).
pub(super) fn bo(id: u32, obj: ObjId) -> VmBoRecord {
  VmBoRecord {
    id,
    obj,
    refcount: 1,
    vas: 0,
    evicted: false,
    external: false,
    on_extobj_list: false,
    on_evict_list: false,
    zombie: false,
    freed: false,
  }
}

pub(super) fn zombie(id: u32, obj: ObjId) -> VmBoRecord {
  VmBoRecord {
    refcount: 0,
    zombie: true,
    ..bo(id, obj)
  }
}

pub(super) fn ids(recs: &[VmBoRecord]) -> Vec<u32> {
  recs.iter().map(|r| r.id).collect()
}

pub(super) fn key(va: &Va) -> VaKey {
  va.key()
}

// ---- eras ---------------------------------------------------------------------------

#[test]
fn era_0_has_no_hub_but_hub_info_set_va_flags_and_object_moved() {
  let mut vm = vm_of(ERA_SEED, 0);
  assert_eq!(
    vm.hub_info().unwrap(),
    HubRecord {
      era: 0,
      flags: 0,
      resv: 0,
      refcount: 1
    }
  );
  let a = put(&mut vm, 1, 1, 1);
  vm.link(key(&a)).unwrap();
  assert_eq!(vm.refcount(), 2);
  assert!(vm.hub.is_none());
  assert_eq!(errno(vm.vm_get()), Errno::EINVAL);
  assert_eq!(errno(vm.vm_put()), Errno::EINVAL);
  assert_eq!(errno(vm.declare_external(1)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_obtain(1, LOCKED)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_find(1)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_get(1)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_put(1, false)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_info(1)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_vas(1)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bos()), Errno::EINVAL);
  assert_eq!(errno(vm.track_freed_vm_bos(true)), Errno::EINVAL);
  assert_eq!(errno(vm.take_freed_vm_bos()), Errno::EINVAL);
  assert_eq!(errno(vm.link_vm_bo(key(&a), 1)), Errno::EINVAL);
  assert_eq!(errno(vm.unlink_defer(key(&a))), Errno::EINVAL);
  assert_eq!(errno(vm.extobj_add(1)), Errno::EINVAL);
  assert_eq!(errno(vm.bo_evict(1, true)), Errno::EINVAL);
  assert_eq!(errno(vm.gem_evict(1, true)), Errno::EINVAL);
  assert_eq!(errno(vm.extobj_list()), Errno::EINVAL);
  assert_eq!(errno(vm.evict_list()), Errno::EINVAL);
  assert_eq!(errno(vm.defer_list()), Errno::EINVAL);
  assert_eq!(errno(vm.deferred_cleanup()), Errno::EINVAL);
  assert_eq!(errno(vm.prepare_objects()), Errno::EINVAL);
  assert_eq!(errno(vm.validated(1)), Errno::EINVAL);
  assert_eq!(errno(vm.madvise_ops(at(4), P, 0, 0)), Errno::EINVAL);
  vm.set_va_flags(key(&a), VA_SPARSE).unwrap();
  vm.object_moved(1, true).unwrap();
  assert_eq!(vm.get(key(&a)).unwrap().flags, VA_SPARSE | VA_INVALIDATED);
  assert!(vm.take_warnings().is_empty());
}

#[test]
fn creation_refuses_unknown_eras_and_flags_and_flags_in_era_0() {
  let make = |era, flags| GpuVm::with_options("x", 0, 1 << 40, None, VmOptions { era, flags, resv: 0 });
  assert_eq!(errno(make(3, 0)), Errno::EINVAL);
  assert_eq!(errno(make(u32::MAX, 0)), Errno::EINVAL);
  assert_eq!(errno(make(1, 4)), Errno::EINVAL);
  assert_eq!(errno(make(0, IMM)), Errno::EINVAL);
  let vm = GpuVm::with_options(
    "x",
    0,
    1 << 40,
    None,
    VmOptions {
      era: 2,
      flags: 3,
      resv: 7,
    },
  )
  .unwrap();
  assert_eq!(
    vm.hub_info().unwrap(),
    HubRecord {
      era: 2,
      flags: 3,
      resv: 7,
      refcount: 1
    }
  );
}

#[test]
fn an_era_0_va_space_pays_one_pointer() {
  // The hub is one Box; era, flags and resv share the padding after `destroyed`.
  assert!(vm_of(ERA_SEED, 0).hub.is_none());
  assert_eq!(size_of::<Option<Box<Hub>>>(), 8);
  eprintln!("size_of::<GpuVm>() = {}", size_of::<GpuVm>());
  assert_eq!(
    vm_of(ERA_SEED, 0).heap_bytes(),
    GpuVm::new("hub", 0, 1 << 48, Some((0, P))).heap_bytes()
  );
}

/// A linked mapping costs the same bytes in every era: from era 1 on its
/// link adds a reference on a vm_bo (one per object), and its object's list
/// is built only when first read, as in the seed's era (it was kept entry by
/// entry, 39 bytes a mapping more under the canonical workload).
#[test]
fn the_bind_path_holds_the_same_bytes_a_mapping_in_every_era() {
  use crate::vmbind::{Params, Request, Requests};
  let params = Params {
    ops: 200_000,
    ..Params::default()
  };
  let run = |era: u8| {
    let mut vm = vm_of(era, 0);
    for req in Requests::new(params) {
      match req {
        Request::Map(m) => vm.bind(m.addr, m.range, m.obj, m.offset),
        Request::Unmap { addr, range } => vm.unbind(addr, range),
      }
      .unwrap();
    }
    vm
  };
  let seed = run(ERA_SEED);
  let mut gpuvm = run(ERA_GPUVM);
  let n = seed.mapping_count();
  assert_eq!(gpuvm.mapping_count(), n);
  // The hub's own part: a vm_bo and its map entries for each of the 1,024
  // objects; the rest is byte for byte the seed's.
  let hub = gpuvm.hub.as_deref().unwrap().heap_bytes();
  assert!(hub < 4 * n, "hub {hub} B for {n} mappings");
  assert_eq!(gpuvm.heap_bytes(), seed.heap_bytes() + hub);
  // Reading a list builds them all; every linked mapping is on its object's.
  let linked: usize = (1..=1024).map(|obj| gpuvm.gem_vas(obj).len()).sum();
  assert_eq!(linked, n);
  let bos = gpuvm.vm_bos().unwrap();
  assert_eq!(
    bos.len(),
    (1..=1024).filter(|&o| !gpuvm.gem_vas(o).is_empty()).count()
  );
  assert_eq!(bos.iter().map(|b| b.vas as usize).sum::<usize>(), n);
}

#[test]
fn overflow_warns_at_every_check_in_era_0_and_only_at_init_later() {
  const MAX: u64 = u64::MAX;
  let mut seed = vm_of(ERA_SEED, 0);
  assert!(!seed.range_valid(MAX, 2));
  assert_eq!(errno(seed.insert(MAX - P + 1, 2 * P, 1, 0)), Errno::EINVAL);
  assert_eq!(kinds(&mut seed), [W::Overflow, W::Overflow]);
  for era in [ERA_GPUVM, ERA_NEXT] {
    let mut vm = vm_of(era, 0);
    assert!(!vm.range_valid(MAX, 2));
    assert_eq!(errno(vm.insert(MAX - P + 1, 2 * P, 1, 0)), Errno::EINVAL);
    assert_eq!(errno(vm.sm_map_ops(MAX - P + 1, 2 * P, 1, 0)), Errno::EINVAL);
    assert!(vm.find_next(MAX).is_none());
    assert!(vm.take_warnings().is_empty());
    let mut over = GpuVm::with_options(
      "over",
      MAX - P + 1,
      2 * P,
      Some((MAX, 2)),
      VmOptions {
        era: u32::from(era),
        ..VmOptions::default()
      },
    )
    .unwrap();
    let w = over.take_warnings();
    assert_eq!(w.len(), 2);
    assert_eq!(
      w[0].message,
      "GPUVA address limited to 8 bytes: 0xfffffffffffff000 + 0x2000 overflows"
    );
    assert!(!over.range_valid(MAX - P + 1, 2 * P));
    assert!(over.take_warnings().is_empty());
  }
}

#[test]
fn era_2_refuses_zero_length_ranges() {
  let mut one = vm_of(ERA_GPUVM, 0);
  assert!(one.range_valid(at(3), 0));
  one.insert(at(3), 0, 1, 0).unwrap();
  let mut vm = vm_of(ERA_NEXT, 0);
  assert!(!vm.range_valid(at(3), 0));
  assert!(vm.range_valid(at(3), P));
  assert_eq!(errno(vm.insert(at(3), 0, 1, 0)), Errno::EINVAL);
  assert_eq!(errno(vm.sm_map(at(3), 0, 1, 0)), Errno::EINVAL);
  assert_eq!(errno(vm.sm_unmap(at(3), 0)), Errno::EINVAL);
  assert_eq!(errno(vm.sm_map_ops(at(3), 0, 1, 0)), Errno::EINVAL);
  assert_eq!(errno(vm.sm_unmap_ops(at(3), 0)), Errno::EINVAL);
  assert_eq!(errno(vm.bind(at(3), 0, 1, 0)), Errno::EINVAL);
  assert_eq!(errno(vm.unbind(at(3), 0)), Errno::EINVAL);
  assert_eq!(errno(vm.madvise_ops(at(3), 0, 1, 0)), Errno::EINVAL);
  let e = vm.insert(at(3), 0, 1, 0).unwrap_err();
  assert!(e.message.contains("is empty"), "{}", e.message);
  assert_eq!(vm.len(), 1);
  assert!(vm.take_warnings().is_empty());
}

#[test]
fn the_walk_and_op_lists_are_the_same_in_every_era() {
  let run = |era| {
    let mut vm = vm_of(era, 0);
    vm.bind(at(1), 4 * P, 1, 0).unwrap();
    vm.bind(at(2), P, 2, 0).unwrap();
    vm.bind(at(10), 2 * P, 0, 0).unwrap();
    let ops = (
      vm.sm_map_ops(at(3), P, 1, 2 * P).unwrap(),
      vm.sm_map_ops(at(10), P, 0, 0).unwrap(),
      vm.sm_unmap_ops(at(2), 2 * P).unwrap(),
    );
    (vm.iter().collect::<Vec<_>>(), ops)
  };
  let seed = run(ERA_SEED);
  assert_eq!(run(ERA_GPUVM), seed);
  assert_eq!(run(ERA_NEXT), seed);
  // keep never without an object.
  assert!(matches!(seed.1 .1[0], Op::Remap(r) if !r.unmap.keep));
  assert!(matches!(seed.1 .0[0], Op::Remap(r) if r.unmap.keep));
}

// ---- the VM -----------------------------------------------------------------------------

#[test]
fn refcount_counts_creator_mappings_and_vm_bos_zombies_included() {
  let mut vm = vm(IMM);
  assert_eq!(vm.refcount(), 1);
  let a = put(&mut vm, 1, 1, 1);
  assert_eq!(vm.refcount(), 2);
  assert_eq!(vm.vm_bo_obtain(2, PREALLOC).unwrap().id, 1);
  assert_eq!(vm.refcount(), 3);
  assert_eq!(vm.vm_get().unwrap(), 4);
  assert_eq!(vm.vm_put().unwrap(), 3);
  vm.link(key(&a)).unwrap();
  assert_eq!(vm.refcount(), 4);
  assert!(vm.vm_bo_put(1, true).unwrap());
  assert_eq!(vm.refcount(), 4);
  assert_eq!(vm.deferred_cleanup().unwrap(), 1);
  assert_eq!(vm.refcount(), 3);
  vm.remove(key(&a)).unwrap();
  assert_eq!(vm.hub_info().unwrap().refcount, 1);
}

#[test]
fn vm_put_without_creator_reference_is_einval_and_vm_get_revives_it() {
  let mut vm = vm(0);
  let a = put(&mut vm, 1, 1, 0);
  assert_eq!(vm.vm_put().unwrap(), 1);
  assert!(!vm.is_destroyed());
  assert_eq!(errno(vm.vm_put()), Errno::EINVAL);
  assert_eq!(vm.vm_get().unwrap(), 2);
  assert_eq!(vm.vm_put().unwrap(), 1);
  assert_eq!(vm.iter().nth(1), Some(vm.get(key(&a)).unwrap()));
}

#[test]
fn vm_put_to_zero_tears_down() {
  let mut vm = vm(0);
  assert_eq!(vm.vm_put().unwrap(), 0);
  assert!(vm.is_destroyed());
  assert!(vm.take_warnings().is_empty());
  assert_eq!(errno(vm.hub_info()), Errno::EINVAL);
  assert_eq!(errno(vm.vm_get()), Errno::EINVAL);
  assert_eq!(errno(vm.destroy()), Errno::EINVAL);
}

#[test]
fn without_creator_reference_the_last_mapping_or_vm_bo_tears_down() {
  // The last mapping removed.
  let mut a = vm(0);
  let m = put(&mut a, 1, 1, 0);
  a.vm_put().unwrap();
  a.remove(key(&m)).unwrap();
  assert!(a.is_destroyed());
  // The last vm_bo freed by a put.
  let mut b = vm(0);
  b.vm_bo_obtain(3, LOCKED).unwrap();
  assert_eq!(b.vm_put().unwrap(), 1);
  assert!(b.vm_bo_put(1, false).unwrap());
  assert!(b.is_destroyed());
  // A zombie keeps it until cleanup.
  let mut c = vm(IMM);
  c.vm_bo_obtain(3, PREALLOC).unwrap();
  c.vm_put().unwrap();
  assert!(c.vm_bo_put(1, true).unwrap());
  assert!(!c.is_destroyed());
  assert_eq!(c.deferred_cleanup().unwrap(), 1);
  assert!(c.is_destroyed());
  // An unbind whose UNMAP frees the vm_bo and removes the last mapping.
  let mut d = vm(0);
  d.bind(at(1), P, 1, 0).unwrap();
  assert_eq!(d.vm_put().unwrap(), 2);
  let c2 = d.unbind(at(1), P).unwrap();
  assert_eq!((c2.map, c2.remap, c2.unmap), (0, 0, 1));
  assert!(d.is_destroyed());
  // Immediate mode defers the UNMAP's put: cleanup ends it.
  let mut e = vm(IMM);
  e.bind(at(1), P, 1, 0).unwrap();
  e.vm_put().unwrap();
  e.unbind(at(1), P).unwrap();
  assert!(!e.is_destroyed());
  assert_eq!(e.defer_list().unwrap(), [1]);
  e.deferred_cleanup().unwrap();
  assert!(e.is_destroyed());
  // A bind that replaces the last mapping keeps the VM: teardown is checked after the request.
  let mut f = vm(0);
  f.bind(at(1), P, 1, 0).unwrap();
  f.vm_put().unwrap();
  f.bind(at(1), P, 2, 0).unwrap();
  assert!(!f.is_destroyed());
  assert_eq!(f.refcount(), 2);
  // An applied UNMAP too.
  let ops = f.sm_unmap_ops(at(1), P).unwrap();
  f.apply(&ops[0]).unwrap();
  assert!(f.is_destroyed());
  for vm in [&mut a, &mut b, &mut c, &mut d, &mut e, &mut f] {
    assert!(vm.take_warnings().is_empty());
  }
}

#[test]
fn teardown_warns_tree_extobj_evict_defer_in_order_zombies_counted() {
  let mut vm = vm(PROT | IMM);
  vm.declare_external(1).unwrap();
  vm.declare_external(2).unwrap();
  vm.bind(at(1), P, 1, 0).unwrap();
  vm.vm_bo_obtain(2, PREALLOC).unwrap();
  vm.extobj_add(2).unwrap();
  vm.vm_bo_obtain(3, PREALLOC).unwrap();
  vm.bo_evict(3, true).unwrap();
  assert!(vm.vm_bo_put(2, true).unwrap());
  assert_eq!(vm.extobj_list().unwrap(), [1]);
  vm.destroy().unwrap();
  let w = vm.take_warnings();
  let got: Vec<(W, &str)> = w.iter().map(|w| (w.kind, w.message.as_str())).collect();
  assert_eq!(
    got,
    [
      (
        W::TreeNotEmpty,
        "GPUVA tree is not empty, potentially leaking memory (1 mappings remain)"
      ),
      (W::ExtobjNotEmpty, "Extobj list should be empty (2 vm_bo(s))"),
      (W::EvictNotEmpty, "Evict list should be empty (1 vm_bo(s))"),
      (
        W::DeferNotEmpty,
        "VM BO cleanup list should be empty (1 vm_bo(s))"
      ),
    ]
  );
  assert_eq!(W::ExtobjNotEmpty.name(), "extobj-not-empty");
  assert_eq!(
    W::DeferNotEmpty.rule(),
    "drm_gpuvm: deferred vm_bos are cleaned up before the VM is freed"
  );
  let mut clean = vm_of(ERA_GPUVM, IMM);
  clean.vm_bo_obtain(4, PREALLOC).unwrap();
  clean.vm_bo_put(1, true).unwrap();
  clean.destroy().unwrap();
  assert_eq!(kinds(&mut clean), [W::DeferNotEmpty]);
}

#[test]
fn declare_external_makes_vm_bos_external() {
  let mut vm = vm(0);
  vm.declare_external(5).unwrap();
  vm.declare_external(5).unwrap();
  assert_eq!(errno(vm.declare_external(0)), Errno::EINVAL);
  assert_eq!(
    vm.vm_bo_obtain(5, LOCKED).unwrap(),
    VmBoRecord {
      external: true,
      ..bo(1, 5)
    }
  );
  assert_eq!(vm.vm_bo_obtain(6, LOCKED).unwrap(), bo(2, 6));
  assert!(vm.extobj_list().unwrap().is_empty());
}

// ---- the threshold ------------------------------------------------------------------------

#[test]
fn a_hundred_thousand_vm_bos_in_one_va_space() {
  const N: u32 = 100_003;
  let mut vm = vm(IMM);
  for obj in (1..=N).step_by(2) {
    vm.declare_external(obj).unwrap();
  }
  for i in 0..N {
    vm.bind(at(16 + u64::from(i)), P, i + 1, 0).unwrap();
  }
  let bos = vm.vm_bos().unwrap();
  assert_eq!(bos.len(), N as usize);
  assert!(bos
    .iter()
    .enumerate()
    .all(|(i, r)| r.id == i as u32 + 1 && r.obj == i as u32 + 1 && r.refcount == 1 && r.vas == 1));
  let external = vm.extobj_list().unwrap();
  assert_eq!(external.len(), N.div_ceil(2) as usize);
  assert!(external.iter().enumerate().all(|(i, &id)| id == 2 * i as u32 + 1));
  for obj in (2..=N).step_by(2) {
    vm.gem_evict(obj, true).unwrap();
  }
  let evicted = vm.evict_list().unwrap();
  assert_eq!(evicted.len(), (N / 2) as usize);
  assert!(evicted.iter().enumerate().all(|(i, &id)| id == 2 * i as u32 + 2));
  assert_eq!(vm.prepare_objects().unwrap(), external);
  assert_eq!(vm.refcount(), 1 + 2 * u64::from(N));
  // Evict every third one back, out of the middle of the list.
  for obj in (2..=N).step_by(6) {
    vm.gem_evict(obj, false).unwrap();
  }
  assert_eq!(
    vm.evict_list().unwrap().len(),
    (N / 2 - ((N - 2) / 6 + 1)) as usize
  );
  assert_eq!(vm.unbind(at(16), u64::from(N) * P).unwrap().unmap, u64::from(N));
  let defer = vm.defer_list().unwrap();
  assert_eq!(defer.len(), N as usize);
  assert!(defer.iter().enumerate().all(|(i, &id)| id == N - i as u32));
  assert!(vm.extobj_list().unwrap().is_empty());
  assert!(vm.evict_list().unwrap().is_empty());
  assert_eq!(vm.vm_bo_find(N).unwrap(), None);
  assert_eq!(vm.deferred_cleanup().unwrap(), N);
  assert!(vm.vm_bos().unwrap().is_empty());
  assert_eq!(vm.refcount(), 1);
  assert_eq!(vm.vm_bo_obtain(1, PREALLOC).unwrap().id, N + 1);
  assert!(vm.take_warnings().is_empty());
}

#[test]
fn one_object_with_a_hundred_thousand_mappings() {
  const N: u64 = 100_000;
  let mut vm = vm(0);
  for i in 0..N {
    vm.bind(at(16 + 2 * i), P, 7, i * P).unwrap();
  }
  let rec = vm.vm_bo_info(1).unwrap().unwrap();
  assert_eq!((rec.refcount, rec.vas), (N as u32, N as u32));
  vm.object_moved(7, true).unwrap();
  assert!(vm.iter().skip(1).all(|v| v.flags == VA_INVALIDATED));
  assert_eq!(vm.evict_list().unwrap(), [1]);
  // Splitting every mapping keeps the one vm_bo.
  for i in 0..N {
    vm.unbind(at(16 + 2 * i) + P / 2, P / 4).unwrap();
  }
  let rec = vm.vm_bo_info(1).unwrap().unwrap();
  assert_eq!((rec.id, rec.vas), (1, 2 * N as u32));
  vm.unbind(at(16), 2 * N * P).unwrap();
  assert!(vm.vm_bos().unwrap().is_empty());
}
