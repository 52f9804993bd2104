//! GEM objects: reference counts, their reservation object, pin counts and
//! pinned domain, vmap use counts and mappings that remember the placement
//! generation. The era profile picks which historical rules apply.

use super::{Device, Domain, ObjPressure, Place, Validated, ViolationKind as V};
use crate::errno::{fail, Errno, Result};

/// The rules of one era (seeds 002 and 003).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
  /// 2019 gem-vram: ref-counted kmap under a private lock; vmap = pin + kmap.
  GemVram2019,
  /// 2024 gem-vram: vmap needs the resv lock and does not pin.
  GemVram2024,
  /// shmem helper: vmap needs the resv lock and pins the pages; never moves.
  Shmem,
}

impl Profile {
  pub fn from_u32(v: u32) -> Result<Profile> {
    Ok(match v {
      0 => Profile::GemVram2019,
      1 => Profile::GemVram2024,
      2 => Profile::Shmem,
      _ => return fail(Errno::EINVAL, format!("unknown profile {v}")),
    })
  }
}

/// Where to pin: a domain, or wherever the buffer is (`pl_flag == 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinDomain {
  Current,
  In(Domain),
}

impl PinDomain {
  pub fn from_u32(v: u32) -> Result<PinDomain> {
    Ok(match v {
      0 => PinDomain::Current,
      1 => PinDomain::In(Domain::System),
      2 => PinDomain::In(Domain::Gtt),
      3 => PinDomain::In(Domain::Vram),
      _ => return fail(Errno::EINVAL, format!("domain must be 0..3, got {v}")),
    })
  }
}

/// `vmap` follows the profile; `kmap` is the 2019 gem-vram call that never pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmapKind {
  Vmap,
  Kmap,
}

#[derive(Clone, Debug)]
pub struct GemObj {
  pub size: u64,
  pub refcount: u32,
  pub resv: u32,
  pub own_resv: bool,
  pub profile: Profile,
  pub pin_count: u32,
  pub pin_domain: Option<Domain>,
  pub vmap_count: u32,
  pub domain: Domain,
  /// Bumped on every move; mappings made before a move are stale.
  pub generation: u64,
  pub freed: bool,
  /// Start of its range in its domain's allocator; `None` when empty or purged.
  pub node: Option<u64>,
  /// Purged: no backing store anywhere until validated again.
  pub purged: bool,
  /// Has pages (was placed outside SYSTEM): VRAM <-> SYSTEM then bounces through GTT.
  pub populated: bool,
  /// Position on its domain's LRU; `None` while pinned or purged.
  pub lru: Option<u64>,
  /// Where eviction sends it; `None`: the default for its domain.
  pub evict_placement: Option<Vec<Place>>,
  /// Priority, tags, bulk move, purgeable and swap state (pressure.rs).
  pub pressure: ObjPressure,
}

/// A kernel mapping (`iosys_map`): address, iomem, and the generation it saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
  pub addr: u64,
  pub iomem: bool,
  pub generation: u64,
}

const KVA_BASE: u64 = 0xffff_c900_0000_0000;

impl Device {
  /// A new object with refcount 1 in system memory, on its own resv unless
  /// `resv` names one to share. An id may be reused once its object is freed.
  pub fn create_object(&mut self, id: u32, size: u64, resv: Option<u32>, profile: Profile) -> Result<()> {
    if id == 0 {
      return fail(Errno::EINVAL, "GEM object id 0 is reserved");
    }
    if self.objects.get(id).is_some_and(|o| !o.freed) {
      return fail(Errno::EEXIST, format!("GEM object {id} exists"));
    }
    if let Some(r) = resv {
      self.resv(r)?;
    }
    // New buffers start in system memory, which may be bounded.
    let node = match self.domain_alloc(Domain::System, size, false) {
      // ttm-lru: a shrinker may make room (swap.rs).
      Err(e) if e.errno == Errno::ENOSPC && self.pressure.swap.is_some() => {
        match self.swap_alloc(size, false)? {
          Some(n) => n,
          None => {
            return fail(
              Errno::ENOMEM,
              format!("no system memory for GEM object {id} ({size} bytes)"),
            )
          }
        }
      }
      Err(e) if e.errno == Errno::ENOSPC => {
        return fail(
          Errno::ENOMEM,
          format!("no system memory for GEM object {id} ({size} bytes)"),
        );
      }
      r => r?,
    };
    let (resv, own_resv) = match resv {
      Some(r) => (r, false),
      None => match self.create_resv(id) {
        Ok(r) => (r, true),
        Err(e) => {
          self.domain_free(Domain::System, node);
          return Err(e);
        }
      },
    };
    self.objects.insert(
      id,
      GemObj {
        size,
        refcount: 1,
        resv,
        own_resv,
        profile,
        pin_count: 0,
        pin_domain: None,
        vmap_count: 0,
        domain: Domain::System,
        generation: 0,
        freed: false,
        node,
        purged: false,
        populated: false,
        lru: None,
        evict_placement: None,
        pressure: ObjPressure::default(),
      },
    );
    self.resv_user_add(resv, id);
    self.lru_touch(id);
    self.dmem_created();
    Ok(())
  }

  pub fn object(&self, id: u32) -> Result<&GemObj> {
    match self.objects.get(id) {
      Some(o) if !o.freed => Ok(o),
      Some(_) => fail(Errno::EINVAL, format!("GEM object {id} was freed")),
      None => fail(Errno::EINVAL, format!("no GEM object {id}")),
    }
  }

  pub(crate) fn object_mut(&mut self, id: u32) -> Result<&mut GemObj> {
    match self.objects.get_mut(id) {
      Some(o) if !o.freed => Ok(o),
      Some(_) => fail(Errno::EINVAL, format!("GEM object {id} was freed")),
      None => fail(Errno::EINVAL, format!("no GEM object {id}")),
    }
  }

  /// An object's record, freed ones included (for state dumps).
  pub fn object_record(&self, id: u32) -> Result<&GemObj> {
    match self.objects.get(id) {
      Some(o) => Ok(o),
      None => fail(Errno::EINVAL, format!("no GEM object {id}")),
    }
  }

  /// Every object ever created, freed ones included, in id order.
  pub fn objects(&self) -> impl Iterator<Item = (u32, &GemObj)> {
    self.objects.iter()
  }

  pub fn get(&mut self, id: u32) -> Result<u32> {
    let o = self.object_mut(id)?;
    if o.refcount == u32::MAX {
      return fail(Errno::EINVAL, format!("GEM object {id}: refcount overflow"));
    }
    o.refcount += 1;
    Ok(o.refcount)
  }

  /// Drops a reference; at zero the object is freed, and whatever still
  /// uses it (`va_mappings` GPU VA mappings, vmaps, pins) is recorded.
  pub fn put(&mut self, id: u32, va_mappings: u32) -> Result<bool> {
    let o = self.object_mut(id)?;
    o.refcount -= 1;
    if o.refcount > 0 {
      return Ok(false);
    }
    o.freed = true;
    let (vmaps, pins, resv, domain, node) = (o.vmap_count, o.pin_count, o.resv, o.domain, o.node);
    o.node = None;
    self.lru_remove(id);
    self.swap_forget(id);
    self.tt_unpopulate(id);
    let size = self.object_record(id)?.size;
    let delayed = self.delay_destroy(id, resv, domain, node, size);
    if !delayed {
      self.domain_free(domain, node);
    }
    // dmem: a range that waits for its fences keeps its charge until it is freed (copy.rs).
    let charge = self.dmem_freed(id, delayed);
    if delayed {
      self.set_pending_charge(charge);
    }
    self.resv_user_remove(resv, id);
    if va_mappings > 0 {
      self.violate(
        V::FreeWhileVaMapped,
        id,
        format!("GEM object {id} freed with {va_mappings} GPU VA mapping(s)"),
      );
    }
    if vmaps > 0 {
      self.violate(
        V::FreeWhileVmapped,
        id,
        format!("GEM object {id} freed with vmap use count {vmaps}"),
      );
    }
    if pins > 0 {
      self.violate(
        V::FreeWhilePinned,
        id,
        format!("GEM object {id} freed with pin count {pins}"),
      );
    }
    Ok(true)
  }

  /// Whether `thread` holds the object's reservation lock; records `kind` if not.
  fn require_lock(&mut self, thread: u32, id: u32, kind: V, what: &str) -> Result<bool> {
    let resv = self.object(id)?.resv;
    if self.held_by(resv, thread) {
      return Ok(true);
    }
    self.violate(
      kind,
      id,
      format!("{what} of GEM object {id} without its reservation lock (thread {thread})"),
    );
    Ok(false)
  }

  /// Relocates the buffer: every older mapping goes stale.
  pub(crate) fn relocate(&mut self, id: u32, to: Domain) -> Result<()> {
    let o = self.object_mut(id)?;
    let (from, vmaps) = (o.domain, o.vmap_count);
    o.domain = to;
    o.generation += 1;
    if vmaps > 0 {
      self.violate(
        V::MoveWhileVmapped,
        id,
        format!(
          "GEM object {id} moved {} -> {} with vmap use count {vmaps}",
          from.name(),
          to.name()
        ),
      );
    }
    Ok(())
  }

  /// `pin_locked`: the caller holds the lock. A first pin may move the
  /// buffer to `domain`; a re-pin only counts and keeps the first domain.
  pub fn pin(&mut self, thread: u32, id: u32, domain: PinDomain) -> Result<u32> {
    let o = self.object(id)?;
    if o.pin_count == u32::MAX {
      return fail(Errno::EINVAL, format!("GEM object {id}: pin count overflow"));
    }
    let (count, pinned, current, profile, purged) =
      (o.pin_count, o.pin_domain, o.domain, o.profile, o.purged);
    self.require_lock(thread, id, V::PinUnlocked, "pin_locked")?;
    let want = match (profile, domain) {
      (Profile::Shmem, _) | (_, PinDomain::Current) => None,
      (_, PinDomain::In(d)) => Some(d),
    };
    if count > 0 {
      if let (Some(w), Some(p)) = (want, pinned) {
        if w != p {
          self.violate(
            V::RepinOtherDomain,
            id,
            format!(
              "GEM object {id} pinned in {} again with {}: it stays in {}",
              p.name(),
              w.name(),
              p.name()
            ),
          );
        }
      }
    } else {
      let target = want.unwrap_or(current);
      if target != current || purged && want.is_some() {
        // Place it first (evicting if need be); a failure leaves it unpinned.
        let mut st = Validated::default();
        self.place(thread, id, &[Place::at(target, 0)], &mut st)?;
      }
      self.object_mut(id)?.pin_domain = Some(target);
    }
    self.pin_counted(id)
  }

  /// Counts a pin; the first takes the buffer off its LRU.
  fn pin_counted(&mut self, id: u32) -> Result<u32> {
    let o = self.object_mut(id)?;
    o.pin_count += 1;
    let n = o.pin_count;
    if n == 1 {
      self.lru_remove(id);
    }
    Ok(n)
  }

  /// `unpin_locked`; an unpin at zero is recorded and changes nothing.
  pub fn unpin(&mut self, thread: u32, id: u32) -> Result<u32> {
    self.object(id)?;
    self.require_lock(thread, id, V::UnpinUnlocked, "unpin_locked")?;
    self.unpin_counted(id)
  }

  fn unpin_counted(&mut self, id: u32) -> Result<u32> {
    let o = self.object_mut(id)?;
    if o.pin_count == 0 {
      self.violate(
        V::UnpinUnpinned,
        id,
        format!("GEM object {id} unpinned while not pinned"),
      );
      return Ok(0);
    }
    o.pin_count -= 1;
    let n = o.pin_count;
    if n == 0 {
      // ttm_bo_unpin: back on the LRU, at the tail.
      o.pin_domain = None;
      self.lru_touch(id);
    }
    Ok(n)
  }

  fn mapping(&self, id: u32) -> Result<Mapping> {
    let o = self.object(id)?;
    Ok(Mapping {
      addr: KVA_BASE
        .wrapping_add(u64::from(id) << 24)
        .wrapping_add(o.generation << 12),
      iomem: o.domain == Domain::Vram,
      generation: o.generation,
    })
  }

  /// vmap (or the 2019 kmap): the first call maps, later ones count.
  pub fn vmap(&mut self, thread: u32, id: u32, kind: VmapKind) -> Result<Mapping> {
    let o = self.object(id)?;
    let (profile, vmaps, pins) = (o.profile, o.vmap_count, o.pin_count);
    if kind == VmapKind::Kmap && profile != Profile::GemVram2019 {
      return fail(Errno::EINVAL, "kmap is the 2019 gem-vram interface; use vmap");
    }
    if vmaps == u32::MAX || pins == u32::MAX {
      return fail(Errno::EINVAL, format!("GEM object {id}: use count overflow"));
    }
    match (profile, kind) {
      // 2019: the private kmap lock stands in for the resv lock.
      (Profile::GemVram2019, VmapKind::Kmap) => {}
      (Profile::GemVram2019, VmapKind::Vmap) => {
        let o = self.object_mut(id)?;
        if o.pin_count == 0 {
          o.pin_domain = Some(o.domain);
        }
        self.pin_counted(id)?;
      }
      (Profile::GemVram2024, _) => {
        self.require_lock(thread, id, V::VmapUnlocked, "vmap_locked")?;
      }
      (Profile::Shmem, _) => {
        self.require_lock(thread, id, V::VmapUnlocked, "vmap_locked")?;
        if vmaps == 0 {
          let o = self.object_mut(id)?;
          if o.pin_count == 0 {
            o.pin_domain = Some(Domain::System);
          }
          self.pin_counted(id)?;
        }
      }
    }
    self.object_mut(id)?.vmap_count += 1;
    self.mapping(id)
  }

  /// vunmap (or kunmap): the last call unmaps; an unbalanced one is recorded.
  pub fn vunmap(&mut self, thread: u32, id: u32, kind: VmapKind) -> Result<u32> {
    let o = self.object(id)?;
    let (profile, vmaps) = (o.profile, o.vmap_count);
    if kind == VmapKind::Kmap && profile != Profile::GemVram2019 {
      return fail(Errno::EINVAL, "kunmap is the 2019 gem-vram interface; use vunmap");
    }
    if profile != Profile::GemVram2019 {
      self.require_lock(thread, id, V::VunmapUnlocked, "vunmap_locked")?;
    }
    if vmaps == 0 {
      self.violate(
        V::VunmapUnbalanced,
        id,
        format!("GEM object {id} vunmapped with use count 0"),
      );
      return Ok(0);
    }
    self.object_mut(id)?.vmap_count -= 1;
    match (profile, kind) {
      (Profile::GemVram2019, VmapKind::Vmap) => {
        self.unpin_counted(id)?;
      }
      (Profile::Shmem, _) if vmaps == 1 => {
        self.unpin_counted(id)?;
      }
      _ => {}
    }
    Ok(vmaps - 1)
  }

  /// A CPU access through a mapping made at `generation`: it must not be
  /// stale, must still be mapped, and the buffer must be locked or pinned.
  pub fn access(&mut self, thread: u32, id: u32, generation: u64) -> Result<bool> {
    let o = self.object(id)?;
    let (current, vmaps, pins, resv) = (o.generation, o.vmap_count, o.pin_count, o.resv);
    let mut ok = true;
    if generation != current {
      ok = false;
      self.violate(
        V::StaleMapping,
        id,
        format!("GEM object {id}: mapping of generation {generation} used after a move (now {current})"),
      );
    }
    if vmaps == 0 {
      ok = false;
      self.violate(
        V::UnmappedAccess,
        id,
        format!("GEM object {id}: mapping used after its last vunmap"),
      );
    }
    if pins == 0 && !self.held_by(resv, thread) {
      ok = false;
      self.violate(
        V::UnprotectedAccess,
        id,
        format!("GEM object {id}: mapping used by thread {thread} with neither the resv lock nor a pin"),
      );
    }
    ok &= self.copy_access_check(id);
    Ok(ok)
  }

  /// Moves the buffer (what eviction or validation does). EINVAL if pinned
  /// elsewhere or for shmem outside system memory; false when already there.
  pub fn move_to(&mut self, thread: u32, id: u32, to: Domain) -> Result<bool> {
    let o = self.object(id)?;
    let (profile, pins, at) = (o.profile, o.pin_count, o.domain);
    if profile == Profile::Shmem && to != Domain::System {
      return fail(
        Errno::EINVAL,
        format!("GEM object {id}: shmem pages live in system memory"),
      );
    }
    if pins > 0 && to != at {
      return fail(
        Errno::EINVAL,
        format!("GEM object {id} is pinned in {}", at.name()),
      );
    }
    self.require_lock(thread, id, V::MoveUnlocked, "move")?;
    let mut st = Validated::default();
    self.place(thread, id, &[Place::at(to, 0)], &mut st)?;
    Ok(st.moved)
  }
}
