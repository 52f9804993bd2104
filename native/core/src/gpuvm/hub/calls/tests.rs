//! The vm_bo calls and the lists of lib/contract/hub.md.

use crate::gpuvm::hub::tests::*;
use crate::gpuvm::hub::{VmBoRecord, ERA_GPUVM, ERA_SEED};
use crate::gpuvm::ObjId;

// ---- vm_bo ------------------------------------------------------------------------------

#[test]
fn obtain_returns_the_live_one_or_a_new_one_and_warns_for_the_wrong_mode() {
  let mut vm = vm(0);
  assert_eq!(vm.vm_bo_obtain(4, LOCKED).unwrap(), bo(1, 4));
  assert_eq!(vm.vm_bo_obtain(4, LOCKED).unwrap().refcount, 2);
  assert_eq!(vm.vm_bo_obtain(9, LOCKED).unwrap(), bo(2, 9));
  assert_eq!(errno(vm.vm_bo_obtain(0, LOCKED)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_obtain(4, 2)), Errno::EINVAL);
  assert!(vm.take_warnings().is_empty());
  vm.vm_bo_obtain(5, PREALLOC).unwrap();
  let w = vm.take_warnings();
  assert_eq!(w[0].kind, W::ObtainPreallocNotImmediate);
  assert_eq!(
    w[0].message,
    "drm_gpuvm_bo_obtain_prealloc on a VM not in immediate mode (object 5)"
  );
  let mut imm = vm_of(ERA_GPUVM, IMM);
  assert_eq!(imm.vm_bo_obtain(3, LOCKED).unwrap(), bo(1, 3));
  let w = imm.take_warnings();
  assert_eq!(w[0].kind, W::ObtainLockedImmediate);
  assert_eq!(
    w[0].message,
    "drm_gpuvm_bo_obtain_locked on a VM in immediate mode (object 3)"
  );
  assert_eq!(imm.vm_bo_obtain(3, PREALLOC).unwrap().refcount, 2);
  assert!(imm.take_warnings().is_empty());
}

#[test]
fn find_and_get_take_a_reference_on_live_vm_bos_only() {
  let mut vm = vm(IMM);
  assert_eq!(vm.vm_bo_find(1).unwrap(), None);
  assert_eq!(vm.vm_bo_find(0).unwrap(), None);
  vm.vm_bo_obtain(1, PREALLOC).unwrap();
  assert_eq!(vm.vm_bo_find(1).unwrap().unwrap().refcount, 2);
  assert_eq!(vm.vm_bo_get(1).unwrap().refcount, 3);
  assert_eq!(errno(vm.vm_bo_get(0)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_get(2)), Errno::EINVAL);
  vm.vm_bo_obtain(2, PREALLOC).unwrap();
  vm.vm_bo_put(2, true).unwrap();
  assert_eq!(vm.vm_bo_find(2).unwrap(), None);
  assert_eq!(errno(vm.vm_bo_get(2)), Errno::EINVAL);
  vm.deferred_cleanup().unwrap();
  let e = vm.vm_bo_get(2).unwrap_err();
  assert_eq!(e.message, "vm_bo 2 was freed");
}

#[test]
fn put_releases_at_zero_and_refuses_what_only_links_hold() {
  let mut vm = vm(0);
  vm.vm_bo_obtain(1, LOCKED).unwrap();
  vm.vm_bo_obtain(1, LOCKED).unwrap();
  assert!(!vm.vm_bo_put(1, false).unwrap());
  assert_eq!(vm.vm_bo_info(1).unwrap(), Some(bo(1, 1)));
  assert!(vm.vm_bo_put(1, false).unwrap());
  assert_eq!(vm.vm_bo_info(1).unwrap(), None);
  assert_eq!(errno(vm.vm_bo_put(1, false)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_put(7, false)), Errno::EINVAL);
  vm.vm_bo_obtain(2, LOCKED).unwrap();
  assert!(vm.vm_bo_put(2, true).unwrap());
  let w = vm.take_warnings();
  assert_eq!(w[0].kind, W::PutDeferredNotImmediate);
  assert_eq!(
    w[0].message,
    "drm_gpuvm_bo_put_deferred on a VM not in immediate mode (vm_bo 2)"
  );
  assert_eq!(vm.vm_bo_info(2).unwrap(), Some(zombie(2, 2)));
  assert_eq!(errno(vm.vm_bo_put(2, true)), Errno::EINVAL);
  vm.bind(at(1), P, 5, 0).unwrap();
  assert_eq!(errno(vm.vm_bo_put(3, false)), Errno::EINVAL);
  assert_eq!(errno(vm.vm_bo_put(3, true)), Errno::EINVAL);
  assert_eq!(vm.vm_bo_get(3).unwrap().refcount, 2);
  assert!(!vm.vm_bo_put(3, false).unwrap());
  assert!(vm.take_warnings().is_empty());
}

#[test]
fn release_not_deferred_frees_and_logs_and_ids_are_never_reused() {
  let mut vm = vm(0);
  vm.track_freed_vm_bos(true).unwrap();
  vm.declare_external(1).unwrap();
  vm.vm_bo_obtain(1, LOCKED).unwrap();
  vm.extobj_add(1).unwrap();
  vm.bo_evict(1, true).unwrap();
  let a = put(&mut vm, 1, 1, 1);
  vm.link_vm_bo(key(&a), 1).unwrap();
  let rec = vm.vm_bo_info(1).unwrap().unwrap();
  assert_eq!(
    (rec.refcount, rec.vas, rec.on_extobj_list, rec.on_evict_list),
    (2, 1, true, true)
  );
  assert_eq!(vm.refcount(), 3);
  vm.unlink(key(&a)).unwrap();
  assert!(vm.vm_bo_put(1, false).unwrap());
  assert!(vm.extobj_list().unwrap().is_empty());
  assert!(vm.evict_list().unwrap().is_empty());
  assert!(vm.vm_bos().unwrap().is_empty());
  assert_eq!(vm.refcount(), 2);
  assert_eq!(
    vm.take_freed_vm_bos().unwrap(),
    [VmBoRecord {
      refcount: 0,
      evicted: true,
      external: true,
      freed: true,
      ..bo(1, 1)
    }]
  );
  assert_eq!(vm.vm_bo_obtain(1, LOCKED).unwrap().id, 2);
}

#[test]
fn release_deferred_makes_a_zombie_that_leaves_the_lists_unless_resv_protected() {
  for flags in [IMM, IMM | PROT] {
    let mut vm = vm(flags);
    vm.declare_external(1).unwrap();
    vm.vm_bo_obtain(1, PREALLOC).unwrap();
    vm.extobj_add(1).unwrap();
    vm.vm_bo_obtain(2, PREALLOC).unwrap();
    vm.bo_evict(2, true).unwrap();
    assert!(vm.vm_bo_put(1, true).unwrap());
    assert!(vm.vm_bo_put(2, true).unwrap());
    let prot = flags & PROT != 0;
    assert_eq!(
      vm.vm_bos().unwrap(),
      [
        VmBoRecord {
          external: true,
          on_extobj_list: prot,
          ..zombie(1, 1)
        },
        VmBoRecord {
          evicted: true,
          on_evict_list: prot,
          ..zombie(2, 2)
        },
      ]
    );
    assert!(vm.extobj_list().unwrap().is_empty());
    assert!(vm.evict_list().unwrap().is_empty());
    assert_eq!(vm.defer_list().unwrap(), [2, 1]);
    assert_eq!(vm.refcount(), 3);
    assert_eq!(
      vm.vm_bo_obtain(1, PREALLOC).unwrap(),
      VmBoRecord {
        external: true,
        ..bo(3, 1)
      }
    );
    assert!(vm.vm_bo_vas(1).unwrap().is_empty());
  }
}

#[test]
fn deferred_cleanup_frees_newest_first() {
  let mut vm = vm(IMM | PROT);
  vm.track_freed_vm_bos(true).unwrap();
  vm.declare_external(3).unwrap();
  for obj in [1, 2, 3] {
    vm.vm_bo_obtain(obj, PREALLOC).unwrap();
  }
  vm.extobj_add(3).unwrap();
  vm.bo_evict(2, true).unwrap();
  for id in [2, 1, 3] {
    vm.vm_bo_put(id, true).unwrap();
  }
  assert_eq!(vm.defer_list().unwrap(), [3, 1, 2]);
  assert_eq!(vm.refcount(), 4);
  assert_eq!(vm.deferred_cleanup().unwrap(), 3);
  let freed = vm.take_freed_vm_bos().unwrap();
  assert_eq!(ids(&freed), [3, 1, 2]);
  assert!(freed
    .iter()
    .all(|r| r.freed && !r.zombie && !r.on_extobj_list && !r.on_evict_list));
  assert!(vm.vm_bos().unwrap().is_empty());
  assert_eq!(vm.refcount(), 1);
  assert_eq!(vm.deferred_cleanup().unwrap(), 0);
  vm.destroy().unwrap();
  assert!(vm.take_warnings().is_empty());
}

#[test]
fn info_vas_and_vm_bos() {
  let mut vm = vm(IMM);
  assert_eq!(vm.vm_bo_info(1).unwrap(), None);
  let a = put(&mut vm, 1, 1, 1);
  let b = vm.insert(at(3), P, 1, P).unwrap();
  put(&mut vm, 5, 1, 2);
  vm.link(key(&b)).unwrap();
  vm.link(key(&a)).unwrap();
  let vas: Vec<VaKey> = vm.vm_bo_vas(1).unwrap().iter().map(|v| v.key()).collect();
  assert_eq!(vas, [key(&b), key(&a)]);
  assert_eq!(vm.vm_bo_info(1).unwrap().unwrap().vas, 2);
  assert_eq!(errno(vm.vm_bo_vas(2)), Errno::EINVAL);
  vm.vm_bo_obtain(7, PREALLOC).unwrap();
  vm.vm_bo_put(2, true).unwrap();
  assert!(vm.vm_bo_vas(2).unwrap().is_empty());
  assert_eq!(ids(&vm.vm_bos().unwrap()), [1, 2]);
  vm.deferred_cleanup().unwrap();
  assert_eq!(errno(vm.vm_bo_vas(2)), Errno::EINVAL);
  assert_eq!(vm.vm_bo_info(2).unwrap(), None);
}

#[test]
fn the_freed_log_is_kept_only_while_tracking() {
  let mut vm = vm(0);
  vm.vm_bo_obtain(1, LOCKED).unwrap();
  vm.vm_bo_put(1, false).unwrap();
  assert!(vm.take_freed_vm_bos().unwrap().is_empty());
  vm.track_freed_vm_bos(true).unwrap();
  vm.vm_bo_obtain(2, LOCKED).unwrap();
  vm.vm_bo_put(2, false).unwrap();
  vm.track_freed_vm_bos(false).unwrap();
  vm.track_freed_vm_bos(true).unwrap();
  assert!(vm.take_freed_vm_bos().unwrap().is_empty());
  for obj in [5, 6] {
    let id = vm.vm_bo_obtain(obj, LOCKED).unwrap().id;
    vm.vm_bo_put(id, false).unwrap();
  }
  assert_eq!(ids(&vm.take_freed_vm_bos().unwrap()), [3, 4]);
}

#[test]
fn vm_bo_ids_run_out_with_enomem_before_anything_changes() {
  let mut vm = vm(0);
  vm.set_vm_bo_id_limit(2);
  vm.vm_bo_obtain(1, LOCKED).unwrap();
  vm.bind(at(1), P, 2, 0).unwrap();
  assert_eq!(errno(vm.vm_bo_obtain(3, LOCKED)), Errno::ENOMEM);
  assert_eq!(errno(vm.bind(at(4), P, 3, 0)), Errno::ENOMEM);
  assert_eq!(vm.mapping_count(), 1);
  let a = put(&mut vm, 6, 1, 3);
  assert_eq!(errno(vm.link(key(&a))), Errno::ENOMEM);
  assert!(!vm.is_linked(key(&a)));
  // The live ones still work, and so do object-less mappings.
  assert_eq!(vm.vm_bo_obtain(1, LOCKED).unwrap().refcount, 2);
  vm.bind(at(2), P, 2, 0).unwrap();
  vm.bind(at(8), P, 0, 0).unwrap();
  assert_eq!(
    errno(vm.apply(&Op::Map(OpMap {
      addr: at(10),
      range: P,
      obj: 4,
      offset: 0
    }))),
    Errno::ENOMEM
  );
  assert_eq!(vm.mapping_count(), 4);
}

// ---- lists ------------------------------------------------------------------------------

#[test]
fn extobj_add_lists_live_external_vm_bos_once() {
  let mut vm = vm(IMM);
  vm.declare_external(1).unwrap();
  vm.declare_external(3).unwrap();
  vm.vm_bo_obtain(1, PREALLOC).unwrap();
  assert!(vm.extobj_list().unwrap().is_empty());
  vm.extobj_add(1).unwrap();
  vm.extobj_add(1).unwrap();
  vm.vm_bo_obtain(2, PREALLOC).unwrap();
  vm.extobj_add(2).unwrap();
  vm.vm_bo_obtain(3, PREALLOC).unwrap();
  vm.extobj_add(3).unwrap();
  assert_eq!(vm.extobj_list().unwrap(), [1, 3]);
  assert!(!vm.vm_bo_info(2).unwrap().unwrap().on_extobj_list);
  assert_eq!(errno(vm.extobj_add(9)), Errno::EINVAL);
  vm.vm_bo_put(3, true).unwrap();
  assert_eq!(errno(vm.extobj_add(3)), Errno::EINVAL);
  vm.vm_bo_put(1, false).unwrap();
  assert_eq!(errno(vm.extobj_add(1)), Errno::EINVAL);
  assert!(vm.extobj_list().unwrap().is_empty());
}

#[test]
fn bo_evict_follows_the_evict_list_but_for_external_under_resv_protected() {
  let mut vm = vm(0);
  vm.declare_external(1).unwrap();
  vm.vm_bo_obtain(1, LOCKED).unwrap();
  vm.vm_bo_obtain(2, LOCKED).unwrap();
  vm.bo_evict(2, true).unwrap();
  vm.bo_evict(1, true).unwrap();
  vm.bo_evict(2, true).unwrap();
  assert_eq!(vm.evict_list().unwrap(), [2, 1]);
  vm.bo_evict(2, false).unwrap();
  assert_eq!(vm.evict_list().unwrap(), [1]);
  assert_eq!(errno(vm.bo_evict(3, true)), Errno::EINVAL);
  let mut prot = vm_of(ERA_GPUVM, PROT | IMM);
  prot.declare_external(1).unwrap();
  prot.vm_bo_obtain(1, PREALLOC).unwrap();
  prot.vm_bo_obtain(2, PREALLOC).unwrap();
  prot.bo_evict(1, true).unwrap();
  prot.bo_evict(2, true).unwrap();
  assert_eq!(prot.evict_list().unwrap(), [2]);
  let one = prot.vm_bo_info(1).unwrap().unwrap();
  assert!(one.evicted && !one.on_evict_list);
  // A zombie may be marked; a freed one is EINVAL.
  prot.vm_bo_put(2, true).unwrap();
  prot.bo_evict(2, false).unwrap();
  assert_eq!(prot.vm_bo_info(2).unwrap(), Some(zombie(2, 2)));
  prot.deferred_cleanup().unwrap();
  assert_eq!(errno(prot.bo_evict(2, true)), Errno::EINVAL);
}

#[test]
fn gem_evict_marks_the_live_vm_bo_only() {
  let mut vm = vm(IMM);
  vm.vm_bo_obtain(4, PREALLOC).unwrap();
  vm.gem_evict(4, true).unwrap();
  vm.gem_evict(5, true).unwrap();
  assert_eq!(vm.evict_list().unwrap(), [1]);
  vm.vm_bo_put(1, true).unwrap();
  vm.gem_evict(4, false).unwrap();
  assert!(vm.vm_bo_info(1).unwrap().unwrap().evicted);
}

#[test]
fn list_removal_in_the_middle_keeps_order() {
  let mut vm = vm(0);
  for obj in 1..=6 {
    vm.vm_bo_obtain(obj, LOCKED).unwrap();
    vm.bo_evict(obj, true).unwrap();
  }
  for id in [3, 1, 6] {
    vm.bo_evict(id, false).unwrap();
  }
  assert_eq!(vm.evict_list().unwrap(), [2, 4, 5]);
  vm.bo_evict(1, true).unwrap();
  vm.bo_evict(6, true).unwrap();
  assert_eq!(vm.evict_list().unwrap(), [2, 4, 5, 1, 6]);
  for id in [2, 4, 5, 1, 6] {
    vm.bo_evict(id, false).unwrap();
  }
  assert!(vm.evict_list().unwrap().is_empty());
  vm.bo_evict(3, true).unwrap();
  assert_eq!(vm.evict_list().unwrap(), [3]);
}

#[test]
fn lists_skip_zombies_and_defer_list_is_newest_first() {
  let mut vm = vm(PROT | IMM);
  vm.declare_external(1).unwrap();
  vm.declare_external(2).unwrap();
  for obj in [1, 2, 3] {
    vm.vm_bo_obtain(obj, PREALLOC).unwrap();
  }
  vm.extobj_add(1).unwrap();
  vm.extobj_add(2).unwrap();
  vm.bo_evict(3, true).unwrap();
  vm.vm_bo_put(1, true).unwrap();
  vm.vm_bo_put(3, true).unwrap();
  assert_eq!(vm.extobj_list().unwrap(), [2]);
  assert!(vm.evict_list().unwrap().is_empty());
  assert_eq!(vm.defer_list().unwrap(), [3, 1]);
  assert!(vm.vm_bo_info(1).unwrap().unwrap().on_extobj_list);
  assert!(vm.vm_bo_info(3).unwrap().unwrap().on_evict_list);
}

#[test]
fn prepare_objects_catches_up_the_evict_list_under_resv_protected() {
  let mut vm = vm(0);
  for obj in [1, 2, 3] {
    vm.declare_external(obj).unwrap();
  }
  for obj in [3, 1, 2] {
    vm.vm_bo_obtain(obj, LOCKED).unwrap();
  }
  for id in [2, 1, 3] {
    vm.extobj_add(id).unwrap();
  }
  assert_eq!(vm.prepare_objects().unwrap(), [1, 3, 2]);
  let mut prot = vm_of(ERA_GPUVM, PROT | IMM);
  for obj in [1, 2, 3, 5] {
    prot.declare_external(obj).unwrap();
  }
  for obj in 1..=5 {
    prot.vm_bo_obtain(obj, PREALLOC).unwrap();
  }
  for id in [3, 1, 2, 5] {
    prot.extobj_add(id).unwrap();
  }
  prot.bo_evict(4, true).unwrap();
  for id in [2, 3, 5] {
    prot.bo_evict(id, true).unwrap();
  }
  prot.vm_bo_put(5, true).unwrap();
  assert_eq!(prot.evict_list().unwrap(), [4]);
  assert_eq!(prot.prepare_objects().unwrap(), [3, 1, 2]);
  assert_eq!(prot.evict_list().unwrap(), [4, 3, 2]);
  assert_eq!(prot.prepare_objects().unwrap(), [3, 1, 2]);
  assert_eq!(prot.evict_list().unwrap(), [4, 3, 2]);
  assert!(!prot.vm_bo_info(5).unwrap().unwrap().on_evict_list);
}

#[test]
fn validated_takes_a_vm_bo_no_longer_evicted_off_under_resv_protected() {
  let mut prot = vm(PROT);
  prot.declare_external(1).unwrap();
  for obj in [1, 2] {
    prot.vm_bo_obtain(obj, LOCKED).unwrap();
  }
  prot.extobj_add(1).unwrap();
  prot.bo_evict(1, true).unwrap();
  prot.bo_evict(2, true).unwrap();
  prot.prepare_objects().unwrap();
  assert_eq!(prot.evict_list().unwrap(), [2, 1]);
  prot.bo_evict(1, false).unwrap();
  assert_eq!(prot.evict_list().unwrap(), [2, 1]);
  prot.validated(1).unwrap();
  prot.validated(2).unwrap();
  assert_eq!(prot.evict_list().unwrap(), [2]);
  assert_eq!(errno(prot.validated(3)), Errno::EINVAL);
  let mut vm = vm(0);
  vm.vm_bo_obtain(1, LOCKED).unwrap();
  vm.bo_evict(1, true).unwrap();
  vm.validated(1).unwrap();
  assert_eq!(vm.evict_list().unwrap(), [1]);
}

#[test]
fn object_moved_invalidates_the_object_list_and_marks_an_evicted_vm_bo() {
  for era in [ERA_SEED, ERA_GPUVM] {
    let mut vm = vm_of(era, 0);
    vm.bind(at(1), P, 1, 0).unwrap();
    vm.bind(at(3), P, 1, P).unwrap();
    vm.bind(at(5), P, 2, 0).unwrap();
    put(&mut vm, 7, 1, 1);
    vm.object_moved(1, false).unwrap();
    vm.object_moved(2, true).unwrap();
    vm.object_moved(9, true).unwrap();
    vm.object_moved(0, true).unwrap();
    let flags: Vec<(ObjId, u32)> = vm.iter().map(|v| (v.obj, v.flags)).collect();
    assert_eq!(flags, [(0, 0), (1, 1), (1, 1), (2, 1), (1, 0)]);
    if era == ERA_GPUVM {
      assert_eq!(vm.evict_list().unwrap(), [2]);
      assert!(!vm.vm_bo_info(1).unwrap().unwrap().evicted);
    }
  }
}
