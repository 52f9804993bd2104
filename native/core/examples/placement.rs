//! `cargo run --release -p drmsim-core --example placement -- [steps] [mm|buddy]`
//!
//! Bench block 4's loop (bench/run.mjs) on the core alone, for profilers:
//! 96 buffers of 256 KiB-4 MiB, 64 MiB of VRAM and 256 MiB of GTT; each step
//! locks a random buffer, validates it into VRAM (one step in eight into
//! GTT) and unlocks it. Prints ns and CPU ns per step and evictions per step.
use drmsim_core::device::{
  AllocKind, Device, Domain, LockMode, ManagerOptions, MemoryConfig, Place, Profile, WwClass,
};
use drmsim_core::lcg::Lcg;
use std::time::Instant;

mod common;
use common::cpu_ns;

fn main() {
  let mut args = std::env::args().skip(1);
  let steps: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
  let vram = match args.next().as_deref() {
    Some("mm") => AllocKind::Mm,
    _ => AllocKind::Buddy,
  };
  let memory = MemoryConfig {
    vram: 64 << 20,
    gtt: 256 << 20,
    system: None,
  };
  let opts = ManagerOptions {
    vram,
    ..ManagerOptions::default()
  };
  let mut dev = Device::with_managers(WwClass::WaitDie, memory, &opts).expect("a valid layout");
  let mut rng = Lcg(0x2545f491);
  let n = 96u32;
  for id in 1..=n {
    let size = (256 + rng.below(3841)) << 10;
    dev
      .create_object(id, size, None, Profile::GemVram2024)
      .expect("a new id");
  }
  let to_vram = [Place::at(Domain::Vram, 0)];
  let to_gtt = [Place::at(Domain::Gtt, 0)];
  let (t, cpu) = (Instant::now(), cpu_ns());
  let mut evictions = 0u64;
  for _ in 0..steps {
    let id = 1 + rng.below(u64::from(n)) as u32;
    let resv = dev.object(id).expect("created").resv;
    dev.lock(0, resv, None, LockMode::Normal).expect("uncontended");
    let to: &[Place] = if rng.below(8) == 0 { &to_gtt } else { &to_vram };
    evictions += u64::from(dev.validate(0, id, to).expect("room").evictions);
    dev.unlock(0, resv).expect("held");
  }
  let (ns, cpu) = (t.elapsed().as_nanos() as f64, (cpu_ns() - cpu) as f64);
  let s = steps as f64;
  println!(
    "{vram:?} VRAM: {:.0} ns a step ({:.0} CPU ns), {:.2} evictions a step",
    ns / s,
    cpu / s,
    evictions as f64 / s
  );
}
