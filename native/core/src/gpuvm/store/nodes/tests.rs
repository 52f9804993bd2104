use super::{Nodes, HUGE, MIN_BYTES};

/// A node as large and as aligned as a leaf's first lines.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
struct Node([u64; 3]);

fn node(i: usize) -> Node {
  let i = i as u64;
  Node([i, !i, i.wrapping_mul(0x9e37_79b9_7f4a_7c15)])
}

fn well_formed(v: &Nodes<Node>, n: usize) {
  assert_eq!(v.len(), n);
  assert!(v.capacity() >= n);
  assert_eq!(v.as_ptr() as usize % align_of::<Node>(), 0);
  if let Some(i) = (0..n).find(|&i| v[i] != node(i)) {
    panic!("node {i} of {n} is {:?}", v[i]);
  }
}

#[test]
fn growing_past_the_threshold_keeps_every_node_in_order_and_moves_to_a_mapping() {
  // Past MIN_BYTES and through three more doublings, each a move of the mapping.
  let n = 8 * MIN_BYTES / size_of::<Node>() + 5;
  let mut v = Nodes::new();
  let mut grown = 0;
  for i in 0..n {
    let before = v.capacity();
    v.push(node(i));
    if v.capacity() != before {
      grown += 1;
      well_formed(&v, i + 1);
      let bytes = v.capacity() * size_of::<Node>();
      if cfg!(target_os = "linux") {
        // On the heap below the threshold, a mapping on 2 MiB boundaries from it on.
        assert_eq!(v.is_mapped(), bytes >= MIN_BYTES, "at {} nodes", i + 1);
        if v.is_mapped() {
          assert_eq!(v.as_ptr() as usize % HUGE, 0);
        }
      } else {
        assert!(!v.is_mapped());
      }
    }
  }
  assert!(grown > 10, "grew {grown} times");
  well_formed(&v, n);
  // Written through the slice, and read back.
  v[n - 1] = node(0);
  assert_eq!(v[n - 1], node(0));
  assert_eq!(v.get(n), None);
}

#[test]
fn a_clone_is_a_copy_of_its_own_on_the_heap_or_mapped() {
  for n in [0, 1, 3, 1000, 2 * MIN_BYTES / size_of::<Node>() + 1] {
    let mut v = Nodes::new();
    for i in 0..n {
      v.push(node(i));
    }
    let mut c = v.clone();
    well_formed(&c, n);
    assert_eq!(c.is_mapped(), v.is_mapped());
    if n > 0 {
      c[0] = node(7);
      assert_eq!(v[0], node(0), "the clone shares the original's buffer");
    }
    drop(v);
    if n > 1 {
      assert_eq!(c[n - 1], node(n - 1), "the clone outlives the original");
    }
  }
}

#[test]
fn many_arrays_come_and_go() {
  // Each one large enough to be mapped: a leak of mappings or a double
  // free would show as a failed mapping or a crash.
  let n = MIN_BYTES / size_of::<Node>() + 1;
  for round in 0..64 {
    let mut v = Nodes::new();
    for i in 0..n {
      v.push(node(i + round));
    }
    assert_eq!(v[n - 1], node(n - 1 + round));
  }
}

#[cfg(target_os = "linux")]
#[test]
fn where_the_kernel_refuses_a_mapping_the_array_stays_on_or_goes_back_to_the_heap() {
  use super::map::REFUSE;
  let step = MIN_BYTES / size_of::<Node>();
  let mut v = Nodes::new();
  let fill = |v: &mut Nodes<Node>, to: usize| {
    for i in v.len()..to {
      v.push(node(i));
    }
  };
  REFUSE.set(true);
  fill(&mut v, step + 1);
  assert!(!v.is_mapped());
  well_formed(&v, step + 1);
  REFUSE.set(false);
  let past = v.capacity() + 1;
  fill(&mut v, past);
  assert!(v.is_mapped());
  well_formed(&v, v.len());
  // A move refused: the nodes are copied out of the mapping to the heap.
  REFUSE.set(true);
  let past = v.capacity() + 1;
  fill(&mut v, past);
  assert!(!v.is_mapped());
  well_formed(&v, v.len());
  REFUSE.set(false);
  let past = v.capacity() + 1;
  fill(&mut v, past);
  assert!(v.is_mapped());
  well_formed(&v, v.len());
}
