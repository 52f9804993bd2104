//! What the examples share (each includes this file as `mod common`).

use drmsim_core::gpuvm::{GpuVm, VmOptions};

/// CPU time this thread has run, in ns (`/proc/thread-self/schedstat`): on a
/// shared machine, time spent waiting for a core is left out.
pub fn cpu_ns() -> u64 {
  let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
  stat
    .split_whitespace()
    .next()
    .and_then(|v| v.parse().ok())
    .unwrap_or(0)
}

/// A VA space over [0, `range`) with the kernel node on its first page, in
/// `era` of `ERAS` (0: the seed's, as `GpuVm::new` makes it).
#[allow(dead_code)] // not every example makes one
pub fn vm_in_era(name: &str, range: u64, era: u32) -> GpuVm {
  let opts = VmOptions {
    era,
    ..VmOptions::default()
  };
  GpuVm::with_options(name, 0, range, Some((0, 4096)), opts).expect("an era of ERAS")
}
