//! The dmem cgroup controller (kernel/cgroup/dmem.c, merged in Linux 6.14)
//! and TTM's use of it: a tree of cgroups, each with a page counter per
//! registered region (usage, min, low, max), charged when a buffer gets a
//! resource in the region and uncharged when it leaves. A charge over a
//! `max` fails like ENOSPC for the place and makes the eviction walk evict
//! only inside the cgroup that hit its limit (`limit_pool`); the walk skips
//! victims under their effective min, and those under their effective low
//! until a second pass (`try_low` / `hit_low`).
//!
//! Two modes: `Upstream` (what is merged) and `Proposed`, the open series
//! "drm/ttm: Be more aggressive when allocating below protection limit": an
//! allocation under its own min/low evicts unprotected buffers in the first
//! pass instead of falling back to the next place (GTT), judging each victim
//! against the common ancestor of the two cgroups.
//!
//! Buffers are charged to the cgroup they were created in (the kernel
//! charges the task that allocates; the simulation has no tasks).

use super::{Device, Domain, Place};
use crate::errno::{fail, Errno, Result};
use rustc_hash::FxHashMap;

/// Root cgroup id; cgroup ids are dense (index + 1), never reused.
pub const ROOT: u32 = 1;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DmemMode {
  #[default]
  Upstream,
  Proposed,
}

/// One page counter (bytes, as dmem counts them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
  pub usage: u64,
  pub min: u64,
  pub low: u64,
  /// `u64::MAX`: no limit ("max").
  pub max: u64,
  /// Charges refused by this counter's max (page_counter's failcnt).
  pub max_hits: u64,
}

impl Default for Counter {
  fn default() -> Self {
    Counter {
      usage: 0,
      min: 0,
      low: 0,
      max: u64::MAX,
      max_hits: 0,
    }
  }
}

pub struct Cgroup {
  /// 0 for the root.
  pub parent: u32,
  pub name: String,
  pub alive: bool,
  /// Live objects created in it.
  pub objects: u32,
  /// Index `domain - 1`.
  pub counters: [Counter; 3],
}

/// A cgroup's view of one region: its counter and its effective protection
/// as seen from the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupStats {
  pub counter: Counter,
  pub emin: u64,
  pub elow: u64,
}

pub(crate) struct Dmem {
  pub mode: DmemMode,
  /// Bit `domain` set: the region is registered (charged and limited).
  regions: u32,
  cgroups: Vec<Cgroup>,
  /// The cgroup of each live object that is not in the root. A resource in
  /// a registered region is always charged to its object's cgroup (regions
  /// are fixed before any object exists), so no charge needs a record.
  owner: FxHashMap<u32, u32>,
}

impl Default for Dmem {
  fn default() -> Self {
    Dmem {
      mode: DmemMode::Upstream,
      regions: 1 << Domain::Vram.index(),
      cgroups: vec![Cgroup {
        parent: 0,
        name: String::new(),
        alive: true,
        objects: 0,
        counters: [Counter::default(); 3],
      }],
      owner: FxHashMap::default(),
    }
  }
}

/// The state of one eviction for dmem (`ttm_bo_evict_walk`'s cgroup fields
/// and the proposed series' `ttm_bo_alloc_state`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DmemWalk {
  /// The cgroup whose max refused the charge: victims only from its subtree.
  limit: Option<u32>,
  /// Proposed: the cgroup the evictor is charged to, charge held over the walk.
  held: Option<u32>,
  /// Upstream: always; proposed: false when only unprotected victims may go.
  may_try_low: bool,
  try_low: bool,
  hit_low: bool,
}

impl DmemWalk {
  /// After a walk that found nothing: one more with low-protected victims?
  pub fn retry_low(&mut self) -> bool {
    let again = self.hit_low && !self.try_low && self.may_try_low;
    self.try_low |= again;
    again
  }

  pub fn reset_low(&mut self) {
    self.try_low = false;
    self.hit_low = false;
  }
}

/// What charging and allocating in one place came to.
pub(crate) enum TryPlace {
  Placed(Option<u64>),
  /// No room (or no charge): evict with this walk state.
  Evict(DmemWalk),
  /// No room and no eviction: the next place.
  Skip,
}

/// A region's counter slot: SYSTEM, GTT, VRAM (only VRAM and GTT register).
fn idx(d: Domain) -> usize {
  d.index().min(3) as usize - 1
}

/// `effective_protection` with recursive protection (dmem always asks for
/// it): a child's claim scaled down when the siblings claim more than the
/// parent has, plus a share of what they leave unclaimed. Exact (u128):
/// the kernel's unsigned long products can wrap for byte counts.
fn effective(usage: u64, parent_usage: u64, setting: u64, parent_e: u64, siblings: u64) -> u64 {
  let protected = usage.min(setting) as u128;
  let (pe, sib) = (parent_e as u128, siblings as u128);
  if sib > pe {
    return (protected * pe / sib) as u64;
  }
  let mut ep = protected;
  if pe > sib && parent_usage as u128 > sib && usage as u128 > protected {
    ep += (pe - sib) * (usage as u128 - protected) / (parent_usage as u128 - sib);
  }
  ep as u64
}

impl Dmem {
  pub fn registered(&self, d: Domain) -> bool {
    self.regions & 1 << d.index() != 0
  }

  fn cg(&self, id: u32) -> Result<&Cgroup> {
    match self.cgroups.get((id as usize).wrapping_sub(1)) {
      Some(c) if c.alive => Ok(c),
      Some(_) => fail(Errno::EINVAL, format!("cgroup {id} was destroyed")),
      None => fail(Errno::EINVAL, format!("no cgroup {id}")),
    }
  }

  fn cnt(&self, id: u32, r: usize) -> &Counter {
    &self.cgroups[id as usize - 1].counters[r]
  }

  fn parent(&self, id: u32) -> u32 {
    self.cgroups[id as usize - 1].parent
  }

  pub fn owner_of(&self, obj: u32) -> u32 {
    self.owner.get(&obj).copied().unwrap_or(ROOT)
  }

  /// `page_counter_try_charge` up the tree: the lowest counter whose max
  /// the charge would pass refuses it (and counts a max hit).
  fn try_charge(&mut self, cg: u32, r: usize, size: u64) -> std::result::Result<(), u32> {
    let mut c = cg;
    while c != 0 {
      let k = &mut self.cgroups[c as usize - 1].counters[r];
      match k.usage.checked_add(size) {
        Some(u) if u <= k.max => k.usage = u,
        _ => {
          k.max_hits += 1;
          self.uncharge_below(cg, c, r, size);
          return Err(c);
        }
      }
      c = self.parent(c);
    }
    Ok(())
  }

  /// Uncharges `cg` and its ancestors below `stop` (0: all of them).
  fn uncharge_below(&mut self, cg: u32, stop: u32, r: usize, size: u64) {
    let mut c = cg;
    while c != stop && c != 0 {
      let k = &mut self.cgroups[c as usize - 1].counters[r];
      k.usage = k.usage.saturating_sub(size);
      c = self.parent(c);
    }
  }

  fn is_ancestor(&self, anc: u32, mut c: u32) -> bool {
    while c != 0 {
      if c == anc {
        return true;
      }
      c = self.parent(c);
    }
    false
  }

  fn common_ancestor(&self, a: u32, b: u32) -> u32 {
    let mut c = a;
    while !self.is_ancestor(c, b) {
      c = self.parent(c);
    }
    c
  }

  /// Effective (min, low) of `test` below `limit` (`dmem_cgroup_calculate_protection`):
  /// children of `limit` keep their own settings, deeper ones share their parent's.
  fn protection(&self, limit: u32, test: u32, r: usize) -> (u64, u64) {
    let mut path = Vec::new();
    let mut c = test;
    while c != limit && c != 0 {
      path.push(c);
      c = self.parent(c);
    }
    let (mut emin, mut elow) = (0, 0);
    for &c in path.iter().rev() {
      let (k, p) = (self.cnt(c, r), self.parent(c));
      if p == limit {
        (emin, elow) = (k.min, k.low);
        continue;
      }
      let pu = self.cnt(p, r).usage;
      let (mut smin, mut slow) = (0u64, 0u64);
      for s in &self.cgroups {
        if s.parent == p {
          let sk = &s.counters[r];
          smin = smin.saturating_add(sk.usage.min(sk.min));
          slow = slow.saturating_add(sk.usage.min(sk.low));
        }
      }
      emin = effective(k.usage, pu, k.min, emin, smin);
      elow = effective(k.usage, pu, k.low, elow, slow);
    }
    (emin, elow)
  }

  /// `dmem_cgroup_state_evict_valuable`.
  fn evict_valuable(
    &self,
    limit: Option<u32>,
    test: u32,
    r: usize,
    ignore_low: bool,
    hit_low: &mut bool,
  ) -> bool {
    if limit == Some(test) {
      return true;
    }
    let limit = match limit {
      // A limit at the root (only the proposed common ancestor gives one) lets anything go.
      Some(ROOT) => return true,
      Some(l) if !self.is_ancestor(l, test) => return false,
      Some(l) => l,
      None => ROOT,
    };
    let used = self.cnt(test, r).usage;
    if used == 0 {
      // Stale protection is never below an empty counter.
      return false;
    }
    let (emin, elow) = if test == ROOT {
      (0, 0)
    } else {
      self.protection(limit, test, r)
    };
    if used <= emin {
      return false;
    }
    if !ignore_low && used <= elow {
      *hit_low = true;
      return false;
    }
    true
  }

  /// `dmem_cgroup_below_min` / `_below_low` from the root (proposed series).
  fn below(&self, cg: u32, r: usize) -> (bool, bool) {
    if cg == ROOT {
      return (false, false);
    }
    let used = self.cnt(cg, r).usage;
    let (emin, elow) = self.protection(ROOT, cg, r);
    (used <= emin, used <= elow)
  }
}

impl Device {
  /// Chooses the mode and the regions (`vram`, `gtt`) before any cgroup or object exists.
  pub fn dmem_setup(&mut self, mode: DmemMode, vram: bool, gtt: bool) -> Result<()> {
    if self.dmem.cgroups.len() > 1 || !self.objects.is_empty() {
      return fail(Errno::EBUSY, "dmem is set up before any cgroup or object exists");
    }
    for (on, d) in [(vram, Domain::Vram), (gtt, Domain::Gtt)] {
      if on && self.mem.get(d).is_none() {
        return fail(
          Errno::EINVAL,
          format!("dmem: the device has no {} region to register", d.name()),
        );
      }
    }
    self.dmem.mode = mode;
    self.dmem.regions = u32::from(vram) << Domain::Vram.index() | u32::from(gtt) << Domain::Gtt.index();
    Ok(())
  }

  pub fn dmem_mode(&self) -> DmemMode {
    self.dmem.mode
  }

  pub fn dmem_registered(&self, d: Domain) -> bool {
    self.dmem.registered(d)
  }

  /// A child cgroup of `parent` (EEXIST for a live sibling of that name).
  pub fn cgroup_create(&mut self, parent: u32, name: &str) -> Result<u32> {
    self.dmem.cg(parent)?;
    if name.is_empty() || name.contains('/') || name.len() > 255 {
      return fail(Errno::EINVAL, format!("bad cgroup name {name:?}"));
    }
    if self
      .dmem
      .cgroups
      .iter()
      .any(|c| c.alive && c.parent == parent && c.name == name)
    {
      return fail(Errno::EEXIST, format!("cgroup {parent} has a child {name:?}"));
    }
    if self.dmem.cgroups.len() >= u32::MAX as usize - 1 {
      return fail(Errno::ENOSPC, "too many cgroups");
    }
    self.dmem.cgroups.push(Cgroup {
      parent,
      name: name.to_string(),
      alive: true,
      objects: 0,
      counters: [Counter::default(); 3],
    });
    Ok(self.dmem.cgroups.len() as u32)
  }

  /// rmdir: EBUSY while it has live children, objects or charges.
  pub fn cgroup_destroy(&mut self, id: u32) -> Result<()> {
    let c = self.dmem.cg(id)?;
    if id == ROOT {
      return fail(Errno::EINVAL, "the root cgroup cannot be destroyed");
    }
    let charged = c.counters.iter().any(|k| k.usage > 0);
    if charged || c.objects > 0 || self.dmem.cgroups.iter().any(|s| s.alive && s.parent == id) {
      return fail(
        Errno::EBUSY,
        format!("cgroup {id} has children, objects or charges"),
      );
    }
    self.dmem.cgroups[id as usize - 1].alive = false;
    Ok(())
  }

  /// Sets `dmem.min` (0), `dmem.low` (1) or `dmem.max` (2) for a region.
  /// EBUSY for a max under the usage (dmem's write ignores page_counter's
  /// refusal; here it is reported).
  pub fn cgroup_set_limit(&mut self, id: u32, d: Domain, which: u32, value: u64) -> Result<()> {
    self.dmem.cg(id)?;
    if id == ROOT {
      return fail(Errno::EINVAL, "the root cgroup has no dmem limits");
    }
    if !self.dmem.registered(d) {
      return fail(
        Errno::EINVAL,
        format!("dmem: {} is not a registered region", d.name()),
      );
    }
    let k = &mut self.dmem.cgroups[id as usize - 1].counters[idx(d)];
    match which {
      0 => k.min = value,
      1 => k.low = value,
      2 if value < k.usage => {
        return fail(
          Errno::EBUSY,
          format!("cgroup {id} uses {} bytes, above max {value}", k.usage),
        );
      }
      2 => k.max = value,
      _ => {
        return fail(
          Errno::EINVAL,
          format!("a dmem limit is 0 (min), 1 (low) or 2 (max), got {which}"),
        )
      }
    }
    Ok(())
  }

  /// `(parent, name)` of a live cgroup.
  pub fn cgroup_info(&self, id: u32) -> Result<(u32, &str)> {
    let c = self.dmem.cg(id)?;
    Ok((c.parent, &c.name))
  }

  pub fn cgroup_stats(&self, id: u32, d: Domain) -> Result<CgroupStats> {
    self.dmem.cg(id)?;
    let r = idx(d);
    let (emin, elow) = if id == ROOT {
      (0, 0)
    } else {
      self.dmem.protection(ROOT, id, r)
    };
    Ok(CgroupStats {
      counter: *self.dmem.cnt(id, r),
      emin,
      elow,
    })
  }

  /// Puts a new object (before it has any resource) in cgroup `cg`.
  pub fn cgroup_assign(&mut self, obj: u32, cg: u32) -> Result<()> {
    self.dmem.cg(cg)?;
    let o = self.object(obj)?;
    let charged = self.dmem.registered(o.domain) && !o.purged;
    if charged || self.dmem.owner.contains_key(&obj) {
      return fail(
        Errno::EBUSY,
        format!("GEM object {obj} is charged to a cgroup already"),
      );
    }
    let old = self.dmem.owner_of(obj);
    self.dmem.cgroups[old as usize - 1].objects -= 1;
    self.dmem.cgroups[cg as usize - 1].objects += 1;
    if cg != ROOT {
      self.dmem.owner.insert(obj, cg);
    }
    Ok(())
  }

  pub fn object_cgroup(&self, obj: u32) -> Result<u32> {
    self.object(obj)?;
    Ok(self.dmem.owner_of(obj))
  }

  /// Hook: a new object counts in the root until assigned.
  pub(crate) fn dmem_created(&mut self) {
    self.dmem.cgroups[0].objects += 1;
  }

  /// Hook: the object's resource in `from` is gone (moved out, purged).
  pub(crate) fn dmem_uncharge(&mut self, id: u32, size: u64, from: Domain) {
    if self.dmem.registered(from) {
      let cg = self.dmem.owner_of(id);
      self.dmem.uncharge_below(cg, 0, idx(from), size);
    }
  }

  /// Hook: the object was freed (its domain and purged flag still as they
  /// were). With `keep_charge` (its range waits for fences: delayed destroy)
  /// the charge stays until the range is freed (`ttm_resource_free`): the
  /// cgroup to uncharge then is returned.
  pub(crate) fn dmem_freed(&mut self, id: u32, keep_charge: bool) -> Option<u32> {
    let mut kept = None;
    if let Some(o) = self.objects.get(id) {
      if !o.purged {
        let (size, from) = (o.size, o.domain);
        if !keep_charge {
          self.dmem_uncharge(id, size, from);
        } else if self.dmem.registered(from) {
          kept = Some(self.dmem.owner_of(id));
        }
      }
    }
    let owner = self.dmem.owner.remove(&id).unwrap_or(ROOT);
    self.dmem.cgroups[owner as usize - 1].objects -= 1;
    kept
  }

  /// Hook: a delayed destroy's range is freed, its charge with it.
  pub(crate) fn dmem_uncharge_cgroup(&mut self, cg: u32, size: u64, from: Domain) {
    self.dmem.uncharge_below(cg, 0, idx(from), size);
  }

  /// Hook (`ttm_bo_alloc_resource`'s body for one place): charge, then a
  /// range. A refused charge is ENOSPC for the place; in the evicting pass
  /// it evicts within the cgroup that hit its max. Proposed: an allocation
  /// under its min or low evicts in the first pass too.
  pub(crate) fn dmem_try_place(&mut self, id: u32, size: u64, p: Place, evicting: bool) -> Result<TryPlace> {
    let may_evict = evicting && p.domain != Domain::System;
    let mut w = DmemWalk {
      may_try_low: true,
      ..DmemWalk::default()
    };
    let r = idx(p.domain);
    let registered = self.dmem.registered(p.domain);
    let cg = if registered { self.dmem.owner_of(id) } else { ROOT };
    if registered {
      if let Err(limit) = self.dmem.try_charge(cg, r, size) {
        if !may_evict {
          return Ok(TryPlace::Skip);
        }
        w.limit = Some(limit);
        return Ok(TryPlace::Evict(w));
      }
    }
    let mut evict = may_evict;
    if registered && self.dmem.mode == DmemMode::Proposed {
      let (below_min, below_low) = self.dmem.below(cg, r);
      w.held = Some(cg);
      w.may_try_low = may_evict || below_min;
      evict = w.may_try_low || below_low;
    }
    let a = self.place_alloc(p, size);
    match a {
      Ok(n) => Ok(TryPlace::Placed(n)),
      Err(e) => {
        if e.errno != Errno::ENOSPC || !evict || w.held.is_none() {
          if registered {
            self.dmem.uncharge_below(cg, 0, r, size);
          }
          w.held = None;
        }
        if e.errno != Errno::ENOSPC {
          return Err(e);
        }
        Ok(if evict { TryPlace::Evict(w) } else { TryPlace::Skip })
      }
    }
  }

  /// Hook: the eviction for `w` failed; drop a charge it held.
  pub(crate) fn dmem_walk_failed(&mut self, id: u32, p: Place, w: &DmemWalk) {
    if let Some(cg) = w.held {
      let size = self.objects.get(id).map_or(0, |o| o.size);
      self.dmem.uncharge_below(cg, 0, idx(p.domain), size);
    }
  }

  /// Hook: the evictor's allocation after each eviction. Upstream charges
  /// again, and a refused charge ends the walk with EAGAIN; the proposed
  /// series holds its charge, or (after a refused charge) treats a refusal
  /// as no room, and the walk goes on.
  pub(crate) fn dmem_walk_alloc(
    &mut self,
    id: u32,
    size: u64,
    p: Place,
    w: &DmemWalk,
  ) -> Result<Option<u64>> {
    let charge = self.dmem.registered(p.domain) && w.held.is_none();
    let (r, cg) = (idx(p.domain), if charge { self.dmem.owner_of(id) } else { ROOT });
    if charge && self.dmem.try_charge(cg, r, size).is_err() {
      let errno = match self.dmem.mode {
        DmemMode::Upstream => Errno::EAGAIN,
        DmemMode::Proposed => Errno::ENOSPC,
      };
      return fail(
        errno,
        format!("dmem: cgroup {cg} is at its max in {}", p.domain.name()),
      );
    }
    let a = self.place_alloc(p, size);
    if a.is_err() && charge {
      self.dmem.uncharge_below(cg, 0, r, size);
    }
    a
  }

  /// Hook in the eviction walk: may `victim` go (protection, limit subtree)?
  pub(crate) fn dmem_evictable(&self, victim: u32, d: Domain, w: &mut DmemWalk) -> bool {
    if self.dmem.cgroups.len() == 1 || !self.dmem.registered(d) {
      return true;
    }
    // On `d`'s LRU: resident there, so charged to its cgroup.
    let test = self.dmem.owner_of(victim);
    // Proposed, first pass: never the allocating cgroup's own buffers.
    if !w.may_try_low && w.held == Some(test) {
      return false;
    }
    let limit = w
      .limit
      .or_else(|| w.held.map(|c| self.dmem.common_ancestor(test, c)));
    self
      .dmem
      .evict_valuable(limit, test, idx(d), w.try_low, &mut w.hit_low)
  }
}

#[cfg(test)]
mod tests;
