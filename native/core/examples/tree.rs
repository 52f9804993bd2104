//! `cargo run --release -p drmsim-core --example tree -- [n]`: the VA tree
//! alone, as `bench/run.mjs` block 2 drives it from JavaScript (n random
//! non-overlapping one-to-four-page ranges inserted in a shuffled order,
//! each found with `find_first`, then removed): the Rust share of that
//! block's figures. Prints wall and CPU ns per operation.
use drmsim_core::gpuvm::GpuVm;
use std::time::Instant;

mod common;
use common::cpu_ns;

/// The bench's 64-bit LCG, top 31 bits.
struct Lcg(u64);

impl Lcg {
  fn next(&mut self) -> u64 {
    self.0 = self
      .0
      .wrapping_mul(6_364_136_223_846_793_005)
      .wrapping_add(1_442_695_040_888_963_407);
    self.0 >> 33
  }
}

fn timed(n: usize, what: &str, f: impl FnOnce()) {
  let (wall, cpu) = (Instant::now(), cpu_ns());
  f();
  let cpu = (cpu_ns() - cpu) as f64 / n as f64;
  let wall = wall.elapsed().as_nanos() as f64 / n as f64;
  println!("{what} {wall:.1} cpu {cpu:.1}");
}

fn main() {
  let n: usize = std::env::args()
    .nth(1)
    .map_or(1_000_000, |a| a.parse().expect("a number"));
  let mut rng = Lcg(0x9e37_79b9_7f4a_7c15);
  let mut ranges: Vec<(u64, u64)> = (0..n as u64)
    .map(|i| (4096 * (8 * i + 1), 4096 * (1 + rng.next() % 4)))
    .collect();
  for i in (1..n).rev() {
    let j = (rng.next() % (i as u64 + 1)) as usize;
    ranges.swap(i, j);
  }
  let mut vm = GpuVm::new("tree", 0, 1 << 48, None);
  let mut keys = Vec::with_capacity(n);
  timed(n, "insert", || {
    for &(a, r) in &ranges {
      keys.push(vm.insert(a, r, 0, 0).expect("free range").key());
    }
  });
  timed(n, "find_first", || {
    for &(a, r) in &ranges {
      std::hint::black_box(vm.find_first(a, r));
    }
  });
  timed(n, "remove", || {
    for &k in &keys {
      vm.remove(k).expect("a live mapping");
    }
  });
}
