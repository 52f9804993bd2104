//! The walk that applies itself against the cursor's steps applied one by
//! one: over random request streams, both leave the same records (keys,
//! flags, objects, offsets, store positions), links and counts, and the
//! steps the walk shows (a trace's) are the cursor's, in its order.

use super::super::{GpuVm, Link, Op, OpCounts, OpMap, Va, NO_OBJ};
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
}

fn req() -> impl Strategy<Value = Req> {
  prop_oneof![
    12 => (0..PAGES, 0..24u64, 0..4u32, 0..4u64).prop_map(|(page, pages, obj, off)| Req::Map { page, pages, obj, off }),
    6 => (0..PAGES, 0..32u64).prop_map(|(page, pages)| Req::Unmap { page, pages }),
    1 => (0..PAGES).prop_map(|page| Req::Empty { page }),
    1 => Just(Req::DropEmpties),
    1 => (0..PAGES).prop_map(|page| Req::Invalidate { page }),
    1 => Just(Req::Lists),
  ]
}

fn new_vm() -> GpuVm {
  GpuVm::new("walk", 0, PAGES * PAGE, Some((0, PAGE)))
}

/// The step-by-step run's tally, counted from its steps, which go to `steps`.
fn stepwise(vm: &mut GpuVm, kind: SmKind, req: OpMap, link: bool, steps: &mut Vec<Op>) -> Result<WalkTally> {
  let mut cursor = match kind {
    SmKind::Map => vm.sm_map(req.addr, req.range, req.obj, req.offset)?,
    SmKind::Unmap => vm.sm_unmap(req.addr, req.range)?,
  };
  let mut t = WalkTally::default();
  let link = if link { Link::Yes } else { Link::No };
  while let Some(op) = cursor.step(vm) {
    steps.push(op);
    vm.apply_own_step(&op, link)?;
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

/// Applies `reqs` to two VA spaces, one per path; the number of requests
/// the walk in place served.
fn compare(reqs: &[Req], link: bool) -> usize {
  let (mut a, mut b) = (new_vm(), new_vm());
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
    compare(&reqs, false);
  }

  #[test]
  fn bind_and_unbind_link_what_the_steps_link(reqs in prop::collection::vec(req(), 1..400)) {
    compare(&reqs, true);
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
  for link in [false, true] {
    let served = compare(&reqs, link);
    assert!(served == reqs.len(), "{served}");
  }
}
