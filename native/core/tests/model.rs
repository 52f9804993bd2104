//! The split/merge engine against a model written the simple way: every
//! mapping that overlaps the request, taken from a sorted list, turned into
//! its step by the seed's table, with no tree, cursor or early exit. Plus
//! random calls with arbitrary u64 values that must never panic.
//!
//! `PROPTEST_CASES=100000 cargo test --release -p drmsim-core --test model`
//! runs a longer campaign (see bench/RESULTS.md).
use drmsim_core::gpuvm::{GpuVm, Op, OpMap};
use proptest::prelude::*;

const PAGE: u64 = 0x1000;
const BASE: u64 = 0x10_0000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct M {
  addr: u64,
  range: u64,
  obj: u32,
  offset: u64,
}

impl M {
  fn end(&self) -> u64 {
    self.addr + self.range
  }
}

fn text(m: &M) -> String {
  format!("{:#x},{:#x},{},{:#x}", m.addr, m.range, m.obj, m.offset)
}

/// The steps the seed's table gives for a request, computed from scratch.
fn model_steps(maps: &[M], req: M, unmap: bool) -> Vec<String> {
  let (r, e) = (req.addr, req.end());
  let mut out = Vec::new();
  for m in maps.iter().filter(|m| m.addr < e && m.end() > r) {
    let same = m.obj != 0 && m.obj == req.obj;
    let piece = |a: u64, b: u64| M {
      addr: a,
      range: b - a,
      obj: m.obj,
      offset: m.offset + (a - m.addr),
    };
    let prev = (m.addr < r).then(|| piece(m.addr, r));
    let next = (m.end() > e).then(|| piece(e, m.end()));
    let keep = !unmap && same && m.offset.wrapping_sub(req.offset) == m.addr.wrapping_sub(r);
    let pieces = |p: Option<M>| p.map_or("-".to_string(), |p| text(&p));
    out.push(if prev.is_some() || next.is_some() {
      format!(
        "remap {} keep={} prev={} next={}",
        text(m),
        u8::from(keep),
        pieces(prev),
        pieces(next)
      )
    } else {
      format!("unmap {} keep={}", text(m), u8::from(keep))
    });
  }
  if !unmap {
    out.push(format!("map {}", text(&req)));
  }
  out
}

fn model_apply(maps: &mut Vec<M>, req: M, unmap: bool) {
  let (r, e) = (req.addr, req.end());
  let mut next = Vec::new();
  for m in maps.iter() {
    if m.addr < e && m.end() > r {
      if m.addr < r {
        next.push(M {
          range: r - m.addr,
          ..*m
        });
      }
      if m.end() > e {
        next.push(M {
          addr: e,
          range: m.end() - e,
          obj: m.obj,
          offset: m.offset + (e - m.addr),
        });
      }
    } else {
      next.push(*m);
    }
  }
  if !unmap {
    next.push(req);
  }
  next.sort_by_key(|m| m.addr);
  *maps = next;
}

fn engine_text(op: &Op) -> String {
  let m = |p: &OpMap| {
    text(&M {
      addr: p.addr,
      range: p.range,
      obj: p.obj,
      offset: p.offset,
    })
  };
  let va = |v: &drmsim_core::gpuvm::Va| {
    text(&M {
      addr: v.addr,
      range: v.range,
      obj: v.obj,
      offset: v.offset,
    })
  };
  match op {
    Op::Map(p) => format!("map {}", m(p)),
    Op::Remap(rm) => format!(
      "remap {} keep={} prev={} next={}",
      va(&rm.unmap.va),
      u8::from(rm.unmap.keep),
      rm.prev.as_ref().map_or("-".to_string(), m),
      rm.next.as_ref().map_or("-".to_string(), m)
    ),
    Op::Unmap(u) => format!("unmap {} keep={}", va(&u.va), u8::from(u.keep)),
    Op::Prefetch(v) => format!("prefetch {}", va(v)),
  }
}

fn request() -> impl Strategy<Value = (bool, M)> {
  (any::<bool>(), 0u64..48, 1u64..10, 0u32..4, 0u64..6).prop_map(|(unmap, page, pages, obj, off)| {
    (
      unmap,
      M {
        addr: BASE + page * PAGE,
        range: pages * PAGE,
        obj,
        offset: off * PAGE,
      },
    )
  })
}

proptest! {
  #[test]
  fn split_merge_matches_the_model(reqs in prop::collection::vec(request(), 1..120)) {
    let mut vm = GpuVm::new("model", 0, 1 << 48, Some((0, PAGE)));
    let mut maps: Vec<M> = Vec::new();
    for (unmap, req) in reqs {
      let want = model_steps(&maps, req, unmap);
      let got: Vec<String> = if unmap {
        vm.sm_unmap_ops(req.addr, req.range).unwrap().iter().map(engine_text).collect()
      } else {
        vm.sm_map_ops(req.addr, req.range, req.obj, req.offset).unwrap().iter().map(engine_text).collect()
      };
      prop_assert_eq!(&got, &want);
      if unmap { vm.unbind(req.addr, req.range).unwrap(); } else { vm.bind(req.addr, req.range, req.obj, req.offset).unwrap(); }
      model_apply(&mut maps, req, unmap);
      let state: Vec<M> = vm.iter().filter(|v| !v.is_kernel_node())
        .map(|v| M { addr: v.addr, range: v.range, obj: v.obj, offset: v.offset }).collect();
      prop_assert_eq!(&state, &maps);
    }
  }

  #[test]
  fn arbitrary_u64_input_never_panics(calls in prop::collection::vec((0u8..9, any::<u64>(), any::<u64>(), any::<u32>(), any::<u64>()), 1..60)) {
    let mut vm = GpuVm::new("fuzz", 1 << 20, u64::MAX - (1 << 20), Some((1 << 20, PAGE)));
    for (call, a, r, obj, off) in calls {
      // Bias half the values towards the edges of the space.
      let (a, r) = if a % 2 == 0 { (a, r) } else { (u64::MAX - (a % 64) * PAGE, r % (3 * PAGE)) };
      match call {
        0 => { let _ = vm.insert(a, r, obj, off); }
        1 => { let _ = vm.bind(a, r, obj, off); }
        2 => { let _ = vm.unbind(a, r); }
        3 => { let _ = vm.sm_map_ops(a, r, obj, off); }
        4 => { let _ = vm.prefetch_ops(a, r); }
        5 => { let _ = (vm.find_first(a, r), vm.find(a, r), vm.find_prev(a), vm.find_next(r)); }
        6 => { let _ = vm.remove((a, r)); }
        7 => { let _ = vm.gem_unmap_ops(obj); }
        _ => { let _ = vm.iter_range(a, r).count(); }
      }
    }
    // Whatever happened, the nodes are still ordered and disjoint.
    let nodes: Vec<_> = vm.iter().filter(|v| v.range > 0).collect();
    for w in nodes.windows(2) {
      prop_assert!(w[0].addr + w[0].range <= w[1].addr);
    }
  }
}
