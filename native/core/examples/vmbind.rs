//! `cargo run --release --example vmbind -- [ops] [window] [max_pages]`:
//! times the canonical workload's request loop inside Rust alone.
use drmsim_core::vmbind::{run, Params, Trace};

fn main() {
  let args: Vec<u64> = std::env::args()
    .skip(1)
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
  let r = run(&params, Trace::Off, &mut Vec::new()).expect("valid parameters");
  print!("{}", r.summary.render());
  println!(
    "bench_ns_per_request {:.1}",
    r.loop_time.as_nanos() as f64 / params.ops as f64
  );
}
