use super::*;

fn vm() -> GpuVm {
  GpuVm::new("t", 0, 1 << 48, Some((0, 0x1000)))
}

#[test]
fn placeholder() {
  assert_eq!(vm().len(), 1);
}

#[test]
fn treap_stays_balanced_under_the_workload() {
  let params = crate::vmbind::Params {
    ops: 100_000,
    ..Default::default()
  };
  let run = crate::vmbind::run(&params, crate::vmbind::Trace::Off, &mut Vec::new()).unwrap();
  let (avg, max) = run.vm.tree.depth_stats();
  let n = run.vm.len() as f64;
  eprintln!("nodes {n} avg depth {avg:.1} max {max}");
  assert!(avg < 3.0 * n.log2(), "average depth {avg} for {n} nodes");
}
