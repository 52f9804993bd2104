//! `cargo run --release --example vmbind -- [--bind] [ops] [window] [max_pages]`:
//! times the canonical workload's request loop inside Rust alone.
//!
//! By default the steps are applied to the tree alone, as the workload (and
//! `drmsim vmbind`) specifies. `--bind` drives the same requests through
//! `GpuVm::bind`/`unbind`, which also keep the GEM objects' mapping lists, as
//! the public JavaScript API does: the Rust share of a per-request call.
use drmsim_core::vmbind::{new_vm, run, Params, Request, Requests, Trace};
use std::time::Instant;

fn main() {
  let bind = std::env::args().any(|a| a == "--bind");
  let args: Vec<u64> = std::env::args()
    .skip(1)
    .filter(|a| a != "--bind")
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
    let mut vm = new_vm();
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
    ns
  } else {
    let r = run(&params, Trace::Off, &mut Vec::new()).expect("valid parameters");
    print!("{}", r.summary.render());
    r.loop_time.as_nanos()
  };
  println!("bench_ns_per_request {:.1}", ns as f64 / params.ops as f64);
}
