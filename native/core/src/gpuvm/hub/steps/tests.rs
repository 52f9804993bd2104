//! Links, the steps of walks and `apply`, and the mapping flags (lib/contract/hub.md).

use crate::gpuvm::hub::tests::*;
use crate::gpuvm::hub::{VmBoRecord, ERA_GPUVM, ERA_SEED};

// ---- links ------------------------------------------------------------------------------

#[test]
fn link_takes_a_reference_on_the_live_vm_bo_making_one_if_needed() {
  let mut vm = vm(0);
  vm.declare_external(2).unwrap();
  let a = put(&mut vm, 1, 1, 1);
  vm.link(key(&a)).unwrap();
  assert_eq!(vm.vm_bos().unwrap(), [VmBoRecord { vas: 1, ..bo(1, 1) }]);
  let b = vm.insert(at(2), P, 1, P).unwrap();
  vm.link(key(&b)).unwrap();
  vm.link(key(&b)).unwrap();
  assert_eq!(vm.vm_bo_info(1).unwrap().unwrap().refcount, 2);
  let c = put(&mut vm, 3, 1, 2);
  vm.link(key(&c)).unwrap();
  assert_eq!(
    vm.vm_bo_info(2).unwrap().unwrap(),
    VmBoRecord {
      vas: 1,
      external: true,
      on_extobj_list: true,
      ..bo(2, 2)
    }
  );
  let n = put(&mut vm, 4, 1, 0);
  vm.link(key(&n)).unwrap();
  assert!(!vm.is_linked(key(&n)));
  vm.vm_bo_obtain(3, LOCKED).unwrap();
  let d = put(&mut vm, 5, 1, 3);
  vm.link(key(&d)).unwrap();
  assert_eq!(vm.vm_bo_info(3).unwrap().unwrap().refcount, 2);
  assert_eq!(vm.refcount(), 1 + 5 + 3);
}

#[test]
fn link_vm_bo_checks_the_vm_bo_and_the_object() {
  let mut vm = vm(IMM);
  vm.vm_bo_obtain(1, PREALLOC).unwrap();
  vm.vm_bo_obtain(2, PREALLOC).unwrap();
  let a = put(&mut vm, 1, 1, 1);
  vm.link_vm_bo(key(&a), 1).unwrap();
  assert_eq!(errno(vm.link_vm_bo(key(&a), 1)), Errno::EINVAL);
  let b = put(&mut vm, 2, 1, 1);
  assert_eq!(errno(vm.link_vm_bo(key(&b), 2)), Errno::EINVAL);
  let w = vm.take_warnings();
  assert_eq!(w.len(), 1);
  assert_eq!(w[0].kind, W::LinkWrongObject);
  assert_eq!(
    w[0].message,
    "drm_gpuva_link: mapping of object 1 linked to the vm_bo of object 2"
  );
  assert!(!vm.is_linked(key(&b)));
  assert_eq!(errno(vm.link_vm_bo(key(&b), 9)), Errno::EINVAL);
  assert_eq!(errno(vm.link_vm_bo((at(40), 1), 1)), Errno::EINVAL);
  let c = put(&mut vm, 3, 1, 2);
  vm.vm_bo_put(2, true).unwrap();
  assert_eq!(errno(vm.link_vm_bo(key(&c), 2)), Errno::EINVAL);
  let n = put(&mut vm, 4, 1, 0);
  vm.link_vm_bo(key(&n), 1).unwrap();
  assert!(!vm.is_linked(key(&n)));
  assert_eq!(vm.vm_bo_info(1).unwrap().unwrap().refcount, 2);
  assert!(vm.take_warnings().is_empty());
}

#[test]
fn unlink_frees_at_zero_even_in_immediate_mode() {
  for flags in [0, IMM] {
    let mut vm = vm(flags);
    vm.bind(at(1), P, 1, 0).unwrap();
    vm.bind(at(2), P, 1, P).unwrap();
    let (a, b) = (va_at(&vm, 1), va_at(&vm, 2));
    vm.unlink(key(&a)).unwrap();
    assert_eq!(vm.vm_bo_info(1).unwrap().unwrap().vas, 1);
    vm.unlink(key(&a)).unwrap();
    vm.unlink(key(&b)).unwrap();
    assert!(vm.vm_bos().unwrap().is_empty());
    assert!(vm.defer_list().unwrap().is_empty());
    assert_eq!(vm.refcount(), 3);
  }
}

#[test]
fn unlink_defer_makes_a_zombie_and_warns_outside_immediate_mode() {
  let mut imm = vm(IMM);
  imm.bind(at(1), P, 1, 0).unwrap();
  let a = va_at(&imm, 1);
  imm.unlink_defer(key(&a)).unwrap();
  assert_eq!(imm.vm_bos().unwrap(), [zombie(1, 1)]);
  assert_eq!(imm.defer_list().unwrap(), [1]);
  assert!(imm.take_warnings().is_empty());
  let mut vm = vm(0);
  vm.bind(at(1), P, 1, 0).unwrap();
  let b = va_at(&vm, 1);
  vm.unlink_defer(key(&b)).unwrap();
  let w = vm.take_warnings();
  assert_eq!(w[0].kind, W::UnlinkDeferNotImmediate);
  assert_eq!(
    w[0].message,
    "drm_gpuva_unlink_defer on a VM not in immediate mode (mapping 0x1000)"
  );
  assert_eq!(vm.vm_bos().unwrap(), [zombie(1, 1)]);
  vm.unlink_defer(key(&b)).unwrap();
  assert!(vm.take_warnings().is_empty());
  assert_eq!(errno(vm.unlink_defer((at(9), 1))), Errno::EINVAL);
}

#[test]
fn steps_map_links_remap_keeps_the_vm_bo_unmap_unlinks_deferred_in_immediate_mode() {
  for flags in [0, IMM] {
    let mut vm = vm(flags);
    vm.track_freed_vm_bos(true).unwrap();
    assert_eq!(vm.bind(at(1), 4 * P, 1, 0).unwrap().map, 1);
    assert_eq!(vm.vm_bos().unwrap(), [VmBoRecord { vas: 1, ..bo(1, 1) }]);
    let c = vm.bind(at(2), P, 2, 0).unwrap();
    assert_eq!((c.map, c.remap, c.unmap), (1, 1, 0));
    let bos = vm.vm_bos().unwrap();
    assert_eq!((bos[0].id, bos[0].refcount, bos[0].vas), (1, 2, 2));
    assert_eq!((bos[1].id, bos[1].refcount, bos[1].vas), (2, 1, 1));
    let vas: Vec<(u64, u64)> = vm.vm_bo_vas(1).unwrap().iter().map(|v| (v.addr, v.seq)).collect();
    assert_eq!(vas, [(at(1), 2), (at(3), 3)]);
    assert_eq!(vm.unbind(at(2), P).unwrap().unmap, 1);
    if flags == IMM {
      assert_eq!(vm.vm_bos().unwrap()[1], zombie(2, 2));
      assert_eq!(vm.defer_list().unwrap(), [2]);
      assert!(vm.take_freed_vm_bos().unwrap().is_empty());
    } else {
      assert_eq!(ids(&vm.vm_bos().unwrap()), [1]);
      assert_eq!(ids(&vm.take_freed_vm_bos().unwrap()), [2]);
    }
    for op in vm.sm_unmap_ops(at(1), 4 * P).unwrap() {
      vm.apply(&op).unwrap();
    }
    assert_eq!(vm.len(), 1);
    let want: &[u32] = if flags == IMM { &[1, 2] } else { &[] };
    assert_eq!(ids(&vm.vm_bos().unwrap()), want);
    assert_eq!(vm.defer_list().unwrap(), want);
    assert!(vm.take_warnings().is_empty());
  }
}

#[test]
fn an_applied_remap_of_an_unlinked_mapping_links_its_pieces() {
  let mut vm = vm(0);
  let a = put(&mut vm, 1, 4, 1);
  let ops = vm.sm_map_ops(at(2), P, 0, 0).unwrap();
  for op in &ops {
    vm.apply(op).unwrap();
  }
  assert!(!vm.is_linked(key(&a)));
  assert_eq!(vm.vm_bo_info(1).unwrap().unwrap().vas, 2);
  assert_eq!(vm.vm_bo_info(1).unwrap().unwrap().refcount, 2);
  // A forged REMAP whose piece is another object's: the old vm_bo is released after.
  let old = va_at(&vm, 1);
  let remap = Op::Remap(OpRemap {
    prev: Some(OpMap {
      addr: at(1),
      range: P / 2,
      obj: 7,
      offset: 0,
    }),
    next: None,
    unmap: OpUnmap { va: old, keep: false },
  });
  vm.apply(&remap).unwrap();
  assert_eq!(vm.vm_bo_info(1).unwrap().unwrap().vas, 1);
  assert_eq!(vm.vm_bo_info(2).unwrap().unwrap().obj, 7);
}

// ---- mapping flags ----------------------------------------------------------------------

#[test]
fn set_va_flags_replaces_the_word_and_pieces_start_at_zero() {
  for era in [ERA_SEED, ERA_GPUVM] {
    let mut vm = vm_of(era, 0);
    vm.bind(at(1), 4 * P, 1, 0).unwrap();
    let a = va_at(&vm, 1);
    vm.set_va_flags(key(&a), 0b10110).unwrap();
    assert_eq!(vm.get(key(&a)).unwrap().flags, 0b10110);
    vm.set_va_flags(key(&a), VA_INVALIDATED).unwrap();
    assert_eq!(vm.get(key(&a)).unwrap().flags, 1);
    vm.set_va_flags(key(&a), 0xfff4).unwrap();
    assert_eq!(errno(vm.set_va_flags((0, KERNEL_SEQ), 0)), Errno::EINVAL);
    assert_eq!(errno(vm.set_va_flags((at(9), 1), 0)), Errno::EINVAL);
    assert_eq!(errno(vm.set_va_flags(key(&a), 0x1_0000)), Errno::EINVAL);
    vm.bind(at(2), P, 2, 0).unwrap();
    assert!(vm.iter().all(|v| v.flags == 0));
  }
}
