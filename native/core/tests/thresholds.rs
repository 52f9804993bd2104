//! The core's internal sizes crossed from its public API (issue 12): more
//! distinct objects than any table threshold, object ids at the top of u32,
//! GEM lists built after hundreds of thousands of stamps, equal-address runs
//! of zero-length mappings longer than a leaf (32) and than an inner node's
//! fan-out (32 * 32), trees deeper than a few levels, and trees past the size
//! where the request loops start looking ahead. Each is checked
//! against what the simple answer must be.
use drmsim_core::gpuvm::{GpuVm, Op};

const PAGE: u64 = 0x1000;
const BASE: u64 = 0x10_0000;

fn vm() -> GpuVm {
  GpuVm::new("t", 0, 1 << 48, Some((0, PAGE)))
}

#[test]
fn distinct_objects_past_every_table_size() {
  const N: u32 = 200_003;
  let mut vm = vm();
  for i in 0..N {
    let c = vm.bind(BASE + u64::from(i) * PAGE, PAGE, i + 1, PAGE).unwrap();
    assert_eq!((c.map, c.remap, c.unmap), (1, 0, 0));
  }
  assert_eq!(vm.mapping_count(), N as usize);
  for (i, va) in vm.iter().skip(1).enumerate() {
    assert_eq!(
      (va.addr, va.obj, va.offset),
      (BASE + i as u64 * PAGE, i as u32 + 1, PAGE)
    );
  }
  // The GEM lists, built now from 200,003 stamps, give each object its one mapping.
  for obj in [1, 1024, 1025, 65_536, 65_537, N] {
    let vas = vm.gem_vas(obj);
    assert_eq!(vas.len(), 1, "object {obj}");
    assert_eq!(vas[0].addr, BASE + u64::from(obj - 1) * PAGE);
  }
  // Op lists of every mapping at once.
  let ops = vm.sm_unmap_ops(BASE, u64::from(N) * PAGE).unwrap();
  assert_eq!(ops.len(), N as usize);
  assert!(ops
    .iter()
    .enumerate()
    .all(|(i, op)| matches!(op, Op::Unmap(u) if u.va.obj == i as u32 + 1)));
  let c = vm.unbind(BASE, u64::from(N) * PAGE).unwrap();
  assert_eq!(c.unmap, u64::from(N));
  assert_eq!(vm.mapping_count(), 0);
  assert!(vm.gem_vas(N).is_empty());
}

#[test]
fn object_ids_at_the_top_of_u32() {
  let mut vm = vm();
  let ids = [1u32 << 16, (1 << 31) - 1, 1 << 31, u32::MAX - 1, u32::MAX];
  for (i, &id) in ids.iter().enumerate() {
    vm.bind(BASE + i as u64 * PAGE, PAGE, id, 0).unwrap();
  }
  for (i, &id) in ids.iter().enumerate() {
    assert_eq!(vm.find(BASE + i as u64 * PAGE, PAGE).unwrap().obj, id);
    assert_eq!(vm.gem_vas(id).len(), 1, "object {id:#x}");
    let ops = vm.gem_unmap_ops(id).unwrap();
    assert!(matches!(&ops[..], [Op::Unmap(u)] if u.va.obj == id));
  }
}

#[test]
fn gem_lists_built_late_keep_link_order_through_churn() {
  // Stamps until the first read, then lists kept entry by entry: the order
  // must be link order across that switch, for an object with many mappings.
  let mut vm = vm();
  const N: u64 = 100_000;
  for i in 0..N {
    vm.bind(BASE + i * PAGE, PAGE, 7, i * PAGE).unwrap();
  }
  // Unbind every third mapping before the lists exist, then read them.
  for i in (0..N).step_by(3) {
    vm.unbind(BASE + i * PAGE, PAGE).unwrap();
  }
  let want: Vec<u64> = (0..N).filter(|i| i % 3 != 0).map(|i| BASE + i * PAGE).collect();
  let got: Vec<u64> = vm.gem_vas(7).iter().map(|va| va.addr).collect();
  assert_eq!(got, want);
  // Now tracked: more churn, and a rebind goes to the end of the list.
  for i in (1..N).step_by(3) {
    vm.unbind(BASE + i * PAGE, PAGE).unwrap();
  }
  vm.bind(BASE, PAGE, 7, 0).unwrap();
  let got: Vec<u64> = vm.gem_vas(7).iter().map(|va| va.addr).collect();
  let mut want: Vec<u64> = (0..N).filter(|i| i % 3 == 2).map(|i| BASE + i * PAGE).collect();
  want.push(BASE);
  assert_eq!(got, want);
  assert_eq!(vm.gem_unmap_ops(7).unwrap().len(), want.len());
}

#[test]
fn zero_length_runs_longer_than_a_leaf_and_a_fan_out() {
  // Zero-length mappings at one address are ordered by seq; 2,000 of them
  // span many leaves (32 records) and more than one inner node (32 children).
  let mut vm = vm();
  const K: usize = 2_000;
  let addr = BASE + 5 * PAGE;
  vm.insert(addr - PAGE, PAGE, 1, 0).unwrap();
  let keys: Vec<_> = (0..K)
    .map(|i| vm.insert(addr, 0, 2 + i as u32, 0).unwrap().key())
    .collect();
  vm.insert(addr, PAGE, 9, 0).unwrap();
  let at: Vec<_> = vm
    .iter()
    .filter(|va| va.addr == addr && va.range == 0)
    .map(|va| va.key())
    .collect();
  assert_eq!(at, keys);
  // The kernel's interval tree answers a find at that address with the real mapping.
  assert_eq!(vm.find_first(addr, PAGE).unwrap().obj, 9);
  // Remove every other one, then the rest, checking order and count as we go.
  for k in keys.iter().step_by(2) {
    vm.remove(*k).unwrap();
  }
  let at: Vec<_> = vm
    .iter()
    .filter(|va| va.addr == addr && va.range == 0)
    .map(|va| va.key())
    .collect();
  assert_eq!(at, keys.iter().skip(1).step_by(2).copied().collect::<Vec<_>>());
  for k in keys.iter().skip(1).step_by(2) {
    vm.remove(*k).unwrap();
  }
  assert_eq!(vm.mapping_count(), 2);
}

#[test]
fn one_walk_of_a_million_steps() {
  // A deep tree (10^6 records) emptied by one unmap walk, then refilled by one map.
  let mut vm = vm();
  const N: u64 = 1_000_000;
  for i in 0..N {
    vm.insert(BASE + 2 * i * PAGE, PAGE, (i % 5000) as u32 + 1, 0)
      .unwrap();
  }
  let c = vm.unbind(BASE, 2 * N * PAGE).unwrap();
  assert_eq!((c.map, c.remap, c.unmap), (0, 0, N));
  assert_eq!(vm.mapping_count(), 0);
  let c = vm.bind(BASE, 2 * N * PAGE, 1, 0).unwrap();
  assert_eq!(c.map, 1);
  assert_eq!(vm.iter().count(), 2);
}

/// A whole run whose tree grows past the size where the loop starts looking
/// ahead (more than 262,144 mappings: over 8,192 leaves of at most 32) ends
/// in the state that the same requests applied one by one, without looking
/// ahead, reach; so does a bind array of the requests after that point.
#[test]
fn looking_ahead_past_the_cache_changes_nothing() {
  use drmsim_core::gpuvm::ArrayRequest;
  use drmsim_core::vmbind::{new_vm, run, state_hash, Params, Request, Requests, Trace};
  let params = Params {
    ops: 400_000,
    window: 1 << 28,
    max_pages: 2,
    map_percent: 90,
    ..Params::default()
  };
  let whole = run(&params, Trace::Off, &mut Vec::new()).expect("a valid workload");
  assert!(
    whole.summary.mappings > 300_000,
    "{} mappings",
    whole.summary.mappings
  );
  let mut one_by_one = new_vm();
  for req in Requests::new(params) {
    match req {
      Request::Map(m) => one_by_one.bind(m.addr, m.range, m.obj, m.offset),
      Request::Unmap { addr, range } => one_by_one.unbind(addr, range),
    }
    .expect("a valid request");
  }
  assert_eq!(state_hash(&one_by_one), whole.summary.state_hash);

  let more = Params {
    seed: 2,
    ops: 20_000,
    ..params
  };
  let array: Vec<ArrayRequest> = Requests::new(more)
    .map(|req| match req {
      Request::Map(m) => ArrayRequest {
        unmap: false,
        addr: m.addr,
        range: m.range,
        obj: m.obj,
        offset: m.offset,
      },
      Request::Unmap { addr, range } => ArrayRequest {
        unmap: true,
        addr,
        range,
        obj: 0,
        offset: 0,
      },
    })
    .collect();
  let mut arrayed = whole.vm;
  arrayed
    .bind_array(&array, None, |_, _| {})
    .expect("a valid array");
  for r in &array {
    if r.unmap {
      one_by_one.unbind(r.addr, r.range)
    } else {
      one_by_one.bind(r.addr, r.range, r.obj, r.offset)
    }
    .expect("a valid request");
  }
  assert_eq!(state_hash(&arrayed), state_hash(&one_by_one));
}
