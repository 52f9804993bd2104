//! `cargo run --release --example vmbind -- [--bind] [--hash] [--pt=xe] [ops] [window] [max_pages]`:
//! times the canonical workload's request loop inside Rust alone.
//!
//! `--hash` hashes the trace as it goes (what `drmsim vmbind` and a sweep
//! task do); by default the loop runs untraced.
//!
//! `--pt=<profile>` runs it with a page-table cost model of that profile
//! (crate::pagetable) and prints its total cost.
//!
//! By default the steps are applied to the tree alone, as the workload (and
//! `drmsim vmbind`) specifies. `--bind` drives the same requests through
//! `GpuVm::bind`/`unbind`, which also keep the GEM objects' mapping lists, as
//! the public JavaScript API does: the Rust share of a per-request call.
//! `--era=<n>` (with `--bind`) makes the VA space in that era of `ERAS`:
//! from era 1 on each link also holds a reference on its object's vm_bo.
use drmsim_core::pagetable::Profile;
use drmsim_core::vmbind::{new_vm, run_costed, Params, Request, Requests, Trace, VA_RANGE};
use std::time::Instant;

mod common;
use common::{cpu_ns, vm_in_era};

fn main() {
  let cpu_started = cpu_ns();
  let bind = std::env::args().any(|a| a == "--bind");
  let trace = if std::env::args().any(|a| a == "--hash") {
    Trace::Hash
  } else {
    Trace::Off
  };
  let profile = std::env::args()
    .find_map(|a| a.strip_prefix("--pt=").map(str::to_owned))
    .map(|name| Profile::by_name(&name).expect("a page-table profile name"));
  let era: u32 = std::env::args()
    .find_map(|a| {
      a.strip_prefix("--era=")
        .map(|e| e.parse().expect("an era number"))
    })
    .unwrap_or(0);
  let args: Vec<u64> = std::env::args()
    .skip(1)
    .filter(|a| a != "--bind" && a != "--hash" && !a.starts_with("--pt=") && !a.starts_with("--era="))
    .map(|a| a.parse().expect("a number"))
    .collect();
  let mut params = Params {
    ops: 1_000_000,
    ..Params::default()
  };
  if let Some(&ops) = args.first() {
    params.ops = ops;
  }
  if let Some(&w) = args.get(1) {
    params.window = w;
  }
  if let Some(&l) = args.get(2) {
    params.max_pages = l;
  }
  let ns = if bind {
    params.validate().expect("valid parameters");
    let mut vm = if era == 0 {
      new_vm()
    } else {
      vm_in_era("vmbind", VA_RANGE, era)
    };
    if let Some(p) = &profile {
      vm.attach_page_table(p.clone()).expect("the workload fits");
    }
    let started = Instant::now();
    for req in Requests::new(params) {
      let done = match req {
        Request::Map(m) => vm.bind(m.addr, m.range, m.obj, m.offset),
        Request::Unmap { addr, range } => vm.unbind(addr, range),
      };
      done.expect("a workload request is valid");
    }
    let ns = started.elapsed().as_nanos();
    println!("mappings {}", vm.mapping_count());
    // Everything the VA space holds (records, nodes, the objects' mapping
    // lists), allocated capacity included, for each mapping left.
    println!(
      "bench_heap_bytes_per_mapping {:.1}",
      vm.heap_bytes() as f64 / vm.mapping_count().max(1) as f64
    );
    if let Some(pt) = vm.page_table() {
      println!("pt {:?}", pt.total());
    }
    ns
  } else {
    let mut r =
      run_costed(&params, trace, None, profile.as_ref(), &mut Vec::new()).expect("valid parameters");
    print!("{}", r.summary.render());
    if let Some(pt) = r.vm.page_table() {
      println!("pt {:?} {:?}", pt.total(), pt.occupancy());
    }
    r.loop_time.as_nanos()
  };
  println!("bench_ns_per_request {:.1}", ns as f64 / params.ops as f64);
  // The whole process's CPU time (setup and the summary's hash included).
  println!(
    "cpu_ns_per_request {:.1}",
    (cpu_ns() - cpu_started) as f64 / params.ops as f64
  );
}
