//! `cargo run --release -p drmsim-core --example scaling -- [max_mappings] [requests] [min_mappings]`
//!
//! How the engine scales with the number of live mappings, and what each costs
//! in memory. For each size n = 10^3 .. max: n one-page mappings are laid out
//! two pages apart, then `requests` random bind/unbind requests (1-8 pages,
//! 70% maps) land among them. Prints, per n, nanoseconds per request and the
//! resident bytes per live mapping. Each request looks two ahead
//! (`GpuVm::look_ahead`), as the whole-run loop and `bindBatch` do;
//! `NOLOOK=1` turns that off, for a comparison. `ERA=<n>` makes each VA
//! space in that era of `ERAS` and lays the mappings out with `bind`, so
//! that each is linked (from era 1 on, holding a reference on its object's
//! vm_bo): the resident bytes then count the links too.
use drmsim_core::gpuvm::OpMap;
use drmsim_core::vmbind::{Ahead, Request, SplitMix64};
use std::time::Instant;

mod common;
use common::{cpu_ns, vm_in_era};

const PAGE: u64 = 4096;
const BASE: u64 = 1 << 32;

fn rss_bytes() -> u64 {
  let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
  let pages: u64 = statm
    .split_whitespace()
    .nth(1)
    .and_then(|v| v.parse().ok())
    .unwrap_or(0);
  pages * PAGE
}

fn main() {
  let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
  let max = args.first().copied().unwrap_or(10_000_000);
  let requests = args.get(1).copied().unwrap_or(200_000);
  let min = args.get(2).copied().unwrap_or(1000);
  let look = std::env::var_os("NOLOOK").is_none();
  let era: Option<u32> = std::env::var("ERA")
    .ok()
    .filter(|e| !e.is_empty())
    .map(|e| e.parse().expect("an era number"));
  println!("live_mappings ns_per_request rss_bytes_per_mapping cpu_ns_per_request");
  let mut n = min;
  while n <= max {
    let before = rss_bytes();
    let mut vm = vm_in_era("scaling", 1 << 48, era.unwrap_or(0));
    for i in 0..n {
      let (addr, obj) = (BASE + 2 * i * PAGE, 1 + (i % 1024) as u32);
      match era {
        None => vm.insert(addr, PAGE, obj, 0).map(drop),
        Some(_) => vm.bind(addr, PAGE, obj, 0).map(drop),
      }
      .expect("free range");
    }
    let per_mapping = rss_bytes().saturating_sub(before) as f64 / n as f64;
    let mut rng = SplitMix64::new(n);
    let window = 2 * n;
    // The requests are drawn first, so that each can look two ahead.
    let reqs: Vec<Request> = (0..requests)
      .map(|_| {
        let map = rng.below(100) < 70;
        let page = rng.below(window);
        let pages = 1 + rng.below(8);
        let (addr, range) = (BASE + page * PAGE, pages * PAGE);
        if !map {
          return Request::Unmap { addr, range };
        }
        let obj = 1 + rng.below(1024) as u32;
        let offset = rng.below(256) * PAGE;
        Request::Map(OpMap {
          addr,
          range,
          obj,
          offset,
        })
      })
      .collect();
    let started = Instant::now();
    let cpu_started = cpu_ns();
    for (req, next, after) in Ahead::new(reqs.into_iter()) {
      if look {
        vm.look_ahead(next, after);
      }
      match req {
        Request::Map(m) => vm.bind(m.addr, m.range, m.obj, m.offset),
        Request::Unmap { addr, range } => vm.unbind(addr, range),
      }
      .expect("valid request");
    }
    let ns = started.elapsed().as_nanos() as f64 / requests as f64;
    let cpu = (cpu_ns() - cpu_started) as f64 / requests as f64;
    println!("{} {:.1} {:.1} {:.1}", vm.mapping_count(), ns, per_mapping, cpu);
    drop(vm);
    n *= 10;
  }
}
