//! The device binding: GEM objects, reservation locks, fences, pin and vmap.
//! Ids and enums cross as u32 (0 = none), u64 values as BigInt; nothing here
//! holds a rule, it converts and forwards to `drmsim_core::device`.
//!
//! VA spaces tied to the device (`attach_vm`, attach.rs) hear of every
//! placement move inside Rust.

use crate::attach::Attached;
use crate::convert::{einval, to_js, u64_arg, Result};
use crate::external::{reported, External, Reported};
use crate::managers::{manager_options, LayoutRecord};
use drmsim_core::device::{
  AllocKind, Device, Domain, GemObj, LockMode, LockResult, MemoryConfig, PinDomain, Place, Profile, VmapKind,
  WwClass,
};
use napi::bindgen_prelude::{BigInt, Env};
use napi_derive::napi;

#[napi(object)]
pub struct LockOutcome {
  /// "ok", "EDEADLK", "EALREADY", "EBUSY" or "blocked".
  pub result: String,
  /// The thread to wait for when blocked.
  pub holder: u32,
}

#[napi(object)]
pub struct ResvRecord {
  pub owner: u32,
  pub locked: bool,
  pub holder_thread: u32,
  pub holder_ctx: u32,
  pub num_fences: u32,
  pub max_fences: u32,
}

#[napi(object)]
pub struct CtxRecord {
  pub thread: u32,
  pub stamp: BigInt,
  pub acquired: u32,
  pub contending: u32,
  pub wounded: bool,
  pub done: bool,
  pub fini: bool,
}

#[napi(object)]
pub struct ObjectRecord {
  pub id: u32,
  pub size: BigInt,
  pub refcount: u32,
  pub resv: u32,
  pub own_resv: bool,
  pub profile: u32,
  pub pin_count: u32,
  pub pin_domain: u32,
  pub vmap_count: u32,
  pub domain: u32,
  pub generation: BigInt,
  pub freed: bool,
  /// Start of its range in its domain; null when empty or purged.
  pub offset: Option<BigInt>,
  pub purged: bool,
}

#[napi(object)]
pub struct ValidateRecord {
  pub moved: bool,
  pub bytes_moved: BigInt,
  pub evictions: u32,
}

#[napi(object)]
pub struct DomainRecord {
  pub capacity: BigInt,
  pub used: BigInt,
  pub free: BigInt,
  pub largest_free: BigInt,
  pub fragmentation: f64,
  pub lru_len: u32,
  /// 0 drm_mm, 1 buddy.
  pub allocator: u32,
  pub use_tt: bool,
}

#[napi(object)]
pub struct PlacementTotalsRecord {
  pub bytes_moved: BigInt,
  pub evictions: BigInt,
  pub moves: BigInt,
}

#[napi(object)]
pub struct MoveRecord {
  pub id: u32,
  pub from: u32,
  /// 0: purged.
  pub to: u32,
  pub evicted: bool,
}

#[napi(object)]
pub struct MappingRecord {
  pub addr: BigInt,
  pub iomem: bool,
  pub generation: BigInt,
}

#[napi(object)]
pub struct ViolationRecord {
  pub kind: String,
  pub object: u32,
  pub message: String,
  pub rule: String,
}

fn opt(id: u32) -> Option<u32> {
  (id != 0).then_some(id)
}

fn mode(v: u32) -> Result<LockMode> {
  Ok(match v {
    0 => LockMode::Normal,
    1 => LockMode::Slow,
    2 => LockMode::Try,
    _ => return Err(einval(format!("lock mode must be 0..2, got {v}"))),
  })
}

fn kind(v: u32) -> Result<VmapKind> {
  Ok(match v {
    0 => VmapKind::Vmap,
    1 => VmapKind::Kmap,
    _ => return Err(einval(format!("vmap kind must be 0 or 1, got {v}"))),
  })
}

pub(crate) fn domain(v: u32) -> Result<Domain> {
  Domain::from_index(v).ok_or_else(|| einval(format!("a move needs a memory type 1..9, got {v}")))
}

fn object_record(id: u32, o: &GemObj) -> ObjectRecord {
  ObjectRecord {
    id,
    size: BigInt::from(o.size),
    refcount: o.refcount,
    resv: o.resv,
    own_resv: o.own_resv,
    profile: o.profile as u32,
    pin_count: o.pin_count,
    pin_domain: o.pin_domain.map_or(0, Domain::index),
    vmap_count: o.vmap_count,
    domain: o.domain.index(),
    generation: BigInt::from(o.generation),
    freed: o.freed,
    offset: o.node.map(BigInt::from),
    purged: o.purged,
  }
}

pub(crate) fn places(v: &[u32]) -> Result<Vec<Place>> {
  Place::decode_all(v).map_err(to_js)
}

/// One simulated device of the native engine. Its heap is reported to V8
/// (`Reported`).
#[napi(custom_finalize)]
pub struct NativeDevice {
  pub(crate) dev: Device,
  external: External,
  /// The VA spaces tied to it, in attach order; weak, so that a VA space
  /// collected by JavaScript is dropped, as is one destroyed.
  pub(crate) attached: Vec<Attached>,
  /// Its entry in the fast entry points' table (device_fast.rs).
  pub(crate) fast: crate::device_fast::FastSlot,
}

reported!(NativeDevice, |this| this.dev.heap_bytes());

#[napi]
impl NativeDevice {
  /// `ww_class`: 0 wait-die (the reservation class), 1 wound-wait.
  /// Capacities in bytes: VRAM and GTT default to 256 MiB and 1 GiB (0: no
  /// such domain), SYSTEM to unbounded.
  #[napi(constructor, catch_unwind)]
  pub fn new(
    env: Env,
    ww_class: u32,
    vram: Option<BigInt>,
    gtt: Option<BigInt>,
    system: Option<BigInt>,
    layout: Option<LayoutRecord>,
  ) -> Result<Self> {
    let class = match ww_class {
      0 => WwClass::WaitDie,
      1 => WwClass::WoundWait,
      _ => return Err(einval(format!("ww class must be 0 or 1, got {ww_class}"))),
    };
    let d = MemoryConfig::default();
    let cfg = MemoryConfig {
      vram: vram.map_or(Ok(d.vram), |v| u64_arg(&v, "vram"))?,
      gtt: gtt.map_or(Ok(d.gtt), |v| u64_arg(&v, "gtt"))?,
      system: system.map(|v| u64_arg(&v, "system")).transpose()?,
    };
    let this = NativeDevice {
      dev: Device::with_managers(class, cfg, &manager_options(layout)?).map_err(to_js)?,
      external: External::default(),
      attached: Vec::new(),
      fast: Default::default(),
    };
    this.report(&env);
    Ok(this)
  }

  /// The id of the device's fast entry points (`deviceFastCalls`, device_fast.rs).
  #[napi(catch_unwind)]
  pub fn fast_id(&mut self) -> u32 {
    crate::device_fast::fast_id(self)
  }

  /// Bytes of native memory this device has reported to V8.
  #[napi(getter)]
  pub fn external_bytes(&self) -> f64 {
    self.external.bytes()
  }

  #[napi(catch_unwind)]
  pub fn now(&self) -> BigInt {
    BigInt::from(self.dev.now())
  }

  #[napi(catch_unwind)]
  pub fn advance(&mut self, env: Env, ns: BigInt) -> Result<BigInt> {
    self.changing(&env, |this| {
      let ns = u64_arg(&ns, "ns")?;
      this.dev.advance(ns).map(BigInt::from).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn take_violations(&mut self, env: Env) -> Vec<ViolationRecord> {
    self.changing(&env, |this| {
      this
        .dev
        .take_violations()
        .into_iter()
        .map(|v| ViolationRecord {
          kind: v.kind.name().into(),
          object: v.object,
          message: v.message,
          rule: v.kind.rule().into(),
        })
        .collect()
    })
  }

  // ---- locks ----------------------------------------------------------------

  #[napi(catch_unwind)]
  pub fn create_resv(&mut self, env: Env) -> Result<u32> {
    self.changing(&env, |this| this.dev.create_resv(0).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn resv_info(&self, resv: u32) -> Result<ResvRecord> {
    let r = self.dev.resv(resv).map_err(to_js)?;
    Ok(ResvRecord {
      owner: r.owner,
      locked: r.holder.is_some(),
      holder_thread: r.holder.map_or(0, |h| h.thread),
      holder_ctx: r.holder.and_then(|h| h.ctx).unwrap_or(0),
      num_fences: r.fences.len() as u32,
      max_fences: r.max_fences as u32,
    })
  }

  #[napi(catch_unwind)]
  pub fn ctx_init(&mut self, env: Env, thread: u32) -> Result<u32> {
    self.changing(&env, |this| this.dev.ctx_init(thread).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn ctx_done(&mut self, env: Env, thread: u32, ctx: u32) -> Result<()> {
    self.changing(&env, |this| this.dev.ctx_done(thread, ctx).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn ctx_fini(&mut self, env: Env, thread: u32, ctx: u32) -> Result<()> {
    self.changing(&env, |this| this.dev.ctx_fini(thread, ctx).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn ctx_info(&self, ctx: u32) -> Result<CtxRecord> {
    let c = self.dev.ctx(ctx).map_err(to_js)?;
    Ok(CtxRecord {
      thread: c.thread,
      stamp: BigInt::from(c.stamp),
      acquired: c.acquired,
      contending: c.contending.unwrap_or(0),
      wounded: c.wounded,
      done: c.done,
      fini: c.fini,
    })
  }

  /// `mode`: 0 lock, 1 lock_slow, 2 trylock; `ctx` 0 for none.
  #[napi(catch_unwind)]
  pub fn lock(&mut self, env: Env, thread: u32, resv: u32, ctx: u32, mode_: u32) -> Result<LockOutcome> {
    self.changing(&env, |this| {
      let m = mode(mode_)?;
      let r = this.dev.lock(thread, resv, opt(ctx), m).map_err(to_js)?;
      let (result, holder) = match r {
        LockResult::Ok => ("ok", 0),
        LockResult::Deadlk => ("EDEADLK", 0),
        LockResult::Already => ("EALREADY", 0),
        LockResult::Busy => ("EBUSY", 0),
        LockResult::Blocked { holder } => ("blocked", holder),
      };
      Ok(LockOutcome {
        result: result.into(),
        holder,
      })
    })
  }

  #[napi(catch_unwind)]
  pub fn unlock(&mut self, env: Env, thread: u32, resv: u32) -> Result<()> {
    self.changing(&env, |this| this.dev.unlock(thread, resv).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn assert_held(&mut self, env: Env, thread: u32, resv: u32, what: String) -> Result<bool> {
    self.changing(&env, |this| {
      this.dev.assert_held(thread, resv, &what).map_err(to_js)
    })
  }

  // ---- GEM objects ----------------------------------------------------------

  /// `resv` 0 gives the object its own; `profile` 0 gem-vram-2019, 1 gem-vram-2024, 2 shmem.
  #[napi(catch_unwind)]
  pub fn create_object(&mut self, env: Env, id: u32, size: BigInt, resv: u32, profile: u32) -> Result<()> {
    // Moving: a full SYSTEM may swap buffers out (ttm-lru).
    self.moving(&env, |this| {
      let size = u64_arg(&size, "size")?;
      let p = Profile::from_u32(profile).map_err(to_js)?;
      this.dev.create_object(id, size, opt(resv), p).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn object_info(&self, id: u32) -> Result<ObjectRecord> {
    let o = self.dev.object_record(id).map_err(to_js)?;
    Ok(object_record(id, o))
  }

  #[napi(catch_unwind)]
  pub fn objects(&self) -> Vec<ObjectRecord> {
    self.dev.objects().map(|(id, o)| object_record(id, o)).collect()
  }

  #[napi(catch_unwind)]
  pub fn get(&mut self, env: Env, id: u32) -> Result<u32> {
    self.changing(&env, |this| this.dev.get(id).map_err(to_js))
  }

  #[napi(catch_unwind)]
  pub fn put(&mut self, env: Env, id: u32, va_mappings: u32) -> Result<bool> {
    self.changing(&env, |this| this.dev.put(id, va_mappings).map_err(to_js))
  }

  /// `domain`: 0 wherever it is, 1 system, 2 gtt, 3 vram.
  #[napi(catch_unwind)]
  pub fn pin(&mut self, env: Env, thread: u32, id: u32, domain: u32) -> Result<u32> {
    self.moving(&env, |this| {
      let d = PinDomain::from_u32(domain).map_err(to_js)?;
      this.dev.pin(thread, id, d).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn unpin(&mut self, env: Env, thread: u32, id: u32) -> Result<u32> {
    self.changing(&env, |this| this.dev.unpin(thread, id).map_err(to_js))
  }

  /// `kind`: 0 vmap, 1 kmap (gem-vram-2019).
  #[napi(catch_unwind)]
  pub fn vmap(&mut self, env: Env, thread: u32, id: u32, kind_: u32) -> Result<MappingRecord> {
    self.changing(&env, |this| {
      let k = kind(kind_)?;
      let m = this.dev.vmap(thread, id, k).map_err(to_js)?;
      Ok(MappingRecord {
        addr: BigInt::from(m.addr),
        iomem: m.iomem,
        generation: BigInt::from(m.generation),
      })
    })
  }

  #[napi(catch_unwind)]
  pub fn vunmap(&mut self, env: Env, thread: u32, id: u32, kind_: u32) -> Result<u32> {
    self.changing(&env, |this| {
      let k = kind(kind_)?;
      this.dev.vunmap(thread, id, k).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn access(&mut self, env: Env, thread: u32, id: u32, generation: BigInt) -> Result<bool> {
    self.changing(&env, |this| {
      let g = u64_arg(&generation, "generation")?;
      this.dev.access(thread, id, g).map_err(to_js)
    })
  }

  /// `domain`: 1 system, 2 gtt, 3 vram.
  #[napi(catch_unwind)]
  pub fn move_to(&mut self, env: Env, thread: u32, id: u32, domain_: u32) -> Result<bool> {
    self.moving(&env, |this| {
      let d = domain(domain_)?;
      this.dev.move_to(thread, id, d).map_err(to_js)
    })
  }

  // ---- placement --------------------------------------------------------------

  /// `places`: three u32 per place, `domain | flags << 8`, fpfn, lpfn
  /// (flags: CONTIGUOUS 1, TOPDOWN 2, TEMPORARY 4, DESIRED 8, FALLBACK 16).
  #[napi(catch_unwind)]
  pub fn validate(&mut self, env: Env, thread: u32, id: u32, places_: Vec<u32>) -> Result<ValidateRecord> {
    self.moving(&env, |this| {
      let p = places(&places_)?;
      let v = this.dev.validate(thread, id, &p).map_err(to_js)?;
      Ok(ValidateRecord {
        moved: v.moved,
        bytes_moved: BigInt::from(v.bytes_moved),
        evictions: v.evictions,
      })
    })
  }

  /// null restores the default eviction placement.
  #[napi(catch_unwind)]
  pub fn set_evict_placement(&mut self, env: Env, id: u32, places_: Option<Vec<u32>>) -> Result<()> {
    self.changing(&env, |this| {
      let p = places_.map(|v| places(&v)).transpose()?;
      this.dev.set_evict_placement(id, p).map_err(to_js)
    })
  }

  #[napi(catch_unwind)]
  pub fn evict_placement(&self, id: u32) -> Result<Vec<u32>> {
    let p = self.dev.evict_placement(id).map_err(to_js)?;
    Ok(Place::encode_all(&p))
  }

  #[napi(catch_unwind)]
  pub fn domain_info(&self, domain_: u32) -> Result<DomainRecord> {
    let s = self.dev.domain_stats(domain(domain_)?).map_err(to_js)?;
    Ok(DomainRecord {
      capacity: BigInt::from(s.capacity),
      used: BigInt::from(s.used),
      free: BigInt::from(s.free),
      largest_free: BigInt::from(s.largest_free),
      fragmentation: s.fragmentation,
      lru_len: s.lru_len as u32,
      allocator: u32::from(s.allocator == AllocKind::Buddy),
      use_tt: s.use_tt,
    })
  }

  #[napi(catch_unwind)]
  pub fn lru(&self, domain_: u32) -> Result<Vec<u32>> {
    Ok(self.dev.lru(domain(domain_)?))
  }

  #[napi(catch_unwind)]
  pub fn placement_totals(&self) -> PlacementTotalsRecord {
    let t = self.dev.placement_totals();
    PlacementTotalsRecord {
      bytes_moved: BigInt::from(t.bytes_moved),
      evictions: BigInt::from(t.evictions),
      moves: BigInt::from(t.moves),
    }
  }

  #[napi(catch_unwind)]
  pub fn track_moves(&mut self, env: Env, on: bool) {
    self.changing(&env, |this| this.dev.track_moves(on))
  }

  #[napi(catch_unwind)]
  pub fn take_moves(&mut self, env: Env) -> Vec<MoveRecord> {
    self.changing(&env, |this| {
      this
        .dev
        .take_moves()
        .into_iter()
        .map(|m| MoveRecord {
          id: m.id,
          from: m.from.index(),
          to: m.to.map_or(0, Domain::index),
          evicted: m.evicted,
        })
        .collect()
    })
  }
}
