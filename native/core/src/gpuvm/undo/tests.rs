//! Atomic bind arrays: hand cases (Xe's bind-array-conflict and its error
//! injection), and a property: whatever the VA space and the array, a
//! failure injected at any request leaves the whole state as it was, and an
//! array that succeeds leaves what the sequential requests leave.

use super::*;
use crate::gpuvm::{VmOptions, ERA_GPUVM, ERA_NEXT, ERA_SEED, VM_IMMEDIATE_MODE};
use proptest::prelude::*;

const P: u64 = 0x1000;

fn vm_of(era: u8, flags: u32) -> GpuVm {
  let opts = VmOptions {
    era: u32::from(era),
    flags,
    resv: 0,
  };
  GpuVm::with_options("array", 0, 1 << 32, Some((0, P)), opts).unwrap()
}

fn bind(page: u64, pages: u64, obj: ObjId) -> ArrayRequest {
  ArrayRequest {
    unmap: false,
    addr: page * P,
    range: pages * P,
    obj,
    offset: 0,
  }
}

fn unbind(page: u64, pages: u64) -> ArrayRequest {
  ArrayRequest {
    unmap: true,
    addr: page * P,
    range: pages * P,
    obj: 0,
    offset: 0,
  }
}

use crate::gpuvm::{VaKey, VmBoRecord};

/// A drm_gpuvm's hub: its vm_bos (by id), extobj, evict and defer lists, refcount.
type HubState = (Vec<VmBoRecord>, Vec<u32>, Vec<u32>, Vec<u32>, u64);

/// Everything "exactly as before" covers: the mappings (seq and flags
/// included), each object's link order, and from era 1 on the vm_bos, the
/// three lists and the VM's refcount.
#[derive(Debug, PartialEq, Eq)]
struct State {
  vas: Vec<Va>,
  links: Vec<(ObjId, Vec<VaKey>)>,
  hub: Option<HubState>,
}

fn state(vm: &mut GpuVm) -> State {
  let vas: Vec<Va> = vm.iter().map(|v| Va { slot: 0, ..v }).collect();
  let links = (1..=4)
    .map(|obj| (obj, vm.gem_vas(obj).iter().map(Va::key).collect()))
    .collect();
  let hub = vm.vm_bos().ok().map(|mut bos| {
    bos.sort_by_key(|b| b.id);
    (
      bos,
      vm.extobj_list().unwrap(),
      vm.evict_list().unwrap(),
      vm.defer_list().unwrap(),
      vm.refcount(),
    )
  });
  State { vas, links, hub }
}

fn one(vm: &mut GpuVm, r: &ArrayRequest) -> Result<OpCounts> {
  if r.unmap {
    vm.unbind(r.addr, r.range)
  } else {
    vm.bind(r.addr, r.range, r.obj, r.offset)
  }
}

fn sequential(vm: &mut GpuVm, reqs: &[ArrayRequest]) {
  for r in reqs {
    if r.unmap {
      vm.unbind(r.addr, r.range).unwrap();
    } else {
      vm.bind(r.addr, r.range, r.obj, r.offset).unwrap();
    }
  }
}

#[test]
fn a_bad_request_anywhere_applies_nothing() {
  let mut vm = vm_of(ERA_GPUVM, 0);
  vm.bind(P, 4 * P, 1, 0).unwrap();
  let before = state(&mut vm);
  // The third request leaves the VA space: the first two are not applied.
  let reqs = [bind(2, 1, 2), unbind(1, 1), bind(1 << 21, 1, 1)];
  let err = vm.bind_array(&reqs, None, |_, _| {}).unwrap_err();
  assert_eq!(
    (err.index, err.error.errno, err.unwound),
    (2, Errno::EINVAL, false)
  );
  assert_eq!(state(&mut vm), before);
}

#[test]
fn an_injected_failure_unwinds_every_request_before_it() {
  // Xe's bind-array-conflict with error injection: the array binds over a
  // mapping it splits, unbinds part of it, and fails at its last op.
  let mut vm = vm_of(ERA_GPUVM, VM_IMMEDIATE_MODE);
  vm.declare_external(2).unwrap();
  vm.bind(P, 8 * P, 1, 0).unwrap();
  vm.gem_evict(1, true).unwrap();
  let before = state(&mut vm);
  let reqs = [bind(2, 2, 2), unbind(1, 8), bind(3, 1, 1), unbind(3, 1)];
  for at in 0..reqs.len() {
    let err = vm.bind_array(&reqs, Some(at), |_, _| {}).unwrap_err();
    assert_eq!(
      (err.index, err.error.errno, err.unwound),
      (at, INJECTED_ERRNO, true)
    );
    assert_eq!(state(&mut vm), before, "failing at {at}");
  }
  // An index past the end injects nothing; the array equals the sequence.
  let mut seq = vm.clone();
  let mut per = Vec::new();
  let total = vm
    .bind_array(&reqs, Some(reqs.len()), |i, c| per.push((i, c.map)))
    .unwrap();
  sequential(&mut seq, &reqs);
  assert_eq!(state(&mut vm), state(&mut seq));
  assert_eq!(per, vec![(0, 1), (1, 0), (2, 1), (3, 0)]);
  // Split [1, 9) around [2, 4); unmap the three pieces; map [3, 4); unmap it.
  assert_eq!((total.map, total.remap, total.unmap), (2, 1, 4));
}

#[test]
fn a_failure_after_the_checks_unwinds_too() {
  // No vm_bo id left for the second object: the array copies the state and
  // the second request fails with ENOMEM, the first one undone.
  let mut vm = vm_of(ERA_GPUVM, 0);
  vm.bind(P, P, 1, 0).unwrap();
  vm.set_vm_bo_id_limit(1);
  let before = state(&mut vm);
  let err = vm
    .bind_array(&[unbind(1, 1), bind(2, 1, 2)], None, |_, _| {})
    .unwrap_err();
  assert_eq!(
    (err.index, err.error.errno, err.unwound),
    (1, Errno::ENOMEM, true)
  );
  assert_eq!(state(&mut vm), before);
}

#[test]
fn a_zero_length_mapping_can_fail_a_request_after_the_checks() {
  // Before drm_gpuvm-next a zero-length mapping is valid, and the walk of a
  // bind next to one can make a step that does not fit (here a remap piece
  // of the zero-length mapping: EINVAL). The array saw it coming (a
  // zero-length mapping is there) and saved the VA space.
  let mut vm = vm_of(ERA_SEED, 0);
  vm.bind(P, 3 * P, 1, 0).unwrap();
  vm.bind(P, 0, 1, 0).unwrap();
  let before = state(&mut vm);
  let reqs = [bind(10, 1, 1), bind(2, 3, 2)];
  let err = vm.bind_array(&reqs, None, |_, _| {}).unwrap_err();
  assert_eq!(
    (err.index, err.error.errno, err.unwound),
    (1, Errno::EINVAL, true)
  );
  assert_eq!(state(&mut vm), before);
}

#[test]
fn reinsert_puts_a_mapping_back_with_its_seq_and_flags() {
  let mut vm = vm_of(ERA_SEED, 0);
  let va = vm.insert(P, P, 1, 0).unwrap();
  vm.set_va_flags(va.key(), 0b110).unwrap();
  let rec = vm.get(va.key()).unwrap();
  vm.remove(va.key()).unwrap();
  let back = vm.reinsert(rec).unwrap();
  assert_eq!((back.seq, back.flags), (rec.seq, 0b110));
  assert_eq!(vm.reinsert(rec).unwrap_err().errno, Errno::EINVAL);
  assert_eq!(
    vm.reinsert(Va { seq: 99, ..rec }).unwrap_err().errno,
    Errno::EINVAL
  );
  assert_eq!(
    vm.reinsert(Va {
      seq: KERNEL_SEQ,
      ..rec
    })
    .unwrap_err()
    .errno,
    Errno::EINVAL
  );
  let other = vm.insert(4 * P, P, 1, 0).unwrap();
  vm.remove(other.key()).unwrap();
  let clash = Va { addr: P, ..other };
  assert_eq!(vm.reinsert(clash).unwrap_err().errno, Errno::EEXIST);
}

fn request() -> impl Strategy<Value = ArrayRequest> {
  (any::<bool>(), 1u64..24, 0u64..6, 0u32..4, 0u64..4).prop_map(|(unmap, page, pages, obj, off)| {
    ArrayRequest {
      unmap,
      addr: page * P,
      range: pages * P,
      obj,
      offset: off * P,
    }
  })
}

proptest! {
  // Zero-length requests (allowed before drm_gpuvm-next) take the whole-copy save; the others the partial one.
  #![proptest_config(ProptestConfig::with_cases(256))]

  #[test]
  fn every_prefix_failing_leaves_the_state_unchanged(
    era in prop::sample::select(vec![ERA_SEED, ERA_GPUVM, ERA_NEXT]),
    immediate in any::<bool>(),
    setup in prop::collection::vec(request(), 0..12),
    evict in 0u32..4,
    reqs in prop::collection::vec(request(), 1..8),
  ) {
    let flags = if immediate && era != ERA_SEED { VM_IMMEDIATE_MODE } else { 0 };
    // drm_gpuvm-next refuses an empty range at the checks: those requests get a page.
    let nonempty = |r: ArrayRequest| if era == ERA_NEXT && r.range == 0 { ArrayRequest { range: P, ..r } } else { r };
    let setup: Vec<ArrayRequest> = setup.into_iter().map(nonempty).collect();
    let reqs: Vec<ArrayRequest> = reqs.into_iter().map(nonempty).collect();
    let mut vm = vm_of(era, flags);
    if era != ERA_SEED {
      vm.declare_external(3).unwrap();
    }
    // Zero-length mappings make some requests fail (EEXIST): the setup goes on past them.
    for r in &setup {
      let _ = one(&mut vm, r);
    }
    if era != ERA_SEED {
      vm.gem_evict(evict, true).unwrap();
    }
    let before = state(&mut vm);
    // Where the sequential requests would fail, if anywhere.
    let mut seq = vm.clone();
    let fails_at = reqs.iter().position(|r| one(&mut seq, r).is_err());
    for at in 0..reqs.len() {
      let err = vm.bind_array(&reqs, Some(at), |_, _| {}).unwrap_err();
      prop_assert_eq!((err.index, err.unwound), (fails_at.map_or(at, |f| f.min(at)), true));
      prop_assert_eq!(&state(&mut vm), &before);
    }
    match vm.bind_array(&reqs, None, |_, _| {}) {
      Ok(_) => {
        prop_assert_eq!(fails_at, None);
        prop_assert_eq!(state(&mut vm), state(&mut seq));
      }
      Err(f) => {
        prop_assert_eq!((Some(f.index), f.unwound), (fails_at, true));
        prop_assert_eq!(state(&mut vm), before);
      }
    }
  }
}

#[test]
fn a_vm_torn_down_mid_array_comes_back() {
  // The creator let go: the unbind of the last mapping tears the VM down,
  // and the bind after it finds it gone. The array puts it back, alive.
  let mut vm = vm_of(ERA_GPUVM, 0);
  vm.bind(P, P, 1, 0).unwrap();
  vm.vm_put().unwrap();
  let before = state(&mut vm);
  let err = vm
    .bind_array(&[unbind(1, 1), bind(2, 1, 1)], None, |_, _| {})
    .unwrap_err();
  assert_eq!(
    (err.index, err.error.errno, err.unwound),
    (1, Errno::EINVAL, true)
  );
  assert!(!vm.is_destroyed());
  assert_eq!(state(&mut vm), before);
}
