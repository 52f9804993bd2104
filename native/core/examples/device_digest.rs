//! `cargo run --release -p drmsim-core --example device_digest -- [scenarios] [trace]`
//!
//! Drives devices through random calls of most of the public device API
//! (locks with and without contexts, validates with flags and windows,
//! pins, vmaps, priorities, policies, vetoes, eviction placements, bulk
//! moves, dmem cgroups, swap, the copy engine, frees) and prints one digest
//! of everything they answered: results, errnos and messages, LRU listings,
//! domain and cgroup stats, violations, moves. Two builds that print the
//! same digest behaved the same; `trace` prints every answer instead.
use drmsim_core::device::*;
use drmsim_core::lcg::Lcg;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};

struct Out {
  h: DefaultHasher,
  trace: bool,
}
impl Out {
  fn put(&mut self, what: &str, v: impl Debug) {
    let s = format!("{what} {v:?}");
    if self.trace {
      println!("{s}");
    }
    s.hash(&mut self.h);
  }
}

const K: u64 = 1024;
const DOMAINS: [Domain; 3] = [Domain::System, Domain::Gtt, Domain::Vram];

fn place(rng: &mut Lcg) -> Place {
  let d = DOMAINS[rng.below(3) as usize];
  let flags = [0, 0, 0, PL_TOPDOWN, PL_CONTIGUOUS, PL_DESIRED, PL_FALLBACK][rng.below(7) as usize];
  if rng.one_in(8) {
    let f = rng.below(64) as u32;
    Place::windowed(d, flags, f, f + 1 + rng.below(512) as u32).unwrap_or(Place::at(d, flags))
  } else {
    Place::at(d, flags)
  }
}

fn placement(rng: &mut Lcg) -> Vec<Place> {
  match rng.below(10) {
    0 => vec![],
    1..=5 => vec![Place::at(Domain::Vram, 0)],
    6 => vec![Place::at(Domain::Gtt, 0)],
    _ => (0..1 + rng.below(3)).map(|_| place(rng)).collect(),
  }
}

fn scenario(seed: u64, out: &mut Out) {
  let mut rng = Lcg(seed);
  let kind = |r: &mut Lcg| {
    if r.one_in(2) {
      AllocKind::Mm
    } else {
      AllocKind::Buddy
    }
  };
  let opts = ManagerOptions {
    vram: kind(&mut rng),
    gtt: kind(&mut rng),
    ..ManagerOptions::default()
  };
  let memory = MemoryConfig {
    vram: (1 + rng.below(8)) << 20,
    gtt: (2 + rng.below(16)) << 20,
    system: if rng.one_in(3) {
      Some((8 + rng.below(32)) << 20)
    } else {
      None
    },
  };
  let class = if rng.one_in(2) {
    WwClass::WaitDie
  } else {
    WwClass::WoundWait
  };
  let mut d = Device::with_managers(class, memory, &opts).expect("valid");
  let features = rng.below(64);
  let mut cgroups = vec![CGROUP_ROOT];
  if features & 1 != 0 {
    let mode = if rng.one_in(2) {
      DmemMode::Upstream
    } else {
      DmemMode::Proposed
    };
    out.put("dmem", d.dmem_setup(mode, true, rng.one_in(2)));
    for i in 0..3 {
      let parent = cgroups[rng.below(cgroups.len() as u64) as usize];
      if let Ok(c) = d.cgroup_create(parent, &format!("g{i}")) {
        for which in 0..3 {
          if rng.one_in(2) {
            let v = (rng.below(6) + u64::from(which == 2)) << 20;
            out.put("limit", d.cgroup_set_limit(c, Domain::Vram, which, v));
          }
        }
        cgroups.push(c);
      }
    }
  }
  if features & 2 != 0 {
    out.put("swap", d.configure_swap(Some(rng.below(16) << 20)));
  }
  if features & 4 != 0 {
    out.put("copy", d.configure_copy(CopyConfig::default()));
  }
  if features & 8 != 0 {
    out.put(
      "policy",
      d.set_eviction_policy(EvictionPolicy {
        protect_from_priority: 1 + rng.below(4) as u8,
        protect_tags: rng.below(4) as u32,
      }),
    );
  }
  d.track_moves(true);
  let mut bulks = Vec::new();
  let n = 8 + rng.below(40) as u32;
  let mut next_id = 1u32;
  let mut ctx = None;
  for step in 0..600u32 {
    let id = 1 + rng.below(u64::from(next_id)) as u32;
    let resv = d.object(id).map(|o| o.resv).unwrap_or(1);
    let thread = u32::from(rng.one_in(8));
    match rng.below(40) {
      0..=5 if next_id <= n => {
        let size = (4 + rng.below(1024)) * K;
        let share = if rng.one_in(6) && next_id > 1 {
          d.object(1).ok().map(|o| o.resv)
        } else {
          None
        };
        let r = if rng.one_in(8) {
          d.create_object_unbacked(next_id, size, share, Profile::GemVram2024)
        } else {
          let profile = [Profile::GemVram2024, Profile::GemVram2019, Profile::Shmem][rng.below(3) as usize];
          d.create_object(next_id, size, share, profile)
        };
        out.put("create", &r);
        if r.is_ok() && cgroups.len() > 1 && rng.one_in(2) {
          let cg = cgroups[rng.below(cgroups.len() as u64) as usize];
          out.put("assign", d.cgroup_assign(next_id, cg));
        }
        next_id += 1;
      }
      4..=17 => {
        // lock, validate, unlock: the common step.
        let c = if rng.one_in(4) { ctx } else { None };
        out.put("lock", d.lock(thread, resv, c, LockMode::Normal));
        let p = placement(&mut rng);
        if features & 4 != 0 && rng.one_in(3) {
          out.put("vt", d.validate_timed(thread, id, &p, rng.one_in(2)));
        } else {
          out.put("v", d.validate(thread, id, &p));
        }
        if !rng.one_in(30) {
          out.put("unlock", d.unlock(thread, resv));
        }
      }
      18 => out.put("trylock", d.lock(thread, resv, ctx, LockMode::Try)),
      19 => out.put("unlock", d.unlock(thread, resv)),
      20 => {
        out.put("lock", d.lock(0, resv, None, LockMode::Normal));
        let pd = [
          PinDomain::Current,
          PinDomain::In(Domain::Vram),
          PinDomain::In(Domain::Gtt),
        ];
        out.put("pin", d.pin(0, id, pd[rng.below(3) as usize]));
        out.put("unlock", d.unlock(0, resv));
      }
      21 => {
        out.put("lock", d.lock(0, resv, None, LockMode::Normal));
        out.put("unpin", d.unpin(0, id));
        out.put("unlock", d.unlock(0, resv));
      }
      22 => out.put("prio", d.set_priority(id, rng.below(5) as u32)),
      23 => out.put("tags", d.set_tags(id, rng.below(4) as u32)),
      24 => {
        let p = if rng.one_in(3) {
          None
        } else {
          Some(placement(&mut rng))
        };
        out.put("evict_pl", d.set_evict_placement(id, p));
      }
      25 => {
        let b = d.create_bulk_move(if rng.one_in(2) { Some(resv) } else { None });
        if let Ok(b) = b {
          bulks.push(b);
        }
        out.put("bulk", b);
      }
      26 if !bulks.is_empty() => {
        let b = if rng.one_in(4) {
          0
        } else {
          bulks[rng.below(bulks.len() as u64) as usize]
        };
        out.put("set_bulk", d.set_bulk_move(id, b));
      }
      27 if !bulks.is_empty() => {
        out.put(
          "bulk_tail",
          d.bulk_move_tail(bulks[rng.below(bulks.len() as u64) as usize]),
        );
      }
      28 => {
        let veto: Vec<u32> = (0..rng.below(3))
          .map(|_| 1 + rng.below(u64::from(next_id)) as u32)
          .collect();
        d.set_eviction_veto(&veto);
      }
      29 => out.put("purgeable", d.set_purgeable(id, rng.one_in(2))),
      30 => out.put("swapout", d.swapout(rng.below(4) << 20)),
      31 => {
        out.put("lock", d.lock(0, resv, None, LockMode::Normal));
        let kind = if rng.one_in(3) {
          VmapKind::Kmap
        } else {
          VmapKind::Vmap
        };
        if rng.one_in(2) {
          out.put("vmap", d.vmap(0, id, kind));
        } else {
          out.put("vunmap", d.vunmap(0, id, kind));
        }
        out.put("unlock", d.unlock(0, resv));
      }
      32 => out.put("advance", d.advance(rng.below(200_000))),
      33 => {
        if !rng.one_in(6) {
          out.put("get", d.get(id));
        } else {
          out.put("put", d.put(id, rng.below(2) as u32));
        }
      }
      34 => {
        if let Some(c) = ctx.take() {
          out.put("fini", d.ctx_fini(thread, c));
        } else {
          let c = d.ctx_init(thread);
          ctx = c.as_ref().ok().copied();
          out.put("ctx", c);
        }
      }
      35 => {
        let f = d.create_fence(1, step, Some(d.now() + rng.below(100_000)));
        out.put("fence", &f);
        if let Ok(f) = f {
          out.put("lock", d.lock(0, resv, None, LockMode::Normal));
          out.put("reserve", d.reserve_fences(0, resv, 1));
          out.put(
            "add",
            d.add_fence(0, resv, f, Usage::from_u32(rng.below(4) as u32).unwrap()),
          );
          out.put("unlock", d.unlock(0, resv));
        }
      }
      36 => {
        out.put("lock", d.lock(0, resv, None, LockMode::Normal));
        out.put("move", d.move_to(0, id, DOMAINS[rng.below(3) as usize]));
        out.put("unlock", d.unlock(0, resv));
      }
      _ => {
        // A probe of hostile ids.
        out.put("probe", d.object(u32::MAX - rng.below(2) as u32).map(|o| o.size));
        out.put(
          "probe_v",
          d.validate(0, next_id + 1000, &[Place::at(Domain::Vram, 0)]),
        );
      }
    }
    if step % 16 == 0 {
      for dom in DOMAINS {
        out.put("lru", d.lru(dom));
        out.put("lens", d.lru_lengths(dom));
        out.put("stats", d.domain_stats(dom));
      }
      for &c in &cgroups {
        out.put("cg", d.cgroup_stats(c, Domain::Vram));
      }
      out.put("viol", d.take_violations());
      out.put("moves", d.take_moves());
    }
  }
  for (id, o) in d.objects() {
    out.put(
      "obj",
      (
        id,
        o.size,
        o.domain,
        o.node,
        o.purged,
        o.generation,
        o.pin_count,
        o.freed,
      ),
    );
    out.put("res", d.resource(id));
    out.put("ep", d.evict_placement(id));
  }
  out.put("totals", (d.placement_totals(), d.swap_totals()));
}

fn main() {
  let mut args = std::env::args().skip(1);
  let scenarios: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
  let trace = args.next().as_deref() == Some("trace");
  let mut out = Out {
    h: DefaultHasher::new(),
    trace,
  };
  for seed in 1..=scenarios {
    scenario(seed, &mut out);
  }
  println!("{scenarios} scenarios: digest {:016x}", out.h.finish());
}
