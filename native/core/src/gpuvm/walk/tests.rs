//! The walk that applies itself against the cursor's steps applied one by
//! one: over random request streams, both leave the same records (keys,
//! flags, objects, offsets, store positions), links and counts, and the
//! steps the walk shows (a trace's) are the cursor's, in its order. In the
//! drm_gpuvm eras also the same vm_bos, refcounts and hub lists.

use super::super::{
  GpuVm, Link, Op, OpCounts, OpMap, Va, VmOptions, ERA_GPUVM, ERA_NEXT, ERA_SEED, NO_OBJ, VM_IMMEDIATE_MODE,
  VM_RESV_PROTECTED,
};
use super::{SmKind, WalkTally};
use crate::errno::Result;
use proptest::prelude::*;

const PAGE: u64 = 4096;
/// Pages in the VA space; requests may leave it (and page 0 is the kernel
/// node's), which both paths refuse alike.
const PAGES: u64 = 600;

#[derive(Clone, Copy, Debug)]
enum Req {
  Map {
    page: u64,
    pages: u64,
    obj: u32,
    off: u64,
  },
  Unmap {
    page: u64,
    pages: u64,
  },
  /// A zero-length mapping: while one lives, requests take the cursor.
  Empty {
    page: u64,
  },
  DropEmpties,
  Invalidate {
    page: u64,
  },
  /// Reads the objects' lists, which switches them to tracked links.
  Lists,
  /// From era 1 on: the object moves (its vm_bo evicted), or the deferred
  /// vm_bos are cleaned up.
  Evict {
    obj: u32,
  },
  Cleanup,
}

fn req() -> impl Strategy<Value = Req> {
  prop_oneof![
    12 => (0..PAGES, 0..24u64, 0..4u32, 0..4u64).prop_map(|(page, pages, obj, off)| Req::Map { page, pages, obj, off }),
    6 => (0..PAGES, 0..32u64).prop_map(|(page, pages)| Req::Unmap { page, pages }),
    1 => (0..PAGES).prop_map(|page| Req::Empty { page }),
    1 => Just(Req::DropEmpties),
    1 => (0..PAGES).prop_map(|page| Req::Invalidate { page }),
    1 => Just(Req::Lists),
    1 => (1..4u32).prop_map(|obj| Req::Evict { obj }),
    1 => Just(Req::Cleanup),
  ]
}

/// A VA space of `era` with `flags`; from era 1 on, object 3 is external.
fn new_vm(era: u8, flags: u32) -> GpuVm {
  let opts = VmOptions {
    era: u32::from(era),
    flags,
    resv: 0,
  };
  let mut vm = GpuVm::with_options("walk", 0, PAGES * PAGE, Some((0, PAGE)), opts).unwrap();
  if era != ERA_SEED {
    vm.declare_external(3).unwrap();
  }
  vm
}

/// The step-by-step run's tally, counted from its steps, which go to `steps`.
fn stepwise(vm: &mut GpuVm, kind: SmKind, req: OpMap, link: bool, steps: &mut Vec<Op>) -> Result<WalkTally> {
  let mut cursor = match kind {
    SmKind::Map => vm.sm_map(req.addr, req.range, req.obj, req.offset)?,
    SmKind::Unmap => vm.sm_unmap(req.addr, req.range)?,
  };
  let mut t = WalkTally::default();
  let hub = link && vm.hub.is_some();
  let link = if link { Link::Yes } else { Link::No };
  while let Some(op) = cursor.step(vm) {
    steps.push(op);
    if hub {
      // As `bind` through the hub, step by step (`hub_run`).
      vm.apply_hub_step(&op)?;
    } else {
      vm.apply_own_step(&op, link)?;
    }
    t.counts.add(&op);
    let b = &mut t.mapped_bytes;
    match op {
      Op::Map(m) => *b = b.wrapping_add(m.range),
      Op::Remap(r) => {
        t.keeps += u64::from(r.unmap.keep);
        let pieces = r.prev.map_or(0, |p| p.range) + r.next.map_or(0, |n| n.range);
        *b = b.wrapping_sub(r.unmap.va.range).wrapping_add(pieces);
      }
      Op::Unmap(u) => {
        t.keeps += u64::from(u.keep);
        *b = b.wrapping_sub(u.va.range);
      }
      Op::Prefetch(_) => {}
    }
  }
  if hub {
    vm.settle();
  }
  Ok(t)
}

/// Through the walk that applies itself when it can, the steps it shows
/// going to `steps`; with `link`, through the public `bind`/`unbind` (which
/// take it by themselves and show no steps).
fn in_place(
  vm: &mut GpuVm,
  kind: SmKind,
  req: OpMap,
  link: bool,
  steps: &mut Vec<Op>,
) -> Result<(WalkTally, bool)> {
  let fast = vm.walks_in_place(req.range);
  if link {
    let counts: OpCounts = match kind {
      SmKind::Map => vm.bind(req.addr, req.range, req.obj, req.offset)?,
      SmKind::Unmap => vm.unbind(req.addr, req.range)?,
    };
    return Ok((
      WalkTally {
        counts,
        ..WalkTally::default()
      },
      fast,
    ));
  }
  if !fast {
    return Ok((stepwise(vm, kind, req, false, steps)?, false));
  }
  Ok((
    vm.walk_request_steps(kind, req, false, |op| steps.push(*op))?,
    true,
  ))
}

fn records(vm: &GpuVm) -> Vec<(Va, bool)> {
  vm.iter().map(|va| (va, vm.is_linked(va.key()))).collect()
}

/// The hub's state from era 1 on: its vm_bos (ids, refcounts, mapping
/// counts, flags), its lists and the VM's refcount.
fn hub_state(vm: &GpuVm) -> Option<String> {
  vm.hub.as_ref()?;
  Some(format!(
    "{:?} extobj {:?} evict {:?} defer {:?} refcount {}",
    vm.vm_bos().unwrap(),
    vm.extobj_list().unwrap(),
    vm.evict_list().unwrap(),
    vm.defer_list().unwrap(),
    vm.refcount()
  ))
}

/// Applies `reqs` to two VA spaces of `era` with `flags` (and from era 1
/// on, `vm_bo_ids` ids at most), one per path; the number of requests the
/// walk in place served.
fn compare(reqs: &[Req], link: bool, era: u8, flags: u32, vm_bo_ids: u32) -> usize {
  let (mut a, mut b) = (new_vm(era, flags), new_vm(era, flags));
  if era != ERA_SEED {
    a.set_vm_bo_id_limit(vm_bo_ids);
    b.set_vm_bo_id_limit(vm_bo_ids);
  }
  let mut served = 0;
  for r in reqs {
    let (kind, page, pages, obj, off) = match *r {
      Req::Map {
        page,
        pages,
        obj,
        off,
      } => (SmKind::Map, page, pages, obj, off),
      Req::Unmap { page, pages } => (SmKind::Unmap, page, pages, NO_OBJ, 0),
      Req::Empty { page } => {
        let x = a.insert(page * PAGE, 0, NO_OBJ, 0).map_err(|e| e.errno);
        assert_eq!(x, b.insert(page * PAGE, 0, NO_OBJ, 0).map_err(|e| e.errno));
        continue;
      }
      Req::DropEmpties => {
        for vm in [&mut a, &mut b] {
          let empties: Vec<_> = vm.iter().filter(|va| va.range == 0).map(|va| va.key()).collect();
          for key in empties {
            vm.remove(key).unwrap();
          }
        }
        continue;
      }
      Req::Invalidate { page } => {
        for vm in [&mut a, &mut b] {
          if let Some(va) = vm.find_first(page * PAGE, PAGE).filter(|va| !va.is_kernel_node()) {
            vm.set_invalidated(va.key(), true).unwrap();
          }
        }
        continue;
      }
      Req::Lists => {
        for obj in 0..4 {
          let (x, y) = (a.gem_vas(obj), b.gem_vas(obj));
          assert_eq!(x, y);
        }
        continue;
      }
      Req::Evict { obj } => {
        if era != ERA_SEED {
          a.gem_evict(obj, true).unwrap();
          b.gem_evict(obj, true).unwrap();
        }
        continue;
      }
      Req::Cleanup => {
        if era != ERA_SEED {
          assert_eq!(a.deferred_cleanup().unwrap(), b.deferred_cleanup().unwrap());
        }
        continue;
      }
    };
    let req = OpMap {
      addr: page * PAGE,
      range: pages * PAGE,
      obj,
      offset: off * PAGE,
    };
    let (mut want_steps, mut got_steps) = (Vec::new(), Vec::new());
    let want = stepwise(&mut a, kind, req, link, &mut want_steps).map_err(|e| e.errno);
    let got = in_place(&mut b, kind, req, link, &mut got_steps).map_err(|e| e.errno);
    if !link {
      assert_eq!(want_steps, got_steps, "{r:?}");
    }
    served += usize::from(got.is_ok_and(|(_, fast)| fast));
    match (want, got) {
      (Ok(w), Ok((g, _))) if link => assert_eq!(w.counts, g.counts, "{r:?}"),
      (Ok(w), Ok((g, _))) => assert_eq!(w, g, "{r:?}"),
      (Err(w), Err(g)) => assert_eq!(w, g, "{r:?}"),
      (w, g) => panic!("{r:?}: {w:?} against {g:?}"),
    }
    assert_eq!(records(&a), records(&b), "after {r:?}");
    assert_eq!(hub_state(&a), hub_state(&b), "after {r:?}");
  }
  b.store.check();
  for obj in 0..4 {
    assert_eq!(a.gem_vas(obj), b.gem_vas(obj));
  }
  assert_eq!(a.take_warnings().len(), b.take_warnings().len());
  served
}

proptest! {
  #![proptest_config(ProptestConfig::with_cases(96))]

  #[test]
  fn the_walk_in_place_changes_what_the_steps_change(reqs in prop::collection::vec(req(), 1..400)) {
    compare(&reqs, false, ERA_SEED, 0, u32::MAX);
  }

  #[test]
  fn bind_and_unbind_link_what_the_steps_link(reqs in prop::collection::vec(req(), 1..400)) {
    compare(&reqs, true, ERA_SEED, 0, u32::MAX);
  }

  /// Through the hub: the same vm_bos made, referenced, released (deferred
  /// in immediate mode) and listed, whatever the flags; and the same ENOMEM
  /// where the vm_bo ids run out (the walk leaves the last few to the steps).
  #[test]
  fn bind_and_unbind_through_the_hub_do_what_the_steps_do(
    reqs in prop::collection::vec(req(), 1..400),
    era in prop_oneof![Just(ERA_GPUVM), Just(ERA_NEXT)],
    flags in prop_oneof![Just(0), Just(VM_IMMEDIATE_MODE), Just(VM_RESV_PROTECTED), Just(VM_IMMEDIATE_MODE | VM_RESV_PROTECTED)],
    vm_bo_ids in prop_oneof![Just(u32::MAX), 1..40u32],
  ) {
    compare(&reqs, true, era, flags, vm_bo_ids);
  }
}

/// Not vacuous: the walk in place serves most requests of a stream, across
/// leaf splits and merges (a few hundred live mappings).
#[test]
fn the_walk_in_place_serves_a_long_stream() {
  let mut rng = crate::vmbind::SplitMix64::new(7);
  let reqs: Vec<Req> = (0..5000)
    .map(|_| {
      // Non-empty and inside the VA space: a zero-length map would leave an
      // empty mapping, which sends every later request to the cursor.
      let (page, pages) = (1 + rng.below(PAGES - 32), 1 + rng.below(24));
      match rng.below(10) {
        0..=5 => Req::Map {
          page,
          pages,
          obj: rng.below(4) as u32,
          off: rng.below(4),
        },
        _ => Req::Unmap { page, pages },
      }
    })
    .collect();
  for (link, era, flags) in [
    (false, ERA_SEED, 0),
    (true, ERA_SEED, 0),
    (true, ERA_GPUVM, 0),
    (true, ERA_GPUVM, VM_IMMEDIATE_MODE),
  ] {
    let served = compare(&reqs, link, era, flags, u32::MAX);
    assert!(served == reqs.len(), "era {era}: {served}");
  }
}

/// Through the hub a request can drop the VM's last reference: with the
/// creator's put, the unbind of the last mapping tears the VM down, on the
/// walk as step by step; one that leaves a mapping does not.
#[test]
fn the_walk_through_the_hub_tears_down_the_vm_it_leaves_unreferenced() {
  for walk in [true, false] {
    let mut vm = new_vm(ERA_GPUVM, 0);
    vm.bind(4 * PAGE, 4 * PAGE, 1, 0).unwrap();
    assert!(vm.vm_put().unwrap() > 0);
    let unbind = |vm: &mut GpuVm, addr, range| {
      let req = OpMap::bare(addr, range);
      if walk {
        assert!(vm.walks_in_place(range));
        vm.unbind(addr, range).map(|_| ())
      } else {
        stepwise(vm, SmKind::Unmap, req, true, &mut Vec::new()).map(|_| ())
      }
    };
    // A split leaves two pieces: still referenced.
    unbind(&mut vm, 5 * PAGE, PAGE).unwrap();
    assert!(!vm.is_destroyed(), "walk {walk}");
    unbind(&mut vm, 4 * PAGE, 4 * PAGE).unwrap();
    assert!(vm.is_destroyed(), "walk {walk}");
  }
}
