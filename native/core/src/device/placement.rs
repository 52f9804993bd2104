//! Placement, validation and eviction (`ttm_bo_validate`, TTM's LRU walk).
//!
//! A placement is an ordered list of places. The first pass skips FALLBACK
//! places and never evicts; if no place has room, the second pass skips
//! DESIRED places and, for VRAM and GTT, evicts buffers from the head of the
//! domain's LRU until the allocation fits. Victims are trylocked first; then,
//! if the caller holds the buffer through an acquire context (the ticket),
//! one victim per walk may be locked with it. Each victim moves to its own
//! eviction placement, where an empty one purges it. ENOSPC that survives
//! both passes is reported as ENOMEM, as TTM does for userspace.

use super::dmem::{DmemWalk, TryPlace};
use super::{Device, Domain, LockMode, LockResult, Place, Profile, ViolationKind as V};
use super::{PL_DESIRED, PL_FALLBACK, PL_TOPDOWN};
use crate::errno::{fail, Errno, Error, Result};

/// Victims evicted to make room for victims: bounded so that eviction
/// placements pointing at each other cannot recurse without end.
const MAX_EVICT_DEPTH: u32 = 8;

/// What one validate did: whether the buffer itself moved, the bytes copied
/// (per hop, victims included) and the victims evicted or purged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Validated {
  pub moved: bool,
  pub bytes_moved: u64,
  pub evictions: u32,
}

/// One relocation, for the VA spaces and evict lists kept outside the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveEvent {
  pub id: u32,
  pub from: Domain,
  /// `None`: purged.
  pub to: Option<Domain>,
  pub evicted: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlacementTotals {
  pub bytes_moved: u64,
  pub evictions: u64,
  pub moves: u64,
}

struct Walk {
  found: Option<Option<u64>>,
  evicted: u32,
}

fn is_enospc<T>(r: &Result<T>) -> bool {
  matches!(r, Err(e) if e.errno == Errno::ENOSPC)
}

/// An outcome that never reaches a caller: every caller of the function
/// that returns it takes it as "try the next place" (`is_enospc`, or
/// EBUSY in `alloc_resource`). So no message is built (nor allocated).
pub(super) fn unseen<T>(errno: Errno) -> Result<T> {
  Err(Error {
    errno,
    message: String::new(),
  })
}

/// Where a buffer of `from` goes when evicted, unless it says otherwise.
fn default_evict_placement(from: Domain) -> &'static [Place] {
  const FROM_VRAM: [Place; 2] = [
    Place::at(Domain::Gtt, PL_DESIRED),
    Place::at(Domain::System, PL_FALLBACK),
  ];
  const ELSE: [Place; 1] = [Place::at(Domain::System, 0)];
  match from {
    Domain::Vram => &FROM_VRAM,
    _ => &ELSE,
  }
}

impl Device {
  /// `ttm_bo_validate`: the caller must hold the buffer's reservation lock.
  pub fn validate(&mut self, thread: u32, id: u32, placement: &[Place]) -> Result<Validated> {
    let resv = self.object(id)?.resv;
    if !self.held_by(resv, thread) {
      let msg = format!("validate of GEM object {id} without its reservation lock (thread {thread})");
      self.violate(V::ValidateUnlocked, id, msg.clone());
      return fail(Errno::EINVAL, msg);
    }
    let mut st = Validated::default();
    self.place(thread, id, placement, &mut st)?;
    Ok(st)
  }

  /// Sets where the buffer goes when evicted; `None` restores the default
  /// (VRAM: GTT, else SYSTEM as fallback; GTT and SYSTEM: SYSTEM).
  pub fn set_evict_placement(&mut self, id: u32, placement: Option<Vec<Place>>) -> Result<()> {
    self.object_mut(id)?.evict_placement = placement;
    Ok(())
  }

  pub fn evict_placement(&self, id: u32) -> Result<Vec<Place>> {
    let o = self.object(id)?;
    if let Some(p) = &o.evict_placement {
      return Ok(p.clone());
    }
    Ok(default_evict_placement(o.domain).to_vec())
  }

  pub fn placement_totals(&self) -> PlacementTotals {
    self.totals
  }

  /// Keeps a log of moves for `take_moves` (off by default: nothing reads it).
  pub fn track_moves(&mut self, on: bool) {
    self.track_moves = on;
    if !on {
      self.moves.clear();
    }
  }

  pub fn take_moves(&mut self) -> Vec<MoveEvent> {
    std::mem::take(&mut self.moves)
  }

  /// Keeps a second log of moves, apart from `track_moves`'s, for the VA
  /// spaces tied to the device (the binding hands them each move after
  /// every call, `take_notified_moves`).
  pub fn notify_moves(&mut self, on: bool) {
    self.notify_moves = on;
    if !on {
      self.notified.clear();
    }
  }

  pub fn take_notified_moves(&mut self) -> Vec<MoveEvent> {
    std::mem::take(&mut self.notified)
  }

  /// `ttm_bo_validate` past the lock check; pin and move use it too.
  pub(crate) fn place(
    &mut self,
    thread: u32,
    id: u32,
    placement: &[Place],
    st: &mut Validated,
  ) -> Result<()> {
    let o = self.object(id)?;
    let (size, pins, purged, at) = (o.size, o.pin_count, o.purged, o.domain);
    if placement.is_empty() {
      if pins > 0 {
        return fail(
          Errno::EINVAL,
          format!("GEM object {id} is pinned in {}", at.name()),
        );
      }
      // No placement: drop the backing store (ttm_bo_pipeline_gutting).
      if !purged {
        self.purge(id, false, st)?;
      }
      return Ok(());
    }
    for evicting in [false, true] {
      if self.compatible(id, placement, evicting)? {
        return Ok(());
      }
      if self.object(id)?.pin_count > 0 {
        return fail(
          Errno::EINVAL,
          format!("GEM object {id} is pinned in {}", at.name()),
        );
      }
      if self.copy_buffer_busy(id) {
        return fail(Errno::EBUSY, format!("no_wait_gpu: GEM object {id} is busy"));
      }
      let r = self.alloc_resource(thread, id, placement, evicting, 0, st);
      if is_enospc(&r) {
        continue;
      }
      let (d, node) = r?;
      self.move_hops(thread, id, d, node, false, 0, st)?;
      return Ok(());
    }
    fail(
      Errno::ENOMEM,
      format!("no room for GEM object {id} ({size} bytes) in its placement"),
    )
  }

  /// `ttm_resource_compatible`: a place of this pass the resource already
  /// satisfies (its type, window and contiguity; never a TEMPORARY one).
  fn compatible(&self, id: u32, placement: &[Place], evicting: bool) -> Result<bool> {
    let o = self.object(id)?;
    if o.purged || o.pressure.swapped || self.res_temporary(id) {
      return Ok(false);
    }
    Ok(placement.iter().any(|&p| {
      p.domain == o.domain
        && !(evicting && p.has(PL_DESIRED))
        && (evicting || !p.has(PL_FALLBACK))
        && self.res_compatible(id, p)
    }))
  }

  /// `ttm_bo_alloc_resource`: the first place of this pass with room.
  fn alloc_resource(
    &mut self,
    thread: u32,
    id: u32,
    placement: &[Place],
    evicting: bool,
    depth: u32,
    st: &mut Validated,
  ) -> Result<(Domain, Option<u64>)> {
    let o = self.object(id)?;
    let (size, shmem) = (o.size, o.profile == Profile::Shmem);
    for &p in placement {
      // Missing managers are skipped; shmem pages never leave system memory.
      if self.mem.get(p.domain).is_none() || shmem && p.domain != Domain::System {
        continue;
      }
      if evicting && p.has(PL_DESIRED) || !evicting && p.has(PL_FALLBACK) {
        continue;
      }
      // dmem: the cgroup charge first, then the range (dmem.rs).
      let mut w = match self.dmem_try_place(id, size, p, evicting)? {
        TryPlace::Placed(n) => {
          // Time: no_wait_gpu does not wait for the domain's last eviction (copy.rs).
          if self.copy_place_busy(p.domain, n) {
            self.dmem_uncharge(id, size, p.domain);
            continue;
          }
          return Ok((p.domain, n));
        }
        TryPlace::Skip => {
          // ttm-lru: a full SYSTEM purges and swaps out when a shrinker is set (swap.rs).
          if evicting && p.domain == Domain::System {
            if let Some(n) = self.swap_alloc(size, p.has(PL_TOPDOWN))? {
              return Ok((p.domain, n));
            }
          }
          continue;
        }
        TryPlace::Evict(w) => w,
      };
      let r = self.evict_alloc(thread, id, p, depth, &mut w, st);
      if r.is_err() {
        self.dmem_walk_failed(id, p, &w);
      }
      match r {
        Ok(n) if self.copy_place_busy(p.domain, n) => {
          self.dmem_uncharge(id, size, p.domain);
          continue;
        }
        Ok(n) => return Ok((p.domain, n)),
        Err(e) if e.errno == Errno::EBUSY => continue,
        Err(e) => return Err(e),
      }
    }
    // place, evict and move_hops go on to their next pass or place.
    unseen(Errno::ENOSPC)
  }

  /// `ttm_bo_evict_alloc`: a trylock walk, then ticketed walks while they
  /// make progress. EBUSY when nothing could be evicted to make room.
  fn evict_alloc(
    &mut self,
    thread: u32,
    id: u32,
    p: Place,
    depth: u32,
    dw: &mut DmemWalk,
    st: &mut Validated,
  ) -> Result<Option<u64>> {
    let resv = self.object(id)?.resv;
    // The ticket is the context the caller holds the buffer with.
    let ticket = self
      .resv(resv)?
      .holder
      .filter(|h| h.thread == thread)
      .and_then(|h| h.ctx);
    let mut w = self.evict_walk(thread, id, p, None, depth, dw, st)?;
    // dmem: once more with low-protected victims when only they were left.
    if w.found.is_none() && dw.retry_low() {
      w = self.evict_walk(thread, id, p, None, depth, dw, st)?;
    }
    if let Some(n) = w.found {
      return Ok(n);
    }
    if ticket.is_some() {
      dw.reset_low();
      loop {
        // Repeat while walks make progress, at most once per buffer on the
        // LRU: victims may bounce between domains through nested evictions.
        let rounds = self.mem.get(p.domain).map_or(0, |m| m.lru.len());
        for _ in 0..=rounds {
          let w = self.evict_walk(thread, id, p, ticket, depth, dw, st)?;
          if let Some(n) = w.found {
            return Ok(n);
          }
          if w.evicted == 0 {
            break;
          }
        }
        if !dw.retry_low() {
          break;
        }
      }
    }
    // alloc_resource goes on to its next place.
    unseen(Errno::EBUSY)
  }

  /// One walk of the LRU from its head, evicting until the evictor fits.
  // `dw` (dmem's state of the eviction) is the eighth.
  #[allow(clippy::too_many_arguments)]
  fn evict_walk(
    &mut self,
    thread: u32,
    id: u32,
    p: Place,
    ticket: Option<u32>,
    depth: u32,
    dw: &mut DmemWalk,
    st: &mut Validated,
  ) -> Result<Walk> {
    let size = self.object(id)?.size;
    // Only what was on the LRU when the walk began: evicted buffers that
    // come back land behind this bound.
    let last = self.lru_seq;
    let mut cursor = Default::default();
    let mut ticket = ticket;
    let mut evicted = 0;
    // Priority 0 first, each list from its head (lru.rs); ttm-lru's hooks skip victims.
    while let Some(victim) = self.lru_next(p.domain, &mut cursor, last) {
      if !self.eviction_valuable(victim) {
        continue;
      }
      let (vresv, vpins) = match self.object(victim) {
        Ok(v) => (v.resv, v.pin_count),
        Err(_) => continue,
      };
      let mut locked = self.lock(thread, vresv, None, LockMode::Try)? == LockResult::Ok;
      if !locked {
        if let Some(t) = ticket {
          match self.lock(thread, vresv, Some(t), LockMode::Normal)? {
            LockResult::Ok => {
              // One ticketed lock per walk: they are the ones that can die.
              locked = true;
              ticket = None;
            }
            LockResult::Deadlk => {
              return fail(Errno::ENOSPC, "eviction lock died: the caller must back off");
            }
            _ => {}
          }
        }
      }
      // dmem: victims under their protection, or outside the limit's subtree,
      // stay (asked before the pin count, as ttm_bo_evict_cb does: hit_low counts pinned ones);
      // ttm_bo_eviction_valuable: a victim outside the place's window frees nothing there.
      if !locked
        || !self.dmem_evictable(victim, p.domain, dw)
        || vpins > 0
        || !self.res_intersects(victim, p)
        || self.copy_victim_busy(victim)
      {
        if locked {
          self.unlock_resv(thread, vresv, false)?;
        }
        continue;
      }
      let r = self.evict(thread, victim, depth + 1, st);
      // dma_resv_unlock, not ttm_bo_unreserve: no LRU bump for the victim.
      self.unlock_resv(thread, vresv, false)?;
      if is_enospc(&r) {
        continue;
      }
      r?;
      evicted += 1;
      let a = self.dmem_walk_alloc(id, size, p, dw);
      if !is_enospc(&a) {
        return Ok(Walk {
          found: Some(a?),
          evicted,
        });
      }
    }
    Ok(Walk { found: None, evicted })
  }

  /// `ttm_bo_evict`: to the victim's eviction placement (both passes), or purged.
  fn evict(&mut self, thread: u32, id: u32, depth: u32, st: &mut Validated) -> Result<()> {
    // The walk (the only caller) skips a victim that finds no room.
    if depth > MAX_EVICT_DEPTH {
      return unseen(Errno::ENOSPC);
    }
    let o = self.object(id)?;
    let from = o.domain;
    // An eviction leaves the domain: a place in it would only churn the LRU.
    let mut buf = [Place::default(); 2];
    let mut custom = Vec::new();
    let placement: &[Place] = match &o.evict_placement {
      Some(p) if p.is_empty() => return self.purge(id, true, st),
      Some(p) => {
        custom.extend(p.iter().copied().filter(|p| p.domain != from));
        &custom
      }
      None => {
        let mut n = 0;
        for &p in default_evict_placement(from) {
          if p.domain != from {
            buf[n] = p;
            n += 1;
          }
        }
        &buf[..n]
      }
    };
    for evicting in [false, true] {
      let r = self.alloc_resource(thread, id, placement, evicting, depth, st);
      if is_enospc(&r) {
        continue;
      }
      let (d, node) = r?;
      return self.move_hops(thread, id, d, node, true, depth, st);
    }
    unseen(Errno::ENOSPC)
  }

  /// The buffer now lives at `node` in `to`: free the old range, count its
  /// bytes (one hop; multihop.rs makes the bounces), bump the generation,
  /// and queue it at the new LRU's tail.
  fn commit_move(
    &mut self,
    id: u32,
    to: Domain,
    node: Option<u64>,
    evicted: bool,
    st: &mut Validated,
  ) -> Result<()> {
    let o = self.object(id)?;
    let (from, old, size, purged) = (o.domain, o.node, o.size, o.purged);
    self.lru_remove(id);
    if !purged {
      self.domain_free(from, old);
      self.dmem_uncharge(id, size, from);
    }
    self.swap_in(id);
    // One hop per move (multihop.rs makes the bounces): one copy job each.
    self.copy_move(id, from, to, false, evicted)?;
    let bytes = size;
    st.bytes_moved = st.bytes_moved.saturating_add(bytes);
    self.totals.bytes_moved = self.totals.bytes_moved.saturating_add(bytes);
    self.count_move(evicted, st);
    let o = self.object_mut(id)?;
    o.node = node;
    o.purged = false;
    o.populated |= to != Domain::System;
    self.relocate(id, to)?;
    self.tt_after_move(id, to);
    self.lru_touch(id);
    self.log_move(id, from, Some(to), evicted);
    Ok(())
  }

  /// Counts a move or a purge: an eviction, or the validated object's own move.
  fn count_move(&mut self, evicted: bool, st: &mut Validated) {
    self.totals.moves += 1;
    if evicted {
      st.evictions += 1;
      self.totals.evictions += 1;
    } else {
      st.moved = true;
    }
  }

  /// Drops the backing store: no range anywhere, off the LRU, old mappings stale.
  fn purge(&mut self, id: u32, evicted: bool, st: &mut Validated) -> Result<()> {
    let o = self.object(id)?;
    let (from, old) = (o.domain, o.node);
    self.lru_remove(id);
    self.swap_forget(id);
    self.domain_free(from, old);
    let size = self.object(id)?.size;
    self.dmem_uncharge(id, size, from);
    let o = self.object_mut(id)?;
    o.node = None;
    o.purged = true;
    o.populated = false;
    self.relocate(id, Domain::System)?;
    self.tt_unpopulate(id);
    self.count_move(evicted, st);
    self.log_move(id, from, None, evicted);
    Ok(())
  }

  pub(super) fn log_move(&mut self, id: u32, from: Domain, to: Option<Domain>, evicted: bool) {
    let event = MoveEvent {
      id,
      from,
      to,
      evicted,
    };
    if self.track_moves {
      self.moves.push(event);
    }
    if self.notify_moves {
      self.notified.push(event);
    }
  }
}

mod multihop;
#[cfg(test)]
mod tests;
